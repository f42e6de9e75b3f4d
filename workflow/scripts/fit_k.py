"""Snakemake adapter: fit one number of segments (see trustseg.stages.fit.fit_k)."""

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from trustseg.stages import fit  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    fit.fit_k,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    clean_path=snakemake.input.clean,
    name=snakemake.wildcards.analysis,
    k=int(snakemake.wildcards.k),
    output=snakemake.output[0],
    **snakemake.params,
)
