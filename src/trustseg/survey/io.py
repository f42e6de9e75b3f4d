"""Read a raw survey file of any supported format into a DataFrame.

Supported: CSV/TSV/TXT (delimiter sniffed, encoding detected), Qualtrics CSV
exports (three header rows), Excel (.xlsx/.xls), SPSS (.sav/.zsav), Stata
(.dta) and Parquet.  The raw file is only ever opened for reading.

Metadata travel in ``DataFrame.attrs``:

``attrs["source"]``
    The path that was read.
``attrs["format"]``
    The format that was used (csv, tsv, qualtrics, excel, spss, stata, parquet).
``attrs["value_labels"]``
    ``{column: {code: label}}`` from SPSS/Stata files (empty otherwise).
``attrs["question_text"]``
    ``{column: question text}`` from Qualtrics exports and SPSS/Stata
    variable labels (empty otherwise).
``attrs["renamed_columns"]``
    ``{new name: original header}`` for blank header cells (``unnamed_3``).
``attrs["decimal_comma_columns"]``
    ``{column: example}`` for text columns that hold numbers written with a
    decimal comma (``4,5``), when ``data.decimal`` is ``"."``.
``attrs["sheet"]``, ``attrs["sheet_names"]``
    The sheet that was read and every sheet of an Excel workbook.
``attrs["inexact_numbers"]``
    ``{column: [data rows]}`` for columns of numbers that a computer number
    cannot hold exactly (more than 15 significant digits, or beyond
    ±1.8e308): such a column is kept as text, exactly as written, and the
    start-up checks stop a run that would use it as numbers.
``attrs["uncached_formulas"]``
    ``{column: [sheet rows]}`` for Excel cells that hold a formula saved
    without its value (read as empty).

Identifiers are text: the column ``data.id_column`` names is read as
strings, exactly as written (``007``, ``12345678901234567890``, ``1e5``), in
every format.  Other columns are numbers only when every value is a number
written in decimal (``4``, ``-0.5``, ``1e300``): ``inf``, ``NaN``, ``1_000``
and ``0x1F`` are text, and a whole-number column becomes integers only when
every value fits, so no value is ever silently rounded or wrapped around.

A header that occurs twice is an error (:class:`~trustseg.errors.DataError`
naming it and its column numbers): the config could not tell the two apart.
"""

from __future__ import annotations

import csv
import io as _stdio
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pandas as pd

from trustseg.config import data_path_problem, delimiter_problem
from trustseg.errors import ConfigError, DataError
from trustseg.survey.excel import excel_sheet_columns, excel_sheet_sizes, header_text, uncached_formulas

__all__ = [
    "read_survey", "detect_format", "decode_text", "excel_sheet_columns", "excel_sheet_sizes", "value_label_order",
    "check_regular_file", "locate_header_row",
]

_EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".xls": "excel",
    ".sav": "spss",
    ".zsav": "spss",
    ".dta": "stata",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_FORMATS = {"auto", "csv", "tsv", "excel", "spss", "stata", "parquet", "qualtrics"}
_DELIMITERS = [",", ";", "\t", "|"]
_DELIMITER_NAMES = {",": "comma ','", ";": "semicolon ';'", "\t": "tab '\\t'", "|": "pipe '|'"}
_IMPORT_ID = re.compile(r'^\s*\{\s*"ImportId"\s*:', re.IGNORECASE)
# Zero-padded codes ("007", "0123") are identifiers, not numbers: keep them as text.
_ZERO_PADDED = re.compile(r"^[+-]?0\d")
# A number written with a decimal comma ("4,5", "-0,25").
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
# A number as a survey file writes one: digits, a point, an exponent ("inf", "NaN", "0x1F" are text).
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_WHOLE = re.compile(r"^[+-]?\d+$")
# Every whole number up to 2**53 is held exactly by a float64, as are 15 significant decimal digits.
_EXACT_WHOLE = 2**53
_INT64_MAX = 2**63 - 1


