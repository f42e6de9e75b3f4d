"""Snakemake adapter: every table of the run in results/tables.xlsx (see trustseg.stages.export.tables_workbook)."""

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from trustseg.stages import export  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    export.tables_workbook,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    output=snakemake.output[0],
    **snakemake.params,
)
