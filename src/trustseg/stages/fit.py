"""Stage 2 (workflow/rules/fit.smk): fit every candidate K and choose K."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from trustseg.direction import expected_sign
from trustseg.errors import DataError
from trustseg.model.families import family_class, variance_floor
from trustseg.model.mixture import ClusterwiseRegression
from trustseg.model.persistence import model_to_dict
from trustseg.stages.common import (
    analysis_data,
    derive_seed,
    read_clean,
    read_json,
    write_csv,
    write_json,
)
from trustseg.stages.fits import load_model

logger = logging.getLogger("trustseg")


def outcome_variance_floor(y: Sequence[float], sample_weight=None, rounding_variance: float | None = None) -> float:
    """Residual-variance floor for a rating-scale outcome, in squared outcome units.

    The model's one floor (:func:`trustseg.model.families.variance_floor`):
    the larger of the rounding variance of the score (``1 / (12 m)`` for a
    mean of ``m`` integer items, see
    :func:`trustseg.stages.common.outcome_rounding_variance`; without it
    ``h**2 / 12`` for the smallest gap ``h`` between distinct outcome values)
    and ``1e-3`` times the weighted variance of the outcome.  Without it EM
    builds spikes on single scale points: a "segment" of everyone who
    answered 2 to every repurchase item, with a near-zero variance and a
    huge, meaningless likelihood that BIC then rewards.
    """
    return variance_floor(y, sample_weight, rounding_variance)


def focal_direction(higher_is: str, expected: Mapping | None = None, focal: str | None = None) -> int:
    """The expected sign of the focal effect: config key ``expected`` for it, else 1 (higher_is better), -1 (worse)."""
    return expected_sign(focal, higher_is, expected)


def _estimator(k: int, y, w, *, n_init: int, method: str, min_share: float, focal: str, seed: int, name: str,
               rounding_variance: float | None = None, higher_is: str = "better", family: Mapping | None = None,
               spread: str = "constant", equations: Sequence | None = None, X: pd.DataFrame | None = None,
               expected: Mapping | None = None):
    if equations:
        return _chain_estimator(k, X, w, equations, n_init=n_init, min_share=min_share, focal=focal, seed=seed,
                                name=name, rounding_variance=rounding_variance, higher_is=higher_is, family=family,
                                expected=expected)
    family = dict(family or {"name": "gaussian", "options": {}})
    return ClusterwiseRegression(
        n_segments=int(k),
        n_init=int(n_init),
        method=method,
        family=family["name"],
        family_options=dict(family["options"]) or None,
        spread=spread,
        min_share=float(min_share),
        variance_floor=outcome_variance_floor(y, w, rounding_variance),
        focal=focal,
        # segment 1 is the one most strongly driven in the expected direction (down when higher is worse)
        focal_direction=focal_direction(higher_is, expected, focal),
        random_state=derive_seed(seed, name, "fit", int(k)),
    )


def _chain_estimator(k, X, w, equations, *, n_init, min_share, focal, seed, name, rounding_variance, higher_is,
                     family, expected=None):
    """The chain of an analysis's equations: per equation its family and its residual-variance floor."""
    from trustseg.model.chain import ChainRegression

    families = list(family) if family else [{"name": "gaussian", "options": {}}] * len(equations)
    floors = [
        outcome_variance_floor(X[outcome], w, variance) if family_class(f["name"]).normal else None
        for (outcome, _), f, variance in zip(equations, families, rounding_variance or [None] * len(equations))
    ]
    return ChainRegression(
        equations=[(o, list(p)) for o, p in equations],
        n_segments=int(k),
        n_init=int(n_init),
        family=[f["name"] for f in families],
        family_options=[dict(f["options"]) for f in families],
        min_share=float(min_share),
        variance_floor=floors,
        focal=focal,
        focal_direction=focal_direction(higher_is, expected, focal),
        random_state=derive_seed(seed, name, "fit", int(k)),
    )


