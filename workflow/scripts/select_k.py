"""Snakemake adapter: choose the number of segments (see trustseg.stages.fit.select_k)."""

from trustseg.stages import fit
from trustseg.stages.common import run_stage

run_stage(
    fit.select_k,
    snakemake.log[0],
    clean_path=snakemake.input.clean,
    name=snakemake.wildcards.analysis,
    fits=list(snakemake.input.fits),
    criteria_out=snakemake.output.criteria,
    starts_out=snakemake.output.starts,
    **snakemake.params,
)
