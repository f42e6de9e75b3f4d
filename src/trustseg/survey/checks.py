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
from collections.abc import Mapping

from trustseg.config import analysis_equations, analysis_roles, check_columns, required_columns
from trustseg.errors import ConfigError, DataError
from trustseg.survey.cleaning import out_of_scale_answers
from trustseg.survey.io import excel_sheet_columns

# A raw outcome column with at most this many distinct whole-number answers is read as one rating item.
_MAX_RATING_LEVELS = 11


def check_survey(config: Mapping, raw, source: str) -> list[str]:
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
    check_columns(config, raw.columns, source, hint=_sheet_hint(config, raw, source))
    problems = _decimal_comma_problems(config, raw, source) + _analysis_type_problems(config, raw, source)
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
    return _single_item_outcomes(config, raw)


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


def _single_item_outcomes(config: Mapping, raw) -> list[str]:
    """Warnings for analyses whose outcome is one rating item (a one-item construct or a raw rating column)."""
    import pandas as pd

    constructs = config.get("constructs") or {}
    item_of = {item: name for name, spec in constructs.items() for item in spec["items"]}
    codes = {c for c in (config.get("data") or {}).get("missing_codes") or [] if isinstance(c, (int, float))}
    warnings = []
    outcomes = [(name, analysis, outcome) for name, analysis in (config.get("analyses") or {}).items()
                for outcome, _ in analysis_equations(analysis)]
    for name, analysis, outcome in outcomes:
        if analysis.get("family", "auto") in ("ordinal", "binomial", "poisson"):
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
    import pandas as pd

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
                numbers = pd.to_numeric(present, errors="coerce")
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
    shown = ", ".join(f"{value!r} ({n} rows)" for value, n in repeated.head(5).items())
    more = f" and {len(repeated) - 5} more" if len(repeated) > 5 else ""
    raise DataError(
        f"data.id_column '{column}' does not identify respondents in {source}: its {len(ids)} ids hold only "
        f"{distinct} distinct value(s), so cleaning.duplicates would keep the first row of each and drop "
        f"{len(ids) - distinct} of the {len(raw)} rows. Repeated ids: {shown}{more}. Set data.id_column to the "
        "column with one id per respondent, or to null to number the rows 1..n; if the rows really are repeats, "
        "set cleaning.duplicates: false."
    )
