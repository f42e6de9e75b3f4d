"""Snakemake adapter: the profile heat map (see trustseg.stages.figures.profile_figure)."""

from pathlib import Path

from trustseg.stages import figures
from trustseg.stages.common import run_stage

run_stage(
    figures.profile_figure,
    snakemake.log[0],
    segments_path=snakemake.input.segments,
    profiles_path=snakemake.input.profiles,
    out_stem=str(Path(snakemake.output.png).with_suffix("")),
    **snakemake.params,
)
