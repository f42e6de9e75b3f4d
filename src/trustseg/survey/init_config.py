"""Draft a config from a survey file (``trustseg init-config``).

The draft lists every column with its detected type and range as YAML
comments, proposes missing-value codes, guesses the constructs from column
names and question texts (satisfaction, trust, loyalty, repurchase, purchase
intention, recommendation, switching and complaints, in English and Chinese),
the id, weight, duration and profile columns, and one analysis.  It is
validated against the config schema before it is returned, so it always loads;
lines marked ``CHECK`` need the researcher's eye.

The outcome is always a guess, so its line carries ``CHECK``, and a comment
block lists every construct that may serve as an outcome (switching and
complaints run the other way: higher answers are worse for the firm).  Only
rating-like columns can become items, so a free-text answer that mentions
"recommend" or "likely" never does; a question is read for the construct it
is about first ("How likely are you to recommend us?" is recommendation, not
intention), and price, value and involvement items are kept out of the
outcome constructs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from trustseg.config import validate_config
from trustseg.errors import DataError
from trustseg.survey.cleaning import personal_headers
from trustseg.survey.drafting import (
    answer_grid,
    closest_to,
    is_numbering,
    label_number,
    lowers_hint,
    overall_item,
    reverse_keyed,
    runs_worse,
    stem_groups,
)
from trustseg.survey.io import read_survey
from trustseg.survey.privacy import draft_personal_columns

__all__ = ["draft_config", "describe_columns", "suspected_missing_codes", "guess_constructs"]

_CANDIDATE_CODES = (-999, -99, -98, -97, -9, -8, -7, -1, 97, 98, 99, 999, 9999)
# In this order each construct takes its columns: a column is claimed by the first pattern it matches, so the
# specific questions (recommend, switch) come before the catch-all "likely" of purchase intention.
_CONSTRUCT_PATTERNS = {
    "satisfaction": re.compile(r"sat|cusa|满意", re.IGNORECASE),
    "trust": re.compile(r"trust|信任|信赖", re.IGNORECASE),
    "loyalty": re.compile(r"(?<![a-z])loy|cusl|忠诚", re.IGNORECASE),
    "repurchase": re.compile(
        r"^rep(?![a-z])|repur|rebuy|buy.?again|purchase.?again|回购|再次购买|复购|再购", re.IGNORECASE
    ),
    "recommendation": re.compile(r"recommend|(?<![a-z])nps(?![a-z])|(?<![a-z])wom(?![a-z])|word.?of.?mouth|推荐|口碑",
                                 re.IGNORECASE),
    "switching": re.compile(r"switch|churn|(?<![a-z])defect|流失|转换|更换|换用", re.IGNORECASE),
    "complaints": re.compile(r"complain|投诉|抱怨", re.IGNORECASE),
    "intention": re.compile(r"(?<![a-z])int(?![a-z])|intent|intend|likel|意向|意愿|打算", re.IGNORECASE),
}
# Constructs an analysis may explain, in the order the draft prefers them as its outcome; trust (an outcome in
# the golf study, or a second predictor) comes after the behavioural ones, and the two that run the other way last.
_OUTCOMES = ("repurchase", "intention", "loyalty", "recommendation", "trust", "switching", "complaints")
_HIGHER_IS_WORSE = {"switching", "complaints"}
_BEHAVIOURAL = set(_OUTCOMES) - {"trust"}
_OUTCOME_NOTES = {
    "repurchase": "buying (or renewing) again",
    "intention": "intention to buy, use or come back",
    "loyalty": "loyalty (staying, choosing again)",
    "recommendation": "recommending to others (NPS, word of mouth)",
    "trust": "trust; an outcome as in the golf study, or a second predictor",
    "switching": "switching: the intention to switch or churn runs the other way (higher_is: worse); switching "
                 "costs or barriers do not, and are better a predictor than an outcome",
    "complaints": "complaining: higher answers are worse for the firm; in its analysis set higher_is: worse",
}
# Price, value and involvement questions say how customers see the offer or the category, not whether they
# come back: they never join an outcome construct nor stand in for one.
_NOT_OUTCOME = re.compile(
    r"pric|valu|(?<![a-z])val(?![a-z])|cost|(?<![a-z])pay|expens|cheap|(?<![a-z])fees?(?![a-z])|tarif|involv|"
    r"(?<![a-z])inv(?![a-z])|import|(?<![a-z])perv|价格|价值|价钱|费用|花费|涉入|卷入",
    re.IGNORECASE,
)
_ID = re.compile(r"^(id|respondent.?id|resp.?id|response.?id|case.?id|caseid|record|编号|序号|id号)$", re.IGNORECASE)
_WEIGHT = re.compile(r"^(weight|wt|wgt|weights|权重|加权)$|weight", re.IGNORECASE)
_DURATION = re.compile(r"duration|用时|时长|seconds", re.IGNORECASE)
_PROFILE = re.compile(
    r"gender|sex|(?<![a-z])age(?![a-z])|educ|income|occupation|job|region|country|city|member|tenure|segment|type|"
    r"性别|年龄|学历|教育|收入|职业|地区|城市|会员",
    re.IGNORECASE,
)
# Common answer labels, so text answers get a proposed numeric coding.
_KNOWN_LABELS = {
    "strongly disagree": 1, "disagree": 2, "neither agree nor disagree": 3, "neutral": 3, "agree": 4,
    "strongly agree": 5, "very dissatisfied": 1, "dissatisfied": 2, "neither satisfied nor dissatisfied": 3,
    "satisfied": 4, "very satisfied": 5, "非常不满意": 1, "不满意": 2, "一般": 3, "满意": 4, "非常满意": 5,
    "非常不同意": 1, "不同意": 2, "中立": 3, "同意": 4, "非常同意": 5,
}


# The highest answer of a rating scale (0-10 NPS items, and 11-point scales counted from 1): whole numbers
# above it are counts or codes, not ratings.
_RATING_TOP = 11


def text_number(value) -> float | None:
    """The number a text answer stands for: a known agreement or satisfaction label, yes/no, or a signed number."""
    known = _KNOWN_LABELS.get(str(value).strip().casefold())
    return float(known) if known is not None else label_number(value)


def _plain_number(value: float):
    return int(value) if float(value).is_integer() else float(value)


def _j(value) -> str:
    """A YAML flow value (JSON is valid YAML and keeps Chinese readable)."""
    return json.dumps(value, ensure_ascii=False)


def _comment(text: str) -> str:
    return " ".join(str(text).split())


def suspected_missing_codes(col: pd.Series) -> list:
    """Typical missing-value codes that lie outside the column's other values.

    Parameters
    ----------
    col : pandas.Series
        A column as read.

    Returns
    -------
    list of int
        E.g. ``[-99]`` for a 1-7 item that also holds -99; 99 is suspected
        only when it is more than twice the largest other value (ages of 99
        are real).
    """
    values = pd.to_numeric(col, errors="coerce").dropna()
    if values.empty:
        return []
    present = [c for c in _CANDIDATE_CODES if (values == c).any()]
    rest = values[~values.isin(present)]
    if rest.empty:
        return []
    lo, hi = rest.min(), rest.max()
    return [c for c in present if (c < 0 <= lo) or (c > 0 and c > 2 * max(hi, 1))]


def describe_columns(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per column: type, missing count, range or values, suspected codes.

    Parameters
    ----------
    raw : pandas.DataFrame
        The raw survey table.

    Returns
    -------
    pandas.DataFrame
        Columns ``column, type, n_missing, n_distinct, low, high, values,
        missing_codes, rating_like``.
    """
    labels = raw.attrs.get("value_labels") or {}
    out = []
    for name in raw.columns:
        col = raw[name]
        codes = suspected_missing_codes(col) if pd.api.types.is_numeric_dtype(col) else []
        numbers = pd.to_numeric(col, errors="coerce")
        clean = numbers[~numbers.isin(codes)].dropna()
        row = {"column": name, "n_missing": int(col.isna().sum()), "n_distinct": int(col.nunique()),
               "low": np.nan, "high": np.nan, "values": "", "missing_codes": codes, "rating_like": False,
               "step": np.nan}
        if col.notna().sum() == 0:
            row["type"] = "empty"
        elif pd.api.types.is_numeric_dtype(col):
            whole = bool((clean == clean.round()).all())
            row["type"] = ("labelled " if name in labels else "") + ("integer" if whole else "decimal")
            if len(clean):
                row["low"], row["high"] = float(clean.min()), float(clean.max())
                # whole points 0-11, or an evenly spaced grid of at most 11 answers (0, 20, ..., 100)
                grid = answer_grid(clean) if whole else None
                row["rating_like"] = grid is not None
                row["step"] = grid[2] if grid else np.nan
        else:
            distinct = list(dict.fromkeys(col.dropna().astype(str)))
            row["type"] = "text"
            row["values"] = ", ".join(_j(v) for v in distinct[:5]) + (", ..." if len(distinct) > 5 else "")
            # labels a reader codes at once: agreement words, yes/no, numbers with labelled ends ("I hate it!-5")
            coded = [text_number(v) for v in distinct]
            grid = answer_grid(pd.Series(coded)) if distinct and None not in coded else None
            row["rating_like"] = grid is not None
            row["step"] = grid[2] if grid else np.nan
        out.append(row)
    return pd.DataFrame(out)


