"""The cleaning rules that flag respondents: missing and repeated ids, straight-lining, speeding, attention checks.

Each rule returns its flags (:data:`Flag`: rule name, mask of flagged rows,
per-row detail, mask of the rows it drops) and its rows of the cleaning
report (:func:`report_row`).  :class:`Survey` is the raw table as the rules
see it, with the settings that apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trustseg.survey.coding import as_numbers, label_lookup, missing_code_mask
from trustseg.survey.io import identifiers

NOT_CARELESS = ("same answer to every item; the block has no reverse-keyed items, so this is not evidence of "
                "careless answering and the respondents are kept")


def report_row(rule, rows, cells, action, detail) -> dict:
    return {"rule": rule, "rows_affected": int(rows), "cells_affected": None if cells is None else int(cells),
            "action": action, "detail": detail}


def respondent_ids(raw: pd.DataFrame, id_column) -> pd.Series:
    """The respondents' ids: the id column as text, exactly as written, or 1..n without one."""
    if id_column is None:
        return pd.Series(np.arange(1, len(raw) + 1), index=raw.index, name="respondent_id")
    return identifiers(raw[id_column]).rename("respondent_id")


def _straightlining(answers: pd.DataFrame, enabled: bool, min_items: int):
    if not enabled or answers.shape[1] < 2:
        return None
    answered = answers.notna().sum(axis=1)
    same = answers.nunique(axis=1, dropna=True) == 1
    mask = same & (answered >= min_items)
    first = answers.bfill(axis=1).iloc[:, 0]
    detail = pd.Series(
        [f"all {n} answered rating items are {v:g}" for n, v in zip(answered, first.fillna(np.nan))],
        index=answers.index,
    )
    return mask, detail


def expected_matches(col: pd.Series, expected, lookup: dict) -> pd.Series:
    numbers = pd.to_numeric(col, errors="coerce")
    text = col.astype(str).str.strip().str.casefold().where(col.notna())
    if isinstance(expected, str):
        key = expected.strip().casefold()
        ok = text == key
        if key in lookup:
            ok |= numbers == lookup[key]
        try:
            ok |= numbers == float(expected)
        except ValueError:
            pass
    else:
        ok = (numbers == float(expected)) | (text.map(lookup) == float(expected))
    return ok.fillna(False).astype(bool)


@dataclass
class Survey:
    """The raw table as the rules see it (positional index), with the settings that apply."""

    frame: pd.DataFrame
    settings: dict
    source: str
    file_labels: dict  # column -> {code: label}, from the file
    codes: tuple[set, set]  # missing codes, numeric and text

    @property
    def n(self) -> int:
        return len(self.frame)

    @property
    def index(self) -> pd.RangeIndex:
        return pd.RangeIndex(self.n)

    @property
    def rows(self) -> np.ndarray:
        """1-based source row numbers, as people count data rows."""
        return np.arange(1, self.n + 1)

    def lookup(self, column: str) -> dict:
        return label_lookup(column, self.file_labels, self.settings["value_labels"])


# A flagging rule's outcome: (rule name, mask of flagged rows, per-row detail, mask of the rows it drops).
Flag = tuple[str, pd.Series, pd.Series, pd.Series]


def flag(survey: Survey, rule: str, mask: pd.Series, detail: pd.Series) -> Flag:
    """A rule whose flagged rows are dropped or kept as ``cleaning.flagged_action`` says."""
    drops = survey.settings["flagged_action"] == "drop"
    return rule, mask, detail, mask if drops else pd.Series(False, index=mask.index)


def id_rules(survey: Survey, ids: pd.Series) -> tuple[list[Flag], list[dict]]:
    """Rows without an id, and repeated ids (the first row of an id is kept)."""
    id_column, index = survey.settings["id_column"], survey.index
    flags, rows = [], []
    if id_column is not None:
        no_id = ids.isna()
        flags.append(flag(survey, "missing_id", no_id, pd.Series(f"no value in {id_column}", index=index)))
        rows.append(report_row("missing_id", no_id.sum(), no_id.sum(), "flagged",
                                f"rows without a respondent id in {id_column!r}"))
    if survey.settings["duplicates"] and id_column is not None:
        dup = ids.duplicated(keep="first") & ids.notna()
        first_row = pd.Series(survey.rows, index=index).groupby(ids.astype(str)).transform("first")
        detail = pd.Series([f"id {i} first seen in source row {r}" for i, r in zip(ids, first_row)], index=index)
        flags.append(flag(survey, "duplicate_id", dup, detail))
        rows.append(report_row("duplicate_id", dup.sum(), None, "flagged (first row kept)",
                                f"repeated values of {id_column!r}"))
    else:
        why = ("disabled (cleaning.duplicates: false)" if not survey.settings["duplicates"]
               else "no id column (data.id_column is null)")
        rows.append(report_row("duplicate_id", 0, None, "skipped", why))
    return flags, rows


