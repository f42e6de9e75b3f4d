"""Checks of an estimator's hyperparameters, at the start of ``fit`` (scikit-learn's convention).

Each estimator declares, per hyperparameter, the values it accepts (a type,
``None``, an :class:`Interval` or a :class:`OneOf`); :func:`check_hyperparameters`
refuses any other value, naming the parameter and what it accepts.  Written
here rather than taken from scikit-learn's private validation module, whose
interface a scikit-learn release may change.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np


class InvalidParameterError(ValueError, TypeError):
    """A hyperparameter outside the values its estimator accepts."""


@dataclass(frozen=True)
class Interval:
    """Numbers of ``kind`` (Integral or Real) between ``low`` and ``high`` (None: unbounded)."""

    kind: type
    low: float | None
    high: float | None
    closed: str = "both"  # "both", "left", "right" or "neither"

    def accepts(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, self.kind):
            return False
        if self.kind is Real and not np.isfinite(value):
            return False
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if self.low is not None and (value < self.low or (not left and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (not right and value == self.high)))

    def __str__(self):
        kind = "an int" if self.kind is Integral else "a float"
        low = "-inf" if self.low is None else f"{self.low}"
        high = "inf" if self.high is None else f"{self.high}"
        brackets = {"both": "[]", "left": "[)", "right": "(]", "neither": "()"}[self.closed]
        return f"{kind} in the range {brackets[0]}{low}, {high}{brackets[1]}"


@dataclass(frozen=True)
class OneOf:
    """One of the listed values."""

    values: frozenset

    def accepts(self, value) -> bool:
        try:
            return not isinstance(value, bool) and value in self.values
        except TypeError:  # unhashable
            return False

    def __str__(self):
        return "one of {" + ", ".join(repr(v) for v in sorted(self.values, key=str)) + "}"


RANDOM_STATE = "random_state"
BOOLEAN = "boolean"


def _accepts(rule, value) -> bool:
    if rule is None:
        return value is None
    if rule == RANDOM_STATE:
        return value is None or isinstance(value, (Integral, np.random.Generator)) and not isinstance(value, bool)
    if rule == BOOLEAN:
        return isinstance(value, (bool, np.bool_))
    if isinstance(rule, type):
        return isinstance(value, rule)
    return rule.accepts(value)


def _describe(rule) -> str:
    if rule is None:
        return "None"
    if rule == RANDOM_STATE:
        return "an int, a numpy Generator or None"
    if rule == BOOLEAN:
        return "a bool"
    if isinstance(rule, type):
        return f"an instance of {rule.__name__}"
    return str(rule)


def check_hyperparameters(estimator, constraints: dict) -> None:
    """Raise :class:`InvalidParameterError` for the first hyperparameter outside its ``constraints``."""
    for name, rules in constraints.items():
        value = getattr(estimator, name)
        if any(_accepts(rule, value) for rule in rules):
            continue
        accepted = [_describe(rule) for rule in rules]
        listed = accepted[0] if len(accepted) == 1 else ", ".join(accepted[:-1]) + " or " + accepted[-1]
        raise InvalidParameterError(
            f"The '{name}' parameter of {type(estimator).__name__} must be {listed}. Got {value!r} instead.")
