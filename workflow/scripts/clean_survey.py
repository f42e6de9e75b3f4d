"""Snakemake adapter: stage 1, cleaning (see trustseg.stages.cleaning.clean)."""

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from trustseg.stages import cleaning  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    cleaning.clean,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    outputs={key: snakemake.output[key] for key in ("clean", "flagged", "report", "reliability", "piles")},
    **snakemake.params,
)
