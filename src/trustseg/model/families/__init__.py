"""Outcome families for clusterwise regression: the registry, and every family by name.

Families (:data:`FAMILIES`; :func:`make_family` builds one by name):

``gaussian``
    Normal with identity link; extra ``log_sigma`` (:mod:`.normal`).
``censored``
    Normal latent outcome censored at the bounds of the scale (Tobit): a value
    at ``lower`` stands for "at or below", at ``upper`` for "at or above";
    extra ``log_sigma`` of the latent outcome (:mod:`.normal`).
``binomial``
    Logit link; ``y`` is 0/1, or successes out of ``data["trials"]`` (:mod:`.counts`).
``poisson``
    Log link; ``data["offset"]`` (e.g. log exposure) is added to ``eta`` (:mod:`.counts`).
``ordinal``
    Cumulative logit for one rating item (:mod:`.ordinal`).

Two families are built from others: the location-scale family, a normal
outcome whose log SD is linear in the predictors (:mod:`.spread`), and the
equation system, several equations sharing the segments (:mod:`.system`,
imported by the chain estimator alone).
What every family provides, and what the engine asks of it, is the protocol
of :class:`~.base.Family`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from trustseg.errors import ConfigError
from trustseg.model.families.base import (
    SEPARATION_LIMIT,
    Bounds,
    Family,
    SegmentFit,
    met_threshold_groups,
    newton_fit,
    on_bounds,
    segment_gradient_hessian,
    take_rows,
)
from trustseg.model.families.counts import BinomialFamily, PoissonFamily
from trustseg.model.families.normal import (
    DEFAULT_RELATIVE_FLOOR,
    CensoredFamily,
    GaussianFamily,
    variance_floor,
)
from trustseg.model.families.ordinal import MAX_ORDINAL_CATEGORIES, OrdinalFamily
from trustseg.model.families.spread import LocationScaleFamily, spread_data

__all__ = [
    "FAMILIES", "DEFAULT_RELATIVE_FLOOR", "MAX_ORDINAL_CATEGORIES", "SEPARATION_LIMIT",
    "Bounds", "Family", "SegmentFit", "GaussianFamily", "CensoredFamily", "BinomialFamily", "PoissonFamily",
    "OrdinalFamily", "LocationScaleFamily",
    "family_class", "make_family", "family_for_data", "family_from_record", "fit_segment", "met_threshold_groups",
    "on_bounds",    "segment_gradient_hessian", "spread_data", "take_rows", "variance_floor",
]

FAMILIES = {
    "gaussian": GaussianFamily,
    "censored": CensoredFamily,
    "binomial": BinomialFamily,
    "poisson": PoissonFamily,
    "ordinal": OrdinalFamily,
}
#: a family built from another, rebuilt by name from a saved model (an equation system is the chain's own)
_COMPOSITE = {"location_scale": LocationScaleFamily}


def family_class(name):
    """The class of the family called ``name``, whose class attributes carry its facts (units, curve)."""
    if name not in FAMILIES:
        raise ConfigError(f"unknown outcome family '{name}'; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def make_family(name, **settings):
    """The family called ``name`` with its settings (censored: lower, upper; ordinal: categories)."""
    cls = family_class(name)
    try:
        return cls(**settings)
    except TypeError:
        accepted = [f.name for f in dataclasses.fields(cls)]
        raise ConfigError(
            f"outcome family '{name}' takes the settings {accepted or 'none'}, got {sorted(settings)}"
        ) from None


def family_for_data(name, options, y, y_name):
    """Family ``name`` with ``options``; bounds (censored) and categories (ordinal) default to those of ``y``."""
    options = {key: tuple(v) if isinstance(v, list) else v for key, v in (options or {}).items()}
    cls = family_class(name)
    fields = {f.name for f in dataclasses.fields(cls)}
    if {"lower", "upper"} <= fields:
        options.setdefault("lower", float(np.min(y)))
        options.setdefault("upper", float(np.max(y)))
    if "categories" in fields and "categories" not in options:
        # an outcome with too many values for a rating item is the data's problem: say so about the column
        if len(np.unique(y)) > MAX_ORDINAL_CATEGORIES:
            cls().check_outcome(y, y_name)
        options["categories"] = tuple(float(v) for v in np.unique(y))
    return make_family(name, **options)


def family_from_record(name, settings):
    """The family saved as its ``name`` and :meth:`~.base.Family.settings` (an equation system: see
    :meth:`~.system.EquationSystem.from_settings`)."""
    settings = {key: tuple(v) if isinstance(v, list) else v for key, v in settings.items()}
    if name in _COMPOSITE:
        return _COMPOSITE[name](**settings)
    return make_family(name, **settings)


def fit_segment(family, X, y, w=None, data=None, start=None, tol=1e-10, max_iter=100) -> SegmentFit:
    """Weighted maximum likelihood of one segment of ``family`` (Newton's method with step halving).

    ``X`` holds the predictors *without* an intercept column (one is added
    when the family has one); ``w`` non-negative weights (all ones if
    omitted); ``data`` the per-row side data; ``start`` a warm start
    ``(beta, extra)`` with the intercept first.  See
    :func:`~.base.newton_fit`.
    """
    y = family.outcome_array(y)
    X = np.asarray(X, dtype=float).reshape(len(y), -1)
    design = np.column_stack([np.ones(len(y)), X]) if family.has_intercept else X
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=float).reshape(-1)
    if w.shape != (len(y),) or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite, non-negative and one per row")
    if not w.sum() > 0:
        raise ValueError("weights sum to zero: nothing to fit")
    return newton_fit(family, design, y, w, data, start=start, tol=tol, max_iter=max_iter)
