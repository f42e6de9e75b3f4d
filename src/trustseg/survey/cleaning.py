"""Cleaning rules, construct scoring and the accounting of both.

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
personal data.  Recognition (:func:`detect_personal_columns`) decides what the
report lists as dropped personal data, by column name and by content (any value
holding an e-mail, phone number or IP address), and refuses configured columns
that hold such data.  The report names columns and reasons, never values.

``clean`` has ``respondent_id`` first, then the items (numeric, recoded), one
score column per construct (named as the construct), the weight column if
configured and the profile columns.  Its index is the 1-based source row
(named ``source_row``).
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trustseg.config import analysis_columns, check_columns
from trustseg.errors import ConfigError, DataError

__all__ = ["CleaningResult", "clean_survey", "detect_personal_columns", "check_config_columns",
           "out_of_scale_answers"]

REPORT_COLUMNS = ["rule", "rows_affected", "cells_affected", "action", "detail"]
FLAG_COLUMNS = ["respondent_id", "source_row", "rules", "detail", "action"]
NOT_CARELESS = ("same answer to every item; the block has no reverse-keyed items, so this is not evidence of "
                "careless answering and the respondents are kept")


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


# ----------------------------------------------------------------------------- personal data
#
# Detection only decides what the report names as dropped personal data (and
# which configured columns are refused): the outputs never carry a column the
# config does not use, whatever detection finds.  Unconfigured columns cost
# nothing to over-report, so content checks count ANY value that holds an
# e-mail address, a phone number or an IP address, also inside free text.

_PERSONAL_SUBSTRINGS = (
    "email", "e-mail", "e_mail", "phone", "ipaddress", "ip_address", "latitude", "longitude",
    "geolocation", "firstname", "lastname", "surname", "fullname", "username", "first_name",
    "last_name", "full_name", "user_name", "vorname", "nachname", "telefon", "prenom", "prénom", "courriel",
    "姓名", "名字", "电话", "手机", "邮箱", "邮件", "地址", "经度", "纬度", "定位",
)
_PERSONAL_TOKENS = {"name", "nom", "ip", "lat", "lon", "lng", "tel", "mobile", "mail", "address", "geo", "gps", "cell"}
# an e-mail address anywhere in free text ("contact me at jo@example.com")
_EMAIL_IN_TEXT = re.compile(r"[\w.+\-']+@[\w\-]+(\.[\w\-]+)+")
# IP address candidates, confirmed by the ipaddress module (octets <= 255, a valid IPv6 layout);
# a fifth dotted part makes a version number, not an address.  The IPv6 borders are ASCII
# word characters, not \w, so an address right after Chinese text ("电话2001:db8::1") is found.
_IPV4_IN_TEXT = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)")
_IPV6_IN_TEXT = re.compile(r"(?<![0-9A-Za-z_])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Za-z_])")
# A phone number is read as digit groups ("+44", "(0)", "20", "7946") joined by at most
# three separator characters; stretches of consecutive groups are tried as numbers, longest first.
_DIGIT_GROUP = re.compile(r"(?<![A-Za-z0-9_])\+?\(?\d+\)?")
_GROUP_GAP = re.compile(r"[\s.\-/]{0,3}")
_DATE_IN_NUMBER = re.compile(r"\d{1,2}([./-])\d{1,2}\1\d{4}|\d{4}([./-])\d{1,2}\2\d{1,2}")
# North American (555) 123-4567 / 555-123-4567 / 1-555-123-4567, and Chinese mobiles 138 1234 5678.
_US_PHONE = re.compile(r"(?:1[\s.\-])?(?:\(\d{3}\)\s?|\d{3}[\s.\-])\d{3}[\s.\-]\d{4}")
_CN_MOBILE = re.compile(r"1[3-9]\d(?:[\s\-]?\d{4}){2}")
_MAX_GROUPS = 8  # no phone number has more digit groups than "+33 (0)6 12 34 56 78" and its like


def _name_reason(column: str) -> str | None:
    low = column.lower()
    for sub in _PERSONAL_SUBSTRINGS:
        if sub in low:
            return f"name contains {sub!r}"
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", column).lower()
    tokens = set(re.split(r"[^0-9a-z]+", spaced)) - {""}
    hit = sorted(tokens & _PERSONAL_TOKENS)
    return f"name contains {hit[0]!r}" if hit else None


def _is_phone(candidate: str) -> bool:
    """Whether a run of digit groups is a phone number in one of the usual national or international forms."""
    digits = sum(ch.isdigit() for ch in candidate)
    if not 7 <= digits <= 15 or _DATE_IN_NUMBER.search(candidate) or re.fullmatch(r"\d+\.\d+", candidate):
        return False
    bare = candidate.lstrip("(")
    if candidate.startswith("+"):  # international: +44 20 7946 0123, +49 (0)30 1234567, +86 138 1234 5678
        return digits >= 8 and candidate[1:2] != "0"
    if bare.startswith("00"):  # international with the 00 prefix: 0044 20 7946 0123
        return digits >= 10
    if bare.startswith("0"):  # national trunk prefix: UK 020 7946 0123, DE 030/1234567, FR 06 12 34 56 78
        return 9 <= digits <= 12
    return bool(_US_PHONE.fullmatch(candidate) or _CN_MOBILE.fullmatch(candidate))


def _phones_in(text: str) -> list[str]:
    """The phone numbers in a text (longest reading first at each start)."""
    groups = list(_DIGIT_GROUP.finditer(text))
    found, i = [], 0
    while i < len(groups):
        # the run of groups, from group i, that only separators join
        end = i
        while (end + 1 < len(groups) and end + 1 - i < _MAX_GROUPS
               and _GROUP_GAP.fullmatch(text, groups[end].end(), groups[end + 1].start())):
            end += 1
        hit = next((j for j in range(end, i - 1, -1) if _is_phone(text[groups[i].start():groups[j].end()])), None)
        if hit is None:
            i += 1
        else:
            found.append(text[groups[i].start():groups[hit].end()])
            i = hit + 1
    return found


def _ips_in(text: str) -> list[str]:
    found = []
    for pattern, version in ((_IPV4_IN_TEXT, ipaddress.IPv4Address), (_IPV6_IN_TEXT, ipaddress.IPv6Address)):
        for match in pattern.finditer(text):
            # "::" or "a::b" in prose parse as IPv6 but are no address anyone wrote
            groups = [g for g in match.group().split(":") if g]
            if version is ipaddress.IPv6Address and (len(groups) < 2 or sum(map(len, groups)) < 4):
                continue
            try:
                version(match.group())
            except ValueError:
                continue
            found.append(match.group())
    return found


_KINDS = ("e-mail addresses", "IP addresses", "phone numbers")


def _personal_in(value: str, phones: bool) -> dict:
    """``{kind: whole}`` for each kind of personal datum in one value; ``whole`` when it is the entire value.

    Each kind found is cut out before the next is looked for, so the digits of
    an e-mail address or an IP address are not read again as a phone number.
    """
    kinds = {}
    rest = value
    for kind, find in (("e-mail addresses", lambda t: [m.group() for m in _EMAIL_IN_TEXT.finditer(t)]),
                       ("IP addresses", _ips_in), ("phone numbers", _phones_in if phones else lambda t: [])):
        hits = find(rest)
        if hits:
            kinds[kind] = len(hits) == 1 and hits[0] == rest.strip()
            for hit in hits:
                rest = rest.replace(hit, " ")
    return kinds


def _content_reason(col: pd.Series, phones: bool = True) -> str | None:
    # Numbers lose the "+" and leading zero that tell a phone number from a count or an id;
    # an unconfigured numeric column never reaches the results anyway.
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return None
    values = col.dropna().astype(str).str.strip()
    values = values[values != ""]
    # Only text with a digit, an "@" or a ":" can hold an address or a number.
    candidates = values[values.str.contains(r"[\d@:]", regex=True)]
    if candidates.empty:
        return None
    # Every value is checked, not a sample: one leaked address is one too many.
    seen = {value: _personal_in(value, phones) for value in candidates.unique()}
    per_value = [seen[value] for value in candidates]
    reasons = []
    for kind in _KINDS:
        holding = [found[kind] for found in per_value if kind in found]
        if not holding:
            continue
        if all(holding):
            reasons.append(f"{len(holding)} of its {len(values)} values look like {kind}")
        else:
            reasons.append(f"free text with {kind} in {len(holding)} answer(s)")
    return ", ".join(reasons) or None


def detect_personal_columns(raw: pd.DataFrame, extra=(), used=(), ids=()) -> dict:
    """Find columns that hold personal data.

    A column is personal data when its name says so (e-mail, phone, name, IP,
    geolocation, ...) or when any of its values holds an e-mail address, a
    phone number (international, UK, US, German, French, Chinese and similar
    forms) or an IPv4/IPv6 address, also inside free text.

    Parameters
    ----------
    raw : pandas.DataFrame
        The raw survey table.
    extra : iterable of str
        Columns the config declares personal (``cleaning.personal_data_columns``).
    used : iterable of str
        Columns the config uses (items, id, weight, profile, ...).  Their names
        are not held against them (the researcher chose them), but their
        content still is.
    ids : iterable of str
        Columns of respondent ids: their numbers are ids, not phone numbers
        (e-mail and IP addresses still count).

    Returns
    -------
    dict
        ``{column: reason}`` in column order.  Reasons name what was found and
        how often, never a value.
    """
    extra, used, ids = set(extra), set(used), set(ids)
    found: dict = {}
    for column in raw.columns:
        if column in extra:
            found[column] = "listed in cleaning.personal_data_columns"
            continue
        reason = None if column in used else _name_reason(str(column))
        reason = reason or _content_reason(raw[column], phones=column not in ids)
        if reason:
            found[column] = reason
    return found


# ----------------------------------------------------------------------------- answers to numbers


def _code_sets(codes) -> tuple[set, set]:
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


def _missing_code_mask(col: pd.Series, codes: tuple[set, set]) -> pd.Series:
    numeric, text = codes
    present = col.notna()
    mask = pd.Series(False, index=col.index)
    if numeric:
        mask |= pd.to_numeric(col, errors="coerce").isin(numeric)
    if text and not pd.api.types.is_numeric_dtype(col):
        mask |= present & col.astype(str).str.strip().str.casefold().isin(text)
    return mask & present


def _label_lookup(column: str, file_labels: dict, config_labels: dict) -> dict:
    """``{casefolded label: number}``; config labels win over the file's."""
    lookup = {}
    for code, label in (file_labels.get(column) or {}).items():
        try:
            lookup[str(label).strip().casefold()] = float(code)
        except (TypeError, ValueError):
            continue
    lookup.update({str(k).strip().casefold(): float(v) for k, v in config_labels.items()})
    return lookup


