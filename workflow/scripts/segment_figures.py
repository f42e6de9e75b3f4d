"""Snakemake adapter: the segment figures (see trustseg.stages.figures.segment_figures)."""

from pathlib import Path

from trustseg.stages import figures
from trustseg.stages.common import run_stage

run_stage(
    figures.segment_figures,
    snakemake.log[0],
    clean_path=snakemake.input.clean,
    name=snakemake.wildcards.analysis,
    inputs={key: value for key, value in snakemake.input.items() if key != "code"},
    out_dir=str(Path(snakemake.output.scatter).parent),
    **snakemake.params,
)
