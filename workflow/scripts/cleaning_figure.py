"""Snakemake adapter: the cleaning summary figure (see trustseg.figures.cleaning_figure)."""

from pathlib import Path

from trustseg.stages import figures
from trustseg.stages.common import run_stage

run_stage(
    figures.cleaning_figure,
    snakemake.log[0],  # noqa: F821 - injected by Snakemake
    report_path=snakemake.input.report,  # noqa: F821
    out_stem=str(Path(snakemake.output.png).with_suffix("")),  # noqa: F821
    formats=snakemake.params.formats,  # noqa: F821
)
