"""Snakemake adapter: choose the number of segments (see trustseg.stages.select_k)."""

from trustseg import stages

stages.run_stage(
    stages.select_k,
    snakemake.log[0],  # noqa: F821 - injected by Snakemake
    clean_path=snakemake.input.clean,  # noqa: F821
    name=snakemake.wildcards.analysis,  # noqa: F821
    analysis=snakemake.params.analysis,  # noqa: F821
    weight_column=snakemake.params.weight_column,  # noqa: F821
    fits=list(snakemake.input.fits),  # noqa: F821
    criteria_out=snakemake.output.criteria,  # noqa: F821
    starts_out=snakemake.output.starts,  # noqa: F821
)
