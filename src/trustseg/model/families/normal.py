"""Normal outcomes: the gaussian family (with its closed-form M-step) and the censored (Tobit) family.

Both have one extra parameter per segment, ``log_sigma``, bounded below by
the variance floor (:func:`variance_floor`): without it EM builds "segments"
of respondents who gave the same answer, with a near-zero variance and a
meaningless likelihood.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import linalg
from scipy.special import log_ndtr, ndtr

from trustseg.errors import ConfigError
from trustseg.model.families.base import Family, refuse_values, weighted_lstsq

LOG_2PI = math.log(2.0 * math.pi)
#: default variance floor, relative to the weighted variance of the outcome
DEFAULT_RELATIVE_FLOOR = 1e-3
# Above this many bytes the precomputed column products of the gaussian M-step
# are replaced by one weighted product per segment, so memory stays bounded.
_MAX_PRODUCTS_BYTES = 256 * 2**20


def variance_floor(y, w=None, rounding_variance=0.0, relative=DEFAULT_RELATIVE_FLOOR) -> float:
    """The smallest residual variance a segment may have, in squared outcome units.

    Answers on an integer scale are a latent opinion rounded to whole points,
    and rounding adds variance 1/12 to each answer (Sheppard's correction);
    the mean of ``m`` items carries ``1 / (12 m)``: no segment can fit the
    score more tightly than that (``rounding_variance``; None: ``h**2 / 12``
    for the smallest gap ``h`` between distinct outcome values).  The floor
    is the larger of it and ``relative`` times the weighted variance of
    ``y``.  The one floor the estimator, its refits, the bootstrap and the
    workflow use.
    """
    values = np.asarray(y, dtype=float).reshape(-1)
    w = np.ones_like(values) if w is None else np.asarray(w, dtype=float).reshape(-1)
    mean = float(w @ values / w.sum())
    var = float(w @ (values - mean) ** 2 / w.sum())
    if rounding_variance is None:
        steps = np.diff(np.unique(np.round(values, 9)))
        rounding_variance = float(steps.min()) ** 2 / 12.0 if steps.size else 0.0
    return max(relative * var, float(rounding_variance))


def inverse_sigma(log_sigma):
    """1 / sigma, infinite (not an OverflowError) for a log sigma far below any real spread.

    A Newton trial point of a segment collapsing onto one answer can ask for
    exp(710); the infinite density it gives is a non-finite candidate, which
    the step halving rejects.
    """
    with np.errstate(over="ignore"):
        return np.exp(-np.asarray(log_sigma, dtype=float))


# ----------------------------------------------------------------------------
# the normal log-density, censored or not, with one sigma per row or per segment
# ----------------------------------------------------------------------------


def censored_sides(y, lower, upper):
    """Which rows sit at (or beyond) the lower and the upper bound: censored observations."""
    return y <= lower, y >= upper


def censored_row_sets(y, lower, upper):
    """The censored rows of each side that has any, as ``(rows, bound, sign)``: the upper side with sign +1
    (P(Y* >= upper) = Phi((eta - upper) / sigma)), the lower side with sign -1 (its mirror image)."""
    left, right = censored_sides(y, lower, upper)
    return [(rows, bound, sign) for rows, bound, sign in ((np.flatnonzero(right), upper, 1.0),
                                                          (np.flatnonzero(left), lower, -1.0)) if rows.size]


def censored_normal_loglik(y, eta, log_sigma, lower, upper):
    """log f(y_i | eta_i, sigma), censored at ``lower`` / ``upper`` (infinite: no censoring).

    ``eta`` is (n,) or (n, K); ``log_sigma`` broadcasts against it (one per
    row, as the location-scale family has, or one per segment).  A trial
    point of a Newton step may put log sigma far out; there sigma under- or
    overflows and the log-density is -inf or nan, which the step halving
    rejects, quietly.
    """
    y = np.asarray(y, dtype=float)
    log_sigma = np.asarray(log_sigma, dtype=float)
    per_row = np.ndim(eta) == 1  # sigma per row; with (n, K) linear predictors, one per segment
    with np.errstate(over="ignore", invalid="ignore"):
        inv_sigma = np.exp(-log_sigma)
        if per_row:
            z = (y - eta) * inv_sigma
            out = -0.5 * LOG_2PI - log_sigma - 0.5 * z * z
        else:  # segment by segment: numpy's loops over a short last axis (K) cost several times more
            out = np.empty(np.shape(eta))
            for j in range(out.shape[1]):
                z = (y - eta[:, j]) * inv_sigma[j]
                out[:, j] = -0.5 * z * z - (0.5 * LOG_2PI + log_sigma[j])
        for rows, bound, sign in censored_row_sets(y, lower, upper):  # log Phi(sign (eta - bound) / sigma)
            out[rows] = log_ndtr(sign * (eta[rows] - bound) * (inv_sigma[rows] if per_row else inv_sigma))
    return out


def log_normal_cdf_derivatives(t):
    """log Phi(t) with its first two derivatives in t, stable in both tails.

    The first derivative is the inverse Mills ratio phi(t) / Phi(t), formed as
    exp(log phi - log Phi) so that it stays finite (about -t) far in the lower
    tail, where phi and Phi both underflow.
    """
    log_cdf = log_ndtr(t)
    mills = np.exp(-0.5 * t * t - 0.5 * LOG_2PI - log_cdf)
    return log_cdf, mills, -mills * (t + mills)


def censored_normal_derivatives(y, eta, log_sigma, lower, upper):
    """First (n, 2) and second (n, 2, 2) derivatives of :func:`censored_normal_loglik` in (eta_i, log sigma_i).

    A censored row contributes log Phi(t), t = (lower - eta)/sigma (left) or
    (eta - upper)/sigma (right), chained through t with the inverse Mills
    ratio.  Where sigma_i under- or overflows the derivatives are not
    finite, quietly.
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
        left, right = censored_sides(y, lower, upper)
        rows = np.flatnonzero(left | right)
        if rows.size:
            # t = sign (eta - bound) / sigma (sign -1 at the lower bound, +1 at the upper):
            # dt/deta = sign/sigma, dt/dlog_sigma = -t.  Both sides at once: few, small arrays.
            at_upper = right[rows]
            dt_eta = np.where(at_upper, inv_sigma[rows], -inv_sigma[rows])
            t = (eta[rows] - np.where(at_upper, upper, lower)) * dt_eta
            _, h1, h2 = log_normal_cdf_derivatives(t)
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


# ----------------------------------------------------------------------------
# the closed-form M-step of normal segments
# ----------------------------------------------------------------------------


def _centred_products(design, y, cache):
    """Column products of the centred ``[design, y]`` (upper triangle), computed once per data set.

    Centring the predictors and the outcome keeps the normal equations well
    conditioned on rating-scale data; every segment's Gram matrix is then one
    row of ``weights.T @ products``, a single BLAS product for all segments.
    """
    if cache is not None and "normal_products" in cache:
        return cache["normal_products"]
    centre_x = design.mean(axis=0)
    centre_x[0] = 0.0  # the intercept column stays ones
    centre_y = float(y.mean())
    full = np.column_stack([design - centre_x, y - centre_y])
    upper = np.triu_indices(full.shape[1])
    products = full[:, upper[0]] * full[:, upper[1]] if full.shape[0] * len(upper[0]) * 8 <= _MAX_PRODUCTS_BYTES \
        else None
    entry = (centre_x, centre_y, full, upper, products)
    if cache is not None:
        cache["normal_products"] = entry
    return entry


def least_squares_segments(design, y, weights, cache=None, common_variance=False):
    """Weighted least squares of every segment at once: coefficients (K, q) and ML residual variances (K,).

    ``design`` has the intercept column first; ``weights`` (n, K) are the
    survey weights times the posteriors.  ``common_variance`` pools the
    residual sum of squares over the segments (classification EM's one
    variance).
    """
    centre_x, centre_y, full, upper, products = _centred_products(design, y, cache)
    k, q = weights.shape[1], design.shape[1]
    grams = np.empty((k, q + 1, q + 1))
    if products is not None:
        packed = weights.T @ products
        grams[:, upper[0], upper[1]] = packed
        grams[:, upper[1], upper[0]] = packed
    else:
        for j in range(k):
            grams[j] = (full * weights[:, j : j + 1]).T @ full
    mass = grams[:, 0, 0].copy()
    try:
        # all K normal equations in one call: for survey-sized data the per-call
        # overhead of K separate solves costs more than the arithmetic
        coefs = np.linalg.solve(grams[:, :q, :q], grams[:, :q, q:])[:, :, 0]
        if not np.isfinite(coefs).all():
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        coefs = np.array([linalg.lstsq(grams[j, :q, :q], grams[j, :q, q])[0] for j in range(k)])
    # at the normal equations' solution rss = y'Wy - c'X'Wy; rounding can leave a hair below zero
    rss = np.maximum(grams[:, q, q] - np.einsum("kj,kj->k", coefs, grams[:, :q, q]), 0.0)
    variances = np.full(k, rss.sum() / mass.sum()) if common_variance else rss / np.maximum(mass, 1e-300)
    beta = coefs.copy()
    beta[:, 0] = coefs[:, 0] + centre_y - coefs[:, 1:] @ centre_x[1:]
    return beta, variances


def truncated_moments(mu, sigma, bound, sign, log_cdf=None):
    """E[Y*] and E[Y*^2] of Y* ~ N(mu, sigma^2) given that it lies beyond ``bound``: above it for ``sign`` +1
    (an answer at the upper end of the scale), below it for -1.

    For the upper side E[Y*] = mu + sigma lambda and E[Y*^2] = mu^2 + sigma^2
    + sigma lambda (bound + mu), lambda the inverse Mills ratio at
    t = (mu - bound) / sigma; the lower side is the mirror image.
    ``log_cdf`` is log Phi(t) when known (the E-step's log-density of these
    answers at the same parameters).
    """
    t = sign * (mu - bound) / sigma
    with np.errstate(over="ignore", under="ignore"):
        mills = np.exp(-0.5 * t * t - 0.5 * LOG_2PI - (log_ndtr(t) if log_cdf is None else log_cdf))
    return mu + sign * sigma * mills, mu * mu + sigma * sigma + sign * sigma * mills * (bound + mu)


def _tobit_data(design, y, lower, upper, cache):
    """What every Tobit EM step of one data set shares, computed once: the centred design (intercept column
    kept) and its column products (upper triangle), the outcome times the centred design, the squared outcome,
    and the censored rows of each side with their bound and direction."""
    if cache is not None and "tobit_data" in cache:
        return cache["tobit_data"]
    centre_x = design.mean(axis=0)
    centre_x[0] = 0.0  # the intercept column stays ones: centring keeps rating-scale normal equations conditioned
    centred = design - centre_x
    pairs = np.triu_indices(design.shape[1])
    sides = [(rows, design[rows], centred[rows], y[rows], bound, sign)
             for rows, bound, sign in censored_row_sets(y, lower, upper)]
    entry = (centre_x, centred[:, pairs[0]] * centred[:, pairs[1]], pairs, y[:, None] * centred, y * y, sides)
    if cache is not None:
        cache["tobit_data"] = entry
    return entry


def latent_least_squares(design, y, weights, beta, log_sigma, lower, upper, cache=None, log_density=None):
    """One EM step of every censored segment at once, with the censored answers' latent values as missing data.

    The expected complete-data log-likelihood of a segment is that of a
    normal regression on the latent moments (:func:`truncated_moments` for
    an answer at an end of the scale, the answer itself inside it), so its
    maximum is weighted least squares on E[Y*] and the residual variance
    from E[Y*^2]: the classic EM of the Tobit model (Amemiya 1984), in closed
    form like the gaussian M-step and, as an EM step, never lowering the
    segment's censored log-likelihood.  Returns ``beta (K, q)`` and ML
    residual variances ``(K,)``.  ``log_density`` (n, K), the log-densities
    at ``beta`` and ``log_sigma`` when the E-step has them, saves computing
    the censored answers' log Phi again.

    Every sum is that of the answers as they are (one matrix product for all
    segments) plus the latent moments' departure from them on the censored
    rows only, and the residual sum of squares comes from the normal
    equations' sums, so no (n, K) array is formed: the step is as cheap as
    the gaussian one wherever few answers sit at the ends.
    """
    sigma = np.exp(np.asarray(log_sigma, dtype=float))
    k, q = weights.shape[1], design.shape[1]
    centre_x, products, pairs, y_centred, y_squared, sides = _tobit_data(design, y, lower, upper, cache)
    grams = np.empty((k, q, q))
    packed = weights.T @ products  # every segment's Gram matrix in one product, as in the gaussian M-step
    grams[:, pairs[0], pairs[1]] = packed
    grams[:, pairs[1], pairs[0]] = packed
    moments = weights.T @ y_centred  # sum of w E[Y*] x, and below sum of w E[Y*^2], as if every answer were Y*
    second = weights.T @ y_squared
    for rows, design_rows, centred_rows, y_rows, bound, sign in sides:
        first_r, second_r = truncated_moments(design_rows @ beta.T, sigma, bound, sign,
                                              None if log_density is None else log_density[rows])
        w_rows = weights[rows]
        moments += (w_rows * (first_r - y_rows[:, None])).T @ centred_rows
        second += np.einsum("nk,nk->k", w_rows, second_r - (y_rows * y_rows)[:, None])
    try:
        coefs = np.linalg.solve(grams, moments[:, :, None])[:, :, 0]
        if not np.isfinite(coefs).all():
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        coefs = np.array([linalg.lstsq(grams[j], moments[j])[0] for j in range(k)])
    mass = np.maximum(grams[:, 0, 0], 1e-300)  # the intercept column's product with itself: sum of the weights
    # E[sum w (Y* - fitted)^2] = sum w E[Y*^2] - 2 c'(sum w E[Y*] x) + c' G c, per segment
    rss = second - 2.0 * np.einsum("kj,kj->k", coefs, moments) + np.einsum("kj,kjl,kl->k", coefs, grams, coefs)
    out = coefs.copy()
    out[:, 0] = coefs[:, 0] - coefs[:, 1:] @ centre_x[1:]
    return out, np.maximum(rss, 0.0) / mass


# ----------------------------------------------------------------------------
# the families
# ----------------------------------------------------------------------------


class _NormalFamily(Family):
    """What the gaussian and censored families share: one log residual SD per segment."""

    normal: ClassVar[bool] = True
    rating_outcome: ClassVar[bool] = True
    #: the residual spread may be made linear in the predictors (the location-scale family)
    varies_spread: ClassVar[bool] = True

    @staticmethod
    def log_sd_in_box(variances, bounds):
        """The log residual SDs (K, 1) of ML variances, clipped to the box: for a normal segment that is the
        constrained maximum of the M-step's objective (unimodal in log sigma; the coefficients do not depend
        on it), so the engine, finding nothing to clamp, skips its check that a clamp does not lower the
        likelihood (it cost a segment on the variance floor two log-likelihood passes per EM step)."""
        with np.errstate(divide="ignore"):
            log_sd = 0.5 * np.log(np.maximum(variances, 1e-300))[:, None]
        return log_sd if bounds is None else np.clip(log_sd, bounds.extra_low, bounds.extra_high)

    def extra_names(self) -> list[str]:
        return ["log_sigma"]

    def residual_sd(self, extra) -> np.ndarray:
        return np.exp(np.asarray(extra, dtype=float)[:, 0])

    def start(self, design, y, w, data=None):
        """Weighted least squares and the ML residual standard deviation."""
        beta = weighted_lstsq(design, y, w)
        variance = float(w @ (y - design @ beta) ** 2) / float(w.sum())
        # An exact fit (zero residuals) must still give a finite log sigma.
        return beta, np.array([0.5 * math.log(max(variance, 1e-12 * max(float(np.var(y)), 1.0)))])


@dataclass(frozen=True)
class GaussianFamily(_NormalFamily):
    """Normal outcome, identity link; extra parameter ``log_sigma``.

    ``common_variance`` gives every segment the same residual variance (the
    classification EM of Spaeth's clusterwise regression).
    """

    common_variance: bool = False
    name: ClassVar[str] = "gaussian"
    #: classification EM with one common variance (Spaeth's clusterwise regression) is defined for it
    classification_em: ClassVar[bool] = True
    linear_normal: ClassVar[bool] = True

    def settings(self) -> dict:
        return {"common_variance": True} if self.common_variance else {}

    def n_parameters(self, k, q) -> int:
        """One residual variance for all segments when it is common."""
        return super().n_parameters(k, q) - (k - 1 if self.common_variance else 0)

    def check_outcome(self, y, name, data=None) -> None:
        """Any finite value is a possible normal outcome."""
        self.finite_outcome(y, name)

    def loglik(self, y, eta, extra, data=None):
        """log N(y_i | eta_i, sigma^2), sigma = exp(extra[0])."""
        log_sigma = float(extra[0])
        z = (y - eta) * inverse_sigma(log_sigma)
        return -0.5 * LOG_2PI - log_sigma - 0.5 * z * z

    def segment_logliks(self, y, eta, extra, data=None):
        """Every segment's normal log-density in one pass over (n, K)."""
        log_sigma = np.asarray(extra, dtype=float)[:, 0]
        scale, shift = -0.5 * inverse_sigma(2.0 * log_sigma), -0.5 * LOG_2PI - log_sigma
        out = np.empty(np.shape(eta))
        for j in range(out.shape[1]):  # segment by segment: numpy's loops over a short last axis (K) are slow
            column = y - eta[:, j]
            column *= column
            column *= scale[j]
            column += shift[j]
            out[:, j] = column
        return out

    def derivatives(self, y, eta, extra, data=None):
        """Derivatives with respect to (eta_i, log_sigma)."""
        inv_sigma = inverse_sigma(float(extra[0]))
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

    def m_step(self, design, y, weights, params, data=None, cache=None, bounds=None, current=None):
        """Weighted least squares and ML residual SDs of all segments in closed form (one Gram product), the
        SDs kept within the box (:meth:`_NormalFamily.log_sd_in_box`)."""
        beta, variances = least_squares_segments(design, y, weights, cache, self.common_variance)
        return beta, self.log_sd_in_box(variances, bounds)


@dataclass(frozen=True)
class CensoredFamily(_NormalFamily):
    """Normal outcome censored at the bounds of the scale (Tobit); extra ``log_sigma``.

    An observed value at ``lower`` contributes log P(Y* <= lower), one at
    ``upper`` log P(Y* >= upper), and one in between the normal log-density.
    Either bound may be infinite (censoring on one side only).
    """

    lower: float = -math.inf
    upper: float = math.inf
    name: ClassVar[str] = "censored"
    needs_scale: ClassVar[bool] = True
    coefficient_unit: ClassVar[str] = "latent outcome points"
    description: ClassVar[str] = "censored normal, Tobit"
    mean_label: ClassVar[str | None] = "expected score, censored at the ends of the scale"

    @classmethod
    def options_for_scale(cls, lowest: float, highest: float, step: float = 1.0) -> dict | None:
        """Censored at the two ends of the scale."""
        return {"lower": float(lowest), "upper": float(highest)}

    def __post_init__(self):
        object.__setattr__(self, "lower", float(self.lower))
        object.__setattr__(self, "upper", float(self.upper))
        if not self.lower < self.upper:
            raise ConfigError(f"censored family: lower bound {self.lower:g} must be below upper bound {self.upper:g}")

    def check_outcome(self, y, name, data=None) -> None:
        """Values must lie within [lower, upper]."""
        y = self.finite_outcome(y, name)
        refuse_values(
            y, (y < self.lower) | (y > self.upper), name,
            f"values outside the scale bounds [{self.lower:g}, {self.upper:g}] of the censored family",
            "Check the bounds of the scale (censored lower/upper) or the coding of the outcome.",
        )

    def loglik(self, y, eta, extra, data=None):
        return censored_normal_loglik(y, eta, np.full(len(y), float(extra[0])), self.lower, self.upper)

    def segment_logliks(self, y, eta, extra, data=None):
        """Every segment's censored log-density in one pass over (n, K)."""
        return censored_normal_loglik(y, eta, np.asarray(extra, dtype=float)[:, 0], self.lower, self.upper)

    def derivatives(self, y, eta, extra, data=None):
        """Derivatives with respect to (eta_i, log_sigma) (see :func:`censored_normal_derivatives`)."""
        return censored_normal_derivatives(y, eta, np.full(len(y), float(extra[0])), self.lower, self.upper)

    def mean(self, eta, extra, data=None):
        """E[clip(Y*, lower, upper)] for Y* ~ N(eta, sigma^2)."""
        return censored_normal_mean(np.asarray(eta, dtype=float), math.exp(float(extra[0])), self.lower, self.upper)

    def simulate(self, eta, extra, rng, data=None):
        return np.clip(rng.normal(eta, math.exp(float(extra[0]))), self.lower, self.upper)

    def m_step(self, design, y, weights, params, data=None, cache=None, bounds=None, current=None):
        """From a warm start, one closed-form EM step of every segment (:func:`latent_least_squares`), the SDs
        kept within the box as in the gaussian family; from scratch, the Newton fit of each segment."""
        if params is None:
            return super().m_step(design, y, weights, params, data, cache, bounds, current)
        beta, variances = latent_least_squares(design, y, weights, params.beta, params.extra[:, 0], self.lower,
                                               self.upper, cache, current)
        return beta, self.log_sd_in_box(variances, bounds)

    def end_masses(self, eta, extra, data=None):
        """P(Y* <= lower) and P(Y* >= upper) of each row: the mass the model piles at the two ends of the scale."""
        inv_sigma = math.exp(-float(extra[0]))
        eta = np.asarray(eta, dtype=float)
        return np.column_stack([ndtr((self.lower - eta) * inv_sigma), ndtr((eta - self.upper) * inv_sigma)])

    def residual_directions(self, y, eta, extra, data=None):
        """Residuals from the latent line: the cut a split move makes (the censored mean bends at the ends)."""
        return (np.asarray(y, dtype=float) - eta)[:, None]
