"""The start-up: every check of the config and the data that a later job would make, before any job runs.

``trustseg check-config`` and the workflow's start-up (``workflow/rules/common.smk``)
both call :func:`check_inputs`, so they stop on the same inputs with the same
message, and a run that passes the start-up does not stop later on something
in the input.  The checks, in order:

1. the data file: a regular survey file (:func:`trustseg.config.check_data_path`),
   read as the cleaning job reads it (:func:`trustseg.survey.io.read_survey`);
2. the survey against the config (:func:`trustseg.survey.checks.check_survey`):
   columns (on which sheet, below which title row), numbers where numbers are
   needed, numbers too long to hold exactly, Excel formulas saved without
   values, ids, answers on their scales, missing codes left in profile
   variables, free text as a profile variable;
3. the cleaning itself (:func:`trustseg.survey.cleaning.clean_survey`): text
   answers, weights, personal data, items and constructs without answers;
4. each analysis on the clean data: text in its variables, its outcome
   family, constant or collinear predictors, a constant outcome, and every
   candidate K against the respondents left.

The findings come back as a :class:`Startup`, whose :meth:`Startup.summary`
is the closing line of ``check-config``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from trustseg.config import analysis_equations, analysis_variables, check_data_path, family_columns
from trustseg.errors import DataError
from trustseg.stages.common import analysis_data
from trustseg.stages.families import SINGLE_ANSWER_FAMILIES, check_outcome_families

__all__ = ["Startup", "check_inputs"]


@dataclass
class Startup:
    """What the start-up found: the data read, what the cleaning keeps, the analyses and the warnings."""

    data_path: Path
    rows: int
    columns: int
    kept: int
    flagged: int
    dropped: int
    out_of_scale: int
    constructs: int
    analyses: dict = field(default_factory=dict)  # name -> (respondents, largest K)
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def summary(self) -> str:
        """One sentence of what was found (the closing line of ``trustseg check-config``)."""
        kept = f"the cleaning keeps {self.kept}"
        if self.flagged:
            kept += f" ({self.flagged} flagged, {self.dropped} of them dropped)"
        answers = (f"; {self.out_of_scale} answer(s) off their scale are set to missing" if self.out_of_scale
                   else "; every answer on its scale")
        analyses = ", ".join(f"'{name}' ({n} respondents, K up to {k})" for name, (n, k) in self.analyses.items())
        warned = (f"; {len(self.warnings)} warning{'s' if len(self.warnings) != 1 else ''} above"
                  if self.warnings else "")
        return (f"{self.rows} rows and {self.columns} columns read from {self.data_path}; {kept}{answers}; "
                f"{self.constructs} construct(s) scored; analyses {analyses} can be fitted{warned}.")


def check_inputs(config: Mapping, where: str = "config key 'data.path'") -> Startup:
    """Run every start-up check of a validated config against its data; a TrustsegError names the first problem.

    Parameters
    ----------
    config : mapping
        A validated config (:func:`trustseg.config.validate_config`).
    where : str
        How messages name the key that gives the data file, e.g. ``config key
        'data.path' in 'config/my.yaml'``.

    Returns
    -------
    Startup
        What was found; ``warnings`` are findings that do not stop the run.
    """
    from trustseg.survey.checks import check_survey
    from trustseg.survey.cleaning import clean_survey
    from trustseg.survey.io import read_survey
    from trustseg.survey.privacy import resolve_pseudonym_key

    resolve_pseudonym_key(config)  # a key under results/ is refused
    data_path = check_data_path(config["data"]["path"], where)
    raw = read_survey(data_path, config["data"])
    source = f"data file '{data_path}'"
    warnings = check_survey(config, raw, source, SINGLE_ANSWER_FAMILIES)
    # the pseudonyms themselves do not matter here: a throwaway key checks everything else
    result = clean_survey(raw, dict(config), pseudonym_key=secrets.token_bytes(32))
    check_outcome_families(config, raw, source, clean=result.clean)
    analyses = {name: _check_analysis(config, name, result.clean, source) for name in config["analyses"]}
    report = result.report.set_index("rule")
    notes = [_pseudonym_note(config, raw)] if "personal_ids" in report.index else []
    flagged = result.flagged
    return Startup(
        data_path=data_path, rows=len(raw), columns=raw.shape[1], kept=len(result.clean), flagged=len(flagged),
        dropped=int((flagged["action"] == "dropped").sum()) if len(flagged) else 0,
        out_of_scale=int(report.loc["out_of_scale", "cells_affected"]), constructs=len(config["constructs"]),
        analyses=analyses, warnings=warnings, notes=notes,
    )


def _pseudonym_note(config: Mapping, raw: pd.DataFrame) -> str:
    from trustseg.survey.privacy import personal_ids, resolve_pseudonym_key

    column = config["data"]["id_column"]
    key = resolve_pseudonym_key(config)
    made = "" if key and Path(key).exists() else ", which the first run creates"
    return (f"the respondent ids in '{column}' hold personal data ({personal_ids(raw[column])}): results/ will carry "
            f"keyed pseudonyms of them instead (HMAC-SHA256 with the key in {key}{made}; keep it private and keep "
            "it). 'trustseg pseudonyms CONFIG' lists each id with its pseudonym, to merge the results back into the "
            "survey file.")


def _check_analysis(config: Mapping, name: str, clean: pd.DataFrame, source: str) -> tuple[int, int]:
    """The respondents of one analysis and its largest K, after the checks its fit jobs would make."""
    analysis = config["analyses"][name]
    outcome, predictors, _ = analysis_variables(config, name)
    equations = analysis_equations(analysis) if analysis.get("equations") else None
    X, y, w, _, _ = analysis_data(clean, outcome, predictors, name, config["data"].get("weight_column"),
                                  family_columns(analysis), equations)
    frame = X if equations else X.assign(**{outcome: y})
    for i, (eq_outcome, eq_predictors) in enumerate(analysis_equations(analysis)):
        key = f"analyses.{name}.equations[{i}]" if equations else f"analyses.{name}"
        _check_variation(frame, eq_outcome, eq_predictors, name, key)
    n_predictors = sum(len(p) + 1 for _, p in equations) - 1 if equations else X.shape[1]
    _check_segment_counts(len(X), analysis["segments"], n_predictors, name)
    return len(X), max(analysis["segments"])


def _check_variation(frame: pd.DataFrame, outcome: str, predictors: list, name: str, key: str) -> None:
    """A constant outcome, a constant predictor or predictors that are linear combinations of each other."""
    n = len(frame)
    y = frame[outcome].to_numpy(dtype=float)
    if np.ptp(y) == 0:
        raise DataError(
            f"analysis '{name}': its outcome '{outcome}' ({key}) is {y[0]:g} for every one of the {n} respondents "
            "with complete scores, so there is nothing to explain or segment. Check the outcome's items and "
            "data.missing_codes, or choose another outcome."
        )
    X = frame[list(predictors)].to_numpy(dtype=float)
    constant = [p for p, column in zip(predictors, X.T) if np.ptp(column) == 0]
    if constant:
        values = ", ".join(f"'{p}' is {frame[p].iloc[0]:g}" for p in constant)
        raise DataError(
            f"analysis '{name}': predictor(s) {', '.join(map(repr, constant))} ({key}) take one value for all {n} "
            f"respondents with complete scores ({values}), so their slopes cannot be estimated. Remove them from "
            "the analysis, or check their items and data.missing_codes."
        )
    if len(predictors) < 2:
        return
    centred = X - X.mean(axis=0)
    standardised = centred / np.sqrt((centred ** 2).mean(axis=0))
    singular = np.linalg.svd(standardised, compute_uv=False)
    if singular[-1] <= 1e-8 * singular[0] * np.sqrt(n):
        _, _, vt = np.linalg.svd(standardised, full_matrices=False)
        weights = np.abs(vt[-1])
        involved = [p for p, wt in zip(predictors, weights) if wt > 1e-3]
        raise DataError(
            f"analysis '{name}': its predictors {', '.join(map(repr, involved))} ({key}) are collinear: one is a "
            f"linear combination of the others for the {n} respondents with complete scores (e.g. the same answers "
            "under two names, or a construct and a copy of it), so their slopes cannot be told apart. Keep one of "
            "them in the analysis."
        )


def _check_segment_counts(n: int, segments, n_predictors: int, name: str) -> None:
    """Every candidate K needs at least twice as many respondents as its parameters; name every K that has not."""
    needs = {int(k): 2 * (int(k) * (n_predictors + 2) - 1) for k in sorted(segments)}
    impossible = [k for k, need in needs.items() if n < need]
    if not impossible:
        return
    if n <= 1:
        raise DataError(
            f"analysis '{name}': only {n} respondent{'s' if n != 1 else ''} {'has' if n == 1 else 'have'} complete "
            f"scores after the cleaning, and a regression needs at least {2 * (n_predictors + 1)}. See the cleaning "
            "rules' counts (trustseg check-config lists them; results/cleaning/report.csv after a run): repeated "
            "ids in data.id_column or cleaning.flagged_action: drop may have removed the others."
        )
    if 1 in impossible:
        raise DataError(
            f"analysis '{name}': only {n} respondents have complete scores after the cleaning, too few for even one "
            f"segment ({needs[1] // 2} parameters need at least {needs[1]} respondents), let alone "
            f"{_and([str(k) for k in impossible[1:]]) or 'more'}. Collect more data, or check how many rows the "
            "cleaning rules drop (cleaning.flagged_action)."
        )
    listed = _and([f"{k} segments need {needs[k]}" for k in impossible])
    raise DataError(
        f"analysis '{name}': only {n} respondents have complete scores after the cleaning, and each number of "
        f"segments needs at least twice its parameters in respondents: {listed}. Remove "
        f"{_and([str(k) for k in impossible])} from config key 'analyses.{name}.segments' (e.g. segments: "
        f"{[k for k in needs if k not in impossible]}), or collect more data."
    )


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" and {parts[-1]}" if parts else ""
