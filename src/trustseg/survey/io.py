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

A header that occurs twice is an error (:class:`~trustseg.errors.DataError`
naming it and its column numbers): the config could not tell the two apart.
"""

from __future__ import annotations

import csv
import io as _stdio
import re
from pathlib import Path

import pandas as pd

from trustseg.errors import ConfigError, DataError

__all__ = [
    "read_survey", "detect_format", "decode_text", "excel_sheet_columns", "excel_sheet_sizes", "value_label_order",
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
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: the survey file does not exist. Check data.path in the config.")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a survey file. Check data.path in the config.")
    fmt = detect_format(path, cfg.get("format", "auto") or "auto")
    decimal = cfg.get("decimal") or "."
    if decimal not in (".", ","):
        raise ConfigError(f"data.decimal: {decimal!r} is not a decimal separator; use '.' or ','.")
    if fmt in ("csv", "tsv", "qualtrics"):
        df = _read_text(path, cfg, fmt, decimal)
    elif fmt == "excel":
        df = _read_excel(path, cfg.get("sheet", 0), decimal)
    elif fmt in ("spss", "stata"):
        df = _read_labelled(path, fmt)
    else:
        df = _read_parquet(path)
    _refuse_repeated_headers(path, list(df.columns))
    if df.shape[1] == 0:
        raise DataError(f"{path}: the file has no columns.")
    if df.shape[0] == 0:
        raise DataError(f"{path}: the file has a header but no data rows.")
    df.attrs.setdefault("value_labels", {})
    df.attrs.setdefault("question_text", {})
    df.attrs.setdefault("renamed_columns", {})
    df.attrs["decimal_comma_columns"] = _decimal_comma_columns(df) if decimal == "." else {}
    df.attrs["source"] = str(path)
    df.attrs.setdefault("format", fmt)
    return df


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


def _read_text(path: Path, cfg: dict, fmt: str, decimal: str = ".") -> pd.DataFrame:
    with open(path, "rb") as fh:  # read-only: the raw file is never modified
        raw = fh.read()
    if not raw.strip():
        raise DataError(f"{path}: the file is empty. Check data.path, or export the survey again.")
    text, encoding = decode_text(raw, cfg.get("encoding", "auto") or "auto", str(path))
    delim = cfg.get("delimiter")
    sniffed = delim is None
    if sniffed:
        delim = "\t" if fmt == "tsv" else _sniff_delimiter(text)
    try:
        rows = list(csv.reader(_stdio.StringIO(text, newline=""), delimiter=delim))
    except csv.Error as exc:
        raise DataError(f"{path}: cannot be parsed as delimited text ({exc}).") from None
    # Remember each row's line number before dropping blank lines, for messages.
    numbered = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if not numbered:
        raise DataError(f"{path}: the file is empty. Check data.path, or export the survey again.")
    header = numbered[0][1]
    body = numbered[1:]
    if len(header) == 1:
        others = [d for d in _DELIMITERS if d != delim and d in header[0]]
        if others:
            how = "was set to" if not sniffed else "was sniffed as"
            raise DataError(
                f"{path}: every value landed in one column {header[0][:60]!r}: the delimiter {how} "
                f"{_DELIMITER_NAMES.get(delim, repr(delim))}, but the header contains "
                f"{_DELIMITER_NAMES[others[0]]}. Set data.delimiter: {others[0]!r} (or null to sniff it)."
            )
    width = len(header)
    ragged = [(line, len(r)) for line, r in body if len(r) != width]
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
    df = df.apply(_convert_column, decimal=decimal)
    df.attrs.update(attrs)
    df.attrs["format"] = fmt
    return df


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
    """Empty cells to missing; a column of numbers to a numeric dtype.

    With ``decimal=","`` a number written with a decimal comma (``4,5``) is read as ``4.5``.
    """
    stripped = col.map(lambda v: v.strip() if isinstance(v, str) else v)
    stripped = stripped.where(stripped != "", None)
    if decimal == ",":
        stripped = stripped.map(lambda v: v.replace(",", ".") if isinstance(v, str) and _DECIMAL_COMMA.match(v) else v)
    present = stripped.dropna()
    if present.empty:
        return pd.Series(float("nan"), index=col.index, name=col.name)
    numeric = pd.to_numeric(present, errors="coerce")
    if numeric.notna().all() and not present.astype(str).str.match(_ZERO_PADDED).any():
        out = pd.to_numeric(stripped, errors="coerce")
        if out.notna().all() and (out == out.round()).all():
            return out.astype("int64")
        return out.astype("float64")
    return stripped.astype("str")


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


def _read_excel(path: Path, sheet, decimal: str = ".") -> pd.DataFrame:
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
            df = pd.read_excel(book, sheet_name=sheet)
            # pandas renames a repeated header ("a", "a.1"): read the header row as written.
            header = pd.read_excel(book, sheet_name=sheet, header=None, nrows=1)
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
        _refuse_repeated_headers(path, [_excel_header(v) for v in header.iloc[0]])
    df = df.dropna(how="all")
    df = df.reset_index(drop=True)
    columns, renamed = _column_names([str(c) if not str(c).startswith("Unnamed: ") else "" for c in df.columns], path)
    df.columns = columns
    df = df.apply(_tidy_excel_column, decimal=decimal)
    df.attrs["renamed_columns"] = renamed
    df.attrs["sheet"] = sheet if isinstance(sheet, str) else names[sheet]
    df.attrs["sheet_names"] = list(names)
    return df


def _excel_header(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def excel_sheet_columns(path) -> dict[str, list[str]]:
    """The header (column names) of every sheet of an Excel workbook, ``{sheet: [names]}``.

    Used to point at the sheet that holds the columns a config names.  A sheet
    that cannot be read gets an empty list.
    """
    out: dict[str, list[str]] = {}
    with open(path, "rb") as fh:
        book = pd.ExcelFile(fh)
        for name in book.sheet_names:
            try:
                header = pd.read_excel(book, sheet_name=name, header=None, nrows=1)
            except Exception:  # an odd sheet (a chart) must not hide the others
                header = pd.DataFrame()
            out[str(name)] = [_excel_header(v) for v in header.iloc[0]] if len(header) else []
    return out


def excel_sheet_sizes(path) -> dict[str, tuple[int, int]]:
    """``{sheet: (data rows, columns)}`` of every sheet of an Excel workbook (empty rows and columns left out)."""
    sizes: dict[str, tuple[int, int]] = {}
    try:
        with open(path, "rb") as fh:
            book = pd.ExcelFile(fh)
            for name in book.sheet_names:
                try:
                    sheet = pd.read_excel(book, sheet_name=name).dropna(how="all").dropna(axis=1, how="all")
                except Exception:  # an odd sheet (a chart) counts as empty
                    sheet = pd.DataFrame()
                sizes[str(name)] = (int(sheet.shape[0]), int(sheet.shape[1]))
    except OSError:
        raise
    except Exception as exc:  # corrupt or mislabelled files surface as many exception types
        raise DataError(f"{path}: cannot be read as an Excel workbook ({exc}).") from None
    return sizes


def _tidy_excel_column(col: pd.Series, decimal: str = ".") -> pd.Series:
    if col.dtype == object or pd.api.types.is_string_dtype(col):
        as_text = col.map(lambda v: v if v is None or isinstance(v, str) or pd.isna(v) else str(v))
        return _convert_column(as_text.where(col.notna(), None), decimal)
    if pd.api.types.is_float_dtype(col) and col.notna().all() and (col == col.round()).all():
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
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = _convert_column(df[col].where(df[col].notna(), None))
        elif pd.api.types.is_float_dtype(df[col]) and df[col].notna().all() and (df[col] == df[col].round()).all():
            df[col] = df[col].astype("int64")
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
