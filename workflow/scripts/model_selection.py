"""Snakemake adapter: the model-selection table (see trustseg.stages.evidence.model_selection)."""

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from trustseg.stages import evidence  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    evidence.model_selection,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    criteria_path=snakemake.input.criteria,
    lr_paths=list(snakemake.input.lr),
    name=snakemake.wildcards.analysis,
    output=snakemake.output.table,
    **snakemake.params,
)
