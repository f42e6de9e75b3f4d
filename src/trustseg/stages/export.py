"""Take the results home: each analysis's respondents with their segment, and every table in one workbook.

Researchers who work in SPSS, Stata or Excel merge the segment memberships
back into their own data file.  :func:`export_segments` writes, per analysis,
one row per analysed respondent, keyed by the survey's own id column (or by
the data row of the file when there is none), with the segment number, its
name and the posterior probability of every segment, as ``.csv``, ``.xlsx``,
``.sav`` (segment names as value labels, every column labelled) and ``.dta``
(the same labels).  Every respondent-level file goes through
:func:`write_respondent_files`, the one writer, so whatever is done to the
respondent key before it (pseudonymised ids) applies to every format.
:func:`tables_workbook` gathers every table of the run into one ``.xlsx``, a
sheet per table, after a contents sheet.

The same data, config and seed give the same bytes: the files carry no date
(the SPSS header's creation date and the workbook's document dates are fixed
or left out, the zip members of a workbook are dated 1980-01-01).
"""

from __future__ import annotations

import datetime
import io
import math
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from trustseg.report.tables import atomic_write_text
from trustseg.stages.common import POSTERIOR_PREFIX, SET_ASIDE_COLUMN

EXPORT_FORMATS = ("csv", "xlsx", "sav", "dta")
# A name SPSS and Stata both take: a letter, then letters, digits or _, at most 32 characters (Stata's limit).
_PORTABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
STATA_LABEL_LENGTH = 80  # Stata's longest variable label
FIXED_DATE = datetime.datetime(1980, 1, 1)  # no run date in a file: reruns stay byte-identical
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# openpyxl dates a workbook's core properties at save time; they are dropped (both are optional).
_CORE_DATES = re.compile(rb"<dcterms:(created|modified)[^>]*>[^<]*</dcterms:\1>")
# characters an .xlsx cell cannot hold (XML 1.0 control characters)
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


# ---------------------------------------------------------------------------
# the respondents' segments
# ---------------------------------------------------------------------------


def respondent_key(ids: pd.Series, id_column: str | None) -> tuple[str, pd.Series, str]:
    """The merge key of the exports: its column name, its values and its label.

    The configured id column keeps its name when SPSS and Stata accept it
    (else ``respondent_id``); without one the key is ``source_row``, the
    1-based data row of the survey file, as in ``flagged.csv``.  Ids that
    are all whole numbers written without leading zeros are exported as
    numbers, so they merge with a numeric id column; anything else stays text.
    """
    text = ids.astype(str)
    if text.str.fullmatch(r"-?(0|[1-9][0-9]{0,14})").all():
        values = text.astype(np.int64)
    else:
        values = text
    if id_column is None:
        return "source_row", values, "Data row of the survey file (1 = first respondent)"
    name = id_column if _PORTABLE_NAME.fullmatch(str(id_column)) else "respondent_id"
    return name, values, f"Respondent id (column '{id_column}' of the survey file)"


def segment_export_frame(assignments: pd.DataFrame, segment_names: Mapping[int, str], analysis: str,
                         id_column: str | None) -> tuple[pd.DataFrame, dict[str, str], dict[int, str]]:
    """The respondents of one analysis with segment, name and posteriors; the column labels; the value labels."""
    key, ids, key_label = respondent_key(assignments["respondent_id"], id_column)
    posteriors = [c for c in assignments.columns if c.startswith(POSTERIOR_PREFIX)]
    k = len(posteriors)
    segments = assignments["segment"].astype(np.int64)
    names = {int(s): str(segment_names.get(int(s), f"Segment {s}")) for s in range(1, k + 1)}
    frame = pd.DataFrame({key: ids.to_numpy(), "segment": segments.to_numpy(),
                          "segment_name": segments.map(names).to_numpy()})
    labels = {key: key_label, "segment": f"Segment (analysis {analysis}, {k} segments)",
              "segment_name": "Segment name"}
    for column in posteriors:
        s = int(column[len(POSTERIOR_PREFIX):])
        frame[column] = assignments[column].to_numpy(dtype=float)
        labels[column] = f"Posterior probability of segment {s} ({names[s]})"
    if SET_ASIDE_COLUMN in assignments.columns:
        frame[SET_ASIDE_COLUMN] = assignments[SET_ASIDE_COLUMN].to_numpy(dtype=float)
        labels[SET_ASIDE_COLUMN] = "Probability of the set-aside group (answers that depend on no predictor)"
    return frame, labels, names


