"""Snakemake adapter: segment profiles and membership model (see trustseg.stages.profiles.profiles)."""

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from trustseg.stages import profiles  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    profiles.profiles,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    clean_path=snakemake.input.clean,
    assignments_path=snakemake.input.assignments,
    name=snakemake.wildcards.analysis,
    outputs={key: snakemake.output[key] for key in ("profiles", "membership")},
    **snakemake.params,
)
