"""The likelihood core of the Gaussian mixture of regressions.

One place for everything that touches the mixture likelihood; the estimator
(:mod:`trustseg.model.mixture`), inference, selection, classification and the
bootstrap all call it, so there is one E-step, one M-step, one degenerate
segment rule and one observed information.

* **Validation** (:func:`validate_data`, :func:`check_identifiable`) turns
  survey data into float arrays and refuses data no mixture can be fitted to,
  naming the rows and columns at fault.
* **E- and M-steps** work on centred data (:class:`Problem`): predictors and
  outcome centred at their weighted means keep the normal equations well
  conditioned for rating-scale data.  The E-step works in log space; the
  M-step forms the K weighted Gram matrices of ``[1, x, y]`` in one matrix
  product.  Nothing loops over respondents in Python.
* **Scores and Hessian** (:func:`observed_information`) of the full mixture
  likelihood, on the original scale, by Louis' identity.
* :class:`MixtureParams` holds a solution on the original scale; it is what
  the estimator stores, warm starts take and the inference differentiates.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import linalg
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp

from trustseg.errors import DataError

INTERCEPT = "(Intercept)"
LOG_2PI = math.log(2.0 * math.pi)
# Relative tolerance under which two starts count as reaching the same optimum.
SAME_OPTIMUM_RTOL = 1e-6
# Largest difference (in SDs, log sigma or shares) between the parameters of two
# starts that reached the same optimum; distinct local optima differ far more.
SAME_SOLUTION_ATOL = 1e-3
# Above this many bytes the precomputed column products are replaced by one
# weighted product per segment, so memory stays bounded for many predictors.
_MAX_PRODUCTS_BYTES = 256 * 2**20
# Rows per chunk of the score computation: bounded memory whatever n is.
_CHUNK_BYTES = 64 * 2**20


class MixtureParams(NamedTuple):
    """A mixture solution on the original scale of the data.

    ``intercept`` (K,), ``coef`` (K, p), ``sigma`` (K,) residual standard
    deviations and ``weights`` (K,) segment shares.
    """

    intercept: np.ndarray
    coef: np.ndarray
    sigma: np.ndarray
    weights: np.ndarray

    @classmethod
    def of(cls, model) -> MixtureParams:
        """The parameters of a fitted :class:`~trustseg.model.mixture.ClusterwiseRegression` (copies)."""
        intercept = np.asarray(model.intercept_, dtype=float).copy()
        return cls(
            intercept,
            np.asarray(model.coef_, dtype=float).reshape(len(intercept), -1).copy(),
            np.asarray(model.sigma_, dtype=float).copy(),
            np.asarray(model.weights_, dtype=float).copy(),
        )

    @classmethod
    def coerce(cls, value) -> MixtureParams:
        """MixtureParams from itself or a mapping with the four keys (float arrays, checked shapes)."""
        if isinstance(value, cls):
            fields = value._asdict()
        else:
            missing = [f for f in cls._fields if f not in value]
            if missing:
                raise ValueError(f"starting parameters lack {missing}; give {list(cls._fields)}")
            fields = {f: value[f] for f in cls._fields}
        intercept = np.asarray(fields["intercept"], dtype=float).reshape(-1)
        k = len(intercept)
        params = cls(
            intercept,
            np.asarray(fields["coef"], dtype=float).reshape(k, -1),
            np.asarray(fields["sigma"], dtype=float).reshape(-1),
            np.asarray(fields["weights"], dtype=float).reshape(-1),
        )
        if len(params.sigma) != k or len(params.weights) != k:
            raise ValueError("starting parameters: intercept, sigma and weights must have one entry per segment")
        if not all(np.isfinite(v).all() for v in params) or (params.sigma <= 0).any() or (params.weights < 0).any():
            raise ValueError("starting parameters must be finite, with positive sigma and non-negative weights")
        return params

    def log_joint(self, X, y) -> np.ndarray:
        """log(pi_k) + log N(y_i | a_k + x_i'b_k, sigma_k^2) as an (n, K) array."""
        residuals = y[:, None] - (self.intercept[None, :] + X @ self.coef.T)
        return log_joint(residuals, self.weights, self.sigma**2)

    def posteriors(self, X, y) -> np.ndarray:
        """Posterior segment probabilities (n, K)."""
        joint = self.log_joint(X, y)
        return np.exp(joint - logsumexp(joint, axis=1, keepdims=True))


def reached_optimum(logliks, best):
    """Which starts' log-likelihoods reached ``best`` (within a relative 1e-6).

    The one rule behind ``n_best_starts_`` and the ``reached_best`` column of
    the workflow's ``start_logliks.csv``.
    """
    logliks = np.asarray(logliks, dtype=float)
    return np.isfinite(logliks) & (np.abs(logliks - best) <= SAME_OPTIMUM_RTOL * max(abs(best), 1.0))


def same_solution(a, b, problem, atol=SAME_SOLUTION_ATOL) -> bool:
    """Whether two run states hold the same solution, up to the order of the segments.

    Segments are compared on a common scale: intercepts in outcome SDs, slopes
    as the outcome-SD change per predictor-SD, log sigma and shares; the best
    matching of segments (Hungarian algorithm) must agree within ``atol`` in
    every one of these.  Equal log-likelihoods alone do not make two optima the same.
    """
    if len(a.shares) != len(b.shares):
        return False

    def profile(state):
        sd_y = math.sqrt(problem.var_y)
        return np.column_stack([
            state.coefs[:, :1] / sd_y, state.coefs[:, 1:] * problem.sd_x / sd_y,
            0.5 * np.log(state.variances), state.shares,
        ])

    pa, pb = profile(a), profile(b)
    cost = np.abs(pa[:, None, :] - pb[None, :, :]).max(axis=2)
    rows, cols = linear_sum_assignment(cost)
    return bool(cost[rows, cols].max() <= atol)


def entropy(posteriors, w) -> float:
    """Weighted classification entropy ``E = -sum_i w_i sum_k tau_ik log tau_ik`` (0 log 0 = 0)."""
    safe = np.where(posteriors > 0, posteriors, 1.0)
    return float(-(w @ (posteriors * np.log(safe)).sum(axis=1)))


def relative_entropy(posteriors, w) -> float:
    """Entropy R^2 ``1 - E / (W log K)``, ``W = sum_i w_i``; 1 for a single segment."""
    k = posteriors.shape[1]
    if k == 1:
        return 1.0
    return 1.0 - entropy(posteriors, w) / (w.sum() * math.log(k))


# ----------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------


def _row_labels(index, positions, limit=10):
    labels = [str(index[p]) if index is not None else str(p) for p in positions[:limit]]
    more = len(positions) - limit
    return ", ".join(labels) + (f" and {more} more" if more > 0 else "")


def _describe_bad_values(values, names, index):
    """Messages like "3 missing values in column 'x' at rows 4, 17, 230"."""
    messages = []
    for j, name in enumerate(names):
        column = values[:, j]
        for kind, mask in (("missing", np.isnan(column)), ("infinite", np.isinf(column))):
            positions = np.flatnonzero(mask)
            if positions.size:
                noun = "value" if positions.size == 1 else "values"
                row = "row" if positions.size == 1 else "rows"
                messages.append(
                    f"{positions.size} {kind} {noun} in column '{name}' at {row} "
                    f"{_row_labels(index, positions)}"
                )
    return messages


def _as_2d_float(X, what):
    try:
        values = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} must be numeric: {exc}") from None
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise DataError(f"{what} must be two-dimensional, got {values.ndim} dimensions")
    return values


