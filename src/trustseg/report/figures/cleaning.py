"""The cleaning figure (rule cleaning_figure): the participant flow from the survey file to the clean data set.

A reviewer reads a cleaning as a flow of respondents (as in a CONSORT
diagram): how many the file held, how many each exclusion removed, how many
remain.  Changes that remove nobody (answers set to missing, reverse-keyed
items recoded, personal-data columns dropped, flagged respondents kept) are
listed in a note beside the flow, never counted as respondents.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure as _MplFigure

import trustseg.report.figures.kit as kit

#: report.csv rows that are no rule of their own (totals) or no exclusion of respondents
_TOTALS = ("input", "clean", "flagged")


def exclusion_steps(report: pd.DataFrame, flagged: pd.DataFrame | None) -> list[tuple[str, int]]:
    """``(rule, respondents removed)`` in the order the rules ran, each respondent counted once.

    A respondent dropped by several rules is counted at the first of them
    (the order of ``report.csv``), so the steps add up to the respondents
    read minus those kept.
    """
    if flagged is None or flagged.empty or not {"rules", "action"} <= set(flagged.columns):
        return []
    order = [str(r) for r in report["rule"] if str(r) not in _TOTALS]
    dropped = flagged.loc[flagged["action"].astype(str) == "dropped", "rules"].dropna().astype(str)
    counts: dict[str, int] = {}
    for rules in dropped:
        named = [r.strip() for r in rules.split(";") if r.strip()]
        first = min(named, key=lambda r: order.index(r) if r in order else len(order))
        counts[first] = counts.get(first, 0) + 1
    return sorted(counts.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))


def _kept_flags(flagged: pd.DataFrame | None) -> dict[str, int]:
    """Rule -> respondents it flagged who were kept (a respondent under each rule that flagged them)."""
    if flagged is None or flagged.empty or not {"rules", "action"} <= set(flagged.columns):
        return {}
    rules = flagged.loc[flagged["action"].astype(str) == "kept", "rules"].dropna().astype(str)
    return rules.str.split(";").explode().str.strip().value_counts(sort=False).astype(int).to_dict()


def answer_changes(report: pd.DataFrame) -> list[str]:
    """What the cleaning changed without removing anyone, one line each (answers, columns, recodes)."""
    lines = []
    for r in report.itertuples():
        rule, action = str(r.rule), str(r.action)
        rows = int(r.rows_affected) if pd.notna(r.rows_affected) else 0
        cells = getattr(r, "cells_affected", None)
        cells = int(cells) if cells is not None and pd.notna(cells) else 0
        if rule in _TOTALS or rows <= 0 or action.startswith("flagged"):
            continue
        if rule.startswith("construct_score:"):
            lines.append(f"{rule.split(':', 1)[1]}: no score for {rows:,} (too few items answered)")
        elif "column" in action:
            n_cols = len([c for c in str(r.detail).split(";") if c.strip()]) if pd.notna(r.detail) else 0
            lines.append(f"{rule.replace('_', ' ')}: {n_cols or 'some'} column{'s' if n_cols != 1 else ''} "
                         f"{action.replace('columns', '').strip()}")
        elif cells:
            lines.append(f"{rule.replace('_', ' ')}: {cells:,} answer{'s' if cells != 1 else ''} {action}")
        else:
            lines.append(f"{rule.replace('_', ' ')}: {rows:,} respondent{'s' if rows != 1 else ''}, {action}")
    return lines


def _box(ax, x: float, y: float, text: str, width: int, bold: bool = False) -> None:
    ax.text(x, y, kit.wrap(kit.plain(text), width), ha="center", va="center", fontsize=7.5,
            fontweight="bold" if bold else "normal", transform=ax.transAxes,
            bbox={"boxstyle": "square,pad=0.45", "facecolor": "white", "edgecolor": "0.2", "linewidth": 0.8})


def _arrow(ax, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.annotate("", xy=end, xytext=start, xycoords="axes fraction", textcoords="axes fraction",
                arrowprops={"arrowstyle": "-|>,head_length=0.4,head_width=0.2", "color": "0.2", "linewidth": 0.8})


def participant_flow(report: pd.DataFrame, flagged: pd.DataFrame | None, stem: Path,
                     formats: Sequence[str] = ("pdf",)) -> kit.Figure:
    """The flow of respondents through the cleaning: read, each exclusion, the clean data set.

    Parameters
    ----------
    report : DataFrame
        ``results/cleaning/report.csv`` (``rule, rows_affected,
        cells_affected, action, detail``), in the order the rules ran; its
        ``input`` row gives the respondents read.
    flagged : DataFrame or None
        ``results/cleaning/flagged.csv`` (``rules``, ``action``): who was
        dropped or kept, and by which rules.
    stem : Path
    formats : sequence of str, default ("pdf",)
    """
    kit.require(report, ["rule", "rows_affected"], "report")
    rows_of = dict(zip(report["rule"].astype(str), pd.to_numeric(report["rows_affected"], errors="coerce")))
    n_read = int(rows_of.get("input", 0) or 0)
    steps = exclusion_steps(report, flagged)
    n_clean = int(rows_of.get("clean", n_read - sum(n for _, n in steps)) or 0)
    kept, notes = _kept_flags(flagged), answer_changes(report)
    side = [f"flagged but kept, {rule.replace('_', ' ')}: {n:,}" for rule, n in kept.items()] + notes
    n_main = max(len(steps) + 1, 2)  # the file, what remains between exclusions, the clean data set
    height = max(kit.MIN_HEIGHT, 0.8 + 0.62 * n_main, 0.5 + 0.17 * len(side))
    with kit.rendering():
        fig = _MplFigure(figsize=(kit.DOUBLE_COLUMN * 0.85, height), layout="constrained")
        ax = fig.add_subplot()
        ax.set_axis_off()
        ys = [1 - (i + 0.5) / n_main for i in range(n_main)]
        _box(ax, 0.22, ys[0], f"Survey file: {n_read:,} respondents", 38, bold=True)
        remaining = n_read
        for i, (rule, n) in enumerate(steps, start=1):
            remaining -= n
            mid = (ys[i - 1] + ys[i]) / 2
            _arrow(ax, (0.22, mid), (0.45, mid))
            ax.text(0.46, mid, kit.wrap(kit.plain(f"Excluded, {rule.replace('_', ' ')}: {n:,}"), 30), ha="left",
                    va="center", fontsize=7.5, transform=ax.transAxes,
                    bbox={"boxstyle": "square,pad=0.45", "facecolor": "white", "edgecolor": "0.2", "linewidth": 0.8})
            if i < len(steps):
                _box(ax, 0.22, ys[i], f"{remaining:,} remain", 30)
        gap = 0.2 / height  # half a box's height, in axes fractions
        for i in range(1, n_main):
            _arrow(ax, (0.22, ys[i - 1] - gap), (0.22, ys[i] + gap))
        _box(ax, 0.22, ys[-1], f"Clean data set: {n_clean:,} respondents", 38, bold=True)
        if side:
            # flagged respondents kept are not changed: the heading names both kinds of line it lists
            ax.text(0.46, ys[-1] + gap, "Changes and flags that exclude nobody:\n" + "\n".join(
                kit.wrap("\u2022 " + kit.plain(s), 48) for s in side), ha="left", va="top", fontsize=6.8,
                color="0.2", transform=ax.transAxes, linespacing=1.25)
    caption = (
        f"Participant flow of the cleaning: of the {n_read:,} respondents in the survey file, "
        + (", ".join(f"{n:,} were excluded by {rule.replace('_', ' ')}" for rule, n in steps) + ", leaving "
           if steps else "none was excluded, leaving ")
        + f"{n_clean:,} in the clean data set"
        + (" (kept although flagged: " + ", ".join(f"{n:,} by {rule.replace('_', ' ')}" for rule, n in kept.items())
           + ")" if kept else "")
        + ". A respondent flagged by several rules is counted at the first rule "
        "that excluded them, so the steps add up. Changes that exclude nobody (answers set to missing, text answers "
        "coded, reverse-keyed items recoded, personal-data columns dropped, flagged respondents kept, scores left "
        "missing) are listed beside the flow, not counted as respondents; results/cleaning/report.csv has each "
        "rule's counts and flagged.csv every flagged respondent."
    )
    return kit.save(fig, stem, formats, caption)
