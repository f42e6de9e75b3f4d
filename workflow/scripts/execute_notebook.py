"""Snakemake adapter: execute one narrative notebook (see trustseg.report.notebooks.execute_notebook).

Named execute_notebook.py, not notebook.py: Snakemake puts the script's folder on sys.path, where
a notebook.py would shadow the "notebook" package that nbconvert probes for."""

from trustseg.report.notebooks import execute_notebook
from trustseg.stages.common import run_stage

run_stage(
    execute_notebook,
    snakemake.log[0],
    template=snakemake.input.template,
    out_ipynb=snakemake.output.ipynb,
    out_html=snakemake.output.html,
    **snakemake.params,
)
