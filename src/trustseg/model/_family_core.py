"""The mixture layer for any outcome family (issue 12).

The Gaussian engine (:mod:`trustseg.model._core`) is specialised to normal
segments; this module holds the same pieces for any family of
:mod:`trustseg.model.families`:

* :class:`FamilyMixtureParams` -- shares, coefficients and extra parameters;
* :func:`family_log_joint` and :func:`family_e_step` -- log pi_k + log f_k(y_i)
  and the posteriors, in log space;
* :func:`family_m_step` -- new shares and one warm-started weighted Newton fit
  per segment (:func:`~trustseg.model.families.fit_segment`): a generalised EM
  step, the expected complete-data log-likelihood never decreases;
* :func:`family_observed_information` -- gradient, Hessian and outer product of
  scores of the weighted mixture log-likelihood by Louis' identity, in the
  parameter layout of :func:`~trustseg.model._core.param_layout` (per segment
  ``(beta_k, extra_k)``, then the logits ``alpha_2..alpha_K`` of the shares);
* :func:`fit_family_mixture` -- multi-start EM with a Newton finish.

``design`` is always the full design: with the intercept column first when
``family.has_intercept`` (:func:`family_design` builds it); ``X`` is the
predictors alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from trustseg.model._core import (
    SAME_OPTIMUM_RTOL,
    SAME_SOLUTION_ATOL,
    add_gradient_outer_terms,
    add_score_terms,
    degenerate_components,
    logit_directions,
    subtract_logit_curvature,
)
from trustseg.model._starts import weighted_kmeans_labels
from trustseg.model.families import (
    NORMAL_FAMILIES,
    SEPARATING_FAMILIES,
    _ascent_step,
    _equation_blocks,
    _outcome_array,
    coefficient_bounds,
    fit_segment,
    linear_predictor,
    on_bounds,
    row_gradients,
    take_rows,
    weighted_second_derivatives,
)

# EM hands over to Newton's method below this relative log-likelihood change: later than this, ordinal
# EM crawls for hundreds of iterations; much earlier, Newton starts outside its basin (measured).
_NEWTON_SWITCH_TOL = 1e-5
# Newton steps per segment and M-step (any number >= 1 keeps EM a generalised EM).
_M_STEP_NEWTON_STEPS = 25
# Segments with a smaller share are dropped during EM (as min_share in the Gaussian engine).
MIN_SHARE = 1e-3
# Floor of the posterior weight a respondent gives a segment fit.  A row of zero
# weight would be dropped by fit_segment, and with it the constraint it carries
# (an ordinal segment with no weight on some answer could cross its thresholds,
# where the "probabilities" no longer sum to one); a tiny positive weight keeps
# every row's log-density finite without changing the fit.
_TINY_WEIGHT = 1e-300
# Rows per chunk of the observed information: bounded memory whatever n is.
_CHUNK_BYTES = 64 * 2**20


class FamilyMixtureParams(NamedTuple):
    """``weights`` (K,), ``beta`` (K, q) (intercept first if the family has one), ``extra`` (K, m)."""

    weights: np.ndarray
    beta: np.ndarray
    extra: np.ndarray


def family_design(family, X):
    """The design of ``family``: ``X`` (n, p) with an intercept column in front when the family has one."""
    X = np.asarray(X, dtype=float)
    X = X.reshape(X.shape[0], -1)
    return np.column_stack([np.ones(X.shape[0]), X]) if family.has_intercept else X


def _predictors(family, design):
    """``design`` without its intercept column (what :func:`fit_segment` takes)."""
    return design[:, 1:] if family.has_intercept else design


def _segment_weights(w, r):
    """``w * r`` with ``r`` floored at :data:`_TINY_WEIGHT` where ``w > 0``."""
    return np.where(w > 0, w * np.maximum(r, _TINY_WEIGHT), 0.0)


# ----------------------------------------------------------------------------
# E- and M-steps
# ----------------------------------------------------------------------------


def family_log_joint(family, design, y, params, data=None):
    """log pi_k + log f_k(y_i) as an (n, K) array."""
    y = np.asarray(y, dtype=float)
    beta = np.asarray(params.beta, dtype=float)
    # (n, K), or (n, K, E) for an equation system (one linear predictor per equation)
    eta = design @ beta.T if _equation_blocks(family) is None else family.linear_predictors(design, beta)
    k = beta.shape[0]
    out = np.empty((len(y), k))
    with np.errstate(divide="ignore"):
        log_pi = np.log(np.asarray(params.weights, dtype=float))
    for j in range(k):
        out[:, j] = log_pi[j] + family.loglik(y, eta[:, j], params.extra[j], data)
    return out


def _posteriors_and_row_loglik(joint):
    """Rows of ``joint`` (n, K) normalised to probabilities, and each row's log-sum-exp (n,).

    scipy's ``logsumexp`` costs several times this on the small arrays of an
    EM step, and EM takes it thousands of times.
    """
    row_max = joint.max(axis=1)
    finite = np.isfinite(row_max)
    shifted = np.exp(joint - np.where(finite, row_max, 0.0)[:, None])
    row_sum = shifted.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        posteriors = shifted / row_sum[:, None]
        loglik_i = np.where(finite, row_max + np.log(row_sum), row_max)
    return posteriors, loglik_i


def family_e_step(family, design, y, params, data=None):
    """Posterior probabilities (n, K) and the per-respondent log-likelihood (n,)."""
    return _posteriors_and_row_loglik(family_log_joint(family, design, y, params, data))


def family_loglik(family, design, y, w, params, data=None):
    """The weighted mixture log-likelihood sum_i w_i log sum_k pi_k f_k(y_i).

    -inf when some segment gives a respondent (of positive weight) density
    zero: outside every family's parameter space (unordered ordinal
    thresholds), where the other segments could otherwise hide it.
    """
    w = np.asarray(w, dtype=float)
    joint = family_log_joint(family, design, y, params, data)
    if not np.all(np.isfinite(joint[w > 0])):
        return -np.inf
    return float(w @ _posteriors_and_row_loglik(joint)[1])


def expected_complete_loglik(family, design, y, w, resp, params, data=None):
    """Q = sum_i w_i sum_k resp_ik (log pi_k + log f_k(y_i)), the function a (G)EM step raises."""
    joint = family_log_joint(family, design, y, params, data)
    weighted = np.asarray(w, dtype=float)[:, None] * resp
    return float(np.sum(np.where(weighted > 0, weighted * joint, 0.0)))


def family_m_step(family, design, y, w, resp, params, data=None, newton_steps=None):
    """New shares and, per segment, a weighted Newton fit warm-started at ``params``.

    Every respondent keeps at least a tiny weight in every segment fit, so the
    segment's parameters stay where every log-density is finite (ordered
    ordinal thresholds).

    ``newton_steps`` limits the Newton iterations per segment (None: to
    convergence); any number >= 1 keeps it a generalised EM step.
    """
    w = np.asarray(w, dtype=float)
    mass = w @ resp
    weights = mass / mass.sum()
    X = _predictors(family, design)
    beta = np.array(params.beta, dtype=float, copy=True)
    extra = np.array(params.extra, dtype=float, copy=True)
    max_iter = 100 if newton_steps is None else int(newton_steps)
    for j in range(resp.shape[1]):
        fit = fit_segment(family, X, y, _segment_weights(w, resp[:, j]), data, start=(beta[j], extra[j]),
                          max_iter=max_iter)
        beta[j], extra[j] = fit.beta, fit.extra
    return FamilyMixtureParams(weights, beta, extra)


# ----------------------------------------------------------------------------
# scores and Hessian of the full mixture likelihood
# ----------------------------------------------------------------------------


def family_param_layout(k, q, m):
    """Positions of each segment's (beta, extra) block and of the logits; and the dimension."""
    block = q + m
    segment_index = [np.arange(j * block, (j + 1) * block) for j in range(k)]
    logit_index = np.arange(k * block, k * block + k - 1)
    return segment_index, logit_index, k * block + k - 1


