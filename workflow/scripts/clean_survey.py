"""Snakemake adapter: stage 1, cleaning (see trustseg.stages.cleaning.clean)."""

from trustseg.stages import cleaning
from trustseg.stages.common import run_stage

run_stage(
    cleaning.clean,
    snakemake.log[0],
    outputs={key: snakemake.output[key] for key in ("clean", "flagged", "report", "reliability")},
    **snakemake.params,
)
