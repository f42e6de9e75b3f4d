"""Snakemake adapter: merge the bootstrap chunks (see trustseg.stages.evidence.bootstrap_merge)."""

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from trustseg.stages import evidence  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    evidence.bootstrap_merge,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    chunks=list(snakemake.input.chunks),
    segments_path=snakemake.input.segments,
    name=snakemake.wildcards.analysis,
    outputs={key: snakemake.output[key] for key in ("summary", "replicates", "ari")},
    **snakemake.params,
)
