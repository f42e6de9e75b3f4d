"""Where the answers are coarse: answer values held by a large share of respondents.

A score or item on which a quarter of the respondents gave one and the same
value (everyone at 1.5, or at the top of the scale) is where a mixture can
make a "segment" of the pile rather than of a regression line (see
``docs/spurious.md``).  The cleaning stage lists such values for every
construct score and every variable an analysis uses, so a reader knows
where the data are coarse before reading any segment.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

#: a value held by at least this share of the respondents with an answer is reported as a pile
PILE_SHARE = 0.20
PILE_COLUMNS = ["variable", "value", "respondents", "answered", "share", "sentence"]


def _words(name: str) -> str:
    return str(name).replace("_", " ")


def answer_piles(clean: pd.DataFrame, variables: Iterable[str], min_share: float = PILE_SHARE) -> pd.DataFrame:
    """The values of each numeric variable held by at least ``min_share`` of the respondents who answered.

    Columns :data:`PILE_COLUMNS`: the variable, the value, how many
    respondents gave it, how many answered, their share, and a sentence
    ("26% of respondents scored exactly 1.5 on switching intention").  Rows
    by variable (in the order given), largest pile first; no row for a
    variable without a pile, or not in ``clean``, or not numeric.
    """
    rows = []
    for name in dict.fromkeys(variables):
        if name not in clean.columns:
            continue
        values = pd.to_numeric(clean[name], errors="coerce").dropna()
        if values.empty:
            continue
        # scores are means of items: equal means can differ in the last bits
        counts = values.round(9).value_counts()
        answered = int(len(values))
        for value, n in counts.items():
            share = n / answered
            if share < min_share:
                break
            rows.append({"variable": name, "value": float(value), "respondents": int(n), "answered": answered,
                         "share": float(share),
                         "sentence": f"{share:.0%} of respondents scored exactly {_number(value)} on "
                                     f"{_words(name)}"})
    return pd.DataFrame(rows, columns=PILE_COLUMNS)


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.4g}" if abs(value) < 1e4 else f"{value:g}"


def pile_sentences(piles: pd.DataFrame, variables: Iterable[str]) -> list[str]:
    """The sentences of the piles on ``variables`` (each variable's largest pile first)."""
    if piles is None or piles.empty:
        return []
    wanted = list(dict.fromkeys(variables))
    chosen = piles.loc[piles["variable"].isin(wanted)]
    order = np.argsort([wanted.index(v) for v in chosen["variable"]], kind="stable")
    return [str(s) for s in chosen["sentence"].iloc[order]]
