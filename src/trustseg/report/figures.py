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
* Text cannot collide, whatever the data set: legends sit outside the axes
  (never over data), a panel's title and its counts are one title on separate
  lines, long category labels run down a y axis, and every label is wrapped
  to the width the layout gives it (``constrained_layout`` does the rest).
* Rating scales are respected: with a known scale an axis spans that scale,
  lines and bands the model carries beyond it are cut off at its ends, and
  the caption says so.
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
import math
import os
import re
import tempfile
import unicodedata
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
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from trustseg.model.families import family_class
from trustseg.render import join_words

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


# Text is wrapped to widths estimated before drawing, so that labels fit the
# space the layout gives them whatever the data set calls its segments and
# constructs.  DejaVu Sans averages about 0.55 em per character; 0.62 em
# leaves room for capitals and wide letters, so an estimate errs on the wide side.
_EM_PER_CHAR = 0.62


def _display_width(text: str) -> int:
    """Width of one line of text in character cells; East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _cells_in(width_inches: float, font_size: float) -> int:
    """How many character cells of ``font_size`` points fit in ``width_inches``."""
    return max(6, int(width_inches * 72 / (_EM_PER_CHAR * font_size)))


def _text_inches(text: str, font_size: float) -> float:
    """Estimated width in inches of the widest line of ``text``."""
    return max((_display_width(line) for line in str(text).split("\n")), default=0) * _EM_PER_CHAR * font_size / 72


def _wrap(text, width: int) -> str:
    """Break ``text`` into lines of at most ``width`` cells: at spaces and after hyphens, inside a word only
    when the word alone is wider (CJK text has no spaces).  Existing line breaks are kept."""
    lines = []
    for paragraph in str(text).split("\n"):
        line = ""
        previous_end = 0
        # Only plain spaces break: a no-break space (as in "n\u00a0=\u00a056") holds its words together.
        for match in re.finditer(r"[^ ]+?-(?=[^ ])|[^ ]+", paragraph):
            token = match.group()
            spaced = match.start() > previous_end
            previous_end = match.end()
            candidate = line + (" " if spaced and line else "") + token
            if _display_width(candidate) <= width or not line:
                line = candidate
            else:
                lines.append(line)
                line = token
            while _display_width(line) > width:
                cut, cells = 0, 0
                while cut < len(line) and cells + _display_width(line[cut]) <= width:
                    cells += _display_width(line[cut])
                    cut += 1
                cut = max(cut, 1)
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return "\n".join(lines)


def _wrapped_label(seg: int, names: Mapping | None, width: int = 16) -> str:
    """Segment label broken over lines of at most ``width`` cells, for crowded axes."""
    return _wrap(_seg_label(seg, names), width)


def _legend_columns(labels: Sequence[str], width_inches: float, font_size: float, handlelength: float = 2.0) -> int:
    """The most legend columns that fit side by side in ``width_inches`` (at least one)."""
    longest = max((_text_inches(label, font_size) for label in labels), default=0.0)
    column = longest + _legend_handle_inches(font_size, handlelength)
    return max(1, min(len(labels), int(width_inches // column)))


def _legend_handle_inches(font_size: float, handlelength: float) -> float:
    # the handle, the gap between handle and text (0.8 em) and the column spacing (2 em)
    return (handlelength + 0.8 + 2.0) * font_size / 72


def _legend_layout(labels: Sequence[str], width_inches: float, font_size: float, handlelength: float = 2.0,
                   max_columns: int = 2) -> tuple[int, list[str]]:
    """Columns and wrapped labels for a legend across ``width_inches``.

    As many columns as fit unwrapped; otherwise up to ``max_columns`` with the
    labels wrapped to the column width (while a column holds 16 cells or more).
    """
    ncols = _legend_columns(labels, width_inches, font_size, handlelength)
    if ncols >= min(len(labels), max_columns):
        return ncols, list(labels)
    for ncols in range(min(len(labels), max_columns), 0, -1):
        cells = _cells_in(width_inches / ncols - _legend_handle_inches(font_size, handlelength), font_size)
        if cells >= 16 or ncols == 1:
            return ncols, [_wrap(label, cells) for label in labels]
    raise AssertionError("unreachable: one column always fits")


def _scale_text(scale: Sequence[float]) -> str:
    lo, hi = scale
    return f"{lo:g}\u2013{hi:g}"


def _check_scale(scale, what: str) -> tuple[float, float] | None:
    if scale is None:
        return None
    lo, hi = (float(v) for v in scale)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{what} must be (low, high) with low < high, got {tuple(scale)}")
    return lo, hi


def _segment_list(segments: Iterable[int]) -> str:
    segs = [str(int(s)) for s in segments]
    if len(segs) == 1:
        return f"segment {segs[0]}"
    return "segments " + ", ".join(segs[:-1]) + f" and {segs[-1]}"


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
    *,
    x_scale: Sequence[float] | None = None,
    y_scale: Sequence[float] | None = None,
    held_at_mean: Mapping[str, float] | None = None,
    family: str = "gaussian",
    curve: str | None = None,
) -> Figure:
    """Jittered scatter of outcome on predictor with one fitted line per segment.

    For an outcome family other than gaussian (``family``) the lines are the
    segments' expected outcomes on the outcome's scale (curves), and the
    caption says so.

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
        ``"Satisfaction (mean of 3 items, 1-7 scale)"``.  Long labels are
        wrapped to the axis.
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
    x_scale, y_scale : (low, high), optional
        The rating scales of predictor and outcome.  The axes then span the
        scale (plus a margin for the jitter), dotted lines mark the outcome
        scale's ends, and fitted lines and bands are cut off at them; the
        caption names the segments whose line or band the model would carry
        beyond the scale.  Without a scale the axes fit the data.
    held_at_mean : dict, optional
        ``{predictor: value}`` for the other predictors of a model with more
        than one: the fitted lines are drawn with each held at its mean,
        which the caption states with the value.
    family : str, default "gaussian"
        The outcome family; its curves are named in the caption (the family's ``mean_label``).
    curve : str, optional
        What the curves show, when not the family's usual quantity (e.g.
        "probability of success per trial" for successes out of trials).

    Returns
    -------
    Figure
    """
    _require(data, ["x", "y", "segment"], "data")
    _require(lines, ["segment", "x", "fit", "lower", "upper"], "lines")
    if jitter < 0:
        raise ValueError("jitter must be >= 0")
    x_scale = _check_scale(x_scale, "x_scale")
    y_scale = _check_scale(y_scale, "y_scale")
    pts, n_dropped = _plotted_points(data, jitter, seed)
    segs = _all_segments(names, pts["segment"], lines["segment"])
    styles = segment_styles(segs)
    has_band = False
    beyond = {"line": [], "band": []}
    width = 5.5
    with _rendering():
        fig = _MplFigure(figsize=(width, 4.4 + 0.2 * max(len(segs) - 4, 0)), layout="constrained")
        ax = fig.add_subplot()
        clip = _scale_clip(ax, y_scale)
        handles = []
        unassigned = pts["segment"].isna()
        if unassigned.any():
            ax.scatter(pts.loc[unassigned, "px"], pts.loc[unassigned, "py"],
                       marker="x", s=10, color="0.6", linewidths=0.6, zorder=1)
            handles.append(Line2D([], [], marker="x", color="0.6", linestyle="none",
                                  label=f"Unassigned (n\u00a0=\u00a0{int(unassigned.sum())})"))
        seg_num = pd.to_numeric(pts["segment"], errors="coerce")
        line_seg = pd.to_numeric(lines["segment"], errors="coerce")
        for s in segs:
            grid = lines[line_seg == s]
            handle, banded = _segment_points_and_line(ax, pts[(seg_num == s).to_numpy()], grid,
                                                      styles[s], _seg_label(s, names), clip)
            handles.append(handle)
            has_band |= banded
            for part, leaves in _leaves_scale(grid, y_scale).items():
                if leaves:
                    beyond[part].append(s)
        # Axis labels and legend entries are wrapped to the space they get, so
        # long construct and segment names stay inside the figure.
        ax.set_xlabel(_wrap(_plain(x_label), _cells_in(width - 0.9, 8)))
        ax.set_ylabel(_wrap(_plain(y_label), _cells_in(3.0, 8)))
        _fit_axis_to_scale(ax, x_scale, "x", jitter)
        _fit_axis_to_scale(ax, y_scale, "y", jitter)
        if handles:
            ncols, labels = _legend_layout([h.get_label() for h in handles], width - 0.2, 7.5, 3)
            for h, label in zip(handles, labels):
                h.set_label(label)
            # Outside the axes, under the x label: the legend never covers a point.
            fig.legend(handles=handles, loc="outside lower center", handlelength=3, ncols=ncols)
        if not len(pts):
            _empty_note(ax, "No respondents with both values")
    caption = _scatter_caption(x_label, y_label, len(pts), jitter, seed, ci_level if has_band else None, n_dropped,
                               y_scale, beyond, held_at_mean, family, curve)
    return _save(fig, stem, formats, caption)


def _scatter_caption(x_label: str, y_label: str, n: int, jitter: float, seed: int, band_level: float | None,
                     n_dropped: int, y_scale: tuple[float, float] | None = None,
                     beyond: Mapping[str, list] | None = None, held_at_mean: Mapping[str, float] | None = None,
                     family: str = "gaussian", curve: str | None = None) -> str:
    jit = (f"Points are jittered by uniform noise of \u00b1{jitter:g} scale points on both axes "
           f"(seed {seed}) to separate tied answers; lines are fitted to the unjittered data. "
           if jitter else "Points are not jittered. ")
    held = ""
    if held_at_mean:
        values = [f"{_plain(p)} at its mean ({v:.2f})" for p, v in held_at_mean.items()]
        held = (" The model has more than one predictor: the lines are drawn with "
                + join_words(values)
                + "; the points are the observed outcomes, not adjusted for "
                + ("them." if len(values) > 1 else "it."))
    scale = ""
    if y_scale is not None:
        scale_text = _scale_text(y_scale)
        scale = f" Dotted lines mark the ends of the outcome's {scale_text} scale."
        beyond = beyond or {}
        lines = beyond.get("line", [])
        if lines:
            one = len(lines) == 1
            scale += (f" The fitted {'line' if one else 'lines'} of {_segment_list(lines)} would pass beyond the "
                      f"{scale_text} scale, where the model predicts values the scale cannot take; "
                      f"{'it is' if one else 'they are'} cut off at the scale's end.")
        bands = [s for s in beyond.get("band", []) if s not in lines]
        if bands:
            one = len(bands) == 1
            scale += (f" The confidence {'band' if one else 'bands'} of {_segment_list(bands)} "
                      f"{'reaches' if one else 'reach'} beyond the {scale_text} scale and "
                      f"{'is' if one else 'are'} cut off at the scale's end.")
    facts = family_class(family)
    return (
        f"{y_label} against {x_label} for {n} respondents, by segment "
        "(segments distinguished by marker shape, line style and shade). "
        + jit
        + ("Lines: segment-specific fitted regressions; the slope is the change in the outcome per "
           "one-point increase in the predictor" if facts.mean_label is None else
           f"Curves: each segment's {curve or facts.mean_label} from its {family} regression; the segment's slope "
           f"is in {facts.coefficient_unit} per one-point increase in the predictor (coefficient table)")
        + (f"; shaded bands: pointwise {_pct(band_level)} confidence intervals of the fitted line."
           if band_level is not None else "; no confidence band available.")
        + held
        + scale
        + (f" {n_dropped} respondent(s) with a missing value are not shown." if n_dropped else "")
    ).strip()


def _scale_clip(ax, scale: tuple[float, float] | None):
    """A clip box spanning the axes' width and the scale's height, or None without a scale."""
    if scale is None:
        return None
    lo, hi = scale
    # x in axes coordinates, y in data: the box follows the outcome scale whatever the x range.
    return Rectangle((0.0, lo), 1.0, hi - lo, transform=ax.get_yaxis_transform(), facecolor="none",
                     edgecolor="none")


def _leaves_scale(grid: pd.DataFrame, scale: tuple[float, float] | None) -> dict[str, bool]:
    """Whether a segment's fitted line, and its band, pass beyond the scale (by more than rounding)."""
    if scale is None or not len(grid):
        return {"line": False, "band": False}
    lo, hi = scale
    tol = 1e-9 * (hi - lo)

    def outside(values) -> bool:
        v = pd.to_numeric(values, errors="coerce").to_numpy(float)
        v = v[np.isfinite(v)]
        return bool(((v < lo - tol) | (v > hi + tol)).any())

    return {"line": outside(grid["fit"]), "band": outside(grid["lower"]) or outside(grid["upper"])}


