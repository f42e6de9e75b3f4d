"""Journal figures: one function per figure, greyscale-safe, captioned.

Every function takes plain DataFrames/arrays in the shapes of the results
contract (``docs/architecture.md``), writes ``<stem>.png`` (always) plus the
requested vector formats (``formats=("pdf",)``; ``"pdf"`` and/or ``"svg"``),
and returns a :class:`Figure` record with the written paths and a caption that
says what is shown, in which units and how to read it.

Design rules
------------
* Segments are told apart by marker shape, line style *and* a palette whose
  lightness changes monotonically (sampled from viridis), so the figures
  survive greyscale printing.
* No global state: figures are built as :class:`matplotlib.figure.Figure`
  objects (no pyplot figure manager), styles are applied with
  :func:`matplotlib.rc_context`, and every file is written atomically
  (temporary file + :func:`os.replace`).
* Reproducible to the byte: the same data give the same PNG, PDF and SVG
  files (no write date unless ``SOURCE_DATE_EPOCH`` fixes one; SVG ids
  hashed with a fixed salt).
* Labels may contain spaces and Chinese characters.  A CJK-capable font is
  used when one is installed (Noto Sans/Serif CJK, Source Han, WenQuanYi,
  ...); install one with ``apt-get install fonts-noto-cjk`` (Debian/Ubuntu).
  Without one the figure is still written, the CJK glyphs show as empty
  boxes, and a single warning says so instead of one warning per glyph.
"""

from __future__ import annotations

import functools
import os
import tempfile
import textwrap
import warnings
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.figure import Figure as _MplFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

__all__ = [
    "Figure",
    "segment_scatter",
    "information_criteria",
    "posterior_certainty",
    "coefficient_forest",
    "bootstrap_stability",
    "profile_heatmap",
    "cleaning_summary",
    "segment_styles",
    "cjk_font",
]

DPI = 180
VECTOR_FORMATS = ("pdf", "svg")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)), (0, (8, 2)), (0, (3, 1, 1, 1)))
HATCHES = ("", "///", "...", "xxx", "\\\\\\", "ooo", "---", "+++")
SINGLE_COLUMN = 3.5  # inches; journal single-column width
DOUBLE_COLUMN = 7.0
MIN_HEIGHT = 2.2  # inches; keeps one-row figures (K = 1, one rule) legible

# Families tried in order when a label needs CJK glyphs.
_CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Noto Sans CJK KR",
    "Noto Sans SC", "Noto Serif CJK SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback", "AR PL UMing CN",
    "AR PL UKai CN", "SimHei", "Microsoft YaHei", "PingFang SC", "Hiragino Sans GB",
    "Heiti SC", "Arial Unicode MS",
)


@dataclass(frozen=True)
class Figure:
    """A written figure.

    Attributes
    ----------
    paths : tuple of Path
        Written files, PNG first, then the vector formats in the order asked.
    caption : str
        What is shown, units and how to read it; ready for a report.
    """

    paths: tuple[Path, ...]
    caption: str

    @property
    def png(self) -> Path:
        """The PNG file."""
        return self.paths[0]


# ---------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Name of an installed CJK-capable font family, or None.

    Cached because scanning the font list is slow; the result only changes
    when fonts are installed, which needs a new Python process anyway.

    Returns
    -------
    str or None
        For example ``"Noto Sans CJK SC"``.  Install one with
        ``apt-get install fonts-noto-cjk`` (or ``fonts-wqy-zenhei``).
    """
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for family in _CJK_FAMILIES:
        if family in installed:
            return family
    return None


def _rc(font_size: float = 8.0) -> dict:
    """rcParams for all figures: small serif-free type, no top/right spines."""
    family = ["DejaVu Sans"]
    cjk = cjk_font()
    if cjk is not None:
        # Matplotlib falls back glyph by glyph through the family list.
        family.append(cjk)
    return {
        "font.family": family,
        "font.size": font_size,
        "axes.titlesize": font_size + 1,
        "axes.labelsize": font_size,
        "legend.fontsize": font_size - 0.5,
        "xtick.labelsize": font_size - 0.5,
        "ytick.labelsize": font_size - 0.5,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.linewidth": 0.8,
        "lines.linewidth": 1.4,
        "legend.frameon": False,
        "savefig.dpi": DPI,
        "pdf.fonttype": 42,  # embed TrueType so journals can edit text
        "svg.fonttype": "path",  # no dependence on the reader's fonts
        "svg.hashsalt": "trustseg",  # SVG element ids from the content, not a random salt: same figure, same file
        "hatch.linewidth": 0.6,
    }


def _rendering():
    """Style context for building a figure (fonts, sizes, spines)."""
    return matplotlib.rc_context(_rc())


@contextmanager
def _one_glyph_warning():
    """Collapse matplotlib's one-warning-per-missing-glyph into a single warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    missing = [w for w in caught if "missing from font" in str(w.message)]
    for w in caught:
        if w not in missing:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if missing:
        warnings.warn(
            "Some labels contain characters (e.g. Chinese) that no installed font covers; "
            "they are drawn as boxes. Install a CJK font, e.g. `apt-get install fonts-noto-cjk`.",
            UserWarning,
            stacklevel=5,  # the caller of the figure function
        )


