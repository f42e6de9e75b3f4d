"""Snakemake adapter: fit one number of segments (see trustseg.fit.fit_k)."""

from trustseg.stages import fit
from trustseg.stages.common import run_stage

run_stage(
    fit.fit_k,
    snakemake.log[0],  # noqa: F821 - injected by Snakemake
    clean_path=snakemake.input.clean,  # noqa: F821
    name=snakemake.wildcards.analysis,  # noqa: F821
    analysis=snakemake.params.analysis,  # noqa: F821
    k=int(snakemake.wildcards.k),  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
    weight_column=snakemake.params.weight_column,  # noqa: F821
    rounding_variance=snakemake.params.rounding_variance,  # noqa: F821
    output=snakemake.output[0],  # noqa: F821
)