def _fit_axis_to_scale(ax, scale: tuple[float, float] | None, axis: str, jitter: float) -> None:
    """Limit an axis to the scale plus a margin that holds the jittered points; ticks only on the scale."""
    if scale is None:
        return
    lo, hi = scale
    margin = 0.04 * (hi - lo) + jitter
    set_lim, set_ticks = (ax.set_xlim, ax.set_xticks) if axis == "x" else (ax.set_ylim, ax.set_yticks)
    set_lim(lo - margin, hi + margin)
    ticks = MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10], integer=float(lo).is_integer()).tick_values(lo, hi)
    ticks = [float(t) for t in ticks if lo - 1e-9 <= t <= hi + 1e-9]
    # The scale's ends are labelled too, unless one sits closer than half a step to a tick (labels would touch).
    step = ticks[1] - ticks[0] if len(ticks) > 1 else hi - lo
    ticks += [end for end in (lo, hi) if all(abs(end - t) >= step / 2 for t in ticks)]
    set_ticks(sorted(ticks))
    if axis == "y":
        for end in (lo, hi):
            ax.axhline(end, color="0.55", linewidth=0.6, linestyle=(0, (1, 2)), zorder=0)


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


def _segment_points_and_line(ax, pts: pd.DataFrame, grid: pd.DataFrame, style: dict, label: str, clip=None):
    """Draw one segment's points, fitted line and band; return its legend handle and whether a band was drawn.

    ``clip`` (a patch) cuts the line and band off at the outcome scale's ends.
    """
    if len(pts):
        ax.scatter(pts["px"], pts["py"], marker=style["marker"], s=14, facecolor=style["color"],
                   edgecolor="white", linewidths=0.3, alpha=0.55, zorder=2)
    has_band = False
    if len(grid):
        grid = grid.sort_values("x")
        xs = grid["x"].to_numpy(float)
        fit, lo, hi = (pd.to_numeric(grid[c], errors="coerce").to_numpy(float) for c in ("fit", "lower", "upper"))
        drawn = []
        if np.isfinite(lo).any() and np.isfinite(hi).any():
            drawn.append(ax.fill_between(xs, lo, hi, color=style["color"], alpha=0.18, linewidth=0, zorder=3))
            has_band = True
        drawn += ax.plot(xs, fit, color=style["color"], linestyle=style["linestyle"], linewidth=1.8, zorder=4)
        if clip is not None:
            for artist in drawn:
                artist.set_clip_path(clip)
    handle = Line2D([], [], color=style["color"], marker=style["marker"], markersize=5,
                    linestyle=style["linestyle"] if len(grid) else "none",
                    label=f"{label} (n\u00a0=\u00a0{len(pts)})")
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
        sabic, icl``); optional boolean ``chosen`` and text ``problems``
        (a K with problems is drawn on a grey band and named in the caption).
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
    width = SINGLE_COLUMN + 0.5
    with _rendering():
        fig = _MplFigure(figsize=(width, 3.3), layout="constrained")
        ax = fig.add_subplot()
        for i, c in enumerate(crits):
            vals = pd.to_numeric(tab[c], errors="coerce").to_numpy(float)
            if relative and np.isfinite(vals).any():
                vals = vals - np.nanmin(vals)
            ax.plot(ks, vals, color=grey[i % len(grey)], marker=MARKERS[i % len(MARKERS)],
                    linestyle=LINESTYLES[i % len(LINESTYLES)], markersize=5,
                    markerfacecolor="white" if i % 2 else grey[i % len(grey)],
                    label=_CRITERION_LABELS.get(c, c.upper()))
        flagged = _flagged_ks(tab)
        for k in flagged:
            ax.axvspan(k - 0.3, k + 0.3, color="0.88", linewidth=0, zorder=-1)
        title = []
        if chosen is not None:
            ax.axvline(chosen, color="0.5", linewidth=0.8, linestyle=(0, (2, 2)), zorder=0)
            title.append(f"chosen K = {chosen} (dashed line)")
        if flagged:
            title.append(f"K = {_k_list(flagged)} flagged (grey bands)")
        if title:
            # The title line above the axes, not a label inside them: it cannot meet the legend or a line.
            ax.set_title("; ".join(title), loc="left", fontsize=8)
        ax.set_xticks(ks)
        if len(ks) == 1:
            ax.set_xlim(ks[0] - 1, ks[0] + 1)
        ax.set_xlabel("Number of segments K")
        ax.set_ylabel("Criterion minus its minimum over K\n(\u22122 log-likelihood units)"
                      if relative else "Criterion value (\u22122 log-likelihood units)")
        labels = [_CRITERION_LABELS.get(c, c.upper()) for c in crits]
        fig.legend(loc="outside lower center", ncols=_legend_columns(labels, width, 7.5))
    names = ", ".join(_CRITERION_LABELS.get(c, c.upper()) for c in crits)
    caption = (
        f"Information criteria ({names}) against the number of segments K = "
        f"{ks.min()}\u2013{ks.max()}. Each criterion is \u22122 \u00d7 log-likelihood plus a "
        "complexity penalty, so lower is better"
        + ("; values are shown as differences from each criterion's minimum, so 0 marks the K "
           "that criterion prefers. " if relative else ". ")
        + (f"The dashed vertical line marks the chosen K = {chosen}." if chosen is not None
           else "No K is marked as chosen.")
        + (f" Grey bands mark K = {_k_list(flagged)}, whose solutions have a problem (segments on the variance "
           "floor, at a scale bound, or a singular information matrix; see the problems column of "
           "model_selection.csv); such a K is not chosen unless every K has one." if flagged else "")
    )
    return _save(fig, stem, formats, caption)


