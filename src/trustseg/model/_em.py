"""The EM algorithm of the estimator: runs, starts and the Newton finish.

Every likelihood computation (E-step, M-step, degenerate-segment rule,
scores and Hessian) comes from :mod:`trustseg.model._core`; this module
only orders them: EM (or CEM) iterations from a start, the starts
themselves (random partitions, or given parameters), and safeguarded Newton
steps that finish EM with quadratic convergence.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from trustseg.model._core import (
    MixtureParams,
    degenerate_segments,
    e_step,
    log_joint,
    m_step,
    mixture_loglik,
    observed_information,
)


class RunState:
    """Parameters of one start while EM runs on it."""

    def __init__(self, shares, coefs, variances, residuals, labels):
        self.shares, self.coefs, self.variances = shares, coefs, variances
        self.residuals = residuals
        self.labels = labels  # original component ids still alive
        self.loglik = -np.inf
        self.n_iter = 0
        self.converged = False
        self.stop_reason = ""
        self.moves = 0  # split-and-merge moves taken from local optima
        self.removed = []


def run_em(problem, state, settings, max_iter, start_id, stage, tol=None):
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
        resp, loglik_i = e_step(problem, state.residuals, state.shares, state.variances)
        if hard:
            assign = resp.argmax(axis=1)
            joint = log_joint(state.residuals, state.shares, state.variances)
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
        degenerate, reasons = degenerate_segments(problem, resp, settings["min_share"])
        if degenerate.any() and degenerate.sum() < len(degenerate):
            for j, reason in reasons.items():
                state.removed.append({
                    "start": int(start_id), "component": int(state.labels[j]), "stage": stage,
                    "iteration": int(state.n_iter), **reason,
                })
            keep = ~degenerate
            resp_w = resp_w[:, keep]
            state.labels = state.labels[keep]
            previous, previous_labels = -np.inf, None
        state.shares, state.coefs, state.variances, state.residuals = m_step(
            problem, resp_w, hard, settings["var_floor"]
        )
    state.stop_reason = "converged" if state.converged else "iteration cap"
    if not state.converged and not hard:
        # the last M-step moved the parameters: report the likelihood they reach
        _, loglik_i = e_step(problem, state.residuals, state.shares, state.variances)
        state.loglik = float(problem.w @ loglik_i)
    return state


def _pack(state):
    return np.concatenate([state.coefs.ravel(), np.log(state.variances), np.log(state.shares)])


def _unpack(problem, theta, k, var_floor):
    q = problem.p + 1
    coefs = theta[: k * q].reshape(k, q)
    variances = np.maximum(np.exp(theta[k * q : k * q + k]), var_floor)
    shares = np.exp(theta[k * q + k :] - theta[k * q + k :].max())
    shares /= shares.sum()
    residuals = problem.y[:, None] - problem.design @ coefs.T
    return shares, coefs, variances, residuals


def _em_step(problem, state, settings, start_id, stage):
    """One EM map from ``state`` (mutated): returns the log-likelihood at the input and
    whether a degenerate segment was removed (the parameter space changed)."""
    resp, loglik_i = e_step(problem, state.residuals, state.shares, state.variances)
    loglik = float(problem.w @ loglik_i)
    state.n_iter += 1
    resp_w = resp * problem.w[:, None]
    degenerate, reasons = degenerate_segments(problem, resp, settings["min_share"])
    removed = bool(degenerate.any() and degenerate.sum() < len(degenerate))
    if removed:
        for j, reason in reasons.items():
            state.removed.append({
                "start": int(start_id), "component": int(state.labels[j]), "stage": stage,
                "iteration": int(state.n_iter), **reason,
            })
        keep = ~degenerate
        resp_w = resp_w[:, keep]
        state.labels = state.labels[keep]
    state.shares, state.coefs, state.variances, state.residuals = m_step(
        problem, resp_w, False, settings["var_floor"]
    )
    return loglik, removed


def _cannot_catch_up(history, target):
    """True when a run's log-likelihood, extrapolated generously, stays below ``target``.

    EM converges linearly: the remaining gain is about ``d r / (1 - r)`` for
    the last increase ``d`` and rate ``r``.  The largest of the last three
    rates (at least 0.99, so the bound allows 99 more steps of the last size)
    keeps the bound conservative; the run must also be 1 unit or a relative
    1e-6 below the target.
    """
    if target is None or len(history) < 4:
        return False
    deltas = np.diff(history[-4:])
    if np.any(deltas < 0):
        return False
    rates = deltas[1:] / np.maximum(deltas[:-1], 1e-300)
    rate = min(max(0.99, float(rates.max())), 0.999)
    bound = history[-1] + deltas[-1] * rate / (1 - rate)
    return bound < target - max(1.0, 1e-6 * abs(target))


def run_squarem(problem, state, settings, max_iter, start_id, stage, tol=None, target=None):
    """Maximum-likelihood EM accelerated by SQUAREM (Varadhan and Roland 2008), kept monotone.

    Each cycle takes two EM steps, extrapolates along them (step length
    ``alpha`` in ``[-alpha_max, -1]``, on coefficients, log variances and log
    shares) and takes one EM step from the extrapolated point; when that point
    lowers the log-likelihood the cycle falls back to the plain EM steps, so
    the log-likelihood never decreases.  ``n_iter`` counts EM steps.  With a
    ``target`` (the best log-likelihood reached so far) a run that cannot
    catch up with it is stopped (``stop_reason`` "pruned").
    """
    tol = settings["tol"] if tol is None else tol
    state.converged = False
    state.stop_reason = "iteration cap"
    alpha_max = 1.0
    previous = -np.inf
    history = []
    while state.n_iter < max_iter:
        start_params = (state.shares, state.coefs, state.variances, state.residuals)
        theta0 = _pack(state)
        loglik0, removed = _em_step(problem, state, settings, start_id, stage)
        state.loglik = loglik0
        if removed:
            # fewer segments now: the saved parameters and the history no longer apply
            previous, history = -np.inf, []
            continue
        if abs(loglik0 - previous) <= tol * abs(loglik0):
            state.shares, state.coefs, state.variances, state.residuals = start_params
            state.converged, state.stop_reason = True, "converged"
            return state
        previous = loglik0
        history.append(loglik0)
        if _cannot_catch_up(history, target):
            state.stop_reason = "pruned"
            return state
        if state.n_iter >= max_iter:
            continue
        theta1 = _pack(state)
        loglik1, removed = _em_step(problem, state, settings, start_id, stage)
        if removed:
            previous, history = -np.inf, []
            continue
        fallback = (state.shares, state.coefs, state.variances, state.residuals)
        r = theta1 - theta0
        v = _pack(state) - theta1 - r
        v_norm = float(np.sqrt(v @ v))
        if v_norm == 0.0 or state.n_iter >= max_iter:
            continue
        alpha = min(-1.0, max(-float(np.sqrt(r @ r)) / v_norm, -alpha_max))
        k = len(state.shares)
        state.shares, state.coefs, state.variances, state.residuals = _unpack(
            problem, theta0 - 2 * alpha * r + alpha**2 * v, k, settings["var_floor"]
        )
        labels = state.labels
        loglik_x, removed = _em_step(problem, state, settings, start_id, stage)
        if removed or not np.isfinite(loglik_x) or loglik_x < loglik1:
            # the extrapolation overshot: keep the two plain EM steps
            if removed:
                state.labels, state.removed = labels, [r_ for r_ in state.removed if r_["iteration"] != state.n_iter]
            state.shares, state.coefs, state.variances, state.residuals = fallback
            alpha_max = max(1.0, alpha_max / 4) if alpha == -alpha_max else alpha_max
        elif alpha == -alpha_max:
            alpha_max *= 4
    # the last step moved the parameters: report the likelihood they reach
    _, loglik_i = e_step(problem, state.residuals, state.shares, state.variances)
    state.loglik = float(problem.w @ loglik_i)
    return state


def newton_polish(problem, state, settings, max_steps=25):
    """Newton's method on the full mixture likelihood from an EM solution.

    Works on the original scale in the parametrisation of
    :func:`~trustseg.model._core.observed_information` (coefficients, log sigma, logits).  Steps are
    halved until the likelihood rises; variances never go below the floor,
    and a variance on the floor that the likelihood pulls further down is held
    there (a constrained optimum; Newton runs on the other parameters).
    Returns a new converged state, or None when Newton cannot finish (an
    indefinite Hessian, no ascent).
    """
    var_floor, tol = settings["var_floor"], settings["tol"]
    k, p = len(state.shares), problem.p
    # a variance on its floor stays there (its log sigma is left out of the
    # Newton step) as long as the likelihood pulls it down: the optimum is
    # then a constrained one, and Newton runs on the other parameters
    on_floor = state.variances <= var_floor * (1 + 1e-9)
    log_sigma_at = np.arange(k) * (p + 2) + p + 1
    slopes = state.coefs[:, 1:]
    intercepts = problem.original_intercepts(state.coefs)
    log_sigma = np.where(on_floor, 0.5 * np.log(var_floor), 0.5 * np.log(state.variances))
    theta = np.concatenate([
        np.column_stack([intercepts, slopes, log_sigma]).ravel(),
        np.log(state.shares[1:] / state.shares[0]),
    ])

    def unpack(values):
        blocks = values[: k * (p + 2)].reshape(k, p + 2)
        logits = np.concatenate([[0.0], values[k * (p + 2) :]])
        variances = np.maximum(np.exp(2 * blocks[:, p + 1]), var_floor)
        return blocks[:, : p + 1], variances, np.exp(logits - logsumexp(logits))

    def centred_loglik(values):
        betas, variances, shares = unpack(values)
        coefs = betas.copy()
        coefs[:, 0] = problem.centred_intercepts(betas[:, 0], betas[:, 1:])
        loglik, residuals = mixture_loglik(problem, shares, coefs, variances)
        return loglik, coefs, variances, shares, residuals

    current = centred_loglik(theta)
    steps = 0
    for _ in range(max_steps):
        betas, variances, shares = unpack(theta)
        params = MixtureParams(betas[:, 0], betas[:, 1:], np.sqrt(variances), shares)
        hessian, _, gradient = observed_information(params, problem.X, problem.y_raw, problem.w)
        fixed = log_sigma_at[on_floor & (gradient[log_sigma_at] <= 0)]
        free = np.setdiff1d(np.arange(len(theta)), fixed)
        step = np.zeros_like(theta)
        try:
            sub = hessian[np.ix_(free, free)]
            np.linalg.cholesky(-sub)
            step[free] = -np.linalg.solve(sub, gradient[free])
        except np.linalg.LinAlgError:
            return None
        gradient = np.where(np.isin(np.arange(len(theta)), fixed), 0.0, gradient)
        decrement = float(gradient @ step)  # Newton decrement: predicted gain x 2
        # stop when the predicted gain is negligible against both tol and the
        # rounding level of the log-likelihood (one extra step is cheap)
        if decrement <= min(2 * tol, 1e-12) * abs(current[0]):
            break
        for _ in range(40):
            # a full step can overshoot to an infinite variance: its NaN/-inf
            # log-likelihood fails the test below and the step is halved
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                candidate = centred_loglik(theta + step)
            if candidate[0] >= current[0]:
                break
            step = step / 2
        else:
            if steps and decrement <= 1e-9 * abs(current[0]):
                break  # no ascent left at rounding level: we are at the maximum
            return None
        theta, current = theta + step, candidate
        theta[log_sigma_at] = np.maximum(theta[log_sigma_at], 0.5 * np.log(var_floor))
        on_floor = current[2] <= var_floor * (1 + 1e-9)
        steps += 1
    else:
        return None
    loglik, coefs, variances, shares, residuals = current
    polished = RunState(shares, coefs, variances, residuals, state.labels)
    polished.loglik = loglik
    polished.n_iter = state.n_iter
    polished.removed = state.removed
    polished.moves = state.moves
    polished.converged = True
    polished.newton_steps = steps
    return polished




# ----------------------------------------------------------------------------
# the estimator
# ----------------------------------------------------------------------------


def start_from_params(problem, params, settings):
    """A run state from given parameters on the original scale (a warm start).

    Variances are raised to the floor and shares renormalised, so any
    solution of the same model (the full-sample fit, a generating model, a
    split segment) is a valid start.
    """
    params = MixtureParams.coerce(params)
    coefs = np.column_stack([
        problem.centred_intercepts(params.intercept, params.coef),
        params.coef,
    ])
    variances = np.maximum(params.sigma**2, settings["var_floor"])
    shares = np.clip(params.weights, 1e-300, None)
    shares = shares / shares.sum()
    residuals = problem.y[:, None] - problem.design @ coefs.T
    return RunState(shares, coefs, variances, residuals, np.arange(len(shares)))


def transfer_state(problem, state):
    """A search-sample state as a start on ``problem`` (same centring: a subset shares its parent's means)."""
    moved = RunState(state.shares.copy(), state.coefs.copy(), state.variances.copy(),
                     problem.y[:, None] - problem.design @ state.coefs.T, state.labels.copy())
    moved.moves = state.moves
    return moved
