"""Snakemake adapter: merge the bootstrap chunks (see trustseg.stages.evidence.bootstrap_merge)."""

from trustseg.stages import evidence
from trustseg.stages.common import run_stage

run_stage(
    evidence.bootstrap_merge,
    snakemake.log[0],
    chunks=list(snakemake.input.chunks),
    segments_path=snakemake.input.segments,
    name=snakemake.wildcards.analysis,
    outputs={key: snakemake.output[key] for key in ("summary", "replicates", "ari")},
    **snakemake.params,
)
