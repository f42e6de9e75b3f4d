"""Which profile predicts which segment: the membership model with the BCH three-step correction.

:func:`membership_model` estimates a multinomial logit of segment
membership on the profile variables with the BCH three-step correction
(Bolck, Croon & Hagenaars 2004; Vermunt 2010), so that classification error
does not attenuate the coefficients as it does when the modal assignment is
treated as known.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import linalg, stats

from trustseg.model.classification import check_posteriors
from trustseg.model.levels import MAX_LEVELS, check_variables, is_categorical, level_text, variable_levels
from trustseg.model.validation import INTERCEPT

__all__ = ["membership_model", "bch_weights", "classification_error_matrix", "MEMBERSHIP_COLUMNS"]

logger = logging.getLogger("trustseg")

MEMBERSHIP_COLUMNS = [
    "segment", "term", "estimate", "std_error", "z", "p_value", "odds_ratio",
    "ci_low", "ci_high", "or_ci_low", "or_ci_high", "note",
]


def classification_error_matrix(posteriors: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """D[t, s] = P(modal segment s | true segment t), estimated from posteriors.

    ``D[t, s] = sum_i w_i p_it [m_i = s] / sum_i w_i p_it`` (Vermunt 2010,
    eq. 6), rows true segments, columns modal assignments; rows sum to 1.
    """
    p, w = check_posteriors(posteriors, weights)
    k = p.shape[1]
    modal = p.argmax(axis=1)
    onehot = np.eye(k)[modal]
    joint = (w[:, None] * p).T @ onehot
    tot = joint.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, joint / tot, 0.0)


def bch_weights(posteriors: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """BCH weights: respondent i gets weight ``inv(D)[m_i, t]`` for segment t.

    Returns
    -------
    (W, D, note)
        ``W`` of shape (n, K) (rows sum to 1; entries can be negative), the
        classification-error matrix ``D`` and a note ("" unless ``D`` is
        (near) singular and its pseudo-inverse was used).
    """
    p, w = check_posteriors(posteriors, weights)
    d = classification_error_matrix(p, w)
    note = ""
    cond = np.linalg.cond(d) if np.all(np.isfinite(d)) else np.inf
    if not np.isfinite(cond) or cond > 1e10:
        d_inv = np.linalg.pinv(d)
        note = "classification-error matrix is singular (a segment has no modal members); pseudo-inverse used"
    else:
        d_inv = np.linalg.inv(d)
    return d_inv[p.argmax(axis=1)], d, note


def _mnl_hessian(Z: np.ndarray, W: np.ndarray, w: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """Hessian of the weighted multinomial log-likelihood, blocks stacked by non-reference segment."""
    q, m = Z.shape[1], pi.shape[1] - 1
    total = W.sum(1) * w
    hess = np.empty((q * m, q * m))
    for a in range(m):
        for b in range(a, m):
            block = -(Z.T * (pi[:, a + 1] * ((a == b) - pi[:, b + 1]) * total)) @ Z
            hess[a * q:(a + 1) * q, b * q:(b + 1) * q] = block
            hess[b * q:(b + 1) * q, a * q:(a + 1) * q] = block.T
    return hess


def _fit_weighted_mnl(Z: np.ndarray, W: np.ndarray, w: np.ndarray, max_iter: int = 200, tol: float = 1e-10):
    """Maximise sum_i w_i sum_t W_it log softmax(eta_i)_t with eta_i1 = 0 by Newton.

    Because every row of W sums to 1 the objective is concave even when W has
    negative entries (it is W_i . eta_i - logsumexp(eta_i) per respondent).
    Returns (beta (q, K-1), cov_sandwich, converged, n_iter).
    """
    n, q = Z.shape
    k = W.shape[1]
    m = k - 1
    beta = np.zeros((q, m))
    # start: intercepts at the log share ratios of the weighted targets
    share = np.clip((w[:, None] * W).sum(0) / w.sum(), 1e-6, None)
    beta[0] = np.log(share[1:] / share[0])

    def objective(b):
        eta = np.column_stack([np.zeros(n), Z @ b])
        lse = np.logaddexp.reduce(eta, axis=1)
        return float(w @ ((W * eta).sum(1) - W.sum(1) * lse)), eta, lse

    obj, eta, lse = objective(beta)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        pi = np.exp(eta - lse[:, None])
        resid = W[:, 1:] - W.sum(1, keepdims=True) * pi[:, 1:]  # n x m
        grad = (Z.T @ (w[:, None] * resid)).ravel(order="F")  # stacked by segment
        hess = _mnl_hessian(Z, W, w, pi)
        try:
            step = linalg.solve(-hess, grad, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            step = linalg.lstsq(-hess, grad)[0]
        t = 1.0
        improved = False
        for _ in range(40):
            cand = beta + t * step.reshape((q, m), order="F")
            c_obj, c_eta, c_lse = objective(cand)
            if np.isfinite(c_obj) and c_obj >= obj - 1e-12 * abs(obj):
                improved = True
                break
            t /= 2
        if not improved:
            break
        change = c_obj - obj
        beta, obj, eta, lse = cand, c_obj, c_eta, c_lse
        if abs(change) <= tol * max(abs(obj), 1.0) and np.max(np.abs(t * step)) < 1e-6:
            converged = True
            break
    pi = np.exp(eta - lse[:, None])
    resid = W[:, 1:] - W.sum(1, keepdims=True) * pi[:, 1:]
    hess = _mnl_hessian(Z, W, w, pi)
    scores = np.concatenate([Z * (w * resid[:, a])[:, None] for a in range(m)], axis=1)  # n x qm
    meat = scores.T @ scores
    try:
        bread = linalg.inv(-hess)
    except linalg.LinAlgError:
        bread = linalg.pinv(-hess)
    cov = bread @ meat @ bread
    return beta, cov, converged, it


def membership_model(data: pd.DataFrame, posteriors, variables: list[str], *, weights=None,
                     correction: str = "bch", alpha: float = 0.05, max_levels: int = MAX_LEVELS,
                     max_iter: int = 200, level_orders: Mapping[str, Sequence] | None = None) -> pd.DataFrame:
    """Multinomial logit of segment membership on profile variables (BCH three-step).

    Parameters
    ----------
    data : DataFrame
        One row per respondent (same order as ``posteriors``).
    posteriors : array-like of shape (n, K)
        Posterior segment probabilities from the fitted mixture (step 1).
    variables : list of str
        Profile variables.  Categorical variables (:func:`is_categorical`) are
        dummy-coded with the most frequent level as reference (ties: the
        first in ``level_orders``), terms named ``"variable[level]"``;
        numeric variables enter linearly.
    weights : array-like of shape (n,), optional
        Survey weights.
    correction : {"bch", "none"}, default "bch"
        ``"bch"``: BCH three-step estimator, weights ``inv(D)[m_i, t]`` (can be
        negative) with ``m_i`` the modal segment, ``D[t, s] = P(modal s | true t)``.
        ``"none"``: naive three-step logit on the modal assignment (biased
        toward zero by classification error; for comparison only).
    alpha : float, default 0.05
        The intervals are ``1 - alpha`` confidence intervals.
    max_levels : int, default 5
        Numeric variables with at most this many distinct values are categorical.
    max_iter : int, default 200
        Newton iterations.
    level_orders : dict, optional
        ``{variable: [level, ...]}``: the order of a categorical variable's
        levels, as in :func:`profile_table`; terms are listed in it.

    Returns
    -------
    DataFrame
        One row per non-reference segment (2..K, each against segment 1) and
        term (``"(Intercept)"`` first), columns ``MEMBERSHIP_COLUMNS``.
        ``estimate`` and ``ci_low/ci_high`` are on the log-odds scale,
        ``odds_ratio`` and ``or_ci_*`` their exponentials.  Standard errors
        are the sandwich estimator clustered by respondent (the K expanded rows
        of a respondent form one cluster); like Vermunt (2010) they treat
        ``D`` as known.

        A skipped variable (single level or all missing) appears as one row
        per segment with NaN estimates and the reason in ``note``.  The
        intercept rows' ``note`` reports respondents dropped for missing
        profile values.  ``attrs`` holds ``n_used``, ``n_dropped``,
        ``skipped`` (variable -> reason), ``reference_levels`` (variable ->
        level), ``classification_error_matrix`` (list of lists),
        ``converged``, ``n_iter`` and ``notes``.  With K = 1 the frame is
        empty and ``attrs["notes"]`` says why.

    Raises
    ------
    DataError
        If a variable is not a column of ``data``.
    """
    if correction not in ("bch", "none"):
        raise ValueError("correction must be 'bch' or 'none'")
    check_variables(data, variables)
    p, w_all = check_posteriors(posteriors, weights)
    if p.shape[0] != len(data):
        raise ValueError(f"posteriors have {p.shape[0]} rows for {len(data)} respondents")
    if p.shape[1] == 1:
        return _empty_table(len(data), "one segment: no membership model")
    kept, kinds, skipped, complete = _usable_variables(data, variables, max_levels)
    Z, terms, reference_levels = _design_matrix(data.loc[complete, kept], kinds, level_orders or {})
    beta, cov, converged, n_iter, D, notes = _three_step_fit(Z, p[complete], w_all[complete], correction, max_iter)
    n_used = int(complete.sum())
    dropped = len(data) - n_used
    drop_notes = [f"{dropped} respondent{'s' if dropped > 1 else ''} with missing profile values dropped; "
                  f"{n_used} used"] if dropped else []
    out = _coefficient_table(beta, cov, terms, skipped, notes, "; ".join(drop_notes), alpha)
    out.attrs.update(n_used=n_used, n_dropped=dropped, skipped=skipped, reference_levels=reference_levels,
                     classification_error_matrix=D.tolist(), converged=bool(converged), n_iter=int(n_iter),
                     notes=notes + drop_notes + [f"{v} skipped: {r}" for v, r in skipped.items()])
    if skipped:
        logger.info("membership model: skipped %s", ", ".join(f"{v} ({r})" for v, r in skipped.items()))
    return out


def _empty_table(n, note):
    """The membership table of a model that has none (one segment), saying why."""
    out = pd.DataFrame(columns=MEMBERSHIP_COLUMNS)
    out.attrs.update(n_used=n, n_dropped=0, skipped={}, reference_levels={}, classification_error_matrix=[],
                     converged=False, n_iter=0, notes=[note])
    return out


def _three_step_fit(Z: np.ndarray, p: np.ndarray, w: np.ndarray, correction: str, max_iter: int):
    """Steps 2 and 3: the classification-error matrix and the weighted multinomial logit.

    Step 2 assigns respondents to their modal segment; the classification-error
    matrix ``D[t, s] = P(modal s | true t)`` is computed from the posteriors
    ``p``.  With ``correction="bch"`` step 3 expands the data to respondent x
    segment with weights ``inv(D)[m_i, t]`` (which can be negative); with
    ``"none"`` the modal assignment is taken as known.  Either way the weighted
    multinomial log-likelihood is maximised by Newton's method.

    Returns ``(beta, cov, converged, n_iter, D, notes)``.
    """
    notes = []
    if correction == "bch":
        W, D, d_note = bch_weights(p, w)
        if d_note:
            notes.append(d_note)
    else:
        W = np.eye(p.shape[1])[p.argmax(axis=1)]
        D = classification_error_matrix(p, w)
    if np.linalg.matrix_rank(Z) < Z.shape[1]:
        notes.append("design matrix is rank deficient (collinear profile variables); estimates not identified")
    beta, cov, converged, n_iter = _fit_weighted_mnl(Z, W, w, max_iter=max_iter)
    if not converged:
        notes.append("Newton iterations did not converge (possible separation); estimates unstable")
    return beta, cov, converged, n_iter, D, notes


def _usable_variables(data: pd.DataFrame, variables: list[str], max_levels: int):
    """The variables the membership model can use, their kind, the skipped ones and the complete rows.

    Returns ``(kept, kinds, skipped, complete)``: kept variables in order,
    ``{variable: is categorical}``, ``{variable: reason}`` and a boolean mask
    of the respondents with a value in every kept variable.
    """
    skipped: dict[str, str] = {}
    kinds: dict[str, bool] = {}
    for v in variables:
        x = data[v]
        if x.isna().all():
            skipped[v] = "all values missing"
        elif x.dropna().nunique() < 2:
            skipped[v] = "single level"
        else:
            kinds[v] = is_categorical(x, max_levels)
    kept = [v for v in variables if v not in skipped]
    complete = data[kept].notna().all(axis=1).to_numpy() if kept else np.ones(len(data), bool)
    # a variable may become single-level once incomplete rows are dropped
    for v in list(kept):
        if data.loc[complete, v].nunique() < 2:
            skipped[v] = "single level among complete rows"
            kept.remove(v)
    complete = data[kept].notna().all(axis=1).to_numpy() if kept else np.ones(len(data), bool)
    return kept, kinds, skipped, complete


def _design_matrix(sub: pd.DataFrame, kinds: dict[str, bool],
                   level_orders: Mapping[str, Sequence]) -> tuple[np.ndarray, list[str], dict]:
    """Intercept, dummies (most frequent level as reference) and numeric columns.

    Returns the matrix, its term names and the reference level of every
    categorical variable.
    """
    cols = [np.ones(len(sub))]
    terms = [INTERCEPT]
    reference_levels = {}
    for v in sub.columns:
        x = sub[v]
        if kinds[v]:
            levels = variable_levels(x, level_orders.get(v))
            counts = x.value_counts()
            ref = max(levels, key=lambda lv: (counts.get(lv, 0), -levels.index(lv)))
            reference_levels[v] = level_text(ref)
            for lv in levels:
                if lv == ref:
                    continue
                cols.append((x == lv).to_numpy(dtype=float))
                terms.append(f"{v}[{level_text(lv)}]")
        else:
            cols.append(x.astype(float).to_numpy())
            terms.append(v)
    return np.column_stack(cols), terms, reference_levels


#: A log-odds ratio beyond this (an odds ratio above 22,000), or a standard error
#: beyond it (an interval wider than +-20 log odds), is no estimate: the level
#: (nearly) separates the segments, and Newton's method walks off.
SEPARATION_LOGODDS = 10.0
SEPARATED_NOTE = ("not estimable: this level (nearly) separates the segments (too few of its respondents in one of "
                  "them), so its odds ratio runs off to 0 or infinity; see the profile table's shares instead")


def _separated(estimate: float, std_error: float) -> bool:
    """Whether a coefficient ran off (separation), rather than being estimated."""
    return (not (np.isfinite(estimate) and np.isfinite(std_error))
            or abs(estimate) > SEPARATION_LOGODDS or std_error > SEPARATION_LOGODDS)


def _coefficient_table(beta: np.ndarray, cov: np.ndarray, terms: list[str], skipped: dict, notes: list[str],
                       drop_note: str, alpha: float) -> pd.DataFrame:
    """One row per non-reference segment and term, then one per skipped variable."""
    q, m = beta.shape
    se = np.sqrt(np.clip(np.diag(cov), 0, None)).reshape((q, m), order="F")
    zcrit = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for a in range(m):
        for j, term in enumerate(terms):
            est, s = float(beta[j, a]), float(se[j, a])
            row_notes = list(notes)
            if _separated(est, s):
                est, s = np.nan, np.nan
                row_notes.append(SEPARATED_NOTE)
            z = est / s if s > 0 else np.nan
            if term == INTERCEPT and drop_note:
                row_notes.append(drop_note)
            rows.append(dict(segment=a + 2, term=term, estimate=est, std_error=s, z=z,
                             p_value=float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else np.nan,
                             odds_ratio=float(np.exp(est)), ci_low=est - zcrit * s, ci_high=est + zcrit * s,
                             or_ci_low=float(np.exp(est - zcrit * s)), or_ci_high=float(np.exp(est + zcrit * s)),
                             note="; ".join(row_notes)))
        for v, reason in skipped.items():
            rows.append(dict(segment=a + 2, term=v, estimate=np.nan, std_error=np.nan, z=np.nan, p_value=np.nan,
                             odds_ratio=np.nan, ci_low=np.nan, ci_high=np.nan, or_ci_low=np.nan,
                             or_ci_high=np.nan, note=f"skipped: {reason}"))
    out = pd.DataFrame(rows, columns=MEMBERSHIP_COLUMNS)
    out["segment"] = out["segment"].astype(int)
    return out
