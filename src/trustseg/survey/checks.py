"""The survey as read, checked against a validated config before any job runs.

Everything here needs the data but no cleaning: columns present (and on which
sheet of a workbook), numbers where numbers are needed, ids that identify
respondents, more than one respondent, answers on the declared scales.  It
lives in the survey layer because it reads workbooks; :mod:`trustseg.config`
checks the config alone.

Some findings are not mistakes but weaken the analysis (an outcome that is a
single rating item): :func:`check_survey` returns them as warnings for the
caller to print, ``trustseg: warning: <message>``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping

from trustseg.config import analysis_equations, analysis_roles, check_columns, required_columns
from trustseg.errors import ConfigError, DataError
from trustseg.survey.cleaning import check_personal_data, out_of_scale_answers, personal_headers
from trustseg.survey.coding import as_numbers, code_sets, missing_code_mask
from trustseg.survey.io import excel_sheet_columns, locate_header_row
from trustseg.survey.privacy import personal_ids

# A raw outcome column with at most this many distinct whole-number answers is read as one rating item.
_MAX_RATING_LEVELS = 11


def check_survey(config: Mapping, raw, source: str, single_answer_families: Collection[str] = ()) -> list[str]:
    """Check the survey as read against a validated config, before any job runs.

    The checks that need the data but no cleaning: every named column exists
    (on another sheet of the workbook, the message says which); the columns
    that must hold numbers do (a decimal comma, or text in an analysis
    variable, is named with the analysis key); the id column identifies
    respondents; there is more than one respondent; and no more than
    ``cleaning.max_out_of_scale_share`` of a construct's answers lie outside
    its scale (more means the scale or the missing codes are wrong).

    Parameters
    ----------
    config : mapping
        A validated config.
    raw : pandas.DataFrame
        The survey from :func:`trustseg.survey.io.read_survey`.
    source : str
        How to name the file in messages, e.g. ``"data file 'survey.csv'"``.
    single_answer_families : collection of str
        The outcome families made for one answer (a rating item, a yes/no, a
        count): an analysis fitting one of them is not warned about its
        single-item outcome.  The model layer knows them
        (``trustseg.stages.families.SINGLE_ANSWER_FAMILIES``); this layer may not import it.

    Returns
    -------
    list of str
        Warnings for the researcher: findings that do not stop the run, such
        as an analysis whose outcome is a single rating item.

    Raises
    ------
    TrustsegError
        ConfigError or DataError with one message for the researcher.
    """
    withheld = personal_headers(raw.columns)
    if any(c not in raw.columns for c in required_columns(config)):
        _check_header_row(config, raw, source)
    check_columns(config, raw.columns, source, hint=_sheet_hint(config, raw, source), withheld=withheld)
    # personal data before any check that quotes a value
    check_personal_data(raw, dict(config))
    _check_formulas(config, raw, source)
    problems = (_decimal_comma_problems(config, raw, source) + _analysis_type_problems(config, raw, source)
                + _inexact_problems(config, raw) + _duration_problems(config, raw))
    if problems:
        raise DataError("\n  - ".join([f"{len(problems)} column(s) of {source} cannot be used as numbers:",
                                       *problems]))
    _check_ids(config, raw, source)
    if len(raw) == 1:
        raise DataError(
            f"{source} holds only one respondent (one data row): a segmentation needs many respondents, "
            "a few dozen at the very least. Check that data.path names the complete survey export."
        )
    _check_scales(config, raw, source)
    warnings = _check_profiles(config, raw, source)
    return warnings + _single_item_outcomes(config, raw, single_answer_families)


def _check_header_row(config: Mapping, raw, source: str) -> None:
    """Stop with data.header_row when the names the config uses sit in a row below the header read."""
    data = config.get("data") or {}
    source_path = raw.attrs.get("source")
    if not source_path:
        return
    names = [c for c in required_columns(config) if c not in raw.columns]
    row = locate_header_row(source_path, data, required_columns(config))
    read = data.get("header_row") or 1
    if row is None or row == read:
        return
    raise ConfigError(
        f"{source}: the column names the config uses are in row {row} of the file, but the header was read from "
        f"row {read}, so {len(names)} of them seem to be missing: the rows above row {row} hold a title or a note. "
        f"Set data.header_row: {row} in the config (the rows above it are then skipped)."
    )


def _check_formulas(config: Mapping, raw, source: str) -> None:
    """Stop when a column the config uses holds Excel formulas saved without their values (read as empty)."""
    formulas = raw.attrs.get("uncached_formulas") or {}
    used = {c: key for c, key in required_columns(config).items() if c in formulas}
    if not used:
        return
    listed = "; ".join(f"column '{c}' (config key '{key}'): {len(formulas[c])} cell(s), sheet rows "
                       f"{_rows(formulas[c])}" for c, key in used.items())
    raise DataError(
        f"{source}: cells hold formulas without stored values, which read as empty: {listed}. The workbook was "
        "saved by a program that does not compute formulas (a script or an exporter): open and save the file in "
        "Excel (or LibreOffice), or export it as CSV, and run again."
    )


def _rows(rows: list) -> str:
    return ", ".join(map(str, rows[:5])) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


def _inexact_problems(config: Mapping, raw) -> list[str]:
    """Columns used as numbers that hold numbers too long for a computer number to hold exactly."""
    inexact = raw.attrs.get("inexact_numbers") or {}
    needed = dict(_numeric_columns(config))
    for variable in config.get("profile") or []:
        needed.setdefault(variable, "profile")
    codes = code_sets(list((config.get("data") or {}).get("missing_codes") or []))
    problems = []
    for column, key in needed.items():
        if column not in inexact or column not in raw:
            continue
        missing = missing_code_mask(raw[column], codes).to_numpy()
        rows = [r for r in inexact[column] if not missing[r - 1]]
        if rows:
            problems.append(
                f"column '{column}' (config key '{key}') holds numbers with more digits than a computer number "
                f"holds exactly (more than 15 significant digits, or beyond 1.8e308) in {len(rows)} row(s), data "
                f"rows {_rows(rows)}. A number that long is an identifier or a code, not an answer or a measurement: "
                "if it means 'missing', add it to data.missing_codes; otherwise correct those cells"
            )
    return problems


def _duration_problems(config: Mapping, raw) -> list[str]:
    """A duration column that holds text would switch the speeders rule off without a word."""

    column = ((config.get("cleaning") or {}).get("speeders") or {}).get("duration_column")
    if not column or column not in raw or column in (raw.attrs.get("decimal_comma_columns") or {}):
        return []
    codes = code_sets(list((config.get("data") or {}).get("missing_codes") or []))
    values = raw[column].where(~missing_code_mask(raw[column], codes)).dropna()
    text = values[as_numbers(values).isna()]
    if text.empty:
        return []
    examples = ", ".join(repr(v) for v in list(dict.fromkeys(text.astype(str)))[:3])
    return [f"column '{column}' (config key 'cleaning.speeders.duration_column') holds text in {len(text)} of its "
            f"{len(values)} answers, e.g. {examples}: the speeders rule needs each respondent's time in seconds as a "
            "number, and would flag nobody. Convert the column to seconds in the file (00:05:30 is 330), add "
            "text meaning 'missing' to data.missing_codes, or switch the rule off (cleaning.speeders.min_seconds: "
            "null and duration_column: null)"]


_TYPICAL_CODES = (-999, -99, -98, -97, -9, -8, -7, 97, 98, 99, 999, 9999)
#: more distinct answers than this, and than half the answers, make a profile variable free text
_FREE_TEXT_LEVELS = 50


def _check_profiles(config: Mapping, raw, source: str) -> list[str]:
    """Free text as a profile variable stops the run; missing codes left in profile or analysis columns stop it
    too (or warn, with cleaning.suspected_missing_codes: warn)."""
    import pandas as pd

    from trustseg.survey.init_config import suspected_missing_codes

    constructs = config.get("constructs") or {}
    codes = code_sets(list((config.get("data") or {}).get("missing_codes") or []))
    profile = [v for v in config.get("profile") or [] if v not in constructs and v in raw]
    problems, suspects = [], []
    for variable in profile:
        values = raw[variable].where(~missing_code_mask(raw[variable], codes)).dropna()
        numbers = pd.to_numeric(values, errors="coerce")
        distinct = values.astype(str).nunique()
        if numbers.isna().any() and distinct > _FREE_TEXT_LEVELS and distinct > len(values) / 2:
            problems.append(
                f"profile variable '{variable}' holds free text ({distinct} distinct answers among {len(values)}): "
                "a profile table compares segments on categories (an age band, a region, a membership type) or "
                "numbers, and free text may hold names or contact details. Remove it from 'profile', or code its "
                "answers into a few categories in a column of its own"
            )
    variables = {v: "profile" for v in profile}
    for column, key in _numeric_columns(config).items():
        if column in raw and key.startswith("analyses."):  # weights at or below zero are refused as such
            variables.setdefault(column, key)
    for column, key in variables.items():
        values = raw[column].where(~missing_code_mask(raw[column], codes))
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.notna().sum() == 0:
            continue
        # a column of numbers: codes apart from its values; text categories: any code among them ("-99")
        found = (suspected_missing_codes(numbers) if numbers.notna().sum() == values.notna().sum()
                 else [c for c in _TYPICAL_CODES if (numbers == c).any()])
        if found:
            counts = ", ".join(f"{c:g} in {int((numbers == c).sum())} rows" for c in found)
            suspects.append(
                f"column '{column}' (config key '{key}') holds {counts}, apart from its other values: "
                f"a code for 'missing' (don't know, refused) that data.missing_codes does not list, which would "
                f"reach the results as a real value (a mean pulled towards it, a category of its own). Add "
                f"{'it' if len(found) == 1 else 'them'} to data.missing_codes, e.g. missing_codes: "
                f"{json.dumps(sorted({_number(c) for c in found}))}"
            )
    action = (config.get("cleaning") or {}).get("suspected_missing_codes", "stop")
    if action == "stop":
        problems += [s + "; if they are real values, set cleaning.suspected_missing_codes: warn" for s in suspects]
        suspects = []
    if problems:
        raise DataError("\n  - ".join([f"{len(problems)} problem(s) with the profile and analysis variables of "
                                       f"{source}:", *problems]) + ".")
    return [s + "." for s in suspects]


def _check_scales(config: Mapping, raw, source: str) -> None:
    """Stop when more of a construct's answers lie outside its scale than typos explain."""
    limit = float((config.get("cleaning") or {}).get("max_out_of_scale_share", 0.01))
    problems = []
    for row in out_of_scale_answers(raw, dict(config)).itertuples(index=False):
        if not row.answers or row.outside <= limit * row.answers:
            continue
        lo, hi = row.scale_low, row.scale_high
        outside = list(row.outside_values)
        values = ", ".join(f"{v:g} ({k} answers)" for v, k in list(row.outside_values.items())[:6])
        more = f" and {len(outside) - 6} more values" if len(outside) > 6 else ""
        # whole numbers up to 10 are answers on a longer scale; the rest (-99, 99, 999) look like missing codes
        on_a_scale = [v for v in outside if float(v).is_integer() and 0 <= v <= max(10, hi)]
        codes = [v for v in outside if v not in on_a_scale] or outside
        fixes = []
        if on_a_scale:
            scale = [_number(min(lo, *on_a_scale)), _number(max(hi, *on_a_scale))]
            fixes.append(f"if the items are answered on a {scale[0]}-{scale[1]} scale, set "
                         f"constructs.{row.construct}.scale: {json.dumps(scale)}")
        fixes.append(f"if {', '.join(f'{v:g}' for v in codes[:5])} mean{'s' if len(codes) == 1 else ''} 'missing' "
                     f"(e.g. 'don't know'), add {'it' if len(codes) == 1 else 'them'} to data.missing_codes, e.g. "
                     f"missing_codes: {json.dumps(sorted(_number(v) for v in codes))}")
        problems.append(
            f"construct '{row.construct}' is declared on the scale [{lo:g}, {hi:g}] (constructs.{row.construct}."
            f"scale), but its answers in {source} run from {row.observed_low:g} to {row.observed_high:g}: "
            f"{row.outside} of its {row.answers} answers ({row.outside / row.answers:.1%}), from {row.respondents} "
            f"respondents, lie outside the scale: {values}{more}. The cleaning would set them all to missing. "
            + "; ".join(fixes)[0].upper() + "; ".join(fixes)[1:] + "."
        )
    if problems:
        raise ConfigError(
            "\n  - ".join([f"the answers of {len(problems)} construct(s) do not fit the declared scale:", *problems])
            + f"\nUp to {limit:.1%} of a construct's answers may lie outside its scale "
            "(cleaning.max_out_of_scale_share), as typing slips do; more means the scale or the missing codes are "
            "wrong."
        )


