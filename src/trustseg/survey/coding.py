"""Answers to numbers: missing codes, text labels, and answers off their scale.

The one reading of an answer that the cleaning, the start-up checks and the
scale check share: ``data.missing_codes`` set to missing, text labels mapped
through ``data.value_labels`` and the file's own labels, anything else that
is not a number named in a :class:`~trustseg.errors.DataError`.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from trustseg.errors import DataError

__all__ = ["code_sets", "missing_code_mask", "label_lookup", "to_numbers", "out_of_scale_answers", "as_numbers"]

# A number as a survey answer writes one; "inf", "NaN", "1_000" and "0x1F" are text, not numbers.
_NUMBER = re.compile(r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$")


def as_numbers(col: pd.Series) -> pd.Series:
    """A column as float64: numbers as they are, text that is a decimal number read, anything else missing.

    Unlike ``pd.to_numeric(errors="coerce")``, the text ``inf`` or ``NaN`` is
    not a number here, so it is named as text wherever a number is needed.
    """
    if pd.api.types.is_bool_dtype(col):
        return col.astype("float64")
    if pd.api.types.is_numeric_dtype(col):
        return col.astype("float64")
    is_number = col.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
                        or isinstance(v, str) and bool(_NUMBER.match(v)))
    return pd.to_numeric(col.where(is_number.astype(bool)), errors="coerce").astype("float64")

def code_sets(codes) -> tuple[set, set]:
    numeric, text = set(), set()
    for code in codes:
        if isinstance(code, (int, float)) and not isinstance(code, bool):
            numeric.add(float(code))
        else:
            text.add(str(code).strip().casefold())
            try:
                numeric.add(float(code))
            except ValueError:
                pass
    return numeric, text


def missing_code_mask(col: pd.Series, codes: tuple[set, set]) -> pd.Series:
    numeric, text = codes
    present = col.notna()
    mask = pd.Series(False, index=col.index)
    if numeric:
        mask |= as_numbers(col).isin(numeric)
    if text and not pd.api.types.is_numeric_dtype(col):
        mask |= present & col.astype(str).str.strip().str.casefold().isin(text)
    return mask & present


def label_lookup(column: str, file_labels: dict, config_labels: dict) -> dict:
    """``{casefolded label: number}``; config labels win over the file's."""
    lookup = {}
    for code, label in (file_labels.get(column) or {}).items():
        try:
            lookup[str(label).strip().casefold()] = float(code)
        except (TypeError, ValueError):
            continue
    lookup.update({str(k).strip().casefold(): float(v) for k, v in config_labels.items()})
    return lookup


def to_numbers(col: pd.Series, missing: pd.Series, lookup: dict, role: str, source: str, rows: np.ndarray):
    """Answers to floats: missing codes to NaN, text labels through ``lookup``.

    Returns the numeric series and the mask of cells mapped from a text label.
    """
    col = col.where(~missing)
    if pd.api.types.is_bool_dtype(col):
        col = col.astype(float)
    if pd.api.types.is_numeric_dtype(col):
        return col.astype("float64"), pd.Series(False, index=col.index)
    numbers = as_numbers(col)
    text = col.notna() & numbers.isna()
    keys = col[text].astype(str).str.strip().str.casefold()
    mapped = keys.map(lookup)
    numbers.loc[mapped.index] = mapped.astype("float64")
    unmapped = text & numbers.isna()
    if unmapped.any():
        bad = col[unmapped].astype(str)
        examples = list(dict.fromkeys(bad.tolist()))[:3]
        first = rows[unmapped.to_numpy()][:5].tolist()
        if all(re.fullmatch(r"[-+]?\d+,\d+", e.strip()) for e in examples):
            raise DataError(
                f"{source}: {role} has {int(unmapped.sum())} number(s) written with a decimal comma, e.g. "
                f"{examples} (first data rows {first}). Set data.decimal: \",\" in the config, or save the file "
                "with decimal points."
            )
        raise DataError(
            f"{source}: {role} has {int(unmapped.sum())} text answer(s) that are not numbers, e.g. "
            f"{examples} (first data rows {first}). If they mean 'missing', add them to data.missing_codes; "
            f"if they are answer labels, map them to numbers in data.value_labels, e.g. {{{examples[0]!r}: 5}}."
        )
    return numbers, text & numbers.notna()


def out_of_scale_answers(raw: pd.DataFrame, config: dict) -> pd.DataFrame:
    """How many of each construct's answers lie outside its declared scale, before any cleaning.

    Answers are read as the cleaning reads them (``data.missing_codes`` removed,
    text labels mapped through ``data.value_labels`` and the file's labels),
    before reverse-keying; text that is neither a code nor a label is left out
    here (the cleaning names it).

    Parameters
    ----------
    raw : pandas.DataFrame
        The survey as read (every item column present).
    config : dict
        A config with ``data`` and ``constructs``.

    Returns
    -------
    pandas.DataFrame
        One row per construct: ``construct, scale_low, scale_high, answers``
        (non-missing numeric answers), ``outside``, ``respondents`` (rows with
        an answer outside), ``observed_low, observed_high`` and ``outside_values``
        (``{value: count}``, most frequent first).
    """
    data = config.get("data") or {}
    codes = code_sets(list(data.get("missing_codes") or []))
    file_labels = dict(raw.attrs.get("value_labels") or {})
    config_labels = dict(data.get("value_labels") or {})
    rows = []
    for name, spec in (config.get("constructs") or {}).items():
        lo, hi = (float(v) for v in spec["scale"])
        answers = pd.DataFrame(index=raw.index)
        for item in spec["items"]:
            col = raw[item]
            col = col.where(~missing_code_mask(col, codes))
            numbers = as_numbers(col)
            text = col.notna() & numbers.isna()
            if text.any():
                lookup = label_lookup(item, file_labels, config_labels)
                numbers[text] = col[text].astype(str).str.strip().str.casefold().map(lookup).astype("float64")
            answers[item] = numbers
        values = answers.stack().dropna()
        outside = answers.notna() & ((answers < lo) | (answers > hi))
        counts = values[(values < lo) | (values > hi)].value_counts()
        rows.append({
            "construct": str(name), "scale_low": lo, "scale_high": hi, "answers": int(len(values)),
            "outside": int(outside.sum().sum()), "respondents": int(outside.any(axis=1).sum()),
            "observed_low": float(values.min()) if len(values) else float("nan"),
            "observed_high": float(values.max()) if len(values) else float("nan"),
            "outside_values": {float(v): int(k) for v, k in counts.items()},
        })
    return pd.DataFrame(rows, columns=["construct", "scale_low", "scale_high", "answers", "outside", "respondents",
                                       "observed_low", "observed_high", "outside_values"])

