"""Snakemake adapter: the model-selection table (see trustseg.stages.evidence.model_selection)."""

from trustseg.stages import evidence
from trustseg.stages.common import run_stage

run_stage(
    evidence.model_selection,
    snakemake.log[0],
    criteria_path=snakemake.input.criteria,
    lr_paths=list(snakemake.input.lr),
    name=snakemake.wildcards.analysis,
    output=snakemake.output.table,
    **snakemake.params,
)