def _number(value: float):
    """A whole number as an int (for a YAML snippet in a message), else the float."""
    return int(value) if float(value).is_integer() else float(value)


def _single_item_outcomes(config: Mapping, raw, single_answer_families: Collection[str]) -> list[str]:
    """Warnings for analyses whose outcome is one rating item (a one-item construct or a raw rating column)."""
    import pandas as pd

    constructs = config.get("constructs") or {}
    item_of = {item: name for name, spec in constructs.items() for item in spec["items"]}
    codes = {c for c in (config.get("data") or {}).get("missing_codes") or [] if isinstance(c, (int, float))}
    warnings = []
    outcomes = [(name, analysis, outcome) for name, analysis in (config.get("analyses") or {}).items()
                for outcome, _ in analysis_equations(analysis)]
    for name, analysis, outcome in outcomes:
        if analysis.get("family", "auto") in single_answer_families:
            continue  # a family made for a single answer: nothing to warn about
        if outcome in constructs:
            if len(constructs[outcome]["items"]) != 1:
                continue
            what = (f"construct '{outcome}', which has a single item ('{constructs[outcome]['items'][0]}') on the "
                    f"scale {list(constructs[outcome]['scale'])}")
        elif outcome in raw:
            values = pd.to_numeric(raw[outcome], errors="coerce").dropna()
            values = values[~values.isin(codes)]
            whole = bool(len(values)) and bool((values == values.round()).all())
            if outcome not in item_of and not (whole and values.nunique() <= _MAX_RATING_LEVELS):
                continue  # a measured quantity (spend, visits), not a rating
            what = (f"column '{outcome}', a single rating item with {values.nunique()} distinct answers"
                    + (f" (an item of construct '{item_of[outcome]}')" if outcome in item_of else ""))
        else:
            continue
        warnings.append(
            f"analysis '{name}' explains the {what} (analyses.{name}.outcome). One rating item is a coarse outcome: "
            "respondents share a handful of answer values, and the mixture tends to find 'segments' of respondents "
            "who gave the same answer, with residual variances on the floor. Fit it as one rating item "
            f"(analyses.{name}.family: ordinal), or use a score over several items: list the items that measure "
            "the outcome in one construct and use it as the outcome."
        )
    return warnings


