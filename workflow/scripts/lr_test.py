"""Snakemake adapter: bootstrap LR test of K vs K+1 (see trustseg.stages.evidence.lr_test_k)."""

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from trustseg.stages import evidence  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    evidence.lr_test_k,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    clean_path=snakemake.input.clean,
    name=snakemake.wildcards.analysis,
    fit_k_path=snakemake.input.fit_k,
    fit_k1_path=snakemake.input.fit_k1,
    output=snakemake.output[0],
    **snakemake.params,
)