def guess_constructs(raw: pd.DataFrame, candidates: list[str]) -> dict:
    """Group candidate columns into constructs by name or question text.

    Parameters
    ----------
    raw : pandas.DataFrame
        The raw survey table (``attrs["question_text"]`` is used when present).
    candidates : list of str
        Rating-like columns that may be items.

    Returns
    -------
    dict
        ``{construct: {"items": [...], "how": "column names" | "question texts"}}``
        in the order of ``_CONSTRUCT_PATTERNS`` (satisfaction, trust, loyalty,
        repurchase, recommendation, switching, complaints, intention).  Price,
        value and involvement items never join an outcome construct.
    """
    texts = raw.attrs.get("question_text") or {}
    not_outcome = {c for c in candidates if _NOT_OUTCOME.search(f"{c} {texts.get(c, '')}")}
    found: dict = {}
    taken: set = set()
    for construct, pattern in _CONSTRUCT_PATTERNS.items():
        # only the behavioural outcomes turn price and value items away: "satisfied with the price" is satisfaction
        barred = taken | not_outcome if construct in _BEHAVIOURAL else taken
        by_name = [c for c in candidates if c not in barred and pattern.search(str(c))]
        how = "column names"
        if not by_name:
            by_name = [c for c in candidates if c not in barred and pattern.search(str(texts.get(c, "")))]
            how = "question texts"
        if by_name:
            # the whole construct: every item sharing the stem of a matched one (loy1 found, loy2-loy4 with it)
            for stem, members in stem_groups(candidates).items():
                if any(c in by_name for c in members) and not is_numbering(stem, members, candidates):
                    by_name += [c for c in members if c not in by_name and c not in barred]
            by_name = [c for c in candidates if c in by_name]
            found[construct] = {"items": by_name, "how": how}
            taken.update(by_name)
    return found