def _predictor_values(X, feature_names):
    """X as a float matrix, its column names and (for a DataFrame) its row index."""
    if isinstance(X, pd.DataFrame):
        if feature_names is not None:
            absent = [c for c in feature_names if c not in X.columns]
            if absent:
                raise DataError(f"X lacks the columns the model was fitted on: {absent}")
            X = X[list(feature_names)]
        values = _as_2d_float(X.to_numpy(dtype=float, na_value=np.nan), "X")
        return values, [str(c) for c in X.columns], X.index
    values = _as_2d_float(X, "X")
    names = [f"x{j + 1}" for j in range(values.shape[1])]
    if feature_names is not None:
        if len(feature_names) != values.shape[1]:
            raise DataError(f"X has {values.shape[1]} columns but the model was fitted on {len(feature_names)}")
        names = list(feature_names)
    return values, names, None


def _outcome_values(y, n):
    """y as a float vector of length n, and its name."""
    y_name = str(y.name) if isinstance(y, pd.Series) and y.name is not None else "y"
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise DataError("y must be a single column")
        y_name = str(y.columns[0])
        y = y.iloc[:, 0]
    y_values = np.asarray(y, dtype=float).reshape(-1)
    if y_values.shape[0] != n:
        raise DataError(f"X has {n} rows but y has {y_values.shape[0]}")
    return y_values, y_name


