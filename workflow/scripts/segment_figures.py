"""Snakemake adapter: the segment figures (see trustseg.figures.segment_figures)."""

from pathlib import Path

from trustseg.stages import figures
from trustseg.stages.common import run_stage

run_stage(
    figures.segment_figures,
    snakemake.log[0],  # noqa: F821 - injected by Snakemake
    clean_path=snakemake.input.clean,  # noqa: F821
    name=snakemake.wildcards.analysis,  # noqa: F821
    analysis=snakemake.params.analysis,  # noqa: F821
    constructs=snakemake.params.constructs,  # noqa: F821
    weight_column=snakemake.params.weight_column,  # noqa: F821
    inputs={key: value for key, value in snakemake.input.items() if key != "code"},  # noqa: F821
    out_dir=str(Path(snakemake.output.scatter).parent),  # noqa: F821
    formats=snakemake.params.formats,  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
)