@dataclass
class _Draft:
    """What the draft proposes, before it is written out as YAML."""

    id_column: str | None
    weight_column: str | None
    duration_column: str | None
    constructs: dict  # construct -> items
    notes: dict  # construct -> how it was found
    outcome: str
    profile: list
    missing_codes: list
    value_labels: dict
    not_outcome: list  # price, value and involvement items kept out of the outcome guess
    other_outcomes: dict  # column -> family, for 0/1 and count columns that could be outcomes
    focal: str = "satisfaction"  # the construct the analysis's focal predictor is
    source: str = ""  # the survey file's name, read for the subject of an intention construct

    @property
    def predictors(self) -> list[str]:
        return [self.focal] + (["trust"] if "trust" in self.constructs and "trust" not in (self.outcome, self.focal)
                               else [])


def draft_config(path, data_cfg: dict | None = None) -> str:
    """Inspect a survey file and return a draft config as commented YAML.

    Parameters
    ----------
    path : str or path-like
        The survey file (opened read-only).
    data_cfg : dict, optional
        Reading options (``format``, ``encoding``, ``delimiter``, ``sheet``)
        as in the ``data`` section of the config.

    Returns
    -------
    str
        YAML text that validates against the config schema.

    Raises
    ------
    DataError
        The file cannot be read, or has no column that could be a rating item.
    """
    data_cfg = dict(data_cfg or {})
    raw = read_survey(path, data_cfg)
    info = describe_columns(raw).set_index("column")
    personal = draft_personal_columns(raw)
    draft = _propose(path, raw, info, personal)
    lines = (_column_listing(path, raw, info, personal) + _data_section(path, data_cfg, raw, draft)
             + _construct_section(raw, draft) + _cleaning_section(raw, draft, personal)
             + _analysis_section(draft, raw.attrs.get("question_text") or {}))
    text = "\n".join(lines)
    validate_config(yaml.safe_load(text), source="the drafted config")
    return text


