"""Snakemake adapter: the bootstrap stability figure (see trustseg.figures.bootstrap_figure)."""

from pathlib import Path

from trustseg.stages import figures
from trustseg.stages.common import run_stage

run_stage(
    figures.bootstrap_figure,
    snakemake.log[0],  # noqa: F821 - injected by Snakemake
    segments_path=snakemake.input.segments,  # noqa: F821
    bootstrap_path=snakemake.input.bootstrap,  # noqa: F821
    replicates_path=snakemake.input.replicates,  # noqa: F821
    out_stem=str(Path(snakemake.output.png).with_suffix("")),  # noqa: F821
    formats=snakemake.params.formats,  # noqa: F821
)
