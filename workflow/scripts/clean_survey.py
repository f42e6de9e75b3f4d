"""Snakemake adapter: stage 1, cleaning (see trustseg.stages.clean)."""

from trustseg import stages

stages.run_stage(
    stages.clean,
    snakemake.log[0],  # noqa: F821 - injected by Snakemake
    config=snakemake.params.config,  # noqa: F821
    outputs={key: snakemake.output[key] for key in ("clean", "flagged", "report", "reliability")},  # noqa: F821
)