def _propose(path, raw: pd.DataFrame, info: pd.DataFrame, personal: dict) -> _Draft:
    """Guess the id, weight and duration columns, the constructs, the outcome and the profile."""
    usable = [c for c in raw.columns if c not in personal]
    # Repeated ids are what the duplicates rule is for, so near-unique is enough.
    id_col = next((c for c in usable if _ID.match(str(c).strip()) and raw[c].nunique() >= 0.9 * len(raw)), None)
    weight_col = next((c for c in usable if _WEIGHT.search(str(c)) and pd.api.types.is_numeric_dtype(raw[c])
                       and (raw[c].dropna() > 0).all()), None)
    duration_col = next((c for c in usable if _DURATION.search(str(c)) and pd.api.types.is_numeric_dtype(raw[c])), None)
    reserved = {id_col, weight_col, duration_col}
    candidates = [c for c in usable if c not in reserved and info.loc[c, "rating_like"]]
    constructs, notes, outcome, focal = _choose_constructs(path, raw, candidates, info)
    used_items = {c for items in constructs.values() for c in items}
    texts = raw.attrs.get("question_text") or {}
    not_outcome = [c for c in candidates if c not in used_items and _NOT_OUTCOME.search(f"{c} {texts.get(c, '')}")]
    profile = [c for c in usable if c not in used_items and c not in reserved and _PROFILE.search(str(c))
               and info.loc[c, "n_distinct"] <= 30]
    codes = sorted({code for c in used_items | set(profile) for code in info.loc[c, "missing_codes"]})
    value_labels = {}
    # In item order, not set order, so the draft is the same in every run.
    for c in dict.fromkeys(c for items in constructs.values() for c in items):
        if info.loc[c, "type"] == "text":
            for v in raw[c].dropna().astype(str).unique():
                value_labels[v] = _plain_number(text_number(v))
    return _Draft(id_col, weight_col, duration_col, constructs, notes, outcome, profile, codes, value_labels,
                  not_outcome, _other_outcomes(raw, info, [c for c in usable if c not in reserved | used_items]),
                  focal=focal, source=Path(str(path)).name)


