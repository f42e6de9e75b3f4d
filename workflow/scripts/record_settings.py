"""Snakemake adapter: write results/<analysis>/analysis.json (see trustseg.stages.segments.record_settings)."""

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from trustseg.stages import segments  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    segments.record_settings,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    criteria_path=snakemake.input.criteria,
    name=snakemake.wildcards.analysis,
    output=snakemake.output[0],
    data_path=snakemake.input.data,
    **snakemake.params,
)
