"""Snakemake adapter: fit one number of segments (see trustseg.stages.fit.fit_k)."""

from trustseg.stages import fit
from trustseg.stages.common import run_stage

run_stage(
    fit.fit_k,
    snakemake.log[0],
    clean_path=snakemake.input.clean,
    name=snakemake.wildcards.analysis,
    k=int(snakemake.wildcards.k),
    output=snakemake.output[0],
    **snakemake.params,
)
