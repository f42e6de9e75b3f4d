"""The EM algorithm for a mixture of any outcome family: one run from a start, and the Newton finish.

Every likelihood computation comes from :mod:`trustseg.model.likelihood` and
every family-specific step from the family object
(:class:`~trustseg.model.families.base.Family`); this module only orders
them:

* :class:`Problem` holds what a fit runs on and the rules it follows (the
  family, the data, the box of admissible parameters, the degenerate-segment
  rule, the tolerances);
* :func:`m_step` is the family's M-step kept inside the box;
* :func:`run_em` iterates EM from a start, accelerated by SQUAREM
  (Varadhan and Roland 2008) and kept monotone, removing degenerate
  segments as they appear and stopping a run that cannot catch up with the
  best so far; with ``classification`` it is CEM;
* :func:`newton_finish` takes safeguarded Newton steps on the full mixture
  likelihood, holding parameters that sit on their bound, so a run ends with
  quadratic convergence instead of EM's crawl;
* :func:`converge` runs a start to its optimum with both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trustseg.model.families import on_bounds, take_rows
from trustseg.model.families.base import NEWTON_STEP_DENSITY
from trustseg.model.likelihood import (
    degenerate_components,
    e_step,
    log_joint,
    mixture_loglik,
    observed_information,
    posteriors_and_row_loglik,
    weighted_loglik,
)
from trustseg.model.params import MixtureParams, pack, unpack

#: EM hands over to Newton's method below this relative log-likelihood change: later, EM crawls (ordinal
#: fits for hundreds of iterations); much earlier, Newton starts outside its basin (measured)
NEWTON_SWITCH_TOL = 1e-5
#: Newton steps of the finish, at most
_NEWTON_MAX_STEPS = 25


@dataclass
class Problem:
    """What one fit runs on and the rules it follows.

    ``design``, ``y``, ``w`` and ``data`` are the family's (the side data
    already prepared by :meth:`Family.prepare`); ``bounds`` the box of every
    segment's parameters; a segment is degenerate below ``min_share`` or
    with fewer effective respondents than its parameters; ``tol`` is the
    convergence tolerance on the relative log-likelihood change and
    ``max_iter`` the EM iterations of a run; ``classification`` makes EM
    classification EM (hard assignments).  ``cache`` holds what the family
    computes once per data set.
    """

    family: object
    design: np.ndarray
    y: np.ndarray
    w: np.ndarray
    data: dict | None
    bounds: object
    min_share: float
    tol: float = 1e-8
    max_iter: int = 1000
    classification: bool = False
    cache: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.w)

    @property
    def min_respondents(self) -> int:
        """Effective respondents a segment needs: as many as its parameters."""
        return self.design.shape[1] + self.family.n_extra()

    def subset(self, rows) -> Problem:
        """The same problem on the respondents ``rows`` (the same box and rules, its own cache)."""
        return Problem(self.family, self.design[rows], self.y[rows], self.w[rows], take_rows(self.data, rows),
                       self.bounds, self.min_share, self.tol, self.max_iter, self.classification)

    def loglik(self, params) -> float:
        return mixture_loglik(self.family, self.design, self.y, self.w, params, self.data)

    def log_joint(self, params):
        return log_joint(self.family, self.design, self.y, params, self.data)

    def e_step(self, params):
        return e_step(self.family, self.design, self.y, params, self.data)


def make_problem(family, X, y, w=None, data=None, variance_floor=None, min_share=1e-3, tol=1e-8, max_iter=1000,
                 classification=False) -> Problem:
    """The problem of fitting ``family`` to predictors ``X`` (the design is built from them) and outcome ``y``.

    ``data`` is the raw side data (prepared here), ``variance_floor`` the
    floor of a normal family (squared outcome units; None: none).  For an
    equation system ``X`` is its block design already.
    """
    y = family.outcome_array(y)
    X = np.asarray(X, dtype=float).reshape(len(y), -1)
    design = np.column_stack([np.ones(len(y)), X]) if family.has_intercept else X
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=float).reshape(-1)
    return Problem(family, design, y, w, family.prepare(y, data), family.bounds(design, w, variance_floor),
                   float(min_share), float(tol), int(max_iter), classification)


class RunState:
    """One start while EM runs on it: its parameters, log-likelihood and history."""

    def __init__(self, params, start=0, stage="full"):
        self.params = params  # None for a start that could not be fitted
        self.labels = np.arange(0 if params is None else len(params.weights))  # original segment ids still alive
        self.start, self.stage = start, stage
        self.loglik = -np.inf
        self.classification_loglik = None
        self.n_iter = 0
        self.newton_steps = 0
        self.converged = False
        self.stop_reason = ""
        self.moves = 0  # escape moves taken from local optima
        self.removed = []

    @property
    def k(self) -> int:
        return len(self.params.weights)

    def copy_history(self, other) -> RunState:
        """This state continues ``other``'s history: its iterations, moves and removal records."""
        self.n_iter += other.n_iter
        self.moves = other.moves + 1
        self.removed = list(other.removed) + list(self.removed)
        return self


