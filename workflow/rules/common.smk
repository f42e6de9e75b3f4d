# Configuration, validation and helpers shared by every stage.
#
# The config is validated against workflow/schemas/config.schema.yaml (the
# package's copy) before any job runs.  A mistake in the config or the data
# file stops here with one clear message and exit status 1.

import os
import sys
from pathlib import Path

from snakemake.utils import update_config

from trustseg.config import (
    analysis_columns,
    analysis_equations,
    analysis_variables,
    check_data_path,
    family_columns as config_family_columns,
    parse_overrides,
    read_config_file,
    validate_config,
)
from trustseg.errors import (
    INTERRUPTED,
    TrustsegError,
    exit_if_interrupted,
    is_os_failure,
    os_error_message,
    remember_interrupts,
)
from trustseg.sources import PACKAGE_DIR, module_sources
from trustseg.stages.common import outcome_rounding_variance
from trustseg.stages.families import analysis_families
from trustseg.stages.startup import check_inputs
from trustseg.stages.profiles import MEMBERSHIP_ALPHA
from trustseg.stages.provenance import config_digest

DEFAULT_CONFIGFILE = "config/config.yaml"
# In a clone, the checkout's src/; from an installed trustseg (the workflow inside a wheel), the package itself.
CHECKOUT_SRC = Path(workflow.basedir) / "src" / "trustseg"
SRC = CHECKOUT_SRC if CHECKOUT_SRC.is_dir() else PACKAGE_DIR

# Rule scripts import trustseg from this checkout's src/, also inside a conda
# environment (--sdm conda) or a cluster job where it was never pip-installed.
if SRC == CHECKOUT_SRC:
    _inherited = dict(os.environ).get("PYTHONPATH", "")
    os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (str(SRC.parent), _inherited) if p))


def _fail(message):
    sys.stderr.write(f"trustseg: error: {message}\n")
    sys.exit(1)


def _shown(path):
    """A config file path as the user typed it: relative to the working directory when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _cli_overrides():
    """The --config KEY=VALUE overrides, read as YAML (like a config file), and where each was given."""
    settings = workflow.config_settings
    entries = settings.config_args
    if isinstance(entries, (list, tuple)) and all(isinstance(e, str) for e in entries):
        return parse_overrides(entries)
    values = dict(settings.config or {})  # a config set through the API: no command line to quote
    return values, {path: f"--config {path}" for path in values}


def _load_workflow_config():
    """The validated config: --configfile if given, else config/config.yaml, plus --config overrides.

    Snakemake has already read a --configfile, but the files are read again
    here with trustseg's own reader, so both routes give the same messages
    (line and column of a YAML error, the file named).  A file Snakemake
    itself cannot parse never gets here: see README, Troubleshooting.
    """
    cli_files = [_shown(f) for f in (workflow.overwrite_configfiles or [])]
    if not cli_files and not Path(DEFAULT_CONFIGFILE).exists():
        _fail(f"no config given and '{DEFAULT_CONFIGFILE}' does not exist; pass one with --configfile FILE.")
    files = cli_files or [DEFAULT_CONFIGFILE]
    source = "config file " + ", ".join(f"'{f}'" for f in files)
    try:
        overrides, given = _cli_overrides()
        raw = {}
        for path in files:
            update_config(raw, read_config_file(path))
        # --config key=value overrides the file, as with Snakemake's own configfile directive
        update_config(raw, overrides)
        validated = validate_config(raw, source=source, overrides=given)
        by = [how for key, how in given.items() if key in ("data", "data.path")]
        where = f"config key 'data.path', set by {by[0]}" if by else f"config key 'data.path' in {source}"
        check_data_path(validated["data"]["path"], where)
        # Only the main process reads the survey to check it against the config, as
        # trustseg check-config does (one code path): cluster jobs parse this file again.
        if workflow.is_main_process:
            found = check_inputs(validated, where)
            for warning in found.warnings:
                sys.stderr.write(f"trustseg: warning: {warning}\n")
            for note in found.notes:
                sys.stderr.write(f"trustseg: note: {note}\n")
    except TrustsegError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        sys.stderr.write("trustseg: interrupted while checking the config and the data; nothing was run.\n")
        sys.exit(130)
    except OSError as exc:
        if not is_os_failure(exc):
            raise
        _fail(os_error_message(exc))
    # as the notebooks have always shown it: the (last) config file given
    return validated, str(workflow.overwrite_configfiles[-1]) if cli_files else DEFAULT_CONFIGFILE


_validated, CONFIG_SOURCE = _load_workflow_config()


# An interrupted run ends as a shell program does (Ctrl-C: 130, SIGTERM: 143) with one line, not
# with status 1: Snakemake's handlers are in place once jobs start, so they are wrapped then.
onstart:
    remember_interrupts()


onerror:
    exit_if_interrupted()
config.clear()
config.update(_validated)

ANALYSES = list(config["analyses"])
SEED = int(config["seed"])
CONFIG_SHA256 = config_digest(config)  # recorded in the provenance of every analysis
WEIGHT = config["data"].get("weight_column")
BOOT = config["bootstrap"]
REPORT_CFG = config["report"]


def sources(*modules):
    """Package source files the rule's modules run (their import closure), so editing one reruns the rule."""
    return module_sources(*(f"trustseg.{m}" for m in modules), root=SRC)


