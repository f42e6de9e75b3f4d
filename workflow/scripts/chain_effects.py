"""Snakemake adapter: a chain's direct, indirect and total effects (see trustseg.stages.segments.chain_effects)."""

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from trustseg.stages import segments  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    segments.chain_effects,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    clean_path=snakemake.input.clean,
    name=snakemake.wildcards.analysis,
    fit_path=snakemake.input.fit,
    reliability_path=snakemake.input.reliability,
    segments_path=snakemake.input.segments,
    output=snakemake.output.effects,
    replicates_path=snakemake.input.get("replicates"),
    **snakemake.params,
)
