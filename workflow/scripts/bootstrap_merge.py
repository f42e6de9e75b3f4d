"""Snakemake adapter: merge the bootstrap chunks (see trustseg.evidence.bootstrap_merge)."""

from trustseg.stages import evidence
from trustseg.stages.common import run_stage

run_stage(
    evidence.bootstrap_merge,
    snakemake.log[0],  # noqa: F821 - injected by Snakemake
    chunks=list(snakemake.input.chunks),  # noqa: F821
    segments_path=snakemake.input.segments,  # noqa: F821
    name=snakemake.wildcards.analysis,  # noqa: F821
    alpha=snakemake.params.alpha,  # noqa: F821
    outputs={key: snakemake.output[key] for key in ("summary", "replicates", "ari")},  # noqa: F821
)
