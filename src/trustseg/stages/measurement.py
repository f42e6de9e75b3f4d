"""The constructs' slopes beside the scores' (issue 27): the latent_* columns of segments.csv and effects.csv.

Joins the reliability of each construct (``results/cleaning/reliability.csv``,
:mod:`trustseg.survey.reliability`) to the correction of a fitted model's
coefficients (:mod:`trustseg.model.measurement`): each construct's error
variance is ``(1 - alpha) var(score)`` over the analysis's respondents, with
its sampling variance; the corrected coefficients get intervals and
verdicts as the observed ones do (:func:`trustseg.model.inference.verdict_columns`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from trustseg.model.measurement import (
    LOW_RELIABILITY,
    error_variance,
    error_variance_sampling_variance,
    latent_coefficients,
)

logger = logging.getLogger("trustseg")

LATENT_COLUMNS = ["latent_estimate", "latent_std_error", "latent_ci_low", "latent_ci_high", "latent_verdict"]
#: what measurement_error takes
MEASUREMENT_ERROR = ("correct", "ignore")


def construct_error_variances(reliability_path: str, data: pd.DataFrame, predictors: Sequence[str],
                              name: str) -> tuple[dict, dict]:
    """Each predictor that is a construct of several items: its error variance and that variance's variance.

    A predictor that is not a construct is taken as measured without error;
    a construct with one item (or an alpha that cannot be estimated or is not
    positive) keeps its observed slopes; an alpha or omega below 0.7 is
    warned about.  Warnings go to the log, naming the analysis.
    """
    table = pd.read_csv(reliability_path)
    constructs = table.loc[table["level"] == "construct"].set_index("construct")
    variances, variances_of_variances = {}, {}
    for predictor in dict.fromkeys(predictors):
        if predictor not in constructs.index:
            continue
        row = constructs.loc[predictor]
        alpha, n_items = float(row["alpha"]), int(row["n_items"])
        if n_items < 2 or not np.isfinite(alpha) or alpha <= 0:
            why = "one item" if n_items < 2 else f"an alpha of {alpha:.3f}" if np.isfinite(alpha) else "no alpha"
            logger.warning("analysis %s: construct %s has %s, so no reliability to correct its slopes by: they "
                           "stay the observed ones (latent_* columns)", name, predictor, why)
            continue
        omega = float(row.get("omega", np.nan))
        if alpha < LOW_RELIABILITY or (np.isfinite(omega) and omega < LOW_RELIABILITY):
            logger.warning("analysis %s: construct %s has a low reliability (alpha %.2f, omega %.2f < %.1f): its "
                           "slopes corrected for measurement error are unstable, read their intervals", name,
                           predictor, alpha, omega, LOW_RELIABILITY)
        spread = float(pd.to_numeric(data[predictor], errors="coerce").var(ddof=1))
        variances[predictor] = error_variance(alpha, spread)
        variances_of_variances[predictor] = error_variance_sampling_variance(variances[predictor], n_items,
                                                                             int(row["n"]))
    return variances, variances_of_variances


def corrected_model(model, X: pd.DataFrame, posteriors: np.ndarray, inference, w, reliability_path: str,
                    predictors: Sequence[str], name: str):
    """The model's coefficients corrected for measurement error (None, with a warning, where they cannot be)."""
    variances, uncertainty = construct_error_variances(reliability_path, X, predictors, name)
    if not all(getattr(f, "normal", False) for f in getattr(model.family_, "families", [model.family_])):
        if variances:  # predictors measured with error whose slopes stay attenuated: say so
            logger.warning("analysis %s: slopes are corrected for the measurement error of %s only with a normal "
                           "family (gaussian or censored); the latent_* columns are empty", name,
                           ", ".join(variances))
        return None
    latent = latent_coefficients(model, X, posteriors, inference.cov, variances, uncertainty, w)
    for note in latent.notes:
        logger.warning("analysis %s: %s", name, note)
    refused = latent.segment_reliability.loc[~latent.segment_reliability["corrected"].astype(bool)]
    for segment, rows in refused.groupby("segment"):
        shares = ", ".join(f"{r.predictor} {r.within_reliability:.2f}" for r in rows.itertuples())
        logger.warning("analysis %s: segment %d: the construct scores vary too little within the segment for their "
                       "measurement error (reliability within the segment: %s): its slopes are not corrected "
                       "(latent_* columns empty)", name, int(segment), shares)
    return latent


