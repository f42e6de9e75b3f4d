"""Snakemake adapter: the cleaning summary figure (see trustseg.stages.figures.cleaning_figure)."""

from pathlib import Path

from trustseg.stages import figures
from trustseg.stages.common import run_stage

run_stage(
    figures.cleaning_figure,
    snakemake.log[0],
    report_path=snakemake.input.report,
    out_stem=str(Path(snakemake.output.png).with_suffix("")),
    **snakemake.params,
)
