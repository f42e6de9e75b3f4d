"""Rendering results as text, Markdown and LaTeX.

Shared by the model layer (the model summary) and the report layer (every
result table), so both escape LaTeX and lay out tables the same way:

* :func:`escape_latex` -- the one LaTeX escaping;
* :func:`markdown_table` -- the one Markdown (pipe table) writer;
* :func:`latex_table` -- the one LaTeX (``booktabs``) writer, built on
  :meth:`pandas.io.formats.style.Styler.to_latex`;
* :func:`join_words` -- the one "a, b and c" of every sentence.

Cells arrive as strings: how numbers are written is the caller's choice (the
summary keeps four decimals, the result tables round per column).

Why the Markdown writer is hand-written: ``DataFrame.to_markdown`` needs the
``tabulate`` package and cannot left-align the headers of right-aligned
columns, which the result tables have always done.  Why the LaTeX escaping is
our own: ``Styler``'s ``escape="latex"`` leaves ``<`` and ``>`` alone (they
print as inverted punctuation under the default OT1 encoding) and does not
escape captions.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["escape_latex", "markdown_table", "latex_table", "join_words", "MixtureSummary"]

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    # < and > print as inverted punctuation under the default OT1 encoding.
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}
_LATEX_PATTERN = re.compile("|".join(re.escape(c) for c in _LATEX_SPECIAL))


def join_words(words) -> str:
    """``a``, ``a and b``, ``a, b and c`` (empty for no words)."""
    words = [str(w) for w in words]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def escape_latex(text) -> str:
    """Escape LaTeX special characters; leave non-ASCII text unchanged.

    Parameters
    ----------
    text : object
        Converted with ``str``.

    Returns
    -------
    str
        ``text`` with ``\\ & % $ # _ { } ~ ^ < >`` replaced by their LaTeX
        text-mode commands (in a single pass, so nothing is escaped twice).
    """
    return _LATEX_PATTERN.sub(lambda m: _LATEX_SPECIAL[m.group(0)], str(text))


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------


def _display_width(text: str) -> int:
    """Terminal width of ``text``: East Asian wide/full-width characters count 2."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _markdown_cell(text) -> str:
    # A bar would end the cell and a line break the row.
    return str(text).replace("|", r"\|").replace("\r", " ").replace("\n", " ")


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - _display_width(text))
    return fill + text if right else text + fill


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], right_aligned: Sequence[bool],
                   *, padded: bool = True) -> str:
    """A GitHub/pandoc pipe table.

    Parameters
    ----------
    header : sequence of str
        Column labels (always left-aligned).
    rows : sequence of sequences of str
        Formatted cells, row by row.
    right_aligned : sequence of bool
        Per column: right-align (``---:``, numbers) or left-align (``:---``).
    padded : bool, default True
        Pad the cells so the columns line up in a monospace editor, counting
        Chinese and other wide characters as two columns.  Without padding the
        rule is the shortest one (``---:``).

    Returns
    -------
    str
        The table, ending with a newline.  Bars in cells are escaped and line
        breaks become spaces.
    """
    header = [_markdown_cell(label) for label in header]
    rows = [[_markdown_cell(cell) for cell in row] for row in rows]
    if not header:
        return "| |\n|---|\n"
    if not padded:
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join("---:" if right else ":---" for right in right_aligned) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines) + "\n"
    widths = [max([3, _display_width(label)] + [_display_width(row[j]) for row in rows])
              for j, label in enumerate(header)]
    lines = [
        "| " + " | ".join(_pad(label, w, False) for label, w in zip(header, widths)) + " |",
        "|" + "|".join(("-" * (w + 1) + ":") if right else (":" + "-" * (w + 1))
                       for w, right in zip(widths, right_aligned)) + "|",
    ]
    lines += ["| " + " | ".join(_pad(c, w, right) for c, w, right in zip(row, widths, right_aligned)) + " |"
              for row in rows]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# LaTeX
# ---------------------------------------------------------------------------


def _latex_cell(text: str, number: bool) -> str:
    # A typographic minus instead of a hyphen for negative numbers.
    if number and text.startswith("-"):
        return "$-$" + escape_latex(text[1:])
    return escape_latex(text)