def read_survey(path, data_cfg: dict | None = None) -> pd.DataFrame:
    """Read a raw survey file.

    Parameters
    ----------
    path : str or path-like
        The survey file.  It is opened read-only and never changed.
    data_cfg : dict, optional
        The ``data`` section of the config (keys ``format``, ``encoding``,
        ``delimiter``, ``decimal``, ``sheet``; others are ignored here).
        Missing keys take the schema defaults.

    Returns
    -------
    pandas.DataFrame
        The raw table: one row per respondent, column names as strings,
        values as read (numbers where a whole column is numeric, text
        otherwise, empty cells missing).  Metadata are in ``attrs`` (see the
        module docstring).

    Raises
    ------
    DataError
        The file is missing, empty, in an unknown format or encoding, has
        ragged rows or a repeated header, or seems to use another delimiter
        than the one set.
    """
    cfg = dict(data_cfg or {})
    path = check_regular_file(path)
    fmt = detect_format(path, cfg.get("format", "auto") or "auto")
    decimal = cfg.get("decimal") or "."
    if decimal not in (".", ","):
        raise ConfigError(f"data.decimal: {decimal!r} is not a decimal separator; use '.' or ','.")
    header_row = _header_row(cfg, fmt)
    if fmt in ("csv", "tsv", "qualtrics"):
        df = _read_text(path, cfg, fmt, decimal, header_row, keep=cfg.get("id_column"))
    elif fmt == "excel":
        df = _read_excel(path, cfg.get("sheet", 0), decimal, header_row)
    elif fmt in ("spss", "stata"):
        df = _read_labelled(path, fmt)
    else:
        df = _read_parquet(path)
    if cfg.get("id_column") and cfg["id_column"] in df.columns:
        df[cfg["id_column"]] = identifiers(df[cfg["id_column"]])
    _refuse_repeated_headers(path, list(df.columns))
    if df.shape[1] == 0:
        raise DataError(f"{path}: the file has no columns.")
    if df.shape[0] == 0:
        raise DataError(f"{path}: the file has a header but no data rows.")
    df.attrs.setdefault("value_labels", {})
    df.attrs.setdefault("question_text", {})
    df.attrs.setdefault("renamed_columns", {})
    df.attrs.setdefault("uncached_formulas", {})
    inexact = df.attrs.setdefault("inexact_numbers", {})
    inexact.pop(cfg.get("id_column"), None)  # ids are text anyway
    df.attrs["decimal_comma_columns"] = _decimal_comma_columns(df) if decimal == "." else {}
    df.attrs["source"] = str(path)
    df.attrs.setdefault("format", fmt)
    return df


def check_regular_file(path, what: str = "the survey file") -> Path:
    """``path`` as a Path when it is a regular file trustseg may read; else a DataError that quotes none of it.

    See :func:`trustseg.config.data_path_problem`.
    """
    problem = data_path_problem(path, what)
    if problem:
        raise DataError(f"{path}: {problem} Set data.path in the config to the survey file itself.")
    return Path(path)


def identifiers(col: pd.Series) -> pd.Series:
    """A column of respondent ids as text, exactly as the file holds them; empty cells missing.

    Whole numbers stored as numbers (Excel, SPSS, Stata, Parquet) are written
    without a decimal point (``12345``, not ``12345.0``).
    """
    def text(value):
        if value is None or (isinstance(value, float) and value != value):
            return None
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        text = str(value)
        return text if text.strip() else None

    return col.astype(object).map(text).astype("str").rename(col.name)


def _header_row(cfg: dict, fmt: str) -> int:
    row = cfg.get("header_row", 1)
    row = 1 if row is None else row
    if not isinstance(row, int) or isinstance(row, bool) or row < 1:
        raise ConfigError(f"data.header_row: {row!r} is not a row number; give the row of the file that holds "
                          "the column names, counting from 1.")
    if row != 1 and fmt not in ("csv", "tsv", "qualtrics", "excel"):
        raise ConfigError(f"data.header_row: {row} applies to CSV and Excel files; a {fmt} file stores its column "
                          "names itself. Remove the key.")
    return row


def detect_format(path, fmt: str = "auto") -> str:
    """Return the file format: the one set, or guessed from the file name.

    Parameters
    ----------
    path : path-like
        The survey file.
    fmt : str
        ``data.format`` from the config; ``auto`` guesses from the extension.

    Returns
    -------
    str
        One of csv, tsv, qualtrics, excel, spss, stata, parquet.  A CSV that
        turns out to be a Qualtrics export is recognised while reading.
    """
    path = Path(path)
    if fmt not in _FORMATS:
        raise ConfigError(f"data.format: {fmt!r} is not a known format; use one of {sorted(_FORMATS)}.")
    if fmt != "auto":
        return fmt
    ext = path.suffix.lower()
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    raise DataError(
        f"{path}: cannot tell the file format from the extension {ext or '(none)'!r}. "
        f"Rename the file to one of {sorted(_EXTENSIONS)} or set data.format."
    )