def _check_formats(formats: Iterable[str]) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = (formats,)
    out = []
    for fmt in formats:
        fmt = str(fmt).lower().lstrip(".")
        if fmt == "png":
            continue  # always written
        if fmt not in VECTOR_FORMATS:
            raise ValueError(f"unsupported figure format {fmt!r}; choose from {VECTOR_FORMATS}")
        if fmt not in out:
            out.append(fmt)
    return tuple(out)


# The metadata key under which each vector format stamps the time it was written.
_DATE_KEYS = {"pdf": "CreationDate", "svg": "Date"}


def _file_metadata(fmt: str) -> dict | None:
    """Metadata for ``savefig``: no write date, so the same figure gives the same bytes.

    With ``SOURCE_DATE_EPOCH`` set (the reproducible-builds convention)
    matplotlib stamps that fixed date instead, so it is left to do so.  PNG
    carries no date (only the matplotlib version).
    """
    key = _DATE_KEYS.get(fmt)
    if key is None or os.environ.get("SOURCE_DATE_EPOCH"):
        return None
    return {key: None}


def _save(fig: _MplFigure, stem: Path, formats: Iterable[str], caption: str) -> Figure:
    """Write PNG + vector formats atomically, release the figure, return the record."""
    stem = Path(stem)
    formats = _check_formats(formats)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    try:
        # The style applies again here because layout, tick labels and font
        # embedding happen at draw time.
        with _rendering(), _one_glyph_warning():
            for fmt in ("png", *formats):
                target = stem.with_name(f"{stem.name}.{fmt}")
                fd, tmp = tempfile.mkstemp(dir=stem.parent, prefix=f".{target.name}.", suffix=".tmp")
                os.close(fd)
                try:
                    fig.savefig(tmp, format=fmt, dpi=DPI, metadata=_file_metadata(fmt))
                    os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are shared files
                    os.replace(tmp, target)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
                paths.append(target)
    finally:
        # The figure is not registered with pyplot; clearing it frees the artists now.
        fig.clear()
    return Figure(paths=tuple(paths), caption=caption)


def _palette(n: int) -> list[tuple[float, float, float, float]]:
    # Viridis has monotonic lightness; stop before the pale yellow end so the
    # lightest colour still shows on white paper.
    cmap = matplotlib.colormaps["viridis"]
    return [cmap(v) for v in np.linspace(0.0, 0.78, max(n, 2))][: max(n, 1)]


def segment_styles(segments: Iterable[int]) -> dict[int, dict]:
    """Colour, marker, line style and hatch per segment number.

    Styles are assigned by rank of the segment number among ``segments`` so the
    same segment looks the same in every figure of an analysis (pass all
    segments, e.g. the keys of ``names``).

    Parameters
    ----------
    segments : iterable of int
        Segment numbers (1..K).

    Returns
    -------
    dict
        ``{segment: {"color", "marker", "linestyle", "hatch"}}``.
    """
    segs = sorted({int(s) for s in segments})
    colours = _palette(len(segs))
    return {
        s: {
            "color": colours[i],
            "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)],
            "hatch": HATCHES[i % len(HATCHES)],
        }
        for i, s in enumerate(segs)
    }


def _plain(text) -> str:
    """User text shown literally: an even number of ``$`` would switch on mathtext."""
    return str(text).replace("$", r"\$")


def _seg_label(seg: int, names: Mapping | None) -> str:
    name = (names or {}).get(int(seg))
    return _plain(f"{int(seg)}: {name}") if name else f"Segment {int(seg)}"


def _wrapped_label(seg: int, names: Mapping | None, width: int = 16) -> str:
    """Segment label broken over lines, for crowded category axes."""
    return textwrap.fill(_seg_label(seg, names), width=width, break_long_words=False)


def _all_segments(names: Mapping | None, *observed: Iterable) -> list[int]:
    segs = {int(k) for k in (names or {})}
    for values in observed:
        segs |= {int(v) for v in pd.Series(list(values)).dropna()}
    return sorted(segs)


def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; it has {list(df.columns)}")


def _empty_note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.3")
    ax.set_xticks([])
    ax.set_yticks([])


def _pct(level: float) -> str:
    return f"{100 * level:g}%"


# ---------------------------------------------------------------------------
# 1. segment scatter with fitted lines
# ---------------------------------------------------------------------------