def _check_enough_respondents(n: int, k: int, n_predictors: int, name: str, clean_path: str) -> None:
    """A DataError unless ``n`` respondents are at least twice the parameters of ``k`` segments.

    The message tells apart what can be done about it: one respondent means
    the cleaning (or the file) left almost nobody, so the cleaning report is
    the place to look; too few for one segment means the data, not the
    candidate K, are the problem; only for K > 1 does dropping K help.
    """
    n_params = k * (n_predictors + 2) - 1
    if n >= 2 * n_params:
        return
    report = Path(clean_path).with_name("report.csv")
    if n == 1:
        raise DataError(
            f"analysis '{name}': only one respondent has complete scores in {clean_path}, and a regression needs "
            f"at least {2 * (n_predictors + 1)}. See {report} for how many rows the file had and which cleaning "
            "rule removed the others (e.g. repeated ids in data.id_column, or flagged_action: drop)."
        )
    if k == 1:
        raise DataError(
            f"analysis '{name}': only {n} respondents have complete scores in {clean_path}, too few for even one "
            f"segment ({n_params} parameters need at least {2 * n_params} respondents). See {report} for the rows "
            "the cleaning rules removed, or collect more data."
        )
    raise DataError(
        f"analysis '{name}': {k} segments need {n_params} parameters, but only {n} respondents have complete "
        f"scores (at least {2 * n_params} are needed). Remove {k} from config key 'analyses.{name}.segments' "
        "or collect more data."
    )


def fit_k(clean_path: str, name: str, k: int, output: str, *, outcome: str, predictors: Sequence[str], focal: str,
          method: str, n_init: int, min_share: float, seed: int, weight_column: str | None,
          rounding_variance: float | None = None, higher_is: str = "better", family: Mapping | None = None,
          spread: str = "constant", family_columns: Mapping[str, str] | None = None,
          equations: Sequence | None = None, expected: Mapping | None = None) -> None:
    """Fit the K-segment clusterwise regression of one analysis (one job per K).

    Takes only the settings that change the fit, so the workflow refits no K
    when alpha, the criterion, the equivalence margin or the candidate Ks change.
    ``higher_is`` (``better`` or ``worse``) and ``expected`` (the expected
    direction of each predictor, :mod:`trustseg.direction`) change only the
    segment order: segment 1 is the most strongly driven in the focal
    predictor's expected direction.
    ``family`` (``{"name": ..., "options": ...}`` from
    :func:`trustseg.stages.families.analysis_family`) and ``spread``
    (``constant`` or ``linear``) choose the model of the outcome;
    ``family_columns`` names its trials or exposure column.  ``equations``
    (``(outcome, predictors)`` pairs) makes it a chain of regressions sharing
    the segments (:class:`~trustseg.model.chain.ChainRegression`), with
    ``family`` and ``rounding_variance`` one per equation.
    """
    clean_df = read_clean(clean_path)
    X, y, w, _, side = analysis_data(clean_df, outcome, predictors, name, weight_column, family_columns, equations)
    # a chain's segments hold every equation's coefficients: as many parameters as predictors and intercepts
    n_predictors = sum(len(p) + 1 for _, p in equations) - 1 if equations else X.shape[1]
    _check_enough_respondents(len(X), int(k), n_predictors, name, clean_path)
    model = _estimator(k, y, w, n_init=n_init, method=method, min_share=min_share, focal=focal, seed=seed, name=name,
                       rounding_variance=rounding_variance, higher_is=higher_is, family=family, spread=spread,
                       equations=equations, X=X, expected=expected)
    started = time.perf_counter()
    try:
        model.fit(X, y, sample_weight=w, family_data=side)
    except DataError as exc:
        raise DataError(f"analysis '{name}', {k} segments: {exc}") from None
    logger.info(
        "analysis %s, K=%d: log-likelihood %.4f, %d of %d starts reached it, %d segments kept, %.2f s",
        name, k, model.loglik_, model.n_best_starts_, len(model.start_logliks_), model.n_segments_,
        time.perf_counter() - started,
    )
    for kind, loglik, reason, problems in zip(model.start_kinds_, model.start_logliks_, model.start_stop_reasons_,
                                              model.start_problems_):
        logger.info("analysis %s, K=%d: %s start: log-likelihood %.4f (%s)%s", name, k, kind, loglik, reason,
                    f"; spurious segments {problems}" if problems else "")
    if not model.converged_:
        logger.warning("analysis %s, K=%d: the best start did not converge within %d iterations; its estimates "
                       "are not a maximum (see model_selection.csv, column converged)", name, k, model.max_iter)
    if not model.optimum_replicated_:
        logger.warning("analysis %s, K=%d: the best solution was not reached from both independent seed streams "
                       "of random starts; another seed may give another solution (raise n_init)", name, k)
    _log_removed_segments(name, k, model)
    write_json({"analysis": name, "k_requested": int(k), "n": int(len(X)), "model": model_to_dict(model)}, output)


