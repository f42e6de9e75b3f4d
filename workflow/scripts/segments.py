"""Snakemake adapter: inference and assignments of the chosen model (see trustseg.segments.segments)."""

from trustseg.stages import segments
from trustseg.stages.common import run_stage

run_stage(
    segments.segments,
    snakemake.log[0],  # noqa: F821 - injected by Snakemake
    clean_path=snakemake.input.clean,  # noqa: F821
    name=snakemake.wildcards.analysis,  # noqa: F821
    analysis=snakemake.params.analysis,  # noqa: F821
    weight_column=snakemake.params.weight_column,  # noqa: F821
    fit_path=snakemake.input.fit,  # noqa: F821
    scale=snakemake.params.scale,  # noqa: F821
    outputs={  # noqa: F821
        key: snakemake.output[key]  # noqa: F821
        for key in ("segments", "tests", "assignments", "classification", "summary", "covariance")
    },
)