def _sheet_hint(config: Mapping, raw, source: str) -> str | None:
    """For a workbook of several sheets: raise when the named columns are on another sheet, else name the sheets."""
    sheets = list(raw.attrs.get("sheet_names") or [])
    columns = set(map(str, raw.columns))
    missing = [c for c in required_columns(config) if c not in columns]
    if len(sheets) < 2 or not missing:
        return None
    read = raw.attrs.get("sheet")
    try:
        headers = excel_sheet_columns(raw.attrs["source"])
    except Exception:  # the hint is a courtesy; the missing columns are the error
        headers = {}
    found = {name: [c for c in missing if c in set(cols)] for name, cols in headers.items() if name != read}
    best = max(found, key=lambda name: len(found[name])) if found else None
    listed = ", ".join(repr(n) for n in sheets)
    if best is not None and 2 * len(found[best]) >= len(missing):
        still = [c for c in missing if c not in found[best]]
        raise ConfigError(
            f"{source}: the columns the config names are on sheet {best!r}, not on sheet {read!r}, the one "
            f"config key data.sheet ({(config.get('data') or {}).get('sheet', 0)!r}) selects: sheet {best!r} "
            f"has {len(found[best])} of the {len(missing)} columns sheet {read!r} lacks. The "
            f"workbook's sheets are {listed}. Set data.sheet: {json.dumps(best)} in the config."
            + (f" Sheet {best!r} lacks {', '.join(map(repr, still[:10]))}{' ...' if len(still) > 10 else ''} too."
               if still else "")
        )
    return (
        f"These columns were read from sheet {read!r} of the workbook, whose sheets are {listed}. If the data are "
        "on another sheet, set data.sheet to its name; otherwise fix the names in the config (they are case-sensitive)."
    )


