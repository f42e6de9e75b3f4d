"""Snakemake adapter: bootstrap LR test of K vs K+1 (see trustseg.stages.evidence.lr_test_k)."""

from trustseg.stages import evidence
from trustseg.stages.common import run_stage

run_stage(
    evidence.lr_test_k,
    snakemake.log[0],
    clean_path=snakemake.input.clean,
    name=snakemake.wildcards.analysis,
    fit_k_path=snakemake.input.fit_k,
    fit_k1_path=snakemake.input.fit_k1,
    output=snakemake.output[0],
    **snakemake.params,
)