def segment_scatter(
    data: pd.DataFrame,
    lines: pd.DataFrame,
    names: Mapping[int, str] | None,
    x_label: str,
    y_label: str,
    stem: Path,
    jitter: float = 0.1,
    seed: int = 0,
    ci_level: float = 0.95,
    formats: Sequence[str] = ("pdf",),
) -> Figure:
    """Jittered scatter of outcome on predictor with one fitted line per segment.

    Parameters
    ----------
    data : DataFrame
        Columns ``x``, ``y``, ``segment`` (assigned segment, 1..K; missing =
        unassigned, drawn as grey crosses).  Rows with missing x or y are
        dropped.
    lines : DataFrame
        The fitted line of every segment on a grid: ``segment, x, fit, lower,
        upper`` (fit and pointwise interval; missing bounds draw no band).
    names : dict
        Segment number -> plain-language name.
    x_label, y_label : str
        Axis labels including units, e.g.
        ``"Satisfaction (mean of items, 1-7 scale)"``.
    stem : Path
        Output path without extension.
    jitter : float, default 0.1
        Half-width of the uniform jitter added to x and y of the points (in
        scale points), to separate the many tied answers of Likert scores.
        Lines are fitted to the unjittered data; 0 disables jitter.
    seed : int, default 0
        Seed of the jitter, so the figure is reproducible.
    ci_level : float, default 0.95
        Confidence level of the band (used in the caption).
    formats : sequence of str, default ("pdf",)
        Vector formats written next to the PNG.

    Returns
    -------
    Figure
    """
    _require(data, ["x", "y", "segment"], "data")
    _require(lines, ["segment", "x", "fit", "lower", "upper"], "lines")
    if jitter < 0:
        raise ValueError("jitter must be >= 0")
    pts, n_dropped = _plotted_points(data, jitter, seed)
    segs = _all_segments(names, pts["segment"], lines["segment"])
    styles = segment_styles(segs)
    has_band = False
    with _rendering():
        fig = _MplFigure(figsize=(5.5, 4.0), layout="constrained")
        ax = fig.add_subplot()
        handles = []
        unassigned = pts["segment"].isna()
        if unassigned.any():
            ax.scatter(pts.loc[unassigned, "px"], pts.loc[unassigned, "py"],
                       marker="x", s=10, color="0.6", linewidths=0.6, zorder=1)
            handles.append(Line2D([], [], marker="x", color="0.6", linestyle="none",
                                  label=f"Unassigned (n = {int(unassigned.sum())})"))
        seg_num = pd.to_numeric(pts["segment"], errors="coerce")
        line_seg = pd.to_numeric(lines["segment"], errors="coerce")
        for s in segs:
            handle, banded = _segment_points_and_line(ax, pts[(seg_num == s).to_numpy()], lines[line_seg == s],
                                                      styles[s], _seg_label(s, names))
            handles.append(handle)
            has_band |= banded
        ax.set_xlabel(_plain(x_label))
        ax.set_ylabel(_plain(y_label))
        if handles:
            ax.legend(handles=handles, loc="best", handlelength=3)
        if not len(pts):
            _empty_note(ax, "No respondents with both values")
    return _save(fig, stem, formats, _scatter_caption(x_label, y_label, len(pts), jitter, seed,
                                                     ci_level if has_band else None, n_dropped))


def _scatter_caption(x_label: str, y_label: str, n: int, jitter: float, seed: int, band_level: float | None,
                     n_dropped: int) -> str:
    jit = (f"Points are jittered by uniform noise of \u00b1{jitter:g} scale points on both axes "
           f"(seed {seed}) to separate tied answers; lines are fitted to the unjittered data. "
           if jitter else "Points are not jittered. ")
    return (
        f"{y_label} against {x_label} for {n} respondents, by segment "
        "(segments distinguished by marker shape, line style and shade). "
        + jit
        + "Lines: segment-specific fitted regressions; the slope is the change in the outcome per "
        "one-point increase in the predictor"
        + (f"; shaded bands: pointwise {_pct(band_level)} confidence intervals of the fitted line. "
           if band_level is not None else "; no confidence band available. ")
        + (f"{n_dropped} respondent(s) with a missing value are not shown." if n_dropped else "")
    ).strip()


def _plotted_points(data: pd.DataFrame, jitter: float, seed: int) -> tuple[pd.DataFrame, int]:
    """Respondents with both values, with their jittered position ``px, py``; and how many were dropped."""
    pts = data[["x", "y", "segment"]].copy()
    pts["x"] = pd.to_numeric(pts["x"], errors="coerce")
    pts["y"] = pd.to_numeric(pts["y"], errors="coerce")
    n_dropped = int(pts[["x", "y"]].isna().any(axis=1).sum())
    pts = pts.dropna(subset=["x", "y"]).reset_index(drop=True)
    rng = np.random.default_rng(seed)
    # x's jitter is drawn before y's, so a seed always gives the same picture.
    jx = rng.uniform(-jitter, jitter, len(pts)) if jitter else np.zeros(len(pts))
    jy = rng.uniform(-jitter, jitter, len(pts)) if jitter else np.zeros(len(pts))
    pts["px"] = pts["x"] + jx
    pts["py"] = pts["y"] + jy
    return pts, n_dropped


