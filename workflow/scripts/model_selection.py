"""Snakemake adapter: the model-selection table (see trustseg.evidence.model_selection)."""

from trustseg.stages import evidence
from trustseg.stages.common import run_stage

run_stage(
    evidence.model_selection,
    snakemake.log[0],  # noqa: F821 - injected by Snakemake
    criteria_path=snakemake.input.criteria,  # noqa: F821
    lr_paths=list(snakemake.input.lr),  # noqa: F821
    name=snakemake.wildcards.analysis,  # noqa: F821
    criterion=snakemake.params.criterion,  # noqa: F821
    output=snakemake.output.table,  # noqa: F821
)
