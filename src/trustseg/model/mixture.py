"""Clusterwise regression: a finite mixture of Gaussian linear regressions.

The estimator follows DeSarbo & Cron (1988): respondent ``i`` belongs to segment
``k`` with probability ``pi_k`` and, within the segment,
``y_i ~ N(a_k + x_i' b_k, sigma_k^2)``.  Parameters are estimated by maximum
likelihood with the EM algorithm (``method="em"``) or by the classification EM
algorithm with one common residual variance (``method="cem"``), which is
Spaeth's clusterwise regression with segment proportions.

Design notes
------------
* The E-step works in log space (log-sum-exp) so that respondents far from every
  segment line do not underflow.
* The M-step uses weighted sufficient statistics: the products of the columns of
  ``[1, x, y]`` are formed once per fit, and the K weighted Gram matrices of an
  iteration are one matrix product ``R' O`` (``R`` the n x K weighted
  responsibilities).  Nothing loops over respondents in Python.
* Predictors and outcome are centred at their weighted means before fitting, so
  the normal equations are well conditioned for rating-scale data; intercepts are
  reported on the original scale.
* Starts follow the emEM scheme: ``n_init`` short EM runs from random partitions
  (on a random subsample when the data are large), then full EM from the best
  few.  ``start_logliks_`` keeps, for every start, the full-data log-likelihood
  that start reached: after its full EM run if it was refined, otherwise after
  its short run (``start_refined_`` says which).
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral

import numpy as np
import pandas as pd
from scipy import linalg
from scipy.special import logsumexp
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from trustseg.errors import DataError
from trustseg.progress import Progress

_LOG_2PI = math.log(2.0 * math.pi)
# Relative tolerance under which two starts count as reaching the same optimum.
_SAME_OPTIMUM_RTOL = 1e-6


def reached_optimum(logliks, best):
    """Which starts' log-likelihoods reached ``best`` (within a relative 1e-6).

    The one rule behind ``n_best_starts_`` and the ``reached_best`` column of
    the workflow's ``start_logliks.csv``.
    """
    logliks = np.asarray(logliks, dtype=float)
    return np.isfinite(logliks) & (np.abs(logliks - best) <= _SAME_OPTIMUM_RTOL * max(abs(best), 1.0))


# Above this many bytes the precomputed column products are replaced by one
# weighted product per segment, so memory stays bounded for many predictors.
_MAX_PRODUCTS_BYTES = 256 * 2**20
# EM hands over to Newton's method below this relative log-likelihood change.
_NEWTON_SWITCH_TOL = 1e-6


# ----------------------------------------------------------------------------
# input checking
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
        ``X``, ``y``, ``w`` (float arrays), ``names``, ``y_name`` and
        ``dropped_rows`` (labels of dropped rows, as strings).
    """
    if missing not in ("raise", "drop"):
        raise ValueError(f"missing must be 'raise' or 'drop', not {missing!r}")
    index = None
    if isinstance(X, pd.DataFrame):
        if feature_names is not None:
            absent = [c for c in feature_names if c not in X.columns]
            if absent:
                raise DataError(f"X lacks the columns the model was fitted on: {absent}")
            X = X[list(feature_names)]
        names = [str(c) for c in X.columns]
        index = X.index
        values = _as_2d_float(X.to_numpy(dtype=float, na_value=np.nan), "X")
    else:
        values = _as_2d_float(X, "X")
        names = [f"x{j + 1}" for j in range(values.shape[1])]
        if feature_names is not None:
            if len(feature_names) != values.shape[1]:
                raise DataError(
                    f"X has {values.shape[1]} columns but the model was fitted on "
                    f"{len(feature_names)}"
                )
            names = list(feature_names)
    y_name = str(y.name) if isinstance(y, pd.Series) and y.name is not None else "y"
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise DataError("y must be a single column")
        y_name = str(y.columns[0])
        y = y.iloc[:, 0]
    y_values = np.asarray(y, dtype=float).reshape(-1)
    n = values.shape[0]
    if y_values.shape[0] != n:
        raise DataError(f"X has {n} rows but y has {y_values.shape[0]}")
    if sample_weight is None:
        w = np.ones(n)
    else:
        w = np.asarray(sample_weight, dtype=float).reshape(-1)
        if w.shape[0] != n:
            raise DataError(f"sample_weight has {w.shape[0]} entries but X has {n} rows")
        bad = _describe_bad_values(w[:, None], ["sample_weight"], index)
        if bad:
            raise DataError("; ".join(bad) + ". Weights must be finite.")
        negative = np.flatnonzero(w < 0)
        if negative.size:
            raise DataError(
                f"{negative.size} negative weights at rows {_row_labels(index, negative)}"
            )
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
        "X": np.ascontiguousarray(values),
        "y": y_values,
        "w": w,
        "names": names,
        "y_name": y_name,
        "dropped_rows": dropped,
    }


