"""Rendering results as text, Markdown and LaTeX.

Shared by the model layer (the model summary) and the report layer (every
table), so both escape LaTeX and format numbers the same way.
"""

from __future__ import annotations

import numpy as np


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
            lines += ["", f"**{caption}**", ""]
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "|".join("---:" for _ in header) + "|")
            lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)

    @staticmethod
    def _tex(text):
        for char, escaped in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"),
                              ("$", r"\$"), ("#", r"\#"), ("_", r"\_"), ("{", r"\{"),
                              ("}", r"\}"), ("^", r"\^{}"), ("~", r"\~{}")):
            text = text.replace(char, escaped)
        return text

    def as_latex(self):
        parts = [f"% {self.title}", r"\begin{tabular}{ll}", r"\toprule"]
        parts += [f"{self._tex(label)} & {self._tex(str(value))} \\\\" for label, value in self.info]
        parts += [r"\bottomrule", r"\end{tabular}"]
        for caption, frame in self.tables:
            header, body = self._rows(frame)
            parts += ["", r"\begin{table}[htbp]", r"\centering",
                      f"\\caption{{{self._tex(caption)}}}",
                      r"\begin{tabular}{" + "r" * len(header) + "}", r"\toprule",
                      " & ".join(self._tex(h) for h in header) + r" \\", r"\midrule"]
            parts += [" & ".join(self._tex(c) for c in row) + r" \\" for row in body]
            parts += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
        return "\n".join(parts)

    def __str__(self):
        return self.as_text()

    def _repr_markdown_(self):
        return self.as_markdown()
