"""A mixture solution, for every outcome family: shares, coefficients and extra parameters per segment.

:class:`MixtureParams` is the one parameter type of the engine: what a start
is, what EM iterates, what the estimator stores, what warm starts take and
what the observed information differentiates.  :func:`pack` and
:func:`unpack` map it to the parameter vector of the full mixture likelihood
(per segment its coefficients and extras, then the logits of the shares of
segments 2..K against segment 1), whose layout :func:`param_layout` gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np


class MixtureParams(NamedTuple):
    """``weights`` (K,), ``beta`` (K, q) (the intercept first when the family has one), ``extra`` (K, m)."""

    weights: np.ndarray
    beta: np.ndarray
    extra: np.ndarray

    @property
    def n_segments(self) -> int:
        return len(self.weights)

    def take(self, keep) -> MixtureParams:
        """The segments ``keep`` (a mask or indices), their shares renormalised."""
        weights = np.asarray(self.weights, dtype=float)[keep]
        return MixtureParams(weights / weights.sum(), np.asarray(self.beta)[keep], np.asarray(self.extra)[keep])

    @classmethod
    def coerce(cls, value, family, n_predictors, n_segments=None) -> MixtureParams:
        """MixtureParams of ``family`` with ``n_predictors`` predictors from itself or a mapping, shapes checked.

        A mapping gives ``weights``, ``beta`` and ``extra``; for a family with
        an intercept and a log SD (gaussian, censored) it may give
        ``intercept``, ``coef``, ``sigma`` and ``weights`` instead.
        """
        fields = value._asdict() if isinstance(value, tuple) and hasattr(value, "_asdict") else dict(value)
        q, m = n_predictors + int(family.has_intercept), family.n_extra()
        if "beta" not in fields and {"intercept", "coef", "sigma"} <= set(fields) and family.has_intercept \
                and family.normal:
            intercept = np.asarray(fields["intercept"], dtype=float).reshape(-1)
            fields = {"weights": fields.get("weights"),
                      "beta": np.column_stack([intercept, np.asarray(fields["coef"], dtype=float).reshape(
                          len(intercept), -1)]),
                      "extra": np.log(np.asarray(fields["sigma"], dtype=float).reshape(-1, 1))}
        missing = [f for f in cls._fields if fields.get(f) is None]
        if missing:
            raise ValueError(f"starting parameters lack {missing}; give {list(cls._fields)}")
        weights = np.asarray(fields["weights"], dtype=float).reshape(-1)
        k = len(weights)
        params = cls(weights, np.asarray(fields["beta"], dtype=float).reshape(k, q),
                     np.asarray(fields["extra"], dtype=float).reshape(k, m))
        if n_segments is not None and k != n_segments:
            raise ValueError(f"a start has {k} segments; n_segments is {n_segments}")
        if not all(np.isfinite(v).all() for v in params) or (params.weights < 0).any() or params.weights.sum() <= 0:
            raise ValueError("starting parameters must be finite, with non-negative weights")
        return params

    def as_lists(self) -> dict:
        """A JSON-ready dict of the three arrays."""
        return {name: np.asarray(value).tolist() for name, value in self._asdict().items()}


def is_params_mapping(value) -> bool:
    """Whether ``value`` is one start (MixtureParams or a mapping) rather than a list of them."""
    return isinstance(value, (MixtureParams, Mapping))


def param_layout(k, q, m):
    """Positions of each segment's (beta, extra) block and of the logits; and the dimension."""
    block = q + m
    segment_index = [np.arange(j * block, (j + 1) * block) for j in range(k)]
    logit_index = np.arange(k * block, k * block + k - 1)
    return segment_index, logit_index, k * block + k - 1


def pack(params):
    """The parameter vector: per segment (beta_k, extra_k), then alpha_2..alpha_K = log(pi_k / pi_1)."""
    weights = np.asarray(params.weights, dtype=float)
    segments = np.column_stack([params.beta, params.extra]).reshape(-1)
    with np.errstate(divide="ignore"):
        return np.concatenate([segments, np.log(weights[1:]) - np.log(weights[0])])


def unpack(theta, k, q, m):
    """Inverse of :func:`pack`."""
    theta = np.asarray(theta, dtype=float)
    block = theta[: k * (q + m)].reshape(k, q + m)
    alpha = np.concatenate([[0.0], theta[k * (q + m):]])
    weights = np.exp(alpha - alpha.max())  # a softmax; scipy's logsumexp costs more than the EM step here
    weights /= weights.sum()
    return MixtureParams(weights, block[:, :q].copy(), block[:, q:].copy())
