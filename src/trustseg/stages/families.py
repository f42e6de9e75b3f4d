"""Which outcome family each analysis fits, and the start-up check of the family against the data.

Config key ``analyses.<name>.family`` names the family
(:mod:`trustseg.model.families`); ``auto`` (the default) takes
:data:`SCORE_FAMILY` for a construct score over several items on a bounded
scale, the family chosen by the evidence in ``docs/outcome_families.md``, and
``gaussian`` for anything else.  The family's settings come from the config:
a censored outcome is censored at the outcome construct's scale, an ordinal
outcome has the whole-number answers of its scale as categories.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from trustseg.config import analysis_equations, family_columns
from trustseg.errors import ConfigError, DataError
from trustseg.model.families import FAMILIES, MAX_ORDINAL_CATEGORIES, family_class
from trustseg.stages.common import family_data

#: the family of a construct score over several items on a bounded scale (family: auto);
#: chosen from the side-by-side fits in docs/outcome_families.md
SCORE_FAMILY = "censored"
#: the families made for one answer, whose outcome values are checked against the data before any job runs
SINGLE_ANSWER_FAMILIES = tuple(name for name, kind in FAMILIES.items() if kind.single_answer)


def analysis_family(name: str, analysis: Mapping, constructs: Mapping) -> tuple[str, dict]:
    """The family of analysis ``name`` and its settings (``family_options`` of the estimator).

    Raises
    ------
    ConfigError
        A censored outcome that is not a construct with a scale; an ordinal
        outcome whose construct scale is not whole numbers; method cem with
        a family other than gaussian (``auto`` is gaussian under cem).
    """
    family = analysis.get("family", "auto")
    outcome = analysis["outcome"]
    spec = constructs.get(outcome)
    cem = analysis.get("method", "em") == "cem"
    if family == "auto":
        # cem is Spaeth's clusterwise regression of a normal outcome: auto gives it the gaussian family
        family = SCORE_FAMILY if spec is not None and len(spec["items"]) > 1 and not cem else "gaussian"
    if cem and not family_class(family).classification_em:
        raise ConfigError(
            f"analysis '{name}': method cem (analyses.{name}.method) is for the gaussian family; the {family} "
            f"family is fitted by maximum likelihood. Set method: em, or family: gaussian."
        )
    _check_spread(name, analysis, family)
    kind = family_class(family)
    if kind.needs_scale and spec is None:
        raise ConfigError(
            f"analysis '{name}' fits a {family} outcome (analyses.{name}.family: {family}), but its outcome "
            f"'{outcome}' is a column, not a construct, so the bounds of its scale are unknown. Make it a construct "
            f"with its scale (constructs: {{{outcome}_score: {{items: [{outcome}], scale: [LOWEST, HIGHEST]}}}}) "
            "and use that as the outcome."
        )
    if spec is None:
        return family, {}
    lo, hi = (float(v) for v in spec["scale"])
    step = float(spec.get("step", 1) or 1)
    options = kind.options_for_scale(lo, hi, step)
    if options is None:
        raise ConfigError(
            f"analysis '{name}' fits an ordinal outcome (analyses.{name}.family: ordinal), but construct "
            f"'{outcome}' is on the scale {list(spec['scale'])} in steps of {step:g}; an ordinal outcome is one "
            f"rating item answered on 2 to {MAX_ORDINAL_CATEGORIES} whole points (or steps). If its answers run "
            f"in steps, give their distance as constructs.{outcome}.step (e.g. 20 for answers 0, 20, ..., 100); "
            "otherwise use family censored or gaussian for this outcome."
        )
    return family, options


def analysis_families(name: str, analysis: Mapping, constructs: Mapping) -> list[tuple[str, dict]]:
    """The family and settings of each equation of analysis ``name`` (one for a single-outcome analysis).

    A chain's ``family`` applies to every equation, ``auto`` resolved for
    each equation's outcome as for a single analysis.
    """
    if not analysis.get("equations"):
        return [analysis_family(name, analysis, constructs)]
    return [analysis_family(name, {**analysis, "outcome": outcome, "predictors": predictors}, constructs)
            for outcome, predictors in analysis_equations(analysis)]


def _check_spread(name: str, analysis: Mapping, family: str) -> None:
    """Refuse a linear spread asked of a family without a residual SD, or with method cem."""
    if analysis.get("spread", "constant") != "linear":
        return
    if not getattr(family_class(family), "varies_spread", False):
        raise ConfigError(
            f"analysis '{name}' asks for a linear spread (analyses.{name}.spread: linear), which is for the gaussian "
            f"and censored families; its family is {family}, whose spread follows from its mean. Remove the spread "
            "key or choose family gaussian or censored."
        )
    if analysis.get("method", "em") == "cem":
        raise ConfigError(
            f"analysis '{name}': spread: linear is fitted by maximum likelihood; set analyses.{name}.method: em."
        )


def check_outcome_families(config: Mapping, raw, source: str, clean: pd.DataFrame | None = None) -> None:
    """Stop before any job runs when an analysis's outcome cannot come from its family.

    First the config alone (:func:`analysis_family`: a censored column
    without a scale, an ordinal construct on a scale of fractions).  Then the
    data: a binomial outcome with values other than 0 and 1, an ordinal
    outcome with more distinct values than a rating item has (or values off
    its scale), a negative or fractional count; the message names the
    analysis, the column and the offending values; so do trials that are not
    whole numbers of at least 1 (or below the successes) and an exposure that
    is not positive.  The outcome is scored as
    the cleaning scores it (only when some analysis needs the check), unless
    the ``clean`` data are given.
    """
    from trustseg.model.families import make_family
    from trustseg.survey.cleaning import clean_survey

    constructs = config.get("constructs") or {}
    for name, analysis in (config.get("analyses") or {}).items():
        analysis_families(name, analysis, constructs)  # a family the config alone rules out
    # every equation of an analysis whose family needs its outcome checked against the data
    checks = [(name, {**analysis, "outcome": outcome, "predictors": predictors})
              for name, analysis in (config.get("analyses") or {}).items()
              if analysis.get("family", "auto") in SINGLE_ANSWER_FAMILIES
              for outcome, predictors in analysis_equations(analysis)]
    if not checks:
        return
    if clean is None:
        clean = clean_survey(raw, dict(config)).clean
    for name, analysis in checks:
        family_name, settings = analysis_family(name, analysis, constructs)
        outcome = analysis["outcome"]
        columns = family_columns(analysis)
        table = clean if outcome in clean else raw
        frame = pd.DataFrame({c: _numbers(table[c]) for c in [outcome, *columns.values()]}, index=table.index)
        frame = frame.loc[np.isfinite(frame.to_numpy()).all(axis=1)]
        ids = table.loc[frame.index, "respondent_id"].astype(str) if "respondent_id" in table else None
        # trials or exposure that cannot be right (0 trials, a negative exposure) stop here too
        side = family_data(frame, columns, name, ids)
        family = make_family(family_name, **settings)
        try:
            family.check_outcome(frame[outcome].to_numpy(), outcome, side)
        except DataError as exc:
            raise DataError(
                f"analysis '{name}' fits its outcome as {family_name} (analyses.{name}.family) in {source}, but "
                f"{exc} Choose the family that matches the outcome (gaussian or censored for a score; ordinal for "
                "one rating item; binomial for 0/1; poisson for counts) or fix the outcome column."
            ) from None


def _numbers(column):
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