def pack_params(params):
    """The parameter vector: per segment (beta_k, extra_k), then alpha_2..alpha_K = log(pi_k / pi_1)."""
    weights = np.asarray(params.weights, dtype=float)
    segments = np.column_stack([params.beta, params.extra]).reshape(-1)
    return np.concatenate([segments, np.log(weights[1:]) - np.log(weights[0])])


def unpack_params(theta, k, q, m):
    """Inverse of :func:`pack_params`."""
    theta = np.asarray(theta, dtype=float)
    block = theta[: k * (q + m)].reshape(k, q + m)
    alpha = np.concatenate([[0.0], theta[k * (q + m):]])
    weights = np.exp(alpha - alpha.max())  # a softmax; scipy's logsumexp costs more than the EM step here
    weights /= weights.sum()
    return FamilyMixtureParams(weights, block[:, :q].copy(), block[:, q:].copy())


def family_observed_information(family, design, y, w, params, data=None):
    """Hessian, outer product of scores and gradient of the weighted mixture log-likelihood.

    Louis' identity: with tau_ik the posteriors, g_ik and H_ik the gradient
    and Hessian of l_ik = log pi_k + log f_k(y_i),

        H = sum_i w_i [ sum_k tau_ik (H_ik + g_ik g_ik') - s_i s_i' ],   s_i = sum_k tau_ik g_ik.

    g_ik is zero outside segment k's block and the logits; in the block it is
    ``[x_i d_eta, d_extra]`` from :meth:`family.derivatives`, in the logits
    ``e_k - pi``.  Respondents are processed in chunks.

    Returns
    -------
    hessian : ndarray (D, D)
    score_outer : ndarray (D, D)
        ``sum_i w_i^2 s_i s_i'``.
    gradient : ndarray (D,)
        ``sum_i w_i s_i``.
    """
    y = np.asarray(y, dtype=float)
    w = np.asarray(w, dtype=float)
    beta = np.asarray(params.beta, dtype=float)
    extra = np.asarray(params.extra, dtype=float)
    shares = np.asarray(params.weights, dtype=float)
    k, q = beta.shape
    m = extra.shape[1]
    segment_index, logit_index, dim = family_param_layout(k, q, m)
    hessian = np.zeros((dim, dim))
    score_outer = np.zeros((dim, dim))
    gradient = np.zeros(dim)
    alpha_dir = logit_directions(shares)
    n = len(y)
    chunk = max(1, int(_CHUNK_BYTES // (8 * (dim + k * (q + m) ** 2 + q + 4))))
    total_weight = 0.0
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        dc, yc, wc, datac = design[start:stop], y[start:stop], w[start:stop], take_rows(data, slice(start, stop))
        total_weight += wc.sum()
        joint = family_log_joint(family, dc, yc, params, datac)
        tau = _posteriors_and_row_loglik(joint)[0]
        wtau = tau * wc[:, None]
        scores = np.empty((stop - start, dim))
        for j in range(k):
            d1, d2 = family.derivatives(yc, linear_predictor(family, dc, beta[j]), extra[j], datac)
            block = row_gradients(family, dc, d1)  # g_ik in segment j's block
            index = segment_index[j]
            add_gradient_outer_terms(hessian, scores, index, logit_index, block, tau[:, j : j + 1],
                                     wtau[:, j : j + 1], alpha_dir[j])
            # second derivatives of log f_k, chained to beta through the design
            hessian[np.ix_(index, index)] += weighted_second_derivatives(family, dc, wtau[:, j], d2)
        add_score_terms(hessian, score_outer, gradient, scores, tau, shares, logit_index, wc)
    # second derivatives of log pi_k in the logits: -(diag(pi) - pi pi'), whatever k; sum_k tau_ik = 1
    subtract_logit_curvature(hessian, logit_index, shares, total_weight)
    return hessian, score_outer, gradient


# ----------------------------------------------------------------------------
# multi-start fit
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FamilyStart:
    """Where one start ended: its kind (``"random"`` or ``"kmeans"``), its seed stream and its solution.

    ``params`` is None (and ``loglik`` nan) for a start whose first segment fits failed.
    """

    kind: str
    stream: int | None
    params: FamilyMixtureParams | None
    loglik: float
    n_iter: int
    converged: bool
    stop_reason: str
    seconds: float
    dropped: list = field(default_factory=list)
    #: False for a start that searched a subsample and was not rerun on everyone (its loglik is then the
    #: full-data log-likelihood of its search solution)
    refined: bool = True


@dataclass(frozen=True)
class FamilyMixtureFit:
    """The best solution over the starts.

    ``starts`` records every start (:class:`FamilyStart`), ``start_logliks``
    their final log-likelihoods (nan for a start that could not be fitted);
    ``dropped`` the segments dropped during the best start's EM (its
    iteration, share and effective respondents); ``best_start`` its index.
    """

    params: FamilyMixtureParams
    loglik: float
    start_logliks: np.ndarray
    n_iter: int
    converged: bool
    dropped: list = field(default_factory=list)
    starts: list = field(default_factory=list)
    best_start: int = 0


#: families whose EM is accelerated by SQUAREM (_run_em)
ACCELERATED_FAMILIES = (*NORMAL_FAMILIES, "location_scale", "system")
#: the kinds of start of a family fit: "split" once (deterministic), the others in turn; "lines" and "split"
#: find a small segment that random partitions rarely hit
FAMILY_START_KINDS = ("split", "random", "kmeans", "lines")
DEFAULT_FAMILY_START_KINDS = ("random", "kmeans")
#: the split path's new segment: this share of the respondents the previous solution fits worst
SPLIT_SHARE = 0.1


def start_plan(n_init, start_kinds):
    """The kind and seed stream of each of ``n_init`` starts: a split path first (once), the others in turn.

    A stream is the index of the kind among the random kinds; the
    deterministic split path has none.
    """
    random_kinds = [kind for kind in start_kinds if kind != "split"] or ["random"]
    plan = [("split", None)] if "split" in start_kinds and n_init > 0 else []
    offset = len(plan)
    while len(plan) < n_init:
        stream = (len(plan) - offset) % len(random_kinds)
        plan.append((random_kinds[stream], stream))
    return plan


def _split_path(family, X, design, y, w, k, data, bounds, tol, max_iter, min_share):
    """A start for K segments grown from one: each new segment from the respondents fitted worst so far.

    The path fits one segment, then for k = 2..K gives the
    :data:`SPLIT_SHARE` of respondents with the lowest log-likelihood under
    the k - 1 solution a segment of their own (the others keep their most
    likely segment) and runs EM; a small segment of respondents whom the
    others do not describe (the dissatisfied few) is found this way.
    """
    labels = np.zeros(len(y), dtype=int)
    params = _from_partition(family, X, y, w, labels, 1, data, bounds)
    for size in range(2, k + 1):
        joint = family_log_joint(family, design, y, params, data)
        fit_i = _posteriors_and_row_loglik(joint)[1]
        order = np.argsort(fit_i, kind="stable")
        worst = order[np.cumsum(w[order]) <= SPLIT_SHARE * w.sum()]
        labels = joint.argmax(axis=1)
        labels[worst] = size - 1
        params = _from_partition(family, X, y, w, labels, size, data, bounds)
        if size < k:
            params = _run_em(family, design, y, w, params, data, max(tol, _NEWTON_SWITCH_TOL), max_iter, min_share,
                             bounds)[0]
            if len(params.weights) < size:  # a segment vanished on the way: no path to K
                raise ValueError("the split path lost a segment")
    return params


def _lines_partition(family, X, design, y, w, k, data, rng, extra):
    """K segment fits to a few random respondents each; every respondent joins the one it fits best.

    The gaussian engine's random lines for any family: each segment is fitted
    to ``q + m + 2`` random respondents (q coefficients, m extras), and the
    respondents are assigned by their log-density under each fit with the
    extras of one segment fitted to everyone (so a line through a handful of
    points, with its tiny residual SD, does not claim nobody).
    """
    positive = np.flatnonzero(w > 0)
    size = min(positive.size, design.shape[1] + family.n_extra() + 2)
    fit_density = np.empty((len(y), k))
    for j in range(k):
        rows = rng.choice(positive, size=size, replace=False)
        with np.errstate(all="ignore"):
            fit = fit_segment(family, X[rows], y[rows], np.ones(size), take_rows(data, rows), max_iter=25)
            fit_density[:, j] = family.loglik(y, linear_predictor(family, design, fit.beta), extra, data)
    return np.where(np.isfinite(fit_density), fit_density, -np.inf).argmax(axis=1)


def _random_partition(n, k, rng):
    labels = rng.integers(k, size=n)
    labels[rng.permutation(n)[:k]] = np.arange(k)  # every segment non-empty
    return labels


def _kmeans_partition(points, w, k, rng, n_lloyd=25):
    """Weighted k-means labels of the standardised points (the Gaussian engine's k-means)."""
    points = (points - points.mean(axis=0)) / np.maximum(points.std(axis=0), 1e-12)
    return weighted_kmeans_labels(points, w, k, rng, n_lloyd)


def _clamp(params, bounds):
    """``params`` inside the box ``bounds`` (a variance floor on log sigma, the separation limits)."""
    if bounds is None:
        return params
    return FamilyMixtureParams(params.weights, np.clip(params.beta, bounds.beta_low, bounds.beta_high),
                               np.clip(params.extra, bounds.extra_low, bounds.extra_high))


def _bounded_m_step(family, design, y, w, resp, params, data, bounds):
    """The M-step kept inside ``bounds``: a clamped segment that lost Q keeps its old parameters (GEM).

    For a normal segment on the variance floor the clamp is the constrained
    M-step exactly (its expected log-likelihood is concave in log sigma, and
    its coefficients do not depend on sigma).
    """
    # A separated segment's Newton fit has no optimum to converge to: a few steps keep it a GEM step.  A normal
    # family's M-step is nearly quadratic and warm-started at the last one, so one step gets almost all of it, at
    # a third of the cost (measured on the golf fits; the Newton finish polishes the optimum either way).
    steps = 1 if family.name in ACCELERATED_FAMILIES else _M_STEP_NEWTON_STEPS
    new = family_m_step(family, design, y, w, resp, params, data, newton_steps=steps)
    clamped = _clamp(new, bounds)
    if clamped is new or (np.array_equal(clamped.beta, new.beta) and np.array_equal(clamped.extra, new.extra)):
        return new
    beta, extra = clamped.beta.copy(), clamped.extra.copy()
    for j in range(len(new.weights)):
        if np.array_equal(beta[j], new.beta[j]) and np.array_equal(extra[j], new.extra[j]):
            continue
        weights = _segment_weights(w, resp[:, j])
        with np.errstate(all="ignore"):
            q_clamped = float(weights @ family.loglik(y, linear_predictor(family, design, beta[j]), extra[j], data))
            q_old = float(weights @ family.loglik(y, linear_predictor(family, design, params.beta[j]),
                                                  params.extra[j], data))
        if not q_clamped >= q_old:
            beta[j], extra[j] = params.beta[j], params.extra[j]
    return FamilyMixtureParams(new.weights, beta, extra)


def _from_partition(family, X, y, w, labels, k, data, bounds=None):
    beta, extra = [], []
    for j in range(k):
        fit = fit_segment(family, X, y, _segment_weights(w, (labels == j).astype(float)), data)
        beta.append(fit.beta)
        extra.append(fit.extra)
    mass = np.array([w[labels == j].sum() for j in range(k)])
    return _clamp(FamilyMixtureParams(mass / mass.sum(), np.array(beta), np.array(extra).reshape(k, -1)), bounds)


def _run_em(family, design, y, w, params, data, tol, max_iter, min_share=MIN_SHARE, bounds=None):
    """EM from ``params`` to a relative change below ``tol``; returns params, loglik, iterations, dropped.

    Every M-step stays inside ``bounds`` (:func:`coefficient_bounds`): a
    variance floor keeps a normal segment from collapsing onto a single
    answer value, where the likelihood is unbounded; the separation limits
    keep a perfectly predicted segment's coefficients finite.

    For the normal families and equation systems EM is accelerated by
    SQUAREM (Varadhan and Roland 2008), as the gaussian engine's: every
    cycle takes two EM steps, extrapolates along them and takes one EM step
    from there, and falls back to the two plain steps when the extrapolated
    point is worse, so the log-likelihood never decreases.  (Ordinal,
    binomial and poisson fits keep plain EM: their bounded, separating
    segments were measured with it, and their Newton M-steps converge in
    few EM steps anyway.)  ``n_iter`` counts E-steps.
    """
    accelerate = family.name in ACCELERATED_FAMILIES
    dropped = []
    separating = bounds is not None and family.name in SEPARATING_FAMILIES
    n_params = design.shape[1] + family.n_extra()
    loglik = -np.inf
    converged = False
    n_iter = 0
    alpha_max = 1.0
    resp = loglik_i = None
    while n_iter < max_iter:
        n_iter += 1
        if resp is None:
            resp, loglik_i = family_e_step(family, design, y, params, data)
        new = float(w @ loglik_i)
        bad, reasons = degenerate_components(w, resp, min_share, n_params)
        if bad.any() and len(params.weights) > 1:
            dropped += [{"iteration": n_iter, "segment": j, **reason} for j, reason in reasons.items()]
            keep = ~bad if (~bad).any() else np.arange(len(bad)) == int(np.argmax(w @ resp))
            weights = params.weights[keep] / params.weights[keep].sum()
            params = FamilyMixtureParams(weights, params.beta[keep], params.extra[keep])
            loglik, resp = -np.inf, None
            continue
        change = abs(new - loglik) if np.isfinite(loglik) else np.inf
        # a separated segment only creeps towards a supremum: it is settled at the looser tolerance
        settled = tol if not separating or not on_bounds(params, bounds).any() else max(tol, _NEWTON_SWITCH_TOL)
        if change <= settled * max(1.0, abs(new)):
            loglik = new
            converged = True
            break
        loglik = new
        start = params
        params = _bounded_m_step(family, design, y, w, resp, params, data, bounds)
        resp = None
        if n_iter >= max_iter or not accelerate:
            continue
        # SQUAREM: a second EM step, then the extrapolation along the two
        resp1, loglik_i1 = family_e_step(family, design, y, params, data)
        loglik1 = float(w @ loglik_i1)
        if degenerate_components(w, resp1, min_share, n_params)[0].any() or not np.isfinite(loglik1):
            resp, loglik_i = resp1, loglik_i1  # the loop drops the segment (or stops) from here
            continue
        n_iter += 1
        second = _bounded_m_step(family, design, y, w, resp1, params, data, bounds)
        theta0, theta1, theta2 = pack_params(start), pack_params(params), pack_params(second)
        r = theta1 - theta0
        v = theta2 - theta1 - r
        v_norm = float(np.sqrt(v @ v))
        k, q = start.beta.shape
        if v_norm == 0.0 or not np.all(np.isfinite(v)):
            params = second
            continue
        alpha = min(-1.0, max(-float(np.sqrt(r @ r)) / v_norm, -alpha_max))
        jumped = _clamp(unpack_params(theta0 - 2 * alpha * r + alpha**2 * v, k, q, start.extra.shape[1]), bounds)
        with np.errstate(all="ignore"):
            resp_x, loglik_ix = family_e_step(family, design, y, jumped, data)
        loglik_x = float(w @ loglik_ix) if np.all(np.isfinite(loglik_ix[w > 0])) else -np.inf
        if (not np.isfinite(loglik_x) or loglik_x < loglik1
                or degenerate_components(w, resp_x, min_share, n_params)[0].any()):
            params = second  # the extrapolation overshot: keep the two plain EM steps
            alpha_max = max(1.0, alpha_max / 4) if alpha == -alpha_max else alpha_max
            continue
        if alpha == -alpha_max:
            alpha_max *= 4
        params, resp, loglik_i = jumped, resp_x, loglik_ix
    return params, loglik, n_iter, converged, dropped


def _at_bound(params, bounds):
    return bool(on_bounds(params, bounds, rtol=1e-9).any())


def _newton_finish(family, design, y, w, params, data, max_steps=25, bounds=None):
    """Newton steps with step halving on the full mixture log-likelihood; keep EM's solution if no gain.

    Returns the parameters, their log-likelihood and whether Newton converged
    (a Newton step with a decrement below 1e-14 relative).  A solution with
    a parameter on its bound is a boundary maximum, where Newton's
    unconstrained step does not apply: it is returned as EM left it.
    """
    k, q = params.beta.shape
    m = params.extra.shape[1]
    theta = pack_params(params)
    loglik = family_loglik(family, design, y, w, params, data)
    if _at_bound(params, bounds):
        return params, loglik, False
    converged = False
    for _ in range(max_steps):
        hessian, _, gradient = family_observed_information(family, design, y, w, unpack_params(theta, k, q, m), data)
        step, newton = _ascent_step(gradient, hessian)
        decrement = float(gradient @ step)
        size = 1.0
        improved = False
        for _ in range(30):
            candidate = theta + size * step
            trial = unpack_params(candidate, k, q, m)
            value = family_loglik(family, design, y, w, trial, data)
            if np.isfinite(value) and value >= loglik and not _at_bound(trial, bounds):
                improved = True
                break
            size *= 0.5
        if not improved:
            break
        theta, loglik = candidate, value
        if newton and decrement <= 1e-14 * max(1.0, abs(loglik)):
            converged = True
            break
    return unpack_params(theta, k, q, m), loglik, converged


def fit_family_mixture(family, X, y, k, w=None, data=None, n_init=10, random_state=None, tol=1e-10,
                       max_iter=2000, min_share=MIN_SHARE, extra_lower=None, starts_from=(),
                       search_subsample=None, n_full_runs=2, escape=True,
                       start_kinds=DEFAULT_FAMILY_START_KINDS) -> FamilyMixtureFit:
    """Multi-start EM with a Newton finish for a mixture of ``k`` segments of ``family``.

    Starts take the kinds ``start_kinds`` in turn: random partitions of the
    respondents, k-means partitions of the standardised (x, y) points, and
    "lines" (:func:`_lines_partition`), each kind its own seed stream (its
    index in ``start_kinds``); each segment starts from a weighted fit on its
    part.
    Segments whose share falls below ``min_share`` or with fewer effective
    respondents than parameters are dropped (recorded in ``dropped``) and EM
    continues with one segment less.  ``extra_lower`` (m,) bounds the extra
    parameters from below (a variance floor as a bound on log sigma).
    ``starts_from`` are further starts (:class:`FamilyMixtureParams` with
    ``k`` segments, kind ``"given"``, no seed stream), run after the others.

    The solution keeps the most segments, then the highest log-likelihood;
    it gets Newton steps on the full mixture likelihood at the end.

    With more respondents than ``search_subsample``, the ``n_init`` starts
    search a random subsample of that size and the ``n_full_runs`` best
    distinct solutions run again on everyone (as the gaussian engine does);
    the other starts keep the full-data log-likelihood of their search
    solution (``refined`` False).

    With ``escape``, an ordinal solution in which a segment's outer
    threshold has run away (:func:`runaway_thresholds_reset`) is offered one
    more start with that threshold pulled back, recorded as kind
    ``"escape"``; it replaces the solution only by a higher log-likelihood.
    """
    y = _outcome_array(family, y)
    X = np.asarray(X, dtype=float).reshape(len(y), -1)
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=float).reshape(-1)
    settings = {"tol": tol, "max_iter": max_iter, "min_share": min_share, "extra_lower": extra_lower}
    if search_subsample is not None and len(y) > search_subsample and n_init > 0:
        fit = _fit_from_subsample(family, X, y, k, w, data, n_init, random_state, tol, max_iter, min_share,
                                  extra_lower, starts_from, int(search_subsample), int(n_full_runs),
                                  tuple(start_kinds))
    else:
        fit = _fit_starts(family, X, y, k, w, data, n_init, random_state, tol, max_iter, min_share, extra_lower,
                          starts_from, tuple(start_kinds))
    reset = runaway_thresholds_reset(family, fit.params) if escape else None
    if reset is None:
        return fit
    rerun = _fit_starts(family, X, y, len(reset.weights), w, data, 0, None, starts_from=[reset], **settings)
    starts = fit.starts + [replace(rerun.starts[0], kind="escape")]
    return _best_of(starts)


#: an ordinal segment's outer threshold this many logits beyond its neighbour leaves the end answer
#: all but impossible in that segment (odds below e^-8 at any predictor value near the others)
RUNAWAY_THRESHOLD_GAP = 8.0


def runaway_thresholds_reset(family, params):
    """An ordinal solution with each runaway outer threshold pulled back next to its neighbour, or None.

    EM can leave a local optimum in which one segment never gives an end
    answer (its outer threshold runs off towards infinity, where the
    likelihood is flat in it, so EM cannot bring it back); the other
    segments then take those answers.  The threshold is put back a typical
    gap (the median of the segments' gaps that have not run away) from its
    neighbour.  None for other families and when no threshold has run away.
    """
    if family.name != "ordinal" or params is None or params.extra.shape[1] < 2:
        return None
    gaps = np.diff(params.extra, axis=1)
    runaway = gaps > RUNAWAY_THRESHOLD_GAP
    if not (runaway[:, 0].any() or runaway[:, -1].any()):
        return None
    typical = float(np.median(gaps[~runaway])) if (~runaway).any() else 1.0
    extra = params.extra.copy()
    for j in range(len(extra)):
        if runaway[j, 0]:
            extra[j, 0] = extra[j, 1] - typical
        if runaway[j, -1]:
            extra[j, -1] = extra[j, -2] + typical
    return FamilyMixtureParams(params.weights.copy(), params.beta.copy(), extra)


def _best_of(starts):
    """The fit of the best start: the most segments, then the highest log-likelihood, then the first."""
    fitted = [s for s, start in enumerate(starts) if start.params is not None and start.refined]
    if not fitted:
        raise ValueError("no start of the mixture could be fitted")
    best = min(fitted, key=lambda s: (-len(starts[s].params.weights), -starts[s].loglik, s))
    chosen = starts[best]
    return FamilyMixtureFit(chosen.params, chosen.loglik, np.array([s.loglik for s in starts]), chosen.n_iter,
                            chosen.converged, chosen.dropped, starts, best)


def _fit_starts(family, X, y, k, w, data, n_init, random_state, tol, max_iter, min_share, extra_lower, starts_from,
                start_kinds=DEFAULT_FAMILY_START_KINDS):
    """The random, k-means, lines and given starts of :func:`fit_family_mixture` on all of the rows given."""
    data = family.prepare(y, data)
    bounds = coefficient_bounds(family, X, w, extra_lower)
    design = family_design(family, X)
    rng = np.random.default_rng(random_state)
    points = np.column_stack([X, y])
    pooled = None
    plan = start_plan(n_init, start_kinds)
    starts = []
    for s in range(n_init + len(starts_from)):
        started = time.perf_counter()
        if s >= n_init:
            kind, stream = "given", None
            params = _clamp(starts_from[s - n_init], bounds)
        else:
            kind, stream = plan[s]
            try:
                if kind == "split":
                    labels = None
                    params = _split_path(family, X, design, y, w, k, data, bounds, tol, max_iter, min_share)
                elif kind == "random":
                    labels = _random_partition(len(y), k, rng)
                elif kind == "kmeans":
                    labels = _kmeans_partition(points, w, k, rng)
                else:
                    if pooled is None:  # one segment's extras: every line's residuals on the same scale
                        pooled = fit_segment(family, X, y, w, data).extra
                    labels = _lines_partition(family, X, design, y, w, k, data, rng, pooled)
                if labels is not None:
                    params = _from_partition(family, X, y, w, labels, k, data, bounds)
            except ValueError:
                starts.append(FamilyStart(kind, stream, None, np.nan, 0, False, "failed",
                                          time.perf_counter() - started))
                continue
        # EM to a loose tolerance, then Newton on the full likelihood (quadratic where EM crawls);
        # where Newton cannot finish (a bound, an indefinite Hessian) EM goes on to ``tol``
        params, loglik, n_iter, converged, dropped = _run_em(family, design, y, w, params, data,
                                                             max(tol, _NEWTON_SWITCH_TOL), max_iter, min_share,
                                                             bounds)
        if converged:
            polished, polished_loglik, finished = _newton_finish(family, design, y, w, params, data,
                                                                 bounds=bounds)
            # Newton may shift a share below min_share, which EM would have removed: keep EM's solution then
            if polished_loglik >= loglik and polished.weights.min() >= min_share:
                params, loglik = polished, polished_loglik
            if not finished and tol < _NEWTON_SWITCH_TOL:
                params, loglik, more, converged, later = _run_em(family, design, y, w, params, data, tol,
                                                                 max(1, max_iter - n_iter), min_share, bounds)
                n_iter, dropped = n_iter + more, dropped + later
        starts.append(FamilyStart(kind, stream, params, float(loglik), n_iter, converged,
                                  "converged" if converged else "iteration cap", time.perf_counter() - started,
                                  dropped))
    if not any(start.params is not None for start in starts):
        raise ValueError(f"no start of the {family.name} mixture with {k} segments could be fitted")
    return _best_of(starts)


def _fit_from_subsample(family, X, y, k, w, data, n_init, random_state, tol, max_iter, min_share, extra_lower,
                        starts_from, size, n_full_runs, start_kinds=DEFAULT_FAMILY_START_KINDS):
    """:func:`fit_family_mixture`'s starts on a subsample, the best distinct solutions rerun on everyone."""
    rng = np.random.default_rng(random_state)
    rows = np.sort(rng.choice(len(y), size=size, replace=False))
    settings = {"tol": tol, "max_iter": max_iter, "min_share": min_share, "extra_lower": extra_lower}
    search = _fit_starts(family, X[rows], y[rows], k, w[rows], take_rows(data, rows), n_init, rng,
                         starts_from=(), start_kinds=start_kinds, **settings)
    scale = solution_scale(family, X[rows], y[rows], w[rows])
    fitted = sorted((s for s, start in enumerate(search.starts) if start.params is not None),
                    key=lambda s: (-len(search.starts[s].params.weights), -search.starts[s].loglik, s))
    leaders = []
    for s in fitted:
        if not any(same_family_solution(search.starts[s], search.starts[t], scale) for t in leaders):
            leaders.append(s)
        if len(leaders) == n_full_runs:
            break
    full = _fit_starts(family, X, y, k, w, data, 0, rng,
                       starts_from=[search.starts[s].params for s in leaders] + list(starts_from), **settings)
    data = family.prepare(y, data)
    design = family_design(family, X)
    starts = []
    for s, start in enumerate(search.starts):
        # a start whose search ended at a leader's solution reached what that leader reached on everyone
        twin = next((t for t in leaders if start.params is not None
                     and same_family_solution(start, search.starts[t], scale)), None) if s not in leaders else None
        if twin is not None:
            run = full.starts[leaders.index(twin)]
            starts.append(FamilyStart(start.kind, start.stream, run.params, run.loglik, start.n_iter, run.converged,
                                      run.stop_reason, start.seconds, start.dropped))
        elif s in leaders:
            run = full.starts[leaders.index(s)]
            starts.append(FamilyStart(start.kind, start.stream, run.params, run.loglik, start.n_iter + run.n_iter,
                                      run.converged, run.stop_reason, start.seconds + run.seconds,
                                      start.dropped + run.dropped))
        else:
            loglik = np.nan if start.params is None else family_loglik(family, design, y, w, start.params, data)
            starts.append(FamilyStart(start.kind, start.stream, start.params, float(loglik), start.n_iter,
                                      start.converged, start.stop_reason, start.seconds, start.dropped, refined=False))
    starts += full.starts[len(leaders):]
    return _best_of(starts)


def solution_scale(family, X, y, w):
    """Per-parameter scales on which two solutions are compared: slopes per predictor SD, outcome SDs."""
    if hasattr(family, "solution_scale"):
        return family.solution_scale(X, y, w)
    total = w.sum()
    sd_x = np.sqrt(w @ (X - w @ X / total) ** 2 / total)
    sd_y = float(np.sqrt(w @ (y - w @ y / total) ** 2 / total)) if family.name in NORMAL_FAMILIES else 1.0
    coef = np.concatenate([[1.0 / sd_y] if family.has_intercept else [], sd_x / sd_y])
    return np.concatenate([coef, np.ones(family.n_extra())])


def same_family_solution(a, b, scale, atol=SAME_SOLUTION_ATOL):
    """Whether two starts (:class:`FamilyStart`) hold the same solution up to segment order.

    The rule of the gaussian engine's :func:`~trustseg.model._core.same_solution`:
    log-likelihoods within ``SAME_OPTIMUM_RTOL``, and the best matching of
    segments (Hungarian algorithm) agreeing within ``atol`` in every
    parameter on the common ``scale`` (:func:`solution_scale`) and in the shares.
    """
    if len(a.params.weights) != len(b.params.weights):
        return False
    if abs(a.loglik - b.loglik) > SAME_OPTIMUM_RTOL * max(1.0, abs(b.loglik)):
        return False

    def profile(params):
        return np.column_stack([np.column_stack([params.beta, params.extra]) * scale, params.weights])

    pa, pb = profile(a.params), profile(b.params)
    cost = np.abs(pa[:, None, :] - pb[None, :, :]).max(axis=2)
    rows, cols = linear_sum_assignment(cost)
    return bool(cost[rows, cols].max() <= atol)
