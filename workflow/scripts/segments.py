"""Snakemake adapter: inference and assignments of the chosen model (see trustseg.stages.segments.segments)."""

from trustseg.stages import segments
from trustseg.stages.common import run_stage

run_stage(
    segments.segments,
    snakemake.log[0],
    clean_path=snakemake.input.clean,
    name=snakemake.wildcards.analysis,
    fit_path=snakemake.input.fit,
    outputs={
        key: snakemake.output[key]
        for key in ("segments", "tests", "assignments", "classification", "summary", "covariance", "fitted_lines")
    },
    **snakemake.params,
)
