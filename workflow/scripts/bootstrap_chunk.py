"""Snakemake adapter: one chunk of bootstrap refits (see trustseg.stages.evidence.bootstrap_chunk)."""

from trustseg.stages import evidence
from trustseg.stages.common import run_stage

run_stage(
    evidence.bootstrap_chunk,
    snakemake.log[0],
    clean_path=snakemake.input.clean,
    name=snakemake.wildcards.analysis,
    fit_path=snakemake.input.fit,
    chunk=int(snakemake.wildcards.chunk),
    output=snakemake.output[0],
    **snakemake.params,
)