def _to_numbers(col: pd.Series, missing: pd.Series, lookup: dict, role: str, source: str, rows: np.ndarray):
    """Answers to floats: missing codes to NaN, text labels through ``lookup``.

    Returns the numeric series and the mask of cells mapped from a text label.
    """
    col = col.where(~missing)
    if pd.api.types.is_bool_dtype(col):
        col = col.astype(float)
    if pd.api.types.is_numeric_dtype(col):
        return col.astype("float64"), pd.Series(False, index=col.index)
    numbers = pd.to_numeric(col, errors="coerce").astype("float64")
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
    codes = _code_sets(list(data.get("missing_codes") or []))
    file_labels = dict(raw.attrs.get("value_labels") or {})
    config_labels = dict(data.get("value_labels") or {})
    rows = []
    for name, spec in (config.get("constructs") or {}).items():
        lo, hi = (float(v) for v in spec["scale"])
        answers = pd.DataFrame(index=raw.index)
        for item in spec["items"]:
            col = raw[item]
            col = col.where(~_missing_code_mask(col, codes))
            numbers = pd.to_numeric(col, errors="coerce").astype("float64")
            text = col.notna() & numbers.isna()
            if text.any():
                lookup = _label_lookup(item, file_labels, config_labels)
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


# ----------------------------------------------------------------------------- the rules


