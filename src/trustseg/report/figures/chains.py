"""A chain's figures (rule chain_figures): a path diagram per segment and the forest of its effects."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure as _MplFigure
from matplotlib.lines import Line2D

import trustseg.report.figures.kit as kit
from trustseg.report.numbers import fmt_estimate

# ---------------------------------------------------------------------------
# chains: path diagrams and the effects forest
# ---------------------------------------------------------------------------

#: how a path's verdict is drawn: line width, dash pattern, grey (greyscale-safe; no colour carries meaning)
PATH_STYLES = {
    "drives_up": (2.4, "solid", "0.05"),
    "drives_down": (2.4, (0, (1, 1.2)), "0.05"),
    "negligible": (0.9, (0, (5, 3)), "0.45"),
    "does_not_drive": (0.9, (0, (5, 3)), "0.45"),
    # dots, as the legend says: short dashes (2 on, 2 off) read as the dashed "negligible" line in print
    "inconclusive": (1.2, (0, (0.8, 1.8)), "0.3"),
    "unreliable": (1.0, (0, (6, 2, 1, 2)), "0.6"),
}
PATH_STYLE_WORDS = {
    "drives_up": "thick solid: drives (up)",
    "drives_down": "thick dotted: drives down",
    "negligible": "thin dashed grey: shown negligible or absent",
    "inconclusive": "thin dotted: inconclusive",
    "unreliable": "dash-dot light grey: unreliable segment",
}


def _chain_layout(paths: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Box centres of a chain's variables: columns by depth (predictors left, last outcome right)."""
    edges = [tuple(p.split(" → ")) for p in paths["path"].drop_duplicates()]
    nodes = list(dict.fromkeys(v for edge in edges for v in edge))
    depth = {v: 0 for v in nodes}
    for _ in nodes:  # longest path from a source: at most as many passes as nodes
        for a, b in edges:
            depth[b] = max(depth[b], depth[a] + 1)
    columns: dict[int, list[str]] = {}
    for v in nodes:
        columns.setdefault(depth[v], []).append(v)
    last = max(columns)
    layout = {}
    for d, members in columns.items():
        # a mediator column is raised, so that the direct path passes beneath it
        lift = 0.55 if 0 < d < last else 0.0
        for i, v in enumerate(members):
            layout[v] = (d / max(last, 1), lift + (i - (len(members) - 1) / 2) * 0.5)
    return layout


def _estimate_text(row, sep: str) -> str:
    """An effect and its interval with decimals from its standard error: "0.0123 [0.0040, 0.0210]", never "0.00"."""
    se = getattr(row, "std_error", None)
    return (f"{fmt_estimate(row.estimate, se)}{sep}[{fmt_estimate(row.ci_low, se)}, "
            f"{fmt_estimate(row.ci_high, se)}]")