def _other_outcomes(raw: pd.DataFrame, info: pd.DataFrame, columns: list) -> dict:
    """Columns that could be the outcome of a binomial (0/1) or poisson (counts beyond a rating scale) analysis."""
    proposals = {}
    for c in columns:
        if not info.loc[c, "type"].endswith("integer"):
            continue
        values = pd.to_numeric(raw[c], errors="coerce").dropna()
        values = values[~values.isin(info.loc[c, "missing_codes"])]
        if len(values) and set(values.unique()) <= {0, 1} and values.nunique() == 2:
            proposals[c] = "binomial"
        elif len(values) and values.min() >= 0 and values.max() > _RATING_TOP:
            proposals[c] = "poisson"
    return proposals


def _choose_constructs(path, raw: pd.DataFrame, candidates: list, info: pd.DataFrame) -> tuple[dict, dict, str, str]:
    """Constructs, how each was found, the outcome and the focal predictor's construct.

    Constructs are found by name or question text (:func:`guess_constructs`).
    When the outcome is not among them, the rating item that correlates most
    with all the others stands in (an overall rating goes with every aspect;
    a yes/no item only when nothing else is left; never a price, value or
    involvement item); when satisfaction is not among them, the construct
    (items sharing a name stem, or one item) that correlates most with the
    outcome stands in, named after its stem.  Both are marked CHECK.
    """
    guessed = guess_constructs(raw, candidates)
    notes = {name: f"guessed from {g['how']}" for name, g in guessed.items()}
    constructs = {name: g["items"] for name, g in guessed.items()}
    outcome = next((c for c in _OUTCOMES if c in constructs), None)
    spare = [c for c in candidates if not any(c in items for items in constructs.values())]
    if not spare and ("satisfaction" not in constructs or outcome is None):
        raise DataError(
            f"{path}: found no column that looks like a rating item (whole numbers between 0 and 11, answers on an "
            "evenly spaced grid such as 0, 20, ..., 100, yes/no, or answer labels such as 'Strongly agree'), so no "
            "construct can be drafted. Write the config by hand."
        )
    frame = _coded_frame(raw, candidates, info)
    binary = {c for c in candidates if frame[c].nunique() == 2}
    if outcome is None:
        texts = raw.attrs.get("question_text") or {}
        usable = [c for c in spare if not _NOT_OUTCOME.search(f"{c} {texts.get(c, '')}")]
        if not usable:
            left = f" (the rating-like columns left, {', '.join(map(str, spare))}, ask about price, value or " \
                   "involvement, which describe the offer, not whether customers come back)" if spare else ""
            raise DataError(
                f"{path}: found no rating-like column that could be the outcome of an analysis{left}. An analysis "
                "needs an outcome (repurchase, loyalty, intention, recommendation) and a predictor (satisfaction). "
                "Write the config by hand."
            )
        # an overall rating stands alone: items that share a stem are one construct's, not the outcome
        grouped = {c for stem, members in stem_groups(candidates).items()
                   if not is_numbering(stem, members, candidates) for c in members}
        chosen = overall_item(frame, [c for c in usable if c not in grouped] or usable, binary)
        constructs["outcome"] = [chosen]
        notes["outcome"] = ("CHECK: no outcome (repurchase, loyalty, intention, recommendation) found by name; the "
                            f"rating item {chosen!r}, which correlates most with the other items (as an overall "
                            "rating does), only stands in: list the items of what the study explains")
        outcome = "outcome"
        spare.remove(chosen)
    focal = "satisfaction"
    if "satisfaction" not in constructs:
        groups = _spare_groups(spare, candidates)
        items = closest_to(frame, constructs[outcome][0], groups) or [spare[0]]
        focal = _construct_name(items, constructs, raw.columns)
        constructs = {focal: items, **constructs}
        notes[focal] = ("CHECK: no satisfaction construct found by name; these items, which go most closely with the "
                        "outcome, stand in as the focal predictor")
    return constructs, notes, outcome, focal


