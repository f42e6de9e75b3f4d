"""The chosen segmentation (workflow/rules/segments.smk): inference, names, assignments, classification, settings."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from trustseg.equations import TERM_SEPARATOR, chain_predictors
from trustseg.model.set_aside import SetAsideRegression, group_words
from trustseg.report.tables import atomic_write_text, write_table
from trustseg.stages.common import (
    POSTERIOR_PREFIX,
    SET_ASIDE_COLUMN,
    analysis_data,
    chosen_row,
    more_likely_set_aside,
    read_clean,
    stem,
    write_csv,
    write_json,
)
from trustseg.stages.fits import load_model, segments_of
from trustseg.stages.measurement import (
    corrected_model,
    latent_bootstrap_effects,
    latent_caption,
    with_latent_effects,
    with_latent_segments,
)
from trustseg.stages.provenance import run_provenance

logger = logging.getLogger("trustseg")


#: the focal verdict of a segment with problems (trustseg.model.diagnostics): its estimates cannot be read as they are
UNRELIABLE = "unreliable"


def segment_table(inference, focal: str, outcome: str, counts: Mapping[int, int], scale: Sequence[float] | None = None,
                  predictor_means: Mapping[str, float] | None = None,
                  problems: pd.DataFrame | None = None, higher_is: str = "better",
                  levels: Mapping[int, float] | None = None, expected: Mapping[str, str] | None = None,
                  latent_columns: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> pd.DataFrame:
    """One row per segment and term: plain-language name, estimates, tests and the focal verdict.

    The focal rows carry the verdict's p-values (``p_zero``, ``p_tost`` and,
    when the verdicts were Holm-adjusted, ``p_zero_adjusted`` and
    ``p_tost_adjusted``); ``higher_is`` (``better`` or ``worse``) tells the
    names which direction of the focal effect is the expected one.

    ``problems`` (:func:`trustseg.model.diagnostics.segment_problems`) adds
    a ``problems`` column (the segment's codes, empty when none) and turns
    the focal verdict of every segment with a problem into ``unreliable``,
    and its name says so ("Unreliable segment, ...").

    ``levels`` (segment -> the mean outcome of the segment's members, the
    number the notebooks show beside the names) names the level of each
    segment; without it the level is the linear prediction at the mean
    predictors.  ``expected`` (config key of the same name) gives the focal
    predictor's expected direction when it is not the good way for the
    outcome (:mod:`trustseg.direction`).
    """
    from trustseg.report.naming import name_segments

    table = inference.params.copy()
    verdicts = inference.verdicts
    verdicts = verdicts[["segment", *(c for c in verdicts.columns if c.startswith("p_")), "verdict"]].assign(term=focal)
    table = table.merge(verdicts, on=["segment", "term"], how="left")
    table["verdict"] = table["verdict"].fillna("")
    sigmas = inference.sigmas.set_index("segment")["estimate"]
    table["sigma"] = table["segment"].map(sigmas)
    table["n_assigned"] = table["segment"].map(counts).fillna(0).astype(int)
    if levels is not None:
        table["level"] = table["segment"].map(levels)
    if problems is not None:
        codes = problems.set_index("segment")["problems"]
        table["problems"] = table["segment"].map(codes).fillna("")
        affected = (table["problems"] != "") & (table["verdict"] != "")
        table.loc[affected, "verdict"] = UNRELIABLE
    if latent_columns is not None:
        table = latent_columns(table)
    # named after the marking: a segment on the variance floor must not be called "Satisfaction-driven"
    names = name_segments(
        table, focal=focal, outcome_scale=tuple(scale) if scale else None,
        predictor_means=predictor_means, outcome=outcome, higher_is=higher_is, expected=expected,
    )
    table.insert(1, "name", table["segment"].map(names))
    return table


def member_means(values, labels: np.ndarray) -> dict[int, float]:
    """Segment -> the mean of ``values`` over the respondents whose most likely segment it is.

    The level the segment names rank by: the same number the notebooks show
    as each segment's mean outcome, so "highest loyalty" is the segment
    whose members' loyalty is highest.
    """
    means = pd.Series(np.asarray(values, dtype=float)).groupby(np.asarray(labels)).mean()
    return {int(s): float(v) for s, v in means.items()}


def segments(clean_path: str, name: str, fit_path: str, outputs: Mapping[str, str], *, outcome: str,
             predictors: Sequence[str], focal: str, cov_type: str, alpha: float, equivalence_margin: float,
             weight_column: str | None, scale: Sequence[float] | None = None, higher_is: str = "better",
             verdict_adjustment: str = "none", family_columns: Mapping[str, str] | None = None,
             equations: Sequence | None = None, expected: Mapping[str, str] | None = None,
             measurement_error: str = "ignore", reliability_path: str | None = None) -> None:
    """Inference, names, problems, residual spread, assignments and classification quality of the chosen model.

    ``higher_is`` and ``expected`` (config keys of the same names) set which
    direction of the focal effect the names expect; ``verdict_adjustment``
    (``none`` or ``holm``) whether the verdicts are Holm-adjusted over the
    segments.

    A segment with a problem (:mod:`trustseg.model.diagnostics`: on the
    variance floor, a point mass at a bound of ``scale``, or every segment
    when the observed information is singular) gets the verdict
    ``unreliable`` and its codes in the ``problems`` column of
    ``segments.csv``; the summary and the log say so.  The residual-spread
    test of every segment goes to ``outputs["residual_spread"]``, with a
    warning for each segment whose spread changes with a predictor.

    ``measurement_error="correct"`` (with ``reliability_path``, the cleaning
    stage's reliability.csv) adds the latent_* columns: the coefficients
    corrected for the construct scores' measurement error
    (:mod:`trustseg.stages.measurement`).
    """
    from trustseg.model.diagnostics import residual_spread, segment_problems

    if equations:
        return chain_segments(clean_path, name, fit_path, outputs, equations=equations, focal=focal,
                              cov_type=cov_type, alpha=alpha, equivalence_margin=equivalence_margin,
                              weight_column=weight_column, scale=scale, higher_is=higher_is,
                              verdict_adjustment=verdict_adjustment, expected=expected,
                              measurement_error=measurement_error, reliability_path=reliability_path)
    clean_df = read_clean(clean_path)
    X, y, w_all, ids, side = analysis_data(clean_df, outcome, predictors, name, weight_column, family_columns)
    fit = load_model(fit_path)
    inference = _fit_inference(fit, X, y, w_all, side, cov_type=cov_type, alpha=alpha,
                               equivalence_margin=equivalence_margin, verdict_adjustment=verdict_adjustment)
    # beside a set-aside group the segments are its model_, weighted by each respondent's chance of not being set aside
    model, w, aside = segments_of(fit, w_all)
    problems = segment_problems(model, X, y, w, singular_information=inference.singular_information,
                                family_data=side)
    posteriors = model.predict_proba(X, y, family_data=side)
    labels = posteriors.argmax(axis=1) + 1
    kept = np.ones(len(labels), dtype=bool) if aside is None else ~more_likely_set_aside(aside)  # the members
    latent_columns = None
    if measurement_error == "correct" and reliability_path:
        latent = corrected_model(model, X, posteriors, inference, w, reliability_path, predictors, name)
        latent_columns = partial(with_latent_segments, latent=latent, alpha=alpha,
                                 equivalence_margin=equivalence_margin, verdict_adjustment=verdict_adjustment)
    table = segment_table(
        inference, focal, outcome, pd.Series(labels[kept]).value_counts().to_dict(), scale,
        predictor_means={p: float(np.average(X[p], weights=w)) for p in predictors}, problems=problems,
        higher_is=higher_is, levels=member_means(np.asarray(y)[kept], labels[kept]), expected=expected,
        latent_columns=latent_columns,
    )
    _write_segment_tables(table, inference, name, outcome, predictors, focal, inference.cov_type, alpha,
                          equivalence_margin, verdict_adjustment, outputs)
    _write_membership(ids, posteriors, w, inference, outputs, set_aside=aside)
    write_csv(fitted_lines(inference, X, focal), outputs["fitted_lines"])
    spread = residual_spread(model, X, y, w, alpha=alpha)
    write_table(spread, stem(outputs["residual_spread"]), caption=(
        f"Residual spread of the segments of analysis {name}: Koenker's score test of whether the squared "
        f"residuals change with each predictor (posterior-weighted; chi-squared with df degrees of freedom); "
        f"spread_varies at alpha = {alpha:g}. The model assumes a constant spread within each segment."))
    lines, replace = _problem_lines(name, table, problems, spread, focal), {}
    if aside is not None:  # the whole likelihood's, not that of the segments' weighted fit
        replace = {"Log-likelihood": f"{fit.loglik_:.4f} (segments and set-aside group)",
                   "Parameters": str(fit.n_params_), "Covariance": "observed information"}
        who = group_words(fit, w_all)
        lines.append(("Set aside", f"{who} (assignments.csv, column {SET_ASIDE_COLUMN})"))
        logger.info("analysis %s: %s", name, who)
    _write_summary(inference, lines, outputs["summary"], replace)
    names = table.groupby("segment")["name"].first().to_dict()
    logger.info(
        "analysis %s: %d segments: %s", name, model.n_segments_, "; ".join(f"{k} {v}" for k, v in names.items())
    )


def _write_segment_tables(table, inference, name, outcome, predictors, focal, cov_type, alpha, equivalence_margin,
                          verdict_adjustment, outputs) -> None:
    """``segments.csv`` and ``tests.csv`` of a single-outcome analysis, with their captions."""
    write_table(
        table, stem(outputs["segments"]),
        caption=(
            f"Segments of analysis {name}: {outcome} regressed on {', '.join(predictors)}. "
            f"Standard errors from the {'observed information' if cov_type == 'oim' else 'sandwich'} "
            f"of the full mixture likelihood; {100 * (1 - alpha):.0f}% intervals; verdict for {focal} "
            f"with equivalence margin ±{equivalence_margin}"
            + (", Holm-adjusted over the segments." if verdict_adjustment == "holm"
               else ", each segment tested at its own level (not adjusted for several segments).")
            + latent_caption(table)
        ),
    )
    write_table(inference.tests_frame(), stem(outputs["tests"]),
                caption=(f"Tests of the {focal} slope across segments (pairwise p-values Holm-adjusted; "
                         f"equivalence test of each difference against ±{equivalence_margin}; comparison: differ, "
                         "alike or not_shown_to_differ)."))


def chain_segments(clean_path: str, name: str, fit_path: str, outputs: Mapping[str, str], *, equations: Sequence,
                   focal: str, cov_type: str, alpha: float, equivalence_margin: float, weight_column: str | None,
                   scale: Sequence | None = None, higher_is: str = "better", verdict_adjustment: str = "none",
                   expected: Mapping[str, str] | None = None, measurement_error: str = "ignore",
                   reliability_path: str | None = None) -> None:
    """The outputs of :func:`segments` for a chain of equations sharing the segments.

    ``segments.csv`` has one row per segment, equation and term (column
    ``equation``), each slope with the verdict of its path; the names come
    from the chain's effects (:func:`trustseg.report.naming.name_chain_segments`).
    ``fitted_lines.csv`` holds each equation's line over the focal
    predictor (the other predictors at their means), ``scale`` is one outcome
    scale per equation (None where the outcome is not a construct), and the
    residual-spread table is empty (it tests one normal outcome).
    """
    from trustseg.model.diagnostics import residual_spread, segment_problems

    X, w, ids, model, inference = _chain_inference(clean_path, name, fit_path, equations, weight_column, cov_type,
                                                   alpha, equivalence_margin, verdict_adjustment)
    scales = list(scale) if scale is not None else [None] * len(equations)
    problems = segment_problems(model, X, None, w, singular_information=inference.singular_information)
    posteriors = model.predict_proba(X, None)
    labels = posteriors.argmax(axis=1) + 1
    effects = model.effects(inference)
    correct = measurement_error == "correct" and reliability_path
    if correct:
        latent = corrected_model(model, X, posteriors, inference, w, reliability_path,
                                 chain_predictors(equations), name)
        # the names read the effects' verdicts on the slopes' basis (the constructs' where corrected)
        effects = with_latent_effects(effects, model, latent, alpha, equivalence_margin, verdict_adjustment)
    table, names = chain_segment_table(model, inference, effects, X, w, labels, problems, scales, higher_is,
                                       expected)
    if correct:
        table = with_latent_segments(table, latent, alpha, equivalence_margin, verdict_adjustment, chain=True)
    write_table(
        table, stem(outputs["segments"]),
        caption=(
            f"Segments of analysis {name}: {' and '.join(f'{o} on {join_terms(p)}' for o, p in equations)}, "
            "with one set of segments shared by the equations. Standard errors from the "
            f"{'observed information' if cov_type == 'oim' else 'sandwich'} of the full mixture likelihood; "
            f"{100 * (1 - alpha):.0f}% intervals; each slope's verdict with equivalence margin "
            f"±{equivalence_margin}" + (", Holm-adjusted over the segments." if verdict_adjustment == "holm"
                                       else ", each segment tested at its own level.")
            + latent_caption(table)
        ),
    )
    tests_df = inference.tests_frame()
    write_table(tests_df, stem(outputs["tests"]),
                caption=(f"Tests of the {model.coef_terms_[model.focal_index_]} path across segments (pairwise "
                         f"p-values Holm-adjusted; equivalence test of each difference against "
                         f"±{equivalence_margin})."))
    _write_membership(ids, posteriors, w, inference, outputs)
    write_csv(chain_fitted_lines(model, inference, X, focal), outputs["fitted_lines"])
    spread = residual_spread(model, X, None, w, alpha=alpha)
    write_table(spread, stem(outputs["residual_spread"]),
                caption=(f"Residual spread of the segments of analysis {name}: not tested for a chain of equations "
                         "(the test is for one normal outcome); each equation's residual SD is in segments.csv."))
    named = table.assign(term=table["equation"] + TERM_SEPARATOR + table["term"])
    lines = _problem_lines(name, named, problems, spread, model.coef_terms_[model.focal_index_])
    _write_summary(inference, lines, outputs["summary"], replace={"Family": _chain_family_words(model)})
    logger.info("analysis %s: %d segments: %s", name, model.n_segments_,
                "; ".join(f"{k} {v}" for k, v in names.items()))


def _chain_inference(clean_path, name, fit_path, equations, weight_column, cov_type, alpha, equivalence_margin,
                     verdict_adjustment):
    """A chain's data (variables, weights, ids), its fitted model and the model's inference."""
    clean_df = read_clean(clean_path)
    X, _, w, ids, _ = analysis_data(clean_df, equations[-1][0], [], name, weight_column, None, equations)
    model = load_model(fit_path)
    with warnings.catch_warnings():
        # said once, in words, by the segments stage (segments.csv, problems) instead of as a Python warning
        warnings.filterwarnings("ignore", message="the observed information is not positive definite")
        inference = model.inference(X, None, sample_weight=w, cov_type=cov_type, alpha=alpha,
                                    equivalence_margin=equivalence_margin, verdict_adjustment=verdict_adjustment)
    return X, w, ids, model, inference


def _fit_inference(fit, X, y, w, side, *, cov_type, alpha, equivalence_margin, verdict_adjustment):
    """The chosen fit's inference; beside a set-aside group always from the observed information (logged)."""
    if isinstance(fit, SetAsideRegression) and cov_type != "oim":
        logger.info("the standard errors beside a set-aside group come from the observed information, not %s",
                    cov_type)
        cov_type = "oim"
    with warnings.catch_warnings():
        # said once, in words, by the caller (segments.csv and the summary), instead of as a Python warning
        warnings.filterwarnings("ignore", message="the observed information is not positive definite")
        return fit.inference(X, y, sample_weight=w, cov_type=cov_type, alpha=alpha,
                             equivalence_margin=equivalence_margin, verdict_adjustment=verdict_adjustment,
                             family_data=side)


def _write_membership(ids: pd.Series, posteriors: np.ndarray, w, inference, outputs: Mapping[str, str],
                      set_aside: np.ndarray | None = None) -> None:
    """``assignments.csv`` (modal segment and posteriors), the classification quality and the covariance.

    Beside a set-aside group the posteriors are those of the segments for a
    respondent not set aside, and column ``set_aside`` holds each one's
    probability of the group.
    """
    from trustseg.model.classification import classification_quality

    assignments = pd.DataFrame({"respondent_id": ids.to_numpy(), "segment": posteriors.argmax(axis=1) + 1})
    for j in range(posteriors.shape[1]):
        assignments[f"{POSTERIOR_PREFIX}{j + 1}"] = posteriors[:, j]
    if set_aside is not None:
        assignments[SET_ASIDE_COLUMN] = set_aside
    write_csv(assignments, outputs["assignments"])
    quality = classification_quality(posteriors, w)
    write_table(
        quality["tidy"],
        stem(outputs["classification"]),
        caption="Classification quality: entropy R², average posterior probabilities and classification errors.",
    )
    write_csv(covariance_frame(inference), outputs["covariance"])


def _write_summary(inference, lines: list, path: str, replace: Mapping[str, str] | None = None) -> None:
    """The model summary with the problem lines, as text, Markdown and LaTeX; ``replace`` replaces info lines."""
    summary = inference.summary()
    replace = dict(replace or {})
    summary.info = [(key, replace.get(key, value)) for key, value in summary.info]
    summary.info += lines
    atomic_write_text(Path(path), summary.as_text() + "\n")
    atomic_write_text(Path(path).with_suffix(".md"), summary.as_markdown() + "\n")
    atomic_write_text(Path(path).with_suffix(".tex"), summary.as_latex() + "\n")


def _chain_family_words(model) -> str:
    """A chain's Family line: each equation's family, the unit of its paths and that of its effects."""
    from trustseg.report.numbers import coefficient_unit, effect_unit

    names = [f.name for f in model.family_.families]
    each = ", ".join(f"{o}: {n}" for (o, _), n in zip(model.equations_, names))
    paths, effects = coefficient_unit(names), effect_unit(names)
    if paths == effects:
        return f"one per equation ({each}); coefficients and effects in {paths}"
    return f"one per equation ({each}); paths in {paths}; effects on {model.equations_[-1][0]} in {effects}"


def join_terms(terms: Sequence[str]) -> str:
    return " + ".join(terms)


def chain_segment_table(model, inference, effects: pd.DataFrame, X: pd.DataFrame, w, labels: np.ndarray,
                        problems: pd.DataFrame, scales: Sequence, higher_is: str = "better",
                        expected: Mapping[str, str] | None = None):
    """The chain's segment table (one row per segment, equation and term) and the segment names."""
    from trustseg.model.effects import ARROW
    from trustseg.report.naming import HIGH_CUT, name_chain_segments

    table = inference.params.copy()
    split = table["term"].str.split(TERM_SEPARATOR, n=1, expand=True)
    table["term"] = split[1]
    table.insert(2, "equation", split[0])
    paths = effects.loc[effects["kind"] == "path"].copy()
    paths[["predictor", "outcome"]] = paths["path"].str.split(ARROW, n=1, expand=True)
    # the table's own verdicts are the scores' (with_latent_segments then chooses the basis); the names read effects'
    observed = "observed_verdict" if "observed_verdict" in paths else "verdict"
    verdicts = paths.set_index(["segment", "outcome", "predictor"])[observed]
    keys = list(zip(table["segment"], table["equation"], table["term"]))
    table["verdict"] = [verdicts.get(key, "") for key in keys]
    extras = inference.extras.copy()
    sigma = extras.loc[extras["term"].str.endswith(":log_sigma")].copy()
    sigma["equation"] = sigma["term"].str.split(":", n=1).str[0]
    sigma_of = {(r.segment, r.equation): float(np.exp(r.estimate)) for r in sigma.itertuples()}
    table["sigma"] = [sigma_of.get((seg, eq), np.nan) for seg, eq in zip(table["segment"], table["equation"])]
    counts = pd.Series(labels).value_counts().to_dict()
    table["n_assigned"] = table["segment"].map(counts).fillna(0).astype(int)
    # each equation's level: the mean outcome of the segment's members, as the notebooks show it
    outcomes = [o for o, _ in model.equations_]
    levels = {o: member_means(X[o], labels) for o in outcomes}
    table["level"] = [levels[eq].get(seg, np.nan) for seg, eq in zip(table["segment"], table["equation"])]
    codes = problems.set_index("segment")["problems"]
    table["problems"] = table["segment"].map(codes).fillna("")
    unreliable = {int(s) for s, c in codes.items() if c}
    table.loc[table["segment"].isin(unreliable) & (table["verdict"] != ""), "verdict"] = UNRELIABLE

    def cut(scale):
        return None if scale is None else float(scale[0]) + HIGH_CUT * (float(scale[1]) - float(scale[0]))

    mediators = [o for o in outcomes[:-1] if any(o in ps for _, ps in model.equations_)]
    first_mediator = outcomes.index(mediators[0]) if mediators else None
    names = name_chain_segments(
        effects, model.focal_name_, outcomes[-1], mediators, levels=levels[outcomes[-1]],
        mediator_levels=levels[mediators[0]] if mediators else None,
        cut=cut(scales[-1]) if scales else None,
        mediator_cut=cut(scales[first_mediator]) if first_mediator is not None and scales else None,
        higher_is=higher_is, unreliable=unreliable, expected=expected,
    )
    table.insert(1, "name", table["segment"].map(names))
    return table, names


def chain_fitted_lines(model, inference, X: pd.DataFrame, focal: str, n_points: int = 60) -> pd.DataFrame:
    """Each equation's line over the observed range of the focal predictor, per segment, with its band.

    ``line`` ``equation``: the equation's own line, the other predictors
    (mediators included) held at their (unweighted) means.  ``line``
    ``total``: the last outcome when the focal predictor moves and every
    mediator follows its own equation (the total effect as a line; no band).
    Columns: segment, line, equation, the focal predictor, fit, std_error,
    lower, upper, on the equations' linear-predictor scale.
    """
    from scipy import stats

    z = stats.norm.ppf(1 - inference.alpha / 2)
    names = list(inference.param_names)
    cov = np.asarray(inference.cov)
    grid = np.linspace(float(X[focal].min()), float(X[focal].max()), n_points)
    frames = []
    for (outcome, predictors), family in zip(model.equations_, model.family_.families):
        if focal not in predictors:
            continue
        values = [grid if p == focal else np.full(n_points, float(X[p].mean())) for p in predictors]
        design = np.column_stack(([np.ones(n_points)] if family.has_intercept else []) + values)
        terms = (["(Intercept)"] if family.has_intercept else []) + list(predictors)
        for j in range(model.n_segments_):
            index = [names.index(f"{j + 1}:{outcome}~{t}") for t in terms]
            beta = np.array([model.coef_[j, model.coef_terms_.index(f"{outcome}~{t}")] for t in terms])
            fit = design @ beta
            se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", design, cov[np.ix_(index, index)], design), 0.0))
            frames.append(pd.DataFrame({"segment": j + 1, "line": "equation", "equation": outcome, focal: grid,
                                        "fit": fit, "std_error": se, "lower": fit - z * se, "upper": fit + z * se}))
    means = {v: float(X[v].mean()) for v in X.columns}
    for j in range(model.n_segments_):
        values = {**{v: np.full(n_points, m) for v, m in means.items()}, focal: grid}
        for (outcome, predictors), family in zip(model.equations_, model.family_.families):
            fit = np.full(n_points, model.coef_[j, model.coef_terms_.index(f"{outcome}~(Intercept)")]
                          if family.has_intercept else 0.0)
            for p in predictors:
                fit = fit + model.coef_[j, model.coef_terms_.index(f"{outcome}~{p}")] * values[p]
            values[outcome] = fit
        final = model.equations_[-1][0]
        frames.append(pd.DataFrame({"segment": j + 1, "line": "total", "equation": final, focal: grid,
                                    "fit": values[final], "std_error": np.nan, "lower": np.nan, "upper": np.nan}))
    return pd.concat(frames, ignore_index=True)


def _problem_lines(name: str, table: pd.DataFrame, problems: pd.DataFrame, spread: pd.DataFrame,
                   focal: str) -> list[tuple[str, str]]:
    """Log a warning for each problem and residual-spread failure; return them as summary lines."""
    from trustseg.model.diagnostics import problems_phrase

    names = table.groupby("segment")["name"].first().to_dict()
    lines = []
    if problems["singular_information"].any():
        logger.warning(
            "analysis %s: the observed information is not positive definite (the solution is not a strict local "
            "maximum); standard errors use a pseudo-inverse (NaN where none can be computed) and cannot be "
            "trusted, so every segment's %s verdict is '%s' (segments.csv, column problems)", name, focal, UNRELIABLE)
        lines.append(("Observed information", "SINGULAR: standard errors cannot be trusted; every verdict is "
                      f"'{UNRELIABLE}'"))
    for _, row in problems.loc[problems["problems"] != ""].iterrows():
        segment = int(row["segment"])
        codes = ";".join(c for c in row["problems"].split(";") if c != "singular_information")
        if not codes:
            continue
        said = problems_phrase(codes, one_segment=True)
        logger.warning("analysis %s: segment %d (%s): %s; its %s verdict is '%s' (segments.csv, column problems)",
                       name, segment, names.get(segment, ""), said, focal, UNRELIABLE)
        lines.append((f"Segment {segment} problems", f"{codes}: {said}; verdict '{UNRELIABLE}'"))
    tested = spread.loc[spread["spread_varies"]]
    for segment, rows in tested.groupby("segment", sort=True):
        where = ", ".join(f"{r.predictor} (p = {r.p_value:.3g}, {'grows' if r.variance_slope > 0 else 'shrinks'})"
                          if np.isfinite(r.variance_slope) else f"{r.predictor} (p = {r.p_value:.3g})"
                          for r in rows.itertuples())
        logger.warning(
            "analysis %s: segment %d (%s): the residual spread changes with %s, but the model assumes it constant; "
            "its slope interval and verdict may be too confident (residual_spread.csv); fit the spread too with "
            "analyses.%s.spread: linear", name, segment, names.get(int(segment), ""), where, name)
        lines.append((f"Segment {segment} residual spread", f"changes with {where}"))
    return lines


def fitted_lines(inference, X: pd.DataFrame, focal: str, n_points: int = 60) -> pd.DataFrame:
    """Each segment's fitted line over the observed range of the focal predictor, with its band.

    Other predictors are held at their (unweighted) mean.  Columns: segment,
    the predictors, fit, std_error, lower, upper (the analysis's 1 - alpha band).
    For a family other than gaussian ``fit``, ``lower`` and ``upper`` are the
    expected outcome on its own scale (the band of the linear predictor
    carried through the inverse link); the linear predictor is in ``eta``,
    ``eta_std_error``, ``eta_lower`` and ``eta_upper``.  With trials
    (binomial) the expected outcome is the probability of success in one
    trial; with an exposure (poisson), the expected count per unit of it.
    """
    grid = pd.DataFrame({p: np.full(n_points, X[p].mean()) for p in X.columns})
    grid[focal] = np.linspace(float(X[focal].min()), float(X[focal].max()), n_points)
    lines = inference.get_prediction(grid)
    if "mean" in lines:
        # a family with a link: the lines are drawn on the outcome's scale, the linear predictor kept beside
        lines = lines.rename(columns={"fit": "eta", "lower": "eta_lower", "upper": "eta_upper", "std_error":
                                      "eta_std_error"})
        lines = lines.rename(columns={"mean": "fit", "mean_lower": "lower", "mean_upper": "upper"})
    return lines


def covariance_frame(inference) -> pd.DataFrame:
    """The full parameter covariance as a labelled square table."""
    names = list(inference.param_names)
    frame = pd.DataFrame(np.asarray(inference.cov), columns=names)
    frame.insert(0, "parameter", names)
    return frame


def record_settings(criteria_path: str, name: str, output: str, *, outcome: str, predictors: Sequence[str],
                    focal: str, alpha: float, criterion: str, equivalence_margin: float, cov_type: str, method: str,
                    membership_ci_level: float, higher_is: str = "better",
                    verdict_adjustment: str = "none", equations: Sequence | None = None,
                    family: Mapping | Sequence | None = None, expected: Mapping[str, str] | None = None,
                    data_path: str | None = None, seed: int | None = None, config_sha256: str | None = None) -> None:
    """Write the settings of one analysis and its chosen K to ``analysis.json``, the one place readers find them.

    The notebooks and :mod:`trustseg.report.results` read the outcome, focal
    predictor, confidence levels, criterion and margin here instead of
    recovering them from the tables.  ``provenance`` says what computed the
    run (:func:`trustseg.stages.provenance.run_provenance`).
    """
    chosen = chosen_row(criteria_path)
    families = [f["name"] for f in ([family] if isinstance(family, Mapping) else list(family or []))]
    write_json({
        "analysis": name,
        "outcome": outcome,
        "predictors": list(predictors),
        "focal": focal,
        "method": method,
        "criterion": criterion,
        "k": int(chosen["k"]),
        "k_requested": int(chosen["k_requested"]),
        "cov_type": cov_type,
        "alpha": alpha,
        "ci_level": 1 - alpha,
        "equivalence_margin": equivalence_margin,
        "membership_ci_level": membership_ci_level,
        "higher_is": higher_is,
        "verdict_adjustment": verdict_adjustment,
        # a chain's equations in order ([] for one outcome)
        "equations": [{"outcome": o, "predictors": list(p)} for o, p in equations or []],
        # the outcome family of each equation (one for a single outcome): the unit of every coefficient
        "family": families or ["gaussian"],
        "expected": dict(expected or {}),
        "provenance": run_provenance(seed=seed, config_sha256=config_sha256, data_path=data_path),
    }, output)


def chain_effects(clean_path: str, name: str, fit_path: str, segments_path: str, output: str, *,
                  equations: Sequence, cov_type: str, alpha: float, equivalence_margin: float,
                  weight_column: str | None, verdict_adjustment: str = "none",
                  replicates_path: str | None = None, measurement_error: str = "ignore",
                  reliability_path: str | None = None) -> None:
    """``effects.csv`` of a chain: every path, and the focal predictor's direct, indirect and total effects.

    Delta-method standard errors and intervals from the full covariance, the
    verdicts, and, when the bootstrap ran (``replicates_path``), percentile
    intervals of the same effects over the bootstrap refits (a product of
    paths is skewed: the percentile interval is the one to read for an
    indirect effect near zero).
    """
    from trustseg.model.effects import bootstrap_effect_intervals

    X, w, _, model, inference = _chain_inference(clean_path, name, fit_path, equations, weight_column, cov_type,
                                                 alpha, equivalence_margin, verdict_adjustment)
    effects = model.effects(inference)
    names = pd.read_csv(segments_path).groupby("segment")["name"].first()
    effects.insert(1, "name", effects["segment"].map(names))
    replicates = pd.read_csv(replicates_path) if replicates_path else None
    if replicates is not None:
        boot = bootstrap_effect_intervals(replicates, model.equations_, model.focal_name_, alpha)
        effects = effects.merge(boot, on=["segment", "kind", "path"], how="left")
    else:
        effects = effects.assign(boot_ci_low=np.nan, boot_ci_high=np.nan, boot_replicates=0)
    verdict = effects.pop("verdict")
    effects["verdict"] = verdict  # the verdict last, after the numbers it rests on
    if measurement_error == "correct" and reliability_path:
        latent = corrected_model(model, X, model.predict_proba(X, None), inference, w, reliability_path,
                                 chain_predictors(equations), name)
        effects = with_latent_effects(effects, model, latent, alpha, equivalence_margin, verdict_adjustment)
        if replicates is not None and "latent_estimate" in replicates:
            effects = effects.merge(latent_bootstrap_effects(replicates, model, alpha), how="left",
                                    on=["segment", "kind", "path"])
    write_table(
        effects, stem(output),
        caption=(
            f"Effects of {model.focal_name_} on {equations[-1][0]} in each segment of analysis {name}: every path's "
            "coefficient, the direct effect, the indirect effect through each chain of mediators (the product of "
            "its paths) and the total effect, on the linear-predictor scale. Standard errors by the delta method "
            f"from the full mixture covariance, {100 * (1 - alpha):.0f}% intervals (ci_low, ci_high); "
            + ("bootstrap percentile intervals (boot_ci_low, boot_ci_high) over the refits, which a skewed product "
               "of paths needs; " if replicates_path else "no bootstrap intervals (bootstrap.replicates is 0); ")
            + f"verdicts with equivalence margin ±{equivalence_margin}." + latent_caption(effects)
        ),
    )
    logger.info("analysis %s: effects of %s: %s", name, model.focal_name_, "; ".join(
        f"segment {r.segment} {r.kind} {r.estimate:.3f} ({r.verdict})" for r in effects.itertuples()
        if r.kind in ("indirect", "total")))