def straightlining_rule(survey: Survey, rating: pd.DataFrame, items: list[str], scales: dict,
                         reverse: set) -> tuple[list[Flag], list[dict]]:
    """Straight-liners, and which of them to drop (``cleaning.straightlining.action``).

    The same answer to every item is evidence of careless answering only when
    the items answered include a reverse-keyed one, whose meaning runs the other
    way; on a block without one it is also what the most (or least) satisfied
    customers give, so ``auto`` flags those respondents and keeps them.
    """
    s = survey.settings
    straight = _straightlining(rating, s["straight_enabled"], s["straight_min_items"])
    if straight is None:
        why = "disabled" if not s["straight_enabled"] else "fewer than two rating items"
        return [], [report_row("straightlining", 0, None, "skipped", why)]
    mask, detail = straight
    answered = rating[items].notna()
    reverse_items = [i for i in items if i in reverse]
    with_reverse = answered[reverse_items].any(axis=1) if reverse_items else pd.Series(False, index=mask.index)
    action, flagged_action = s["straight_action"], s["flagged_action"]
    if action == "drop":
        dropped = mask.copy()
        reason = "dropped, as cleaning.straightlining.action: drop says"
        why = pd.Series("dropped (cleaning.straightlining.action: drop)", index=mask.index)
    elif action == "flag":
        dropped = pd.Series(False, index=mask.index)
        reason = "kept, as cleaning.straightlining.action: flag says"
        why = pd.Series("kept (cleaning.straightlining.action: flag)", index=mask.index)
    else:
        dropped = mask & with_reverse & (flagged_action == "drop")
        fate = "dropped" if flagged_action == "drop" else "kept (cleaning.flagged_action: keep)"
        contradicts = "the answered items include reverse-keyed ones, so the same answer everywhere contradicts itself"
        why = pd.Series(np.where(with_reverse, f"{contradicts}: {fate}", "the block has no reverse-keyed items, so "
                                 "this is not evidence of careless answering: kept"), index=mask.index)
        if not reverse_items:
            reason = NOT_CARELESS
        else:
            skipped = int((mask & ~with_reverse).sum())
            reason = (f"the block holds reverse-keyed items ({', '.join(reverse_items)}), so the same answer to "
                      f"every item contradicts itself: {fate}"
                      + (f"; {skipped} who skipped every reverse-keyed item are kept" if skipped else ""))
    detail = detail + "; " + why
    at_max = mask & pd.concat([(rating[i] == scales[i][1]) | rating[i].isna() for i in items], axis=1).all(axis=1)
    at_min = mask & pd.concat([(rating[i] == scales[i][0]) | rating[i].isna() for i in items], axis=1).all(axis=1)
    n, n_dropped = int(mask.sum()), int(dropped.sum())
    outcome = f"flagged: {n_dropped} dropped, {n - n_dropped} kept"
    rows = [
        report_row(
            "straightlining", n, None, outcome,
            f"same answer to every one of the {len(items)} rating items, when at least "
            f"{s['straight_min_items']} were answered"
            + (f" (the block has only {len(items)} items, so nobody can be flagged)"
               if len(items) < s["straight_min_items"] else "")
            + f"; {int(at_max.sum())} gave the scale maximum and {int(at_min.sum())} the scale minimum everywhere; "
            f"{reason} (cleaning.straightlining.action: {action}, cleaning.flagged_action: {flagged_action})",
        ),
        report_row("straightlining:scale_maximum", at_max.sum(), None,
                    f"flagged: {int((at_max & dropped).sum())} dropped, {int((at_max & ~dropped).sum())} kept",
                    "straight-liners whose every answer is the top of the item's scale"),
        report_row("straightlining:scale_minimum", at_min.sum(), None,
                    f"flagged: {int((at_min & dropped).sum())} dropped, {int((at_min & ~dropped).sum())} kept",
                    "straight-liners whose every answer is the bottom of the item's scale"),
    ]
    return [("straightlining", mask, detail, dropped)], rows


def speeders(survey: Survey) -> tuple[list[Flag], list[dict]]:
    frame, index = survey.frame, survey.index
    column, limit = survey.settings["duration_column"], survey.settings["min_seconds"]
    if limit is not None and column is None:
        # Qualtrics and most platforms name it "Duration (in seconds)" or similar.
        found = [c for c in frame.columns if "duration" in str(c).lower() or "用时" in str(c)]
        column = found[0] if found else None
    if column is None or limit is None:
        why = "no cleaning.speeders.min_seconds" if limit is None else "no duration column in the data"
        return [], [report_row("speeders", 0, None, "skipped", why)]
    col = frame[column]
    seconds = as_numbers(col.where(~missing_code_mask(col, survey.codes)))
    fast = seconds < float(limit)
    unknown = int(seconds.isna().sum())
    detail = pd.Series([f"{column} = {v:g} s < {limit:g} s" for v in seconds.fillna(np.nan)], index=index)
    row = report_row(
        "speeders", fast.sum(), None, "flagged",
        f"{column!r} under {limit:g} seconds; {unknown} row(s) without a readable duration are not flagged",
    )
    return [flag(survey, "speeders", fast, detail)], [row]


def attention_checks(survey: Survey) -> tuple[list[Flag], list[dict]]:
    checks = survey.settings["attention_checks"]
    if not checks:
        return [], [report_row("attention_check", 0, None, "skipped", "none configured (cleaning.attention_checks)")]
    flags, rows = [], []
    for check in checks:
        col = survey.frame[check["item"]]
        failed = ~expected_matches(col, check["expected"], survey.lookup(check["item"]))
        given = col.astype(str).where(col.notna(), "no answer")
        detail = pd.Series([f"{check['item']} = {g} (expected {check['expected']})" for g in given],
                           index=survey.index)
        flags.append(flag(survey, f"attention_check:{check['item']}", failed, detail))
        rows.append(report_row(
            f"attention_check:{check['item']}", failed.sum(), None, "flagged",
            f"expected {check['expected']!r}; a missing answer counts as failed",
        ))
    return flags, rows