def _flagged_ks(tab: pd.DataFrame) -> list[int]:
    """The K whose row has a non-empty ``problems`` entry (trustseg.model.diagnostics)."""
    if "problems" not in tab.columns:
        return []
    problems = tab["problems"].astype(object).fillna("").astype(str).str.strip()
    return [int(k) for k, p in zip(tab["k"], problems) if p]


def _k_list(ks: Sequence[int]) -> str:
    return ", ".join(str(k) for k in ks)


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
    width = SINGLE_COLUMN + 0.5
    # The segment's name over its counts, both as the panel's title: one text
    # above the panel, wrapped to its width, so the two never meet.
    titles = []
    for s in segs:
        vals = maxp[assigned == s]
        note = f"n = {len(vals)}, mean = {vals.mean():.2f}" if len(vals) else "no respondent assigned"
        titles.append(_wrap(_seg_label(s, names), _cells_in(width - 0.9, 8)) + "\n" + note)
    title_lines = max(t.count("\n") + 1 for t in titles)
    with _rendering():
        fig = _MplFigure(figsize=(width, max(MIN_HEIGHT, 0.6 + (0.85 + 0.16 * title_lines) * k)),
                         layout="constrained")
        axes = fig.subplots(k, 1, sharex=True, squeeze=False)[:, 0]
        for ax, s, title in zip(axes, segs, titles):
            st = styles[s]
            vals = maxp[assigned == s]
            if len(vals):
                ax.hist(np.clip(vals, floor, 1.0), bins=edges, color=st["color"], hatch=st["hatch"],
                        edgecolor="white" if not st["hatch"] else "0.2", linewidth=0.4)
            ax.set_title(title, loc="left", fontsize=8)
            ax.yaxis.get_major_locator().set_params(integer=True, nbins=3)
        # One label for all panels: a label per panel would crowd short panels.
        fig.supylabel("Respondents (count)", fontsize=8)
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
    *,
    outcome_scale: Sequence[float] | None = None,
    predictor_scale: Sequence[float] | None = None,
    family: str = "gaussian",
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
    outcome_scale, predictor_scale : (low, high), optional
        Rating scales of the outcome and the focal predictor.  The intercept is
        the predicted outcome where every predictor is 0; when 0 lies off the
        predictor's scale, or an intercept off the outcome's, the caption says
        so, so that an intercept of -0.7 on a 1-7 scale is not misread.

    Returns
    -------
    Figure
    """
    _require(estimates, ["segment", "term", "estimate", "ci_low", "ci_high"], "estimates")
    outcome_scale = _check_scale(outcome_scale, "outcome_scale")
    predictor_scale = _check_scale(predictor_scale, "predictor_scale")
    est = estimates.copy()
    est["segment"] = pd.to_numeric(est["segment"], errors="coerce")
    est = est.dropna(subset=["segment"])
    terms = list(dict.fromkeys(est["term"].astype(str)))
    has_boot = {"boot_ci_low", "boot_ci_high"} <= set(est.columns)
    if focal_term is None:
        focal_term = next((t for t in terms if not _is_intercept(t)), None)
    segs = _all_segments(names, est["segment"])
    styles = segment_styles(segs)
    rows = {s: i for i, s in enumerate(segs)}  # segment -> y position (top = segment 1)
    n_missing = 0
    margin = equivalence_margin if focal_term in terms else None
    row_labels = [_wrapped_label(s, names, 24) for s in segs]
    width = min(DOUBLE_COLUMN, 1.0 + max(_text_inches(t, 7.5) for t in row_labels) + 2.0 * max(len(terms), 1))
    panel = (width - 0.6 - max(_text_inches(t, 7.5) for t in row_labels)) / max(len(terms), 1)
    row_height = 0.2 + 0.13 * max(t.count("\n") + 1 for t in row_labels)
    with _rendering():
        fig = _MplFigure(figsize=(width, max(MIN_HEIGHT, 1.4 + row_height * len(segs))), layout="constrained")
        axes = fig.subplots(1, max(len(terms), 1), sharey=True, squeeze=False)[0]
        if not terms:
            _empty_note(axes[0], "No estimates")
        for ax, term in zip(axes, terms):
            if term == focal_term and equivalence_margin:
                ax.axvspan(-equivalence_margin, equivalence_margin, color="0.88", zorder=0, linewidth=0)
            ax.axvline(0.0, color="0.3", linewidth=0.8, zorder=1)
            n_missing += _forest_panel(ax, est[est["term"].astype(str) == term], rows, styles, has_boot)
            ax.set_title(_wrap(_plain(term), _cells_in(panel, 9)))
            ax.set_xlabel(_wrap(_plain(x_label), _cells_in(panel, 8)) if len(terms) == 1 else "")
            ax.margins(x=0.15)
            # Few ticks: long tick labels of narrow panels must not run into each other.
            ax.xaxis.set_major_locator(MaxNLocator(nbins=max(2, int(panel / 0.55))))
        axes[0].set_yticks(range(len(segs)), row_labels)
        axes[0].set_ylim(len(segs) - 0.5, -0.5)  # segment 1 on top
        if len(terms) > 1:
            fig.supxlabel(_wrap(_plain(x_label), _cells_in(width - 0.4, 8)), fontsize=8)
        legend = _forest_legend(ci_level, has_boot, margin)
        fig.legend(handles=legend, loc="outside upper center",
                   ncols=_legend_columns([h.get_label() for h in legend], width, 7.5))
    caption = _forest_caption(terms, ci_level, has_boot, margin, focal_term, n_missing,
                              _intercept_note(est, terms, outcome_scale, predictor_scale), family)
    return _save(fig, stem, formats, caption)


def _is_intercept(term: str) -> bool:
    return "intercept" in term.lower() or term == "const"


def _intercept_note(est: pd.DataFrame, terms: list[str], outcome_scale, predictor_scale) -> str:
    """Caption sentence on intercepts that lie off the outcome scale or sit at a predictor value off its scale."""
    intercepts = [t for t in terms if _is_intercept(t)]
    if not intercepts:
        return ""
    note = ""
    if predictor_scale is not None and not predictor_scale[0] <= 0 <= predictor_scale[1]:
        note += (f" An intercept is the predicted outcome at a predictor value of 0, which lies outside the "
                 f"predictor's {_scale_text(predictor_scale)} scale: it extrapolates beyond the data and is "
                 "no one's expected answer.")
    if outcome_scale is not None:
        lo, hi = outcome_scale
        rows = est[est["term"].astype(str).isin(intercepts)]
        values = pd.to_numeric(rows["estimate"], errors="coerce")
        off = rows.loc[(values < lo) | (values > hi), "segment"].astype(int).tolist()
        if off:
            note += (f" The intercept of {_segment_list(sorted(set(off)))} lies outside the outcome's "
                     f"{_scale_text(outcome_scale)} scale.")
    return note


def _forest_caption(terms: list[str], ci_level: float, has_boot: bool, margin: float | None, focal_term: str | None,
                    n_missing: int, intercept_note: str = "", family: str = "gaussian") -> str:
    unit = family_class(family).coefficient_unit
    return (
        f"Segment-specific coefficients ({', '.join(terms)}) with {_pct(ci_level)} confidence "
        "intervals, one panel per term and one row per segment (marker shape and shade identify "
        "the segment). Markers: point estimates; solid lines: model-based intervals"
        + ("; dashed lines: bootstrap percentile intervals" if has_boot else "")
        + (". Intercepts are in outcome scale points; slopes are the change in the outcome per "
           "one-point increase in the predictor" if family == "gaussian" else
           f". Coefficients are on the {family} model's scale: {unit}"
           + ("" if family == "ordinal" else " (intercepts)") + f"; slopes in {unit} per one-point increase in the "
           "predictor")
        + ". An interval that excludes the vertical zero line "
        "indicates a non-zero effect"
        + (f"; an interval inside the shaded band (\u00b1{margin:g} for {focal_term}) "
           "indicates a practically negligible effect" if margin else "")
        + "."
        + intercept_note
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
        missing = []
        if np.isfinite(lo) and np.isfinite(hi):
            ax.plot([lo, hi], [y - off] * 2, color=st["color"], linewidth=1.6, solid_capstyle="butt")
        else:
            missing.append("interval")
        if has_boot:
            blo, bhi = (float(r[c]) if pd.notna(r[c]) else np.nan for c in ("boot_ci_low", "boot_ci_high"))
            if np.isfinite(blo) and np.isfinite(bhi):
                ax.plot([blo, bhi], [y + off] * 2, color=st["color"], linewidth=1.1,
                        linestyle=(0, (3, 1.5)))
            else:
                missing.append("bootstrap")
        if missing:
            # One note per row, so notes of the two intervals of a row never overlap.
            n_missing += len(missing)
            ax.text(1.0, y, " & ".join(missing) + " n/a ", transform=ax.get_yaxis_transform(),
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
    row_labels = [_wrapped_label(s, names, 24) for s in segs]
    label_lines = max((t.count("\n") + 1 for t in row_labels), default=1)
    height = max(2.9, 1.3 + (0.22 + 0.12 * label_lines) * len(segs))
    with _rendering():
        fig = _MplFigure(figsize=(DOUBLE_COLUMN * 0.85, height), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.1, 1])
        if len(ari):
            lo = min(0.0, float(ari.min()))
            ax1.hist(ari, bins=np.linspace(lo, 1.0, 21), color="0.45", edgecolor="white", linewidth=0.4)
            med = float(np.median(ari))
            ax1.axvline(med, color="black", linestyle="--", linewidth=1.0)
            ax1.set_xlim(lo, 1.0)
            ax1.yaxis.get_major_locator().set_params(integer=True)
        else:
            _empty_note(ax1, "No successful replicates")
        ax1.set_xlabel("Adjusted Rand index vs full-sample\npartition (1 = identical, 0 = chance)")
        ax1.set_ylabel("Bootstrap replicates (count)")
        # The median goes into the title, above the bars, not onto them.
        ax1.set_title("(a) Partition agreement" + (f"\nmedian {med:.2f} (dashed line)" if len(ari) else ""),
                      loc="left")
        # Segments down the y axis: their names are stacked, so they cannot run into each other.
        for i, s in enumerate(segs):
            st = styles[s]
            val = rep.loc[rep["segment"] == s, "reappearance"]
            v = float(val.iloc[0]) if len(val) and pd.notna(val.iloc[0]) else np.nan
            if np.isfinite(v):
                ax2.barh(i, v, color=st["color"], hatch=st["hatch"], edgecolor="0.15", linewidth=0.5, height=0.6)
                ax2.text(v + 0.02, i, f"{100 * v:.0f}%", ha="left", va="center", fontsize=7.5)
            else:
                ax2.text(0.02, i, "n/a", ha="left", va="center", fontsize=7.5, color="0.35")
        ax2.set_yticks(range(len(segs)), row_labels, fontsize=7)
        ax2.set_ylim(max(len(segs), 1) - 0.4, -0.6)  # segment 1 on top
        ax2.set_xlim(0, 1.2)  # room for "100%" right of a full bar
        ax2.set_xticks(np.linspace(0, 1, 6))
        ax2.set_xlabel("Reappearance rate\n(share of replicates, 0\u20131)")
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
    # Sizes follow from the labels: row labels wrapped to at most 30 cells, and
    # columns wide enough for their wrapped segment names, so no label meets another.
    row_labels = {key: _wrap(_plain(key), 30) for key in row_keys}
    label_width = max((_text_inches(t, 7.5) for t in row_labels.values()), default=1.0)
    n_cols = max(len(segs), 1)
    column = max(0.8, min(1.1, (7.5 - 0.4 - label_width) / n_cols))
    column_font = 7.0 if n_cols <= 4 else 6.5
    column_labels = [_wrapped_label(s, names, _cells_in(column - 0.1, column_font)) for s in segs]
    lines = max((t.count("\n") + 1 for t in row_labels.values()), default=1)
    with _rendering():
        n_rows = max(len(row_keys), 1)
        fig = _MplFigure(figsize=(label_width + 0.4 + column * n_cols,
                                  max(MIN_HEIGHT, 1.0 + (0.28 + 0.12 * (lines - 1)) * n_rows)), layout="constrained")
        ax = fig.add_subplot()
        if not row_keys or not segs:
            _empty_note(ax, "No profile variables")
        else:
            _draw_heatmap(ax, prof, row_keys, segs, [row_labels[k] for k in row_keys], column_labels, column_font)
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
    labels = [_wrap(_plain(r), 32) for r in rules]
    lines = max((t.count("\n") + 1 for t in labels), default=1)
    with _rendering():
        fig = _MplFigure(figsize=(SINGLE_COLUMN + 1.5, max(MIN_HEIGHT, 0.8 + (0.3 + 0.12 * (lines - 1)) * len(rules))),
                         layout="constrained")
        ax = fig.add_subplot()
        if not rules:
            _empty_note(ax, "No cleaning rules applied")
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
    return _save(fig, stem, formats, caption)


# ---------------------------------------------------------------------------
# 8. chains: path diagrams and the effects forest
# ---------------------------------------------------------------------------

#: how a path's verdict is drawn: line width, dash pattern, grey (greyscale-safe; no colour carries meaning)
PATH_STYLES = {
    "drives_up": (2.4, "solid", "0.05"),
    "drives_down": (2.4, (0, (1, 1.2)), "0.05"),
    "negligible": (0.9, (0, (5, 3)), "0.45"),
    "does_not_drive": (0.9, (0, (5, 3)), "0.45"),
    "inconclusive": (1.2, (0, (2, 2)), "0.3"),
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


def path_diagram(effects: pd.DataFrame, names: Mapping[int, str] | None, stem: Path, ci_level: float = 0.95,
                 formats: Sequence[str] = ("pdf",), unit: str = "outcome points per predictor point") -> Figure:
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
    _require(effects, ["segment", "kind", "path", "estimate", "ci_low", "ci_high", "verdict"], "effects")
    paths = effects.loc[effects["kind"] == "path"]
    segs = _all_segments(names, effects["segment"])
    layout = _chain_layout(paths) if len(paths) else {}
    cols = min(len(segs), 2) or 1
    rows_n = math.ceil(len(segs) / cols) if segs else 1
    width = DOUBLE_COLUMN if cols > 1 else 4.6
    with _rendering():
        fig = _MplFigure(figsize=(width, 0.4 + 2.35 * rows_n), layout="constrained")
        axes = fig.subplots(rows_n, cols, squeeze=False).ravel()
        for ax in axes[len(segs):]:
            ax.set_axis_off()
        if not segs:
            _empty_note(axes[0], "No effects")
        for ax, seg in zip(axes, segs):
            sub = effects.loc[effects["segment"] == seg]
            ax.set_xlim(-0.25, 1.25)
            ax.set_ylim(-0.8, 0.85)
            ax.set_axis_off()
            ax.set_title(_wrap(_seg_label(seg, names), _cells_in(width / cols - 0.2, 8.5)), fontsize=8.5)
            for variable, (x, y) in layout.items():
                ax.text(x, y, _wrap(_plain(variable), 12), ha="center", va="center", fontsize=8,
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
                                        "linewidth": width_, "linestyle": dash, "shrinkA": 0, "shrinkB": 0},
                            zorder=2)
                label = f"{r.estimate:.2f}\n[{r.ci_low:.2f}, {r.ci_high:.2f}]"
                mid_x, mid_y = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
                if abs(dy) < 1e-9:  # a horizontal path: its label below the line, clear of the others
                    at, align = (mid_x, mid_y - 0.2), "center"
                else:  # a rising or falling path: its label outside the triangle of the chain
                    at, align = ((mid_x - 0.05, mid_y + 0.08), "right") if dy > 0 else ((mid_x + 0.05, mid_y + 0.08),
                                                                                      "left")
                ax.text(*at, label, ha=align, va="center", fontsize=6.8, color="0.1", zorder=4)
            lines = [f"{r.kind} {r.estimate:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}] ({str(r.verdict).replace('_', ' ')})"
                     for r in sub.loc[sub["kind"].isin(["indirect", "total"])].itertuples()]
            ax.text(0.5, -0.62, "\n".join(lines), ha="center", va="center", fontsize=6.8, transform=ax.transData)
        legend = [Line2D([], [], color=PATH_STYLES[v][2], linewidth=PATH_STYLES[v][0], linestyle=PATH_STYLES[v][1],
                         label=words) for v, words in PATH_STYLE_WORDS.items()]
        fig.legend(handles=legend, loc="outside lower center", ncols=2 if width > 5 else 1, fontsize=6.8)
    caption = (
        "The chain in each segment: boxes are the variables, arrows the paths, each labelled with its coefficient "
        f"({unit}) and {_pct(ci_level)} confidence interval. The line of an arrow shows its verdict: "
        + "; ".join(PATH_STYLE_WORDS.values())
        + ". Under each diagram: the indirect effect through each chain of mediators (the product of its paths) "
        "and the total effect of the first variable on the last, with delta-method intervals (effects.csv also "
        "holds the bootstrap percentile intervals, the ones to read for a skewed product)."
    )
    return _save(fig, stem, formats, caption)


def effects_forest(effects: pd.DataFrame, names: Mapping[int, str] | None, stem: Path,
                   equivalence_margin: float | None = None, ci_level: float = 0.95,
                   formats: Sequence[str] = ("pdf",), unit: str = "outcome points per predictor point") -> Figure:
    """Forest of each segment's direct, indirect and total effects, one panel per effect.

    ``effects`` is ``effects.csv`` (``segment, kind, path, estimate, ci_low,
    ci_high`` and, if the bootstrap ran, ``boot_ci_low, boot_ci_high``).
    Every panel shades ``±equivalence_margin``.
    """
    _require(effects, ["segment", "kind", "path", "estimate", "ci_low", "ci_high"], "effects")
    est = effects.loc[effects["kind"].isin(["direct", "indirect", "total"])].copy()
    est["term"] = est["kind"] + ": " + est["path"]
    terms = list(dict.fromkeys(est["term"]))
    has_boot = {"boot_ci_low", "boot_ci_high"} <= set(est.columns) and est["boot_ci_low"].notna().any()
    segs = _all_segments(names, est["segment"])
    styles = segment_styles(segs)
    rows = {s: i for i, s in enumerate(segs)}
    row_labels = [_wrapped_label(s, names, 24) for s in segs]
    label_width = max((_text_inches(t, 7.5) for t in row_labels), default=1.0)
    width = min(DOUBLE_COLUMN, 1.0 + label_width + 1.9 * max(len(terms), 1))
    panel = (width - 0.6 - label_width) / max(len(terms), 1)
    n_missing = 0
    with _rendering():
        fig = _MplFigure(figsize=(width, max(MIN_HEIGHT, 1.5 + 0.3 * len(segs))), layout="constrained")
        axes = fig.subplots(1, max(len(terms), 1), sharey=True, squeeze=False)[0]
        if not terms:
            _empty_note(axes[0], "No effects")
        for ax, term in zip(axes, terms):
            if equivalence_margin:
                ax.axvspan(-equivalence_margin, equivalence_margin, color="0.88", zorder=0, linewidth=0)
            ax.axvline(0.0, color="0.3", linewidth=0.8, zorder=1)
            n_missing += _forest_panel(ax, est[est["term"] == term], rows, styles, has_boot)
            ax.set_title(_wrap(_plain(term), _cells_in(panel, 8.5)), fontsize=8)
            ax.margins(x=0.15)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=max(2, int(panel / 0.55))))
        axes[0].set_yticks(range(len(segs)), row_labels)
        axes[0].set_ylim(len(segs) - 0.5, -0.5)
        fig.supxlabel(_wrap(f"Effect ({unit})", _cells_in(width - 0.4, 8)), fontsize=8)
        legend = _forest_legend(ci_level, has_boot, equivalence_margin)
        fig.legend(handles=legend, loc="outside upper center",
                   ncols=_legend_columns([h.get_label() for h in legend], width, 7.5))
    caption = (
        "Direct, indirect and total effects of the first variable of the chain on its last outcome, one panel per "
        f"effect and one row per segment (marker shape and shade identify the segment), in {unit}. Markers: "
        f"estimates; solid lines: {_pct(ci_level)} delta-method intervals"
        + (f"; dashed lines: {_pct(ci_level)} bootstrap percentile intervals (read these for an indirect effect, "
           "a skewed product of paths)" if has_boot else "")
        + ". The indirect effect is the product of the paths through the mediators; the total effect adds the "
        "direct one. An interval that excludes the zero line shows an effect"
        + (f"; one inside the shaded band (±{equivalence_margin:g}) shows it negligible" if equivalence_margin
           else "")
        + "."
        + (f" {n_missing} interval(s) could not be estimated (marked n/a)." if n_missing else "")
    )
    return _save(fig, stem, formats, caption)
