"""Snakemake adapter: write results/warnings.md and .html (see trustseg.report.warnings_report.write_warnings)."""

from pathlib import Path

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from trustseg.report.warnings_report import write_warnings  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    write_warnings,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    results_dir=Path(snakemake.output.md).parent,
    analyses=list(snakemake.params.analyses),
    out_md=snakemake.output.md,
    out_html=snakemake.output.html,
)
