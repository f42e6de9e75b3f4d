"""Snakemake adapter: stage 1, cleaning (see trustseg.cleaning.clean)."""

from trustseg.stages import cleaning
from trustseg.stages.common import run_stage

run_stage(
    cleaning.clean,
    snakemake.log[0],  # noqa: F821 - injected by Snakemake
    config=snakemake.params.config,  # noqa: F821
    outputs={key: snakemake.output[key] for key in ("clean", "flagged", "report", "reliability")},  # noqa: F821
)