def _numeric_columns(config: Mapping) -> dict[str, str]:
    """Raw columns that must hold numbers, mapped to the config key that names them."""
    data = config.get("data") or {}
    needed: dict[str, str] = {}
    for name, spec in (config.get("constructs") or {}).items():
        for item in spec["items"]:
            needed.setdefault(item, f"constructs.{name}.items")
    for name, analysis in (config.get("analyses") or {}).items():
        for role, variables in analysis_roles(analysis):
            for variable in variables:
                if variable not in (config.get("constructs") or {}):
                    needed.setdefault(variable, f"analyses.{name}.{role}")
    if data.get("weight_column"):
        needed.setdefault(data["weight_column"], "data.weight_column")
    duration = ((config.get("cleaning") or {}).get("speeders") or {}).get("duration_column")
    if duration:
        needed.setdefault(duration, "cleaning.speeders.duration_column")
    return needed


def _decimal_comma_problems(config: Mapping, raw, source: str) -> list[str]:
    commas = raw.attrs.get("decimal_comma_columns") or {}
    hits = {col: key for col, key in _numeric_columns(config).items() if col in commas}
    if not hits:
        return []
    problems = [f"column '{col}' (named in config key '{key}') holds numbers written with a decimal comma, "
                f"e.g. {commas[col]!r}" for col, key in hits.items()]
    example = next(iter(commas[c] for c in hits))
    problems[-1] += (
        f".\nSet data.decimal: \",\" in the config so that {example!r} is read as {example.replace(',', '.')}, "
        "or save the file with decimal points."
    )
    return problems


