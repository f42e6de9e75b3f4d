"""Snakemake adapter: the bootstrap stability figure (see trustseg.stages.figures.bootstrap_figure)."""

from pathlib import Path

from trustseg.stages import figures
from trustseg.stages.common import run_stage

run_stage(
    figures.bootstrap_figure,
    snakemake.log[0],
    segments_path=snakemake.input.segments,
    bootstrap_path=snakemake.input.bootstrap,
    replicates_path=snakemake.input.replicates,
    out_stem=str(Path(snakemake.output.png).with_suffix("")),
    **snakemake.params,
)
