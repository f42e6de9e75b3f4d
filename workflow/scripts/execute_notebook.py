"""Snakemake adapter: execute one narrative notebook (see trustseg.report.notebooks.execute_notebook).

Named execute_notebook.py, not notebook.py: Snakemake puts the script's folder on sys.path, where
a notebook.py would shadow the "notebook" package that nbconvert probes for."""

from trustseg.errors import quiet_interrupts

quiet_interrupts()  # first: Ctrl-C ends the job without a traceback, even while it imports numpy

from trustseg.report.notebooks import execute_notebook  # noqa: E402
from trustseg.stages.common import run_stage  # noqa: E402

run_stage(
    execute_notebook,
    snakemake.log[0],
    job_outputs=list(snakemake.output),
    template=snakemake.input.template,
    out_ipynb=snakemake.output.ipynb,
    out_html=snakemake.output.html,
    **snakemake.params,
)