def _segment_points_and_line(ax, pts: pd.DataFrame, grid: pd.DataFrame, style: dict, label: str):
    """Draw one segment's points, fitted line and band; return its legend handle and whether a band was drawn."""
    if len(pts):
        ax.scatter(pts["px"], pts["py"], marker=style["marker"], s=14, facecolor=style["color"],
                   edgecolor="white", linewidths=0.3, alpha=0.55, zorder=2)
    has_band = False
    if len(grid):
        grid = grid.sort_values("x")
        xs = grid["x"].to_numpy(float)
        fit, lo, hi = (grid[c].to_numpy(float) for c in ("fit", "lower", "upper"))
        if np.isfinite(lo).any() and np.isfinite(hi).any():
            ax.fill_between(xs, lo, hi, color=style["color"], alpha=0.18, linewidth=0, zorder=3)
            has_band = True
        ax.plot(xs, fit, color=style["color"], linestyle=style["linestyle"], linewidth=1.8, zorder=4)
    handle = Line2D([], [], color=style["color"], marker=style["marker"], markersize=5,
                    linestyle=style["linestyle"] if len(grid) else "none", label=f"{label} (n = {len(pts)})")
    return handle, has_band


# ---------------------------------------------------------------------------
# 2. information criteria against K
# ---------------------------------------------------------------------------

_CRITERION_LABELS = {
    "aic": "AIC", "aic3": "AIC3", "bic": "BIC", "caic": "CAIC", "sabic": "Sample-size adj. BIC",
    "icl": "ICL",
}