def export_segments(assignments_path: str, segments_path: str, outputs: Mapping[str, str], *, analysis: str,
                    id_column: str | None) -> None:
    """Write one analysis's respondents with their segment in every export format (``outputs``: format -> path)."""
    assignments = pd.read_csv(assignments_path, dtype={"respondent_id": str})
    names = pd.read_csv(segments_path).groupby("segment")["name"].first().to_dict()
    frame, labels, value_labels = segment_export_frame(assignments, names, analysis, id_column)
    write_respondent_files(frame, outputs, column_labels=labels, value_labels={"segment": value_labels},
                           title=f"trustseg segments of analysis {analysis}")


def write_respondent_files(frame: pd.DataFrame, outputs: Mapping[str, str], *, column_labels: Mapping[str, str],
                           value_labels: Mapping[str, Mapping[int, str]], title: str) -> None:
    """Write a respondent-level table in each format of ``outputs`` (csv, xlsx, sav, dta): the one writer.

    ``column_labels`` become SPSS variable labels, Stata variable labels
    (cut to 80 characters) and the workbook's ``variables`` sheet;
    ``value_labels`` (column -> {code: label}) become SPSS and Stata value
    labels.
    """
    writers = {"csv": _write_csv, "xlsx": _write_respondent_xlsx, "sav": _write_sav, "dta": _write_dta}
    unknown = sorted(set(outputs) - set(writers))
    if unknown:
        raise ValueError(f"no writer for export formats {unknown}; known: {sorted(writers)}")
    for fmt, path in outputs.items():
        writers[fmt](frame, Path(path), column_labels, value_labels, title)


def _atomic_bytes(path: Path, data: bytes) -> None:
    """Write bytes atomically (a temp file beside ``path``, then a rename), as every results file is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_csv(frame, path, column_labels, value_labels, title) -> None:
    atomic_write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def _write_sav(frame, path, column_labels, value_labels, title) -> None:
    import pyreadstat

    tmp = path.with_name(f".{path.name}.readstat.tmp")  # ReadStat dates the file: undated before it is renamed
    try:
        pyreadstat.write_sav(frame, str(tmp), file_label=title[:64], column_labels=dict(column_labels),
                             variable_value_labels={c: dict(v) for c, v in value_labels.items()},
                             variable_measure={c: "nominal" for c in value_labels})
        _atomic_bytes(path, _undated_sav(tmp.read_bytes()))
    finally:
        tmp.unlink(missing_ok=True)


def _undated_sav(data: bytes) -> bytes:
    """An SPSS file with the creation date and time of its header set to 01 Jan 80 00:00:00.

    The header (``$FL2``) holds the date at bytes 92-100 (``dd mmm yy``) and
    the time at 101-108 (``hh:mm:ss``); nothing else in it is dated.
    """
    if data[:4] not in (b"$FL2", b"$FL3") or not re.fullmatch(rb"\d\d \w\w\w \d\d\d\d:\d\d:\d\d", data[92:109]):
        raise ValueError("not an SPSS system file header as ReadStat writes it; cannot remove its date")
    return data[:92] + b"01 Jan 8000:00:00" + data[109:]


def _write_dta(frame, path, column_labels, value_labels, title) -> None:
    labels = {c: (text if len(text) <= STATA_LABEL_LENGTH else text[:STATA_LABEL_LENGTH - 3] + "...")
              for c, text in column_labels.items()}
    buffer = io.BytesIO()
    frame.to_stata(buffer, write_index=False, version=118, time_stamp=FIXED_DATE, data_label=title[:80],
                   variable_labels=labels, value_labels={c: dict(v) for c, v in value_labels.items()})
    _atomic_bytes(path, buffer.getvalue())


def _write_respondent_xlsx(frame, path, column_labels, value_labels, title) -> None:
    variables = pd.DataFrame({"column": list(frame.columns),
                              "label": [column_labels.get(c, "") for c in frame.columns]})
    _atomic_bytes(path, workbook_bytes([("respondents", frame), ("variables", variables)]))


# ---------------------------------------------------------------------------
# workbooks
# ---------------------------------------------------------------------------


def _cell(value):
    """A table value as an .xlsx cell holds it: Python numbers, booleans and text; missing as an empty cell."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else str(value)  # inf as text: a cell has no infinity
    return _ILLEGAL_XML.sub("", str(value))


