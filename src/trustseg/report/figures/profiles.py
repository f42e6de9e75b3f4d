"""The profile heat map (rule profile_figure): who is in each segment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure as _MplFigure

import trustseg.report.figures.kit as kit
from trustseg.report.numbers import category_text, fmt_p

# ---------------------------------------------------------------------------
# profile heat map
# ---------------------------------------------------------------------------


def profile_heatmap(
    profiles: pd.DataFrame,
    names: Mapping[int, str] | None,
    stem: Path,
    formats: Sequence[str] = ("pdf",),
) -> kit.Figure:
    """Heat map of profile variables (rows) by segment (columns), values annotated.

    Parameters
    ----------
    profiles : DataFrame
        Long form ``variable, level, segment, value``: for a categorical
        variable one row per level with ``value`` the share (0-1) of the
        segment in that level; for a numeric variable ``level`` is missing
        and ``value`` is the segment mean.
    names : dict
        Segment number -> name.
    stem : Path
    formats : sequence of str, default ("pdf",)

    Returns
    -------
    kit.Figure

    Notes
    -----
    Shares are shaded on the absolute 0-100% scale; means (which have no
    common scale) within their row, over at least one standard deviation of
    the variable when ``profiles`` has an ``sd`` column, so that trivial
    differences stay pale.  The annotation gives the actual value.
    """
    kit.require(profiles, ["variable", "level", "segment", "value"], "profiles")
    prof = profiles.copy()
    prof["segment"] = pd.to_numeric(prof["segment"], errors="coerce")
    prof["value"] = pd.to_numeric(prof["value"], errors="coerce")
    prof = prof.dropna(subset=["segment"])
    segs = kit.all_segments(names, prof["segment"])
    # Row key keeps the first-appearance order of variables and levels.
    prof["row"] = [f"{kit.label_words(v)}: {category_text(lv)}" if pd.notna(lv) and str(lv) != ""
                   else f"{kit.label_words(v)} (mean)" for v, lv in zip(prof["variable"], prof["level"])]
    row_keys = list(dict.fromkeys(prof["row"]))
    # Sizes follow from the labels: row labels wrapped to at most 30 cells, and
    # columns wide enough for their wrapped segment names, so no label meets another.
    row_labels = {key: kit.wrap(kit.plain(key), 30) for key in row_keys}
    label_width = max((kit.text_inches(t, 7.5) for t in row_labels.values()), default=1.0)
    n_cols = max(len(segs), 1)
    column = max(0.8, min(1.1, (7.5 - 0.4 - label_width) / n_cols))
    column_font = 7.0 if n_cols <= 4 else 6.5
    column_labels = [kit.wrapped_label(s, names, kit.cells_in(column - 0.1, column_font)) for s in segs]
    lines = max((t.count("\n") + 1 for t in row_labels.values()), default=1)
    with kit.rendering():
        n_rows = max(len(row_keys), 1)
        height = max(kit.MIN_HEIGHT, 1.0 + (0.28 + 0.12 * (lines - 1)) * n_rows)
        fig = _MplFigure(figsize=(label_width + 0.4 + column * n_cols, height), layout="constrained")
        ax = fig.add_subplot()
        if not row_keys or not segs:
            kit.empty_note(ax, "No profile variables")
        else:
            _draw_heatmap(ax, prof, row_keys, segs, [row_labels[k] for k in row_keys], column_labels, column_font)
    caption = _heatmap_caption(prof) if row_keys and segs else (
        "Profile of the segments: no profile variables were available, so the figure is empty.")
    return kit.save(fig, stem, formats, caption)


def _heatmap_caption(prof: pd.DataFrame) -> str:
    """What the cells of this run's heat map show (only the kinds of variable it has) and each variable's test."""
    has_level = prof["level"].notna() & (prof["level"].astype(str) != "")
    shares, means = bool(has_level.any()), bool((~has_level).any())
    rows = ("one row per category of each categorical variable, the cell giving the percentage of the segment in "
            "that category" if shares else "")
    rows += ("; " if shares and means else "") + (
        "one row per numeric variable, the cell giving the segment mean in the variable's own units" if means else "")
    shading = ("Percentages are shaded on the absolute 0-100% scale (darker = larger share)" if shares else "")
    shading += ("; means" if shares and means else "Means" if means else "") + (
        " are shaded along their row, from the lowest segment mean, over at least one standard deviation of the "
        "variable, so pale rows differ little" if means else "")
    return (f"Profile of the segments: columns are segments, rows are profile variables ({rows}). {shading}; "
            "\u2013 marks a missing value." + _profile_tests(prof))


def _profile_tests(prof: pd.DataFrame) -> str:
    """Caption sentence with each variable's test of a difference between the segments (profiles.csv), as
    ``gender chi-square p = 0.474``; empty when the table carries no tests."""
    if not {"test", "p_value"} <= set(prof.columns):
        return ""
    tests = []
    for variable, rows in prof.groupby("variable", sort=False):
        tested = rows.dropna(subset=["p_value"])
        if len(tested):
            r = tested.iloc[0]
            tests.append(f"{kit.label_words(variable).lower()} {str(r['test'])} {fmt_p(float(r['p_value']))}")
    if not tests:
        return ""
    return (" Shading is no test; each variable's test of a difference between the segments (profiles.csv): "
            + "; ".join(tests) + ".")


def _heatmap_shades(prof: pd.DataFrame, row_keys: list[str], vals: np.ndarray, is_share: np.ndarray) -> np.ndarray:
    """Grey level (0-1) of every cell; NaN where the value is missing.

    Shares are shaded on the absolute 0-100% scale, so a 33% vs 35% split
    looks alike, as it should.  Means are shaded within their row, over at
    least one standard deviation of the variable (when the table carries
    ``sd``), so trivial differences stay pale.
    """
    spread = (prof.groupby("row")["sd"].mean().reindex(row_keys).to_numpy(float)
              if "sd" in prof.columns else np.full(len(row_keys), np.nan))
    with np.errstate(invalid="ignore"):  # rows that are entirely missing
        lo = np.nanmin(np.where(np.isfinite(vals), vals, np.inf), axis=1, keepdims=True)
        hi = np.nanmax(np.where(np.isfinite(vals), vals, -np.inf), axis=1, keepdims=True)
        span = np.fmax(hi - lo, np.nan_to_num(spread, nan=0.0)[:, None])
        within = np.where(span > 0, (vals - lo) / np.where(span > 0, span, 1.0), 0.5)
        shade = np.where(is_share[:, None], np.clip(vals, 0.0, 1.0), within)
        return np.where(np.isfinite(vals), shade, np.nan)


def _draw_heatmap(ax, prof: pd.DataFrame, row_keys: list[str], segs: list[int], row_labels: list[str],
                  column_labels: list[str], column_font: float) -> None:
    """Shaded, annotated cells: one row per profile row key, one column per segment."""
    is_share = {r: pd.notna(lv) and str(lv) != "" for r, lv in zip(prof["row"], prof["level"])}
    vals = (prof.pivot_table(index="row", columns="segment", values="value", aggfunc="first", dropna=False)
            .reindex(index=row_keys, columns=segs)).to_numpy(float)
    shade = _heatmap_shades(prof, row_keys, vals, np.array([is_share[r] for r in row_keys]))
    cmap = matplotlib.colormaps["Greys"].with_extremes(bad="white")
    # Why 0.05-0.75 of Greys: the lightest cells stay visible, the darkest keep white text legible.
    ax.imshow(0.05 + 0.7 * shade, cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    for i, key in enumerate(row_keys):
        for j in range(len(segs)):
            v = vals[i, j]
            if not np.isfinite(v):
                text, colour = "\u2013", "0.4"
            else:
                text = f"{100 * v:.0f}%" if is_share[key] else f"{v:.2f}"
                colour = "white" if shade[i, j] > 0.75 else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(len(segs)), column_labels, fontsize=column_font)
    ax.set_yticks(range(len(row_keys)), row_labels)
    ax.tick_params(length=0)
    ax.xaxis.tick_top()
    for side in ("left", "bottom", "top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_xticks(np.arange(-0.5, len(segs)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(row_keys)), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.0)
    ax.tick_params(which="minor", length=0)