def information_criteria(
    model_selection: pd.DataFrame,
    stem: Path,
    criteria: Sequence[str] = ("aic", "bic", "sabic", "icl"),
    relative: bool = True,
    formats: Sequence[str] = ("pdf",),
) -> Figure:
    """Information criteria against the number of segments K, chosen K marked.

    Parameters
    ----------
    model_selection : DataFrame
        One row per K: ``k`` and criterion columns (``aic, aic3, bic, caic,
        sabic, icl``); optional boolean ``chosen``.
    stem : Path
        Output path without extension.
    criteria : sequence of str
        Criteria to draw, those absent from the table are skipped.
    relative : bool, default True
        Plot each criterion minus its minimum over K, so criteria of similar
        magnitude do not flatten each other's shape; False plots raw values.
    formats : sequence of str, default ("pdf",)

    Returns
    -------
    Figure
    """
    _require(model_selection, ["k"], "model_selection")
    crits = [c for c in criteria if c in model_selection.columns]
    if not crits:
        raise ValueError(f"model_selection has none of the criteria {list(criteria)}")
    tab = model_selection.sort_values("k")
    ks = tab["k"].to_numpy(int)
    chosen = None
    if "chosen" in tab.columns:
        flag = np.array([bool(v) if pd.notna(v) else False for v in tab["chosen"]])
        if flag.any():
            chosen = int(ks[flag][0])
    grey = ["0.0", "0.35", "0.55", "0.15", "0.7", "0.45"]
    with _rendering():
        fig = _MplFigure(figsize=(SINGLE_COLUMN + 0.5, 3.0), layout="constrained")
        ax = fig.add_subplot()
        for i, c in enumerate(crits):
            vals = pd.to_numeric(tab[c], errors="coerce").to_numpy(float)
            if relative and np.isfinite(vals).any():
                vals = vals - np.nanmin(vals)
            ax.plot(ks, vals, color=grey[i % len(grey)], marker=MARKERS[i % len(MARKERS)],
                    linestyle=LINESTYLES[i % len(LINESTYLES)], markersize=5,
                    markerfacecolor="white" if i % 2 else grey[i % len(grey)],
                    label=_CRITERION_LABELS.get(c, c.upper()))
        if chosen is not None:
            ax.axvline(chosen, color="0.5", linewidth=0.8, linestyle=(0, (2, 2)), zorder=0)
            ax.annotate(f"chosen K = {chosen}", xy=(chosen, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(3, -2), textcoords="offset points", ha="left", va="top", fontsize=7.5)
        ax.set_xticks(ks)
        if len(ks) == 1:
            ax.set_xlim(ks[0] - 1, ks[0] + 1)
        ax.set_xlabel("Number of segments K")
        ax.set_ylabel("Criterion minus its minimum over K\n(\u22122 log-likelihood units)"
                      if relative else "Criterion value (\u22122 log-likelihood units)")
        ax.legend(loc="best")
    names = ", ".join(_CRITERION_LABELS.get(c, c.upper()) for c in crits)
    caption = (
        f"Information criteria ({names}) against the number of segments K = "
        f"{ks.min()}\u2013{ks.max()}. Each criterion is \u22122 \u00d7 log-likelihood plus a "
        "complexity penalty, so lower is better"
        + ("; values are shown as differences from each criterion's minimum, so 0 marks the K "
           "that criterion prefers. " if relative else ". ")
        + (f"The dashed vertical line marks the chosen K = {chosen}." if chosen is not None
           else "No K is marked as chosen.")
    )
    return _save(fig, stem, formats, caption)


# ---------------------------------------------------------------------------
# 3. posterior certainty
# ---------------------------------------------------------------------------


def _posterior_matrix(posteriors) -> tuple[np.ndarray, list[int]]:
    if isinstance(posteriors, pd.DataFrame):
        cols = [c for c in posteriors.columns if str(c).startswith("posterior_")]
        if cols:
            segs = [int(str(c).split("_", 1)[1]) for c in cols]
            return posteriors[cols].to_numpy(float), segs
        return posteriors.to_numpy(float), list(range(1, posteriors.shape[1] + 1))
    arr = np.asarray(posteriors, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"posteriors must be (n, K), got shape {arr.shape}")
    return arr, list(range(1, arr.shape[1] + 1))


def posterior_certainty(
    posteriors,
    names: Mapping[int, str] | None,
    stem: Path,
    bins: int = 20,
    formats: Sequence[str] = ("pdf",),
) -> Figure:
    """Histogram of each respondent's largest posterior probability, by assigned segment.

    Parameters
    ----------
    posteriors : ndarray (n, K) or DataFrame
        Posterior membership probabilities, columns in segment order; a
        DataFrame with ``posterior_1..posterior_K`` columns (as in
        ``assignments.csv``) is also accepted.  Rows with missing values are
        dropped.
    names : dict
        Segment number -> name.
    stem : Path
    bins : int, default 20
        Number of bins between 1/K and 1.
    formats : sequence of str, default ("pdf",)

    Returns
    -------
    Figure
    """
    post, segs = _posterior_matrix(posteriors)
    post = post[np.isfinite(post).all(axis=1)]
    k = post.shape[1]
    maxp = post.max(axis=1) if len(post) else np.empty(0)
    assigned = np.asarray(segs)[post.argmax(axis=1)] if len(post) else np.empty(0, int)
    styles = segment_styles(_all_segments(names, segs))
    floor = 1.0 / k if k > 1 else 0.0
    edges = np.linspace(floor, 1.0, bins + 1)
    with _rendering():
        fig = _MplFigure(figsize=(SINGLE_COLUMN + 0.5, max(MIN_HEIGHT, 0.6 + 1.05 * k)), layout="constrained")
        axes = fig.subplots(k, 1, sharex=True, squeeze=False)[:, 0]
        for ax, s in zip(axes, segs):
            st = styles[s]
            vals = maxp[assigned == s]
            if len(vals):
                ax.hist(np.clip(vals, floor, 1.0), bins=edges, color=st["color"], hatch=st["hatch"],
                        edgecolor="white" if not st["hatch"] else "0.2", linewidth=0.4)
                note = f"n = {len(vals)}, mean = {vals.mean():.2f}"
            else:
                note = "no respondent assigned"
            # Titles, not in-panel text, so the labels never cover the bars.
            ax.set_title(_seg_label(s, names), loc="left", fontsize=8)
            ax.set_title(note, loc="right", fontsize=7.5, color="0.25")
            ax.set_ylabel("Respondents")
            ax.yaxis.get_major_locator().set_params(integer=True)
        axes[-1].set_xlim(floor, 1.0)
        axes[-1].set_xlabel("Largest posterior membership probability (0\u20131)")
    caption = (
        f"Classification certainty for {len(maxp)} respondents: distribution of each respondent's "
        f"largest posterior probability of segment membership, one panel per assigned (modal) "
        f"segment; y axis: number of respondents. Values near 1 mean the respondent clearly "
        f"belongs to that segment; the left edge of the axis ({floor:.2f} = 1/K"
        + ("" if k > 1 else ", K = 1")
        + ") is complete uncertainty. Mean certainty over all respondents: "
        + (f"{maxp.mean():.2f}." if len(maxp) else "not available.")
    )
    return _save(fig, stem, formats, caption)


# ---------------------------------------------------------------------------
# 4. coefficient forest plot
# ---------------------------------------------------------------------------


def coefficient_forest(
    estimates: pd.DataFrame,
    names: Mapping[int, str] | None,
    stem: Path,
    equivalence_margin: float | None = None,
    focal_term: str | None = None,
    ci_level: float = 0.95,
    x_label: str = "Estimate (outcome scale points; slopes per predictor point)",
    formats: Sequence[str] = ("pdf",),
) -> Figure:
    """Forest plot of segment coefficients with confidence intervals, one panel per term.

    Parameters
    ----------
    estimates : DataFrame
        ``segment, term, estimate, ci_low, ci_high`` (e.g. ``segments.csv``),
        optionally ``boot_ci_low, boot_ci_high`` (bootstrap percentile
        interval, drawn as a second, dashed interval).  Missing intervals (a
        segment lost in the bootstrap) are left out and flagged.
    names : dict
        Segment number -> name.
    stem : Path
    equivalence_margin : float, optional
        Shade ``[-margin, +margin]`` in the focal term's panel (the region in
        which the effect counts as practically zero).
    focal_term : str, optional
        Term that gets the equivalence band; default: first term that is not
        an intercept.
    ci_level : float, default 0.95
        Level of the intervals (for the caption).
    x_label : str
        Label of the estimate axis, with units.
    formats : sequence of str, default ("pdf",)

    Returns
    -------
    Figure
    """
    _require(estimates, ["segment", "term", "estimate", "ci_low", "ci_high"], "estimates")
    est = estimates.copy()
    est["segment"] = pd.to_numeric(est["segment"], errors="coerce")
    est = est.dropna(subset=["segment"])
    terms = list(dict.fromkeys(est["term"].astype(str)))
    has_boot = {"boot_ci_low", "boot_ci_high"} <= set(est.columns)
    if focal_term is None:
        focal_term = next((t for t in terms if "intercept" not in t.lower() and t != "const"), None)
    segs = _all_segments(names, est["segment"])
    styles = segment_styles(segs)
    rows = {s: i for i, s in enumerate(segs)}  # segment -> y position (top = segment 1)
    n_missing = 0
    with _rendering():
        width = min(DOUBLE_COLUMN, 1.2 + 2.2 * max(len(terms), 1))
        fig = _MplFigure(figsize=(width, max(MIN_HEIGHT, 1.1 + 0.45 * len(segs))), layout="constrained")
        axes = fig.subplots(1, max(len(terms), 1), sharey=True, squeeze=False)[0]
        if not terms:
            _empty_note(axes[0], "No estimates")
        for ax, term in zip(axes, terms):
            if term == focal_term and equivalence_margin:
                ax.axvspan(-equivalence_margin, equivalence_margin, color="0.88", zorder=0, linewidth=0)
            ax.axvline(0.0, color="0.3", linewidth=0.8, zorder=1)
            n_missing += _forest_panel(ax, est[est["term"].astype(str) == term], rows, styles, has_boot)
            ax.set_title(_plain(term))
            ax.set_xlabel(_plain(x_label) if len(terms) == 1 else "")
            ax.margins(x=0.15)
        axes[0].set_yticks(range(len(segs)), [_seg_label(s, names) for s in segs])
        axes[0].set_ylim(len(segs) - 0.5, -0.5)  # segment 1 on top
        if len(terms) > 1:
            fig.supxlabel(_plain(x_label), fontsize=8)
        legend = _forest_legend(ci_level, has_boot, equivalence_margin if focal_term in terms else None)
        fig.legend(handles=legend, loc="outside upper center", ncols=len(legend))
    caption = _forest_caption(terms, ci_level, has_boot, equivalence_margin if focal_term in terms else None,
                              focal_term, n_missing)
    return _save(fig, stem, formats, caption)


def _forest_caption(terms: list[str], ci_level: float, has_boot: bool, margin: float | None, focal_term: str | None,
                    n_missing: int) -> str:
    return (
        f"Segment-specific coefficients ({', '.join(terms)}) with {_pct(ci_level)} confidence "
        "intervals, one panel per term and one row per segment (marker shape and shade identify "
        "the segment). Markers: point estimates; solid lines: model-based intervals"
        + ("; dashed lines: bootstrap percentile intervals" if has_boot else "")
        + ". Intercepts are in outcome scale points; slopes are the change in the outcome per "
        "one-point increase in the predictor. An interval that excludes the vertical zero line "
        "indicates a non-zero effect"
        + (f"; an interval inside the shaded band (\u00b1{margin:g} for {focal_term}) "
           "indicates a practically negligible effect" if margin else "")
        + "."
        + (f" {n_missing} interval(s) could not be estimated (marked n/a)." if n_missing else "")
    )


def _forest_legend(ci_level: float, has_boot: bool, margin: float | None) -> list:
    legend = [Line2D([], [], color="0.2", linewidth=1.6, label=f"{_pct(ci_level)} CI (model-based)")]
    if has_boot:
        legend.append(Line2D([], [], color="0.2", linewidth=1.1, linestyle=(0, (3, 1.5)),
                             label=f"{_pct(ci_level)} bootstrap percentile CI"))
    if margin:
        legend.append(Patch(color="0.88", label=f"Equivalence margin \u00b1{margin:g}"))
    return legend


def _forest_panel(ax, sub: pd.DataFrame, rows: Mapping[int, int], styles: Mapping[int, dict], has_boot: bool) -> int:
    """Draw one term's intervals and estimates, one row per segment; return the number of missing intervals."""
    n_missing = 0
    off = 0.13 if has_boot else 0.0  # model-based interval just below the row, bootstrap just above
    for _, r in sub.iterrows():
        s = int(r["segment"])
        y, st = rows[s], styles[s]
        lo, hi, b = (float(r[c]) if pd.notna(r[c]) else np.nan for c in ("ci_low", "ci_high", "estimate"))
        if np.isfinite(lo) and np.isfinite(hi):
            ax.plot([lo, hi], [y - off] * 2, color=st["color"], linewidth=1.6, solid_capstyle="butt")
        else:
            n_missing += 1
            ax.text(1.0, y - off, "interval n/a ", transform=ax.get_yaxis_transform(),
                    ha="right", va="center", fontsize=6.5, color="0.35")
        if has_boot:
            blo, bhi = (float(r[c]) if pd.notna(r[c]) else np.nan for c in ("boot_ci_low", "boot_ci_high"))
            if np.isfinite(blo) and np.isfinite(bhi):
                ax.plot([blo, bhi], [y + off] * 2, color=st["color"], linewidth=1.1,
                        linestyle=(0, (3, 1.5)))
            else:
                n_missing += 1
                ax.text(1.0, y + off, "bootstrap n/a ", transform=ax.get_yaxis_transform(),
                        ha="right", va="center", fontsize=6.5, color="0.35")
        if np.isfinite(b):
            ax.plot([b], [y - off], marker=st["marker"], color=st["color"], markersize=5.5,
                    markeredgecolor="black", markeredgewidth=0.4, linestyle="none", zorder=3)
    return n_missing


# ---------------------------------------------------------------------------
# 5. bootstrap stability
# ---------------------------------------------------------------------------


def bootstrap_stability(
    ari,
    reappearance: pd.DataFrame,
    names: Mapping[int, str] | None,
    stem: Path,
    formats: Sequence[str] = ("pdf",),
) -> Figure:
    """Distribution of bootstrap ARIs and per-segment reappearance rates.

    Parameters
    ----------
    ari : array-like
        Adjusted Rand index of each bootstrap replicate's partition against
        the full-sample partition.  Missing values (failed replicates) are
        dropped and counted in the caption.
    reappearance : DataFrame
        ``segment, reappearance``: share of replicates (0-1) in which the
        segment was found again.
    names : dict
        Segment number -> name.
    stem : Path
    formats : sequence of str, default ("pdf",)

    Returns
    -------
    Figure
    """
    _require(reappearance, ["segment", "reappearance"], "reappearance")
    ari = np.asarray(ari, dtype=float).ravel()
    n_failed = int((~np.isfinite(ari)).sum())
    ari = ari[np.isfinite(ari)]
    rep = reappearance.copy()
    rep["segment"] = pd.to_numeric(rep["segment"], errors="coerce")
    rep = rep.dropna(subset=["segment"])
    segs = _all_segments(names, rep["segment"])
    styles = segment_styles(segs)
    with _rendering():
        fig = _MplFigure(figsize=(DOUBLE_COLUMN * 0.85, 2.9), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.2, 1])
        if len(ari):
            lo = min(0.0, float(ari.min()))
            ax1.hist(ari, bins=np.linspace(lo, 1.0, 21), color="0.45", edgecolor="white", linewidth=0.4)
            med = float(np.median(ari))
            ax1.axvline(med, color="black", linestyle="--", linewidth=1.0)
            ax1.text(med, 1.0, f" median {med:.2f}", transform=ax1.get_xaxis_transform(),
                     ha="right" if med > 0.5 else "left", va="top", fontsize=7.5)
            ax1.set_xlim(lo, 1.0)
            ax1.yaxis.get_major_locator().set_params(integer=True)
        else:
            _empty_note(ax1, "No successful replicates")
        ax1.set_xlabel("Adjusted Rand index vs full-sample\npartition (1 = identical, 0 = chance)")
        ax1.set_ylabel("Bootstrap replicates (count)")
        ax1.set_title("(a) Partition agreement", loc="left")
        for i, s in enumerate(segs):
            st = styles[s]
            val = rep.loc[rep["segment"] == s, "reappearance"]
            v = float(val.iloc[0]) if len(val) and pd.notna(val.iloc[0]) else np.nan
            if np.isfinite(v):
                ax2.bar(i, v, color=st["color"], hatch=st["hatch"], edgecolor="0.15", linewidth=0.5, width=0.65)
                ax2.text(i, v + 0.02, f"{100 * v:.0f}%", ha="center", va="bottom", fontsize=7.5)
            else:
                ax2.text(i, 0.02, "n/a", ha="center", va="bottom", fontsize=7.5, color="0.35")
        ax2.set_xticks(range(len(segs)), [_wrapped_label(s, names) for s in segs],
                       fontsize=7)
        ax2.set_xlim(-0.6, max(len(segs), 1) - 0.4)
        ax2.set_ylim(0, 1.1)
        ax2.set_yticks(np.linspace(0, 1, 6))
        ax2.set_ylabel("Reappearance rate\n(share of replicates, 0\u20131)")
        ax2.set_title("(b) Segment reappearance", loc="left")
    caption = (
        f"Bootstrap stability of the segmentation. (a) Adjusted Rand index between each of the "
        f"{len(ari)} bootstrap replicates' partition and the full-sample partition (1 = identical "
        "assignment, 0 = chance agreement); dashed line: median"
        + (f" ({float(np.median(ari)):.2f})" if len(ari) else "")
        + ". (b) Share of replicates (0\u20131, labelled in percent) in which each segment "
        "reappeared; higher is more stable, n/a = not estimable."
        + (f" {n_failed} replicate(s) failed and are not shown." if n_failed else "")
    )
    return _save(fig, stem, formats, caption)


