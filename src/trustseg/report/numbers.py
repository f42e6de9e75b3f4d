"""Numbers and names as a reader sees them: percentages, estimates, intervals, p-values, variable names."""

from __future__ import annotations

import math


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
