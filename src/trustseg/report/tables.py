"""Write result tables as CSV, Markdown and LaTeX (booktabs).

Every table in ``results/`` is written three times from one DataFrame:

* ``<stem>.csv`` -- the data contract: full precision, original column names,
  UTF-8, no index.  Other stages and the notebooks read this file back.
* ``<stem>.md`` -- for people: caption line, rounded numbers, labelled and
  aligned columns (:func:`to_markdown`).
* ``<stem>.tex`` -- for the paper: a ``booktabs`` table with caption and label,
  rounded numbers, labelled columns and LaTeX special characters escaped
  (:func:`to_latex`).
  Non-ASCII text (accents, Chinese) is left as is; compile with XeLaTeX or
  LuaLaTeX (plus ``xeCJK``/``ctex`` for Chinese) when such text occurs.

All three are rendered in memory first and then written atomically (temporary
file in the same directory + :func:`os.replace`), so a failure never leaves a
half-written or mismatched set behind.  This module decides what a cell says
(rounding, p-values, labels); the layout and the LaTeX escaping are
:mod:`trustseg.render`'s, shared with the model summary.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from trustseg.render import latex_table, markdown_table

__all__ = [
    "write_table",
    "to_markdown",
    "to_latex",
    "format_p",
    "format_number",
    "atomic_write_text",
]

DEFAULT_DIGITS = 3

# Columns holding p-values get APA-style formatting ("<.001", ".042") instead of
# plain rounding; matched by name so callers need not list them.
_P_COLUMN = re.compile(r"^(p|p_value|p_holm|p_tost|p_zero|lr_p_value)$|(^p_)|(_p_value$)|(_p$)")

_BAD_LABEL = re.compile(r"[\\{}%#~^&$\s]")


# ---------------------------------------------------------------------------
# cell formatting
# ---------------------------------------------------------------------------


def format_p(p: float | None, digits: int = 3) -> str:
    """Format a p-value APA style: no leading zero, ``<.001`` below the floor.

    Parameters
    ----------
    p : float or None
        The p-value.  Missing values (None, NaN) give an empty string.
    digits : int, default 3
        Decimal places; the floor is ``10**-digits``.

    Returns
    -------
    str
        For example ``"<.001"``, ``".042"``, ``">.999"``.

    Examples
    --------
    >>> format_p(0.00002), format_p(0.0421), format_p(1.0)
    ('<.001', '.042', '>.999')
    """
    if p is None or pd.isna(p):
        return ""
    p = float(p)
    # Why the tolerance: p-values computed as 1 - cdf can overshoot by rounding.
    if not -1e-9 <= p <= 1.0 + 1e-9:
        raise ValueError(f"a p-value must lie in [0, 1], got {p!r}")
    floor = 10.0**-digits
    if p < floor:
        return "<" + f"{floor:.{digits}f}".lstrip("0")
    if round(p, digits) >= 1.0:
        return ">" + f"{1 - floor:.{digits}f}".lstrip("0")
    return f"{p:.{digits}f}".lstrip("0")


def format_number(value, digits: int = DEFAULT_DIGITS) -> str:
    """Format one cell for display: rounded floats, plain integers, blank for missing.

    Parameters
    ----------
    value : object
        Cell value.  Floats are rounded to ``digits`` places (``-0.000`` becomes
        ``0.000``), integers printed as is, booleans as ``yes``/``no``, missing
        values (None, NaN, NA) as an empty string, anything else via ``str``.
    digits : int, default 3
        Decimal places for floats.

    Returns
    -------
    str
    """
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):  # lists and other non-scalars
        pass
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = f"{float(value):.{digits}f}"
        # Rounding a small negative to zero must not print a minus sign.
        if text.startswith("-") and float(text) == 0.0:
            text = text[1:]
        return text
    return str(value)


def _is_p_column(name) -> bool:
    return isinstance(name, str) and bool(_P_COLUMN.search(name))


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _resolve_digits(columns, digits: Mapping | int) -> dict:
    if isinstance(digits, Mapping):
        unknown = [c for c in digits if c not in columns]
        if unknown:
            raise ValueError(f"digits names columns not in the table: {unknown}")
        return {c: int(digits.get(c, DEFAULT_DIGITS)) for c in columns}
    if isinstance(digits, bool) or not isinstance(digits, int | np.integer) or digits < 0:
        raise ValueError(f"digits must be a non-negative int or a dict, got {digits!r}")
    return {c: int(digits) for c in columns}


def _resolve_labels(columns, column_labels: Mapping | None) -> list[str]:
    column_labels = dict(column_labels or {})
    unknown = [c for c in column_labels if c not in columns]
    if unknown:
        raise ValueError(f"column_labels names columns not in the table: {unknown}")
    return [str(column_labels.get(c, c)) for c in columns]


def _prepare(df: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if df.columns.duplicated().any():
        dup = list(df.columns[df.columns.duplicated()])
        raise ValueError(f"table has duplicate column names: {dup}")
    # A meaningful (named) index is data and is kept as columns; a plain
    # positional index is dropped.
    if any(name is not None for name in df.index.names):
        df = df.reset_index()
    return df


def _format_cells(df: pd.DataFrame, digits: Mapping | int) -> tuple[list[list[str]], list[bool]]:
    """Return formatted cell strings (row-major) and a numeric flag per column."""
    per_column = _resolve_digits(list(df.columns), digits)
    explicit = set(digits) if isinstance(digits, Mapping) else set()
    columns, numeric = [], []
    for col in df.columns:
        series = df[col]
        d = per_column[col]
        if _is_p_column(col) and col not in explicit and _is_numeric(series):
            columns.append([format_p(v) for v in series])
        else:
            columns.append([format_number(v, d) for v in series])
        numeric.append(_is_numeric(series))
    rows = [list(r) for r in zip(*columns)] if columns else []
    return rows, numeric


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------


def to_markdown(
    df: pd.DataFrame,
    digits: Mapping | int = DEFAULT_DIGITS,
    column_labels: Mapping | None = None,
) -> str:
    """Render a DataFrame as a GitHub/pandoc pipe table.

    Numeric columns are right-aligned (``---:``), text columns left-aligned.
    Cells are padded so the columns line up in a monospace editor, counting
    Chinese and other wide characters as two columns.

    Parameters
    ----------
    df : DataFrame
        The table.  A named index is included as leading column(s).
    digits : int or dict, default 3
        Decimal places for all float columns, or per column (unlisted columns
        get 3).  p-value columns (``p_value``, ``p_holm``, ``p_*``...) are
        formatted with :func:`format_p` unless listed in a ``digits`` dict.
    column_labels : dict, optional
        Display name per column; unlisted columns keep their name.

    Returns
    -------
    str
        The table, ending with a newline.
    """
    df = _prepare(df)
    labels = _resolve_labels(list(df.columns), column_labels)
    rows, numeric = _format_cells(df, digits)
    return markdown_table(labels, rows, numeric)


# ---------------------------------------------------------------------------
# LaTeX
# ---------------------------------------------------------------------------


def _check_label(label: str) -> str:
    if not label or _BAD_LABEL.search(label):
        raise ValueError(
            f"LaTeX label {label!r} must be non-empty and free of spaces and \\ {{ }} % # ~ ^ & $"
        )
    return label


def to_latex(
    df: pd.DataFrame,
    caption: str,
    label: str,
    digits: Mapping | int = DEFAULT_DIGITS,
    column_labels: Mapping | None = None,
) -> str:
    """Render a DataFrame as a LaTeX ``booktabs`` table float.

    Parameters
    ----------
    df : DataFrame
        The table.  A named index is included as leading column(s).
    caption : str
        Caption text (escaped).
    label : str
        ``\\label`` key, e.g. ``"tab:segments"`` (not escaped; must not contain
        spaces or LaTeX special characters other than ``_`` and ``:``).
    digits : int or dict, default 3
        As in :func:`to_markdown`.
    column_labels : dict, optional
        Display name per column (escaped).

    Returns
    -------
    str
        A ``table`` environment; needs ``\\usepackage{booktabs}``.
    """
    df = _prepare(df)
    label = _check_label(label)
    labels = _resolve_labels(list(df.columns), column_labels)
    rows, numeric = _format_cells(df, digits)
    spec = "".join("r" if num else "l" for num in numeric) or "l"
    return latex_table(labels, rows, spec, caption=caption, label=label, numbers=numeric)


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------


def atomic_write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (temp file in the same directory + rename).

    Parameters
    ----------
    path : Path
        Destination; its directory is created if needed.
    text : str
        Content.
    encoding : str, default "utf-8"

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are shared files
        os.replace(tmp, path)
    except BaseException:
        # Why: never leave a temp file behind, whatever went wrong.
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _sibling(stem: Path, suffix: str) -> Path:
    # Why not with_suffix: stems such as "k2.5_fit" contain dots.
    return stem.with_name(stem.name + suffix)


def write_table(
    df: pd.DataFrame,
    stem: Path,
    caption: str,
    label: str | None = None,
    digits: Mapping | int = DEFAULT_DIGITS,
    column_labels: Mapping | None = None,
) -> list[Path]:
    """Write a table as ``stem.csv``, ``stem.md`` and ``stem.tex``.

    Parameters
    ----------
    df : DataFrame
        The table.  A named index is written as leading column(s); a plain
        positional index is dropped.
    stem : Path
        Output path without extension, e.g. ``results/main/segments``.
        Parent directories are created.
    caption : str
        Caption: the first line of the Markdown file and the LaTeX
        ``\\caption``.
    label : str, optional
        LaTeX ``\\label``; defaults to ``"tab:" + stem.name``.
    digits : int or dict, default 3
        Decimal places in the Markdown and LaTeX versions, for every float
        column or per column (unlisted columns get 3).  p-value columns are
        formatted with :func:`format_p` unless listed in a dict.  The CSV is
        never rounded.
    column_labels : dict, optional
        Display names for the Markdown and LaTeX versions.  The CSV keeps the
        original column names because other code reads it.

    Returns
    -------
    list of Path
        ``[stem.csv, stem.md, stem.tex]``.

    Raises
    ------
    ValueError
        If ``caption`` is empty, ``digits``/``column_labels`` name unknown
        columns, the columns are not unique or the label is not a valid key.
    """
    stem = Path(stem)
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError("write_table needs a non-empty caption")
    label = label if label is not None else "tab:" + re.sub(r"[^A-Za-z0-9_:.-]", "-", stem.name)
    table = _prepare(df)
    # Render everything before touching the disk, so a formatting error leaves
    # no partial set of files.
    csv_text = table.to_csv(index=False, lineterminator="\n")
    md_text = caption.strip() + "\n\n" + to_markdown(table, digits, column_labels)
    tex_text = to_latex(table, caption.strip(), label, digits, column_labels)
    paths = [_sibling(stem, ".csv"), _sibling(stem, ".md"), _sibling(stem, ".tex")]
    for path, text in zip(paths, (csv_text, md_text, tex_text)):
        atomic_write_text(path, text)
    return paths
