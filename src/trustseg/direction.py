"""Which way each predictor is expected to move an analysis's outcome.

Two config keys say it.  ``higher_is`` says which way the outcome runs
(``better`` for repurchase or trust, ``worse`` for switching or complaints);
``expected`` says, per predictor, whether it is expected to ``raise`` or
``lower`` the outcome (the last outcome of a chain).  A predictor without an
entry is expected to move the outcome the good way: to raise it when higher
is better and to lower it when higher is worse (satisfaction lowers
switching).  Privacy concern, price or waiting time are the predictors that
need an entry: ``expected: {privacy_concern: lowers}``.

The expected direction of the focal predictor orders the segments (segment 1
is the one moved most strongly in that direction) and tells the names,
sentences and figures which verdict is the expected one; ``higher_is`` alone
tells whether a high level of the outcome is good.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["DIRECTIONS", "expected_sign", "good_sign", "predictor_kind"]

#: the values of ``analyses.<name>.expected.<predictor>``, with the sign of the effect each expects
DIRECTIONS = {"raises": 1, "lowers": -1}


def good_sign(higher_is: str = "better") -> int:
    """+1 when higher outcome values are better, -1 when they are worse."""
    if higher_is not in ("better", "worse"):
        raise ValueError(f"higher_is must be 'better' or 'worse', not {higher_is!r}")
    return 1 if higher_is == "better" else -1


def expected_sign(predictor: str | None, higher_is: str = "better", expected: Mapping | None = None) -> int:
    """The expected sign (+1 or -1) of ``predictor``'s effect on the outcome.

    ``expected[predictor]`` when given (``raises`` +1, ``lowers`` -1);
    otherwise the good way for the outcome (:func:`good_sign`).
    """
    direction = (expected or {}).get(predictor) if predictor is not None else None
    if direction is None:
        return good_sign(higher_is)
    if direction not in DIRECTIONS:
        raise ValueError(f"an expected direction must be one of {sorted(DIRECTIONS)}, not {direction!r}")
    return DIRECTIONS[direction]


def predictor_kind(predictor: str | None, higher_is: str = "better", expected: Mapping | None = None) -> str:
    """``"lever"`` when the predictor is expected to move the outcome the good way (satisfaction), else ``"burden"``.

    A lever's expected segments are "driven" by it; a burden's (price,
    privacy concern, waiting time) are "sensitive" to it.
    """
    return "lever" if expected_sign(predictor, higher_is, expected) == good_sign(higher_is) else "burden"
