"""Several regression equations sharing one set of segments (issue 13: the trust chain).

A chain such as ``trust ~ satisfaction`` and ``repurchase ~ satisfaction +
trust`` fitted with the same latent segments in both equations: given the
segment, the equations' errors are independent (as flexmix's list of
component models sharing the latent classes; Grün and Leisch 2008), so a
respondent's log-density in segment k is the sum of the equations'
log-densities.

:class:`EquationSystem` presents such a system to the mixture layer
(:mod:`trustseg.model._family_core`) as one outcome family:

* the outcome ``y`` is an (n, E) array, one column per equation;
* the design is block-wise, one block of columns per equation (its
  intercept, when its family has one, then its predictors; a variable used
  by two equations has a column in each block), built by :meth:`design`;
  the segment's coefficient vector is the equations' coefficients in turn;
* the linear predictor is an (n, E) array (:meth:`linear_predictors`);
* the extra parameters are the equations' extras in turn (a log sigma per
  normal equation);
* per-row side data of equation e (trials, offset) are the keys ``"<e>:trials"``.

Derivatives come from each equation's family; the cross-equation second
derivatives are zero (independent errors given the segment).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from trustseg.model.families import NORMAL_FAMILIES, make_family


def _equation_data(data, e):
    """Equation ``e``'s side data from the system's flat ``"<e>:<key>"`` dict (None when it has none)."""
    if not data:
        return None
    prefix = f"{e}:"
    out = {key[len(prefix):]: value for key, value in data.items() if key.startswith(prefix)}
    return out or None


def _weighted_least_squares(X, y, w):
    """Weighted least squares by the normal equations (Cholesky), by lstsq when they are singular."""
    Xw = X * w[:, None]
    try:
        factor = np.linalg.cholesky(Xw.T @ X)
        return np.linalg.solve(factor.T, np.linalg.solve(factor, Xw.T @ y))
    except np.linalg.LinAlgError:
        root = np.sqrt(w)
        return np.linalg.lstsq(X * root[:, None], y * root, rcond=None)[0]


def system_data(per_equation):
    """The flat side-data dict of a system from one dict (or None) per equation."""
    out = {}
    for e, data in enumerate(per_equation):
        for key, value in (data or {}).items():
            out[f"{e}:{key}"] = value
    return out or None


@dataclass(frozen=True)
class EquationSystem:
    """Equations sharing the segments, as one outcome family of the mixture layer.

    Parameters
    ----------
    families : tuple of outcome families
        One per equation (:func:`~trustseg.model.families.make_family`).
    n_predictors : tuple of int
        Number of predictors of each equation (without the intercept).
    outcomes : tuple of str
        Each equation's outcome name, for messages and parameter names.
    """

    families: tuple
    n_predictors: tuple
    outcomes: tuple

    name: ClassVar[str] = "system"
    #: the design carries each equation's intercept column itself (see :meth:`design`)
    has_intercept: ClassVar[bool] = False
    #: each equation has its family's unit (``families[e].coefficient_unit``)
    coefficient_unit: ClassVar[str] = "the linear predictor"
    mean_label: ClassVar[str | None] = None

    def __post_init__(self):
        if not len(self.families) == len(self.n_predictors) == len(self.outcomes) >= 1:
            raise ValueError("an equation system needs one family, predictor count and outcome per equation")

    # -- layout -----------------------------------------------------------------

    @property
    def n_equations(self) -> int:
        return len(self.families)

    @functools.cached_property  # asked for in every E- and M-step; the layout never changes
    def equation_blocks(self) -> list[np.ndarray]:
        """The design columns (= coefficient positions) of each equation."""
        blocks, start = [], 0
        for family, p in zip(self.families, self.n_predictors):
            size = int(p) + int(family.has_intercept)
            blocks.append(np.arange(start, start + size))
            start += size
        return blocks

    @functools.cached_property  # asked for in every E- and M-step; the layout never changes
    def extra_blocks(self) -> list[np.ndarray]:
        """The positions of each equation's extra parameters in the segment's extra vector."""
        blocks, start = [], 0
        for family in self.families:
            blocks.append(np.arange(start, start + family.n_extra()))
            start += family.n_extra()
        return blocks

    def extra_names(self) -> list[str]:
        return [f"{outcome}:{name}" for family, outcome in zip(self.families, self.outcomes)
                for name in family.extra_names()]

    def n_extra(self) -> int:
        return sum(family.n_extra() for family in self.families)

    def design(self, predictors):
        """The block design from each equation's predictor matrix (a list of (n, p_e) arrays)."""
        columns = []
        for family, X in zip(self.families, predictors):
            X = np.asarray(X, dtype=float).reshape(len(X), -1)
            if family.has_intercept:
                columns.append(np.ones((X.shape[0], 1)))
            columns.append(X)
        return np.column_stack(columns)

    def linear_predictors(self, design, beta):
        """Linear predictors of every segment and equation, (n, K, E), for coefficients ``beta`` (K, Q)."""
        beta = np.asarray(beta, dtype=float).reshape(-1, design.shape[1])
        out = np.empty((design.shape[0], beta.shape[0], self.n_equations))
        for e, block in enumerate(self.equation_blocks):
            out[:, :, e] = design[:, block] @ beta[:, block].T
        return out

    def record(self) -> dict:
        """The system as a JSON-ready dict (:meth:`from_record` rebuilds it)."""
        settings = []
        for family in self.families:
            values = {}
            for name in (f.name for f in dataclasses.fields(family)):
                value = getattr(family, name)
                values[name] = [float(v) for v in value] if isinstance(value, tuple) else float(value)
            settings.append(values)
        return {"families": [f.name for f in self.families], "family_settings": settings,
                "n_predictors": [int(p) for p in self.n_predictors], "outcomes": list(self.outcomes)}

    @classmethod
    def from_record(cls, record: dict) -> EquationSystem:
        families = tuple(
            make_family(name, **{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()})
            for name, settings in zip(record["families"], record["family_settings"])
        )
        return cls(families, tuple(int(p) for p in record["n_predictors"]), tuple(record["outcomes"]))

    # -- the family interface ---------------------------------------------------

    def _outcome(self, y):
        y = np.asarray(y, dtype=float)
        if y.ndim != 2 or y.shape[1] != self.n_equations:
            raise ValueError(f"an equation system with {self.n_equations} equations needs y of shape (n, "
                             f"{self.n_equations}), got {y.shape}")
        return y

    def check_outcome(self, y, name, data=None) -> None:
        y = self._outcome(y)
        for e, (family, outcome) in enumerate(zip(self.families, self.outcomes)):
            family.check_outcome(y[:, e], outcome, _equation_data(data, e))

    def prepare(self, y, data=None):
        y = self._outcome(y)
        return system_data([family.prepare(y[:, e], _equation_data(data, e))
                            for e, family in enumerate(self.families)])

    def loglik(self, y, eta, extra, data=None):
        """Sum over the equations of log f_e(y_ie | eta_ie, extra_e), shape (n,)."""
        extra = np.asarray(extra, dtype=float)
        total = None
        for e, (family, block) in enumerate(zip(self.families, self.extra_blocks)):
            part = family.loglik(y[:, e], eta[:, e], extra[block], _equation_data(data, e))
            total = part if total is None else total + part
        return total

    def derivatives(self, y, eta, extra, data=None):
        """``(d1, d2)`` in (eta_1..eta_E, extras): shapes (n, E + m) and (n, E + m, E + m)."""
        extra = np.asarray(extra, dtype=float)
        n, n_eq, m = y.shape[0], self.n_equations, self.n_extra()
        d1 = np.zeros((n, n_eq + m))
        d2 = np.zeros((n, n_eq + m, n_eq + m))
        for e, (family, block) in enumerate(zip(self.families, self.extra_blocks)):
            f1, f2 = family.derivatives(y[:, e], eta[:, e], extra[block], _equation_data(data, e))
            where = np.concatenate([[e], n_eq + block])
            d1[:, where] = f1
            d2[:, where[:, None], where[None, :]] = f2
        return d1, d2

    def mean(self, eta, extra, data=None):
        """Each equation's expected outcome on its own scale, (n, E)."""
        extra = np.asarray(extra, dtype=float)
        return np.column_stack([family.mean(eta[:, e], extra[block], _equation_data(data, e))
                                for e, (family, block) in enumerate(zip(self.families, self.extra_blocks))])

    def simulate(self, eta, extra, rng, data=None):
        """Outcomes of every equation, drawn independently given the segment, (n, E)."""
        extra = np.asarray(extra, dtype=float)
        return np.column_stack([family.simulate(eta[:, e], extra[block], rng, _equation_data(data, e))
                                for e, (family, block) in enumerate(zip(self.families, self.extra_blocks))])

    def start(self, X, y, w, data=None):
        """Each equation's own start on its block of the design."""
        beta, extra = [], []
        for e, (family, block) in enumerate(zip(self.families, self.equation_blocks)):
            b, x = family.start(X[:, block], y[:, e], w, _equation_data(data, e))
            beta.append(np.asarray(b, dtype=float).reshape(-1))
            extra.append(np.asarray(x, dtype=float).reshape(-1))
        return np.concatenate(beta), np.concatenate(extra)

    def fit_equations(self, X, y, w, data=None, start=None, max_iter=100):
        """One segment's weighted maximum-likelihood fit, equation by equation (they share no parameter).

        A normal equation has a closed form (weighted least squares and the
        maximum-likelihood residual SD), as the one-equation engine's M-step;
        any other family takes its own Newton fit, warm-started from
        ``start`` (``(beta, extra)`` of the whole system).  ``X`` is the
        block design.  Returns a :class:`~trustseg.model.families.SegmentFit`
        without the joint gradient and Hessian (NaN log-likelihood).
        """
        from trustseg.model.families import SegmentFit, fit_segment

        y = np.asarray(y, dtype=float)
        w = np.asarray(w, dtype=float)
        beta, extra = [], []
        for e, (family, block, extras) in enumerate(zip(self.families, self.equation_blocks, self.extra_blocks)):
            Xe, ye = X[:, block], y[:, e]
            if family.name == "gaussian":
                coef = _weighted_least_squares(Xe, ye, w)
                residual = ye - Xe @ coef
                variance = float(w @ (residual * residual) / w.sum())
                beta.append(coef)
                extra.append(np.array([0.5 * np.log(max(variance, 1e-300))]))
                continue
            warm = None if start is None else (np.asarray(start[0], dtype=float)[block],
                                               np.asarray(start[1], dtype=float)[extras])
            fit = fit_segment(family, Xe[:, 1:] if family.has_intercept else Xe, ye, w, _equation_data(data, e),
                              start=warm, max_iter=max_iter)
            beta.append(fit.beta)
            extra.append(fit.extra)
        return SegmentFit(beta=np.concatenate(beta), extra=np.concatenate(extra), loglik=np.nan, gradient=None,
                          hessian=None, n_iter=1, converged=True)

    def solution_scale(self, X, y, w):
        """Scales on which two solutions are compared: per equation, intercepts and slopes in SDs of y_e."""
        total = w.sum()
        sd_x = np.sqrt(w @ (X - w @ X / total) ** 2 / total)
        coef = np.empty(X.shape[1])
        for e, (family, block) in enumerate(zip(self.families, self.equation_blocks)):
            ye = y[:, e]
            sd_y = float(np.sqrt(w @ (ye - w @ ye / total) ** 2 / total)) if family.name in NORMAL_FAMILIES else 1.0
            sd_y = sd_y or 1.0
            coef[block] = sd_x[block] / sd_y
            if family.has_intercept:
                coef[block[0]] = 1.0 / sd_y
        return np.concatenate([coef, np.ones(self.n_extra())])