def _log_removed_segments(name, k, model):
    """Segments EM dropped on the way (a detail of the search, in the log) and, as a warning, only those the
    returned solution lost: it has fewer segments than asked for."""
    for removed in model.removed_segments_:
        logger.info("analysis %s, K=%d: start %d removed a segment at iteration %d (%s)", name, k,
                    removed["start"] + 1, removed["iteration"], removed["reason"])
    if model.n_segments_ < k:
        logger.warning("analysis %s, K=%d: every start lost segments (share below min_share, or too few "
                       "respondents); the solution has %d segments", name, k, model.n_segments_)


def select_k(clean_path: str, name: str, fits: Sequence[str], criteria_out: str, starts_out: str, *, outcome: str,
             predictors: Sequence[str], criterion: str, weight_column: str | None,
             allow_flagged: bool = False, alpha: float | None = None,
             lr_paths: Sequence[str] = (), family_columns: Mapping[str, str] | None = None,
             equations: Sequence | None = None, set_aside: bool = False, set_aside_fit_out: str | None = None,
             set_aside_table_out: str | None = None) -> None:
    """Tabulate information criteria and problems over K, choose K, and list every start's log-likelihood.

    ``criterion="lr_test"`` chooses K by the bootstrap LR tests in
    ``lr_paths`` (one per K with a K + 1 fit) at level ``alpha``; the other
    criteria need neither.  A K with problems is not chosen unless
    ``allow_flagged`` (see :func:`trustseg.model.selection.choose_k`).
    ``set_aside`` also offers each K beside a set-aside group at the answers
    the spurious segments sat on (:func:`choose_set_aside`); the chosen
    set-aside fit, or none, goes to ``set_aside_fit_out`` and every such fit's
    criteria to ``set_aside_table_out``.
    """
    from trustseg.model.diagnostics import problems_phrase
    from trustseg.model.selection import criteria_table

    clean_df = read_clean(clean_path)
    X, y, w, _, side = analysis_data(clean_df, outcome, predictors, name, weight_column, family_columns, equations)
    fitted = {read_json(f)["k_requested"]: load_model(f) for f in fits}
    ks = sorted(fitted)
    lr_p_values, floors = {}, []
    for path in lr_paths:
        result = read_json(path)
        lr_p_values[int(result["k_requested"])] = result["p_value"]
        floors.append(result["p_value_min"])
    if criterion == "lr_test":
        if alpha is None:
            raise ValueError("criterion 'lr_test' needs alpha")
        if floors and max(floors) >= alpha:
            logger.warning("analysis %s: with %d bootstrap replicates no LR test p-value can fall below alpha = %g, "
                           "so the tests can never reject fewer segments; raise bootstrap.lr_test_replicates",
                           name, round(1 / max(floors)) - 1, alpha)
    table = criteria_table([fitted[k] for k in ks], X, y, sample_weight=w, criterion=criterion,
                           allow_flagged=allow_flagged, lr_p_values=lr_p_values,
                           alpha=0.05 if alpha is None else alpha, family_data=side)
    table.insert(0, "k_requested", ks)
    table = choose_set_aside(table, fitted, X, y, w, name=name, criterion=criterion, allow_flagged=allow_flagged,
                             offered=set_aside and not equations and not side, fit_out=set_aside_fit_out,
                             table_out=set_aside_table_out)
    write_csv(table, criteria_out)
    for _, row in table.loc[table["problems"] != ""].iterrows():
        logger.warning("analysis %s, K=%d: %s (model_selection.csv, column problems: %s)", name, row["k_requested"],
                       problems_phrase(row["problems"], int(row["k_fitted"])), row["problems"])
    chosen = table.loc[table["chosen"].astype(bool)]
    logger.info("analysis %s: %s chooses K=%s", name, "the sequential LR test" if criterion == "lr_test"
                else criterion.upper(), chosen["k"].tolist())
    # a note about problems is a warning; the steps of the sequential LR test alone are not
    level = logging.WARNING if (table["problems"] != "").any() else logging.INFO
    for note in chosen["choice_note"]:
        if note:
            logger.log(level, "analysis %s: %s", name, note)

    rows = []
    for k in ks:
        model = fitted[k]
        for start in range(len(model.start_logliks_)):
            rows.append({
                "k": k, "start": start + 1, "kind": model.start_kinds_[start],
                "loglik": float(model.start_logliks_[start]),
                "reached_best": bool(model.start_reached_best_[start]),
                "stop_reason": model.start_stop_reasons_[start],
                "admissible": bool(model.start_admissible_[start]),
                "spurious_segments": model.start_problems_[start],
            })
    write_csv(pd.DataFrame(rows), starts_out)


