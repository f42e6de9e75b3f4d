"""Outcomes that are counts: binomial (logit link) and poisson (log link).

Neither has extra parameters.  Both can separate: a segment whose answers a
predictor splits perfectly has no maximum, so its coefficients are kept in
the box of :meth:`~trustseg.model.families.base.Family.bounds`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.special import expit, gammaln, log_expit

from trustseg.model.families.base import Family, data_array, refuse_values, weighted_lstsq


def _log_choose(y, trials):
    """log C(trials, y), row by row."""
    return gammaln(trials + 1.0) - gammaln(y + 1.0) - gammaln(trials - y + 1.0)


@dataclass(frozen=True)
class BinomialFamily(Family):
    """Logit link; ``y`` is 0/1 or successes out of ``data["trials"]``; no extra parameters."""

    name: ClassVar[str] = "binomial"
    can_separate: ClassVar[bool] = True
    single_answer: ClassVar[bool] = True
    probability_outcome: ClassVar[bool] = True
    coefficient_unit: ClassVar[str] = "log odds"
    description: ClassVar[str] = "binomial logit"
    mean_label: ClassVar[str | None] = "probability of a 1"

    def check_outcome(self, y, name, data=None) -> None:
        """0/1 without trials; with trials, integers 0 <= y <= trials."""
        y = self.finite_outcome(y, name)
        if data is None or data.get("trials") is None:
            refuse_values(
                y, (y != 0) & (y != 1), name, "a binomial outcome without trials takes only 0 and 1, found",
                "Recode yes/no as 1/0, give the number of trials for counts of successes, or use another family.",
            )
            return
        trials = data_array(data, "trials", len(y), 1)
        refuse_values(
            y, (y < 0) | (y > trials) | (y != np.round(y)), name,
            "a binomial outcome must be a whole number of successes between 0 and the trials, found",
            "Check the outcome and the trials column.",
        )

    def loglik(self, y, eta, extra, data=None):
        if data is None or data.get("trials") is None:
            # one trial: the log binomial coefficient is 0 (computing it was most of a 0/1 fit's time)
            return y * log_expit(eta) + (1.0 - y) * log_expit(-eta)
        trials = data_array(data, "trials", len(y), 1)
        log_choose = data.get("log_choose")
        if log_choose is None:
            log_choose = _log_choose(y, trials)
        return y * log_expit(eta) + (trials - y) * log_expit(-eta) + log_choose

    def prepare(self, y, data=None):
        """``data`` with the log binomial coefficients, which do not change during a fit, computed once."""
        if data is None or data.get("trials") is None:
            return data
        y = np.asarray(y, dtype=float).reshape(-1)
        return {**data, "log_choose": _log_choose(y, data_array(data, "trials", len(y), 1))}

    def derivatives(self, y, eta, extra, data=None):
        trials = data_array(data, "trials", len(y), 1)
        p = expit(eta)
        return (y - trials * p)[:, None], (-trials * p * (1.0 - p))[:, None, None]

    def mean(self, eta, extra, data=None):
        """Probability of success, times the trials when they are given."""
        p = expit(np.asarray(eta, dtype=float))
        if data is None or data.get("trials") is None:
            return p
        return p * data_array(data, "trials", len(p), 1)

    def simulate(self, eta, extra, rng, data=None):
        eta = np.asarray(eta, dtype=float)
        return rng.binomial(data_array(data, "trials", len(eta), 1).astype(np.int64), expit(eta)).astype(float)

    def start(self, design, y, w, data=None):
        """Least squares on empirical logits (one IRLS-like step from the data)."""
        trials = data_array(data, "trials", len(y), 1)
        z = np.log((y + 0.5) / (trials - y + 0.5))
        return weighted_lstsq(design, z, w), np.empty(0)


@dataclass(frozen=True)
class PoissonFamily(Family):
    """Log link; ``data["offset"]`` is added to the linear predictor; no extra parameters."""

    name: ClassVar[str] = "poisson"
    can_separate: ClassVar[bool] = True
    single_answer: ClassVar[bool] = True
    coefficient_unit: ClassVar[str] = "log expected count"
    description: ClassVar[str] = "poisson log link"
    mean_label: ClassVar[str | None] = "expected count"

    def check_outcome(self, y, name, data=None) -> None:
        """Counts: whole numbers >= 0."""
        y = self.finite_outcome(y, name)
        refuse_values(
            y, (y < 0) | (y != np.round(y)), name, "a count outcome (poisson) takes whole numbers >= 0, found",
            "Check the coding of the outcome, or use another family.",
        )

    def loglik(self, y, eta, extra, data=None):
        linear = eta + data_array(data, "offset", len(y), 0)
        with np.errstate(over="ignore", invalid="ignore"):
            return y * linear - np.exp(linear) - gammaln(y + 1.0)

    def derivatives(self, y, eta, extra, data=None):
        with np.errstate(over="ignore"):
            mu = np.exp(eta + data_array(data, "offset", len(y), 0))
        return (y - mu)[:, None], (-mu)[:, None, None]

    def mean(self, eta, extra, data=None):
        eta = np.asarray(eta, dtype=float)
        return np.exp(eta + data_array(data, "offset", len(eta), 0))

    def simulate(self, eta, extra, rng, data=None):
        return rng.poisson(self.mean(eta, extra, data)).astype(float)

    def start(self, design, y, w, data=None):
        """Least squares on log(y + 0.5) - offset."""
        z = np.log(y + 0.5) - data_array(data, "offset", len(y), 0)
        return weighted_lstsq(design, z, w), np.empty(0)