# ----------------------------------------------------------------------------- text files


def decode_text(raw: bytes, encoding: str = "auto", source: str = "file") -> tuple[str, str]:
    """Decode the bytes of a text file.

    Parameters
    ----------
    raw : bytes
        File content.
    encoding : str
        An encoding name, or ``auto`` to try UTF-8 (with or without BOM),
        GB18030 (a superset of GBK) and Latin-1 in turn.
    source : str
        File name used in error messages.

    Returns
    -------
    (text, encoding) : tuple of str
        The decoded text and the encoding that was used.
    """
    if encoding and encoding.lower() != "auto":
        try:
            return raw.decode(encoding), encoding
        except LookupError:
            raise ConfigError(
                f"data.encoding: {encoding!r} is not a known text encoding. "
                "Use e.g. utf-8, gb18030, latin-1, or auto."
            ) from None
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise DataError(
                f"{source}: cannot be read as {encoding} (byte {exc.start}, line {line}). "
                "Set data.encoding to the encoding the file was saved in (e.g. utf-8, gb18030, latin-1) or auto."
            ) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    if b"\x00" in raw[:4096]:
        raise DataError(
            f"{source}: contains NUL bytes, so it is not a text file in a supported encoding "
            "(UTF-8, GB18030/GBK, Latin-1). Save it again as CSV UTF-8, or set data.format if it is "
            "an Excel, SPSS, Stata or Parquet file."
        )
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    if text is not None and _looks_chinese(text):
        return text, "gb18030"
    return raw.decode("latin-1"), "latin-1"


def _looks_chinese(text: str) -> bool:
    # Latin-1 bytes often also decode as GB18030, into rare or private-use
    # characters; genuine Chinese text uses mostly the common GB2312 set.
    non_ascii = [ch for ch in text if ord(ch) > 127]
    if not non_ascii:
        return True
    common = 0
    for ch in non_ascii:
        try:
            ch.encode("gb2312")
            common += 1
        except UnicodeEncodeError:
            pass
    return common / len(non_ascii) >= 0.95


def _sniff_delimiter(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()][:50]
    best, best_width = ",", 1
    for delim in _DELIMITERS:
        widths = [len(r) for r in csv.reader(lines, delimiter=delim)]
        if not widths or widths[0] < 2:
            continue
        consistent = sum(w == widths[0] for w in widths) / len(widths)
        if consistent >= 0.9 and widths[0] > best_width:
            best, best_width = delim, widths[0]
    return best


def delimiter_setting(delim):
    """``data.delimiter`` as one character (``"\\t"`` and ``tab`` mean a tab); a ConfigError for anything else."""
    if delim is None:
        return None
    problem = delimiter_problem(str(delim))
    if problem:
        raise ConfigError(problem)
    return "\t" if delim in ("\\t", "tab", "TAB") else delim


