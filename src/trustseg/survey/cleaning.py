"""The cleaning stage: its settings, the order of the rules, and the accounting of every row.

:func:`clean_survey` turns the raw table from :func:`trustseg.survey.io.read_survey`
into the clean data set of the results contract.  Every rule is counted in the
report (one row per rule, also when it found nothing or was switched off), and
every input row ends up in ``clean`` or in ``flagged`` (in both when a
flagged row is kept: ``cleaning.flagged_action: keep``, or a straight-liner
kept by ``cleaning.straightlining.action``), so no respondent is ever lost
silently.

Report columns: ``rule, rows_affected, cells_affected, action, detail``.  The
``straightlining`` row's action reads ``flagged: D dropped, K kept``; the rows
``straightlining:scale_maximum`` and ``straightlining:scale_minimum`` count the
straight-liners who gave the highest (lowest) answer of the scale to every item
(the most and the least satisfied customers, whom only reverse-keyed items can
tell from careless answerers).

Flagged columns: ``respondent_id, source_row, rules, detail, action`` followed by
the clean columns (items recoded, scores, weight, profile) of that row.
``source_row`` is the 1-based data row of the file (after any Qualtrics header
rows); ``rules`` and ``detail`` join several rules with ``"; "``; ``action`` is
``dropped`` or ``kept`` (in clean).

Nothing leaks: ``clean`` and ``flagged`` are built from the columns the config
uses and nothing else, so a raw column the config does not name (free text,
contact details) never reaches an output, whether or not it was recognised as
personal data.  Recognition (:func:`trustseg.survey.privacy.detect_personal_columns`) decides what the
report lists as dropped personal data, by column name and by content (any value
holding an e-mail, phone number or IP address), and refuses configured columns
that hold such data.  The report names columns and reasons, never values.

``clean`` has ``respondent_id`` first, then the items (numeric, recoded), one
score column per construct (named as the construct), the weight column if
configured and the profile columns.  Its index is the 1-based source row
(named ``source_row``).

The steps live in their own modules: personal data in
:mod:`~trustseg.survey.privacy`, answers to numbers in
:mod:`~trustseg.survey.coding`, the flagging rules in
:mod:`~trustseg.survey.rules`, scores and the other clean columns in
:mod:`~trustseg.survey.scoring`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trustseg.config import analysis_columns, check_columns
from trustseg.errors import ConfigError, DataError
from trustseg.survey.coding import code_sets, out_of_scale_answers
from trustseg.survey.privacy import (
    SINGULAR,
    detect_personal_columns,
    key_fingerprint,
    personal_header,
    personal_ids,
    pseudonyms,
    withheld,
)
from trustseg.survey.rules import (
    Flag,
    Survey,
    attention_checks,
    id_rules,
    report_row,
    respondent_ids,
    speeders,
    straightlining_rule,
)
from trustseg.survey.scoring import clean_columns, numeric_answers, reverse_keyed, score_rows

__all__ = ["CleaningResult", "clean_survey", "detect_personal_columns", "check_config_columns",
           "out_of_scale_answers"]

REPORT_COLUMNS = ["rule", "rows_affected", "cells_affected", "action", "detail"]
FLAG_COLUMNS = ["respondent_id", "source_row", "rules", "detail", "action"]


@dataclass
class CleaningResult:
    """Outcome of :func:`clean_survey`.

    Attributes
    ----------
    clean : pandas.DataFrame
        The clean data set (see the module docstring for its columns).
    report : pandas.DataFrame
        One row per rule: ``rule, rows_affected, cells_affected, action, detail``.
    flagged : pandas.DataFrame
        The flagged respondents with the rule(s) and detail that flagged them.
    personal_columns : list of str
        Raw columns recognised as personal data, as listed in the report (like
        every column the config does not use, absent from clean and flagged).
    """

    clean: pd.DataFrame
    report: pd.DataFrame
    flagged: pd.DataFrame
    personal_columns: list = field(default_factory=list)


# ----------------------------------------------------------------------------- settings


def _settings(config: dict) -> dict:
    """The config keys cleaning uses, with the schema defaults filled in."""
    data = dict(config.get("data") or {})
    cleaning = dict(config.get("cleaning") or {})
    straight = dict(cleaning.get("straightlining") or {})
    speed = dict(cleaning.get("speeders") or {})
    constructs = {}
    for name, spec in (config.get("constructs") or {}).items():
        spec = dict(spec)
        spec.setdefault("reverse", [])
        spec.setdefault("min_answered", 0.5)
        constructs[str(name)] = spec
    if not constructs:
        raise ConfigError("constructs: name at least one construct with its items and scale.")
    return {
        "source": str(data.get("path") or "the survey file"),
        "id_column": data.get("id_column"),
        "weight_column": data.get("weight_column"),
        "missing_codes": list(data.get("missing_codes") or []),
        "value_labels": dict(data.get("value_labels") or {}),
        "constructs": constructs,
        "flagged_action": cleaning.get("flagged_action", "drop"),
        "duplicates": cleaning.get("duplicates", True),
        "straight_enabled": straight.get("enabled", True),
        "straight_min_items": straight.get("min_items", 8),
        "straight_action": straight.get("action", "auto"),
        "duration_column": speed.get("duration_column"),
        "min_seconds": speed.get("min_seconds"),
        "attention_checks": list(cleaning.get("attention_checks") or []),
        "personal_data": cleaning.get("personal_data", "drop"),
        "personal_data_columns": list(cleaning.get("personal_data_columns") or []),
        "pseudonym_key": cleaning.get("pseudonym_key"),
        "profile": list(config.get("profile") or []),
        # a construct name in profile stands for its score, which the clean data hold anyway
        "profile_columns": [c for c in config.get("profile") or [] if c not in constructs],
        "analysis_columns": _analysis_columns(config, constructs),
    }


def _analysis_columns(config: dict, constructs: dict) -> list[str]:
    """Raw columns an analysis uses directly (an outcome, predictor, trials or exposure that is not a construct).

    From ``analyses`` of a full config, or from ``analysis_variables`` (every
    variable of every analysis), which the workflow passes so that a change
    of an analysis's other settings does not rerun the cleaning.
    """
    items = {item for spec in constructs.values() for item in spec["items"]}
    variables = list(config.get("analysis_variables") or [])
    for analysis in (config.get("analyses") or {}).values():
        variables += analysis_columns(analysis)
    return list(dict.fromkeys(v for v in variables if v not in constructs and v not in items))


def _item_scales(constructs: dict) -> tuple[list[str], dict, set]:
    """Unique items in config order, their scale, and the reverse-keyed ones."""
    items: list[str] = []
    scales: dict = {}
    reverse: set = set()
    for name, spec in constructs.items():
        lo, hi = (float(v) for v in spec["scale"])
        if not lo < hi:
            raise ConfigError(
                f"constructs.{name}.scale: {spec['scale']} must be [lowest, highest] with lowest < highest."
            )
        for item in spec["items"]:
            if item in scales and scales[item] != (lo, hi):
                raise ConfigError(
                    f"constructs.{name}: item {item!r} is also in another construct with scale "
                    f"{list(scales[item])}; give it one scale."
                )
            if item not in scales:
                items.append(item)
                scales[item] = (lo, hi)
        stray = [r for r in spec["reverse"] if r not in spec["items"]]
        if stray:
            raise ConfigError(
                f"constructs.{name}.reverse: {stray} are not items of {name} ({spec['items']}); "
                "list reverse-keyed items among the construct's items."
            )
        reverse.update(spec["reverse"])
    return items, scales, reverse


def check_config_columns(raw: pd.DataFrame, config: dict) -> None:
    """Raise ConfigError when the config names a column the data lack.

    The check itself is :func:`trustseg.config.check_columns`, the one the
    workflow runs at start-up, so both name the same columns the same way.
    """
    source = f"data file '{(config.get('data') or {}).get('path') or 'the survey file'}'"
    check_columns(config, raw.columns, source)


def clean_survey(raw: pd.DataFrame, config: dict, pseudonym_key=None) -> CleaningResult:
    """Apply the cleaning rules, score the constructs and account for every row.

    Parameters
    ----------
    raw : pandas.DataFrame
        The raw table from :func:`trustseg.survey.io.read_survey` (``attrs`` may hold
        ``value_labels`` and ``source``).  It is not modified.
    config : dict
        The full config (``data``, ``constructs``, ``cleaning``, ``profile``);
        missing optional keys take the schema defaults.
    pseudonym_key : bytes or callable, optional
        The key of the pseudonyms that replace respondent ids holding personal
        data (:func:`trustseg.survey.privacy.pseudonym_key`), or a function
        that returns it, called only when some ids hold personal data.

    Returns
    -------
    CleaningResult
        ``clean``, ``report``, ``flagged`` and ``personal_columns``.

    Raises
    ------
    ConfigError
        The config names a column the data lack, or uses a personal-data column.
    DataError
        Text in a rating column, an item without any valid answer, a construct
        with no valid respondents, invalid weights, or personal data with
        ``cleaning.personal_data: error``.
    """
    survey, (items, scales, reverse) = _survey(raw, config)
    constructs = survey.settings["constructs"]
    report = [report_row("input", survey.n, None, "read",
                          f"{survey.n} rows and {raw.shape[1]} columns from {survey.source}")]
    # Personal data first: a configured column holding them stops the run before any rule
    # (or the error message of one, which quotes answers) can show a value.
    personal, row = _personal_data(survey, items)
    report.append(row)
    rating, rows = numeric_answers(survey, items, scales)
    report += rows
    # Straight-lining looks at the answers as given (rating), scores at the reverse-keyed ones.
    answers, row = reverse_keyed(rating, items, reverse, scales)
    report.append(row)
    ids, rows = _personal_ids(survey, respondent_ids(survey.frame, survey.settings["id_column"]), pseudonym_key)
    report += rows
    flags: list[Flag] = []
    for rule_flags, rule_rows in (id_rules(survey, ids), straightlining_rule(survey, rating, items, scales, reverse),
                                  speeders(survey), attention_checks(survey)):
        flags += rule_flags
        report += rule_rows
    full = clean_columns(survey, ids, answers, constructs)
    clean, flagged, rows = _split_flagged(survey, ids, full, flags)
    report += rows
    report += score_rows(survey, clean, constructs)
    report.append(report_row("clean", len(clean), None, "written",
                              f"{len(clean)} rows in clean, {len(flagged)} in flagged, {survey.n} read"))
    report_frame = pd.DataFrame(report, columns=REPORT_COLUMNS).astype({"cells_affected": "Int64"})
    return CleaningResult(clean=clean, report=report_frame, flagged=flagged, personal_columns=list(personal))


def _survey(raw: pd.DataFrame, config: dict) -> tuple[Survey, tuple[list[str], dict, set]]:
    """The settings, checked against the data, and the items with their scales and reverse keying."""
    s = _settings(config)
    source = str(raw.attrs.get("source") or s["source"])
    s["source"] = source
    check_config_columns(raw, config)
    items, scales, reverse = _item_scales(s["constructs"])
    for name in s["constructs"]:
        if name in items or name in (s["id_column"], s["weight_column"], "respondent_id"):
            raise ConfigError(
                f"constructs: the construct name {name!r} is also an item, id or weight column; "
                "rename the construct so its score column does not clash."
            )
    if len(raw) == 0:
        raise DataError(f"{source}: the survey has no rows.")
    survey = Survey(frame=raw.reset_index(drop=True), settings=s, source=source,
                     file_labels=dict(raw.attrs.get("value_labels") or {}), codes=code_sets(s["missing_codes"]))
    return survey, (items, scales, reverse)


def personal_headers(columns) -> dict:
    """``{column: how messages and reports name it}`` for the columns whose header holds personal data."""
    found = {}
    for position, column in enumerate(columns, start=1):
        kind = personal_header(column)
        if kind:
            found[column] = withheld(column, position, kind)
    return found


def _used_columns(s: dict, items: list[str]) -> set:
    used = set(items) | set(s["profile"]) | set(s["analysis_columns"]) | {c["item"] for c in s["attention_checks"]}
    return used | {c for c in (s["weight_column"], s["duration_column"]) if c is not None}


def _personal_data(survey: Survey, items: list[str]) -> tuple[dict, dict]:
    """The personal-data columns (``{column: reason}``) and their report row.

    A configured column that holds personal data (or whose header is one)
    stops the run; so does any with ``cleaning.personal_data: error``.  No
    message or report names a value, nor a header that holds personal data.
    """
    s, frame, source = survey.settings, survey.frame, survey.source
    used = _used_columns(s, items)
    ids = [s["id_column"]] if s["id_column"] is not None else []
    headers = personal_headers(frame.columns)
    named = [c for c in headers if c in used or c in ids]
    if named:
        raise ConfigError(
            f"{source}: the config uses {', '.join(headers[c] for c in named)}. A header that holds personal data "
            "would be copied into the results: rename the column in the file to a plain name (e.g. q7_contact) and "
            "use that name in the config."
        )
    personal = detect_personal_columns(frame, s["personal_data_columns"], used, ids)
    for column in headers:
        personal.setdefault(column, f"its header holds {SINGULAR[personal_header(column)]}")
    def shown(c):
        return headers.get(c, repr(c))
    clash = [c for c in personal if c in used]
    if clash:
        raise ConfigError(
            f"{source}: column(s) {', '.join(map(shown, clash))} are used by the config (items, weight, profile, "
            f"duration, attention checks or analysis variables) but hold personal data "
            f"({'; '.join(personal[c] for c in clash)}). Personal data must not reach the results: remove them "
            "from the config (a profile variable holds categories such as an age band or a region, never contact "
            "details, names or identity numbers)."
        )
    if personal and s["personal_data"] == "error":
        listed = "; ".join(f"{shown(c)} ({why})" for c, why in personal.items())
        raise DataError(
            f"{source}: holds personal data in column(s) {listed}. Remove these columns from the file, "
            "or set cleaning.personal_data: drop to leave them out of the results."
        )
    cols = list(personal)
    row = report_row(
        "personal_data", int(frame[cols].notna().any(axis=1).sum()) if cols else 0,
        int(frame[cols].notna().sum().sum()) if cols else 0,
        "dropped columns" if cols else "none found",
        "; ".join(f"{headers.get(c, c)} ({why})" for c, why in personal.items())
        or "no column looks like personal data",
    )
    return personal, row


def check_personal_data(raw: pd.DataFrame, config: dict) -> None:
    """Stop when a column the config uses holds personal data (or ``cleaning.personal_data: error`` finds any).

    The start-up runs it before any check that quotes a value.
    """
    survey, (items, _, _) = _survey(raw, config)
    _personal_data(survey, items)


def _personal_ids(survey: Survey, ids: pd.Series, key) -> tuple[pd.Series, list[dict]]:
    """The respondent ids, replaced by keyed pseudonyms when they hold personal data, and the report row if so."""
    s = survey.settings
    column = s["id_column"]
    reason = personal_ids(ids) if column is not None else None
    if reason is None:
        return ids, []
    if s["personal_data"] == "error":
        raise DataError(
            f"{survey.source}: the respondent ids in column {column!r} (data.id_column) hold personal data ({reason}), "
            "and cleaning.personal_data is error. Set cleaning.personal_data: drop to replace them in the results "
            "by keyed pseudonyms, or give each respondent an id that is not personal (or set data.id_column: null "
            "to number the rows 1..n)."
        )
    if key is None:
        raise DataError(
            f"{survey.source}: the respondent ids in column {column!r} hold personal data ({reason}) and are to be "
            "replaced by keyed pseudonyms, but no pseudonym key was given (cleaning.pseudonym_key)."
        )
    key = key() if callable(key) else key
    where = s["pseudonym_key"] or "pseudonym.key"
    row = report_row(
        "personal_ids", int(ids.notna().sum()), int(ids.notna().sum()), "replaced by keyed pseudonyms",
        f"the ids in {column!r} hold personal data ({reason}); results/ carries HMAC-SHA256 pseudonyms of them "
        f"instead (key {where}, fingerprint {key_fingerprint(key)}; keep the key private and safe). The same id "
        "always gets the same pseudonym, so 'trustseg pseudonyms CONFIG' lists each id with its pseudonym to merge "
        "the results back into the survey file",
    )
    return pseudonyms(ids, key), [row]


def _split_flagged(survey: Survey, ids: pd.Series, full: pd.DataFrame,
                   flags: list[Flag]) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """``clean`` and ``flagged`` (each flagged row with all its rules), and the report row.

    A row is dropped when any rule that flagged it drops it.
    """
    index, rows = survey.index, survey.rows
    s = survey.settings
    any_flag = pd.Series(False, index=index)
    dropped = pd.Series(False, index=index)
    rule_text = pd.Series("", index=index)
    detail_text = pd.Series("", index=index)
    for rule, mask, detail, drops in flags:
        mask = mask.fillna(False).astype(bool)
        any_flag |= mask
        dropped |= mask & drops.fillna(False).astype(bool)
        sep = np.where(rule_text[mask] != "", "; ", "")
        rule_text[mask] = rule_text[mask] + sep + rule
        detail_text[mask] = detail_text[mask] + sep + detail[mask].astype(str)
    # Only the clean columns follow the flag columns: a raw column the config does not use
    # (free text, contact details, anything detection missed) never leaves this function.
    flagged = pd.concat(
        [ids.to_frame(), pd.DataFrame({"source_row": rows, "rules": rule_text, "detail": detail_text,
                                       "action": np.where(dropped, "dropped", "kept")}, index=index),
         full.drop(columns="respondent_id")], axis=1)[any_flag].reset_index(drop=True)
    keep = ~dropped
    clean = full[keep].copy()
    clean.index = pd.Index(rows[keep.to_numpy()], name="source_row")
    n_flagged, n_dropped = int(any_flag.sum()), int(dropped.sum())
    if n_dropped == n_flagged:
        action = "dropped from clean (listed in flagged.csv)"
    elif n_dropped == 0:
        action = "kept in clean (listed in flagged.csv)"
    else:
        action = f"{n_dropped} dropped from clean, {n_flagged - n_dropped} kept (all listed in flagged.csv)"
    row = report_row(
        "flagged", n_flagged, None, action,
        f"cleaning.flagged_action: {s['flagged_action']}; cleaning.straightlining.action: {s['straight_action']}",
    )
    if clean.empty:
        raise DataError(
            f"{survey.source}: all {survey.n} respondents were flagged "
            f"({', '.join(sorted({r for r, m, _, _ in flags if m.any()}))}), so no respondent is left. "
            "Check the rules' settings (cleaning.*), or set cleaning.flagged_action: keep."
        )
    return clean, flagged, [row]