def workbook_bytes(sheets: Sequence[tuple[str, pd.DataFrame]]) -> bytes:
    """An .xlsx workbook with one sheet per (name, table): a bold header row, frozen, and the values below.

    A text that starts with ``=`` is kept as text, never turned into a
    formula.  The bytes carry no date (see the module docstring).
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    for name, table in sheets:
        sheet = book.create_sheet(title=name)
        sheet.append([str(c) for c in table.columns])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in table.itertuples(index=False, name=None):
            sheet.append([_cell(v) for v in row])
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if cell.data_type == "f":  # a text such as "=x" is not a formula here
                    cell.data_type = "s"
        sheet.freeze_panes = "A2"
        for i, column in enumerate(table.columns, start=1):
            width = max([len(str(column))] + [len(str(v)) for v in table[column].head(200)])
            sheet.column_dimensions[sheet.cell(1, i).column_letter].width = min(60, width + 2)
    buffer = io.BytesIO()
    book.save(buffer)
    return _undated_zip(buffer.getvalue())


def _undated_zip(data: bytes) -> bytes:
    """The same zip (an .xlsx) with every member dated 1980-01-01 and no document dates in its core properties."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _CORE_DATES.sub(b"", content)
            member = zipfile.ZipInfo(info.filename, date_time=_ZIP_DATE)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            target.writestr(member, content)
    return out.getvalue()


def _caption(markdown_path: Path) -> str:
    """A table's caption: the first paragraph of its Markdown version (as write_table writes it)."""
    if not markdown_path.is_file():
        return ""
    return " ".join(markdown_path.read_text(encoding="utf-8").split("\n\n", 1)[0].split())


def tables_workbook(tables: Mapping[str, str], output: str, *, analyses: Sequence[str]) -> None:
    """Every table of the run in one workbook: a ``contents`` sheet, then a sheet per table.

    ``tables`` maps a key, ``cleaning/report`` or ``<analysis>/<table>`` (or
    ``provenance``), to the table's CSV file; its caption is read from the
    Markdown file beside it.  A sheet is named by the number of its analysis
    in ``analyses`` (sheet names are at most 31 characters, analysis names
    are not): ``2 segments`` is the segments table of the second analysis.
    """
    contents, sheets = [], []
    for key, csv_path in tables.items():
        group, _, table = key.rpartition("/")
        if group in analyses:
            sheet = f"{analyses.index(group) + 1} {table}"
        else:
            sheet = f"{group} {table}".strip()
        path = Path(csv_path)
        try:
            frame = pd.read_csv(path, keep_default_na=True)
        except pd.errors.EmptyDataError:  # a table without columns (nothing to test at K = 1, say)
            frame = pd.DataFrame()
        sheets.append((sheet, frame))
        contents.append({"sheet": sheet, "analysis": group if group in analyses else "", "table": table,
                         "file": path.as_posix(), "caption": _caption(path.with_suffix(".md"))})
    _atomic_bytes(Path(output), workbook_bytes([("contents", pd.DataFrame(contents)), *sheets]))

