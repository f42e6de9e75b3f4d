"""What ``trustseg init-config`` reads from the answers themselves: scales, labels, constructs, keying, directions.

Column names alone miss much of a real survey: items answered 0, 20, ...,
100; yes/no items; an 11-point scale whose ends carry words ("I hate
it!-5" ... "I love it!+5"); the items of one construct named by a shared
stem (``PC1``, ``PC2``, ``PC3``); a reverse-keyed item; a predictor that is
expected to lower the outcome (price, privacy concern, waiting time).  The
functions here find them from the data and the wording, so that the draft
is a config that runs; each finding is marked for the researcher to check.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from functools import reduce

import numpy as np
import pandas as pd

__all__ = ["answer_grid", "label_number", "stem_groups", "is_numbering", "reverse_keyed", "lowers_hint",
           "runs_worse", "overall_item", "closest_to"]

#: the most answer levels a rating item has (an 11-point scale, 0-10 or -5..+5)
MAX_LEVELS = 11

# Yes/no answers and their codes; words in the languages init-config reads.
_YES_NO = {"yes": 1, "no": 0, "y": 1, "n": 0, "true": 1, "false": 0, "是": 1, "否": 0, "有": 1, "没有": 0}
# A signed number, alone ("-4", "+3") or ending a label ("I love it!+5", "Strongly agree (7)").
_NUMBER_AT_END = re.compile(r"(?:^|[^\d.])(?P<n>[+\-\u2212]?\d+(?:\.\d+)?)\s*\)?\s*$")
_STEM = re.compile(r"^(?P<stem>.*?[A-Za-z\u4e00-\u9fff])[\s_.\-]*(?P<n>\d+)[a-zA-Z]?$")
# Stems that number a questionnaire's questions rather than name a construct.
_NUMBERING = re.compile(r"^(q|v|x|item|var|question|frage|题|问题)$", re.IGNORECASE)
# Wording of predictors expected to lower an outcome that is good for the firm.
_LOWERS = re.compile(r"pric|cost|(?<![a-z])fees?(?![a-z])|(?<![a-z])pay|expens|privacy|concern|(?<![a-z])risk|worr|"
                     r"anxi|wait|delay|queue|effort|hassl|complex|burden|价格|费用|隐私|担心|风险|等待", re.IGNORECASE)
# Wording of an outcome that runs the other way: the intention to leave, churn, complaints.
_WORSE = re.compile(r"churn|defect|cancel|leav|quit|complain|switch|流失|投诉|抱怨|转换|更换", re.IGNORECASE)
# Switching costs and barriers keep customers: they are no intention to leave.
_BARRIER = re.compile(r"cost|barrier|hassl|effort|difficult|penalt|成本|障碍", re.IGNORECASE)


def label_number(text) -> float | None:
    """The number an answer label stands for: yes/no, a signed number, or a label ending in one; else None."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    value = str(text).strip()
    if value.casefold() in _YES_NO:
        return float(_YES_NO[value.casefold()])
    match = _NUMBER_AT_END.search(value)
    if not match:
        return None
    return float(match["n"].replace("\u2212", "-"))


def answer_grid(values: pd.Series) -> tuple[float, float, float] | None:
    """``(lowest, highest, step)`` when the answers lie on an evenly spaced grid of 2 to 11 levels, else None.

    Whole points (1-7, 0-10) have step 1; items answered 0, 20, ..., 100 step
    20.  A grid may have levels nobody chose, but most are used.
    """
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    distinct = np.unique(numbers.to_numpy(float))
    if len(distinct) < 2 or not np.all(distinct == np.round(distinct)):
        return None
    lo, hi = float(distinct[0]), float(distinct[-1])
    step = float(reduce(math.gcd, (int(d) for d in np.diff(distinct).astype(int))))
    levels = (hi - lo) / step + 1
    if step == 1 and lo >= 0 and hi <= MAX_LEVELS:
        return lo, hi, 1.0
    if levels > MAX_LEVELS or len(distinct) < max(2, 0.6 * levels):
        return None
    return lo, hi, step


