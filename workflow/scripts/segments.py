"""Snakemake adapter: inference and assignments of the chosen model (see trustseg.stages.segments.segments)."""

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from trustseg.stages import segments  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    segments.segments,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    clean_path=snakemake.input.clean,
    name=snakemake.wildcards.analysis,
    fit_path=snakemake.input.fit,
    reliability_path=snakemake.input.reliability,
    outputs={
        key: snakemake.output[key]
        for key in ("segments", "tests", "assignments", "classification", "summary", "covariance", "fitted_lines",
                    "residual_spread")
    },
    **snakemake.params,
)