# ----------------------------------------------------------------------------
# the M-step and one EM step
# ----------------------------------------------------------------------------


def m_step(problem, resp, params=None, current=None) -> MixtureParams:
    """New shares and the family's M-step kept inside the box; ``params`` None fits a hard partition from scratch.

    A segment whose clamped update lowers its expected log-likelihood keeps
    its old parameters, so EM stays a generalised EM (a normal family keeps
    its SDs in the box itself, where the clamp is the constrained M-step).
    """
    family, w = problem.family, problem.w
    weights = w[:, None] * resp
    beta, extra = family.m_step(problem.design, problem.y, weights, params, problem.data, problem.cache,
                                problem.bounds, current)
    mass = w @ resp
    new = MixtureParams(mass / mass.sum(), beta, extra)
    if problem.bounds is None:
        return new
    clamped, moved = problem.bounds.clamped(new)
    changed = np.flatnonzero(moved)
    if params is None or not changed.size:
        return clamped
    beta, extra = clamped.beta.copy(), clamped.extra.copy()
    with np.errstate(all="ignore"):
        for j in changed:
            eta_new = family.linear_predictor(problem.design, beta[j])
            eta_old = family.linear_predictor(problem.design, params.beta[j])
            mass_j = weights[:, j] > 0
            q_new = float(weights[mass_j, j] @ family.loglik(problem.y, eta_new, extra[j], problem.data)[mass_j])
            q_old = float(weights[mass_j, j] @ family.loglik(problem.y, eta_old, params.extra[j], problem.data)[mass_j])
            if not q_new >= q_old:
                beta[j], extra[j] = params.beta[j], params.extra[j]
    return MixtureParams(clamped.weights, beta, extra)


def cached_density(cache, params):
    """The log-densities (n, K) at ``params`` that the last Newton M-step's line search computed, or None.

    Only when ``params`` holds the very arrays that M-step returned (built
    into the parameters unchanged: no clamp, no segment removed); taken out
    of the cache either way.
    """
    entry = cache.pop(NEWTON_STEP_DENSITY, None) if cache is not None else None
    if entry is None or params.beta is not entry[0] or params.extra is not entry[1]:
        return None
    return entry[2]


def _drop_degenerate(problem, state, resp):
    """Remove the segments that are degenerate under ``resp`` (recorded); the posteriors of those kept."""
    k = resp.shape[1]
    if k < 2:
        return resp, False
    degenerate, reasons = degenerate_components(problem.w, resp, problem.min_share, problem.min_respondents)
    if not degenerate.any():
        return resp, False
    if degenerate.all():  # keep the heaviest: a model of no segment is none
        degenerate[int(np.argmax(problem.w @ resp))] = False
    for j, reason in reasons.items():
        if degenerate[j]:
            state.removed.append({"start": int(state.start), "component": int(state.labels[j]),
                                  "stage": state.stage, "iteration": int(state.n_iter), **reason})
    keep = ~degenerate
    state.labels = state.labels[keep]
    state.params = state.params.take(keep)
    return resp[:, keep], True


