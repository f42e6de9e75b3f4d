"""Snakemake adapter: one chunk of bootstrap refits (see trustseg.stages.evidence.bootstrap_chunk)."""

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from trustseg.stages import evidence  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    evidence.bootstrap_chunk,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    clean_path=snakemake.input.clean,
    name=snakemake.wildcards.analysis,
    fit_path=snakemake.input.fit,
    reliability_path=snakemake.input.reliability,
    chunk=int(snakemake.wildcards.chunk),
    output=snakemake.output[0],
    **snakemake.params,
)
