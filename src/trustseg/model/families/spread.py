"""Segment-specific spread: a location-scale outcome family (issue 12).

The ``gaussian`` and ``censored`` families give every segment one residual
standard deviation.  On rating data the spread often changes with the
predictors (answers of the very satisfied scatter more, or less, than those of
the dissatisfied); a mixture that ignores this misplaces respondents between
segments and its standard errors, computed for a constant spread, are too
small where the spread is large.  :class:`LocationScaleFamily` lets each
segment's log standard deviation depend linearly on spread predictors
``z_i``::

    log sigma_ik = gamma_0k + z_i' gamma_k

with the mean ``eta_ik = x_i' beta_k`` as before (a location-scale mixture of
regressions).  It is an ordinary outcome family
(:class:`~trustseg.model.families.base.Family`): the extra parameters of a
segment are ``(gamma_0k, gamma_k)``, named ``log_sigma`` and
``log_sigma:<spread name>``, so the weighted Newton fit, the mixture engine
and the observed information serve it unchanged.

The spread predictors travel with the other per-row side data: one array of
length n per spread predictor, under the key ``"spread:<name>"`` of the
``data`` dict (:func:`spread_data` builds it).  One key per column, not one
(n, p) array, because the mixture layer and the weighted fit subset side data
by rows as flat arrays.

Every row has its own sigma, so the one-sigma formulas of the gaussian and
censored families (which take a scalar ``log_sigma``) are not called; the
per-row versions here reduce to them when the spread slopes are zero (the
tests check this) and share their tail-stable pieces
(:func:`~trustseg.model.families.normal.log_normal_cdf_derivatives`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.special import ndtr

from trustseg.errors import ConfigError
from trustseg.model.families.base import Family, check_finite, weighted_lstsq
from trustseg.model.families.normal import (
    CensoredFamily,
    GaussianFamily,
    censored_normal_derivatives,
    censored_normal_loglik,
    censored_normal_mean,
)

#: the constant-spread families a location-scale family extends, by name
BASES = {"gaussian": GaussianFamily, "censored": CensoredFamily}
# E log|e| for e ~ N(0, 1): -(Euler's gamma + log 2) / 2.  A regression of log|residual|
# on the spread predictors estimates log sigma shifted by this much.
_MEAN_LOG_ABS_NORMAL = -0.5 * (np.euler_gamma + math.log(2.0))
# Residuals are floored at this fraction of the segment's residual SD before their
# log is taken: an (almost) exact fit of one row must not give log 0 in the start.
_RESIDUAL_FLOOR = 1e-2


def spread_key(name):
    """The key of the ``data`` dict that holds spread predictor ``name``."""
    return f"spread:{name}"


def spread_data(spread_names, Z, data=None):
    """``data`` (a dict, or None) with the columns of ``Z`` (n, p) added under their spread keys."""
    Z = np.asarray(Z, dtype=float)
    Z = Z.reshape(Z.shape[0], -1)
    names = tuple(spread_names)
    if Z.shape[1] != len(names):
        raise ValueError(f"Z has {Z.shape[1]} columns, expected one per spread predictor {names}")
    out = dict(data or {})
    out.update({spread_key(name): Z[:, j].copy() for j, name in enumerate(names)})
    return out


# ----------------------------------------------------------------------------
# the normal log-density, censored or not, with one sigma per row
# ----------------------------------------------------------------------------


# ----------------------------------------------------------------------------
# the family
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LocationScaleFamily(Family):
    """Normal (``base="gaussian"``) or censored normal (``base="censored"``) outcome whose log SD is linear.

    Parameters
    ----------
    base : {"gaussian", "censored"}
    lower, upper : float
        Bounds of the scale for ``base="censored"`` (as :class:`CensoredFamily`);
        must stay infinite for ``base="gaussian"``.
    spread_names : tuple of str
        Names of the spread predictors, at least one; row values come from
        ``data["spread:<name>"]`` (:func:`spread_data`).

    The extra parameters of a segment are ``log_sigma`` (the intercept of
    log sigma) then ``log_sigma:<name>`` per spread predictor.
    """

    base: str = "gaussian"
    lower: float = -math.inf
    upper: float = math.inf
    spread_names: tuple = ()
    name: ClassVar[str] = "location_scale"
    normal: ClassVar[bool] = True
    description: ClassVar[str] = ("normal with a segment-specific spread, log sigma linear in the predictors "
                                  "(location-scale)")
    rating_outcome: ClassVar[bool] = True

    def __post_init__(self):
        if self.base not in BASES:
            raise ConfigError(f"location-scale family: unknown base family '{self.base}'; choose one of "
                              f"{', '.join(BASES)}")
        names = (self.spread_names,) if isinstance(self.spread_names, str) else tuple(self.spread_names)
        names = tuple(str(name) for name in names)
        if not names:
            raise ConfigError("location-scale family: no spread predictors given (spread_names); with none, "
                              f"use the '{self.base}' family itself")
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ConfigError(f"location-scale family: spread predictors {repeated} are given more than once")
        object.__setattr__(self, "spread_names", names)
        object.__setattr__(self, "lower", float(self.lower))
        object.__setattr__(self, "upper", float(self.upper))
        bounded = math.isfinite(self.lower) or math.isfinite(self.upper)
        if bounded and not hasattr(BASES[self.base], "lower"):
            raise ConfigError(f"location-scale family: bounds [{self.lower:g}, {self.upper:g}] apply to the "
                              "censored base only; use base 'censored' for a bounded scale, or drop the bounds")
        self.base_family  # noqa: B018  (the censored base refuses lower >= upper, naming both bounds)

    @property
    def mean_label(self):
        """What a segment's curve shows: the base family's (a censored base bends at the scale's ends)."""
        return BASES[self.base].mean_label

    @property
    def base_family(self):
        """The constant-spread family this one extends (with the bounds of the scale, when it has them)."""
        base = BASES[self.base]
        return base(lower=self.lower, upper=self.upper) if hasattr(base, "lower") else base()

    @property
    def n_spread(self) -> int:
        return len(self.spread_names)

    def extra_names(self) -> list[str]:
        return ["log_sigma"] + [f"log_sigma:{name}" for name in self.spread_names]

    def spread_design(self, data, n):
        """(n, 1 + n_spread): a column of ones, then the spread predictors from ``data``."""
        columns = [np.ones(n)]
        for name in self.spread_names:
            key = spread_key(name)
            value = None if data is None else data.get(key)
            if value is None:
                raise ValueError(f"the location-scale family needs data['{key}'] (build data with spread_data)")
            value = np.asarray(value, dtype=float).reshape(-1)
            if value.shape[0] != n:
                raise ValueError(f"data['{key}'] has {value.shape[0]} values, expected {n}")
            columns.append(value)
        return np.column_stack(columns)

    def log_sigma(self, extra, data, n):
        """log sigma_i = gamma_0 + z_i' gamma for each of the n rows."""
        return self.spread_design(data, n) @ np.asarray(extra, dtype=float)

    def check_outcome(self, y, name, data=None) -> None:
        """The base family's check of ``y``, and finite values of every spread predictor."""
        self.base_family.check_outcome(y, name, data)
        n = len(np.asarray(y).reshape(-1))
        design = self.spread_design(data, n)
        for j, spread_name in enumerate(self.spread_names):
            check_finite(design[:, 1 + j], spread_name)

    def loglik(self, y, eta, extra, data=None):
        y = np.asarray(y, dtype=float)
        eta = np.asarray(eta, dtype=float)
        return censored_normal_loglik(y, eta, self.log_sigma(extra, data, len(y)), self.lower, self.upper)

    def derivatives(self, y, eta, extra, data=None):
        """Derivatives with respect to (eta_i, gamma_0, gamma_1..gamma_p).

        log sigma_i = t_i' gamma with t_i = (1, z_i), so the derivatives in
        gamma are those in log sigma_i times t_i (first) and t_i t_i' (second).
        """
        y = np.asarray(y, dtype=float)
        eta = np.asarray(eta, dtype=float)
        design = self.spread_design(data, len(y))
        g1, g2 = censored_normal_derivatives(y, eta, design @ np.asarray(extra, dtype=float), self.lower, self.upper)
        n, m = design.shape
        d1 = np.empty((n, 1 + m))
        d2 = np.empty((n, 1 + m, 1 + m))
        with np.errstate(over="ignore", invalid="ignore"):  # inf * 0 where sigma_i overflowed
            d1[:, 0] = g1[:, 0]
            d1[:, 1:] = g1[:, 1:2] * design
            d2[:, 0, 0] = g2[:, 0, 0]
            d2[:, 0, 1:] = g2[:, 0, 1:2] * design
            d2[:, 1:, 0] = d2[:, 0, 1:]
            d2[:, 1:, 1:] = g2[:, 1, 1][:, None, None] * design[:, :, None] * design[:, None, :]
        return d1, d2

    def mean(self, eta, extra, data=None):
        """E[clip(Y*, lower, upper)] with each row's sigma (eta itself when the bounds are infinite)."""
        eta = np.asarray(eta, dtype=float)
        sigma = np.exp(self.log_sigma(extra, data, len(eta)))
        return censored_normal_mean(eta, sigma, self.lower, self.upper)

    def end_masses(self, eta, extra, data=None):
        """P(Y* <= lower) and P(Y* >= upper) of each row with its own sigma (None without a bounded scale)."""
        if not (math.isfinite(self.lower) or math.isfinite(self.upper)):
            return None
        eta = np.asarray(eta, dtype=float)
        inv_sigma = np.exp(-self.log_sigma(extra, data, len(eta)))
        return np.column_stack([ndtr((self.lower - eta) * inv_sigma), ndtr((eta - self.upper) * inv_sigma)])

    def simulate(self, eta, extra, rng, data=None):
        eta = np.asarray(eta, dtype=float)
        draws = rng.normal(eta, np.exp(self.log_sigma(extra, data, len(eta))))
        return np.clip(draws, self.lower, self.upper)

    def start(self, design, y, w, data=None):
        """The base family's start for beta, and a weighted regression of log|residual| on the spread predictors.

        For a normal residual e_i, E log|e_i| = log sigma_i + E log|N(0, 1)|,
        so the regression estimates gamma once its intercept is shifted back.
        """
        beta, extra = self.base_family.start(design, y, w, data)
        residual = np.abs(y - design @ beta)
        log_abs = np.log(np.maximum(residual, _RESIDUAL_FLOOR * math.exp(float(extra[0]))))
        gamma = weighted_lstsq(self.spread_design(data, len(y)), log_abs, w)
        if not np.all(np.isfinite(gamma)):
            gamma = np.concatenate([extra, np.zeros(self.n_spread)])
        else:
            gamma[0] -= _MEAN_LOG_ABS_NORMAL
        return beta, gamma