def em_step(problem, state):
    """One EM map from ``state`` (mutated): the log-likelihood at the input and whether a segment was removed."""
    params = state.params
    density = cached_density(problem.cache, params)  # computed by the M-step that made params, if it can tell
    if density is None:
        density = problem.family.segment_logliks(problem.y, problem.family.linear_predictors(problem.design,
                                                                                             params.beta),
                                                 np.asarray(params.extra, dtype=float), problem.data)
    state.n_iter += 1
    if not np.isfinite(density).all() and not np.isfinite(density[problem.w > 0]).all():
        # a segment gives a respondent density zero: outside the parameter space (an overshooting
        # extrapolation), where the other segments could otherwise hide it; no M-step from here
        return -np.inf, False
    with np.errstate(divide="ignore"):
        resp, loglik_i = posteriors_and_row_loglik(density + np.log(params.weights))
    loglik = weighted_loglik(problem.w, loglik_i)
    kept = state.labels
    resp, removed = _drop_degenerate(problem, state, resp)
    if removed:  # the densities of the segments kept
        density = density[:, np.isin(kept, state.labels)]
    state.params = m_step(problem, resp, state.params, density)
    return loglik, removed


# ----------------------------------------------------------------------------
# runs
# ----------------------------------------------------------------------------


def cannot_catch_up(history, target):
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


def _settled(problem, state, tol):
    """The tolerance a run must reach: a separated segment only creeps towards a supremum, so it settles earlier."""
    if problem.family.can_separate and problem.bounds is not None and on_bounds(state.params, problem.bounds).any():
        return max(tol, NEWTON_SWITCH_TOL)
    return tol


def _extrapolate(problem, state, theta0, r, v, alpha):
    """The SQUAREM point ``theta0 - 2 alpha r + alpha^2 v``, clamped to the box."""
    params = state.params
    k, q = params.beta.shape
    jumped = unpack(theta0 - 2 * alpha * r + alpha**2 * v, k, q, params.extra.shape[1])
    return jumped if problem.bounds is None else problem.bounds.clamp(jumped)


def run_em(problem, state, tol=None, max_iter=None, target=None, accelerate=True):
    """Maximum-likelihood EM from ``state`` accelerated by SQUAREM and kept monotone; CEM when classifying.

    Each cycle takes two EM steps, extrapolates along them (step length
    ``alpha`` in ``[-alpha_max, -1]``, on the packed parameters) and takes
    one EM step from the extrapolated point; when that point lowers the
    log-likelihood (or loses a segment) the cycle falls back to the plain EM
    steps, so the log-likelihood never decreases.  Degenerate segments are
    removed as soon as they appear, recorded, and EM continues with the
    others.  ``n_iter`` counts EM steps.  With a ``target`` (the best
    log-likelihood so far) a run that cannot catch up with it is stopped
    (``stop_reason`` "pruned").  ``accelerate`` False gives plain EM (for
    studying the acceleration).
    """
    if problem.classification:
        return _run_cem(problem, state, max_iter)
    tol = problem.tol if tol is None else tol
    max_iter = problem.max_iter if max_iter is None else max_iter
    state.converged, state.stop_reason = False, "iteration cap"
    alpha_max, previous, history = 1.0, -np.inf, []
    while state.n_iter < max_iter:
        start = state.params
        loglik0, removed = em_step(problem, state)
        state.loglik = loglik0
        if not np.isfinite(loglik0):
            state.stop_reason = "outside the parameter space"
            return state
        if removed:  # fewer segments now: the history no longer applies
            previous, history = -np.inf, []
            continue
        if abs(loglik0 - previous) <= _settled(problem, state, tol) * max(1.0, abs(loglik0)):
            state.params, state.converged, state.stop_reason = start, True, "converged"
            return state
        previous = loglik0
        history.append(loglik0)
        if cannot_catch_up(history, target):
            state.stop_reason = "pruned"
            return state
        if state.n_iter >= max_iter or not accelerate:
            continue
        first = state.params
        loglik1, removed = em_step(problem, state)
        if removed or state.n_iter >= max_iter:
            previous, history = (-np.inf, []) if removed else (previous, history)
            continue
        second = state.params
        theta0, theta1 = pack(start), pack(first)
        r = theta1 - theta0
        v = pack(second) - theta1 - r
        v_norm = float(np.sqrt(v @ v))
        if v_norm == 0.0 or not np.all(np.isfinite(v)):
            continue
        alpha = min(-1.0, max(-float(np.sqrt(r @ r)) / v_norm, -alpha_max))
        labels, n_removed = state.labels, len(state.removed)
        state.params = _extrapolate(problem, state, theta0, r, v, alpha)
        with np.errstate(all="ignore"):
            loglik_x, removed = em_step(problem, state)
        if removed or not np.isfinite(loglik_x) or loglik_x < loglik1:
            # the extrapolation overshot: keep the two plain EM steps
            state.labels, state.removed, state.params = labels, state.removed[:n_removed], second
            alpha_max = max(1.0, alpha_max / 4) if alpha == -alpha_max else alpha_max
        elif alpha == -alpha_max:
            alpha_max *= 4
    # the last step moved the parameters: report the likelihood they reach
    state.loglik = problem.loglik(state.params)
    return state


