"""Snakemake adapter: write results/provenance.csv (see trustseg.stages.provenance.record_provenance)."""

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from trustseg.stages import provenance  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    provenance.record_provenance,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    data_path=snakemake.input.data,
    output=snakemake.output.table,
    **snakemake.params,
)
