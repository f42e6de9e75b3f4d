"""Snakemake adapter: the segment figures (see trustseg.stages.figures.segment_figures)."""

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from pathlib import Path  # noqa: E402

from trustseg.stages import figures  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    figures.segment_figures,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    clean_path=snakemake.input.clean,
    name=snakemake.wildcards.analysis,
    inputs={key: value for key, value in snakemake.input.items() if key != "code"},
    out_dir=str(Path(snakemake.output.scatter).parent),
    **snakemake.params,
)