def stem_groups(columns: Iterable) -> dict[str, list]:
    """Columns sharing a name stem with a running number (``PC1, PC2, PC3``; ``sat_1 .. sat_4``), two or more."""
    groups: dict[str, list] = {}
    for column in columns:
        match = _STEM.match(str(column).strip())
        if match:
            groups.setdefault(match["stem"].strip(" _.-").casefold(), []).append(column)
    return {stem: cols for stem, cols in groups.items() if len(cols) >= 2}


def is_numbering(stem: str, members: list, candidates: list) -> bool:
    """Whether a stem numbers the questionnaire (q1 .. q10) instead of naming a construct."""
    return bool(_NUMBERING.match(stem)) or (len(members) >= 8 and len(members) >= 0.8 * len(candidates))


def reverse_keyed(frame: pd.DataFrame, items: list) -> list:
    """Items that run against the rest of their construct: their loading on its first principal component has
    the sign opposite to most items' (for three items or more; with two, either could be the reversed one)."""
    if len(items) < 3:
        return []
    data = frame[items].apply(pd.to_numeric, errors="coerce").dropna()
    if len(data) < 10 or (data.std() == 0).any():
        return []
    values, vectors = np.linalg.eigh(data.corr().to_numpy())
    loading = vectors[:, -1]
    majority = 1.0 if (loading > 0).sum() * 2 >= len(items) else -1.0
    # a loading near zero says the item measures something else, not that it is reversed
    return [item for item, value in zip(items, loading) if value * majority < -0.1]


def lowers_hint(name: str, texts: Mapping | None = None, items: Iterable = ()) -> bool:
    """Whether the wording of a predictor (its name, items or questions) says it is expected to lower the outcome."""
    words = " ".join([str(name), *map(str, items), *(str((texts or {}).get(i, "")) for i in items)])
    return bool(_LOWERS.search(words))


def runs_worse(name: str, items: Iterable, texts: Mapping | None = None, source: str = "") -> bool:
    """Whether the wording says higher answers are worse for the firm: an intention to switch, churn, complain.

    The construct's name, its items and their questions are read; an
    intention construct also borrows the survey's file name ("switching.csv"
    asks about switching).  Switching *costs* or barriers never run worse.
    """
    items = list(items)
    words = " ".join([str(name), *map(str, items), *(str((texts or {}).get(i, "")) for i in items)])
    if _BARRIER.search(words):
        return False
    if _WORSE.search(words):
        return True
    return bool(re.search(r"int|intent|likel", str(name), re.IGNORECASE) and _WORSE.search(str(source))
                and not _BARRIER.search(str(source)))


def _mean_abs_corr(frame: pd.DataFrame, columns: list, against: list) -> pd.Series:
    data = frame[list(dict.fromkeys(columns + against))].apply(pd.to_numeric, errors="coerce")
    corr = data.corr().abs()
    return pd.Series({c: float(corr.loc[c, [a for a in against if a != c]].mean()) for c in columns})


def overall_item(frame: pd.DataFrame, candidates: list, binary: set) -> str | None:
    """The item most correlated with all the others, preferring a rating scale to a yes/no item.

    An overall rating ("overall satisfaction", "how much do you like it")
    goes with every aspect of the offer, so it correlates most with the rest.
    """
    if len(candidates) < 2:
        return candidates[0] if candidates else None
    rating = [c for c in candidates if c not in binary] or candidates
    scores = _mean_abs_corr(frame, rating, candidates)
    return scores.idxmax() if scores.notna().any() else rating[0]


def closest_to(frame: pd.DataFrame, target: str, options: list[list]) -> list | None:
    """Of ``options`` (groups of items), the one whose mean correlates most with ``target``."""
    if not options:
        return None
    y = pd.to_numeric(frame[target], errors="coerce")
    scores = []
    for items in options:
        score = frame[items].apply(pd.to_numeric, errors="coerce").mean(axis=1)
        both = pd.concat([score, y], axis=1).dropna()
        scores.append(abs(float(both.corr().iloc[0, 1])) if len(both) > 2 and both.std().min() > 0 else -1.0)
    return options[int(np.argmax(scores))]
