"""Snakemake adapter: the participant flow of the cleaning (see trustseg.stages.figures.cleaning_figure)."""

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from pathlib import Path  # noqa: E402

from trustseg.stages import figures  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    figures.cleaning_figure,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    report_path=snakemake.input.report,
    flagged_path=snakemake.input.flagged,
    out_stem=str(Path(snakemake.output.png).with_suffix("")),
    **snakemake.params,
)
