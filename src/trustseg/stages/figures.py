"""Stage 5 (workflow/rules/figures.smk): every figure, with its caption recorded beside it."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from trustseg.direction import expected_sign
from trustseg.model.families import family_class
from trustseg.model.validation import INTERCEPT
from trustseg.report.numbers import coefficient_unit, effect_unit
from trustseg.report.results import CORRECTED, basis_words, on_slope_basis
from trustseg.stages.common import (
    POSTERIOR_PREFIX,
    SET_ASIDE_COLUMN,
    analysis_data,
    derive_seed,
    match_respondents,
    more_likely_set_aside,
    read_clean,
    write_json,
)

logger = logging.getLogger("trustseg")


def _axis_label(variable: str, constructs: Mapping) -> str:
    """What a score is, for an axis: the construct in words, its items (named when there is one) and its scale."""
    spec = constructs.get(variable)
    shown = str(variable).replace("_", " ").strip()
    shown = shown[:1].upper() + shown[1:]
    if spec:
        lo, hi = spec["scale"]
        items = list(spec["items"])
        what = f"one item: {items[0]}" if len(items) == 1 else f"mean of {len(items)} items"
        return f"{shown} ({what}, {lo:g}-{hi:g} scale)"
    return f"{shown} (as in the data)"


def _scale(variable: str, constructs: Mapping) -> tuple[float, float] | None:
    spec = constructs.get(variable)
    return (float(spec["scale"][0]), float(spec["scale"][1])) if spec else None


def _figure_record(figure) -> dict:
    return {"caption": figure.caption, "files": [str(p) for p in figure.paths]}


def _segment_names(segments_path: str) -> dict[int, str]:
    return pd.read_csv(segments_path).groupby("segment")["name"].first().to_dict()


def segment_figures(clean_path: str, name: str, inputs: Mapping[str, str], out_dir: str, *, outcome: str,
                    predictors: Sequence[str], focal: str, alpha: float, equivalence_margin: float,
                    constructs: Mapping, weight_column: str | None, formats: Sequence[str], seed: int,
                    family: Mapping | Sequence | None = None, family_columns: Mapping[str, str] | None = None,
                    equations: Sequence | None = None, higher_is: str = "better",
                    expected: Mapping[str, str] | None = None, criterion: str | None = None) -> None:
    """The segment scatter, information criteria, posterior certainty and coefficient forest of one analysis.

    ``family`` (``{"name": ..., "options": ...}``, one per equation of a
    chain; see :func:`trustseg.stages.families.analysis_family`) sets the
    unit the coefficients are drawn in and what the scatter's curves show.
    With a trials column (``family_columns``) the scatter shows each
    respondent's share of successes, with an exposure column the count per
    unit of exposure, on the scale of the curves.  ``higher_is`` and
    ``expected`` give the focal predictor's expected direction, marked in
    the coefficient forest; ``criterion`` (how K was chosen) is named in the
    information criteria's caption.

    ``constructs`` needs to hold only the outcome and the focal predictor (for
    the axis labels and the scales the axes are limited to).  Captions go to
    ``captions_segments.json`` beside the figures.
    """
    from trustseg.report import figures as fig

    families = [f["name"] for f in (list(family) if equations else [family])] if family else ["gaussian"]
    out = Path(out_dir)
    names = _segment_names(inputs["segments"])
    assignments = pd.read_csv(inputs["assignments"], dtype={"respondent_id": str})
    formats = tuple(formats)
    written = {"segment_scatter": _scatter(clean_path, name, inputs, out, assignments, names, outcome=outcome,
                                           predictors=predictors, focal=focal, alpha=alpha, constructs=constructs,
                                           weight_column=weight_column, formats=formats, seed=seed,
                                           family=families[-1], family_columns=family_columns, equations=equations)}
    written["information_criteria"] = fig.information_criteria(
        pd.read_csv(inputs["model_selection"]), out / "information_criteria", formats=formats, criterion=criterion
    )
    posteriors = assignments[[c for c in assignments.columns if c.startswith(POSTERIOR_PREFIX)]].to_numpy()
    written["posterior_certainty"] = fig.posterior_certainty(
        posteriors, names, out / "posterior_certainty", formats=formats
    )
    written["coefficient_forest"] = _forest(inputs, out, names, focal=focal, alpha=alpha,
                                            equivalence_margin=equivalence_margin, constructs=constructs,
                                            outcome=outcome, families=families, equations=equations,
                                            formats=formats, sign=expected_sign(focal, higher_is, expected))
    write_json({key: _figure_record(f) for key, f in written.items()}, out / "captions_segments.json")


def _scatter(clean_path, name, inputs, out, assignments, names, *, outcome, predictors, focal, alpha, constructs,
             weight_column, formats, seed, family, family_columns, equations):
    """The segment scatter: the outcome (or a chain's last outcome) against the focal predictor, with each
    segment's line (a chain's total-effect line)."""
    from trustseg.report import figures as fig

    X, y, _, ids, side = analysis_data(read_clean(clean_path), outcome, predictors, name, weight_column,
                                       family_columns, equations)
    y_label, curve = _axis_label(outcome, constructs), None
    if equations:
        y = X[outcome]
        curve = (f"total-effect line ({outcome} as {focal} moves and every mediator follows its own equation, "
                 "the other predictors at their means, on the equations' linear-predictor scale, which may pass "
                 "beyond the outcome scale's ends; no band)")
    family_columns = dict(family_columns or {})
    if "trials" in family_columns:
        y, y_label = y / side["trials"], f"{outcome}: share of {family_columns['trials']} (successes per trial)"
        curve = "probability of success per trial"
    elif "exposure" in family_columns:  # the offset is log exposure
        y, y_label = y / np.exp(side["offset"]), f"{outcome} per unit of {family_columns['exposure']}"
        curve = f"expected count per unit of {family_columns['exposure']}"
    rows = match_respondents(ids, assignments, inputs["assignments"])
    segment = assignments["segment"].to_numpy()[rows]
    unassigned = ("Unassigned", "")
    if SET_ASIDE_COLUMN in assignments.columns:  # the set-aside group drawn apart, as grey crosses
        segment = np.where(more_likely_set_aside(assignments[SET_ASIDE_COLUMN].to_numpy()[rows]), np.nan, segment)
        unassigned = ("Set aside", "Grey crosses: the respondents more likely in the set-aside group than in any "
                                   "segment (their answers depend on no predictor; assignments.csv, column "
                                   f"{SET_ASIDE_COLUMN}).")
    scatter = pd.DataFrame({"x": X[focal].to_numpy(), "y": y.to_numpy(), "segment": segment})
    grid = pd.read_csv(inputs["fitted_lines"])
    if equations:
        grid = grid.loc[grid["line"] == "total"]
    # fitted_lines.csv holds the other predictors at the value the lines were drawn with (their mean)
    held = {p: float(grid[p].iloc[0]) for p in predictors if p != focal and p in grid.columns and len(grid)}
    return fig.segment_scatter(
        scatter, grid.rename(columns={focal: "x"}), names, _axis_label(focal, constructs),
        y_label, out / "segment_scatter", seed=derive_seed(seed, name, "jitter") % 2**31,
        ci_level=1 - alpha, formats=formats, x_scale=_scale(focal, constructs),
        y_scale=(0.0, 1.0) if family_class(family).probability_outcome else _scale(outcome, constructs),
        held_at_mean=held, family=family, curve=curve, clip_lines=not equations, unassigned=unassigned,
    )


def _forest(inputs, out, names, *, focal, alpha, equivalence_margin, constructs, outcome, families, equations,
            formats, sign):
    """The coefficient forest: every coefficient (a chain's every path) with the equivalence band on each slope
    that has a verdict, and the focal predictor's expected direction."""
    from trustseg.report import figures as fig

    segments_df = pd.read_csv(inputs["segments"])
    # an intercept in log odds or log counts is not on the outcome's scale: no scale check for it
    intercept_scale = _scale(outcome, constructs) if family_class(families[-1]).normal else None
    forest_focal, banded = focal, [focal]
    if equations:
        # a chain's slopes as paths ("satisfaction → trust"), each with its verdict; its intercepts are on several
        # outcomes' scales
        segments_df = _as_paths(segments_df)
        forest_focal, banded, intercept_scale = f"{focal} → {equations[0][0]}", list(segments_df["term"]), None
    estimates = segments_df[["segment", "term", "estimate", "ci_low", "ci_high"]].copy()
    if inputs.get("bootstrap"):
        boot = pd.read_csv(inputs["bootstrap"]).rename(columns={"ci_low": "boot_ci_low", "ci_high": "boot_ci_high"})
        boot = _as_paths(boot) if equations else boot
        # reappearance: the forest's caption warns of a segment its refits rarely found again
        columns = ["segment", "term", "boot_ci_low", "boot_ci_high",
                   *(c for c in ("reappearance", "latent_boot_ci_low", "latent_boot_ci_high") if c in boot)]
        estimates = estimates.merge(boot[columns], on=["segment", "term"], how="left")
    # the points and intervals the verdicts read: the constructs' where corrected for measurement error
    basis = _basis_phrase(segments_df)
    estimates = on_slope_basis(estimates.assign(**{c: segments_df[c].to_numpy() for c in segments_df.columns
                                                   if c.startswith("latent_") or c == "slope_basis"}))
    figure = fig.coefficient_forest(
        estimates, names, out / "coefficient_forest", equivalence_margin=equivalence_margin,
        focal_term=forest_focal, ci_level=1 - alpha, formats=formats, outcome_scale=intercept_scale,
        predictor_scale=_scale(focal, constructs), family=families, margin_terms=list(dict.fromkeys(banded)),
        expected_sign=sign, x_label=(f"Estimate ({coefficient_unit(families)}; slopes per predictor point, {basis})"
                                     if basis else None),
    )
    return _with_basis_caption(figure, basis)


def _basis_phrase(table: pd.DataFrame) -> str:
    """Which slopes a figure draws, for its axis and caption (empty when the run did not correct, issue 27)."""
    if "slope_basis" not in table.columns:
        return ""
    bases = set(table.loc[table["verdict"].fillna("") != "", "slope_basis"]) or set(table["slope_basis"])
    if bases == {CORRECTED}:
        return basis_words(CORRECTED)
    if CORRECTED in bases:
        return "corrected for measurement error where slope_basis says so, else the scores' slopes"
    return basis_words("observed")


def _with_basis_caption(figure, basis: str):
    """The figure with a caption sentence saying which slopes it draws."""
    if not basis:
        return figure
    return replace(figure, caption=figure.caption.rstrip() + (
        f" Points and intervals: {basis} (segments.csv and effects.csv, column slope_basis; latent_* columns for "
        "the constructs' slopes, estimate and ci_* for the scores'); a corrected row's bootstrap interval is that of "
        "the refits corrected with their own resample's reliabilities (none where the bootstrap did not correct)."))


def _as_paths(table: pd.DataFrame) -> pd.DataFrame:
    """A chain's table (``equation``, ``term``) with each slope named as its path, intercepts left out."""
    slopes = table.loc[table["term"] != INTERCEPT].copy()
    slopes["term"] = slopes["term"] + " → " + slopes["equation"]
    return slopes


def bootstrap_figure(segments_path: str, bootstrap_path: str, replicates_path: str, out_stem: str,
                     formats: Sequence[str]) -> None:
    """Bootstrap stability: ARI distribution and how often each segment reappeared."""
    from trustseg.report import figures as fig

    boot = pd.read_csv(bootstrap_path)
    replicates = pd.read_csv(replicates_path)
    ari = replicates.groupby("replicate")["ari"].first().to_numpy(dtype=float)
    reappearance = boot.groupby("segment")["reappearance"].first().reset_index()
    figure = fig.bootstrap_stability(
        ari, reappearance, _segment_names(segments_path), Path(out_stem), formats=tuple(formats)
    )
    write_json({"bootstrap_stability": _figure_record(figure)}, Path(out_stem).with_name("captions_bootstrap.json"))


def profile_figure(segments_path: str, profiles_path: str, out_stem: str, formats: Sequence[str]) -> None:
    """Heat map of the profile variables by segment."""
    from trustseg.report import figures as fig

    # categories as written ("1", "2"), never parsed into floats ("1.0")
    profiles = pd.read_csv(profiles_path, dtype={"level": str}, keep_default_na=False, na_values=[""])
    figure = fig.profile_heatmap(profiles, _segment_names(segments_path), Path(out_stem),
                                 formats=tuple(formats))
    write_json({"profile_heatmap": _figure_record(figure)}, Path(out_stem).with_name("captions_profiles.json"))


def cleaning_figure(report_path: str, flagged_path: str, out_stem: str, formats: Sequence[str]) -> None:
    """The participant flow of the cleaning: respondents read, each exclusion, the clean data set."""
    from trustseg.report import figures as fig

    figure = fig.participant_flow(pd.read_csv(report_path), pd.read_csv(flagged_path, dtype=str), Path(out_stem),
                                  formats=tuple(formats))
    write_json({"participant_flow": _figure_record(figure)}, Path(out_stem).with_name("captions_cleaning.json"))


def chain_figures(segments_path: str, effects_path: str, name: str, out_dir: str, *, alpha: float,
                  equivalence_margin: float, formats: Sequence[str], family: Sequence[Mapping] | None = None) -> None:
    """A chain's path diagram per segment and its forest of direct, indirect and total effects.

    Captions go to ``captions_chain.json`` beside the figures.
    """
    from trustseg.report import figures as fig

    # the effects on the last outcome (products of paths) in the one unit every figure, sentence and summary uses
    unit = effect_unit([f["name"] for f in family or [{"name": "gaussian"}]]) + " per predictor point"
    effects = pd.read_csv(effects_path)
    basis = _basis_phrase(effects)
    effects = on_slope_basis(effects)
    unit = f"{unit}, {basis}" if basis else unit
    names = _segment_names(segments_path)
    out = Path(out_dir)
    written = {
        "path_diagram": fig.path_diagram(effects, names, out / "path_diagram", ci_level=1 - alpha,
                                         formats=tuple(formats), unit=unit),
        "effects_forest": fig.effects_forest(effects, names, out / "effects_forest",
                                             equivalence_margin=equivalence_margin, ci_level=1 - alpha,
                                             formats=tuple(formats), unit=unit),
    }
    written = {key: _with_basis_caption(figure, basis) for key, figure in written.items()}
    write_json({key: _figure_record(f) for key, f in written.items()}, out / "captions_chain.json")