def _weight_values(sample_weight, n, index):
    """Survey weights as a float vector (ones when none are given); finite and non-negative."""
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=float).reshape(-1)
    if w.shape[0] != n:
        raise DataError(f"sample_weight has {w.shape[0]} entries but X has {n} rows")
    bad = _describe_bad_values(w[:, None], ["sample_weight"], index)
    if bad:
        raise DataError("; ".join(bad) + ". Weights must be finite.")
    negative = np.flatnonzero(w < 0)
    if negative.size:
        raise DataError(f"{negative.size} negative weights at rows {_row_labels(index, negative)}")
    return w


def validate_data(X, y, sample_weight=None, missing="raise", feature_names=None):
    """Check and convert survey data for the estimator.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n, p)
        Predictors; a DataFrame's column names become the feature names.
    y : Series or array-like of shape (n,)
        Outcome.
    sample_weight : array-like of shape (n,), optional
        Non-negative, finite survey weights.
    missing : {"raise", "drop"}
        What to do with rows holding NaN or infinite values.
    feature_names : list of str, optional
        Names the fitted model expects; a DataFrame is reordered to them.

    Returns
    -------
    dict
        ``X``, ``y``, ``w`` (float arrays), ``names``, ``y_name``,
        ``dropped_rows`` (labels of dropped rows, as strings) and ``kept``
        (boolean mask of the rows kept, over the rows given).
    """
    if missing not in ("raise", "drop"):
        raise ValueError(f"missing must be 'raise' or 'drop', not {missing!r}")
    values, names, index = _predictor_values(X, feature_names)
    y_values, y_name = _outcome_values(y, values.shape[0])
    w = _weight_values(sample_weight, values.shape[0], index)
    data_block = np.column_stack([values, y_values])
    finite = np.isfinite(data_block).all(axis=1)
    dropped = []
    if not finite.all():
        if missing == "raise":
            messages = _describe_bad_values(data_block, names + [y_name], index)
            raise DataError(
                "; ".join(messages)
                + ". Clean these rows or pass missing='drop' to drop incomplete rows."
            )
        positions = np.flatnonzero(~finite)
        dropped = [str(index[p]) if index is not None else str(int(p)) for p in positions]
        values, y_values, w = values[finite], y_values[finite], w[finite]
    if w.sum() <= 0:
        raise DataError("the sample weights sum to zero")
    return {
        "kept": finite,
        "X": np.ascontiguousarray(values),
        "y": y_values,
        "w": w,
        "names": names,
        "y_name": y_name,
        "dropped_rows": dropped,
    }


