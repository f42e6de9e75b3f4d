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
    if not state.converged and not hard:
        # the last M-step moved the parameters: report the likelihood they reach
        _, loglik_i = e_step(problem, state.residuals, state.shares, state.variances)
        state.loglik = float(problem.w @ loglik_i)
    return state


def start_from_partition(problem, k, rng, settings):
    labels = rng.integers(0, k, size=problem.n)
    # every segment gets at least p + 2 respondents so its regression exists
    need = problem.p + 2
    order = rng.permutation(problem.n)[: k * need]
    labels[order] = np.repeat(np.arange(k), need)
    resp_w = np.zeros((problem.n, k))
    resp_w[np.arange(problem.n), labels] = problem.w
    if (resp_w.sum(axis=0) <= 0).any():
        resp_w += 1e-12
    shares, coefs, variances, residuals = m_step(
        problem, resp_w, settings["method"] == "cem", settings["var_floor"]
    )
    return RunState(shares, coefs, variances, residuals, np.arange(k))


def newton_polish(problem, state, settings, max_steps=25):
    """Newton's method on the full mixture likelihood from an EM solution.

    Works on the original scale in the parametrisation of
    :func:`~trustseg.model._core.observed_information` (coefficients, log sigma, logits).  Steps are
    halved until the likelihood rises and every variance stays above the
    floor.  Returns a new converged state, or None when Newton cannot finish
    (a variance on its floor, an indefinite Hessian, no ascent).
    """
    var_floor, tol = settings["var_floor"], settings["tol"]
    if np.any(state.variances <= var_floor * (1 + 1e-9)):
        return None  # constrained optimum: the floor binds, EM handles it
    k, p = len(state.shares), problem.p
    slopes = state.coefs[:, 1:]
    intercepts = problem.original_intercepts(state.coefs)
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
        coefs[:, 0] = problem.centred_intercepts(betas[:, 0], betas[:, 1:])
        loglik, residuals = mixture_loglik(problem, shares, coefs, variances)
        return loglik, coefs, variances, shares, residuals

    current = centred_loglik(theta)
    steps = 0
    for _ in range(max_steps):
        betas, variances, shares = unpack(theta)
        params = MixtureParams(betas[:, 0], betas[:, 1:], np.sqrt(variances), shares)
        hessian, _, gradient = observed_information(params, problem.X, problem.y_raw, problem.w)
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
    polished = RunState(shares, coefs, variances, residuals, state.labels)
    polished.loglik = loglik
    polished.n_iter = state.n_iter
    polished.removed = state.removed
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
