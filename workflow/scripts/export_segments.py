"""Snakemake adapter: one analysis's respondents with their segment, as .csv/.xlsx/.sav/.dta (see stages.export)."""

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from trustseg.stages import export  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    export.export_segments,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    assignments_path=snakemake.input.assignments,
    segments_path=snakemake.input.segments,
    outputs={fmt: snakemake.output[fmt] for fmt in export.EXPORT_FORMATS},
    analysis=snakemake.wildcards.analysis,
    **snakemake.params,
)