def latex_table(header: Sequence[str] | None, rows: Sequence[Sequence[str]], column_format: str, *,
                caption: str | None = None, label: str | None = None,
                numbers: Sequence[bool] | None = None) -> str:
    """A ``booktabs`` tabular, in a ``table`` float when it has a caption.

    Parameters
    ----------
    header : sequence of str or None
        Column labels (escaped), set off by ``\\midrule``; None for a table
        without a header row.
    rows : sequence of sequences of str
        Formatted cells (escaped), row by row.
    column_format : str
        The tabular's column specification, e.g. ``"lrr"``.
    caption : str, optional
        Caption (escaped).  With a caption the tabular is wrapped in
        ``\\begin{table}[htbp]`` and ``\\centering``.
    label : str, optional
        ``\\label`` key, written as is.
    numbers : sequence of bool, optional
        Columns whose negative cells get a typographic minus (``$-$``).

    Returns
    -------
    str
        The LaTeX, ending with a newline; needs ``\\usepackage{booktabs}``.
    """
    numbers = list(numbers or [])
    cells = [[_latex_cell(str(c), j < len(numbers) and numbers[j]) for j, c in enumerate(row)] for row in rows]
    frame = pd.DataFrame(cells, columns=None if header is None else [escape_latex(h) for h in header])
    styler = frame.style.hide(axis="index")
    if header is None:
        # Without a header row there is nothing for a \midrule to set off.
        styler = styler.hide(axis="columns").set_table_styles(
            [{"selector": "toprule", "props": ":toprule;"}, {"selector": "bottomrule", "props": ":bottomrule;"}])
        return styler.to_latex(column_format=column_format)
    options = {"position": "htbp", "position_float": "centering", "caption": escape_latex(caption)} if caption else {}
    return styler.to_latex(column_format=column_format, hrules=True, label=label, **options)


# ---------------------------------------------------------------------------
# the model summary
# ---------------------------------------------------------------------------


class MixtureSummary:
    """Printable summary: ``as_text()``, ``as_markdown()``, ``as_latex()``."""

    def __init__(self, title, info, tables):
        self.title = title
        self.info = info  # list of (label, value)
        self.tables = tables  # list of (caption, DataFrame)

    @staticmethod
    def _cell(value):
        if isinstance(value, (float, np.floating)):
            if not np.isfinite(value):
                return ""
            if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
                return f"{value:.3e}"
            return f"{value:.4f}"
        return str(value)

    def _rows(self, frame):
        header = [str(c) for c in frame.columns]
        body = [[self._cell(v) for v in row] for row in frame.itertuples(index=False)]
        return header, body

    def as_text(self):
        lines = [self.title, "=" * len(self.title)]
        width = max(len(label) for label, _ in self.info)
        lines += [f"{label:<{width}}  {value}" for label, value in self.info]
        for caption, frame in self.tables:
            header, body = self._rows(frame)
            widths = [max(len(h), *(len(r[j]) for r in body)) if body else len(h)
                      for j, h in enumerate(header)]
            lines += ["", caption, "-" * len(caption)]
            lines.append("  ".join(h.rjust(wd) for h, wd in zip(header, widths)))
            lines += ["  ".join(c.rjust(wd) for c, wd in zip(row, widths)) for row in body]
        return "\n".join(lines)

    def as_markdown(self):
        lines = [f"### {self.title}", ""]
        lines += [f"- **{label}**: {value}" for label, value in self.info]
        for caption, frame in self.tables:
            header, body = self._rows(frame)
            table = markdown_table(header, body, [True] * len(header), padded=False)
            lines += ["", f"**{caption}**", "", table.rstrip("\n")]
        return "\n".join(lines)

    def as_latex(self):
        info = [[label, str(value)] for label, value in self.info]
        parts = [f"% {self.title}", latex_table(None, info, "ll").rstrip("\n")]
        for caption, frame in self.tables:
            header, body = self._rows(frame)
            parts += ["", latex_table(header, body, "r" * len(header), caption=caption).rstrip("\n")]
        return "\n".join(parts)

    def __str__(self):
        return self.as_text()

    def _repr_markdown_(self):
        return self.as_markdown()
