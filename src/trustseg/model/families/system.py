"""Several regression equations sharing one set of segments (issue 13: the trust chain).

A chain such as ``trust ~ satisfaction`` and ``repurchase ~ satisfaction +
trust`` fitted with the same latent segments in both equations: given the
segment, the equations' errors are independent (as flexmix's list of
component models sharing the latent classes; Grün and Leisch 2008), so a
respondent's log-density in segment k is the sum of the equations'
log-densities.

:class:`EquationSystem` presents such a system to the mixture engine as one
outcome family (:class:`~trustseg.model.families.base.Family`):

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

import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from trustseg.model.families import family_from_record as _family_from_record
from trustseg.model.families.base import Bounds, EquationPart, Family


def _equation_data(data, e):
    """Equation ``e``'s side data from the system's flat ``"<e>:<key>"`` dict (None when it has none)."""
    if not data:
        return None
    prefix = f"{e}:"
    out = {key[len(prefix):]: value for key, value in data.items() if key.startswith(prefix)}
    return out or None


def system_data(per_equation):
    """The flat side-data dict of a system from one dict (or None) per equation."""
    out = {}
    for e, data in enumerate(per_equation):
        for key, value in (data or {}).items():
            out[f"{e}:{key}"] = value
    return out or None


@dataclass(frozen=True)
class EquationSystem(Family):
    """Equations sharing the segments, as one outcome family of the mixture engine.

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

    @property
    def description(self) -> str:
        return "equations sharing the segments: " + "; ".join(
            f"{outcome} {family.description}" for outcome, family in zip(self.outcomes, self.families))

    def __post_init__(self):
        if not len(self.families) == len(self.n_predictors) == len(self.outcomes) >= 1:
            raise ValueError("an equation system needs one family, predictor count and outcome per equation")

    @property
    def can_separate(self) -> bool:
        return any(family.can_separate for family in self.families)

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

    def linear_predictor(self, design, beta):
        """One segment's linear predictors, (n, E)."""
        return self.linear_predictors(design, np.asarray(beta, dtype=float)[None, :])[:, 0, :]

    @classmethod
    def from_settings(cls, settings) -> EquationSystem:
        """The system saved by :meth:`settings`."""
        families = tuple(_family_from_record(name, values)
                         for name, values in zip(settings["families"], settings["family_settings"]))
        return cls(families, tuple(int(p) for p in settings["n_predictors"]), tuple(settings["outcomes"]))

    def settings(self) -> dict:
        """The system as a JSON-ready dict (:meth:`from_settings` rebuilds it)."""
        return {"families": [f.name for f in self.families],
                "family_settings": [f.settings() for f in self.families],
                "n_predictors": [int(p) for p in self.n_predictors], "outcomes": list(self.outcomes)}

    # -- the family interface ---------------------------------------------------

    def outcome_array(self, y):
        y = np.asarray(y, dtype=float)
        if y.ndim != 2 or y.shape[1] != self.n_equations:
            raise ValueError(f"an equation system with {self.n_equations} equations needs y of shape (n, "
                             f"{self.n_equations}), got {y.shape}")
        return y

    def check_outcome(self, y, name, data=None) -> None:
        y = self.outcome_array(y)
        for e, (family, outcome) in enumerate(zip(self.families, self.outcomes)):
            family.check_outcome(y[:, e], outcome, _equation_data(data, e))

    def prepare(self, y, data=None):
        y = self.outcome_array(y)
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

    def segment_logliks(self, y, eta, extra, data=None):
        """Every segment's sum over the equations, (n, K), each equation's segments in one pass."""
        extra = np.asarray(extra, dtype=float)
        total = None
        for e, (family, block) in enumerate(zip(self.families, self.extra_blocks)):
            part = family.segment_logliks(y[:, e], eta[:, :, e], extra[:, block], _equation_data(data, e))
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

    def row_gradients(self, design, d1):
        """Each row's gradient in (beta, extra): each equation's eta chained through its own block."""
        n_eq = self.n_equations
        return np.column_stack([design[:, b] * d1[:, e : e + 1] for e, b in enumerate(self.equation_blocks)]
                               + [d1[:, n_eq:]])

    def weighted_second_derivatives(self, design, wt, d2):
        """``sum_i wt_i`` times the second derivatives in (beta, extra); no cross-equation terms but the data's."""
        blocks = self.equation_blocks
        q, n_eq = design.shape[1], self.n_equations
        m = d2.shape[1] - n_eq
        extras = q + np.arange(m)
        second = np.zeros((q + m, q + m))
        for e, b in enumerate(blocks):
            for f in range(e, n_eq):
                coupling = wt * d2[:, e, f]
                if not coupling.any():  # independent equations: no cross terms
                    continue
                c = blocks[f]
                part = (design[:, b] * coupling[:, None]).T @ design[:, c]
                second[np.ix_(b, c)] = part
                second[np.ix_(c, b)] = part.T
            cross = design[:, b].T @ (wt[:, None] * d2[:, e, n_eq:])
            second[np.ix_(b, extras)] = cross
            second[np.ix_(extras, b)] = cross.T
        second[q:, q:] = np.einsum("i,ijk->jk", wt, d2[:, n_eq:, n_eq:])
        return second

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

    def start(self, design, y, w, data=None):
        """Each equation's own start on its block of the design."""
        beta, extra = [], []
        for e, (family, block) in enumerate(zip(self.families, self.equation_blocks)):
            b, x = family.start(design[:, block], y[:, e], w, _equation_data(data, e))
            beta.append(np.asarray(b, dtype=float).reshape(-1))
            extra.append(np.asarray(x, dtype=float).reshape(-1))
        return np.concatenate(beta), np.concatenate(extra)

    # -- what the engine asks of a family ------------------------------------------

    def m_step(self, design, y, weights, params, data=None, cache=None, bounds=None, current=None):
        """Every segment's fit, equation by equation (they share no parameter), each by its family's M-step."""
        k = weights.shape[1]
        beta = np.empty((k, design.shape[1]))
        extra = np.empty((k, self.n_extra()))
        for e, (family, block, extras) in enumerate(zip(self.families, self.equation_blocks, self.extra_blocks)):
            warm = None if params is None else type(params)(params.weights, params.beta[:, block],
                                                            params.extra[:, extras])
            sub_cache = None if cache is None else cache.setdefault(("equation", e), {})
            box = None if bounds is None else bounds.part(block, extras, family.ordered_extra)
            beta[:, block], extra[:, extras] = family.m_step(design[:, block], y[:, e], weights, warm,
                                                             _equation_data(data, e), sub_cache, box)
        return beta, extra

    def bounds(self, design, w, variance_floor=None) -> Bounds:
        """Each equation's box on its own block; ``variance_floor`` is one floor per equation (or None)."""
        floors = [None] * self.n_equations if variance_floor is None else list(np.broadcast_to(
            np.asarray(variance_floor, dtype=float), (self.n_equations,)))
        q, m = design.shape[1], self.n_extra()
        beta_low, beta_high = np.full(q, -np.inf), np.full(q, np.inf)
        extra_low, extra_high = np.full(m, -np.inf), np.full(m, np.inf)
        for family, block, extras, floor in zip(self.families, self.equation_blocks, self.extra_blocks, floors):
            box = family.bounds(design[:, block], w, floor)
            beta_low[block], beta_high[block] = box.beta_low, box.beta_high
            extra_low[extras], extra_high[extras] = box.extra_low, box.extra_high
        # an ordinal equation's threshold order is checked through its log-density (-inf when crossed)
        return Bounds(beta_low, beta_high, extra_low, extra_high, False)

    def equations(self) -> list[EquationPart]:
        """One part per equation: its family, its coefficients and extras, its outcome column, its side data."""
        return [EquationPart(family, block, extras, e, functools.partial(_equation_data, e=e))
                for e, (family, block, extras) in enumerate(zip(self.families, self.equation_blocks,
                                                                self.extra_blocks))]

    def residual_directions(self, y, eta, extra, data=None):
        """Each equation's residuals, (n, E): a split move may cut a segment along any equation."""
        extra = np.asarray(extra, dtype=float)
        return np.column_stack([
            family.residual_directions(y[:, e], eta[:, e], extra[block], _equation_data(data, e))[:, 0]
            for e, (family, block) in enumerate(zip(self.families, self.extra_blocks))])

    def solution_scale(self, design, y, w):
        """Scales on which two solutions are compared: each equation's, on its own block."""
        scale = np.empty(design.shape[1] + self.n_extra())
        q = design.shape[1]
        for e, (family, block, extras) in enumerate(zip(self.families, self.equation_blocks, self.extra_blocks)):
            own = family.solution_scale(design[:, block], y[:, e], w)
            scale[block] = own[: len(block)]
            scale[q + extras] = own[len(block):]
        return scale