def _report_row(rule, rows, cells, action, detail) -> dict:
    return {"rule": rule, "rows_affected": int(rows), "cells_affected": None if cells is None else int(cells),
            "action": action, "detail": detail}


def _respondent_ids(raw: pd.DataFrame, id_column) -> pd.Series:
    if id_column is None:
        return pd.Series(np.arange(1, len(raw) + 1), index=raw.index, name="respondent_id")
    ids = raw[id_column]
    if pd.api.types.is_float_dtype(ids) and (ids.dropna() == ids.dropna().round()).all():
        ids = ids.astype("Int64")  # whole-number ids with gaps stay whole numbers
    return ids.rename("respondent_id")


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


def _expected_matches(col: pd.Series, expected, lookup: dict) -> pd.Series:
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
class _Survey:
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
        return _label_lookup(column, self.file_labels, self.settings["value_labels"])


# A flagging rule's outcome: (rule name, mask of flagged rows, per-row detail, mask of the rows it drops).
_Flag = tuple[str, pd.Series, pd.Series, pd.Series]


def _flag(survey: _Survey, rule: str, mask: pd.Series, detail: pd.Series) -> _Flag:
    """A rule whose flagged rows are dropped or kept as ``cleaning.flagged_action`` says."""
    drops = survey.settings["flagged_action"] == "drop"
    return rule, mask, detail, mask if drops else pd.Series(False, index=mask.index)


