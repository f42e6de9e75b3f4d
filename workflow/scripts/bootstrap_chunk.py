"""Snakemake adapter: one chunk of bootstrap refits (see trustseg.evidence.bootstrap_chunk)."""

from trustseg.stages import evidence
from trustseg.stages.common import run_stage

run_stage(
    evidence.bootstrap_chunk,
    snakemake.log[0],  # noqa: F821 - injected by Snakemake
    clean_path=snakemake.input.clean,  # noqa: F821
    name=snakemake.wildcards.analysis,  # noqa: F821
    analysis=snakemake.params.analysis,  # noqa: F821
    weight_column=snakemake.params.weight_column,  # noqa: F821
    fit_path=snakemake.input.fit,  # noqa: F821
    chunk=int(snakemake.wildcards.chunk),  # noqa: F821
    n_chunks=snakemake.params.chunks,  # noqa: F821
    replicates=snakemake.params.replicates,  # noqa: F821
    n_init=snakemake.params.n_init,  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
    output=snakemake.output[0],  # noqa: F821
)