def latent_verdicts(frame: pd.DataFrame, group: str, alpha: float, equivalence_margin: float,
                    verdict_adjustment: str) -> pd.DataFrame:
    """``frame`` (latent_estimate, latent_std_error) with intervals and verdicts, per ``group`` over segments."""
    from trustseg.model.inference import verdict_columns

    parts = []
    for _, part in frame.groupby(group, sort=False):
        tests = verdict_columns(part["latent_estimate"], part["latent_std_error"], alpha, equivalence_margin,
                                verdict_adjustment)
        parts.append(part.assign(latent_ci_low=tests["ci_low"].to_numpy(), latent_ci_high=tests["ci_high"].to_numpy(),
                                 latent_verdict=tests["verdict"].to_numpy()))
    out = pd.concat(parts).sort_index()
    out.loc[~np.isfinite(out["latent_estimate"]), "latent_verdict"] = ""
    return out


def with_latent_segments(table: pd.DataFrame, latent, alpha: float, equivalence_margin: float,
                         verdict_adjustment: str, chain: bool = False) -> pd.DataFrame:
    """segments.csv's table with the latent_* columns; the latent verdict where the observed one is given.

    A segment whose observed verdict is ``unreliable`` keeps that verdict.
    The ``verdict`` column then reads the slopes' basis (:func:`choose_slope_basis`).
    """
    frame = latent.frame() if latent is not None else pd.DataFrame(columns=["segment", "term", "latent_estimate",
                                                                             "latent_std_error", "corrected"])
    frame = latent_verdicts(frame, "term", alpha, equivalence_margin, verdict_adjustment) if len(frame) else \
        frame.assign(latent_ci_low=np.nan, latent_ci_high=np.nan, latent_verdict="")
    if chain:  # (no rows: a family that is not corrected; the split of nothing has no columns)
        split = frame["term"].str.split("~", n=1, expand=True) if len(frame) else pd.DataFrame({0: [], 1: []})
        frame = frame.assign(equation=split[0], term=split[1])
    keys = ["segment", "equation", "term"] if chain else ["segment", "term"]
    out = table.merge(frame[keys + LATENT_COLUMNS + ["corrected"]], on=keys, how="left")
    out["latent_verdict"] = out["latent_verdict"].fillna("")
    observed = out["verdict"].fillna("")
    out.loc[observed == "", "latent_verdict"] = ""
    out.loc[observed == "unreliable", "latent_verdict"] = "unreliable"
    return choose_slope_basis(out, out.pop("corrected").fillna(False).astype(bool))


#: the slopes a row's verdict, the names, sentences and figures read (column ``slope_basis``)
CORRECTED, OBSERVED = "corrected", "observed"


def choose_slope_basis(table: pd.DataFrame, corrected) -> pd.DataFrame:
    """The one place that decides which slopes the verdicts read: the constructs' where corrected, else the scores'.

    ``corrected`` (one flag per row) says whether the row's latent
    coefficient was corrected for measurement error (its segment could be,
    and its equation has a predictor measured with error).  Those rows'
    ``verdict`` becomes ``latent_verdict`` and ``slope_basis`` says
    ``corrected``; the others (a construct with one item, a refused
    segment) keep the scores' verdict, ``slope_basis`` ``observed``.  The
    scores' verdict stays beside it in ``observed_verdict``; the numbers of
    both stay in their own columns.
    """
    out = table.copy()
    corrected = np.asarray(corrected, dtype=bool) & np.isfinite(out["latent_estimate"].to_numpy(dtype=float))
    out["observed_verdict"] = out["verdict"]
    out.loc[corrected, "verdict"] = out.loc[corrected, "latent_verdict"]
    out["slope_basis"] = np.where(corrected, CORRECTED, OBSERVED)
    return out