def _coded_frame(raw: pd.DataFrame, columns: list, info: pd.DataFrame) -> pd.DataFrame:
    """The candidate columns as numbers (text labels coded), for correlations."""
    out = {}
    for c in columns:
        col = raw[c]
        if info.loc[c, "type"] == "text":
            out[c] = col.map(lambda v: text_number(v) if pd.notna(v) else None).astype(float)
        else:
            values = pd.to_numeric(col, errors="coerce")
            out[c] = values.where(~values.isin(info.loc[c, "missing_codes"]))
    return pd.DataFrame(out, index=raw.index)


def _spare_groups(spare: list, candidates: list) -> list[list]:
    """The spare items as constructs: items sharing a name stem together (a questionnaire's q1..q10 apart)."""
    groups, grouped = [], set()
    for stem, members in stem_groups(spare).items():
        if not is_numbering(stem, members, candidates):
            groups.append(members)
            grouped.update(members)
    return groups + [[c] for c in spare if c not in grouped]


def _construct_name(items: list, constructs: Mapping, columns) -> str:
    """A construct named after its items' stem ("PC1".."PC3" -> "pc") or its one item; never a name in use.

    A score column must not share its name with a column of the file, so a
    one-item construct is "<item>_score".
    """
    stems = list(stem_groups(items))
    name = re.sub(r"\W+", "_", stems[0] if len(items) > 1 and stems else str(items[0])).strip("_").lower() or "focal"
    taken = set(constructs) | {str(c) for c in columns} | {str(c).lower() for c in columns}
    while name in taken:
        name += "_score"
    return name


def _column_listing(path, raw: pd.DataFrame, info: pd.DataFrame, personal: dict) -> list[str]:
    """The header comment: one line per column with its type, range and warnings."""
    lines = [
        f"# Draft trustseg config for {_comment(path)}, written by `trustseg init-config`.",
        "# Read it through and fix every line marked CHECK before running the workflow.",
        f"# The file has {len(raw)} rows and {raw.shape[1]} columns (format {raw.attrs.get('format')}"
        + (f", encoding {raw.attrs['encoding']}" if raw.attrs.get("encoding") else "") + "):",
        "#",
    ]
    texts = raw.attrs.get("question_text") or {}
    headers = personal_headers(raw.columns)
    for name, row in info.iterrows():
        desc = f"#   {_comment(headers.get(name, name))}: {row['type']}, {row['n_missing']} missing"
        if name in personal:
            # counts and kinds only: a personal-data column's values, range and question never reach the draft
            lines.append(desc + f", {row['n_distinct']} distinct values; PERSONAL DATA ({personal[name]}): left "
                                "out of the results")
            continue
        if not np.isnan(row["low"]):
            desc += f", {row['low']:g} .. {row['high']:g}"
        if row["values"]:
            desc += f", {row['n_distinct']} values: {_comment(row['values'])}"
        if row["missing_codes"]:
            desc += f"; suspected missing codes {row['missing_codes']}"
        text = texts.get(name)
        if text and text != name:
            desc += f"; question: {_comment(text)[:80]}"
        lines.append(desc)
    return lines


def _data_section(path, data_cfg: dict, raw: pd.DataFrame, draft: _Draft) -> list[str]:
    lines = ["", "data:", f"  path: {_j(str(path))}"]
    for key in ("format", "encoding", "delimiter", "sheet"):
        if data_cfg.get(key) not in (None, "auto"):
            lines.append(f"  {key}: {_j(data_cfg[key])}")
    if "encoding" not in data_cfg and raw.attrs.get("encoding") not in (None, "utf-8", "utf-8-sig"):
        lines.append(f"  encoding: {_j(raw.attrs['encoding'])}  # detected")
    lines.append(f"  id_column: {_j(draft.id_column)}"
                 + ("  # null numbers the rows 1..n" if draft.id_column is None else "  # CHECK"))
    lines.append(f"  weight_column: {_j(draft.weight_column)}" + ("  # CHECK" if draft.weight_column else ""))
    lines.append(f"  missing_codes: {_j(draft.missing_codes)}"
                 + ("  # CHECK: suspected from values outside the usual range" if draft.missing_codes else ""))
    if draft.value_labels:
        lines.append(f"  value_labels: {_j(draft.value_labels)}  # CHECK: proposed coding of the text answers")
    return lines


