# Configuration, validation and helpers shared by every stage.
#
# The config is validated against workflow/schemas/config.schema.yaml (the
# package's copy) before any job runs.  A mistake in the config or the data
# file stops here with one clear message and exit status 1.

import os
import sys
from pathlib import Path

import yaml
from snakemake.utils import update_config

from trustseg.config import analysis_variables, check_columns, validate_config
from trustseg.errors import TrustsegError
from trustseg.sources import module_sources
from trustseg.stages.common import outcome_rounding_variance
from trustseg.stages.profiles import MEMBERSHIP_ALPHA

DEFAULT_CONFIGFILE = "config/config.yaml"
SRC = Path(workflow.basedir) / "src" / "trustseg"

# Rule scripts import trustseg from this checkout's src/, also inside a conda
# environment (--sdm conda) or a cluster job where it was never pip-installed.
_inherited = dict(os.environ).get("PYTHONPATH", "")
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (str(SRC.parent), _inherited) if p))


def _fail(message):
    sys.stderr.write(f"trustseg: error: {message}\n")
    sys.exit(1)


def _load_workflow_config():
    """The validated config: --configfile if given, else config/config.yaml, plus --config overrides."""
    cli_files = [str(f) for f in (workflow.overwrite_configfiles or [])]
    if cli_files:
        source, raw = cli_files[-1], dict(config)
    else:
        path = Path(DEFAULT_CONFIGFILE)
        if not path.is_file():
            _fail(f"no config given and '{DEFAULT_CONFIGFILE}' does not exist; pass one with --configfile FILE.")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            _fail(f"config file '{path}' is not valid YAML: {exc}")
        # --config key=value overrides the file, as with Snakemake's own configfile directive
        update_config(raw, dict(config))
        source = str(path)
    try:
        validated = validate_config(raw, source=f"config file '{source}'")
        data_path = Path(validated["data"]["path"])
        if not data_path.is_file():
            raise TrustsegError(
                f"data file '{data_path}' (config key 'data.path' in '{source}') does not exist. "
                "Check the path; it is relative to the directory you run snakemake from."
            )
        # Only the main process reads the survey to check its columns: cluster
        # jobs parse this file again, and clean_survey repeats the check anyway.
        if workflow.is_main_process:
            from trustseg.survey.io import read_survey

            header = read_survey(data_path, validated["data"])
            check_columns(validated, header.columns, f"data file '{data_path}'")
    except TrustsegError as exc:
        _fail(str(exc))
    return validated, source


_validated, CONFIG_SOURCE = _load_workflow_config()
config.clear()
config.update(_validated)

ANALYSES = list(config["analyses"])
SEED = int(config["seed"])
WEIGHT = config["data"].get("weight_column")
BOOT = config["bootstrap"]
REPORT_CFG = config["report"]


def sources(*modules):
    """Package source files the rule's modules run (their import closure), so editing one reruns the rule."""
    return module_sources(*(f"trustseg.{m}" for m in modules), root=SRC)


# ---- params: each rule receives only the settings its stage function reads
# (as keyword arguments of the same names), so changing alpha, the criterion or
# the equivalence margin refits no K, and adding a K fits only that K.


def analysis_settings(name):
    """The settings of analysis ``name``, with the focal predictor resolved (the first predictor unless set)."""
    outcome, predictors, focal = analysis_variables(config, name)
    return {**config["analyses"][name], "outcome": outcome, "predictors": predictors, "focal": focal}


def setting(key):
    """One setting, as a param, of the analysis named by the job's {analysis} wildcard."""
    return lambda wildcards: analysis_settings(wildcards.analysis)[key]


def outcome_scale(wildcards):
    """Scale of the analysis outcome when it is a construct (for naming the segments)."""
    spec = config["constructs"].get(analysis_settings(wildcards.analysis)["outcome"])
    return list(spec["scale"]) if spec else None


def rounding_variance(wildcards):
    """Rounding variance of the outcome score (the residual-variance floor of the fits)."""
    return outcome_rounding_variance(analysis_settings(wildcards.analysis), config["constructs"])


def axis_constructs(wildcards):
    """Specs of the constructs the segment figures label their axes with (outcome and focal predictor)."""
    settings = analysis_settings(wildcards.analysis)
    return {v: config["constructs"][v] for v in (settings["focal"], settings["outcome"]) if v in config["constructs"]}