def _effect_corrected(effects: pd.DataFrame, latent) -> np.ndarray:
    """Whether each effect of ``effects`` rests on a corrected path: a path by its equation, a product by any of
    its paths, a total effect by any path of its segment's direct and indirect effects."""
    from trustseg.equations import term_name
    from trustseg.model.effects import ARROW

    corrected = {(int(r.segment), r.term): bool(r.corrected) for r in latent.frame().itertuples()}

    def path_corrected(segment, path):
        names = path.split(ARROW)
        return any(corrected.get((segment, term_name(b, a)), False) for a, b in zip(names[:-1], names[1:]))

    flags = [path_corrected(int(r.segment), r.path) for r in effects.itertuples()]
    products = effects.assign(flag=flags).loc[effects["kind"].isin(["direct", "indirect"])]
    any_product = products.groupby("segment")["flag"].any()
    return np.array([bool(any_product.get(r.segment, False)) if r.kind == "total" else f
                     for r, f in zip(effects.itertuples(), flags)])


def with_latent_effects(effects: pd.DataFrame, model, latent, alpha: float, equivalence_margin: float,
                        verdict_adjustment: str) -> pd.DataFrame:
    """effects.csv's table with the latent_* columns: every path and effect from the corrected coefficients."""
    from trustseg.model.effects import chain_effects

    if latent is None:
        return choose_slope_basis(effects.assign(latent_estimate=np.nan, latent_std_error=np.nan,
                                                 latent_ci_low=np.nan, latent_ci_high=np.nan, latent_verdict=""),
                                  np.zeros(len(effects), dtype=bool))
    corrected = chain_effects(model.equations_, model.focal_name_, latent.terms, latent.param_names,
                              latent.estimate, latent.cov, alpha=alpha, equivalence_margin=equivalence_margin,
                              verdict_adjustment=verdict_adjustment)
    corrected = corrected.rename(columns={"estimate": "latent_estimate", "std_error": "latent_std_error",
                                          "ci_low": "latent_ci_low", "ci_high": "latent_ci_high",
                                          "verdict": "latent_verdict"})
    corrected.loc[~np.isfinite(corrected["latent_estimate"]), "latent_verdict"] = ""
    out = effects.merge(corrected[["segment", "kind", "path", *LATENT_COLUMNS]], on=["segment", "kind", "path"],
                        how="left")
    unreliable = out["verdict"] == "unreliable"
    out.loc[unreliable, "latent_verdict"] = "unreliable"
    return choose_slope_basis(out, _effect_corrected(out, latent))


def latent_bootstrap_effects(replicates: pd.DataFrame, model, alpha: float) -> pd.DataFrame:
    """Percentile intervals of every corrected path and effect over the bootstrap refits (each refit corrected
    with its own resample's reliabilities): ``segment, kind, path, latent_boot_ci_low, latent_boot_ci_high``."""
    from trustseg.model.effects import bootstrap_effect_intervals

    boot = bootstrap_effect_intervals(replicates.assign(estimate=replicates["latent_estimate"]), model.equations_,
                                      model.focal_name_, alpha)
    return boot.rename(columns={"boot_ci_low": "latent_boot_ci_low", "boot_ci_high": "latent_boot_ci_high",
                                "boot_replicates": "latent_boot_replicates"})


