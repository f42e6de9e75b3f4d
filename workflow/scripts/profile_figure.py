"""Snakemake adapter: the profile heat map (see trustseg.stages.profile_figure)."""

from pathlib import Path

from trustseg import stages

stages.run_stage(
    stages.profile_figure,
    snakemake.log[0],  # noqa: F821 - injected by Snakemake
    segments_path=snakemake.input.segments,  # noqa: F821
    profiles_path=snakemake.input.profiles,  # noqa: F821
    out_stem=str(Path(snakemake.output.png).with_suffix("")),  # noqa: F821
    formats=snakemake.params.formats,  # noqa: F821
)