def _answers(raw: pd.DataFrame, items: list, draft: _Draft) -> pd.DataFrame:
    """The items' answers as numbers: text labels coded as the draft codes them, missing codes left out."""
    coded = {}
    for c in items:
        col = raw[c]
        numbers = pd.to_numeric(col, errors="coerce")
        if not pd.api.types.is_numeric_dtype(col):
            numbers = numbers.fillna(col.map(lambda v: draft.value_labels.get(str(v)) if pd.notna(v) else None)
                                     .astype(float))
        coded[c] = numbers.where(~numbers.isin(draft.missing_codes))
    return pd.DataFrame(coded, index=raw.index)


def _answer_scale(raw: pd.DataFrame, items: list, draft: _Draft) -> tuple[list, list, float]:
    """The proposed answer scale of a construct, the rare answers outside it, and its step."""
    answers = _answers(raw, items, draft).stack().dropna()
    if not len(answers):
        return [min(draft.value_labels.values()), max(draft.value_labels.values())], [], 1.0
    # Typos and out-of-scale answers are rare: the scale is the range of the common answers.
    counts = answers.value_counts()
    common = counts[counts >= max(2, 0.005 * len(answers))].index
    common = common if len(common) >= 2 else counts.index
    grid = answer_grid(pd.Series(list(common)))
    step = grid[2] if grid else 1.0
    if set(common) == {0, 1}:
        scale = [0, 1]  # yes/no
    elif step == 1 and min(common) >= 0:
        # rating scales start at 0 or 1, whatever the lowest answer anyone gave
        scale = [0 if min(common) < 1 else 1, int(max(max(common), 2))]
    else:
        # a grid's ends are its lowest and highest answers, however rare; one that starts a step above 0 starts at 0
        lo, hi = float(answers.min()), float(answers.max())
        scale = [_plain_number(0.0 if 0 < lo <= step else lo), _plain_number(hi)]
    rare = sorted(float(v) for v in counts.index if v < scale[0] or v > scale[1])
    return scale, rare, step


def _construct_section(raw: pd.DataFrame, draft: _Draft) -> list[str]:
    lines = ["", "constructs:"]
    for name, items in draft.constructs.items():
        scale, rare, step = _answer_scale(raw, items, draft)
        reverse = reverse_keyed(_answers(raw, items, draft), items)
        lines += [
            f"  {_j(name)}:",
            f"    # {draft.notes[name]}; CHECK the items and that the scale is the answer scale, not just the "
            "observed range"
            + (f"; rare answers {[f'{v:g}' for v in rare]} lie outside it and will be set to missing" if rare else ""),
            f"    items: {_j(items)}",
            f"    scale: {_j(scale)}",
            *([f"    step: {_plain_number(step)}  # the answers run in steps of {step:g}"] if step != 1 else []),
            f"    reverse: {_j(reverse)}"
            + ("  # CHECK: these items correlate negatively with the rest of the construct (reverse-keyed?)"
               if reverse else ""),
            "    min_answered: 0.5",
        ]
    return lines


def _cleaning_section(raw: pd.DataFrame, draft: _Draft, personal: dict) -> list[str]:
    lines = [
        "",
        "cleaning:",
        "  flagged_action: drop",
        "  duplicates: true",
        "  # auto drops straight-liners only where the items they answered include a reverse-keyed one",
        "  # (constructs.*.reverse): CHECK the reverse lists above",
        "  straightlining: {enabled: true, min_items: 8, action: auto}",
    ]
    if draft.duration_column is not None:
        median = float(pd.to_numeric(raw[draft.duration_column], errors="coerce").median())
        lines.append(f"  # CHECK: a third of the median duration ({median:g} s), a common speeding threshold")
        lines.append(f"  speeders: {{duration_column: {_j(draft.duration_column)}, min_seconds: {round(median / 3)}}}")
    lines.append("  attention_checks: []")
    lines.append("  personal_data: drop")
    shown = [personal_headers(raw.columns).get(c, c) for c in personal]
    lines.append("  personal_data_columns: []"
                 + (f"  # detected anyway: {_comment(', '.join(map(str, shown)))}" if personal else ""))
    return lines