def _read_text(path: Path, cfg: dict, fmt: str, decimal: str = ".", header_row: int = 1,
               keep: str | None = None) -> pd.DataFrame:
    delim = delimiter_setting(cfg.get("delimiter"))
    with open(path, "rb") as fh:  # read-only: the raw file is never modified
        raw = fh.read()
    if not raw.strip():
        raise DataError(f"{path}: the file is empty. Check data.path, or export the survey again.")
    text, encoding = decode_text(raw, cfg.get("encoding", "auto") or "auto", str(path))
    sniffed = delim is None
    if sniffed:
        delim = "\t" if fmt == "tsv" else _sniff_delimiter(text)
    try:
        rows = list(csv.reader(_stdio.StringIO(text, newline=""), delimiter=delim))
    except csv.Error as exc:
        raise DataError(f"{path}: cannot be parsed as delimited text ({exc}).") from None
    if header_row > len(rows):
        raise ConfigError(f"data.header_row: {header_row}, but {path} has only {len(rows)} rows.")
    # Remember each row's line number before dropping blank lines, for messages.
    numbered = [(i + 1, r) for i, r in enumerate(rows) if i >= header_row - 1 and any(c.strip() for c in r)]
    if not numbered:
        raise DataError(f"{path}: the file is empty. Check data.path, or export the survey again.")
    header = numbered[0][1]
    body = numbered[1:]
    if len(header) == 1:
        others = [d for d in _DELIMITERS if d != delim and d in header[0]]
        if others:
            # the header is not quoted: a refused file's content is never printed
            how = "was set to" if not sniffed else "was sniffed as"
            raise DataError(
                f"{path}: every value landed in one column: the delimiter {how} "
                f"{_DELIMITER_NAMES.get(delim, repr(delim))}, but the header row contains "
                f"{_DELIMITER_NAMES[others[0]]}. Set data.delimiter: {others[0]!r} (or null to sniff it)."
            )
    width = len(header)
    ragged = [(line, len(r)) for line, r in body if len(r) != width]
    widths = pd.Series([len(r) for _, r in body], dtype="int64")
    if ragged and len(ragged) > len(body) / 2 and widths.value_counts().iloc[0] >= 0.8 * len(body):
        _refuse_title_row(path, numbered, width)
    if ragged:
        shown = ", ".join(f"line {ln} has {n}" for ln, n in ragged[:5])
        raise DataError(
            f"{path}: {len(ragged)} row(s) do not have the {width} fields of the header ({shown}). "
            f"Check that the delimiter ({_DELIMITER_NAMES.get(delim, repr(delim))}) is right "
            "(data.delimiter) and that text containing it is quoted, or repair those rows."
        )
    columns, renamed = _column_names(header, path)
    data_rows = [r for _, r in body]
    attrs: dict = {"encoding": encoding, "delimiter": delim, "renamed_columns": renamed}
    is_qualtrics = fmt == "qualtrics" or (
        len(data_rows) >= 2 and _share_import_ids(data_rows[1]) >= 0.5
    )
    if is_qualtrics:
        # Row 2 holds the question texts; row 3 (newer exports) the import ids.
        if not data_rows:
            raise DataError(f"{path}: a Qualtrics export needs question texts under the header.")
        attrs["question_text"] = dict(zip(columns, data_rows[0]))
        skip = 1
        if len(data_rows) >= 2 and _share_import_ids(data_rows[1]) >= 0.5:
            attrs["import_ids"] = {
                c: _import_id(v) for c, v in zip(columns, data_rows[1]) if _import_id(v)
            }
            skip = 2
        data_rows = data_rows[skip:]
        fmt = "qualtrics"
    if not data_rows:
        raise DataError(f"{path}: the file has a header but no data rows.")
    df = pd.DataFrame(data_rows, columns=columns, dtype=object)
    df, attrs["inexact_numbers"] = _converted(df, decimal, first_row=1, keep=keep)
    df.attrs.update(attrs)
    df.attrs["format"] = fmt
    return df


