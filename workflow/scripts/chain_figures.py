"""Snakemake adapter: a chain's path diagrams and effects forest (see trustseg.stages.figures.chain_figures)."""

from pathlib import Path

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from trustseg.stages import figures  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    figures.chain_figures,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    segments_path=snakemake.input.segments,
    effects_path=snakemake.input.effects,
    name=snakemake.wildcards.analysis,
    out_dir=str(Path(snakemake.output.captions).parent),
    **snakemake.params,
)
