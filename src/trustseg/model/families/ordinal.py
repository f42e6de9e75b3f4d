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


#: below this probability an answer's probability is formed in log space (the product of its factors underflows)
_TINY_PROBABILITY = 1e-300


def _tails(t):
    """F(t) and S(t) = 1 - F(t) for the logistic cdf F, each accurate to rounding (an overflowing e^t gives 0)."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-t)), 1.0 / (1.0 + np.exp(t))


def _probability(a, b, below_b, above_a):
    """p = F(b) S(a) (1 - e^(a - b)) (see :func:`log_logistic_interval`), the factor 1 - e^(a - b), and the rows
    where p underflows or a >= b (a mask, None when there are none), which are formed in log space."""
    with np.errstate(invalid="ignore", over="ignore"):
        gap = -np.expm1(a - b)
        p = below_b * above_a * gap
        tiny = ~(p > _TINY_PROBABILITY)
    return p, gap, (tiny if tiny.any() else None)


def _log_in_log_space(a, b):
    """log(F(b) - F(a)) as log F(b) + log S(a) + log(1 - e^(a - b)); -inf where a >= b."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a < b, log_expit(b) + log_expit(-a) + np.log(-np.expm1(a - b)), -np.inf)


def log_logistic_interval(a, b):
    """log(F(b) - F(a)) for the logistic cdf F, accurate in both tails and for narrow intervals; -inf where a >= b.

    For the logistic cdf, F(b) - F(a) = F(b) S(a) (1 - e^(a - b)) exactly
    (S = 1 - F): a product of factors each formed without a difference (the
    last by ``expm1``), so accurate to rounding with no branch.  Where the
    product underflows (a cut beyond about 700 logits: only at the
    separation box) it is formed in log space.
    """
    with np.errstate(over="ignore"):
        p, _, tiny = _probability(a, b, 1.0 / (1.0 + np.exp(-b)), 1.0 / (1.0 + np.exp(a)))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(p)
    if tiny is not None:
        out[tiny] = _log_in_log_space(a[tiny], b[tiny])
    return out