def clean_survey(raw: pd.DataFrame, config: dict) -> CleaningResult:
    """Apply the cleaning rules, score the constructs and account for every row.

    Parameters
    ----------
    raw : pandas.DataFrame
        The raw table from :func:`trustseg.survey.io.read_survey` (``attrs`` may hold
        ``value_labels`` and ``source``).  It is not modified.
    config : dict
        The full config (``data``, ``constructs``, ``cleaning``, ``profile``);
        missing optional keys take the schema defaults.

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
    report = [_report_row("input", survey.n, None, "read",
                          f"{survey.n} rows and {raw.shape[1]} columns from {survey.source}")]
    # Personal data first: a configured column holding them stops the run before any rule
    # (or the error message of one, which quotes answers) can show a value.
    personal, row = _personal_data(survey, items)
    report.append(row)
    rating, rows = _numeric_answers(survey, items, scales)
    report += rows
    # Straight-lining looks at the answers as given (rating), scores at the reverse-keyed ones.
    answers, row = _reverse_keyed(rating, items, reverse, scales)
    report.append(row)
    ids = _respondent_ids(survey.frame, survey.settings["id_column"])
    flags: list[_Flag] = []
    for rule_flags, rule_rows in (_id_rules(survey, ids), _straightlining_rule(survey, rating, items, scales, reverse),
                                  _speeders(survey), _attention_checks(survey)):
        flags += rule_flags
        report += rule_rows
    full = _clean_columns(survey, ids, answers, constructs)
    clean, flagged, rows = _split_flagged(survey, ids, full, flags)
    report += rows
    report += _score_rows(survey, clean, constructs)
    report.append(_report_row("clean", len(clean), None, "written",
                              f"{len(clean)} rows in clean, {len(flagged)} in flagged, {survey.n} read"))
    report_frame = pd.DataFrame(report, columns=REPORT_COLUMNS).astype({"cells_affected": "Int64"})
    return CleaningResult(clean=clean, report=report_frame, flagged=flagged, personal_columns=list(personal))


def _survey(raw: pd.DataFrame, config: dict) -> tuple[_Survey, tuple[list[str], dict, set]]:
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
    survey = _Survey(frame=raw.reset_index(drop=True), settings=s, source=source,
                     file_labels=dict(raw.attrs.get("value_labels") or {}), codes=_code_sets(s["missing_codes"]))
    return survey, (items, scales, reverse)


def _personal_data(survey: _Survey, items: list[str]) -> tuple[dict, dict]:
    """The personal-data columns (``{column: reason}``) and their report row."""
    s, frame, source = survey.settings, survey.frame, survey.source
    used = set(items) | set(s["profile"]) | set(s["analysis_columns"]) | {c["item"] for c in s["attention_checks"]}
    used |= {c for c in (s["id_column"], s["weight_column"], s["duration_column"]) if c is not None}
    ids = [s["id_column"]] if s["id_column"] is not None else []
    personal = detect_personal_columns(frame, s["personal_data_columns"], used, ids)
    clash = [c for c in personal if c in used]
    if clash:
        raise ConfigError(
            f"{source}: column(s) {clash} are used by the config (items, id, weight, profile, duration or "
            f"attention checks) but hold personal data ({'; '.join(personal[c] for c in clash)}). "
            "Personal data must not reach the results: use a pseudonymous id and remove them from the config."
        )
    if personal and s["personal_data"] == "error":
        listed = "; ".join(f"{c!r} ({why})" for c, why in personal.items())
        raise DataError(
            f"{source}: holds personal data in column(s) {listed}. Remove these columns from the file, "
            "or set cleaning.personal_data: drop to leave them out of the results."
        )
    cols = list(personal)
    row = _report_row(
        "personal_data", int(frame[cols].notna().any(axis=1).sum()) if cols else 0,
        int(frame[cols].notna().sum().sum()) if cols else 0,
        "dropped columns" if cols else "none found",
        "; ".join(f"{c} ({why})" for c, why in personal.items()) or "no column looks like personal data",
    )
    return personal, row


def _numeric_answers(survey: _Survey, items: list[str], scales: dict) -> tuple[pd.DataFrame, list[dict]]:
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
        miss = _missing_code_mask(col, survey.codes)
        answers[item], label_mask[item] = _to_numbers(col, miss, survey.lookup(item), f"rating column {item!r}",
                                                      survey.source, survey.rows)
        miss_mask[item] = miss
    out_mask = pd.DataFrame(False, index=index, columns=items)
    for item in items:
        lo, hi = scales[item]
        out_mask[item] = answers[item].notna() & ((answers[item] < lo) | (answers[item] > hi))
    answers = answers.mask(out_mask)
    rows = [
        _report_row(
            "missing_codes", miss_mask.any(axis=1).sum(), miss_mask.sum().sum(), "set to missing",
            f"codes {s['missing_codes']} in the items (also applied to the profile, weight and duration columns)"
            if s["missing_codes"] else "no missing codes configured (data.missing_codes)",
        ),
        _report_row(
            "value_labels", label_mask.any(axis=1).sum(), label_mask.sum().sum(), "text answers mapped to numbers",
            ", ".join(f"{c}: {int(k)}" for c, k in label_mask.sum().items() if k) or "no text answers in the items",
        ),
        _report_row(
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


def _reverse_keyed(rating: pd.DataFrame, items: list[str], reverse: set, scales: dict) -> tuple[pd.DataFrame, dict]:
    """The answers with the reverse-keyed items recoded, and the report row."""
    answers = rating.copy()
    rev_items = [i for i in items if i in reverse]
    for item in rev_items:
        lo, hi = scales[item]
        answers[item] = lo + hi - answers[item]
    row = _report_row(
        "reverse_keyed", answers[rev_items].notna().any(axis=1).sum() if rev_items else 0,
        answers[rev_items].notna().sum().sum() if rev_items else 0,
        "recoded as min + max - answer" if rev_items else "none configured",
        ", ".join(rev_items) or "no reverse-keyed items (constructs.*.reverse)",
    )
    return answers, row


def _id_rules(survey: _Survey, ids: pd.Series) -> tuple[list[_Flag], list[dict]]:
    """Rows without an id, and repeated ids (the first row of an id is kept)."""
    id_column, index = survey.settings["id_column"], survey.index
    flags, rows = [], []
    if id_column is not None:
        no_id = ids.isna()
        flags.append(_flag(survey, "missing_id", no_id, pd.Series(f"no value in {id_column}", index=index)))
        rows.append(_report_row("missing_id", no_id.sum(), no_id.sum(), "flagged",
                                f"rows without a respondent id in {id_column!r}"))
    if survey.settings["duplicates"] and id_column is not None:
        dup = ids.duplicated(keep="first") & ids.notna()
        first_row = pd.Series(survey.rows, index=index).groupby(ids.astype(str)).transform("first")
        detail = pd.Series([f"id {i} first seen in source row {r}" for i, r in zip(ids, first_row)], index=index)
        flags.append(_flag(survey, "duplicate_id", dup, detail))
        rows.append(_report_row("duplicate_id", dup.sum(), None, "flagged (first row kept)",
                                f"repeated values of {id_column!r}"))
    else:
        why = ("disabled (cleaning.duplicates: false)" if not survey.settings["duplicates"]
               else "no id column (data.id_column is null)")
        rows.append(_report_row("duplicate_id", 0, None, "skipped", why))
    return flags, rows


def _straightlining_rule(survey: _Survey, rating: pd.DataFrame, items: list[str], scales: dict,
                         reverse: set) -> tuple[list[_Flag], list[dict]]:
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
        return [], [_report_row("straightlining", 0, None, "skipped", why)]
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
        _report_row(
            "straightlining", n, None, outcome,
            f"same answer to every one of the {len(items)} rating items, when at least "
            f"{s['straight_min_items']} were answered"
            + (f" (the block has only {len(items)} items, so nobody can be flagged)"
               if len(items) < s["straight_min_items"] else "")
            + f"; {int(at_max.sum())} gave the scale maximum and {int(at_min.sum())} the scale minimum everywhere; "
            f"{reason} (cleaning.straightlining.action: {action}, cleaning.flagged_action: {flagged_action})",
        ),
        _report_row("straightlining:scale_maximum", at_max.sum(), None,
                    f"flagged: {int((at_max & dropped).sum())} dropped, {int((at_max & ~dropped).sum())} kept",
                    "straight-liners whose every answer is the top of the item's scale"),
        _report_row("straightlining:scale_minimum", at_min.sum(), None,
                    f"flagged: {int((at_min & dropped).sum())} dropped, {int((at_min & ~dropped).sum())} kept",
                    "straight-liners whose every answer is the bottom of the item's scale"),
    ]
    return [("straightlining", mask, detail, dropped)], rows


def _speeders(survey: _Survey) -> tuple[list[_Flag], list[dict]]:
    frame, index = survey.frame, survey.index
    column, limit = survey.settings["duration_column"], survey.settings["min_seconds"]
    if limit is not None and column is None:
        # Qualtrics and most platforms name it "Duration (in seconds)" or similar.
        found = [c for c in frame.columns if "duration" in str(c).lower() or "用时" in str(c)]
        column = found[0] if found else None
    if column is None or limit is None:
        why = "no cleaning.speeders.min_seconds" if limit is None else "no duration column in the data"
        return [], [_report_row("speeders", 0, None, "skipped", why)]
    col = frame[column]
    seconds = pd.to_numeric(col.where(~_missing_code_mask(col, survey.codes)), errors="coerce")
    fast = seconds < float(limit)
    unknown = int(seconds.isna().sum())
    detail = pd.Series([f"{column} = {v:g} s < {limit:g} s" for v in seconds.fillna(np.nan)], index=index)
    row = _report_row(
        "speeders", fast.sum(), None, "flagged",
        f"{column!r} under {limit:g} seconds; {unknown} row(s) without a readable duration are not flagged",
    )
    return [_flag(survey, "speeders", fast, detail)], [row]


def _attention_checks(survey: _Survey) -> tuple[list[_Flag], list[dict]]:
    checks = survey.settings["attention_checks"]
    if not checks:
        return [], [_report_row("attention_check", 0, None, "skipped", "none configured (cleaning.attention_checks)")]
    flags, rows = [], []
    for check in checks:
        col = survey.frame[check["item"]]
        failed = ~_expected_matches(col, check["expected"], survey.lookup(check["item"]))
        given = col.astype(str).where(col.notna(), "no answer")
        detail = pd.Series([f"{check['item']} = {g} (expected {check['expected']})" for g in given],
                           index=survey.index)
        flags.append(_flag(survey, f"attention_check:{check['item']}", failed, detail))
        rows.append(_report_row(
            f"attention_check:{check['item']}", failed.sum(), None, "flagged",
            f"expected {check['expected']!r}; a missing answer counts as failed",
        ))
    return flags, rows


def _clean_columns(survey: _Survey, ids: pd.Series, answers: pd.DataFrame, constructs: dict) -> pd.DataFrame:
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
        weight = _weights(frame[s["weight_column"]], s["weight_column"], survey.codes, survey.source, survey.rows)
        pieces.append(weight.to_frame(s["weight_column"]))
    profile = pd.DataFrame(index=index)
    for col in s["profile_columns"]:
        profile[col] = _profile_column(frame[col], survey.codes, survey.file_labels.get(col))
    pieces.append(profile)
    # an analysis may regress on a raw numeric column (say, years as a member)
    direct = pd.DataFrame(index=index)
    for col in s["analysis_columns"]:
        if col in frame.columns and col not in s["profile_columns"] and col != s["weight_column"]:
            direct[col] = _to_numbers(frame[col], _missing_code_mask(frame[col], survey.codes), {},
                                      f"column {col!r} (an analysis variable)", survey.source, survey.rows)[0]
    pieces.append(direct)
    full = pd.concat(pieces, axis=1)
    return full.loc[:, ~full.columns.duplicated()]


def _split_flagged(survey: _Survey, ids: pd.Series, full: pd.DataFrame,
                   flags: list[_Flag]) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
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
    row = _report_row(
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


def _score_rows(survey: _Survey, clean: pd.DataFrame, constructs: dict) -> list[dict]:
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
        rows.append(_report_row(
            f"construct_score:{name}", lacking, None, "score missing" if lacking else "scored",
            f"mean of the answered items {spec['items']}; needs at least {need} of {len(spec['items'])} answered "
            f"(min_answered {spec['min_answered']}); {lacking} of {len(clean)} kept rows have no score",
        ))
    return rows


def _weights(col: pd.Series, name: str, codes, source: str, rows: np.ndarray) -> pd.Series:
    values = pd.to_numeric(col.where(~_missing_code_mask(col, codes)), errors="coerce")
    bad = values.isna() | ~(values > 0) | ~np.isfinite(values)
    if bad.any():
        raise DataError(
            f"{source}: weight column {name!r} has {int(bad.sum())} missing, non-numeric or non-positive "
            f"value(s) (first data rows {rows[bad.to_numpy()][:5].tolist()}). Weights must be positive numbers: "
            "repair them, or set data.weight_column: null."
        )
    return values.astype("float64")


def _profile_column(col: pd.Series, codes, labels: dict | None) -> pd.Series:
    col = col.where(~_missing_code_mask(col, codes))
    if labels:
        present = col.dropna()
        as_codes = present.map(lambda v: int(v) if isinstance(v, float) and float(v).is_integer() else v)
        if len(present) and as_codes.isin(list(labels)).all():
            # Fully labelled codes read better as their labels in profile tables.
            return as_codes.map(labels).reindex(col.index).astype("str")
    if pd.api.types.is_float_dtype(col) and col.notna().any() and (col.dropna() == col.dropna().round()).all():
        return col.astype("Int64")
    return col
