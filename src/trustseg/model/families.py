"""Outcome families for clusterwise regression, and a one-segment weighted fit.

An outcome family is a small frozen object that knows the distribution of the
outcome given the linear predictor ``eta = X @ beta`` of one segment and the
segment's *extra* parameters (a log standard deviation, ordinal thresholds, or
none).  Everything a likelihood-based caller needs comes from five methods:

* :meth:`loglik` -- log f(y_i | eta_i, extra), one value per respondent;
* :meth:`derivatives` -- analytic first and second derivatives of that
  log-density with respect to ``(eta_i, extra_1, ..., extra_m)``;
* :meth:`check_outcome` -- refuses an outcome the family cannot describe,
  naming the column and the offending values;
* :meth:`mean` and :meth:`simulate` -- the expected outcome on its own scale
  (for plots) and random draws (for a parametric bootstrap);
* :meth:`start` -- a starting point for the weighted fit.

Because the linear predictor enters every family only through ``eta``, the
gradient and Hessian of a segment's weighted log-likelihood with respect to
``(beta, extra)`` follow by the chain rule in one place
(:func:`segment_gradient_hessian`), and one Newton fit (:func:`fit_segment`)
serves every family: it is the weighted M-step of the mixture EM, called per
segment with posterior weights.

Families (``FAMILIES``; :func:`make_family` builds one by name):

``gaussian``
    Normal with identity link; extra ``log_sigma``.
``censored``
    Normal latent outcome censored at the bounds of the scale (Tobit): a value
    at ``lower`` stands for "at or below", at ``upper`` for "at or above";
    extra ``log_sigma`` of the latent outcome.
``binomial``
    Logit link; ``y`` is 0/1, or successes out of ``data["trials"]``.
``poisson``
    Log link; ``data["offset"]`` (e.g. log exposure) is added to ``eta``.
``ordinal``
    Cumulative logit for one rating item with answer values ``categories``
    ``c_1 < ... < c_C``.  Sign convention (the one of R's ``ordinal::clm`` and
    statsmodels' ``OrderedModel``): ``logit P(Y <= c_j | x) = theta_j - x'beta``,
    so a positive slope moves answers up the scale.  The design has no
    intercept; the C - 1 thresholds ``theta_j`` are the extra parameters, kept
    unconstrained (an unordered set has log-likelihood -inf, so Newton's step
    halving never accepts one).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

import numpy as np
from scipy import linalg
from scipy.special import expit, gammaln, log_expit, log_ndtr, ndtr

from trustseg.errors import ConfigError, DataError
from trustseg.model._core import LOG_2PI

#: families of a normal outcome, whose one extra parameter is a log standard deviation
NORMAL_FAMILIES = ("gaussian", "censored")
# An ordinal outcome is one rating item: more answer values than this is a
# score or a measurement, better described by gaussian or censored.
MAX_ORDINAL_CATEGORIES = 11
# Offending values listed in a message before "and N more".
_SHOWN_VALUES = 8
# Shares below this are raised in the starting thresholds, so an empty answer
# category gives finite, strictly increasing starting thresholds.
_MIN_START_SHARE = 1e-3


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------


def _log_choose(y, trials):
    """log C(trials, y), row by row."""
    return gammaln(trials + 1.0) - gammaln(y + 1.0) - gammaln(trials - y + 1.0)


def _inverse_sigma(log_sigma) -> float:
    """1 / sigma, infinite (not an OverflowError) for a log sigma far below any real spread.

    A Newton trial point of a segment collapsing onto one answer can ask for
    exp(710); the infinite density it gives is a non-finite candidate, which
    the step halving rejects.
    """
    # a numpy float: its square overflows to inf too, where a Python float raises
    log_sigma = float(log_sigma)
    return np.float64(math.inf if -log_sigma > 700.0 else math.exp(-log_sigma))


def _data_array(data, key, n, default):
    """``data[key]`` as a float array of length ``n``, or ``default`` broadcast when absent."""
    value = None if data is None else data.get(key)
    if value is None:
        return np.full(n, float(default))
    value = np.asarray(value, dtype=float).reshape(-1)
    if value.shape[0] != n:
        raise ValueError(f"data['{key}'] has {value.shape[0]} values, expected {n}")
    return value


def _format_values(values):
    """'1.5, 2.5 and 3 more' for a sorted array of distinct offending values."""
    shown = ", ".join(f"{v:g}" for v in values[:_SHOWN_VALUES])
    more = len(values) - _SHOWN_VALUES
    return shown + (f" and {more} more" if more > 0 else "")


def _offending(y, bad, name, problem, fix):
    """Raise a DataError naming column ``name`` and the distinct values where ``bad`` holds."""
    if not np.any(bad):
        return
    values = np.unique(y[bad])
    rows = int(np.count_nonzero(bad))
    row_word = "row" if rows == 1 else "rows"
    raise DataError(f"column '{name}': {problem}: {_format_values(values)} ({rows} {row_word}). {fix}")


def _check_finite(y, name):
    _offending(y, ~np.isfinite(y), name, "missing or infinite values", "Drop or impute them before fitting.")


def _wls(X, z, w):
    """Weighted least squares coefficients (minimum norm if X'WX is singular)."""
    root = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(X * root[:, None], z * root, rcond=None)
    return coef


def _log_normal_cdf_derivatives(t):
    """log Phi(t) with its first two derivatives in t, stable in both tails.

    The first derivative is the inverse Mills ratio phi(t) / Phi(t), formed as
    exp(log phi - log Phi) so that it stays finite (about -t) far in the lower
    tail, where phi and Phi both underflow.
    """
    log_cdf = log_ndtr(t)
    mills = np.exp(-0.5 * t * t - 0.5 * LOG_2PI - log_cdf)
    return log_cdf, mills, -mills * (t + mills)


def _log_logistic_interval(a, b):
    """log(F(b) - F(a)) for the logistic cdf F, accurate in both tails; -inf where a >= b."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # Far in the upper tail F(b) - F(a) is a difference of numbers near 1;
        # there the same difference of survival functions S(a) - S(b) is exact.
        upper = (a + b) > 0
        log_hi = np.where(upper, log_expit(-a), log_expit(b))
        log_lo = np.where(upper, log_expit(-b), log_expit(a))
        out = log_hi + np.log1p(-np.exp(log_lo - log_hi))
    return np.where(a < b, out, -np.inf)


# ----------------------------------------------------------------------------
# families
# ----------------------------------------------------------------------------


class _Family:
    """Shared behaviour; each family is a frozen dataclass deriving from this.

    Every family provides, with ``y`` and ``eta`` arrays of length n, ``extra``
    the 1-D array of the segment's extra parameters and ``data`` an optional
    dict of per-row ``trials`` / ``offset`` arrays:

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
    ``start(X, y, w, data=None)``
        ``(beta, extra)`` to start the weighted fit; ``X`` is the full design
        (with the intercept column when ``has_intercept``).
    """

    name: ClassVar[str]
    has_intercept: ClassVar[bool] = True
    #: the unit of the coefficients (the linear predictor), for summaries, captions, axes and sentences
    coefficient_unit: ClassVar[str] = "outcome points"
    #: what a segment's fitted curve on the outcome's own scale shows; None: the straight fitted line itself
    mean_label: ClassVar[str | None] = None

    def extra_names(self) -> list[str]:
        """Names of the per-segment parameters besides the slope coefficients."""
        return []

    def n_extra(self) -> int:
        """Number of extra parameters per segment."""
        return len(self.extra_names())

    def prepare(self, y, data=None):
        """``data`` with per-row terms that stay fixed during a fit computed once (none by default)."""
        return data

    def _finite_outcome(self, y, name):
        y = np.asarray(y, dtype=float).reshape(-1)
        _check_finite(y, name)
        return y


def _censored_sides(y, lower, upper):
    """Which rows sit at (or beyond) the lower and the upper bound: censored observations."""
    return y <= lower, y >= upper


def censored_normal_loglik(y, eta, log_sigma, lower, upper):
    """log f(y_i | eta_i, sigma_i), censored at ``lower`` / ``upper`` (infinite: no censoring).

    ``log_sigma`` holds one value per row (the location-scale family of
    :mod:`trustseg.model.spread`) or the same value repeated (:class:`CensoredFamily`).

    A trial point of a Newton step may put log sigma_i far out (a segment
    collapsing onto a few respondents); there sigma_i under- or overflows and
    the log-density is -inf or nan, which the step halving rejects, quietly.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        inv_sigma = np.exp(-log_sigma)
        z = (y - eta) * inv_sigma
        out = -0.5 * LOG_2PI - log_sigma - 0.5 * z * z
        left, right = _censored_sides(y, lower, upper)
        rows = np.flatnonzero(left | right)
        if rows.size:  # both bounds at once: log Phi(sign (eta - bound) / sigma)
            at_upper = right[rows]
            out[rows] = log_ndtr(np.where(at_upper, eta[rows] - upper, lower - eta[rows]) * inv_sigma[rows])
    return out


def censored_normal_derivatives(y, eta, log_sigma, lower, upper):
    """First (n, 2) and second (n, 2, 2) derivatives of :func:`censored_normal_loglik` in (eta_i, log sigma_i).

    A censored row contributes log Phi(t), t = (lower - eta)/sigma
    (left) or (eta - upper)/sigma (right), chained through t with the inverse
    Mills ratio.  Where sigma_i under- or overflows (see :func:`censored_normal_loglik`)
    the derivatives are not finite, quietly.
    """
    n = len(y)
    # filled one derivative at a time (contiguous rows), handed back as (n, 2) and (n, 2, 2) views
    d1 = np.empty((2, n))
    d2 = np.empty((2, 2, n))
    with np.errstate(over="ignore", invalid="ignore"):
        inv_sigma = np.exp(-log_sigma)
        z = (y - eta) * inv_sigma
        zz = z * z
        np.multiply(z, inv_sigma, out=d1[0])
        np.subtract(zz, 1.0, out=d1[1])
        np.multiply(inv_sigma, -inv_sigma, out=d2[0, 0])
        np.multiply(-2.0 * z, inv_sigma, out=d2[0, 1])
        np.multiply(zz, -2.0, out=d2[1, 1])
        left, right = _censored_sides(y, lower, upper)
        rows = np.flatnonzero(left | right)
        if rows.size:
            # t = sign (eta - bound) / sigma (sign -1 at the lower bound, +1 at the upper):
            # dt/deta = sign/sigma, dt/dlog_sigma = -t.  Both sides at once: few, small arrays.
            at_upper = right[rows]
            dt_eta = np.where(at_upper, inv_sigma[rows], -inv_sigma[rows])
            t = (eta[rows] - np.where(at_upper, upper, lower)) * dt_eta
            _, h1, h2 = _log_normal_cdf_derivatives(t)
            d1[0, rows] = h1 * dt_eta
            d1[1, rows] = -h1 * t
            d2[0, 0, rows] = h2 * dt_eta**2
            d2[0, 1, rows] = -(h2 * t + h1) * dt_eta
            d2[1, 1, rows] = (h2 * t + h1) * t
    d2[1, 0] = d2[0, 1]
    return d1.T, d2.transpose(2, 0, 1)


def censored_normal_mean(eta, sigma, lower, upper):
    """E[clip(Y*, lower, upper)] for Y*_i ~ N(eta_i, sigma_i^2) (sigma a scalar or one per row)."""
    a = (lower - eta) / sigma
    b = (upper - eta) / sigma
    below, above = ndtr(a), ndtr(-b)
    density = np.exp(-0.5 * a * a) - np.exp(-0.5 * b * b)
    inside = eta * (1.0 - below - above) + sigma * density / math.sqrt(2.0 * math.pi)
    # An infinite bound has zero probability beyond it; 0 * inf must not become nan.
    at_lower = lower * below if math.isfinite(lower) else 0.0
    at_upper = upper * above if math.isfinite(upper) else 0.0
    return inside + at_lower + at_upper



@dataclass(frozen=True)
class GaussianFamily(_Family):
    """Normal outcome, identity link; extra parameter ``log_sigma``."""

    name: ClassVar[str] = "gaussian"

    def extra_names(self) -> list[str]:
        return ["log_sigma"]

    def check_outcome(self, y, name, data=None) -> None:
        """Any finite value is a possible normal outcome."""
        self._finite_outcome(y, name)

    def loglik(self, y, eta, extra, data=None):
        """log N(y_i | eta_i, sigma^2), sigma = exp(extra[0])."""
        log_sigma = float(extra[0])
        z = (y - eta) * _inverse_sigma(log_sigma)
        return -0.5 * LOG_2PI - log_sigma - 0.5 * z * z

    def derivatives(self, y, eta, extra, data=None):
        """Derivatives with respect to (eta_i, log_sigma)."""
        inv_sigma = _inverse_sigma(extra[0])
        z = (y - eta) * inv_sigma
        n = len(z)
        d1 = np.column_stack([z * inv_sigma, z * z - 1.0])
        d2 = np.empty((n, 2, 2))
        d2[:, 0, 0] = -inv_sigma**2
        d2[:, 0, 1] = d2[:, 1, 0] = -2.0 * z * inv_sigma
        d2[:, 1, 1] = -2.0 * z * z
        return d1, d2

    def mean(self, eta, extra, data=None):
        return np.asarray(eta, dtype=float)

    def simulate(self, eta, extra, rng, data=None):
        return rng.normal(eta, math.exp(float(extra[0])))

    def start(self, X, y, w, data=None):
        """Weighted least squares and the ML residual standard deviation."""
        beta = _wls(X, y, w)
        variance = float(w @ (y - X @ beta) ** 2) / float(w.sum())
        # An exact fit (zero residuals) must still give a finite log sigma.
        return beta, np.array([0.5 * math.log(max(variance, 1e-12 * max(float(np.var(y)), 1.0)))])


@dataclass(frozen=True)
class CensoredFamily(_Family):
    """Normal outcome censored at the bounds of the scale (Tobit); extra ``log_sigma``.

    An observed value at ``lower`` contributes log P(Y* <= lower), one at
    ``upper`` log P(Y* >= upper), and one in between the normal log-density.
    Either bound may be infinite (censoring on one side only).
    """

    lower: float = -math.inf
    upper: float = math.inf
    name: ClassVar[str] = "censored"
    coefficient_unit: ClassVar[str] = "latent outcome points"
    mean_label: ClassVar[str | None] = "expected score, censored at the ends of the scale"

    def __post_init__(self):
        object.__setattr__(self, "lower", float(self.lower))
        object.__setattr__(self, "upper", float(self.upper))
        if not self.lower < self.upper:
            raise ConfigError(f"censored family: lower bound {self.lower:g} must be below upper bound {self.upper:g}")

    def extra_names(self) -> list[str]:
        return ["log_sigma"]

    def check_outcome(self, y, name, data=None) -> None:
        """Values must lie within [lower, upper]."""
        y = self._finite_outcome(y, name)
        _offending(
            y, (y < self.lower) | (y > self.upper), name,
            f"values outside the scale bounds [{self.lower:g}, {self.upper:g}] of the censored family",
            "Check the bounds of the scale (censored lower/upper) or the coding of the outcome.",
        )

    def loglik(self, y, eta, extra, data=None):
        return censored_normal_loglik(y, eta, np.full(len(y), float(extra[0])), self.lower, self.upper)

    def derivatives(self, y, eta, extra, data=None):
        """Derivatives with respect to (eta_i, log_sigma) (see :func:`censored_normal_derivatives`)."""
        return censored_normal_derivatives(y, eta, np.full(len(y), float(extra[0])), self.lower, self.upper)

    def mean(self, eta, extra, data=None):
        """E[clip(Y*, lower, upper)] for Y* ~ N(eta, sigma^2)."""
        return censored_normal_mean(np.asarray(eta, dtype=float), math.exp(float(extra[0])), self.lower, self.upper)

    def simulate(self, eta, extra, rng, data=None):
        return np.clip(rng.normal(eta, math.exp(float(extra[0]))), self.lower, self.upper)

    def start(self, X, y, w, data=None):
        """Least squares on the observed (censored) values, as for the normal."""
        return GaussianFamily().start(X, y, w, data)


@dataclass(frozen=True)
class BinomialFamily(_Family):
    """Logit link; ``y`` is 0/1 or successes out of ``data["trials"]``; no extra parameters."""

    name: ClassVar[str] = "binomial"
    coefficient_unit: ClassVar[str] = "log odds"
    mean_label: ClassVar[str | None] = "probability of a 1"

    def check_outcome(self, y, name, data=None) -> None:
        """0/1 without trials; with trials, integers 0 <= y <= trials."""
        y = self._finite_outcome(y, name)
        if data is None or data.get("trials") is None:
            _offending(
                y, (y != 0) & (y != 1), name, "a binomial outcome without trials takes only 0 and 1, found",
                "Recode yes/no as 1/0, give the number of trials for counts of successes, or use another family.",
            )
            return
        trials = _data_array(data, "trials", len(y), 1)
        _offending(
            y, (y < 0) | (y > trials) | (y != np.round(y)), name,
            "a binomial outcome must be a whole number of successes between 0 and the trials, found",
            "Check the outcome and the trials column.",
        )

    def loglik(self, y, eta, extra, data=None):
        if data is None or data.get("trials") is None:
            # one trial: the log binomial coefficient is 0 (computing it was most of a 0/1 fit's time)
            return y * log_expit(eta) + (1.0 - y) * log_expit(-eta)
        trials = _data_array(data, "trials", len(y), 1)
        log_choose = data.get("log_choose")
        if log_choose is None:
            log_choose = _log_choose(y, trials)
        return y * log_expit(eta) + (trials - y) * log_expit(-eta) + log_choose

    def prepare(self, y, data=None):
        """``data`` with the log binomial coefficients, which do not change during a fit, computed once."""
        if data is None or data.get("trials") is None:
            return data
        y = np.asarray(y, dtype=float).reshape(-1)
        return {**data, "log_choose": _log_choose(y, _data_array(data, "trials", len(y), 1))}

    def derivatives(self, y, eta, extra, data=None):
        trials = _data_array(data, "trials", len(y), 1)
        p = expit(eta)
        return (y - trials * p)[:, None], (-trials * p * (1.0 - p))[:, None, None]

    def mean(self, eta, extra, data=None):
        """Probability of success, times the trials when they are given."""
        p = expit(np.asarray(eta, dtype=float))
        if data is None or data.get("trials") is None:
            return p
        return p * _data_array(data, "trials", len(p), 1)

    def simulate(self, eta, extra, rng, data=None):
        eta = np.asarray(eta, dtype=float)
        return rng.binomial(_data_array(data, "trials", len(eta), 1).astype(np.int64), expit(eta)).astype(float)

    def start(self, X, y, w, data=None):
        """Least squares on empirical logits (one IRLS-like step from the data)."""
        trials = _data_array(data, "trials", len(y), 1)
        z = np.log((y + 0.5) / (trials - y + 0.5))
        return _wls(X, z, w), np.empty(0)


@dataclass(frozen=True)
class PoissonFamily(_Family):
    """Log link; ``data["offset"]`` is added to the linear predictor; no extra parameters."""

    name: ClassVar[str] = "poisson"
    coefficient_unit: ClassVar[str] = "log expected count"
    mean_label: ClassVar[str | None] = "expected count"

    def check_outcome(self, y, name, data=None) -> None:
        """Counts: whole numbers >= 0."""
        y = self._finite_outcome(y, name)
        _offending(
            y, (y < 0) | (y != np.round(y)), name, "a count outcome (poisson) takes whole numbers >= 0, found",
            "Check the coding of the outcome, or use another family.",
        )

    def loglik(self, y, eta, extra, data=None):
        linear = eta + _data_array(data, "offset", len(y), 0)
        with np.errstate(over="ignore", invalid="ignore"):
            return y * linear - np.exp(linear) - gammaln(y + 1.0)

    def derivatives(self, y, eta, extra, data=None):
        with np.errstate(over="ignore"):
            mu = np.exp(eta + _data_array(data, "offset", len(y), 0))
        return (y - mu)[:, None], (-mu)[:, None, None]

    def mean(self, eta, extra, data=None):
        eta = np.asarray(eta, dtype=float)
        return np.exp(eta + _data_array(data, "offset", len(eta), 0))

    def simulate(self, eta, extra, rng, data=None):
        return rng.poisson(self.mean(eta, extra, data)).astype(float)

    def start(self, X, y, w, data=None):
        """Least squares on log(y + 0.5) - offset."""
        z = np.log(y + 0.5) - _data_array(data, "offset", len(y), 0)
        return _wls(X, z, w), np.empty(0)


@dataclass(frozen=True)
class OrdinalFamily(_Family):
    """Cumulative logit for one rating item: ``logit P(Y <= c_j) = theta_j - eta``.

    ``categories`` are the answer values in increasing order, e.g. (1, 2, 3, 4, 5);
    the extra parameters are the C - 1 thresholds ``theta_1 < ... < theta_{C-1}``.
    """

    categories: tuple = field(default=(1.0, 2.0, 3.0, 4.0, 5.0))
    name: ClassVar[str] = "ordinal"
    has_intercept: ClassVar[bool] = False
    coefficient_unit: ClassVar[str] = "log odds of a higher answer"
    mean_label: ClassVar[str | None] = "expected rating"

    def __post_init__(self):
        values = tuple(float(c) for c in self.categories)
        object.__setattr__(self, "categories", values)
        if len(values) < 2 or len(values) > MAX_ORDINAL_CATEGORIES:
            raise ConfigError(
                f"ordinal family: {len(values)} categories given; a rating item has 2 to "
                f"{MAX_ORDINAL_CATEGORIES} answer values"
            )
        if any(b <= a for a, b in zip(values, values[1:])) or not all(map(math.isfinite, values)):
            raise ConfigError(f"ordinal family: categories {values} must be finite and strictly increasing")

    def extra_names(self) -> list[str]:
        c = self.categories
        return [f"threshold_{lo:g}|{hi:g}" for lo, hi in zip(c, c[1:])]

    def check_outcome(self, y, name, data=None) -> None:
        """At most 11 distinct values, all among the categories."""
        y = self._finite_outcome(y, name)
        distinct = np.unique(y)
        if len(distinct) > MAX_ORDINAL_CATEGORIES:
            raise DataError(
                f"column '{name}': an ordinal outcome with {len(distinct)} distinct values "
                f"({_format_values(distinct)}) is not a single rating item (ordinal takes at most "
                f"{MAX_ORDINAL_CATEGORIES}); use gaussian or censored for a scale score or a mean of items."
            )
        _offending(
            y, ~np.isin(y, self.categories), name,
            f"values that are not answer categories {_format_values(np.array(self.categories))}",
            "Set the ordinal categories to the answer values of the item, or recode the outcome.",
        )

    def _category_index(self, y):
        index = np.searchsorted(np.asarray(self.categories), y)
        return np.minimum(index, len(self.categories) - 1)

    def _cuts(self, y, eta, extra):
        """Lower and upper cut points a_i = theta_{k-1} - eta_i, b_i = theta_k - eta_i of each answer."""
        theta = np.asarray(extra, dtype=float)
        k = self._category_index(y)
        lower = np.concatenate([[-np.inf], theta])[k]
        upper = np.concatenate([theta, [np.inf]])[k]
        return k, lower - eta, upper - eta

    def loglik(self, y, eta, extra, data=None):
        _, a, b = self._cuts(y, eta, extra)
        return _log_logistic_interval(a, b)

    def derivatives(self, y, eta, extra, data=None):
        """Derivatives with respect to (eta_i, theta_1..theta_{C-1}).

        With g = log(F(b) - F(a)) and p = F(b) - F(a), the derivatives in
        (a, b) use the ratios r = f / p formed in log space; a row depends on
        eta through both cuts and on the two thresholds around its answer.
        """
        n = len(y)
        m = len(self.categories) - 1
        k, a, b = self._cuts(y, eta, extra)
        log_p = _log_logistic_interval(a, b)
        with np.errstate(invalid="ignore", over="ignore"):
            # log of the logistic density f(t) = F(t)(1 - F(t)); -inf at infinite cuts.
            ratio_a = np.exp(log_expit(a) + log_expit(-a) - log_p)
            ratio_b = np.exp(log_expit(b) + log_expit(-b) - log_p)
        ratio_a = np.where(np.isfinite(a), ratio_a, 0.0)
        ratio_b = np.where(np.isfinite(b), ratio_b, 0.0)
        slope_a = 1.0 - 2.0 * expit(a)  # f'(t) / f(t)
        slope_b = 1.0 - 2.0 * expit(b)
        # gradient and Hessian of g in (a, b)
        g = np.column_stack([-ratio_a, ratio_b])
        h = np.empty((n, 2, 2))
        # crossed thresholds (a trial point Newton's step halving will reject) give inf - inf here: NaN, quietly
        with np.errstate(invalid="ignore"):
            h[:, 0, 0] = -ratio_a * slope_a - ratio_a**2
            h[:, 1, 1] = ratio_b * slope_b - ratio_b**2
            h[:, 0, 1] = h[:, 1, 0] = ratio_a * ratio_b
        # Chain rule through a = theta_{k-1} - eta and b = theta_k - eta: each row touches eta and
        # at most two thresholds, so the (1 + m)-square blocks are filled entry by entry (a dense
        # Jacobian product costs (1 + m)^2 times more and dominated the ordinal fit).
        d1 = np.zeros((n, 1 + m))
        d2 = np.zeros((n, 1 + m, 1 + m))
        rows = np.arange(n)
        lower, upper = rows[k > 0], rows[k < m]
        lo, up = k[lower], 1 + k[upper]  # columns of theta_{k-1} and theta_k
        d1[:, 0] = -(g[:, 0] + g[:, 1])
        d1[lower, lo] = g[lower, 0]
        d1[upper, up] = g[upper, 1]
        d2[:, 0, 0] = h[:, 0, 0] + 2.0 * h[:, 0, 1] + h[:, 1, 1]
        d2[lower, 0, lo] = d2[lower, lo, 0] = -(h[lower, 0, 0] + h[lower, 0, 1])
        d2[upper, 0, up] = d2[upper, up, 0] = -(h[upper, 0, 1] + h[upper, 1, 1])
        d2[lower, lo, lo] = h[lower, 0, 0]
        d2[upper, up, up] = h[upper, 1, 1]
        both = rows[(k > 0) & (k < m)]
        d2[both, k[both], 1 + k[both]] = d2[both, 1 + k[both], k[both]] = h[both, 0, 1]
        return d1, d2

    def probabilities(self, eta, extra):
        """P(Y = c_j | eta_i) as an (n, C) array."""
        eta = np.asarray(eta, dtype=float)
        cumulative = expit(np.asarray(extra, dtype=float)[None, :] - eta[:, None])
        ones = np.ones((len(eta), 1))
        return np.diff(np.hstack([0.0 * ones, cumulative, ones]), axis=1)

    def mean(self, eta, extra, data=None):
        """Expected rating sum_j c_j P(Y = c_j)."""
        return self.probabilities(eta, extra) @ np.asarray(self.categories)

    def simulate(self, eta, extra, rng, data=None):
        eta = np.asarray(eta, dtype=float)
        latent = eta + rng.logistic(size=eta.shape)
        return np.asarray(self.categories)[np.searchsorted(np.asarray(extra, dtype=float), latent)]

    def start(self, X, y, w, data=None):
        """Zero slopes; thresholds at the logits of the weighted cumulative shares."""
        k = self._category_index(y)
        shares = np.bincount(k, weights=w, minlength=len(self.categories)) / float(w.sum())
        shares = np.maximum(shares, _MIN_START_SHARE)
        cumulative = np.cumsum(shares / shares.sum())[:-1]
        return np.zeros(X.shape[1]), np.log(cumulative / (1.0 - cumulative))


FAMILIES = {
    "gaussian": GaussianFamily,
    "censored": CensoredFamily,
    "binomial": BinomialFamily,
    "poisson": PoissonFamily,
    "ordinal": OrdinalFamily,
}


def family_class(name):
    """The class of the family called ``name``, whose class attributes carry its facts (units, curve)."""
    if name not in FAMILIES:
        raise ConfigError(f"unknown outcome family '{name}'; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def make_family(name, **settings):
    """The family called ``name`` with its settings (censored: lower, upper; ordinal: categories)."""
    if name not in FAMILIES:
        raise ConfigError(f"unknown outcome family '{name}'; choose one of {', '.join(FAMILIES)}")
    try:
        return FAMILIES[name](**settings)
    except TypeError:
        accepted = [f.name for f in dataclasses.fields(FAMILIES[name])]
        raise ConfigError(
            f"outcome family '{name}' takes the settings {accepted or 'none'}, got {sorted(settings)}"
        ) from None


# ----------------------------------------------------------------------------
# the box a segment's parameters are kept in
# ----------------------------------------------------------------------------


class Bounds(NamedTuple):
    """Lower and upper bounds of each segment's coefficients ``beta`` (q,) and extras (m,); +-inf where free."""

    beta_low: np.ndarray
    beta_high: np.ndarray
    extra_low: np.ndarray
    extra_high: np.ndarray
    #: the extras are ordered thresholds: two that meet leave an answer category without probability
    ordered_extra: bool = False


#: largest change in log odds (or log count) per standard deviation of a predictor a segment may have
SEPARATION_LIMIT = 15.0
#: families whose coefficients run to infinity when a segment's answers are perfectly predicted
SEPARATING_FAMILIES = ("binomial", "ordinal", "poisson")


def coefficient_bounds(family, X, w=None, extra_lower=None) -> Bounds:
    """The box every segment's parameters are kept in.

    Normal families: a lower bound on log sigma (``extra_lower``, the
    variance floor) and nothing else.  Binomial, ordinal and poisson
    segments have no maximum when their answers are perfectly predicted (all
    one answer, or answers split by a predictor): the coefficients run off to
    infinity while the likelihood creeps towards its supremum, and EM never
    stops.  They are kept within :data:`SEPARATION_LIMIT` log odds (log
    counts) per predictor SD, and intercepts and thresholds within the limit
    plus the largest shift the slopes can give over the data; a probability
    of exp(-15) = 3e-7 is a certainty for any survey.  A segment on this box
    is flagged (``separation``, :mod:`trustseg.model.diagnostics`), and so is
    an ordinal segment in which two thresholds meet (nobody in it gave the
    answer between them).
    """
    X = np.asarray(X, dtype=float).reshape(np.shape(X)[0], -1)
    w = np.ones(X.shape[0]) if w is None else np.asarray(w, dtype=float)
    q, m = X.shape[1] + family.has_intercept, family.n_extra()
    beta_low, beta_high = np.full(q, -np.inf), np.full(q, np.inf)
    extra_low, extra_high = np.full(m, -np.inf), np.full(m, np.inf)
    if extra_lower is not None:
        extra_low = np.maximum(extra_low, np.asarray(extra_lower, dtype=float))
    if family.name in SEPARATING_FAMILIES:
        total = w.sum()
        sd = np.sqrt(w @ (X - w @ X / total) ** 2 / total)
        slope = SEPARATION_LIMIT / np.maximum(sd, 1e-12)
        level = SEPARATION_LIMIT + float(slope @ np.abs(X).max(axis=0))
        slopes = slice(1, None) if family.has_intercept else slice(None)
        beta_low[slopes], beta_high[slopes] = -slope, slope
        if family.has_intercept:
            beta_low[0], beta_high[0] = -level, level
        extra_low, extra_high = np.full(m, -level), np.full(m, level)
    return Bounds(beta_low, beta_high, extra_low, extra_high, family.name == "ordinal")


def on_bounds(params, bounds, rtol=1e-6) -> np.ndarray:
    """Which segments have a coefficient or extra on the box of :func:`coefficient_bounds` (K,) bool."""
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


# ----------------------------------------------------------------------------
# one segment: gradient, Hessian and the weighted Newton fit
# ----------------------------------------------------------------------------


def take_rows(data, rows):
    """The per-row side data (trials, offset, ...) of the respondents ``rows`` (a slice, mask or indices)."""
    if data is None:
        return None
    return {key: (None if value is None else np.asarray(value).reshape(-1)[rows]) for key, value in data.items()}


def _subset(y, X, w, data):
    """Drop rows of zero weight: their log-density may be -inf and 0 * -inf is nan."""
    keep = w > 0
    if keep.all():
        return y, X, w, data
    return y[keep], X[keep], w[keep], take_rows(data, keep)


def segment_gradient_hessian(family, X, y, beta, extra, w, data=None):
    """Weighted log-likelihood of one segment with its gradient and Hessian in (beta, extra).

    Parameters
    ----------
    family : outcome family
    X : ndarray (n, p)
        The design matching ``beta`` (with the intercept column if the family has one).
    y : ndarray (n,)
    beta : ndarray (p,)
    extra : ndarray (m,)
        The family's extra parameters (:meth:`extra_names`).
    w : ndarray (n,)
        Non-negative weights (posterior probabilities times survey weights).
    data : dict, optional
        ``trials`` / ``offset`` arrays of length n.

    Returns
    -------
    loglik : float
        ``sum_i w_i log f_i``.
    gradient : ndarray (p + m,)
    hessian : ndarray (p + m, p + m)
    """
    y, X, w, data = _subset(np.asarray(y, dtype=float), np.asarray(X, dtype=float), np.asarray(w, dtype=float), data)
    beta = np.asarray(beta, dtype=float)
    extra = np.asarray(extra, dtype=float)
    eta = linear_predictor(family, X, beta)
    loglik = float(w @ family.loglik(y, eta, extra, data))
    d1, d2 = family.derivatives(y, eta, extra, data)
    if _equation_blocks(family) is None:
        gradient = np.concatenate([X.T @ (w * d1[:, 0]), w @ d1[:, 1:]])
    else:
        gradient = w @ row_gradients(family, X, d1)
    return loglik, gradient, weighted_second_derivatives(family, X, w, d2)


def _outcome_array(family, y):
    """``y`` as floats: (n,), or (n, E) for an equation system."""
    y = np.asarray(y, dtype=float)
    return y if _equation_blocks(family) is not None else y.reshape(-1)


def _equation_blocks(family):
    """The design columns of each equation of an equation system (:mod:`trustseg.model.system`), else None."""
    return getattr(family, "equation_blocks", None)


def linear_predictor(family, X, beta):
    """One segment's linear predictor ``X @ beta``: (n,), or (n, E) for an equation system."""
    if _equation_blocks(family) is None:
        return X @ beta
    return family.linear_predictors(X, np.asarray(beta, dtype=float)[None, :])[:, 0, :]


def row_gradients(family, X, d1):
    """Each row's gradient of log f_i in (beta, extra), (n, q + m), from ``d1`` in (eta, extra).

    ``X`` is the design; an equation system chains each equation's eta
    through its own block of the design.
    """
    blocks = _equation_blocks(family)
    if blocks is None:
        return np.column_stack([X * d1[:, :1], d1[:, 1:]])
    n_eq = len(blocks)
    return np.column_stack([X[:, b] * d1[:, e : e + 1] for e, b in enumerate(blocks)] + [d1[:, n_eq:]])


def weighted_second_derivatives(family, X, wt, d2):
    """``sum_i wt_i`` times the second derivatives of log f_i in (beta, extra), (q + m, q + m)."""
    blocks = _equation_blocks(family)
    q = X.shape[1]
    if blocks is None:
        m = d2.shape[1] - 1
        second = np.empty((q + m, q + m))
        second[:q, :q] = (X * (wt * d2[:, 0, 0])[:, None]).T @ X
        second[:q, q:] = X.T @ (wt[:, None] * d2[:, 0, 1:])
        second[q:, :q] = second[:q, q:].T
        second[q:, q:] = np.einsum("i,ijk->jk", wt, d2[:, 1:, 1:])
        return second
    n_eq = len(blocks)
    m = d2.shape[1] - n_eq
    extras = q + np.arange(m)
    second = np.zeros((q + m, q + m))
    for e, b in enumerate(blocks):
        for f in range(e, n_eq):
            coupling = wt * d2[:, e, f]
            if not coupling.any():  # independent equations: no cross terms
                continue
            c = blocks[f]
            part = (X[:, b] * coupling[:, None]).T @ X[:, c]
            second[np.ix_(b, c)] = part
            second[np.ix_(c, b)] = part.T
        cross = X[:, b].T @ (wt[:, None] * d2[:, e, n_eq:])
        second[np.ix_(b, extras)] = cross
        second[np.ix_(extras, b)] = cross.T
    second[q:, q:] = np.einsum("i,ijk->jk", wt, d2[:, n_eq:, n_eq:])
    return second


@dataclass(frozen=True)
class SegmentFit:
    """The weighted ML fit of one segment.

    ``beta`` includes the intercept first when the family has one; ``extra``
    follows the family's :meth:`extra_names`; ``gradient`` and ``hessian`` are
    of the weighted log-likelihood in (beta, extra) at the solution, so
    ``inv(-hessian)`` is the covariance when the weights are frequencies.
    """

    beta: np.ndarray
    extra: np.ndarray
    loglik: float
    gradient: np.ndarray
    hessian: np.ndarray
    n_iter: int
    converged: bool


def _ascent_step(gradient, hessian):
    """The Newton step when -H is positive definite, else a gradient step scaled by |H|.

    Returns the step and whether it is a Newton step.
    """
    try:
        factor = linalg.cho_factor(-hessian, check_finite=False)
        step = linalg.cho_solve(factor, gradient, check_finite=False)
        if np.all(np.isfinite(step)):
            return step, True
    except linalg.LinAlgError:
        pass
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


def fit_segment(family, X, y, w=None, data=None, start=None, tol=1e-10, max_iter=100) -> SegmentFit:
    """Weighted maximum likelihood of one segment by Newton's method with step halving.

    Parameters
    ----------
    family : outcome family
    X : ndarray (n, p)
        Predictors *without* an intercept column; one is added in front when
        ``family.has_intercept``.
    y : ndarray (n,)
    w : ndarray (n,), optional
        Non-negative weights (e.g. posterior probabilities); all ones if omitted.
    data : dict, optional
        ``trials`` (binomial) / ``offset`` (poisson) arrays of length n.
    start : tuple (beta, extra), optional
        A warm start (beta including the intercept when the family has one);
        ``family.start`` otherwise.
    tol : float
        Convergence when the Newton decrement g'(-H)^{-1}g is below
        ``tol * max(1, |loglik|)``.
    max_iter : int

    Returns
    -------
    SegmentFit
    """
    y = _outcome_array(family, y)
    X = np.asarray(X, dtype=float).reshape(len(y), -1)
    if family.has_intercept:
        X = np.column_stack([np.ones(len(y)), X])
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=float).reshape(-1)
    if w.shape != (len(y),) or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite, non-negative and one per row")
    if not w.sum() > 0:
        raise ValueError("weights sum to zero: nothing to fit")
    y, X, w, data = _subset(y, X, w, data)
    if hasattr(family, "fit_equations"):  # equations that share no parameter: fitted one by one
        return family.fit_equations(X, y, w, data, start=start, max_iter=max_iter)
    p = X.shape[1]

    beta, extra = family.start(X, y, w, data) if start is None else start
    theta = np.concatenate([np.asarray(beta, dtype=float).reshape(-1), np.asarray(extra, dtype=float).reshape(-1)])
    if theta.shape != (p + family.n_extra(),):
        raise ValueError(f"start has {theta.size} parameters, expected {p + family.n_extra()}")

    def evaluate(values):
        # a trial point may be wild (a collapsing segment): its non-finite value is rejected, quietly
        with np.errstate(all="ignore"):
            return segment_gradient_hessian(family, X, y, values[:p], values[p:], w, data)

    loglik, gradient, hessian = evaluate(theta)
    if not np.isfinite(loglik):
        raise ValueError(f"the {family.name} log-likelihood is not finite at the start")
    converged = False
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        step, newton = _ascent_step(gradient, hessian)
        decrement = float(gradient @ step)
        size = 1.0
        for _ in range(60):
            candidate = theta + size * step
            new = evaluate(candidate)
            # Accept any finite non-decrease; rounding noise near the optimum may
            # make an exact Newton step look a hair worse, so allow that much.
            if np.isfinite(new[0]) and new[0] >= loglik - 1e-12 * max(1.0, abs(loglik)):
                break
            size *= 0.5
        else:
            break  # no step along this direction helps: at the optimum to rounding
        theta, (loglik, gradient, hessian) = candidate, new
        if newton and decrement <= tol * max(1.0, abs(loglik)):
            converged = True
            break
    return SegmentFit(
        beta=theta[:p].copy(), extra=theta[p:].copy(), loglik=loglik, gradient=gradient, hessian=hessian,
        n_iter=n_iter, converged=converged,
    )
