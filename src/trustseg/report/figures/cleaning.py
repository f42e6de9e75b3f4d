"""The cleaning figure (rule cleaning_figure)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure as _MplFigure

from trustseg.report.figures import kit

# ---------------------------------------------------------------------------
# 7. cleaning summary
# ---------------------------------------------------------------------------


def cleaning_summary(
    report: pd.DataFrame,
    stem: Path,
    formats: Sequence[str] = ("pdf",),
) -> kit.Figure:
    """Horizontal bar chart of rows affected per cleaning rule, in rule order.

    Parameters
    ----------
    report : DataFrame
        ``rule, rows_affected`` (e.g. ``results/cleaning/report.csv``), in the
        order the rules were applied.
    stem : Path
    formats : sequence of str, default ("pdf",)

    Returns
    -------
    kit.Figure
    """
    kit.require(report, ["rule", "rows_affected"], "report")
    rules = report["rule"].astype(str).tolist()
    counts = pd.to_numeric(report["rows_affected"], errors="coerce").fillna(0).to_numpy(float)
    labels = [kit.wrap(kit.plain(r), 32) for r in rules]
    lines = max((t.count("\n") + 1 for t in labels), default=1)
    with kit.rendering():
        fig = _MplFigure(figsize=(kit.SINGLE_COLUMN + 1.5, max(kit.MIN_HEIGHT, 0.8 + (0.3 + 0.12 * (lines - 1)) * len(rules))),
                         layout="constrained")
        ax = fig.add_subplot()
        if not rules:
            kit.empty_note(ax, "No cleaning rules applied")
        else:
            y = np.arange(len(rules))
            ax.barh(y, counts, color="0.35", height=0.6)
            top = max(counts.max(), 1.0)
            for yi, c in zip(y, counts):
                ax.text(c + 0.01 * top, yi, f"{int(c)}", va="center", ha="left", fontsize=7.5)
            ax.set_yticks(y, labels)
            ax.set_ylim(len(rules) - 0.5, -0.5)  # first rule on top
            ax.set_xlim(0, top * 1.12)
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.set_xlabel("Rows affected (number of respondents)")
    caption = (
        f"Data cleaning: number of respondent rows affected by each of the {len(rules)} cleaning "
        f"rules, in the order applied (total {int(counts.sum())} row actions; a row can be "
        "affected by more than one rule). Bar length and label give the count."
        if rules else
        "Data cleaning: no cleaning rules were applied, so no respondent rows were removed or "
        "changed; the figure is intentionally empty."
    )
    return kit.save(fig, stem, formats, caption)