def path_diagram(effects: pd.DataFrame, names: Mapping[int, str] | None, stem: Path, ci_level: float = 0.95,
                 formats: Sequence[str] = ("pdf",), unit: str = "outcome points per predictor point") -> kit.Figure:
    """One path diagram per segment: the chain's variables as boxes, each path labelled with its estimate.

    Parameters
    ----------
    effects : DataFrame
        ``effects.csv`` of a chain (``segment, kind, path, estimate, ci_low,
        ci_high, verdict``); the ``path`` rows draw the arrows, the
        ``indirect`` and ``total`` rows are written under each diagram.
    names : dict
        Segment number -> name.
    """
    kit.require(effects, ["segment", "kind", "path", "estimate", "ci_low", "ci_high", "verdict"], "effects")
    paths = effects.loc[effects["kind"] == "path"]
    segs = kit.all_segments(names, effects["segment"])
    layout = _chain_layout(paths) if len(paths) else {}
    cols = min(len(segs), 2) or 1
    rows_n = math.ceil(len(segs) / cols) if segs else 1
    width = kit.DOUBLE_COLUMN if cols > 1 else 4.6
    with kit.rendering():
        fig = _MplFigure(figsize=(width, 0.4 + 2.35 * rows_n), layout="constrained")
        axes = fig.subplots(rows_n, cols, squeeze=False).ravel()
        for ax in axes[len(segs):]:
            ax.set_axis_off()
        if not segs:
            kit.empty_note(axes[0], "No effects")
        for ax, seg in zip(axes, segs):
            sub = effects.loc[effects["segment"] == seg]
            ax.set_xlim(-0.25, 1.25)
            ax.set_ylim(-0.8, 0.85)
            ax.set_axis_off()
            ax.set_title(kit.wrap(kit.seg_label(seg, names), kit.cells_in(width / cols - 0.2, 8.5)), fontsize=8.5)
            for variable, (x, y) in layout.items():
                ax.text(x, y, kit.wrap(kit.plain(kit.label_words(variable)), 12), ha="center", va="center", fontsize=8,
                        bbox={"boxstyle": "square,pad=0.35", "facecolor": "white", "edgecolor": "black",
                              "linewidth": 0.9}, zorder=3)
            for r in sub.loc[sub["kind"] == "path"].itertuples():
                a, b = r.path.split(" → ")
                (x0, y0), (x1, y1) = layout[a], layout[b]
                width_, dash, grey = PATH_STYLES.get(str(r.verdict), PATH_STYLES["inconclusive"])
                # from the edge of one box to the edge of the other (the boxes are about 0.2 wide, 0.12 high)
                dx, dy = x1 - x0, y1 - y0
                gap_x = 0.13 if abs(dx) > 1e-9 else 0.0
                gap_y = 0.1 if abs(dy) > 1e-9 else 0.0
                start = (x0 + gap_x * np.sign(dx), y0 + gap_y * np.sign(dy))
                end = (x1 - gap_x * np.sign(dx), y1 - gap_y * np.sign(dy))
                ax.annotate("", xy=end, xytext=start,
                            arrowprops={"arrowstyle": "-|>,head_length=0.5,head_width=0.25", "color": grey,
                                        "linewidth": width_, "linestyle": dash, "shrinkA": 0, "shrinkB": 0,
                                        # an arrow's default round caps stretch each dot of a dotted line into a dash
                                        "capstyle": "butt"},
                            zorder=2)
                label = _estimate_text(r, "\n")
                mid_x, mid_y = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
                if abs(dy) < 1e-9:  # a horizontal path: its label below the line, clear of the others
                    at, align = (mid_x, mid_y - 0.2), "center"
                else:  # a rising or falling path: its label outside the triangle of the chain
                    at, align = ((mid_x - 0.05, mid_y + 0.08), "right") if dy > 0 else ((mid_x + 0.05, mid_y + 0.08),
                                                                                      "left")
                ax.text(*at, label, ha=align, va="center", fontsize=6.8, color="0.1", zorder=4)
            lines = [f"{r.kind} {_estimate_text(r, ' ')} ({str(r.verdict).replace('_', ' ')})"
                     for r in sub.loc[sub["kind"].isin(["indirect", "total"])].itertuples()]
            ax.text(0.5, -0.62, "\n".join(lines), ha="center", va="center", fontsize=6.8, transform=ax.transData)
        legend = [Line2D([], [], color=PATH_STYLES[v][2], linewidth=PATH_STYLES[v][0], linestyle=PATH_STYLES[v][1],
                         label=words) for v, words in PATH_STYLE_WORDS.items()]
        fig.legend(handles=legend, loc="outside lower center", ncols=2 if width > 5 else 1, fontsize=6.8)
    caption = (
        "The chain in each segment: boxes are the variables, arrows the paths, each labelled with its coefficient "
        f"({unit}) and {kit.pct(ci_level)} confidence interval. The line of an arrow shows its verdict: "
        + "; ".join(PATH_STYLE_WORDS.values())
        + ". Under each diagram: the indirect effect through each chain of mediators (the product of its paths) "
        "and the total effect of the first variable on the last, with delta-method intervals (effects.csv also "
        "holds the bootstrap percentile intervals, the ones to read for a skewed product)."
    )
    return kit.save(fig, stem, formats, caption)


