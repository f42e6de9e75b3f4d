"""One rating item as the outcome: the cumulative logit (proportional odds) family.

``logit P(Y <= c_j | x) = theta_j - x'beta`` for answer values
``c_1 < ... < c_C`` (McCullagh 1980).  Sign convention (R's ``ordinal::clm``
and statsmodels' ``OrderedModel``): a positive slope moves answers up the
scale.  The design has no intercept; the C - 1 thresholds ``theta_j`` are
the extra parameters, kept unconstrained (an unordered set has
log-likelihood -inf, so Newton's step halving never accepts one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from scipy.special import expit, log_expit

from trustseg.errors import ConfigError, DataError
from trustseg.model.families.base import Family, format_values, refuse_values

# An ordinal outcome is one rating item: more answer values than this is a
# score or a measurement, better described by gaussian or censored.
MAX_ORDINAL_CATEGORIES = 11
# Shares below this are raised in the starting thresholds, so an empty answer
# category gives finite, strictly increasing starting thresholds.
_MIN_START_SHARE = 1e-3
#: an ordinal segment's outer threshold this many logits beyond its neighbour leaves the end answer
#: all but impossible in that segment (odds below e^-8 at any predictor value near the others)
RUNAWAY_THRESHOLD_GAP = 8.0


#: below this ratio of the smaller to the larger tail probability, F(b) - F(a) is formed in log space
_CANCELLATION = 0.5


def log_logistic_interval(a, b):
    """log(F(b) - F(a)) for the logistic cdf F, accurate in both tails; -inf where a >= b.

    Far in the upper tail F(b) - F(a) is a difference of numbers near 1;
    there the same difference of survival functions S(a) - S(b) is formed
    instead.  The difference of the two tail probabilities ``hi - lo`` is
    exact to rounding unless they are close (a narrow interval); those rows
    (``lo > hi / 2``) take ``log hi + log1p(-exp(log lo - log hi))`` in log
    space, which costs four times as much and is rarely needed.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        upper = (a + b) > 0
        hi = expit(np.where(upper, -a, b))
        lo = expit(np.where(upper, -b, a))
        out = np.log(hi - lo)
        close = (lo > _CANCELLATION * hi) | (hi < 1e-300)
        if close.any():
            ac, bc, uc = a[close], b[close], upper[close]
            log_hi = np.where(uc, log_expit(-ac), log_expit(bc))
            log_lo = np.where(uc, log_expit(-bc), log_expit(ac))
            out[close] = log_hi + np.log1p(-np.exp(log_lo - log_hi))
    return np.where(a < b, out, -np.inf)


