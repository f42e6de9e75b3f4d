"""The protocol every outcome family follows, and what all families share.

An outcome family is a small frozen object that knows the distribution of the
outcome given a segment's linear predictor ``eta = design @ beta`` and the
segment's *extra* parameters (a log standard deviation, ordinal thresholds,
or none).  The mixture engine (:mod:`trustseg.model.em`,
:mod:`trustseg.model.search`) asks a family for nothing but what
:class:`Family` declares, so one EM driver, one Newton finish, one observed
information and one search serve every family (statsmodels' ``Family`` and
flexmix's model objects are the examples).

What a family must give (abstract): :meth:`~Family.check_outcome`,
:meth:`~Family.loglik`, :meth:`~Family.derivatives`, :meth:`~Family.mean`,
:meth:`~Family.simulate` and :meth:`~Family.start`.  What it may override,
with a default here: the M-step over all segments (:meth:`~Family.m_step`;
weighted Newton per segment by default, closed form for the gaussian
family), the vectorised log-densities of all segments
(:meth:`~Family.segment_logliks`), the box its parameters live in
(:meth:`~Family.bounds`), extra starts that take a fit out of a trap only it
knows (:meth:`~Family.escape_starts`), the residuals a split move cuts along
(:meth:`~Family.residual_directions`), and the scales on which two solutions
are compared (:meth:`~Family.solution_scale`), an answer's measure (:meth:`~Family.answer_is_mass`).  Facts:
``name``, ``has_intercept``, ``coefficient_unit``, ``mean_label``,
``normal``, ``can_separate``, ``rating_outcome``, ``ordered_extra``.

The design handed to a family is always the full design, with the
intercept column first when ``has_intercept``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np
from scipy import linalg

from trustseg.errors import DataError

# Offending values listed in a message before "and N more".
_SHOWN_VALUES = 8
#: largest change in log odds (or log count) per standard deviation of a predictor a segment may have
SEPARATION_LIMIT = 15.0
#: the longest first trial step of a Newton fit in any parameter (log odds, log SD, coefficient units): longer
#: steps come from flat directions (a segment separating) and overshoot, costing a log-likelihood per halving
MAX_STEP = 5.0
#: smallest gap between ordered thresholds (relative), below the tolerance at which on_bounds flags a segment
MIN_THRESHOLD_GAP = 1e-7
# Floor of the posterior weight a respondent gives a segment fit.  A row of zero weight would drop out of the fit,
# and with it the constraint it carries (an ordinal segment with no weight on some answer could cross its thresholds,
# where the "probabilities" no longer sum to one); a tiny weight keeps every log-density finite, the fit unchanged.
TINY_WEIGHT = 1e-300
NEWTON_STEP_DENSITY = "newton_step_density"  #: the cache key of a Newton M-step's log-densities at its result


# ----------------------------------------------------------------------------
# small helpers every family uses
# ----------------------------------------------------------------------------


def data_array(data, key, n, default):
    """``data[key]`` as a float array of length ``n``, or ``default`` broadcast when absent."""
    value = None if data is None else data.get(key)
    if value is None:
        return np.full(n, float(default))
    value = np.asarray(value, dtype=float).reshape(-1)
    if value.shape[0] != n:
        raise ValueError(f"data['{key}'] has {value.shape[0]} values, expected {n}")
    return value


def format_values(values):
    """'1.5, 2.5 and 3 more' for a sorted array of distinct offending values."""
    shown = ", ".join(f"{v:g}" for v in values[:_SHOWN_VALUES])
    more = len(values) - _SHOWN_VALUES
    return shown + (f" and {more} more" if more > 0 else "")


def refuse_values(y, bad, name, problem, fix):
    """Raise a DataError naming column ``name`` and the distinct values where ``bad`` holds."""
    if not np.any(bad):
        return
    values = np.unique(y[bad])
    rows = int(np.count_nonzero(bad))
    row_word = "row" if rows == 1 else "rows"
    raise DataError(f"column '{name}': {problem}: {format_values(values)} ({rows} {row_word}). {fix}")


def check_finite(y, name):
    refuse_values(y, ~np.isfinite(y), name, "missing or infinite values", "Drop or impute them before fitting.")


def weighted_lstsq(X, z, w):
    """Weighted least squares coefficients (minimum norm if X'WX is singular)."""
    root = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(X * root[:, None], z * root, rcond=None)
    return coef


def take_rows(data, rows):
    """The per-row side data (trials, offset, ...) of the respondents ``rows`` (a slice, mask or indices)."""
    if data is None:
        return None
    return {key: (None if value is None else np.asarray(value).reshape(-1)[rows]) for key, value in data.items()}


# ----------------------------------------------------------------------------
# the box a segment's parameters are kept in
# ----------------------------------------------------------------------------


class EquationPart(NamedTuple):
    """One equation of a family: its own family, its coefficients' and extras' positions, its outcome column
    (None: the outcome itself) and a function that takes its side data from the family's."""

    family: object
    beta: object
    extra: object
    column: int | None
    data: object


def _same_data(data):
    return data


class Bounds(NamedTuple):
    """Lower and upper bounds of each segment's coefficients ``beta`` (q,) and extras (m,); +-inf where free."""

    beta_low: np.ndarray
    beta_high: np.ndarray
    extra_low: np.ndarray
    extra_high: np.ndarray
    #: the extras are ordered thresholds: two that meet leave an answer category without probability
    ordered_extra: bool = False

    def clamp(self, params):
        """``params`` (a :class:`~trustseg.model.params.MixtureParams`) inside the box."""
        return self.clamped(params)[0]

    def clamped(self, params):
        """``params`` inside the box, and which segments it moved, (K,) bool."""
        beta, extra = params.beta, params.extra
        moved = np.zeros(len(params.weights), dtype=bool)
        if np.isfinite(self.beta_low).any() or np.isfinite(self.beta_high).any():
            beta = np.clip(beta, self.beta_low, self.beta_high)
            moved |= (beta != params.beta).any(axis=1)
        if extra.shape[1] and (np.isfinite(self.extra_low).any() or np.isfinite(self.extra_high).any()):
            extra = np.clip(extra, self.extra_low, self.extra_high)
            moved |= (extra != params.extra).any(axis=1)
        if self.ordered_extra and extra.shape[1] > 1:
            # thresholds that meet or cross leave an answer without probability (log-likelihood -inf):
            # each is kept a hair above the one below, where the segment counts as on the box (on_bounds)
            ordered = extra.copy()
            for j in range(1, ordered.shape[1]):
                floor = ordered[:, j - 1] + MIN_THRESHOLD_GAP * np.maximum(1.0, np.abs(ordered[:, j - 1]))
                ordered[:, j] = np.maximum(ordered[:, j], floor)
            moved |= (ordered != extra).any(axis=1)
            extra = ordered
        if not moved.any():
            return params, moved
        return type(params)(params.weights, beta, extra), moved

    def project(self, theta):
        """One segment's packed ``(beta, extra)`` inside the box (ordered thresholds kept apart)."""
        q = len(self.beta_low)
        out = np.clip(theta, np.concatenate([self.beta_low, self.extra_low]),
                      np.concatenate([self.beta_high, self.extra_high]))
        if self.ordered_extra:
            for j in range(q + 1, len(out)):
                out[j] = max(out[j], out[j - 1] + MIN_THRESHOLD_GAP * max(1.0, abs(out[j - 1])))
        return out

    def held(self, theta, gradient):
        """Which of one segment's packed parameters the box holds: on a bound the likelihood pulls them beyond.

        Two ordered thresholds that met and are pulled across each other are
        held too (a category nobody in the segment gave: the maximum is on
        the edge of the parameter space).
        """
        low = np.concatenate([self.beta_low, self.extra_low])
        high = np.concatenate([self.beta_high, self.extra_high])
        size = np.maximum(1.0, np.abs(theta))
        held = ((theta <= low + 1e-9 * size) & (gradient <= 0)) | ((theta >= high - 1e-9 * size) & (gradient >= 0))
        if self.ordered_extra and len(theta) - len(self.beta_low) > 1:
            q = len(self.beta_low)
            extra, pull = theta[q:], gradient[q:]
            met = np.diff(extra) <= 2 * MIN_THRESHOLD_GAP * np.maximum(1.0, np.abs(extra[:-1]))
            crossing = met & ((pull[1:] < 0) | (pull[:-1] > 0))
            held[q:-1] |= crossing
            held[q + 1:] |= crossing
        return held

    def step_basis(self, theta, gradient):
        """The directions one segment's ascent step may take, as the columns of a (p, r) matrix; None: all.

        A parameter on a bound that the likelihood pulls beyond stays (no
        column); ordered thresholds that met and are pulled across each other
        move together, as one (a category nobody in the segment gave: its two
        thresholds are one at the maximum, but where they sit is still free).
        """
        p, q = len(theta), len(self.beta_low)
        low = np.concatenate([self.beta_low, self.extra_low])
        high = np.concatenate([self.beta_high, self.extra_high])
        size = np.maximum(1.0, np.abs(theta))
        on_bound = ((theta <= low + 1e-9 * size) & (gradient <= 0)) | ((theta >= high - 1e-9 * size) & (gradient >= 0))
        group = np.arange(p)
        crossing = np.flatnonzero(np.diff(theta[q:]) <= 2 * MIN_THRESHOLD_GAP * np.maximum(1.0, np.abs(theta[q:-1]))
                                  ) if self.ordered_extra and p - q > 1 else ()
        for j in crossing:  # met, and pulled across each other
            if gradient[q + j + 1] < 0 or gradient[q + j] > 0:
                group[q + j + 1] = group[q + j]
        if not on_bound.any() and (group == np.arange(p)).all():
            return None
        free = [g for g in np.unique(group) if not on_bound[group == g].any()]
        basis = np.zeros((p, len(free)))
        for column, g in enumerate(free):
            basis[group == g, column] = 1.0
        return basis

    def part(self, beta_index, extra_index, ordered_extra):
        """The box of some of the coefficients and extras (one equation of a system)."""
        return Bounds(self.beta_low[beta_index], self.beta_high[beta_index], self.extra_low[extra_index],
                      self.extra_high[extra_index], ordered_extra)



def on_bounds(params, bounds, rtol=1e-6) -> np.ndarray:
    """Which segments have a coefficient or extra on the box of :meth:`Family.bounds`, (K,) bool."""
    if bounds is None:
        return np.zeros(len(params.weights), dtype=bool)

    def touches(values, low, high):
        size = np.maximum(1.0, np.abs(values))
        return ((values <= low + rtol * size) | (values >= high - rtol * size)).any(axis=1)

    out = touches(params.beta, bounds.beta_low, bounds.beta_high) | (
        touches(params.extra, bounds.extra_low, bounds.extra_high) if params.extra.shape[1] else False)
    if bounds.ordered_extra and params.extra.shape[1] > 1:
        # a segment in which nobody gave some answer: its thresholds around it meet, the category's
        # probability is 0, and the maximum is on the edge of the parameter space
        out |= (np.diff(params.extra, axis=1) <= rtol * np.maximum(1.0, np.abs(params.extra[:, 1:]))).any(axis=1)
    return out


def met_threshold_groups(family, params) -> np.ndarray:
    """Which parameters of :func:`~trustseg.model.params.param_layout` are one at ``params``: (p,) group ids.

    Two ordered thresholds of a segment that met (an answer nobody in the
    segment gave) are one parameter at the maximum, which sits on the edge of
    the parameter space: the information has no curvature along their gap, so
    standard errors are computed with the two as one (each gets the
    group's).  Every other parameter is its own group.
    """
    k, q = params.beta.shape
    m = params.extra.shape[1]
    block = q + m
    group = np.arange(k * block + k - 1)
    for part in family.equations():
        if not part.family.ordered_extra:
            continue
        extras = np.arange(m)[part.extra]
        for j in range(k):
            thresholds = params.extra[j, extras]
            met = np.diff(thresholds) <= 2 * MIN_THRESHOLD_GAP * np.maximum(1.0, np.abs(thresholds[:-1]))
            for i in np.flatnonzero(met):
                group[j * block + q + extras[i + 1]] = group[j * block + q + extras[i]]
    return group


def predictor_sd(design, w, has_intercept):
    """Weighted SD of each predictor column of ``design`` (the intercept column left out)."""
    X = design[:, 1:] if has_intercept else design
    total = w.sum()
    return np.sqrt(w @ (X - w @ X / total) ** 2 / total)


def separation_box(design, w, has_intercept, m):
    """Bounds that keep a perfectly predicted segment's coefficients finite (see :meth:`Family.bounds`)."""
    X = design[:, 1:] if has_intercept else design
    slope = SEPARATION_LIMIT / np.maximum(predictor_sd(design, w, has_intercept), 1e-12)
    level = SEPARATION_LIMIT + float(slope @ np.abs(X).max(axis=0)) if X.shape[1] else SEPARATION_LIMIT
    q = design.shape[1]
    beta_low, beta_high = np.full(q, -np.inf), np.full(q, np.inf)
    slopes = slice(1, None) if has_intercept else slice(None)
    beta_low[slopes], beta_high[slopes] = -slope, slope
    if has_intercept:
        beta_low[0], beta_high[0] = -level, level
    return beta_low, beta_high, np.full(m, -level), np.full(m, level)


# ----------------------------------------------------------------------------
# one segment: its weighted Newton fit
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentFit:
    """The weighted ML fit of one segment.

    ``beta`` includes the intercept first when the family has one; ``extra``
    follows the family's :meth:`~Family.extra_names`; ``gradient`` and
    ``hessian`` are of the weighted log-likelihood in (beta, extra) at the
    solution of a converged fit (at the start of the last step otherwise;
    None for a fit in closed form), so ``inv(-hessian)`` is the covariance
    when the weights are frequencies.
    """

    beta: np.ndarray
    extra: np.ndarray
    loglik: float
    gradient: np.ndarray | None
    hessian: np.ndarray | None
    n_iter: int
    converged: bool


def ascent_step(gradient, hessian):
    """The Newton step when -H is positive definite, else a gradient step scaled by |H|.

    Returns the step and whether it is a Newton step.
    """
    # LAPACK's potrf and potrs, as cho_factor and cho_solve call them: their wrappers cost 4x the solve here
    potrf, potrs = linalg.get_lapack_funcs(("potrf", "potrs"), (hessian, gradient))
    factor, info = potrf(-hessian, lower=False, clean=False)
    step, info = potrs(factor, gradient, lower=False) if info == 0 else (None, 1)
    if info == 0 and np.all(np.isfinite(step)):
        return step, True
    # Not negative definite (far from the optimum of a non-concave parametrisation
    # such as (beta, log sigma)).  A plain gradient step crawls there, because
    # the slopes and log sigma have curvatures orders of magnitude apart; so
    # the gradient is scaled by the absolute curvatures |H| (eigenvalues
    # flipped to positive and floored), which is still an uphill direction.
    if not np.all(np.isfinite(hessian)):
        return gradient / max(float(np.abs(gradient).max()), 1.0), False
    values, vectors = np.linalg.eigh(-hessian)
    curvature = np.maximum(np.abs(values), 1e-8 * max(float(np.abs(values).max()), 1e-300))
    return vectors @ ((vectors.T @ gradient) / curvature), False


def _backtrack(start, value, slope):
    """The factor to shrink a failed step by: the maximum of the parabola through the start (with its ``slope``,
    the gain predicted for the step) and the failed value, kept between a tenth and a half (Armijo backtracking
    with quadratic interpolation; a plain halving where the value is not finite)."""
    if not np.isfinite(value) or slope <= 0:
        return 0.5
    curvature = value - start - slope  # f(s) = start + slope s + curvature s^2 through f(1) = value
    return float(np.clip(-slope / (2.0 * curvature), 0.1, 0.5)) if curvature < 0 else 0.5


def _bounded_ascent_step(theta, gradient, hessian, bounds):
    """:func:`ascent_step` in the directions the box leaves (:meth:`Bounds.step_basis`): a parameter held on a
    bound it is pulled beyond stays, thresholds that met move as one."""
    if bounds is None:
        return ascent_step(gradient, hessian)
    basis = bounds.step_basis(theta, gradient)
    if basis is None:
        return ascent_step(gradient, hessian)
    if not basis.shape[1]:
        return np.zeros_like(theta), True
    step, newton = ascent_step(basis.T @ gradient, basis.T @ hessian @ basis)
    return basis @ step, newton


def drop_zero_weights(y, design, w, data):
    """Drop rows of zero weight: their log-density may be -inf and 0 * -inf is nan."""
    keep = w > 0
    if keep.all():
        return y, design, w, data
    return y[keep], design[keep], w[keep], take_rows(data, keep)


def segment_gradient_hessian(family, design, y, beta, extra, w, data=None):
    """Weighted log-likelihood of one segment with its gradient and Hessian in (beta, extra).

    ``design`` is the full design matching ``beta`` (with the intercept
    column when the family has one); ``w`` non-negative weights (posterior
    probabilities times survey weights); ``data`` the per-row side data.
    Returns ``(loglik, gradient (q + m,), hessian (q + m, q + m))``.
    """
    y, design, w, data = drop_zero_weights(family.outcome_array(y), np.asarray(design, dtype=float),
                                           np.asarray(w, dtype=float), data)
    beta = np.asarray(beta, dtype=float)
    extra = np.asarray(extra, dtype=float)
    loglik = float(w @ family.loglik(y, family.linear_predictor(design, beta), extra, data))
    return (loglik, *_gradient_hessian(family, design, y, beta, extra, w, data))


def _gradient_hessian(family, design, y, beta, extra, w, data):
    """The gradient and Hessian of one segment's weighted log-likelihood (rows of positive weight only)."""
    return family.gradient_hessian(design, y, beta, extra, w, data)


def newton_fit(family, design, y, w, data=None, start=None, tol=1e-10, max_iter=100, bounds=None,
               start_loglik=None) -> SegmentFit:
    """Weighted maximum likelihood of one segment by Newton's method with step halving.

    ``design`` is the full design; rows of zero weight are left out.
    ``start`` is ``(beta, extra)`` (the family's :meth:`~Family.start`
    otherwise).  Converged when the Newton decrement g'(-H)^{-1}g is below
    ``tol * max(1, |loglik|)``; ``max_iter`` Newton steps at most (one keeps
    an EM step a generalised EM step).  With ``bounds`` (:class:`Bounds`)
    every step is projected into the box, and the fit stops where the
    projection no longer moves it (a separated segment at the box, not
    running towards infinity for ``max_iter`` steps).  ``start_loglik``, the
    weighted log-likelihood at ``start`` when the caller has it (an E-step
    does), saves computing it again.
    """
    y, design, w, data = drop_zero_weights(y, design, w, data)
    q = design.shape[1]
    beta, extra = family.start(design, y, w, data) if start is None else start
    theta = np.concatenate([np.asarray(beta, dtype=float).reshape(-1), np.asarray(extra, dtype=float).reshape(-1)])
    if theta.shape != (q + family.n_extra(),):
        raise ValueError(f"start has {theta.size} parameters, expected {q + family.n_extra()}")
    if bounds is not None:
        inside = bounds.project(theta)
        if not np.array_equal(inside, theta):
            theta, start_loglik = inside, None

    def loglik_at(values):
        # a trial point may be wild (a collapsing segment): its non-finite value is rejected, quietly
        with np.errstate(all="ignore"):
            eta = family.linear_predictor(design, values[:q])
            return float(w @ family.loglik(y, eta, values[q:], data))

    def derivatives_at(values):
        with np.errstate(all="ignore"):
            return _gradient_hessian(family, design, y, values[:q], values[q:], w, data)

    loglik = loglik_at(theta) if start_loglik is None else float(start_loglik)
    if not np.isfinite(loglik):
        raise ValueError(f"the {family.name} log-likelihood is not finite at the start")
    gradient = hessian = None
    converged = False
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        gradient, hessian = derivatives_at(theta)
        step, newton = _bounded_ascent_step(theta, gradient, hessian, bounds)
        decrement = float(gradient @ step)
        # a step of more than MAX_STEP in any parameter (a flat, separating direction) starts shorter
        size = min(1.0, MAX_STEP / max(float(np.abs(step).max()), 1e-300))
        for _ in range(30):
            candidate = theta + size * step if bounds is None else bounds.project(theta + size * step)
            value = loglik_at(candidate)
            # Accept any finite non-decrease; rounding noise near the optimum may
            # make an exact Newton step look a hair worse, so allow that much.
            if np.isfinite(value) and value >= loglik - 1e-12 * max(1.0, abs(loglik)):
                break
            size *= _backtrack(loglik, value, size * decrement)
        else:
            break  # no step along this direction helps: at the optimum to rounding
        if bounds is not None and np.array_equal(candidate, theta):
            break  # held by the box: a boundary maximum
        theta, loglik = candidate, value
        if newton and decrement <= tol * max(1.0, abs(loglik)):
            converged = True
            gradient, hessian = derivatives_at(theta)  # at the solution, for its covariance
            break
    return SegmentFit(beta=theta[:q].copy(), extra=theta[q:].copy(), loglik=loglik, gradient=gradient,
                      hessian=hessian, n_iter=n_iter, converged=converged)


def newton_step_segments(family, design, y, weights, params, data=None, bounds=None, current=None, cache=None):
    """One safeguarded Newton step of every segment's weighted fit from ``params``: ``(beta, extra)``.

    The generalised M-step of :meth:`Family.m_step`, all segments at once:
    each segment's gradient and Hessian (:meth:`Family.gradient_hessians`),
    its (bounded) ascent step, and one evaluation of every segment's
    candidate log-densities (:meth:`Family.segment_logliks`) per round of
    the backtracking line search, until each segment's weighted
    log-likelihood is no lower than at ``params`` (``current``, the
    log-densities there, saves computing it).  Respondents of zero weight
    are left out; the others weigh at least :data:`TINY_WEIGHT`.  The line
    search's log-densities at the new parameters go into ``cache`` for the
    next E-step (:data:`NEWTON_STEP_DENSITY`).
    """
    positive = (weights > 0).any(axis=1)
    if not positive.all():
        design, y, data = design[positive], family.outcome_array(y)[positive], take_rows(data, positive)
        weights = weights[positive]
        current = None if current is None else current[positive]
    weights = np.maximum(weights, TINY_WEIGHT)
    beta, extra = np.array(params.beta, dtype=float), np.array(params.extra, dtype=float)
    k, q = beta.shape
    if current is None:
        current = family.segment_logliks(y, family.linear_predictors(design, beta), extra, data)
    before = np.einsum("ik,ik->k", weights, current)
    theta = np.column_stack([beta, extra])
    steps, gains = np.zeros_like(theta), np.zeros(k)
    with np.errstate(all="ignore"):
        gradients, hessians = family.gradient_hessians(design, y, beta, extra, weights, data, current)
    for j, (gradient, hessian) in enumerate(zip(gradients, hessians)):
        steps[j], _ = _bounded_ascent_step(theta[j], gradient, hessian, bounds)
        gains[j] = gradient @ steps[j]  # the first-order gain of the full step
    # a step of more than MAX_STEP in any parameter (a flat, separating direction) starts shorter
    size = np.minimum(1.0, MAX_STEP / np.maximum(np.abs(steps).max(axis=1), 1e-300))
    pending = np.flatnonzero(np.isfinite(steps).all(axis=1) & (np.abs(steps).max(axis=1) > 0))
    reached = current.copy() if cache is not None else None  # the log-densities at the accepted parameters
    for _ in range(30):
        if not pending.size:
            break
        candidate = theta[pending] + size[pending, None] * steps[pending]
        if bounds is not None:
            candidate = np.array([bounds.project(c) for c in candidate])
        with np.errstate(all="ignore"):
            density = family.segment_logliks(y, family.linear_predictors(design, candidate[:, :q]), candidate[:, q:],
                                             data)
            after = np.einsum("ik,ik->k", weights[:, pending], density)
        accept = np.isfinite(after) & (after >= before[pending] - 1e-12 * np.maximum(1.0, np.abs(before[pending])))
        theta[pending[accept]] = candidate[accept]
        if reached is not None:
            reached[:, pending[accept]] = density[:, accept]
        for j, value in zip(pending[~accept], after[~accept]):
            size[j] *= _backtrack(before[j], value, size[j] * gains[j])
        pending = pending[~accept]
    beta, extra = theta[:, :q], theta[:, q:]
    if reached is not None and positive.all():
        cache[NEWTON_STEP_DENSITY] = (beta, extra, reached)
    return beta, extra


# ----------------------------------------------------------------------------
# the protocol
# ----------------------------------------------------------------------------


class Family(ABC):
    """An outcome distribution within a segment; each concrete family is a frozen dataclass deriving from this.

    With ``y`` and ``eta`` arrays of length n, ``extra`` the 1-D array of
    the segment's extra parameters and ``data`` an optional dict of per-row
    side data (``trials``, ``offset``, spread predictors):

    ``check_outcome(y, name, data=None)``
        Raise :class:`~trustseg.errors.DataError` naming column ``name`` and
        the offending values if the family cannot describe ``y``.
    ``loglik(y, eta, extra, data=None)``
        log f(y_i | eta_i, extra), shape (n,).
    ``derivatives(y, eta, extra, data=None)``
        ``(d1, d2)`` of shapes (n, 1 + m) and (n, 1 + m, 1 + m): first and
        second derivatives of log f_i in (eta_i, extra_1..extra_m).
    ``mean(eta, extra, data=None)`` and ``simulate(eta, extra, rng, data=None)``
        Expected outcome on its own scale; random outcomes.
    ``start(design, y, w, data=None)``
        ``(beta, extra)`` to start the weighted fit of one segment.
    """

    name: ClassVar[str]
    #: the design has an intercept column in front (the ordinal family's thresholds take its place)
    has_intercept: ClassVar[bool] = True
    #: the unit of the coefficients (the linear predictor), for summaries, captions, axes and sentences
    coefficient_unit: ClassVar[str] = "outcome points"
    #: what a segment's fitted curve on the outcome's own scale shows; None: the straight fitted line itself
    mean_label: ClassVar[str | None] = None
    #: the family in words, for summaries
    description: ClassVar[str] = "gaussian"
    #: a normal outcome: the first extra is a log residual SD, bounded below by the variance floor
    normal: ClassVar[bool] = False
    #: a perfectly predicted segment has no maximum (separation): the coefficients are kept in a box
    can_separate: ClassVar[bool] = False
    #: the outcome is a bounded rating, on which a segment can pile up at an end of the scale
    rating_outcome: ClassVar[bool] = False
    #: the extras are ordered thresholds
    ordered_extra: ClassVar[bool] = False
    #: the outcome is the line plus normal noise of one constant variance (what a residual-spread test checks)
    linear_normal: ClassVar[bool] = False
    #: classification EM (method "cem", one common variance) is defined for the family
    classification_em: ClassVar[bool] = False
    #: the family is made for one answer (a rating item, a yes/no, a count), whose values the data must fit
    single_answer: ClassVar[bool] = False
    #: the outcome is a probability (0 to 1 on a figure's axis)
    probability_outcome: ClassVar[bool] = False
    #: the family reads its settings from the outcome's scale and cannot do without one (censored: the bounds)
    needs_scale: ClassVar[bool] = False

    @classmethod
    def options_for_scale(cls, lowest: float, highest: float, step: float = 1.0) -> dict | None:
        """The family's settings for an outcome on the scale lowest..highest in steps of ``step``.

        ``{}`` when the scale sets nothing; None when the family cannot take an
        outcome on that scale (the caller says why).
        """
        return {}

    # -- parameters -------------------------------------------------------------

    def extra_names(self) -> list[str]:
        """Names of the per-segment parameters besides the coefficients."""
        return []

    def n_extra(self) -> int:
        """Number of extra parameters per segment."""
        return len(self.extra_names())

    def settings(self) -> dict:
        """The family's settings as a JSON-ready dict (censored bounds, ordinal categories, spread predictors)."""
        import dataclasses

        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                out[field.name] = [v if isinstance(v, str) else float(v) for v in value]
            else:
                out[field.name] = value if isinstance(value, str) else float(value)
        return out

    def n_parameters(self, k, q) -> int:
        """Free parameters of K segments with ``q`` coefficients each: coefficients, extras, K - 1 shares."""
        return int(k * (q + self.n_extra()) + k - 1)

    def residual_sd(self, extra) -> np.ndarray:
        """Each segment's residual SD from its extras (K, m): NaN for a family without one."""
        return np.full(np.shape(extra)[0], np.nan)

    # -- the distribution (abstract) -------------------------------------------

    @abstractmethod
    def check_outcome(self, y, name, data=None) -> None: ...

    @abstractmethod
    def loglik(self, y, eta, extra, data=None): ...

    @abstractmethod
    def derivatives(self, y, eta, extra, data=None): ...

    @abstractmethod
    def mean(self, eta, extra, data=None): ...

    @abstractmethod
    def simulate(self, eta, extra, rng, data=None): ...

    @abstractmethod
    def start(self, design, y, w, data=None): ...

    def prepare(self, y, data=None):
        """``data`` with per-row terms that stay fixed during a fit computed once (none by default)."""
        return data

    def outcome_array(self, y):
        """``y`` as the float array the family reads: (n,)."""
        return np.asarray(y, dtype=float).reshape(-1)

    def finite_outcome(self, y, name):
        y = self.outcome_array(y)
        check_finite(y, name)
        return y

    # -- the linear predictor and the chain rule to the coefficients ----------------

    def design(self, X):
        """The design from the predictors ``X`` (n, p): an intercept column in front when the family has one."""
        X = np.asarray(X, dtype=float)
        X = X.reshape(X.shape[0], -1)
        return np.column_stack([np.ones(X.shape[0]), X]) if self.has_intercept else X

    def linear_predictors(self, design, beta):
        """Every segment's linear predictor, (n, K), for coefficients ``beta`` (K, q)."""
        return design @ np.asarray(beta, dtype=float).reshape(-1, design.shape[1]).T

    def linear_predictor(self, design, beta):
        """One segment's linear predictor ``design @ beta``, (n,)."""
        return design @ beta

    def segment_logliks(self, y, eta, extra, data=None):
        """log f_k(y_i) of every segment, (n, K), from the linear predictors (n, K) and extras (K, m)."""
        out = np.empty((eta.shape[0], eta.shape[1]))
        for j in range(eta.shape[1]):
            out[:, j] = self.loglik(y, eta[:, j], extra[j], data)
        return out

    def row_gradients(self, design, d1):
        """Each row's gradient of log f_i in (beta, extra), (n, q + m), from ``d1`` in (eta, extra)."""
        return np.column_stack([design * d1[:, :1], d1[:, 1:]])

    def gradient_hessian(self, design, y, beta, extra, w, data=None, log_density=None):
        """The gradient and Hessian in (beta, extra) of one segment's log-likelihood weighted by ``w``.

        By the chain rule from :meth:`derivatives`; a family whose rows touch
        few parameters (the ordinal thresholds) sums them faster itself, and
        may use ``log_density``, the rows' log-densities when known.
        """
        d1, d2 = self.derivatives(y, self.linear_predictor(design, beta), extra, data)
        return w @ self.row_gradients(design, d1), self.weighted_second_derivatives(design, w, d2)

    def gradient_hessians(self, design, y, beta, extra, weights, data=None, log_density=None):
        """:meth:`gradient_hessian` of every segment (``beta`` (K, q), ``extra`` (K, m), the rest (n, K))."""
        return zip(*[self.gradient_hessian(design, y, beta[j], extra[j], weights[:, j], data,
                                           None if log_density is None else log_density[:, j])
                     for j in range(weights.shape[1])])

    def weighted_second_derivatives(self, design, wt, d2):
        """``sum_i wt_i`` times the second derivatives of log f_i in (beta, extra), (q + m, q + m)."""
        q = design.shape[1]
        m = d2.shape[1] - 1
        second = np.empty((q + m, q + m))
        second[:q, :q] = (design * (wt * d2[:, 0, 0])[:, None]).T @ design
        second[:q, q:] = design.T @ (wt[:, None] * d2[:, 0, 1:])
        second[q:, :q] = second[:q, q:].T
        second[q:, q:] = np.einsum("i,ijk->jk", wt, d2[:, 1:, 1:])
        return second

    # -- what the engine asks of a family ------------------------------------------

    def bounds(self, design, w, variance_floor=None) -> Bounds:
        """The box every segment's parameters are kept in.

        A normal family bounds its log SD from below by ``variance_floor``
        (squared outcome units).  A family that can separate (binomial,
        ordinal, poisson) has no maximum when a segment's answers are
        perfectly predicted (all one answer, or answers split by a
        predictor): the coefficients run off to infinity while the
        likelihood creeps towards its supremum, and EM never stops.  They are
        kept within :data:`SEPARATION_LIMIT` log odds (log counts) per
        predictor SD, and intercepts and thresholds within the limit plus
        the largest shift the slopes can give over the data; a probability
        of exp(-15) = 3e-7 is a certainty for any survey.  A segment on this
        box is flagged (``separation``, :mod:`trustseg.model.diagnostics`),
        and so is an ordinal segment in which two thresholds meet.
        """
        q, m = design.shape[1], self.n_extra()
        if self.can_separate:
            beta_low, beta_high, extra_low, extra_high = separation_box(design, w, self.has_intercept, m)
        else:
            beta_low, beta_high = np.full(q, -np.inf), np.full(q, np.inf)
            extra_low, extra_high = np.full(m, -np.inf), np.full(m, np.inf)
        if self.normal and variance_floor is not None and np.isfinite(variance_floor):
            extra_low[0] = 0.5 * math.log(float(variance_floor))
        return Bounds(beta_low, beta_high, extra_low, extra_high, self.ordered_extra)

    def m_step(self, design, y, weights, params, data=None, cache=None, bounds=None, current=None):
        """New coefficients and extras of every segment, ``(beta (K, q), extra (K, m))``, within ``bounds``.

        ``weights`` (n, K) are the survey weights times the posteriors (a
        Newton fit floors them at :data:`TINY_WEIGHT` for every respondent of
        positive weight, see there why); ``params`` the current solution (a
        warm start), or None for a fit from scratch (a hard partition:
        fitted to convergence).  With a warm start each segment takes one
        Newton step, which keeps EM a generalised EM (the expected
        complete-data log-likelihood never decreases): warm started at the
        last M-step, one step gets most of the way at a fraction of the cost
        of converging, SQUAREM and the Newton finish make up the rest, and a
        separated segment has no optimum to converge to anyway (measured: an
        ordinal fit of 5,000 respondents took 224 EM steps and 12 s with 25
        Newton steps per M-step, 143 EM steps and 2.7 s with one).  ``cache``
        is a dict the engine keeps per data set, for what a family computes
        once (see the gaussian family); ``current`` (n, K) the log-densities
        at ``params``, which the E-step has computed.
        """
        k = weights.shape[1]
        if params is not None:
            return newton_step_segments(self, design, y, weights, params, data, bounds, current, cache)
        beta, extra = [], []
        w = (weights > 0).any(axis=1)  # the respondents of positive survey weight
        for j in range(k):
            fit = newton_fit(self, design, y, np.where(w, np.maximum(weights[:, j], TINY_WEIGHT), 0.0), data,
                             bounds=bounds)
            beta.append(fit.beta)
            extra.append(fit.extra)
        return np.array(beta), np.array(extra).reshape(k, -1)

    def equations(self) -> list[EquationPart]:
        """The family's equations: one for a single outcome (an equation system has one per outcome)."""
        return [EquationPart(self, slice(None), slice(None), None, _same_data)]

    def answer_is_mass(self, values) -> np.ndarray:
        """Whether the likelihood of an answer at each of ``values`` is a probability (True) or a density (False):
        always a probability for a discrete outcome; for a normal one only at a censored bound."""
        v = np.asarray(values, dtype=float).reshape(-1)
        return np.isclose(v, getattr(self, "lower", -math.inf)) | np.isclose(v, getattr(self, "upper", math.inf)) | (
            not self.normal)

    def end_masses(self, eta, extra, data=None):
        """The model's probability of each row at the lower and at the upper end of a bounded scale, (n, 2).

        None for a family whose outcome has no ends it piles up at (the censored family has).
        """
        return None

    def residual_directions(self, y, eta, extra, data=None):
        """Response residuals y - E[y] of one segment, (n, d): the directions a split move cuts along."""
        return (self.outcome_array(y) - self.mean(eta, extra, data))[:, None]

    def escape_starts(self, params) -> list:
        """Starts that take a solution out of a trap only this family knows (none by default)."""
        return []

    def solution_scale(self, design, y, w):
        """Per-parameter scales on which two solutions are compared: slopes per predictor SD, outcome SDs."""
        total = w.sum()
        sd_x = predictor_sd(design, w, self.has_intercept)
        sd_y = 1.0
        if self.normal:
            y = self.outcome_array(y)
            sd_y = float(np.sqrt(w @ (y - w @ y / total) ** 2 / total)) or 1.0
        coef = np.concatenate([[1.0 / sd_y] if self.has_intercept else [], sd_x / sd_y])
        return np.concatenate([coef, np.ones(self.n_extra())])
