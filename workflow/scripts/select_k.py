"""Snakemake adapter: choose the number of segments (see trustseg.stages.fit.select_k)."""

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from trustseg.stages import fit  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    fit.select_k,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    clean_path=snakemake.input.clean,
    name=snakemake.wildcards.analysis,
    fits=list(snakemake.input.fits),
    lr_paths=list(snakemake.input.lr),
    criteria_out=snakemake.output.criteria,
    starts_out=snakemake.output.starts,
    set_aside_fit_out=snakemake.output.set_aside_fit,
    set_aside_table_out=snakemake.output.set_aside_table,
    **snakemake.params,
)