#: the modules only a chain of equations runs (its estimator, with the equation system and the effects it imports)
CHAIN_MODULES = ("trustseg.model.chain", "trustseg.model.effects")


def analysis_sources(*modules):
    """As :func:`sources`, per analysis: a single-equation analysis leaves out the chain's modules, so an edit to
    the chain code refits and redraws only the chains."""

    def of_analysis(wildcards):
        leave_out = () if is_chain(wildcards.analysis) else CHAIN_MODULES
        return module_sources(*(f"trustseg.{m}" for m in modules), root=SRC, leave_out=leave_out)

    return of_analysis


# ---- params: each rule receives only the settings its stage function reads
# (as keyword arguments of the same names), so changing alpha, the criterion or
# the equivalence margin refits no K, and adding a K fits only that K.


def analysis_settings(name):
    """The settings of analysis ``name``, with the focal predictor resolved (the first predictor unless set)."""
    analysis = config["analyses"][name]
    outcome, predictors, focal = analysis_variables(config, name)
    # a chain's equations, as (outcome, predictors) pairs; None for one outcome
    equations = analysis_equations(analysis) if analysis.get("equations") else None
    return {**analysis, "outcome": outcome, "predictors": predictors, "focal": focal, "equations": equations}


def is_chain(name):
    return analysis_settings(name)["equations"] is not None


def _per_equation(wildcards, value_of):
    """``value_of(outcome)`` of the analysis's outcome, or a list of them, one per equation of a chain."""
    settings = analysis_settings(wildcards.analysis)
    if settings["equations"] is None:
        return value_of(settings["outcome"])
    return [value_of(outcome) for outcome, _ in settings["equations"]]


def setting(key):
    """One setting, as a param, of the analysis named by the job's {analysis} wildcard."""
    return lambda wildcards: analysis_settings(wildcards.analysis)[key]


def outcome_scale(wildcards):
    """Scale of the analysis outcome when it is a construct (for naming the segments); per equation in a chain."""

    def scale(outcome):
        spec = config["constructs"].get(outcome)
        return list(spec["scale"]) if spec else None

    return _per_equation(wildcards, scale)


def rounding_variance(wildcards):
    """Rounding variance of the outcome score (the residual-variance floor of the fits); per equation in a chain."""
    return _per_equation(wildcards, lambda outcome: outcome_rounding_variance({"outcome": outcome},
                                                                             config["constructs"]))


def outcome_family(wildcards):
    """The outcome family of the analysis and its settings (bounds, categories); a list of them for a chain."""
    name = wildcards.analysis
    families = [{"name": family, "options": options}
                for family, options in analysis_families(name, analysis_settings(name), config["constructs"])]
    return families if is_chain(name) else families[0]


def family_columns(wildcards):
    """The analysis's trials (binomial) or exposure (poisson) column, as ``{role: column}``."""
    return config_family_columns(analysis_settings(wildcards.analysis))


def axis_constructs(wildcards):
    """Specs of the constructs the segment figures label their axes with (outcome and focal predictor)."""
    settings = analysis_settings(wildcards.analysis)
    return {v: config["constructs"][v] for v in (settings["focal"], settings["outcome"]) if v in config["constructs"]}


def chain_effects_inputs(wildcards):
    """The bootstrap refits a chain's effects take their percentile intervals from (when the bootstrap runs)."""
    if BOOT["replicates"] > 0:
        return {"replicates": f"results/{wildcards.analysis}/bootstrap_replicates.csv"}
    return {}


def chosen_fit(wildcards):
    """The fit of the chosen K (known once the select_k checkpoint has run)."""
    criteria = checkpoints.select_k.get(analysis=wildcards.analysis).output.criteria
    from trustseg.stages.common import chosen_fit_path

    return chosen_fit_path(criteria, wildcards.analysis)


