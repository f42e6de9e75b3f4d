"""The figure kit: what every figure of trustseg shares (styles, text fitting, saving, forest panels).

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
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

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


def rendering():
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


def save(fig: _MplFigure, stem: Path, formats: Iterable[str], caption: str) -> Figure:
    """Write PNG + vector formats atomically, release the figure, return the record."""
    stem = Path(stem)
    formats = _check_formats(formats)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    try:
        # The style applies again here because layout, tick labels and font
        # embedding happen at draw time.
        with rendering(), _one_glyph_warning():
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


def palette(n: int) -> list[tuple[float, float, float, float]]:
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
    colours = palette(len(segs))
    return {
        s: {
            "color": colours[i],
            "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)],
            "hatch": HATCHES[i % len(HATCHES)],
        }
        for i, s in enumerate(segs)
    }


def plain(text) -> str:
    """User text shown literally: an even number of ``$`` would switch on mathtext."""
    return str(text).replace("$", r"\$")


def label_words(name) -> str:
    """A variable or term as a reader names it: underscores as spaces, first letter capital (Switching intention)."""
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def forest_ticks(ax, panel_inches: float) -> None:
    """At least three readable ticks on a forest panel's estimate axis, fewer only where labels would touch."""
    ax.xaxis.set_major_locator(MaxNLocator(nbins=max(3, int(panel_inches / 0.45)), min_n_ticks=3))
    ax.tick_params(axis="x", labelsize=6.5)


def seg_label(seg: int, names: Mapping | None) -> str:
    name = (names or {}).get(int(seg))
    return plain(f"{int(seg)}: {name}") if name else f"Segment {int(seg)}"


# Text is wrapped to widths estimated before drawing, so that labels fit the
# space the layout gives them whatever the data set calls its segments and
# constructs.  DejaVu Sans averages about 0.55 em per character; 0.62 em
# leaves room for capitals and wide letters, so an estimate errs on the wide side.
_EM_PER_CHAR = 0.62


def display_width(text: str) -> int:
    """Width of one line of text in character cells; East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def cells_in(width_inches: float, font_size: float) -> int:
    """How many character cells of ``font_size`` points fit in ``width_inches``."""
    return max(6, int(width_inches * 72 / (_EM_PER_CHAR * font_size)))


def text_inches(text: str, font_size: float) -> float:
    """Estimated width in inches of the widest line of ``text``."""
    return max((display_width(line) for line in str(text).split("\n")), default=0) * _EM_PER_CHAR * font_size / 72


def wrap(text, width: int) -> str:
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
            if display_width(candidate) <= width or not line:
                line = candidate
            else:
                lines.append(line)
                line = token
            while display_width(line) > width:
                cut, cells = 0, 0
                while cut < len(line) and cells + display_width(line[cut]) <= width:
                    cells += display_width(line[cut])
                    cut += 1
                cut = max(cut, 1)
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return "\n".join(lines)


def wrapped_label(seg: int, names: Mapping | None, width: int = 16) -> str:
    """Segment label broken over lines of at most ``width`` cells, for crowded axes."""
    return wrap(seg_label(seg, names), width)


def legend_columns(labels: Sequence[str], width_inches: float, font_size: float, handlelength: float = 2.0) -> int:
    """The most legend columns that fit side by side in ``width_inches`` (at least one)."""
    longest = max((text_inches(label, font_size) for label in labels), default=0.0)
    column = longest + _legend_handle_inches(font_size, handlelength)
    return max(1, min(len(labels), int(width_inches // column)))


def _legend_handle_inches(font_size: float, handlelength: float) -> float:
    # the handle, the gap between handle and text (0.8 em) and the column spacing (2 em)
    return (handlelength + 0.8 + 2.0) * font_size / 72


def legend_layout(labels: Sequence[str], width_inches: float, font_size: float, handlelength: float = 2.0,
                   max_columns: int = 2) -> tuple[int, list[str]]:
    """Columns and wrapped labels for a legend across ``width_inches``.

    As many columns as fit unwrapped; otherwise up to ``max_columns`` with the
    labels wrapped to the column width (while a column holds 16 cells or more).
    """
    ncols = legend_columns(labels, width_inches, font_size, handlelength)
    if ncols >= min(len(labels), max_columns):
        return ncols, list(labels)
    for ncols in range(min(len(labels), max_columns), 0, -1):
        cells = cells_in(width_inches / ncols - _legend_handle_inches(font_size, handlelength), font_size)
        if cells >= 16 or ncols == 1:
            return ncols, [wrap(label, cells) for label in labels]
    raise AssertionError("unreachable: one column always fits")


def scale_text(scale: Sequence[float]) -> str:
    lo, hi = scale
    return f"{lo:g}\u2013{hi:g}"


def check_scale(scale, what: str) -> tuple[float, float] | None:
    if scale is None:
        return None
    lo, hi = (float(v) for v in scale)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{what} must be (low, high) with low < high, got {tuple(scale)}")
    return lo, hi


def segment_list(segments: Iterable[int]) -> str:
    segs = [str(int(s)) for s in segments]
    if len(segs) == 1:
        return f"segment {segs[0]}"
    return "segments " + ", ".join(segs[:-1]) + f" and {segs[-1]}"


def all_segments(names: Mapping | None, *observed: Iterable) -> list[int]:
    segs = {int(k) for k in (names or {})}
    for values in observed:
        segs |= {int(v) for v in pd.Series(list(values)).dropna()}
    return sorted(segs)


def require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; it has {list(df.columns)}")


def empty_note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.3")
    ax.set_xticks([])
    ax.set_yticks([])


def pct(level: float) -> str:
    return f"{100 * level:g}%"



def forest_legend(ci_level: float, has_boot: bool, margin: float | None) -> list:
    legend = [Line2D([], [], color="0.2", linewidth=1.6, label=f"{pct(ci_level)} CI (model-based)")]
    if has_boot:
        legend.append(Line2D([], [], color="0.2", linewidth=1.1, linestyle=(0, (3, 1.5)),
                             label=f"{pct(ci_level)} bootstrap percentile CI"))
    if margin:
        legend.append(Patch(color="0.88", label=f"Equivalence margin \u00b1{margin:g}"))
    return legend


def forest_panel(ax, sub: pd.DataFrame, rows: Mapping[int, int], styles: Mapping[int, dict], has_boot: bool) -> int:
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