def _run_cem(problem, state, max_iter=None):
    """Classification EM: each respondent in its most likely segment, until the partition stops changing.

    ``classification_loglik`` is the criterion CEM maximises; ``loglik`` the
    mixture log-likelihood at its solution.
    """
    max_iter = problem.max_iter if max_iter is None else max_iter
    state.converged, previous = False, None
    w = problem.w
    while state.n_iter < max_iter:
        joint = problem.log_joint(state.params)
        assign = joint.argmax(axis=1)
        state.classification_loglik = float(w @ joint[np.arange(problem.n), assign])
        state.n_iter += 1
        if previous is not None and np.array_equal(assign, previous):
            state.converged = True
            break
        previous = assign
        resp = np.zeros_like(joint)
        resp[np.arange(problem.n), assign] = 1.0
        resp, _ = _drop_degenerate(problem, state, resp)
        state.params = m_step(problem, resp, state.params)
    state.stop_reason = "converged" if state.converged else "iteration cap"
    state.loglik = problem.loglik(state.params)
    return state


# ----------------------------------------------------------------------------
# the Newton finish
# ----------------------------------------------------------------------------


def _free_parameters(theta, gradient, bounds, k, block):
    """Positions in the packed vector Newton may move: all but those the box holds (:meth:`Bounds.held`)."""
    if bounds is None:
        return np.arange(len(theta))
    held = np.zeros(len(theta), dtype=bool)
    for j in range(k):
        rows = slice(j * block, (j + 1) * block)
        held[rows] = bounds.held(theta[rows], gradient[rows])
    return np.flatnonzero(~held)


def _newton_step(hessian, gradient, free):
    """The Newton step on the free parameters, or None when their Hessian is not negative definite."""
    step = np.zeros_like(gradient)
    sub = hessian[np.ix_(free, free)]
    try:
        np.linalg.cholesky(-sub)
        step[free] = -np.linalg.solve(sub, gradient[free])
    except np.linalg.LinAlgError:
        return None
    return step if np.all(np.isfinite(step)) else None


def newton_finish(problem, state, max_steps=_NEWTON_MAX_STEPS):
    """Newton's method on the full mixture likelihood from an EM solution, within the box.

    Works in the parametrisation of
    :func:`~trustseg.model.likelihood.observed_information` (coefficients,
    extras, logits).  A parameter on its bound (a variance on its floor, a
    coefficient on the separation box) that the likelihood pulls further
    out is held there (a constrained optimum; Newton runs on the others).
    Steps are halved until the likelihood rises.  Returns a new converged
    state, or None when Newton cannot finish (an indefinite Hessian, no
    ascent), and EM goes on.
    """
    params = state.params
    k, q = params.beta.shape
    m = params.extra.shape[1]
    project = (lambda values: values) if problem.bounds is None else (
        lambda values: np.concatenate([problem.bounds.project(values[j * (q + m):(j + 1) * (q + m)])
                                       for j in range(k)] + [values[k * (q + m):]]))
    theta, current = pack(params), state.loglik if np.isfinite(state.loglik) else problem.loglik(params)
    steps = 0
    for _ in range(max_steps):
        hessian, _, gradient = observed_information(problem.family, problem.design, problem.y, problem.w,
                                                    unpack(theta, k, q, m), problem.data)
        free = _free_parameters(theta, gradient, problem.bounds, k, q + m)
        step = _newton_step(hessian, gradient, free)
        if step is None:
            return None
        decrement = float(gradient[free] @ step[free])  # predicted gain x 2
        # stop when the predicted gain is negligible against the rounding level of the log-likelihood (Newton
        # converges quadratically: one step more than needed costs little, one less leaves a visible gradient)
        if decrement <= 1e-14 * max(1.0, abs(current)):
            break
        for _ in range(40):
            candidate = project(theta + step)
            with np.errstate(all="ignore"):
                value = problem.loglik(unpack(candidate, k, q, m))
            if np.isfinite(value) and value >= current:
                break
            step = step / 2
        else:
            if steps and decrement <= 1e-9 * max(1.0, abs(current)):
                break  # no ascent left at rounding level: we are at the maximum
            return None
        theta, current = candidate, value
        steps += 1
    else:
        return None
    finished = RunState(unpack(theta, k, q, m), state.start, state.stage)
    finished.labels, finished.removed, finished.moves = state.labels, state.removed, state.moves
    finished.loglik, finished.n_iter, finished.newton_steps = current, state.n_iter, steps
    finished.converged, finished.stop_reason = True, "converged"
    return finished


