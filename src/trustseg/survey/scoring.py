"""From answers to scores: the items as numbers on their scale, reverse keying, construct scores, and the
other clean columns (weight, profile variables, raw analysis variables)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from trustseg.errors import DataError
from trustseg.survey.coding import as_numbers, missing_code_mask, to_numbers
from trustseg.survey.rules import Survey, report_row


def numeric_answers(survey: Survey, items: list[str], scales: dict) -> tuple[pd.DataFrame, list[dict]]:
    """The item answers as numbers on their scale, and the report rows of the three steps.

    Missing codes become NaN, text labels their numbers, answers off the
    item's scale NaN.  An item left without any valid answer is a DataError.
    """
    s, frame, index = survey.settings, survey.frame, survey.index
    answers = pd.DataFrame(index=index)
    miss_mask = pd.DataFrame(False, index=index, columns=items)
    label_mask = pd.DataFrame(False, index=index, columns=items)
    for item in items:
        col = frame[item]
        miss = missing_code_mask(col, survey.codes)
        answers[item], label_mask[item] = to_numbers(col, miss, survey.lookup(item), f"rating column {item!r}",
                                                      survey.source, survey.rows)
        miss_mask[item] = miss
    out_mask = pd.DataFrame(False, index=index, columns=items)
    for item in items:
        lo, hi = scales[item]
        out_mask[item] = answers[item].notna() & ((answers[item] < lo) | (answers[item] > hi))
    answers = answers.mask(out_mask)
    rows = [
        report_row(
            "missing_codes", miss_mask.any(axis=1).sum(), miss_mask.sum().sum(), "set to missing",
            f"codes {s['missing_codes']} in the items (also applied to the profile, weight and duration columns)"
            if s["missing_codes"] else "no missing codes configured (data.missing_codes)",
        ),
        report_row(
            "value_labels", label_mask.any(axis=1).sum(), label_mask.sum().sum(), "text answers mapped to numbers",
            ", ".join(f"{c}: {int(k)}" for c, k in label_mask.sum().items() if k) or "no text answers in the items",
        ),
        report_row(
            "out_of_scale", out_mask.any(axis=1).sum(), out_mask.sum().sum(), "set to missing",
            ", ".join(f"{c}: {int(k)} outside [{scales[c][0]:g}, {scales[c][1]:g}]"
                      for c, k in out_mask.sum().items() if k)
            or "every answer lies on its item's scale",
        ),
    ]
    for item in items:
        if answers[item].notna().sum() == 0:
            raise DataError(
                f"{survey.source}: item {item!r} has no valid answer in any of the {survey.n} rows "
                f"({int(frame[item].isna().sum())} empty, {int(miss_mask[item].sum())} missing codes, "
                f"{int(out_mask[item].sum())} outside the scale {list(scales[item])}). Check the column, its "
                "scale and data.missing_codes, or remove it from the construct."
            )
    return answers, rows



def reverse_keyed(rating: pd.DataFrame, items: list[str], reverse: set, scales: dict) -> tuple[pd.DataFrame, dict]:
    """The answers with the reverse-keyed items recoded, and the report row."""
    answers = rating.copy()
    rev_items = [i for i in items if i in reverse]
    for item in rev_items:
        lo, hi = scales[item]
        answers[item] = lo + hi - answers[item]
    row = report_row(
        "reverse_keyed", answers[rev_items].notna().any(axis=1).sum() if rev_items else 0,
        answers[rev_items].notna().sum().sum() if rev_items else 0,
        "recoded as min + max - answer" if rev_items else "none configured",
        ", ".join(rev_items) or "no reverse-keyed items (constructs.*.reverse)",
    )
    return answers, row



def clean_columns(survey: Survey, ids: pd.Series, answers: pd.DataFrame, constructs: dict) -> pd.DataFrame:
    """Every row with the clean columns: id, items, scores, weight, profile.

    Scores are computed for every row, flagged or not, so flagged.csv shows them too.
    """
    s, frame, index = survey.settings, survey.frame, survey.index
    scores = pd.DataFrame(index=index)
    for name, spec in constructs.items():
        block = answers[spec["items"]]
        answered = block.notna().sum(axis=1)
        enough = answered >= spec["min_answered"] * len(spec["items"]) - 1e-9
        scores[name] = block.mean(axis=1).where(enough & (answered > 0))
    pieces = [ids.to_frame(), answers, scores]
    if s["weight_column"] is not None:
        weight = weights(frame[s["weight_column"]], s["weight_column"], survey.codes, survey.source, survey.rows)
        pieces.append(weight.to_frame(s["weight_column"]))
    profile = pd.DataFrame(index=index)
    for col in s["profile_columns"]:
        profile[col] = profile_column(frame[col], survey.codes, survey.file_labels.get(col))
    pieces.append(profile)
    # an analysis may regress on a raw numeric column (say, years as a member)
    direct = pd.DataFrame(index=index)
    for col in s["analysis_columns"]:
        if col in frame.columns and col not in s["profile_columns"] and col != s["weight_column"]:
            direct[col] = to_numbers(frame[col], missing_code_mask(frame[col], survey.codes), {},
                                      f"column {col!r} (an analysis variable)", survey.source, survey.rows)[0]
    pieces.append(direct)
    full = pd.concat(pieces, axis=1)
    return full.loc[:, ~full.columns.duplicated()]



def score_rows(survey: Survey, clean: pd.DataFrame, constructs: dict) -> list[dict]:
    """One report row per construct score; a construct nobody kept has a score for is a DataError."""
    rows = []
    for name, spec in constructs.items():
        lacking = int(clean[name].isna().sum())
        need = math.ceil(spec["min_answered"] * len(spec["items"]) - 1e-9)
        if lacking == len(clean):
            raise DataError(
                f"{survey.source}: construct {name!r} has no valid respondents: none of the {len(clean)} kept rows "
                f"answered at least {need} of its items {spec['items']}. Check the item columns, the scale "
                f"{spec['scale']}, data.missing_codes, or lower constructs.{name}.min_answered."
            )
        rows.append(report_row(
            f"construct_score:{name}", lacking, None, "score missing" if lacking else "scored",
            f"mean of the answered items {spec['items']}; needs at least {need} of {len(spec['items'])} answered "
            f"(min_answered {spec['min_answered']}); {lacking} of {len(clean)} kept rows have no score",
        ))
    return rows



#: the largest weight may be this many times the smallest; beyond it one respondent outweighs a whole survey
MAX_WEIGHT_RATIO = 1e6


def weights(col: pd.Series, name: str, codes, source: str, rows: np.ndarray) -> pd.Series:
    """Survey weights as floats: every weight a positive, finite number, the largest at most a million times the
    smallest; a DataError names the column, the kind of problem and the first rows."""
    given = col.where(~missing_code_mask(col, codes))
    values = as_numbers(given)
    kinds = [("missing", given.isna()), ("not a number", given.notna() & values.isna()),
             ("infinite", values.notna() & ~np.isfinite(values)), ("zero or negative", values <= 0)]
    bad = [(what, mask) for what, mask in kinds if mask.any()]
    if bad:
        listed = "; ".join(f"{int(mask.sum())} {what} (data rows {_first(rows, mask)})" for what, mask in bad)
        raise DataError(
            f"{source}: weight column {name!r} has values that are no weights: {listed}. Weights must be "
            "positive numbers: repair them, add codes meaning 'missing' to data.missing_codes only if those "
            "respondents should be left out (they are then refused here too: give them a weight), or set "
            "data.weight_column: null."
        )
    ratio = values.max() / values.min()
    if ratio > MAX_WEIGHT_RATIO:
        big = values > values.min() * MAX_WEIGHT_RATIO ** 0.5
        raise DataError(
            f"{source}: weight column {name!r} runs from {values.min():.3g} to {values.max():.3g}, a ratio of "
            f"{ratio:.3g}: the largest weights (data rows {_first(rows, big)}) would outweigh all other "
            f"respondents together. Survey weights differ by factors of ten or a hundred; a ratio above "
            f"{MAX_WEIGHT_RATIO:.0e} is a typing or export error. Repair them, or set data.weight_column: null."
        )
    return values.astype("float64")


def _first(rows: np.ndarray, mask: pd.Series) -> str:
    shown = rows[mask.to_numpy()]
    return ", ".join(map(str, shown[:5].tolist())) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")


def profile_column(col: pd.Series, codes, labels: dict | None) -> pd.Series:
    col = col.where(~missing_code_mask(col, codes))
    if labels:
        present = col.dropna()
        as_codes = present.map(lambda v: int(v) if isinstance(v, float) and float(v).is_integer() else v)
        if len(present) and as_codes.isin(list(labels)).all():
            # Fully labelled codes read better as their labels in profile tables.
            return as_codes.map(labels).reindex(col.index).astype("str")
    present = col.dropna()
    if (pd.api.types.is_float_dtype(col) and len(present) and np.isfinite(present).all()
            and (present.abs() <= 2**53).all() and (present == present.round()).all()):
        return col.astype("Int64")  # whole numbers a float64 holds exactly: written without ".0"
    return col
