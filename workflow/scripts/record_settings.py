"""Snakemake adapter: write results/<analysis>/analysis.json (see trustseg.stages.segments.record_settings)."""

from trustseg.stages import segments
from trustseg.stages.common import run_stage

run_stage(
    segments.record_settings,
    snakemake.log[0],
    criteria_path=snakemake.input.criteria,
    name=snakemake.wildcards.analysis,
    output=snakemake.output[0],
    **snakemake.params,
)