def converge(problem, state, target=None, escape=True):
    """Run one start to its optimum.

    EM, accelerated by SQUAREM, runs until the relative log-likelihood
    change drops below ``max(tol, NEWTON_SWITCH_TOL)``; safeguarded Newton
    steps with the analytic observed information then finish with
    quadratic convergence.  Newton may shift a share below ``min_share``,
    which EM would have removed: EM's solution is kept then.  Where Newton
    cannot finish (an indefinite Hessian) EM goes on to ``tol``.  A run that
    cannot reach ``target`` is stopped early (``stop_reason`` "pruned").
    Where Newton cannot finish and ``escape`` holds, the family's own escape
    starts are tried first.  CEM runs to its own end.
    """
    if problem.classification:
        return run_em(problem, state)
    switch = max(problem.tol, NEWTON_SWITCH_TOL)
    state = run_em(problem, state, tol=switch, target=target)
    if state.converged:
        finished = newton_finish(problem, state)
        if finished is not None and finished.loglik >= state.loglik \
                and finished.params.weights.min() >= problem.min_share:
            return finished
        # Newton cannot finish where the likelihood is flat in some direction; where the family knows the
        # trap (an ordinal threshold running away), its escape start saves EM the crawl out of it
        if escape:
            state = _take_family_escape(problem, state, switch)
    if state.stop_reason != "pruned" and state.n_iter < problem.max_iter and switch > problem.tol:
        state = run_em(problem, state, target=target)
    return state


def _take_family_escape(problem, state, tol):
    """``state``, or the family's escape start run to ``tol`` when that reaches a higher log-likelihood."""
    for params in problem.family.escape_starts(state.params):
        start = RunState(params if problem.bounds is None else problem.bounds.clamp(params), state.start, state.stage)
        candidate = run_em(problem, start.copy_history(state), tol=tol, target=state.loglik)
        if candidate.converged and candidate.k == state.k and candidate.loglik > state.loglik:
            state = candidate
    return state


def from_partition(problem, labels, k, start=0, stage="full") -> RunState:
    """A run state from a hard partition: every segment fitted to its members from scratch.

    A segment with fewer members than its parameters takes respondents from
    segments that have members to spare, so every segment's fit exists.
    """
    labels = np.asarray(labels).copy()
    need = problem.min_respondents
    counts = np.bincount(labels, minlength=k)
    for j in np.flatnonzero(counts < need):
        donors = np.flatnonzero(np.bincount(labels, minlength=k)[labels] > need)
        take = donors[: need - counts[j]] if donors.size else np.arange(min(need, problem.n))
        labels[take] = j
    resp = np.zeros((problem.n, k))
    resp[np.arange(problem.n), labels] = 1.0
    return RunState(m_step(problem, resp), start, stage)


def posteriors(problem, params):
    """The posterior probabilities (n, K) of ``params`` on ``problem``'s respondents."""
    return posteriors_and_row_loglik(problem.log_joint(params))[0]
