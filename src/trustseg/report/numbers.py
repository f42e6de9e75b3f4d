"""Numbers and names as a reader sees them: percentages, estimates, intervals, p-values, variable names."""

from __future__ import annotations

import math
from collections.abc import Sequence

from trustseg.model.families import family_class


def fmt_pct(x: float, digits: int = 0) -> str:
    return "n/a" if x is None or not math.isfinite(float(x)) else f"{100 * float(x):.{digits}f}%"

def fmt_num(x: float, digits: int = 2) -> str:
    """A number with a typographic minus sign (and no ``-0.00``)."""
    if x is None or not math.isfinite(float(x)):
        return "n/a"
    text = f"{float(x):.{digits}f}"
    if text.lstrip("-").strip("0.") == "":
        text = text.lstrip("-")
    return text.replace("-", "\u2212")

def fmt_ci(low: float, high: float, digits: int = 2) -> str:
    """``0.87–1.01``, or ``−0.03 to 0.07`` when a bound is negative."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    sep = "\u2013" if low >= 0 and high >= 0 else " to "
    return f"{fmt_num(low, digits)}{sep}{fmt_num(high, digits)}"

def fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"

def finite(value) -> float | None:
    """``value`` as a float when it is a finite number, else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None

def pct_text(level: float) -> str:
    return f"{100 * level:.0f}%"

def label(name) -> str:
    """A variable name as words: ``service_quality`` -> ``service quality``."""
    return str(name).replace("_", " ").strip()

def higher_is_of(settings) -> str:
    """``better`` or ``worse``: which way the outcome runs (``better`` for results written without the key)."""
    return getattr(settings, "higher_is", None) or "better"

def text_of(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def coefficient_unit(families: Sequence[str]) -> str:
    """The unit of the coefficients of ``families`` (one name per equation), from the families' own facts.

    One unit when the equations share it ("latent outcome points"); for a
    chain whose equations differ, each equation's unit in turn (its paths).
    A chain's effects on its last outcome are in one unit: :func:`effect_unit`.
    """
    units = [family_class(f).coefficient_unit for f in families] or [family_class("gaussian").coefficient_unit]
    if len(set(units)) == 1:
        return units[0]
    return "each equation's own units (" + ", ".join(dict.fromkeys(units)) + ")"


def effect_unit(families: Sequence[str]) -> str:
    """The unit of a chain's effects on its last outcome: the last equation's coefficient unit.

    An indirect effect is a product of paths (mediator per focal point times
    outcome per mediator point), so it is in the last outcome's unit per
    focal point, whatever unit the mediator's own equation has.
    """
    return coefficient_unit(list(families)[-1:])


def decimals(std_error, minimum: int = 2, maximum: int = 6) -> int:
    """Decimals that reach the first significant digit of the standard error (at least two).

    An estimate of 0.0012 with standard error 0.0004 prints as 0.0012, not
    0.00; one of 0.94 with standard error 0.04 as 0.94.
    """
    try:
        se = abs(float(std_error))
    except (TypeError, ValueError):
        return minimum
    if not math.isfinite(se) or se == 0:
        return minimum
    return int(min(maximum, max(minimum, -math.floor(math.log10(se)))))


def fmt_estimate(value, std_error=None) -> str:
    """An estimate with as many decimals as its standard error warrants (never "-0.00" for a small effect)."""
    return fmt_num(value, decimals(std_error))


def fmt_interval(low, high, std_error=None) -> str:
    """An interval with the decimals of its estimate's standard error (or of its own width when none is given)."""
    if std_error is None:
        try:
            std_error = (float(high) - float(low)) / 3.92
        except (TypeError, ValueError):
            std_error = None
    return fmt_ci(low, high, decimals(std_error))


def category_text(value) -> str:
    """A category as a reader knows it: an integer code without ".0" ("2", not "2.0"); text as it is."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if math.isfinite(number) and number == int(number) and "e" not in text.lower() else text


def rounded(frame, digits: int = 2):
    """A table's numbers rounded for display, with no "-0.00": a negative value that rounds to zero shows as 0."""
    out = frame.round(digits)
    numeric = out.select_dtypes("number").columns
    out[numeric] = out[numeric] + 0.0  # -0.0 + 0.0 is +0.0
    return out