def all_targets():
    targets = [
        "results/cleaning/clean.csv",
        "results/cleaning/report.csv",
        "results/cleaning/flagged.csv",
        "results/cleaning/reliability.csv",
        "results/cleaning/piles.csv",
        "results/figures/participant_flow.png",
        # every vector format asked for, so that adding one to a finished run draws it
        *[f"results/figures/participant_flow.{ext}" for ext in FIGURE_FORMATS],
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
        if is_chain(name):
            targets.append(f"results/{name}/effects.csv")
    # the run's warnings, the first page of the report (rules/warnings.smk)
    targets += ["results/warnings.md", "results/warnings.html"]
    if REPORT_CFG["notebooks"]:
        targets += notebook_targets()
    return targets


# ---- evidence


def chooses_by_lr_test(name):
    """Whether analysis ``name`` chooses K by the sequential bootstrap LR test (criterion lr_test)."""
    return analysis_settings(name)["criterion"] == "lr_test"


def lr_choice_ks(wildcards):
    """With criterion lr_test, the K values whose test against K+1 chooses K: every candidate K with a K+1.

    None otherwise: then select_k needs no LR test, and the tests wait for its choice.
    """
    if not chooses_by_lr_test(wildcards.analysis):
        return []
    candidates = sorted(analysis_settings(wildcards.analysis)["segments"])
    return [k for k in candidates if k + 1 in candidates]


def lr_tested_ks(wildcards):
    """K values tested against K+1: every candidate K up to the chosen one whose K+1 was fitted.

    With criterion lr_test every candidate K with a K+1, known before select_k
    runs (which reads them to choose K).
    """
    if BOOT["lr_test_replicates"] <= 0:
        return []
    if chooses_by_lr_test(wildcards.analysis):
        return lr_choice_ks(wildcards)
    from trustseg.stages.common import chosen_k

    criteria = checkpoints.select_k.get(analysis=wildcards.analysis).output.criteria
    candidates = sorted(analysis_settings(wildcards.analysis)["segments"])
    best = chosen_k(criteria)
    return [k for k in candidates if k <= best and k + 1 in candidates]


# ---- figures

FIGURE_FORMATS = REPORT_CFG["figure_formats"]
SEGMENT_FIGURES = ["segment_scatter", "information_criteria", "posterior_certainty", "coefficient_forest"]
CHAIN_FIGURES = ["path_diagram", "effects_forest"]


def figure_targets(name):
    figures = list(SEGMENT_FIGURES)
    if BOOT["replicates"] > 0:
        figures.append("bootstrap_stability")
    if config["profile"]:
        figures.append("profile_heatmap")
    if is_chain(name):
        figures += CHAIN_FIGURES
    # the PNG and every vector format asked for (a format added to a finished run is drawn)
    return [f"results/{name}/figures/{figure}.{ext}" for figure in figures
            for ext in dict.fromkeys(["png", *FIGURE_FORMATS])]


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
        "results/figures/participant_flow.png",
        "results/figures/captions_cleaning.json",
    ]
    if wildcards.notebook != "01_data_and_cleaning":
        for name in ANALYSES:
            inputs += [
                f"results/{name}/{table}.csv"
                for table in ("model_selection", "start_logliks", "segments", "tests", "assignments", "classification",
                              "residual_spread")
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


def warnings_inputs(wildcards):
    """Every results file the warnings are read from."""
    inputs = ["results/cleaning/report.csv", "results/cleaning/flagged.csv", "results/cleaning/reliability.csv",
              "results/cleaning/piles.csv"]
    for name in ANALYSES:
        inputs += [f"results/{name}/{table}" for table in
                   ("analysis.json", "model_selection.csv", "segments.csv", "residual_spread.csv")]
    return inputs


# ---- provenance and exports (rules/provenance.smk, rules/export.smk)

from trustseg.stages.export import EXPORT_FORMATS


def export_targets():
    targets = [f"results/{name}/export/{name}_segments.{ext}" for name in ANALYSES for ext in EXPORT_FORMATS]
    return targets + ["results/tables.xlsx"]


def workbook_tables(wildcards):
    """Every table of the run (each written as CSV, Markdown and LaTeX), keyed cleaning/<table> or <analysis>/<table>.

    A stage that adds a table lists it here, so that the workbook holds it.
    """
    tables = {"provenance": "results/provenance.csv"}
    tables.update({f"cleaning/{t}": f"results/cleaning/{t}.csv" for t in ("report", "reliability", "piles")})
    for name in ANALYSES:
        names = ["model_selection", "segments", "tests", "classification", "residual_spread"]
        if is_chain(name):
            names.append("effects")
        if BOOT["replicates"] > 0:
            names += ["bootstrap", "bootstrap_ari"]
        if config["profile"]:
            names += ["profiles", "membership"]
        tables.update({f"{name}/{t}": f"results/{name}/{t}.csv" for t in names})
    return tables