def chosen_fit(wildcards):
    """The fit of the chosen K (known once the select_k checkpoint has run)."""
    criteria = checkpoints.select_k.get(analysis=wildcards.analysis).output.criteria
    from trustseg.stages.common import chosen_k

    return f"results/{wildcards.analysis}/fits/k{chosen_k(criteria)}.json"


def all_targets():
    targets = [
        "results/cleaning/clean.csv",
        "results/cleaning/report.csv",
        "results/cleaning/flagged.csv",
        "results/cleaning/reliability.csv",
        "results/figures/cleaning_summary.png",
    ]
    for name in ANALYSES:
        targets += [
            f"results/{name}/analysis.json",
            f"results/{name}/model_selection.csv",
            f"results/{name}/segments.csv",
            f"results/{name}/tests.csv",
            f"results/{name}/assignments.csv",
            f"results/{name}/classification.csv",
            *figure_targets(name),
        ]
        if config["profile"]:
            targets += [f"results/{name}/profiles.csv", f"results/{name}/membership.csv"]
        if BOOT["replicates"] > 0:
            targets.append(f"results/{name}/bootstrap.csv")
    if REPORT_CFG["notebooks"]:
        targets += notebook_targets()
    return targets


# ---- evidence


def lr_tested_ks(wildcards):
    """K values tested against K+1: every candidate K up to the chosen one whose K+1 was fitted."""
    if BOOT["lr_test_replicates"] <= 0:
        return []
    from trustseg.stages.common import chosen_k

    criteria = checkpoints.select_k.get(analysis=wildcards.analysis).output.criteria
    candidates = sorted(analysis_settings(wildcards.analysis)["segments"])
    best = chosen_k(criteria)
    return [k for k in candidates if k <= best and k + 1 in candidates]


# ---- figures

FIGURE_FORMATS = REPORT_CFG["figure_formats"]
SEGMENT_FIGURES = ["segment_scatter", "information_criteria", "posterior_certainty", "coefficient_forest"]


def figure_targets(name):
    targets = [f"results/{name}/figures/{figure}.png" for figure in SEGMENT_FIGURES]
    if BOOT["replicates"] > 0:
        targets.append(f"results/{name}/figures/bootstrap_stability.png")
    if config["profile"]:
        targets.append(f"results/{name}/figures/profile_heatmap.png")
    return targets


def segment_figure_inputs(wildcards):
    name = wildcards.analysis
    inputs = {
        "clean": "results/cleaning/clean.csv",
        "segments": f"results/{name}/segments.csv",
        "assignments": f"results/{name}/assignments.csv",
        "fitted_lines": f"results/{name}/fitted_lines.csv",
        "model_selection": f"results/{name}/model_selection.csv",
    }
    if BOOT["replicates"] > 0:
        inputs["bootstrap"] = f"results/{name}/bootstrap.csv"
    return inputs


def _figure_files(figure):
    return [f"results/{{analysis}}/figures/{figure}.{ext}" for ext in FIGURE_FORMATS]


# ---- notebooks

NOTEBOOKS = {
    "01_data_and_cleaning": "Data and cleaning",
    "02_segments": "The segments and what they mean",
    "03_profiles_and_managerial_reading": "Who the segments are, and what to do",
}


def notebook_targets():
    return expand("results/notebooks/{notebook}.html", notebook=NOTEBOOKS)


def notebook_inputs(wildcards):
    """Every result file the notebooks read, so a deleted one is rebuilt before they run."""
    inputs = [
        "results/cleaning/clean.csv",
        "results/cleaning/flagged.csv",
        "results/cleaning/report.csv",
        "results/cleaning/reliability.csv",
        "results/figures/cleaning_summary.png",
        "results/figures/captions_cleaning.json",
    ]
    if wildcards.notebook != "01_data_and_cleaning":
        for name in ANALYSES:
            inputs += [
                f"results/{name}/{table}.csv"
                for table in ("model_selection", "start_logliks", "segments", "tests", "assignments", "classification")
            ]
            inputs += [f"results/{name}/analysis.json", *figure_targets(name),
                       f"results/{name}/figures/captions_segments.json"]
            if BOOT["replicates"] > 0:
                inputs += [f"results/{name}/bootstrap.csv", f"results/{name}/bootstrap_ari.csv",
                           f"results/{name}/figures/captions_bootstrap.json"]
            if config["profile"]:
                inputs += [f"results/{name}/profiles.csv", f"results/{name}/membership.csv",
                           f"results/{name}/figures/captions_profiles.json"]
    return inputs