def latent_caption(table: pd.DataFrame) -> str:
    """The caption's sentence on the latent_* columns (empty when the table has none)."""
    if "latent_estimate" not in table:
        return ""
    return (" latent_estimate, latent_std_error, latent_ci_low, latent_ci_high and latent_verdict: the same "
            "coefficients for the constructs themselves, corrected for the measurement error of the scores (error "
            "variance (1 - alpha) var(score) from reliability.csv, equal in every segment; errors-in-variables on "
            "each segment's posterior-weighted moments), with intervals that carry the reliabilities' uncertainty; "
            "empty where a segment's scores vary too little for their error. slope_basis: which coefficients the "
            "verdict, the names, sentences and figures read: corrected (the latent ones) or observed (the scores', "
            "where no predictor of the equation is a construct of several items or the segment could not be "
            "corrected); observed_verdict: the scores' verdict."
            + (" latent_boot_ci_low, latent_boot_ci_high: bootstrap percentile intervals of the corrected "
               "coefficients, each refit corrected with the reliabilities of its own resample."
               if "latent_boot_ci_low" in table else ""))


def replicate_correction(reference, clean: pd.DataFrame, X: pd.DataFrame, y, w, ids, reliability_path: str,
                         predictors: Sequence[str]):
    """``latent(refit, rows)`` for :func:`trustseg.model.bootstrap.bootstrap_replicates`, or None.

    Each bootstrap refit is corrected with error variances recomputed on its
    own resample: Cronbach's alpha of the construct's items over the resampled
    respondents (the items of ``clean``, already reverse-keyed, on the rows of
    ``X``) and the resampled score's variance, so the percentile intervals
    carry the reliabilities' uncertainty and the classification's together.
    A construct whose items are not in ``clean`` keeps its full-sample alpha.
    None when the model's family cannot be corrected or no predictor is a
    construct of several items (nothing to correct).
    """
    from trustseg.model.measurement import latent_coefficients
    from trustseg.survey.reliability import cronbach_alpha

    families = getattr(reference.family_, "families", [reference.family_])
    if not all(getattr(f, "normal", False) for f in families):
        return None
    table = pd.read_csv(reliability_path)
    constructs = table.loc[table["level"] == "construct"].set_index("construct")
    usable = [p for p in dict.fromkeys(predictors) if p in constructs.index and int(constructs.loc[p, "n_items"]) >= 2
              and np.isfinite(float(constructs.loc[p, "alpha"])) and float(constructs.loc[p, "alpha"]) > 0]
    if not usable:
        return None
    item_rows = table.loc[table["level"] == "item"]
    items = {p: [i for i in item_rows.loc[item_rows["construct"] == p, "item"] if i in clean.columns] for p in usable}
    answers = {p: clean.loc[X.index, cols].apply(pd.to_numeric, errors="coerce").reset_index(drop=True)
               for p, cols in items.items() if len(cols) >= 2}
    frame = X.reset_index(drop=True)
    outcome = None if y is None else np.asarray(y, dtype=float)
    weights = np.ones(len(frame)) if w is None else np.asarray(w, dtype=float)

    def latent(refit, rows):
        resample = frame.iloc[rows].reset_index(drop=True)
        variances = {}
        for p in usable:
            # complete item rows, as reliability.csv's alpha (a column's variance over its own answers would not do)
            alpha = cronbach_alpha(answers[p].iloc[rows].dropna()) if p in answers else np.nan
            alpha = alpha if np.isfinite(alpha) and alpha > 0 else float(constructs.loc[p, "alpha"])
            variances[p] = error_variance(alpha, float(resample[p].var(ddof=1)))
        taken = None if outcome is None else outcome[rows]
        try:
            posteriors = refit.predict_proba(resample if outcome is None else resample[list(refit.feature_names_in_)],
                                             taken)
            zeros = np.zeros((len(refit.param_names_), len(refit.param_names_)))
            return latent_coefficients(refit, resample, posteriors, zeros, variances,
                                       sample_weight=weights[rows]).estimate
        except (ValueError, np.linalg.LinAlgError):
            return np.full((refit.n_segments_, len(refit.coef_terms_)), np.nan)

    return latent