def check_identifiable(X, y, w, names, n_segments):
    """Refuse data on which K segment regressions cannot be estimated."""
    n, p = X.shape
    if p == 0:
        raise DataError("X has no predictor columns")
    needed = n_segments * (p + 2)
    if n < needed:
        raise DataError(
            f"{n} respondents cannot support {n_segments} segments with {p} "
            f"predictor(s): each segment needs at least {p + 2} respondents "
            f"({needed} in all)"
        )
    positive = w > 0
    if positive.sum() < needed:
        raise DataError(
            f"only {int(positive.sum())} respondents have a positive weight; "
            f"{n_segments} segments need at least {needed}"
        )
    total = w.sum()
    mean_x = w @ X / total
    centred = (X - mean_x) * np.sqrt(w)[:, None]
    scale = np.sqrt((centred**2).sum(axis=0) / total)
    spread = np.abs(mean_x) + 1.0
    constant = [names[j] for j in range(p) if scale[j] <= 1e-10 * spread[j]]
    if constant:
        raise DataError(
            f"predictor(s) {constant} are constant: their slopes cannot be estimated"
        )
    standardised = centred / (scale * math.sqrt(total))
    _, r, pivots = linalg.qr(standardised, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int((diag > 1e-8 * diag[0]).sum())
    if rank < p:
        dependent = [names[j] for j in pivots[rank:]]
        raise DataError(
            f"predictors are collinear: {dependent} are linear combinations of the "
            f"other predictors; drop them or combine the predictors"
        )
    mean_y = w @ y / total
    if w @ (y - mean_y) ** 2 <= 1e-20 * total * (1.0 + mean_y**2):
        raise DataError("the outcome is constant: there is nothing to segment")


# ----------------------------------------------------------------------------
# E- and M-steps on centred data
# ----------------------------------------------------------------------------


class Problem:
    """Centred data plus the precomputed column products the M-step needs."""

    def __init__(self, X, y, w):
        self.n, self.p = X.shape
        self.w = w
        self.X, self.y_raw = X, y  # the original scale, for scores and Newton steps
        total = w.sum()
        self.mean_x = w @ X / total
        self.mean_y = float(w @ y / total)
        self.var_y = float(w @ (y - self.mean_y) ** 2 / total)
        self.sd_x = np.sqrt(w @ (X - self.mean_x) ** 2 / total)
        # design [1, x - mean_x] and the centred outcome
        self.design = np.empty((self.n, self.p + 1))
        self.design[:, 0] = 1.0
        np.subtract(X, self.mean_x, out=self.design[:, 1:])
        self.y = y - self.mean_y
        q = self.p + 2
        self.upper = np.triu_indices(q)
        if self.n * len(self.upper[0]) * 8 <= _MAX_PRODUCTS_BYTES:
            full = np.column_stack([self.design, self.y])
            self.products = full[:, self.upper[0]] * full[:, self.upper[1]]
        else:
            self.products = None

    def original_intercepts(self, coefs_centred):
        """Intercepts on the original scale of coefficients fitted to centred data."""
        return coefs_centred[:, 0] + self.mean_y - coefs_centred[:, 1:] @ self.mean_x

    def centred_intercepts(self, intercept, slopes):
        """Intercepts for the centred data of original-scale intercepts and slopes."""
        return intercept - self.mean_y + slopes @ self.mean_x

    def subset(self, rows):
        sub = Problem.__new__(Problem)
        sub.n, sub.p = len(rows), self.p
        sub.w = self.w[rows]
        sub.X, sub.y_raw = self.X[rows], self.y_raw[rows]
        sub.mean_x, sub.mean_y, sub.var_y, sub.sd_x = self.mean_x, self.mean_y, self.var_y, self.sd_x
        sub.design, sub.y = self.design[rows], self.y[rows]
        sub.upper = self.upper
        sub.products = None if self.products is None else self.products[rows]
        return sub


def weighted_grams(problem, resp_w):
    """K Gram matrices of [1, x, y] weighted by the columns of ``resp_w``."""
    k = resp_w.shape[1]
    q = problem.p + 2
    grams = np.empty((k, q, q))
    if problem.products is not None:
        packed = resp_w.T @ problem.products  # one BLAS product for all segments
        rows, cols = problem.upper
        grams[:, rows, cols] = packed
        grams[:, cols, rows] = packed
    else:
        full = np.column_stack([problem.design, problem.y])
        for j in range(k):
            grams[j] = (full * resp_w[:, j : j + 1]).T @ full
    return grams


def m_step(problem, resp_w, common_variance, var_floor):
    """Segment shares, coefficients (centred scale) and variances."""
    grams = weighted_grams(problem, resp_w)
    mass = grams[:, 0, 0].copy()  # sum_i r_ik, the (1, 1) entry of the Gram matrix
    q = problem.p + 1
    try:
        # all K normal equations in one call: for survey-sized data the per-call
        # overhead of K separate solves costs more than the arithmetic
        coefs = np.linalg.solve(grams[:, :q, :q], grams[:, :q, q:q + 1])[:, :, 0]
        if not np.isfinite(coefs).all():
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        coefs = np.empty((resp_w.shape[1], q))
        for j in range(resp_w.shape[1]):
            coefs[j] = linalg.lstsq(grams[j, :q, :q], grams[j, :q, q])[0]
    residuals = problem.y[:, None] - problem.design @ coefs.T
    rss = np.einsum("ik,ik->k", resp_w, residuals * residuals, optimize=False)
    if common_variance:
        variances = np.full(len(mass), rss.sum() / mass.sum())
    else:
        variances = rss / np.maximum(mass, 1e-300)
    variances = np.maximum(variances, var_floor)
    shares = mass / mass.sum()
    return shares, coefs, variances, residuals


def degenerate_segments(problem, resp, min_share):
    """Segments EM must drop: share below ``min_share`` or fewer than p + 2 effective respondents.

    Returns the boolean mask over segments and, for each degenerate segment,
    its share, effective respondents and the reason in words.
    """
    return degenerate_components(problem.w, resp, min_share, problem.p + 2)


def degenerate_components(w, resp, min_share, min_respondents):
    """The rule of :func:`degenerate_segments` for any outcome family.

    A segment is degenerate when its (weighted) share is below ``min_share``
    or its effective number of respondents ``sum_i tau_ik`` is below
    ``min_respondents`` (what its parameters need).
    """
    mass = w @ resp
    counts = np.ones(len(w)) @ resp
    share = mass / mass.sum()
    degenerate = (share < min_share) | (counts < min_respondents)
    reasons = {}
    for j in np.flatnonzero(degenerate):
        reason = (
            f"share {share[j]:.4f} below min_share {min_share}"
            if share[j] < min_share
            else f"{counts[j]:.1f} effective respondents, fewer than the {min_respondents} its parameters need"
        )
        reasons[int(j)] = {"share": float(share[j]), "effective_respondents": float(counts[j]), "reason": reason}
    return degenerate, reasons


def log_joint(residuals, shares, variances):
    """log(pi_k) + log N(y_i | mean_ik, sigma_k^2) as an (n, K) array."""
    out = residuals * residuals
    out *= -0.5 / variances
    out += np.log(shares) - 0.5 * (LOG_2PI + np.log(variances))
    return out


def e_step(problem, residuals, shares, variances):
    """Posterior probabilities and the per-respondent log-likelihood."""
    joint = log_joint(residuals, shares, variances)
    # numpy reductions along a short axis are slow; K is small, so reduce
    # column by column and sum with a BLAS product instead
    row_max = joint[:, 0].copy()
    for j in range(1, joint.shape[1]):
        np.maximum(row_max, joint[:, j], out=row_max)
    joint -= row_max[:, None]
    np.exp(joint, out=joint)
    row_sum = joint @ np.ones(joint.shape[1])
    joint /= row_sum[:, None]
    return joint, row_max + np.log(row_sum)


def mixture_loglik(problem, shares, coefs, variances):
    residuals = problem.y[:, None] - problem.design @ coefs.T
    _, loglik_i = e_step(problem, residuals, shares, variances)
    return float(problem.w @ loglik_i), residuals


# ----------------------------------------------------------------------------
# scores and Hessian of the full mixture likelihood (original scale)
# ----------------------------------------------------------------------------


def param_layout(k, p):
    """Positions of each segment's coefficients and log-sigma, and of the logits."""
    q = p + 1
    block = q + 1
    coef_index = [np.arange(j * block, j * block + q) for j in range(k)]
    log_sigma_index = [j * block + q for j in range(k)]
    logit_index = np.arange(k * block, k * block + k - 1)
    return coef_index, log_sigma_index, logit_index, k * block + k - 1


def logit_directions(shares):
    """Row j: d log pi_j / d alpha = e_j - pi, for the logits alpha_2..alpha_K of the shares (pi_1 the reference)."""
    k = len(shares)
    alpha_dir = -np.tile(shares[1:], (k, 1))
    alpha_dir[np.arange(1, k), np.arange(k - 1)] += 1.0
    return alpha_dir


def add_gradient_outer_terms(hessian, scores, index, logit_index, block, tau_j, wtau_j, alpha_dir_j):
    """Segment j's terms of Louis' identity built from its gradient alone, for any outcome family.

    ``block`` (c, b) is the gradient g_ij of l_ij = log pi_j + log f_j(y_i)
    in segment j's parameters ``index``; in the logits it is ``alpha_dir_j``,
    the same for every respondent.  Adds sum_i w_i tau_ij g_ij g_ij' (the
    block, its cross terms with the logits, the logit block) to ``hessian``
    and writes tau_ij g_ij into segment j's columns of ``scores``.
    ``tau_j`` and ``wtau_j`` are (c, 1) columns of the posteriors and of the
    weighted posteriors.
    """
    hessian[np.ix_(index, index)] += (block * wtau_j).T @ block
    cross = np.outer(wtau_j[:, 0] @ block, alpha_dir_j)
    hessian[np.ix_(index, logit_index)] += cross
    hessian[np.ix_(logit_index, index)] += cross.T
    mass_j = wtau_j[:, 0].sum()
    hessian[np.ix_(logit_index, logit_index)] += mass_j * np.outer(alpha_dir_j, alpha_dir_j)
    scores[:, index] = block * tau_j


def add_score_terms(hessian, score_outer, gradient, scores, tau, shares, logit_index, w):
    """Finish a chunk of Louis' identity: the logit scores, then - sum w s s', sum w s and sum w^2 s s'."""
    scores[:, logit_index] = tau[:, 1:] - shares[1:]
    hessian -= (scores * w[:, None]).T @ scores
    gradient += w @ scores
    score_outer += (scores * (w**2)[:, None]).T @ scores


def subtract_logit_curvature(hessian, logit_index, shares, total_weight):
    """The second derivatives of log pi_k in the logits, -(diag(pi) - pi pi'), the same for every k and i."""
    pi = shares[1:]
    hessian[np.ix_(logit_index, logit_index)] -= total_weight * (np.diag(pi) - np.outer(pi, pi))


def _add_segment_terms(hessian, scores, j, layout, design, residuals, scaled, tau, wtau, variances, alpha_dir):
    """Add segment j's terms of Louis' identity to ``hessian`` and its block of the scores.

    The gradient g_ik of l_ik is zero outside segment k's block and the
    logits, so the sums are assembled block by block instead of from a dense
    (n, K, D) array.  Segment block of g_ik: ``[x_i r_ik / s_k^2, r_ik^2 /
    s_k^2 - 1]``; logit part: ``e_k - pi``, the same for every respondent.
    """
    coef_index, log_sigma_index, logit_index = layout
    q = design.shape[1]
    block = np.empty((design.shape[0], q + 1))
    block[:, :q] = design * scaled[:, j : j + 1]
    block[:, q] = residuals[:, j] * scaled[:, j] - 1.0
    index = np.append(coef_index[j], log_sigma_index[j])
    add_gradient_outer_terms(hessian, scores, index, logit_index, block, tau[:, j : j + 1], wtau[:, j : j + 1],
                             alpha_dir[j])
    # second derivatives of log f_k
    hessian[np.ix_(coef_index[j], coef_index[j])] -= (design * (wtau[:, j] / variances[j])[:, None]).T @ design
    second = -2.0 * design.T @ (wtau[:, j] * scaled[:, j])
    hessian[coef_index[j], log_sigma_index[j]] += second
    hessian[log_sigma_index[j], coef_index[j]] += second
    hessian[log_sigma_index[j], log_sigma_index[j]] -= 2.0 * wtau[:, j] @ (residuals[:, j] * scaled[:, j])


def observed_information(params, X, y, w):
    """Hessian and outer product of scores of the weighted mixture log-likelihood.

    Parameters
    ----------
    params : MixtureParams
        Mixture parameters on the original scale (segments in their order).
    X, y, w : ndarray
        Complete data (validated), weights.

    Returns
    -------
    hessian : ndarray (D, D)
    score_outer : ndarray (D, D)
        ``sum_i w_i^2 s_i s_i'`` (used by the sandwich).
    gradient : ndarray (D,)
        ``sum_i w_i s_i`` (zero at the maximum; used to polish EM's solution).
    """
    k, p = params.coef.shape
    q = p + 1
    coef_index, log_sigma_index, logit_index, dim = param_layout(k, p)
    betas = np.column_stack([params.intercept, params.coef])  # (K, q)
    variances = params.sigma**2
    shares = params.weights
    hessian = np.zeros((dim, dim))
    score_outer = np.zeros((dim, dim))
    gradient = np.zeros(dim)
    n = X.shape[0]
    chunk = max(1, int(_CHUNK_BYTES // (8 * (dim + 4 * k + q + 2) * 3)))
    total_weight = 0.0
    alpha_dir = logit_directions(shares)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        design = np.column_stack([np.ones(stop - start), X[start:stop]])
        wc = w[start:stop]
        total_weight += wc.sum()
        residuals = y[start:stop, None] - design @ betas.T  # (c, K)
        joint = (
            np.log(shares)
            - 0.5 * (math.log(2 * math.pi) + np.log(variances))
            - 0.5 * residuals**2 / variances
        )
        tau = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
        wtau = tau * wc[:, None]
        scaled = residuals / variances  # r / sigma^2
        scores = np.empty((stop - start, dim))
        for j in range(k):
            _add_segment_terms(hessian, scores, j, (coef_index, log_sigma_index, logit_index), design,
                               residuals, scaled, tau, wtau, variances, alpha_dir)
        add_score_terms(hessian, score_outer, gradient, scores, tau, shares, logit_index, wc)
    # the logit block does not depend on the respondent: sum_k tau_ik = 1
    subtract_logit_curvature(hessian, logit_index, shares, total_weight)
    return hessian, score_outer, gradient