def _analysis_type_problems(config: Mapping, raw, source: str) -> list[str]:
    """Outcomes and predictors that are raw columns holding text (constructs and items are scored in cleaning)."""

    constructs = config.get("constructs") or {}
    items = {item for spec in constructs.values() for item in spec["items"]}
    commas = raw.attrs.get("decimal_comma_columns") or {}
    codes = (config.get("data") or {}).get("missing_codes") or []
    text_codes = {str(c).strip().casefold() for c in codes}
    file_labels = raw.attrs.get("value_labels") or {}
    problems = []
    for name, analysis in (config.get("analyses") or {}).items():
        for role, variables in analysis_roles(analysis):
            for variable in variables:
                if variable in constructs or variable in items or variable in commas or variable not in raw:
                    continue
                present = raw[variable].dropna()
                present = present[~present.astype(str).str.strip().str.casefold().isin(text_codes)]
                numbers = as_numbers(present)
                labels = file_labels.get(variable) or {}
                as_what = f"a variable of {role}" if role.startswith("equations") else f"its {role.rstrip('s')}"
                uses = f"analysis '{name}' uses column '{variable}' as {as_what} (config key " \
                       f"'analyses.{name}.{role}')"
                if numbers.isna().any():
                    examples = list(dict.fromkeys(present[numbers.isna()].astype(str)))[:3]
                    problems.append(
                        f"{uses}, but it holds text, e.g. {', '.join(map(repr, examples))}; a regression needs "
                        "numbers. Use a construct or a numeric column instead; for a category, add a 0/1 column "
                        "to the file."
                    )
                elif (labels and variable in (config.get("profile") or []) and len(numbers)
                      and numbers.isin([k for k in labels if isinstance(k, (int, float))]).all()):
                    problems.append(
                        f"{uses}, but it is also in 'profile', where the value labels stored in the file replace "
                        f"its codes with text. Use a one-item construct of it in the analysis instead (constructs: "
                        f"{{{variable}_score: {{items: [{variable}], scale: [LOWEST, HIGHEST]}}}})."
                    )
    return problems


def _check_ids(config: Mapping, raw, source: str) -> None:
    """The id column must identify respondents when repeated ids are dropped as duplicates."""
    data, cleaning = config.get("data") or {}, config.get("cleaning") or {}
    column = data.get("id_column")
    if not column or column not in raw or not cleaning.get("duplicates", True):
        return
    if cleaning.get("flagged_action", "drop") != "drop":
        return
    ids = raw[column].dropna().astype(str).str.strip()
    ids = ids[ids != ""]
    distinct = ids.nunique()
    if len(ids) < 2 or distinct > len(ids) / 2:
        return
    counts = ids.value_counts()
    repeated = counts[counts > 1]
    if personal_ids(ids):  # never quote an id that holds personal data
        shown = ", ".join(f"{n} rows" for n in repeated.head(5))
    else:
        shown = ", ".join(f"{value!r} ({n} rows)" for value, n in repeated.head(5).items())
    more = f" and {len(repeated) - 5} more" if len(repeated) > 5 else ""
    raise DataError(
        f"data.id_column '{column}' does not identify respondents in {source}: its {len(ids)} ids hold only "
        f"{distinct} distinct value(s), so cleaning.duplicates would keep the first row of each and drop "
        f"{len(ids) - distinct} of the {len(raw)} rows. Repeated ids: {shown}{more}. Set data.id_column to the "
        "column with one id per respondent, or to null to number the rows 1..n; if the rows really are repeats, "
        "set cleaning.duplicates: false."
    )