def interval_terms(a, b):
    """The terms of the derivatives of log p, p = F(b) - F(a), in the cuts a < b: the ratios f(a) / p and f(b) / p
    and the slopes f'(t) / f(t) = 1 - 2 F(t) of the logistic density f = F S at both cuts; any shape.

    The ratios are f(a) / p = F(a) / (F(b) (1 - e^(a - b))) and
    f(b) / p = S(b) / (S(a) (1 - e^(a - b))) (see
    :func:`log_logistic_interval`), accurate to rounding and 0 at an
    infinite cut.  Where a >= b (crossed thresholds of a trial point that
    Newton's step halving rejects) they are NaN.
    """
    below_a, above_a = _tails(a)
    below_b, above_b = _tails(b)
    _, gap, tiny = _probability(a, b, below_b, above_a)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        ratio_a = below_a / (below_b * gap)
        ratio_b = above_b / (above_a * gap)
        if tiny is not None:
            at, bt = a[tiny], b[tiny]
            log_p = _log_in_log_space(at, bt)
            ratio_a[tiny] = np.where(np.isfinite(at), np.exp(log_expit(at) + log_expit(-at) - log_p), 0.0)
            ratio_b[tiny] = np.where(np.isfinite(bt), np.exp(log_expit(bt) + log_expit(-bt) - log_p), 0.0)
    return ratio_a, ratio_b, above_a - below_a, above_b - below_b


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
        lower = np.take(np.concatenate([[-np.inf], theta]), k)
        upper = np.take(np.concatenate([theta, [np.inf]]), k)
        return k, lower - eta, upper - eta

    def loglik(self, y, eta, extra, data=None):
        _, a, b = self._cuts(y, eta, extra, data)
        return log_logistic_interval(a, b)

    def segment_logliks(self, y, eta, extra, data=None):
        """Every segment's log-probability of each answer in one pass over (n, K)."""
        a, b = self._segment_cuts(y, eta, extra, data)
        return log_logistic_interval(a, b)

    def _segment_cuts(self, y, eta, extra, data=None):
        """Every segment's cuts a = theta_{k-1} - eta and b = theta_k - eta of each answer, (n, K) each."""
        theta = np.asarray(extra, dtype=float)
        edges = np.vstack([np.full(len(theta), -np.inf), theta.T, np.full(len(theta), np.inf)])  # (C + 1, K)
        k = self._category_index(y, data)
        # np.take gathers whole rows several times faster than indexing with k
        return np.take(edges, k, axis=0) - eta, np.take(edges, k + 1, axis=0) - eta

    def _cut_derivatives(self, y, eta, extra, data=None):
        """Each answer's category, and the gradient (n, 2) and Hessian (n, 2, 2) of log p in its cuts (a, b),
        with p = F(b) - F(a) (see :func:`interval_terms`)."""
        n = len(y)
        k, a, b = self._cuts(y, eta, extra, data)
        ratio_a, ratio_b, slope_a, slope_b = interval_terms(a, b)
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
        thresholds around it (:meth:`_cut_derivatives`), so its (1 + m)-square
        block has at most nine entries, written through flat indices (a dense
        Jacobian product costs (1 + m)^2 times more).
        """
        n = len(y)
        m = len(self.categories) - 1
        size = 1 + m
        k, g, h = self._cut_derivatives(y, eta, extra, data)
        has_low, has_high = k > 0, k < m
        # columns of theta_{k-1} and theta_k; a missing neighbour points at column 0 (eta) with a zero term, which
        # the entries written after it overwrite, so the writes go from the cross terms to (eta, eta) last
        lo, up = np.where(has_low, k, 0), np.where(has_high, k + 1, 0)
        g_a, g_b = np.where(has_low, g[:, 0], 0.0), np.where(has_high, g[:, 1], 0.0)
        h_aa, h_bb = np.where(has_low, h[:, 0, 0], 0.0), np.where(has_high, h[:, 1, 1], 0.0)
        h_ab = np.where(has_low & has_high, h[:, 0, 1], 0.0)
        rows = np.arange(n)
        d1 = np.zeros((n, size))
        d1[rows, lo] = g_a
        d1[rows, up] = g_b
        d1[:, 0] = -(g_a + g_b)
        d2 = np.zeros((n, size * size))
        for flat, value in ((lo * size + up, h_ab), (up * size + lo, h_ab),
                            (lo, -(h_aa + h_ab)), (lo * size, -(h_aa + h_ab)),
                            (up, -(h_ab + h_bb)), (up * size, -(h_ab + h_bb)),
                            (lo * size + lo, h_aa), (up * size + up, h_bb)):
            d2[rows, flat] = value
        d2[:, 0] = h_aa + 2.0 * h_ab + h_bb
        return d1, d2.reshape(n, size, size)

    def gradient_hessian(self, design, y, beta, extra, w, data=None, log_density=None):
        """The weighted gradient and Hessian of one segment (:meth:`gradient_hessians` with one segment)."""
        gradients, hessians = self.gradient_hessians(
            design, y, np.asarray(beta, dtype=float)[None, :], np.asarray(extra, dtype=float)[None, :],
            np.asarray(w, dtype=float)[:, None], data)
        return gradients[0], hessians[0]

    def gradient_hessians(self, design, y, beta, extra, weights, data=None, log_density=None):
        """Every segment's weighted gradient (K, q + m) and Hessian (K, q + m, q + m), without (n, q+m, q+m) arrays.

        Each answer touches eta and the two thresholds around its category,
        so the threshold blocks are sums over the answers of each category:
        one product of the (n, C) category indicator with the weighted cut
        derivatives of every segment at once; the coefficient blocks are
        products with the design.  ``log_density`` is not needed (the terms
        of the derivatives give it at no cost).
        """
        beta, theta = np.asarray(beta, dtype=float), np.asarray(extra, dtype=float)
        n, q = design.shape
        n_seg, m = theta.shape
        k = self._category_index(y, data)
        a, b = self._segment_cuts(y, design @ beta.T, theta, data)
        ratio_a, ratio_b, slope_a, slope_b = interval_terms(a, b)
        cut_terms = np.empty((n, 5, n_seg))  # weighted derivatives in the cuts: a, b, aa, bb, ab
        with np.errstate(invalid="ignore"):  # crossed thresholds of a trial point: NaN, rejected by the caller
            np.multiply(weights, -ratio_a, out=cut_terms[:, 0])
            np.multiply(weights, ratio_b, out=cut_terms[:, 1])
            np.multiply(cut_terms[:, 0], slope_a + ratio_a, out=cut_terms[:, 2])
            np.multiply(cut_terms[:, 1], slope_b - ratio_b, out=cut_terms[:, 3])
            np.multiply(cut_terms[:, 1], ratio_a, out=cut_terms[:, 4])
        g_a, g_b, h_aa, h_bb, h_ab = (cut_terms[:, i] for i in range(5))
        onehot = np.zeros((n, m + 1))
        onehot[np.arange(n), k] = 1.0
        # per-category sums; threshold j lies above category j (its cut b) and below category j + 1 (its cut a)
        sums = (onehot.T @ cut_terms.reshape(n, -1)).reshape(m + 1, 5, n_seg)
        gradients = np.empty((n_seg, q + m))
        gradients[:, :q] = -(design.T @ (g_a + g_b)).T
        gradients[:, q:] = (sums[1:, 0] + sums[:-1, 1]).T
        hessians = np.zeros((n_seg, q + m, q + m))
        diagonal, neighbours = (sums[1:, 2] + sums[:-1, 3]).T, sums[1:-1, 4].T
        for j in range(n_seg):
            hessians[j, :q, :q] = (design * (h_aa[:, j] + 2.0 * h_ab[:, j] + h_bb[:, j])[:, None]).T @ design
            below = onehot[:, 1:].T @ (design * (h_aa[:, j] + h_ab[:, j])[:, None])  # thresholds below the answers
            above = onehot[:, :-1].T @ (design * (h_ab[:, j] + h_bb[:, j])[:, None])
            hessians[j, :q, q:] = -(below + above).T
            hessians[j, q:, :q] = hessians[j, :q, q:].T
            hessians[j, q + np.arange(m), q + np.arange(m)] = diagonal[j]
            if m > 1:
                hessians[j, q + np.arange(m - 1), q + 1 + np.arange(m - 1)] = neighbours[j]
                hessians[j, q + 1 + np.arange(m - 1), q + np.arange(m - 1)] = neighbours[j]
        return gradients, hessians

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