# ---------------------------------------------------------------------------
# 6. profile heat map
# ---------------------------------------------------------------------------


def profile_heatmap(
    profiles: pd.DataFrame,
    names: Mapping[int, str] | None,
    stem: Path,
    formats: Sequence[str] = ("pdf",),
) -> Figure:
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
    Figure

    Notes
    -----
    Shares are shaded on the absolute 0-100% scale; means (which have no
    common scale) within their row, over at least one standard deviation of
    the variable when ``profiles`` has an ``sd`` column, so that trivial
    differences stay pale.  The annotation gives the actual value.
    """
    _require(profiles, ["variable", "level", "segment", "value"], "profiles")
    prof = profiles.copy()
    prof["segment"] = pd.to_numeric(prof["segment"], errors="coerce")
    prof["value"] = pd.to_numeric(prof["value"], errors="coerce")
    prof = prof.dropna(subset=["segment"])
    segs = _all_segments(names, prof["segment"])
    # Row key keeps the first-appearance order of variables and levels.
    prof["row"] = [f"{v}: {lv}" if pd.notna(lv) and str(lv) != "" else f"{v} (mean)"
                   for v, lv in zip(prof["variable"], prof["level"])]
    row_keys = list(dict.fromkeys(prof["row"]))
    with _rendering():
        n_rows = max(len(row_keys), 1)
        fig = _MplFigure(figsize=(min(DOUBLE_COLUMN, 2.6 + 1.0 * max(len(segs), 1)),
                                  max(MIN_HEIGHT, 0.9 + 0.28 * n_rows)), layout="constrained")
        ax = fig.add_subplot()
        if not row_keys or not segs:
            _empty_note(ax, "No profile variables")
        else:
            _draw_heatmap(ax, prof, row_keys, segs, names)
    caption = (
        "Profile of the segments: rows are profile variables (for categorical variables one row "
        "per category, cells give the percentage of the segment in that category; numeric "
        "variables show the segment mean in the variable's own units), columns are segments. "
        "Percentages are shaded on the absolute 0-100% scale (darker = larger share); means are "
        "shaded along their row, from the lowest segment mean, over at least one standard deviation "
        "of the variable, so pale rows differ little; \u2013 marks a missing value."
        if row_keys and segs else
        "Profile of the segments: no profile variables were available, so the figure is empty."
    )
    return _save(fig, stem, formats, caption)


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


def _draw_heatmap(ax, prof: pd.DataFrame, row_keys: list[str], segs: list[int], names: Mapping | None) -> None:
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
    ax.set_xticks(range(len(segs)), [_wrapped_label(s, names) for s in segs])
    ax.set_yticks(range(len(row_keys)), [_plain(r) for r in row_keys])
    ax.tick_params(length=0)
    ax.xaxis.tick_top()
    for side in ("left", "bottom", "top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_xticks(np.arange(-0.5, len(segs)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(row_keys)), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.0)
    ax.tick_params(which="minor", length=0)


# ---------------------------------------------------------------------------
# 7. cleaning summary
# ---------------------------------------------------------------------------


def cleaning_summary(
    report: pd.DataFrame,
    stem: Path,
    formats: Sequence[str] = ("pdf",),
) -> Figure:
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
    Figure
    """
    _require(report, ["rule", "rows_affected"], "report")
    rules = report["rule"].astype(str).tolist()
    counts = pd.to_numeric(report["rows_affected"], errors="coerce").fillna(0).to_numpy(float)
    with _rendering():
        fig = _MplFigure(figsize=(SINGLE_COLUMN + 1.5, max(MIN_HEIGHT, 0.8 + 0.3 * len(rules))), layout="constrained")
        ax = fig.add_subplot()
        if not rules:
            _empty_note(ax, "No cleaning rules applied")
        else:
            y = np.arange(len(rules))
            ax.barh(y, counts, color="0.35", height=0.6)
            top = max(counts.max(), 1.0)
            for yi, c in zip(y, counts):
                ax.text(c + 0.01 * top, yi, f"{int(c)}", va="center", ha="left", fontsize=7.5)
            ax.set_yticks(y, [_plain(r) for r in rules])
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
    return _save(fig, stem, formats, caption)
