"""Excel workbooks beyond their data: the headers and sizes of every sheet, and formulas saved without values.

Used by the reader (:mod:`trustseg.survey.io`), the start-up checks (which sheet holds the columns a config
names) and ``trustseg init-config`` (which sheet to draft from).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trustseg.errors import DataError

__all__ = ["excel_sheet_columns", "excel_sheet_sizes", "uncached_formulas", "header_text"]


def header_text(value) -> str:
    """A header cell as text: empty for a blank cell, ``3`` for the number 3.0."""
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
            out[str(name)] = [header_text(v) for v in header.iloc[0]] if len(header) else []
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


def uncached_formulas(path: Path, sheet: str, header_row: int, columns: list[str]) -> dict:
    """``{column: [sheet rows]}`` of cells holding a formula saved without its value (pandas reads them as empty).

    A workbook written by a program that does not compute formulas (a script,
    some exporters) stores the formula and no value; only opening and saving
    it in Excel (or LibreOffice) fills the values in.
    """
    import openpyxl

    try:
        formulas = _formula_cells(openpyxl.load_workbook(path, read_only=True, data_only=False)[sheet], header_row)
        if not formulas:
            return {}
        values = _formula_cells(openpyxl.load_workbook(path, read_only=True, data_only=True)[sheet], header_row,
                                cells=formulas)
    except Exception:  # the check is a courtesy: the workbook was read already
        return {}
    found: dict = {}
    for (row, col) in sorted(formulas):
        if values.get((row, col)) is None and col < len(columns):
            found.setdefault(columns[col], []).append(row)
    return found


def _formula_cells(ws, header_row: int, cells=None) -> dict:
    """``{(sheet row, column index): value}`` of formula cells below the header (or of ``cells``)."""
    out = {}
    for row_number, row in enumerate(ws.iter_rows(values_only=True), start=1):
        if row_number <= header_row:
            continue
        for col, value in enumerate(row):
            if cells is None:
                if isinstance(value, str) and value.startswith("="):
                    out[(row_number, col)] = value
            elif (row_number, col) in cells:
                out[(row_number, col)] = value
    return out