def effects_forest(effects: pd.DataFrame, names: Mapping[int, str] | None, stem: Path,
                   equivalence_margin: float | None = None, ci_level: float = 0.95,
                   formats: Sequence[str] = ("pdf",), unit: str = "outcome points per predictor point") -> kit.Figure:
    """Forest of each segment's direct, indirect and total effects, one panel per effect.

    ``effects`` is ``effects.csv`` (``segment, kind, path, estimate, ci_low,
    ci_high`` and, if the bootstrap ran, ``boot_ci_low, boot_ci_high``).
    Every panel shades ``±equivalence_margin``.
    """
    kit.require(effects, ["segment", "kind", "path", "estimate", "ci_low", "ci_high"], "effects")
    est = effects.loc[effects["kind"].isin(["direct", "indirect", "total"])].copy()
    est["term"] = est["kind"] + ": " + est["path"].map(lambda p: " \u2192 ".join(
        kit.label_words(v).lower() for v in str(p).split(" \u2192 ")))
    terms = list(dict.fromkeys(est["term"]))
    has_boot = {"boot_ci_low", "boot_ci_high"} <= set(est.columns) and est["boot_ci_low"].notna().any()
    segs = kit.all_segments(names, est["segment"])
    styles = kit.segment_styles(segs)
    rows = {s: i for i, s in enumerate(segs)}
    row_labels = [kit.wrapped_label(s, names, 24) for s in segs]
    label_width = max((kit.text_inches(t, 7.5) for t in row_labels), default=1.0)
    width = min(kit.DOUBLE_COLUMN, 1.0 + label_width + 1.9 * max(len(terms), 1))
    panel = (width - 0.6 - label_width) / max(len(terms), 1)
    n_missing = 0
    with kit.rendering():
        fig = _MplFigure(figsize=(width, max(kit.MIN_HEIGHT, 1.5 + 0.3 * len(segs))), layout="constrained")
        axes = fig.subplots(1, max(len(terms), 1), sharey=True, squeeze=False)[0]
        if not terms:
            kit.empty_note(axes[0], "No effects")
        for ax, term in zip(axes, terms):
            if equivalence_margin:
                ax.axvspan(-equivalence_margin, equivalence_margin, color="0.88", zorder=0, linewidth=0)
            ax.axvline(0.0, color="0.3", linewidth=0.8, zorder=1)
            n_missing += kit.forest_panel(ax, est[est["term"] == term], rows, styles, has_boot)
            ax.set_title(kit.wrap(kit.plain(term), kit.cells_in(panel, 8.5)), fontsize=8)
            ax.margins(x=0.15)
            kit.forest_ticks(ax, panel)
        axes[0].set_yticks(range(len(segs)), row_labels)
        axes[0].set_ylim(len(segs) - 0.5, -0.5)
        fig.supxlabel(kit.wrap(f"Effect ({unit})", kit.cells_in(width - 0.4, 8)), fontsize=8)
        legend = kit.forest_legend(ci_level, has_boot, equivalence_margin)
        fig.legend(handles=legend, loc="outside upper center",
                   ncols=kit.legend_columns([h.get_label() for h in legend], width, 7.5))
    caption = (
        "Direct, indirect and total effects of the first variable of the chain on its last outcome, one panel per "
        f"effect and one row per segment (marker shape and shade identify the segment), in {unit}. Markers: "
        f"estimates; solid lines: {kit.pct(ci_level)} delta-method intervals"
        + (f"; dashed lines: {kit.pct(ci_level)} bootstrap percentile intervals (read these for an indirect effect, "
           "a skewed product of paths)" if has_boot else "")
        + ". The indirect effect is the product of the paths through the mediators; the total effect adds the "
        "direct one. An interval that excludes the zero line shows an effect"
        + (f"; one inside the shaded band (±{equivalence_margin:g}) shows it negligible" if equivalence_margin
           else "")
        + "."
        + (f" {n_missing} interval(s) could not be estimated (marked n/a)." if n_missing else "")
    )
    return kit.save(fig, stem, formats, caption)