@dataclass(frozen=True)
class OrdinalFamily(Family):
    """Cumulative logit for one rating item: ``logit P(Y <= c_j) = theta_j - eta``.

    ``categories`` are the answer values in increasing order, e.g. (1, 2, 3, 4, 5);
    the extra parameters are the C - 1 thresholds ``theta_1 < ... < theta_{C-1}``.
    """

    categories: tuple = field(default=(1.0, 2.0, 3.0, 4.0, 5.0))
    name: ClassVar[str] = "ordinal"
    has_intercept: ClassVar[bool] = False
    can_separate: ClassVar[bool] = True
    rating_outcome: ClassVar[bool] = True
    ordered_extra: ClassVar[bool] = True
    coefficient_unit: ClassVar[str] = "log odds of a higher answer"
    description: ClassVar[str] = "ordinal cumulative logit"
    mean_label: ClassVar[str | None] = "expected rating"

    single_answer: ClassVar[bool] = True

    @classmethod
    def options_for_scale(cls, lowest: float, highest: float, step: float = 1.0) -> dict | None:
        """One category per point (or step) of the scale; None unless the scale is 2 to
        ``MAX_ORDINAL_CATEGORIES`` whole steps."""
        n = (highest - lowest) / step + 1
        if not (lowest / step).is_integer() or not n.is_integer() or not 2 <= n <= MAX_ORDINAL_CATEGORIES:
            return None
        return {"categories": [float(lowest + i * step) for i in range(int(n))]}

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
        y = self.finite_outcome(y, name)
        distinct = np.unique(y)
        if len(distinct) > MAX_ORDINAL_CATEGORIES:
            raise DataError(
                f"column '{name}': an ordinal outcome with {len(distinct)} distinct values "
                f"({format_values(distinct)}) is not a single rating item (ordinal takes at most "
                f"{MAX_ORDINAL_CATEGORIES}); use gaussian or censored for a scale score or a mean of items."
            )
        refuse_values(
            y, ~np.isin(y, self.categories), name,
            f"values that are not answer categories {format_values(np.array(self.categories))}",
            "Set the ordinal categories to the answer values of the item, or recode the outcome.",
        )

    def _category_index(self, y, data=None):
        """Each answer's position among the categories (computed once per fit: :meth:`prepare`)."""
        if data is not None and data.get("category") is not None and len(data["category"]) == len(y):
            return data["category"]
        index = np.searchsorted(np.asarray(self.categories), y)
        return np.minimum(index, len(self.categories) - 1)

    def prepare(self, y, data=None):
        """``data`` with each answer's category position, which does not change during a fit."""
        return {**(data or {}), "category": self._category_index(np.asarray(y, dtype=float).reshape(-1))}

    def _cuts(self, y, eta, extra, data=None):
        """Lower and upper cut points a_i = theta_{k-1} - eta_i, b_i = theta_k - eta_i of each answer."""
        theta = np.asarray(extra, dtype=float)
        k = self._category_index(y, data)
        lower = np.concatenate([[-np.inf], theta])[k]
        upper = np.concatenate([theta, [np.inf]])[k]
        return k, lower - eta, upper - eta

    def loglik(self, y, eta, extra, data=None):
        _, a, b = self._cuts(y, eta, extra, data)
        return log_logistic_interval(a, b)

    def segment_logliks(self, y, eta, extra, data=None):
        """Every segment's log-probability of each answer in one pass over (n, K)."""
        theta = np.asarray(extra, dtype=float)
        edges = np.column_stack([np.full(len(theta), -np.inf), theta, np.full(len(theta), np.inf)])
        k = self._category_index(y, data)
        return log_logistic_interval(edges[:, k].T - eta, edges[:, k + 1].T - eta)

    def _cut_derivatives(self, y, eta, extra, data=None, log_p=None):
        """Each answer's category, and the gradient (n, 2) and Hessian (n, 2, 2) of log p in its cuts (a, b).

        With g = log(F(b) - F(a)) and p = F(b) - F(a), the derivatives in
        (a, b) use the ratios r = f / p formed in log space; ``log_p``, the
        log-probabilities when the caller has them, saves computing them.
        """
        n = len(y)
        k, a, b = self._cuts(y, eta, extra, data)
        if log_p is None:
            log_p = log_logistic_interval(a, b)
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
        return k, g, h

    def derivatives(self, y, eta, extra, data=None):
        """Derivatives with respect to (eta_i, theta_1..theta_{C-1}).

        A row depends on eta through both cuts of its answer and on the two
        thresholds around it (:meth:`_cut_derivatives`).
        """
        n = len(y)
        m = len(self.categories) - 1
        k, g, h = self._cut_derivatives(y, eta, extra, data)
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

    def gradient_hessian(self, design, y, beta, extra, w, data=None, log_density=None):
        """The weighted gradient and Hessian of one segment, summed over the answers without (n, q+m, q+m) arrays.

        Each answer touches eta and the two thresholds around it, so the
        threshold blocks are sums over the rows of each category (bincounts)
        and the coefficient blocks one weighted product with the design.
        """
        m = len(self.categories) - 1
        k, g, h = self._cut_derivatives(y, design @ beta, extra, data, log_density)
        has_low, has_high = k > 0, k < m
        low, high = np.where(has_low, k - 1, 0), np.where(has_high, k, 0)  # thresholds below and above
        g_a, g_b = w * g[:, 0] * has_low, w * g[:, 1] * has_high
        h_aa, h_bb = w * h[:, 0, 0] * has_low, w * h[:, 1, 1] * has_high
        h_ab = w * h[:, 0, 1] * (has_low & has_high)
        gradient = np.concatenate([-(design.T @ (g_a + g_b)),
                                   np.bincount(low, g_a, m) + np.bincount(high, g_b, m)])
        q = design.shape[1]
        hessian = np.zeros((q + m, q + m))
        hessian[:q, :q] = (design * (h_aa + 2.0 * h_ab + h_bb)[:, None]).T @ design
        cross = np.zeros((len(k), m))  # d2 / d beta d theta, one column per threshold
        rows = np.arange(len(k))
        cross[rows, low] -= h_aa + h_ab
        cross[rows, high] -= h_ab + h_bb
        hessian[:q, q:] = design.T @ cross
        hessian[q:, :q] = hessian[:q, q:].T
        diagonal = np.bincount(low, h_aa, m) + np.bincount(high, h_bb, m)
        hessian[q + np.arange(m), q + np.arange(m)] = diagonal
        if m > 1:
            neighbours = np.bincount(low, h_ab, m)[: m - 1]  # theta_{k-1} with theta_k
            hessian[q + np.arange(m - 1), q + 1 + np.arange(m - 1)] = neighbours
            hessian[q + 1 + np.arange(m - 1), q + np.arange(m - 1)] = neighbours
        return gradient, hessian

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

    def start(self, design, y, w, data=None):
        """Zero slopes; thresholds at the logits of the weighted cumulative shares."""
        k = self._category_index(y)
        shares = np.bincount(k, weights=w, minlength=len(self.categories)) / float(w.sum())
        shares = np.maximum(shares, _MIN_START_SHARE)
        cumulative = np.cumsum(shares / shares.sum())[:-1]
        return np.zeros(design.shape[1]), np.log(cumulative / (1.0 - cumulative))



    def escape_starts(self, params) -> list:
        """The solution with each runaway outer threshold pulled back next to its neighbour (none if none ran).

        EM can leave a local optimum in which one segment never gives an end
        answer (its outer threshold runs off towards infinity, where the
        likelihood is flat in it, so EM cannot bring it back); the other
        segments then take those answers.  The threshold is put back a
        typical gap (the median of the segments' gaps that have not run
        away) from its neighbour.
        """
        reset = runaway_thresholds_reset(params)
        return [] if reset is None else [reset]


def runaway_thresholds_reset(params):
    """An ordinal solution with its runaway outer thresholds pulled back (see :meth:`OrdinalFamily.escape_starts`).

    None when no outer threshold is more than :data:`RUNAWAY_THRESHOLD_GAP`
    logits from its neighbour.
    """
    if params is None or params.extra.shape[1] < 2:
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
    return type(params)(params.weights.copy(), params.beta.copy(), extra)
