"""Snakemake adapter: the profile heat map (see trustseg.figures.profile_figure)."""

from pathlib import Path

from trustseg.stages import figures
from trustseg.stages.common import run_stage

run_stage(
    figures.profile_figure,
    snakemake.log[0],  # noqa: F821 - injected by Snakemake
    segments_path=snakemake.input.segments,  # noqa: F821
    profiles_path=snakemake.input.profiles,  # noqa: F821
    out_stem=str(Path(snakemake.output.png).with_suffix("")),  # noqa: F821
    formats=snakemake.params.formats,  # noqa: F821
)
