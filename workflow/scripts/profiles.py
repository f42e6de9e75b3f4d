"""Snakemake adapter: segment profiles and membership model (see trustseg.stages.profiles.profiles)."""

from trustseg.stages import profiles
from trustseg.stages.common import run_stage

run_stage(
    profiles.profiles,
    snakemake.log[0],
    clean_path=snakemake.input.clean,
    assignments_path=snakemake.input.assignments,
    name=snakemake.wildcards.analysis,
    outputs={key: snakemake.output[key] for key in ("profiles", "membership")},
    **snakemake.params,
)
