"""Snakemake adapter: choose the number of segments (see trustseg.fit.select_k)."""

from trustseg.stages import fit
from trustseg.stages.common import run_stage

run_stage(
    fit.select_k,
    snakemake.log[0],  # noqa: F821 - injected by Snakemake
    clean_path=snakemake.input.clean,  # noqa: F821
    name=snakemake.wildcards.analysis,  # noqa: F821
    analysis=snakemake.params.analysis,  # noqa: F821
    weight_column=snakemake.params.weight_column,  # noqa: F821
    fits=list(snakemake.input.fits),  # noqa: F821
    criteria_out=snakemake.output.criteria,  # noqa: F821
    starts_out=snakemake.output.starts,  # noqa: F821
)