def _check_identifiable(X, y, w, names, n_segments):
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
# the numerical core (works on centred data)
# ----------------------------------------------------------------------------


class _Problem:
    """Centred data plus the precomputed column products the M-step needs."""

    def __init__(self, X, y, w):
        self.n, self.p = X.shape
        self.w = w
        total = w.sum()
        self.mean_x = w @ X / total
        self.mean_y = float(w @ y / total)
        self.var_y = float(w @ (y - self.mean_y) ** 2 / total)
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

    def subset(self, rows):
        sub = _Problem.__new__(_Problem)
        sub.n, sub.p = len(rows), self.p
        sub.w = self.w[rows]
        sub.mean_x, sub.mean_y, sub.var_y = self.mean_x, self.mean_y, self.var_y
        sub.design, sub.y = self.design[rows], self.y[rows]
        sub.upper = self.upper
        sub.products = None if self.products is None else self.products[rows]
        return sub


def _weighted_grams(problem, resp_w):
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


def _m_step(problem, resp_w, common_variance, var_floor):
    """Segment shares, coefficients (centred scale) and variances."""
    grams = _weighted_grams(problem, resp_w)
    mass = grams[:, 0, 0].copy()  # sum_i r_ik, the (1, 1) entry of the Gram matrix
    q = problem.p + 1
    coefs = np.empty((resp_w.shape[1], q))
    for j in range(resp_w.shape[1]):
        gram = grams[j, :q, :q]
        try:
            coefs[j] = linalg.solve(gram, grams[j, :q, q], assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            coefs[j] = linalg.lstsq(gram, grams[j, :q, q])[0]
    residuals = problem.y[:, None] - problem.design @ coefs.T
    rss = np.einsum("ik,ik->k", resp_w, residuals * residuals, optimize=False)
    if common_variance:
        variances = np.full(len(mass), rss.sum() / mass.sum())
    else:
        variances = rss / np.maximum(mass, 1e-300)
    variances = np.maximum(variances, var_floor)
    shares = mass / mass.sum()
    return shares, coefs, variances, residuals


def _log_joint(residuals, shares, variances):
    """log(pi_k) + log N(y_i | mean_ik, sigma_k^2) as an (n, K) array."""
    out = residuals * residuals
    out *= -0.5 / variances
    out += np.log(shares) - 0.5 * (_LOG_2PI + np.log(variances))
    return out


def _e_step(problem, residuals, shares, variances):
    """Posterior probabilities and the per-respondent log-likelihood."""
    log_joint = _log_joint(residuals, shares, variances)
    # numpy reductions along a short axis are slow; K is small, so reduce
    # column by column and sum with a BLAS product instead
    row_max = log_joint[:, 0].copy()
    for j in range(1, log_joint.shape[1]):
        np.maximum(row_max, log_joint[:, j], out=row_max)
    log_joint -= row_max[:, None]
    np.exp(log_joint, out=log_joint)
    row_sum = log_joint @ np.ones(log_joint.shape[1])
    log_joint /= row_sum[:, None]
    return log_joint, row_max + np.log(row_sum)


class _RunState:
    """Parameters of one start while EM runs on it."""

    def __init__(self, shares, coefs, variances, residuals, labels):
        self.shares, self.coefs, self.variances = shares, coefs, variances
        self.residuals = residuals
        self.labels = labels  # original component ids still alive
        self.loglik = -np.inf
        self.n_iter = 0
        self.converged = False
        self.removed = []


def _run_em(problem, state, settings, max_iter, start_id, stage, tol=None):
    """Iterate E- and M-steps from ``state`` until convergence or ``max_iter``.

    Degenerate segments (share below ``min_share`` or fewer effective
    respondents than ``p + 2``) are removed as soon as they appear, recorded, and
    EM continues with the remaining segments.
    """
    hard = settings["method"] == "cem"
    tol = settings["tol"] if tol is None else tol
    state.converged = False
    previous = -np.inf
    previous_labels = None
    for _ in range(max_iter):
        resp, loglik_i = _e_step(problem, state.residuals, state.shares, state.variances)
        if hard:
            assign = resp.argmax(axis=1)
            joint = _log_joint(state.residuals, state.shares, state.variances)
            objective = float(problem.w @ joint[np.arange(problem.n), assign])
            resp = np.zeros_like(resp)
            resp[np.arange(problem.n), assign] = 1.0
        else:
            objective = float(problem.w @ loglik_i)
        state.loglik = objective
        state.n_iter += 1
        if hard:
            if previous_labels is not None and np.array_equal(assign, previous_labels):
                state.converged = True
                break
            previous_labels = assign
        elif abs(objective - previous) <= tol * abs(objective):
            state.converged = True
            break
        previous = objective
        resp_w = resp * problem.w[:, None]
        mass = problem.w @ resp
        counts = np.ones(problem.n) @ resp
        share = mass / mass.sum()
        degenerate = (share < settings["min_share"]) | (counts < problem.p + 2)
        if degenerate.any() and degenerate.sum() < len(share):
            for j in np.flatnonzero(degenerate):
                reason = (
                    f"share {share[j]:.4f} below min_share {settings['min_share']}"
                    if share[j] < settings["min_share"]
                    else f"{counts[j]:.1f} effective respondents, fewer than the "
                    f"{problem.p + 2} its parameters need"
                )
                state.removed.append(
                    {
                        "start": int(start_id),
                        "component": int(state.labels[j]),
                        "stage": stage,
                        "iteration": int(state.n_iter),
                        "share": float(share[j]),
                        "effective_respondents": float(counts[j]),
                        "reason": reason,
                    }
                )
            keep = ~degenerate
            resp_w = resp_w[:, keep]
            state.labels = state.labels[keep]
            previous, previous_labels = -np.inf, None
        state.shares, state.coefs, state.variances, state.residuals = _m_step(
            problem, resp_w, hard, settings["var_floor"]
        )
    if not state.converged and not hard:
        # the last M-step moved the parameters: report the likelihood they reach
        _, loglik_i = _e_step(problem, state.residuals, state.shares, state.variances)
        state.loglik = float(problem.w @ loglik_i)
    return state


def _start_from_partition(problem, k, rng, settings):
    labels = rng.integers(0, k, size=problem.n)
    # every segment gets at least p + 2 respondents so its regression exists
    need = problem.p + 2
    order = rng.permutation(problem.n)[: k * need]
    labels[order] = np.repeat(np.arange(k), need)
    resp_w = np.zeros((problem.n, k))
    resp_w[np.arange(problem.n), labels] = problem.w
    if (resp_w.sum(axis=0) <= 0).any():
        resp_w += 1e-12
    shares, coefs, variances, residuals = _m_step(
        problem, resp_w, settings["method"] == "cem", settings["var_floor"]
    )
    return _RunState(shares, coefs, variances, residuals, np.arange(k))


def _newton_polish(problem, X, y, w, state, settings, max_steps=25):
    """Newton's method on the full mixture likelihood from an EM solution.

    Works on the original scale in the parametrisation of
    :mod:`trustseg.model.inference` (coefficients, log sigma, logits).  Steps are
    halved until the likelihood rises and every variance stays above the
    floor.  Returns a new converged state, or None when Newton cannot finish
    (a variance on its floor, an indefinite Hessian, no ascent).
    """
    from types import SimpleNamespace

    from trustseg.model.inference import observed_information

    var_floor, tol = settings["var_floor"], settings["tol"]
    if np.any(state.variances <= var_floor * (1 + 1e-9)):
        return None  # constrained optimum: the floor binds, EM handles it
    k, p = len(state.shares), problem.p
    slopes = state.coefs[:, 1:]
    intercepts = state.coefs[:, 0] + problem.mean_y - slopes @ problem.mean_x
    theta = np.concatenate([
        np.column_stack([intercepts, slopes, 0.5 * np.log(state.variances)]).ravel(),
        np.log(state.shares[1:] / state.shares[0]),
    ])

    def unpack(values):
        blocks = values[: k * (p + 2)].reshape(k, p + 2)
        logits = np.concatenate([[0.0], values[k * (p + 2) :]])
        return blocks[:, : p + 1], np.exp(2 * blocks[:, p + 1]), np.exp(logits - logsumexp(logits))

    def centred_loglik(values):
        betas, variances, shares = unpack(values)
        coefs = betas.copy()
        coefs[:, 0] = betas[:, 0] - problem.mean_y + betas[:, 1:] @ problem.mean_x
        loglik, residuals = _mixture_loglik(problem, shares, coefs, variances)
        return loglik, coefs, variances, shares, residuals

    current = centred_loglik(theta)
    steps = 0
    for _ in range(max_steps):
        betas, variances, shares = unpack(theta)
        params = SimpleNamespace(
            n_segments_=k, n_features_in_=p, intercept_=betas[:, 0], coef_=betas[:, 1:],
            sigma_=np.sqrt(variances), weights_=shares,
        )
        hessian, _, gradient = observed_information(params, X, y, w)
        try:
            np.linalg.cholesky(-hessian)
            step = -np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            return None
        decrement = float(gradient @ step)  # Newton decrement: predicted gain x 2
        # stop when the predicted gain is negligible against both tol and the
        # rounding level of the log-likelihood (one extra step is cheap)
        if decrement <= min(2 * tol, 1e-12) * abs(current[0]):
            break
        for _ in range(40):
            candidate = centred_loglik(theta + step)
            if np.all(candidate[2] > var_floor) and candidate[0] >= current[0]:
                break
            step = step / 2
        else:
            if steps and decrement <= 1e-9 * abs(current[0]):
                break  # no ascent left at rounding level: we are at the maximum
            return None
        theta, current = theta + step, candidate
        steps += 1
    else:
        return None
    loglik, coefs, variances, shares, residuals = current
    polished = _RunState(shares, coefs, variances, residuals, state.labels)
    polished.loglik = loglik
    polished.n_iter = state.n_iter
    polished.removed = state.removed
    polished.converged = True
    polished.newton_steps = steps
    return polished


def _mixture_loglik(problem, shares, coefs, variances):
    residuals = problem.y[:, None] - problem.design @ coefs.T
    _, loglik_i = _e_step(problem, residuals, shares, variances)
    return float(problem.w @ loglik_i), residuals


# ----------------------------------------------------------------------------
# the estimator
# ----------------------------------------------------------------------------


class ClusterwiseRegression(BaseEstimator):
    """Finite mixture of Gaussian linear regressions (clusterwise regression).

    Parameters
    ----------
    n_segments : int, default 3
        Number of segments K requested.
    n_init : int, default 20
        Number of random-partition starts (emEM).
    method : {"em", "cem"}, default "em"
        ``"em"``: maximum likelihood with segment-specific variances
        (DeSarbo & Cron 1988).  ``"cem"``: classification EM with one common
        variance (Spaeth's clusterwise regression); ``loglik_`` is then the
        mixture log-likelihood at the CEM solution and
        ``classification_loglik_`` the criterion CEM maximised.
    max_iter : int, default 1000
        Maximum EM iterations of a full run.
    tol : float, default 1e-8
        Convergence tolerance on the relative change of the log-likelihood.
    min_share : float, default 0.03
        Segments whose (weighted) share falls below this are removed.
    variance_floor : float, default 1e-3
        Residual variances are kept at or above ``variance_floor * var(y)``
        (weighted variance), so a flat segment at a rating-scale ceiling cannot
        drive the likelihood to infinity.
    focal : str or int, optional
        The focal predictor (segments are ordered by its slope, verdicts are
        given for it).  Default: the first column of X.
    random_state : int, numpy Generator or None, default 0
        Seeds every random step (partitions, subsample).
    n_short_iter : int, default 20
        EM iterations of each short emEM run.
    n_full_runs : int, optional
        How many of the best short runs are continued to convergence.  Default:
        every start when ``n * n_init <= 200_000`` (cheap), else 3.
    short_subsample : int, default 20_000
        With more respondents than this, the short runs use a random subsample
        of this size (full-data log-likelihoods still rank the starts, and the
        full runs always use all respondents).

    Attributes
    ----------
    loglik_ : float
        Maximised (weighted) log-likelihood ``sum_i w_i log f(y_i | x_i)``.
    coef_, intercept_, sigma_, weights_ : ndarray
        Slopes (K, p), intercepts (K,), residual standard deviations (K,) and
        segment shares (K,), segments ordered by the focal slope, steepest first.
    start_logliks_ : ndarray of shape (n_init,)
        Full-data log-likelihood each start reached (after its full run if
        ``start_refined_`` is True, otherwise after its short run).
    n_best_starts_ : int
        Starts within a relative 1e-6 of the best log-likelihood.
    removed_segments_ : list of dict
        Every degenerate segment removed in any start, with the start, the stage
        ("short" or "full"), the iteration and the reason; ``in_final`` marks
        removals in the start that produced the returned solution.
    """

    def __init__(
        self,
        n_segments=3,
        n_init=20,
        method="em",
        max_iter=1000,
        tol=1e-8,
        min_share=0.03,
        variance_floor=1e-3,
        focal=None,
        random_state=0,
        n_short_iter=20,
        n_full_runs=None,
        short_subsample=20_000,
    ):
        self.n_segments = n_segments
        self.n_init = n_init
        self.method = method
        self.max_iter = max_iter
        self.tol = tol
        self.min_share = min_share
        self.variance_floor = variance_floor
        self.focal = focal
        self.random_state = random_state
        self.n_short_iter = n_short_iter
        self.n_full_runs = n_full_runs
        self.short_subsample = short_subsample

    # -- fitting ------------------------------------------------------------

    def _check_params(self):
        if not isinstance(self.n_segments, Integral) or self.n_segments < 1:
            raise ValueError(f"n_segments must be a positive integer, not {self.n_segments!r}")
        if not isinstance(self.n_init, Integral) or self.n_init < 1:
            raise ValueError(f"n_init must be a positive integer, not {self.n_init!r}")
        if self.method not in ("em", "cem"):
            raise ValueError(f"method must be 'em' or 'cem', not {self.method!r}")
        if not 0 <= self.min_share < 1:
            raise ValueError("min_share must lie in [0, 1)")
        if self.variance_floor <= 0:
            raise ValueError("variance_floor must be positive")

    def _resolve_focal(self, names):
        if self.focal is None:
            return 0
        if isinstance(self.focal, Integral):
            if not 0 <= self.focal < len(names):
                raise DataError(f"focal index {self.focal} outside the {len(names)} predictors")
            return int(self.focal)
        if self.focal not in names:
            raise DataError(f"focal predictor {self.focal!r} is not a column of X: {names}")
        return names.index(self.focal)

    def fit(self, X, y, sample_weight=None, missing="raise"):
        """Fit the mixture by emEM.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n, p)
        y : Series or array-like of shape (n,)
        sample_weight : array-like of shape (n,), optional
            Survey weights (need not be integers).
        missing : {"raise", "drop"}
            ``"raise"`` refuses NaN/inf and says where they are; ``"drop"``
            drops those rows and records them in ``dropped_rows_``.

        Returns
        -------
        self
        """
        self._check_params()
        # EM's matrix products are thin (n x K times n x few): multithreaded BLAS
        # only adds synchronisation, which on a shared machine costs up to 10x.
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(X, y, sample_weight, missing)

    def _fit(self, X, y, sample_weight, missing):
        data = validate_data(X, y, sample_weight, missing)
        X_, y_, w = data["X"], data["y"], data["w"]
        k = int(self.n_segments)
        _check_identifiable(X_, y_, w, data["names"], k)
        self.feature_names_in_ = np.asarray(data["names"], dtype=object)
        self.n_features_in_ = X_.shape[1]
        self.focal_index_ = self._resolve_focal(data["names"])
        self.outcome_name_ = data["y_name"]
        self.dropped_rows_ = data["dropped_rows"]
        self.n_obs_ = int(X_.shape[0])
        self.sum_weights_ = float(w.sum())

        problem = _Problem(X_, y_, w)
        self.outcome_variance_ = problem.var_y
        settings = {
            "method": self.method,
            "tol": float(self.tol),
            "min_share": float(self.min_share),
            "var_floor": float(self.variance_floor) * problem.var_y,
        }
        seeds = (
            self.random_state
            if isinstance(self.random_state, np.random.Generator)
            else np.random.default_rng(self.random_state)
        ).bit_generator.seed_seq.spawn(self.n_init + 1)
        short_problem = problem
        if problem.n > self.short_subsample:
            rows = np.sort(
                np.random.default_rng(seeds[-1]).choice(
                    problem.n, size=int(self.short_subsample), replace=False
                )
            )
            short_problem = problem.subset(rows)

        # stage 1: short runs from random partitions
        states = []
        short_progress = Progress(self.n_init, f"K={k}: short EM runs from random starts")
        for start in range(self.n_init):
            rng = np.random.default_rng(seeds[start])
            state = _start_from_partition(short_problem, k, rng, settings)
            state = _run_em(short_problem, state, settings, self.n_short_iter, start, "short")
            if short_problem is not problem:
                state.loglik, state.residuals = _mixture_loglik(
                    problem, state.shares, state.coefs, state.variances
                )
                state.converged = False
            elif self.method == "cem":
                state.loglik, state.residuals = _mixture_loglik(
                    problem, state.shares, state.coefs, state.variances
                )
            states.append(state)
            short_progress.update(start + 1)
        start_logliks = np.array([s.loglik for s in states])

        # stage 2: full EM from the best short runs
        n_full = self.n_full_runs
        if n_full is None:
            n_full = self.n_init if problem.n * self.n_init <= 200_000 else 3
        n_full = int(min(max(n_full, 1), self.n_init))
        order = sorted(
            range(self.n_init), key=lambda s: (-len(states[s].labels), -start_logliks[s], s)
        )
        refined = np.zeros(self.n_init, dtype=bool)
        full_progress = Progress(n_full, f"K={k}: full EM from the best starts")
        for done, start in enumerate(order[:n_full], start=1):
            state = states[start]
            state = self._refine(problem, X_, y_, w, state, settings, start)
            if self.method == "cem":
                state.classification_loglik = state.loglik
                state.loglik, _ = _mixture_loglik(
                    problem, state.shares, state.coefs, state.variances
                )
            states[start] = state
            start_logliks[start] = state.loglik
            refined[start] = True
            full_progress.update(done)

        # the solution: most segments kept, then the highest log-likelihood
        best = min(
            np.flatnonzero(refined),
            key=lambda s: (-len(states[s].labels), -start_logliks[s], s),
        )
        chosen = states[best]
        top = start_logliks[best]
        self.start_logliks_ = start_logliks
        self.start_refined_ = refined
        self.best_start_ = int(best)
        self.n_best_starts_ = int(np.sum(reached_optimum(start_logliks, top)))
        removed = []
        for s, state in enumerate(states):
            for record in state.removed:
                removed.append({**record, "in_final": bool(s == best)})
        self.removed_segments_ = removed
        if len(chosen.labels) < k:
            warnings.warn(
                f"{k - len(chosen.labels)} of the {k} requested segments were "
                f"degenerate in every start and were removed; the model has "
                f"{len(chosen.labels)} segments (see removed_segments_)",
                RuntimeWarning,
                stacklevel=2,
            )
        self.loglik_ = float(chosen.loglik)
        self.classification_loglik_ = (
            float(chosen.classification_loglik) if self.method == "cem" else None
        )
        self.n_iter_ = int(chosen.n_iter)
        self.converged_ = bool(chosen.converged)
        self.n_newton_steps_ = int(getattr(chosen, "newton_steps", 0))
        self._store_solution(problem, chosen.shares, chosen.coefs, chosen.variances)
        return self

    def _refine(self, problem, X, y, w, state, settings, start):
        """Run one start to convergence on all respondents.

        EM converges linearly, and slowly where segments overlap.  For ML fits
        EM therefore runs only until the relative log-likelihood change drops
        below ``max(tol, 1e-6)``; safeguarded Newton steps with the analytic
        observed information then finish with quadratic convergence.  If
        Newton cannot (a variance on its floor, an indefinite Hessian), EM
        simply continues to ``tol``.
        """
        if self.method == "cem":
            return _run_em(problem, state, settings, self.max_iter, start, "full")
        switch_tol = max(settings["tol"], _NEWTON_SWITCH_TOL)
        state = _run_em(problem, state, settings, self.max_iter, start, "full", tol=switch_tol)
        if state.converged:
            polished = _newton_polish(problem, X, y, w, state, settings)
            if polished is not None:
                return polished
        if state.n_iter < self.max_iter and switch_tol > settings["tol"]:
            state = _run_em(
                problem, state, settings, self.max_iter - state.n_iter, start, "full"
            )
        return state

    def _reorder(self):
        """Order segments by focal slope (steepest first), then intercept, then share."""

        def rounded(values):
            # compare at 9 significant digits so rounding noise cannot reorder ties
            scale = 10 ** np.floor(np.log10(np.maximum(np.abs(values), 1e-12)))
            return np.round(values / scale, 9) * scale

        order = np.lexsort((
            -rounded(self.weights_),
            -rounded(self.intercept_),
            -rounded(self.coef_[:, self.focal_index_]),
        ))
        self.coef_ = self.coef_[order].copy()
        self.intercept_ = self.intercept_[order].copy()
        self.sigma_ = self.sigma_[order].copy()
        self.weights_ = self.weights_[order].copy()

    def _store_solution(self, problem, shares, coefs_centred, variances):
        """Convert to the original scale and order the segments."""
        slopes = coefs_centred[:, 1:]
        self.coef_ = slopes.copy()
        self.intercept_ = coefs_centred[:, 0] + problem.mean_y - slopes @ problem.mean_x
        self.sigma_ = np.sqrt(variances)
        self.weights_ = shares.copy()
        self.n_segments_ = int(len(shares))
        self.n_params_ = self._count_params()
        self._reorder()

    def _count_params(self):
        k, p = self.n_segments_, self.n_features_in_
        n_sigmas = 1 if self.method == "cem" else k
        return int(k * (p + 1) + n_sigmas + (k - 1))

    # -- using a fitted model ---------------------------------------------

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            raise AttributeError("this ClusterwiseRegression is not fitted yet; call fit first")

    def _log_joint(self, X, y, sample_weight=None):
        self._check_fitted()
        data = validate_data(X, y, sample_weight, "raise", list(self.feature_names_in_))
        means = self.intercept_[None, :] + data["X"] @ self.coef_.T
        residuals = data["y"][:, None] - means
        return _log_joint(residuals, self.weights_, self.sigma_**2), data["w"]

    def predict_proba(self, X, y):
        """Posterior segment probabilities, shape (n, K), columns in segment order."""
        log_joint, _ = self._log_joint(X, y)
        return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))

    def predict(self, X, y):
        """Most probable segment of each respondent, numbered 1..K."""
        return self.predict_proba(X, y).argmax(axis=1) + 1

    def score_samples(self, X, y):
        """Log-likelihood of each respondent, log f(y_i | x_i)."""
        log_joint, _ = self._log_joint(X, y)
        return logsumexp(log_joint, axis=1)

    def score(self, X, y, sample_weight=None):
        """Mean log-likelihood per respondent (weighted mean if weights are given)."""
        log_joint, w = self._log_joint(X, y, sample_weight)
        return float(w @ logsumexp(log_joint, axis=1) / w.sum())

    def inference(
        self, X, y, sample_weight=None, cov_type="oim", alpha=0.05, equivalence_margin=0.1
    ):
        """Standard errors, tests and verdicts; see :class:`trustseg.model.inference.MixtureInference`."""
        from trustseg.model.inference import MixtureInference

        return MixtureInference.from_model(
            self,
            X,
            y,
            sample_weight=sample_weight,
            cov_type=cov_type,
            alpha=alpha,
            equivalence_margin=equivalence_margin,
        )

    # -- serialisation -------------------------------------------------------

    def to_dict(self):
        """A JSON-serialisable dict that :meth:`from_dict` turns back into this model."""
        self._check_fitted()
        params = self.get_params()
        if isinstance(params["random_state"], np.random.Generator):
            params["random_state"] = None
        if isinstance(params["focal"], Integral):
            params["focal"] = int(params["focal"])
        return {
            "format": "trustseg.ClusterwiseRegression/1",
            "hyperparameters": params,
            "feature_names_in": [str(n) for n in self.feature_names_in_],
            "outcome_name": self.outcome_name_,
            "focal_index": int(self.focal_index_),
            "n_segments": int(self.n_segments_),
            "intercept": self.intercept_.tolist(),
            "coef": self.coef_.tolist(),
            "sigma": self.sigma_.tolist(),
            "weights": self.weights_.tolist(),
            "loglik": float(self.loglik_),
            "classification_loglik": self.classification_loglik_,
            "n_params": int(self.n_params_),
            "n_iter": int(self.n_iter_),
            "n_newton_steps": int(self.n_newton_steps_),
            "converged": bool(self.converged_),
            "start_logliks": self.start_logliks_.tolist(),
            "start_refined": self.start_refined_.tolist(),
            "best_start": int(self.best_start_),
            "n_best_starts": int(self.n_best_starts_),
            "removed_segments": [dict(r) for r in self.removed_segments_],
            "dropped_rows": list(self.dropped_rows_),
            "n_obs": int(self.n_obs_),
            "sum_weights": float(self.sum_weights_),
            "outcome_variance": float(self.outcome_variance_),
        }

    @classmethod
    def from_dict(cls, d):
        """Rebuild a fitted model from :meth:`to_dict` output."""
        model = cls(**d["hyperparameters"])
        model.feature_names_in_ = np.asarray(d["feature_names_in"], dtype=object)
        model.n_features_in_ = len(d["feature_names_in"])
        model.outcome_name_ = d["outcome_name"]
        model.focal_index_ = int(d["focal_index"])
        model.n_segments_ = int(d["n_segments"])
        model.intercept_ = np.asarray(d["intercept"], dtype=float)
        model.coef_ = np.asarray(d["coef"], dtype=float).reshape(model.n_segments_, -1)
        model.sigma_ = np.asarray(d["sigma"], dtype=float)
        model.weights_ = np.asarray(d["weights"], dtype=float)
        model.loglik_ = float(d["loglik"])
        model.classification_loglik_ = d["classification_loglik"]
        model.n_params_ = int(d["n_params"])
        model.n_iter_ = int(d["n_iter"])
        model.n_newton_steps_ = int(d["n_newton_steps"])
        model.converged_ = bool(d["converged"])
        model.start_logliks_ = np.asarray(d["start_logliks"], dtype=float)
        model.start_refined_ = np.asarray(d["start_refined"], dtype=bool)
        model.best_start_ = int(d["best_start"])
        model.n_best_starts_ = int(d["n_best_starts"])
        model.removed_segments_ = [dict(r) for r in d["removed_segments"]]
        model.dropped_rows_ = list(d["dropped_rows"])
        model.n_obs_ = int(d["n_obs"])
        model.sum_weights_ = float(d["sum_weights"])
        model.outcome_variance_ = float(d["outcome_variance"])
        return model
