"""The levels of a profile variable: which variables are categorical, and in what order their levels come.

Shared by the profile table (:mod:`trustseg.model.profiles`) and the
membership model (:mod:`trustseg.model.membership`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from trustseg.errors import DataError

#: numeric variables with at most this many distinct values are categorical
MAX_LEVELS = 5


def is_categorical(values: pd.Series, max_levels: int = MAX_LEVELS) -> bool:
    """Whether a profile variable is treated as categorical.

    Object, string, category and boolean columns are categorical; so is a
    numeric column with at most ``max_levels`` distinct non-missing values
    (a 0/1 flag, a three-level code).  Other numeric columns are numeric.
    """
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return True
    if not pd.api.types.is_numeric_dtype(dtype):
        return True
    return values.dropna().nunique() <= max_levels


def variable_levels(values: pd.Series, order: Sequence | None = None) -> list:
    """Distinct non-missing levels in display order (see :func:`order_levels`; a categorical keeps its order)."""
    present = values.dropna()
    if order is None and isinstance(values.dtype, pd.CategoricalDtype):
        return [c for c in values.cat.categories if (present == c).any()]
    return order_levels(pd.unique(present), order)


def level_text(level) -> str:
    """A level as shown and matched: ``2.0`` (an integer code read as a float) is ``"2"``."""
    if isinstance(level, (float, np.floating)) and float(level).is_integer():
        return str(int(level))
    return str(level).strip()


def order_levels(levels: Iterable, order: Sequence | None = None) -> list:
    """Levels in display order.

    The levels named in ``order`` come first, in that order (matched by their
    text, so ``"2"`` matches a code ``2``); the others follow in natural
    order: numbers by value; text that names numeric bands by the band
    (``<30k`` < ``30-60k`` < ``60-100k`` < ``>100k``, ``Under 18`` < ``18-24``
    < ``65+``, see :func:`band_bounds`) when every level names one; else
    alphabetically.

    Parameters
    ----------
    levels : iterable
        Distinct levels.
    order : sequence, optional
        The order of the levels (from the config's ``profile_order`` or the
        data file's value labels).

    Returns
    -------
    list
        ``levels``, reordered.
    """
    levels = list(levels)
    listed = []
    if order:
        by_text = {}
        for level in levels:
            by_text.setdefault(level_text(level), level)
        for item in order:
            level = by_text.pop(level_text(item), None)
            if level is not None:
                listed.append(level)
        levels = list(by_text.values())
    return listed + _natural_order(levels)


def _natural_order(levels: list) -> list:
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
           for v in levels):
        return sorted(levels)
    bands = [band_bounds(v) for v in levels]
    if levels and all(b is not None for b in bands):
        return [v for _, _, v in sorted(zip(bands, (str(v).lower() for v in levels), levels),
                                        key=lambda t: (t[0], t[1]))]
    try:
        return sorted(levels)
    except TypeError:
        return sorted(levels, key=lambda v: str(v))


# A number with an optional multiplier right after it ("30k", "1.5M", "5千", "2万"); a multiplier
# letter followed by another letter is a unit ("5 km", "10 min"), not a multiplier.
_BAND_NUMBER = re.compile(r"(\d+(?:\.\d+)?)(?:\s?([kKmM千万亿])(?![A-Za-z]))?")
_MULTIPLIERS = {"k": 1e3, "m": 1e6, "千": 1e3, "万": 1e4, "亿": 1e8}
_OPEN_BELOW_BEFORE = re.compile(r"[<\u2264\uff1c]|\b(under|less than|below|up to|upto|fewer than|younger than|"
                                r"at most|no more than|max(imum)?)\b")
_OPEN_BELOW_AFTER = re.compile(r"\b(or less|or fewer|or younger|or under|and under|and below|or below)\b|以下|以内")
_OPEN_ABOVE_BEFORE = re.compile(r"[>\u2265\uff1e]|\b(over|more than|above|at least|older than|greater than|"
                                r"min(imum)?)\b")
_OPEN_ABOVE_AFTER = re.compile(r"^\s*\+|\b(or more|or older|or over|and over|and above|or above|and older|plus)\b|以上")


def band_bounds(label) -> tuple[float, float] | None:
    """The numeric band a category label names, as ``(low, high)``; None when it holds no number.

    ``"30-60k"`` is (30000, 60000), ``"<30k"`` (-inf, 30000), ``">100k"`` and
    ``"100k+"`` (100000, inf), ``"18-24"`` (18, 24), ``"65 or older"``
    (65, inf), ``"3000元以下"`` (-inf, 3000).  A multiplier written once
    applies to the band's first number too (``30-60k``).  Thousands
    separators (``$30,000``) are read as such.
    """
    text = re.sub(r"(?<=\d)[,'\u00a0\u202f](?=\d{3}(?!\d))", "", str(label).strip().lower())
    found = list(_BAND_NUMBER.finditer(text))
    if not found:
        return None
    values = [float(m.group(1)) for m in found]
    factors = [_MULTIPLIERS.get((m.group(2) or "").lower()) for m in found]
    # "30-60k": the first number takes the multiplier written after the second, unless that would
    # turn the band around ("500-1k" is 500 to 1000).
    for i in range(len(found) - 2, -1, -1):
        if factors[i] is None and factors[i + 1] is not None and values[i] <= values[i + 1]:
            factors[i] = factors[i + 1]
    numbers = [v * (f or 1.0) for v, f in zip(values, factors)]
    before, after = text[:found[0].start()], text[found[0].end():]
    if _OPEN_BELOW_BEFORE.search(before) or (len(numbers) == 1 and _OPEN_BELOW_AFTER.search(after)):
        return (-np.inf, numbers[0])
    if _OPEN_ABOVE_BEFORE.search(before) or (len(numbers) == 1 and _OPEN_ABOVE_AFTER.search(after)):
        return (numbers[0], np.inf)
    return (numbers[0], numbers[1]) if len(numbers) > 1 else (numbers[0], numbers[0])


def check_variables(data: pd.DataFrame, variables: list[str]) -> None:
    missing_cols = [v for v in variables if v not in data.columns]
    if missing_cols:
        raise DataError(f"profile variable(s) {missing_cols} are not columns of the data; "
                        f"available: {list(data.columns)}")