def _outcome_comments(draft: _Draft) -> list[str]:
    """The comment block that names the constructs an analysis may explain, and what was kept out."""
    options = [c for c in (*_OUTCOMES, "outcome") if c in draft.constructs]
    lines = ["# Constructs that may serve as the outcome of an analysis (CHECK which one the study explains;",
             "# add an analysis for each outcome of interest):"]
    for name in options:
        note = _OUTCOME_NOTES.get(name, "a stand-in: replace it with the items of the outcome")
        lines.append(f"#   {_comment(name)}: {note}" + (" (the outcome below)" if name == draft.outcome else ""))
    if draft.not_outcome:
        lines.append(f"# Kept out of the outcome guess as price, value or involvement items: "
                     f"{_comment(', '.join(map(str, draft.not_outcome)))}.")
    if draft.other_outcomes:
        described = [f"{_comment(str(c))} ({'0/1' if f == 'binomial' else 'counts'}: family {f})"
                     for c, f in draft.other_outcomes.items()]
        lines += ["# Columns that could be the outcome of an analysis of another family",
                  "# (CHECK what they measure: a whole number may be an id or a code):"]
        lines += [f"#   {d}" for d in described]
    return lines


def _family_line(draft: _Draft) -> str:
    """The proposed outcome family of the draft's analysis, marked CHECK."""
    items = draft.constructs.get(draft.outcome, [])
    if len(items) == 1:
        return ("    family: ordinal  # CHECK: the outcome is one rating item; ordinal fits its answers as ordered "
                "categories")
    return (f"    family: auto  # CHECK: a score over {len(items)} items; auto takes the default for bounded scores "
            "(docs/outcome_families.md)")


def _direction_lines(draft: _Draft, texts: Mapping) -> list[str]:
    """``higher_is: worse`` and ``expected: {focal: lowers}``, each only where the wording supports it."""
    lines = []
    items = draft.constructs.get(draft.outcome, [])
    if (draft.outcome in _HIGHER_IS_WORSE or draft.outcome == "intention") and \
            runs_worse(draft.outcome, items, texts, draft.source):
        why = (f"the file name {draft.source!r} says what the intention is about"
               if draft.outcome == "intention" and not runs_worse(draft.outcome, items, texts) else
               "the wording is about leaving or complaining")
        lines.append(f"    higher_is: worse  # CHECK: higher answers are worse for the firm ({why})")
    if lowers_hint(draft.focal, texts, draft.constructs.get(draft.focal, [])):
        lines.append(f"    expected: {{{_j(draft.focal)}: lowers}}  # CHECK: by its wording {draft.focal} is expected "
                     "to lower the outcome (as price, risk or waiting time do)")
    return lines


def _analysis_section(draft: _Draft, texts: Mapping | None = None) -> list[str]:
    worse = _direction_lines(draft, texts or {})
    return [
        "",
        f"profile: {_j(draft.profile)}" + ("  # CHECK" if draft.profile else ""),
        "",
        *_outcome_comments(draft),
        "analyses:",
        f"  {draft.outcome}_on_{draft.focal}:",
        f"    outcome: {_j(draft.outcome)}  # CHECK: a guess from the names; see the list above",
        *worse,
        f"    predictors: {_j(draft.predictors)}",
        _family_line(draft),
        "    segments: [1, 2, 3, 4, 5, 6]",
        "    criterion: bic",
        "    n_init: 20",
        "",
        "seed: 2010",
        "",
    ]
