"""Snakemake adapter: bootstrap LR test of K vs K+1 (see trustseg.evidence.lr_test_k)."""

from trustseg.stages import evidence
from trustseg.stages.common import run_stage

run_stage(
    evidence.lr_test_k,
    snakemake.log[0],  # noqa: F821 - injected by Snakemake
    clean_path=snakemake.input.clean,  # noqa: F821
    name=snakemake.wildcards.analysis,  # noqa: F821
    analysis=snakemake.params.analysis,  # noqa: F821
    weight_column=snakemake.params.weight_column,  # noqa: F821
    fit_k_path=snakemake.input.fit_k,  # noqa: F821
    fit_k1_path=snakemake.input.fit_k1,  # noqa: F821
    n_replicates=snakemake.params.replicates,  # noqa: F821
    n_init=snakemake.params.n_init,  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
    output=snakemake.output[0],  # noqa: F821
)
