"""Snakemake adapter: segment profiles and membership model (see trustseg.profiles.profiles)."""

from trustseg.stages import profiles
from trustseg.stages.common import run_stage

run_stage(
    profiles.profiles,
    snakemake.log[0],  # noqa: F821 - injected by Snakemake
    clean_path=snakemake.input.clean,  # noqa: F821
    assignments_path=snakemake.input.assignments,  # noqa: F821
    name=snakemake.wildcards.analysis,  # noqa: F821
    variables=snakemake.params.variables,  # noqa: F821
    weight_column=snakemake.params.weight_column,  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
    outputs={key: snakemake.output[key] for key in ("profiles", "membership")},  # noqa: F821
)