def _converted(df: pd.DataFrame, decimal: str, first_row: int, keep: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Each column through :func:`_convert_column` but ``keep`` (the ids, taken as written);
    ``{column: [data rows]}`` of numbers kept as text."""
    columns, inexact = {}, {}
    for name in df.columns:
        if name == keep:
            columns[name] = df[name].where(df[name].str.strip() != "", None).astype("str")
            continue
        converted = _convert_column(df[name], decimal)
        rows = converted.attrs.pop("inexact_rows", None)
        if rows:
            inexact[str(name)] = [r + first_row for r in rows]
        columns[name] = converted
    out = pd.DataFrame(columns, index=df.index)
    out.attrs = dict(df.attrs)
    return out, inexact


def _refuse_title_row(path: Path, numbered: list, width: int) -> None:
    """Most rows are wider (or narrower) than the first: a title or a note above the header; name its row."""
    common = int(pd.Series([len(r) for _, r in numbered[1:]]).mode().iloc[0])
    header_line = next(line for line, r in numbered if len(r) == common)
    raise DataError(
        f"{path}: the first row has {width} field(s) but most rows have {common}: the rows above row "
        f"{header_line} look like a title or a note above the header. Set data.header_row: {header_line} in the "
        "config (the rows above it are then skipped)."
    )


def _share_import_ids(row: list[str]) -> float:
    cells = [c for c in row if c.strip()]
    if not cells:
        return 0.0
    return sum(bool(_IMPORT_ID.match(c)) for c in cells) / len(cells)


def _import_id(cell: str) -> str | None:
    m = re.search(r'"ImportId"\s*:\s*"([^"]*)"', cell)
    return m.group(1) if m else None


def _column_names(header: list[str], path=None) -> tuple[list[str], dict]:
    """Column names from the header cells: stripped, blank ones named ``unnamed_<n>``.

    A name that occurs twice is a :class:`DataError` naming it and its 1-based
    column numbers: the config names columns, and could not tell the two apart.
    """
    names = [raw_name.strip().lstrip("\ufeff") for raw_name in header]
    _refuse_repeated_headers(path, names, header)
    out: list[str] = []
    renamed: dict = {}
    seen = set(names)
    for i, (raw_name, name) in enumerate(zip(header, names), start=1):
        if not name:
            base, k = f"unnamed_{i}", 2
            name = base
            while name in seen:
                name, k = f"{base}_{k}", k + 1
            seen.add(name)
        if name != raw_name:
            renamed[name] = raw_name
        out.append(name)
    return out, renamed


def _column_letters(number: int) -> str:
    """Spreadsheet letters of a 1-based column number (1 -> A, 28 -> AB)."""
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _refuse_repeated_headers(path, names: list, shown: list | None = None) -> None:
    positions: dict = {}
    for i, name in enumerate(names, start=1):
        if str(name).strip():
            positions.setdefault(str(name), []).append(i)
    repeated = {name: at for name, at in positions.items() if len(at) > 1}
    if not repeated:
        return
    shown = shown or names
    parts = []
    for name, at in repeated.items():
        headers = sorted({str(shown[i - 1]) for i in at})
        spelled = f"'{name}'" + (f" (written {', '.join(map(repr, headers))})" if headers != [name] else "")
        cells = [f"{i} ({_column_letters(i)})" for i in at]
        columns = ", ".join(cells[:-1]) + f" and {cells[-1]}"
        parts.append(f"{spelled} in columns {columns}")
    raise DataError(
        f"{path or 'the survey file'}: the header names {len(repeated)} column(s) more than once: "
        + "; ".join(parts)
        + ". The config names columns by their header, so it could not tell them apart. Rename the repeated "
        "columns in the file (e.g. add _a and _b) and use the new names in the config."
    )


def _convert_column(col: pd.Series, decimal: str = ".") -> pd.Series:
    """Empty cells to missing; a column of numbers to a numeric dtype, without losing a digit.

    With ``decimal=","`` a number written with a decimal comma (``4,5``) is
    read as ``4.5``.  A column whose numbers a float64 cannot hold exactly
    (20-digit codes, ``1e400``) stays text, exactly as written, and is listed
    in ``col.attrs["inexact_rows"]`` (0-based positions).
    """
    stripped = col.map(lambda v: v.strip() if isinstance(v, str) else v)
    stripped = stripped.where(stripped != "", None)
    if decimal == ",":
        stripped = stripped.map(lambda v: v.replace(",", ".") if isinstance(v, str) and _DECIMAL_COMMA.match(v) else v)
    present = stripped.dropna().astype(str)
    if present.empty:
        return pd.Series(float("nan"), index=col.index, name=col.name)
    if not present.str.match(_NUMBER).all() or present.str.match(_ZERO_PADDED).any():
        return stripped.astype("str")
    if present.str.match(_WHOLE).all() and len(present) == len(col):
        whole = [int(v) for v in present]
        if max(map(abs, whole)) <= _INT64_MAX:  # a complete column of whole numbers: int64 holds them exactly
            return pd.Series(whole, index=col.index, name=col.name, dtype="int64")
    inexact = [i for i, v in zip(present.index, present) if not _held_exactly(v)]
    if inexact:
        out = stripped.astype("str")
        out.attrs["inexact_rows"] = [int(col.index.get_loc(i)) for i in inexact]
        return out
    return pd.to_numeric(stripped, errors="coerce").astype("float64")


def _held_exactly(text: str) -> bool:
    """Whether a float64 holds the number written as ``text`` exactly (as the same decimal number)."""
    digits = text.lstrip("+-").split("e")[0].split("E")[0].replace(".", "").lstrip("0")
    if len(digits) <= 15 and not re.search(r"[eE][+-]?\d{3,}", text):
        return True  # 15 significant digits and a small exponent: every float64 keeps them
    try:
        value = float(text)
        return value == value and abs(value) != float("inf") and Decimal(repr(value)) == Decimal(text)
    except (ValueError, InvalidOperation):
        return False


def _decimal_comma_columns(df: pd.DataFrame) -> dict:
    """``{column: example}`` for text columns whose values are mostly numbers, some with a decimal comma."""
    found = {}
    for name in df.columns:
        col = df[name]
        if pd.api.types.is_numeric_dtype(col):
            continue
        values = col.dropna().astype(str).str.strip()
        values = values[values != ""]
        if values.empty:
            continue
        comma = values.str.match(_DECIMAL_COMMA)
        if not comma.any():
            continue
        numeric = comma | pd.to_numeric(values, errors="coerce").notna()
        if numeric.mean() >= 0.5:
            found[str(name)] = str(values[comma].iloc[0])
    return found


# ----------------------------------------------------------------------------- binary files


def _read_excel(path: Path, sheet, decimal: str = ".", header_row: int = 1) -> pd.DataFrame:
    try:
        with open(path, "rb") as fh:  # read-only handle
            book = pd.ExcelFile(fh)
            names = book.sheet_names
            if isinstance(sheet, str) and sheet not in names:
                raise DataError(f"{path}: has no sheet {sheet!r}; its sheets are {names}. Set data.sheet.")
            if isinstance(sheet, int) and not 0 <= sheet < len(names):
                raise DataError(
                    f"{path}: has {len(names)} sheet(s) {names}; data.sheet {sheet} is out of range "
                    "(sheets are numbered from 0)."
                )
            df = pd.read_excel(book, sheet_name=sheet, header=header_row - 1)
            # pandas renames a repeated header ("a", "a.1"): read the header row as written.
            header = pd.read_excel(book, sheet_name=sheet, header=None, skiprows=header_row - 1, nrows=1)
    except DataError:
        raise
    except OSError:
        raise  # a permission denied or vanished file is told as such, not as a corrupt workbook
    except ImportError as exc:
        raise DataError(
            f"{path}: reading this Excel format needs an extra package ({exc}). Save it as .xlsx."
        ) from None
    except Exception as exc:  # corrupt or mislabelled files surface as many exception types
        raise DataError(f"{path}: cannot be read as an Excel workbook ({exc}).") from None
    if header.shape[1] == df.shape[1] and len(header):
        _refuse_repeated_headers(path, [header_text(v) for v in header.iloc[0]])
    df = df.dropna(how="all")
    df = df.reset_index(drop=True)
    columns, renamed = _column_names([str(c) if not str(c).startswith("Unnamed: ") else "" for c in df.columns], path)
    df.columns = columns
    df, inexact = _converted_excel(df, decimal)
    df.attrs["renamed_columns"] = renamed
    df.attrs["inexact_numbers"] = inexact
    df.attrs["sheet"] = sheet if isinstance(sheet, str) else names[sheet]
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        df.attrs["uncached_formulas"] = uncached_formulas(path, df.attrs["sheet"], header_row, columns)
    df.attrs["sheet_names"] = list(names)
    return df


def locate_header_row(path, data_cfg: dict | None, names, search: int = 30) -> int | None:
    """The 1-based row, among the first ``search`` rows of a CSV or Excel file, that holds most of ``names``.

    None when no row holds more than half of them, or for other formats.
    Used to tell a researcher whose file has a title above its header which
    ``data.header_row`` to set.
    """
    cfg = dict(data_cfg or {})
    path = Path(path)
    names = {str(n) for n in names}
    try:
        fmt = detect_format(path, cfg.get("format", "auto") or "auto")
        if fmt in ("csv", "tsv", "qualtrics"):
            with open(path, "rb") as fh:
                text, _ = decode_text(fh.read(1 << 20), cfg.get("encoding", "auto") or "auto", str(path))
            delim = delimiter_setting(cfg.get("delimiter")) or ("\t" if fmt == "tsv" else _sniff_delimiter(text))
            reader = csv.reader(_stdio.StringIO(text), delimiter=delim)
            rows = [[c.strip() for c in r] for _, r in zip(range(search), reader)]
        elif fmt == "excel":
            sheet = pd.read_excel(path, sheet_name=cfg.get("sheet", 0), header=None, nrows=search)
            rows = [[header_text(v) for v in row] for row in sheet.itertuples(index=False)]
        else:
            return None
    except Exception:  # a courtesy for a message: the file was read already
        return None
    hits = [len(names & set(row)) for row in rows]
    if not hits or max(hits) * 2 <= len(names):
        return None
    return hits.index(max(hits)) + 1


def _converted_excel(df: pd.DataFrame, decimal: str) -> tuple[pd.DataFrame, dict]:
    columns, inexact = {}, {}
    for name in df.columns:
        col = _tidy_excel_column(df[name], decimal)
        rows = col.attrs.pop("inexact_rows", None)
        if rows:
            inexact[str(name)] = [r + 1 for r in rows]
        columns[name] = col
    return pd.DataFrame(columns, index=df.index), inexact


def _tidy_excel_column(col: pd.Series, decimal: str = ".") -> pd.Series:
    if col.dtype == object or pd.api.types.is_string_dtype(col):
        as_text = col.map(lambda v: v if v is None or isinstance(v, str) or pd.isna(v) else str(v))
        return _convert_column(as_text.where(col.notna(), None), decimal)
    return _whole_as_integers(col)


def _whole_as_integers(col: pd.Series) -> pd.Series:
    """A complete float column of whole numbers that int64 holds exactly as int64; anything else unchanged."""
    if (pd.api.types.is_float_dtype(col) and col.notna().all() and np.isfinite(col).all()
            and (col.abs() <= _EXACT_WHOLE).all() and (col == col.round()).all()):
        return col.astype("int64")
    return col


def _read_labelled(path: Path, fmt: str) -> pd.DataFrame:
    import pyreadstat

    reader = pyreadstat.read_sav if fmt == "spss" else pyreadstat.read_dta
    try:
        df, meta = reader(str(path))
    except Exception as exc:  # pyreadstat raises its own error types
        kind = "SPSS .sav" if fmt == "spss" else "Stata .dta"
        raise DataError(f"{path}: cannot be read as a {kind} file ({exc}).") from None
    df.columns = [str(c) for c in df.columns]
    labels = {
        str(col): {_plain_code(k): str(v) for k, v in mapping.items()}
        for col, mapping in (meta.variable_value_labels or {}).items()
    }
    texts = {str(c): str(t) for c, t in (meta.column_names_to_labels or {}).items() if t}
    inexact = {}
    for col in df.columns:
        if df[col].dtype == object:
            converted = _convert_column(df[col].where(df[col].notna(), None))
            rows = converted.attrs.pop("inexact_rows", None)
            if rows:
                inexact[col] = [r + 1 for r in rows]
            df[col] = converted
        else:
            df[col] = _whole_as_integers(df[col])
    df.attrs["inexact_numbers"] = inexact
    df.attrs["value_labels"] = labels
    df.attrs["question_text"] = texts
    return df


def value_label_order(path, data_cfg: dict | None = None) -> dict[str, list[str]]:
    """The order of each labelled variable's categories in an SPSS or Stata file: ``{column: [label, ...]}``.

    Labels are listed by their code (1 "<30k", 2 "30-60k", ...), which is
    the order the survey asked them in; a label given to two codes is listed
    once.  Only the file's dictionary is read, not its data.  Other formats
    carry no value labels and give ``{}``.

    Parameters
    ----------
    path : str or path-like
        The survey file.
    data_cfg : dict, optional
        The ``data`` section of the config (only ``format`` is read).
    """
    path = Path(path)
    fmt = detect_format(path, (data_cfg or {}).get("format", "auto") or "auto")
    if fmt not in ("spss", "stata"):
        return {}
    import pyreadstat

    reader = pyreadstat.read_sav if fmt == "spss" else pyreadstat.read_dta
    try:
        _, meta = reader(str(path), metadataonly=True)
    except Exception as exc:  # pyreadstat raises its own error types
        kind = "SPSS .sav" if fmt == "spss" else "Stata .dta"
        raise DataError(f"{path}: cannot be read as a {kind} file ({exc}).") from None
    orders = {}
    for column, mapping in (meta.variable_value_labels or {}).items():
        codes = sorted(mapping, key=lambda code: (isinstance(code, str), code))
        orders[str(column)] = list(dict.fromkeys(str(mapping[code]) for code in codes))
    return orders


def _plain_code(code):
    # SPSS stores every code as a float; 1.0 should be the label of 1.
    if isinstance(code, float) and code.is_integer():
        return int(code)
    return code


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises its own error types
        raise DataError(f"{path}: cannot be read as a Parquet file ({exc}).") from None
    df.columns = [str(c) for c in df.columns]
    return df.reset_index(drop=True)