def choose_set_aside(table: pd.DataFrame, fitted: Mapping, X, y, w, *, name: str, criterion: str,
                     allow_flagged: bool, offered: bool, fit_out: str | None, table_out: str | None) -> pd.DataFrame:
    """``table`` with the choice among its K and the same K beside a set-aside group; writes the group's fit.

    The group sits at the answers the spurious segments sat on
    (:mod:`trustseg.model.set_aside`), offered only for a single equation
    without trials or exposure, and only to an information criterion (the
    LR tests compare plain segmentations).  ``fit_out`` gets the chosen
    set-aside fit, or ``{"model": null}``; ``table_out`` a criteria row per
    set-aside fit (none when nothing was offered).
    """
    from trustseg.model.selection import answers_text, choose_with_set_aside, set_aside_table
    from trustseg.model.set_aside import fit_set_aside

    fits = {}
    if offered and criterion != "lr_test":
        fits = fit_set_aside(fitted, X, y, w)
    elif offered:
        logger.info("analysis %s: no set-aside group is offered, since the LR tests choose K", name)
    rows = set_aside_table(fits, X, y, w) if fits else pd.DataFrame(columns=["k", "set_aside_answers"])
    table, rows = choose_with_set_aside(table, rows, criterion, allow_flagged=allow_flagged)
    for _, row in rows.iterrows():
        logger.info("analysis %s, K=%d beside a set-aside group at %s: %s %.2f", name, row["k"],
                    row["set_aside_answers"], criterion.upper(), row[criterion])
    chosen = rows.loc[rows["chosen"].astype(bool)] if len(rows) else rows
    record = None
    if len(chosen):
        winner = chosen.iloc[0]
        record = model_to_dict(fits[(int(winner["k"]), tuple(winner["set_aside_answers"]))])
        logger.warning("analysis %s: %s", name, winner["choice_note"])
    if table_out:
        write_csv(rows.assign(set_aside_answers=rows["set_aside_answers"].map(answers_text)), table_out)
    if fit_out:
        write_json({"analysis": name, "model": record}, fit_out)
    return table
