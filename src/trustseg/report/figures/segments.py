"""The figures of one analysis's segments (rule segment_figures): the segment scatter with its fitted lines,
the information criteria against K, the posterior certainty and the coefficient forest."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure as _MplFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FormatStrFormatter, MaxNLocator, NullLocator

import trustseg.report.figures.kit as kit
from trustseg.model.families import family_class
from trustseg.render import join_words
from trustseg.report.numbers import coefficient_unit

# ---------------------------------------------------------------------------
# segment scatter with fitted lines
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
    clip_lines: bool = True,
    unassigned: tuple[str, str] = ("Unassigned", ""),
) -> kit.Figure:
    """Jittered scatter of outcome on predictor with one fitted line per segment.

    ``data`` has ``x, y, segment`` (a missing segment: unassigned, grey
    crosses; rows missing x or y are dropped and counted); ``lines`` each
    segment's fitted line on a grid, ``segment, x, fit, lower, upper``
    (missing bounds draw no band); ``names`` segment -> name; the axis labels
    carry units and are wrapped to the axis.  ``jitter`` (scale points,
    seeded by ``seed``) separates tied answers; lines are fitted to the
    unjittered data.  With ``x_scale``/``y_scale`` (the rating scales) the
    axes span the scales, dotted lines mark the outcome scale's ends and
    lines and bands are cut off there (the caption names the segments whose
    line or band the model carries beyond), unless ``clip_lines`` is False
    (lines on a latent scale, a chain's total effect: the axis then grows to
    show every whole line).  ``held_at_mean`` gives the other predictors'
    values the lines are drawn at.  For a family with a link the lines are
    the segments' expected outcomes (the family's ``mean_label``, or
    ``curve``), and the caption says so.  ``unassigned`` is the legend label
    of the respondents without a segment and a sentence the caption adds
    about them (e.g. a set-aside group).
    """
    kit.require(data, ["x", "y", "segment"], "data")
    kit.require(lines, ["segment", "x", "fit", "lower", "upper"], "lines")
    if jitter < 0:
        raise ValueError("jitter must be >= 0")
    x_scale = kit.check_scale(x_scale, "x_scale")
    y_scale = kit.check_scale(y_scale, "y_scale")
    pts, n_dropped = _plotted_points(data, jitter, seed)
    segs = kit.all_segments(names, pts["segment"], lines["segment"])
    width = 5.5
    with kit.rendering():
        fig = _MplFigure(figsize=(width, 4.4 + 0.2 * max(len(segs) - 4, 0)), layout="constrained")
        ax = fig.add_subplot()
        handles, has_band, beyond = _draw_segments(ax, pts, lines, segs, names, y_scale, clip_lines, unassigned[0])
        # Axis labels and legend entries are wrapped to the space they get, so
        # long construct and segment names stay inside the figure.
        ax.set_xlabel(kit.wrap(kit.plain(x_label), kit.cells_in(width - 0.9, 8)))
        ax.set_ylabel(kit.wrap(kit.plain(y_label), kit.cells_in(3.0, 8)))
        _fit_axis_to_scale(ax, x_scale, "x", jitter)
        _fit_axis_to_scale(ax, y_scale, "y", jitter)
        if not clip_lines and y_scale is not None and len(lines):
            # lines on a latent scale may leave the outcome's: the axis grows to show every segment's whole line
            fits = pd.to_numeric(lines["fit"], errors="coerce")
            low, high = ax.get_ylim()
            ax.set_ylim(min(low, float(fits.min()) - 0.2), max(high, float(fits.max()) + 0.2))
        if handles:
            ncols, labels = kit.legend_layout([h.get_label() for h in handles], width - 0.2, 7.5, 3)
            for h, label in zip(handles, labels):
                h.set_label(label)
            # Outside the axes, under the x label: the legend never covers a point.
            fig.legend(handles=handles, loc="outside lower center", handlelength=3, ncols=ncols)
        if not len(pts):
            kit.empty_note(ax, "No respondents with both values")
    if not clip_lines:
        beyond = {"line": [], "band": []}  # nothing is cut off: the axis holds the whole lines
    caption = _scatter_caption(x_label, y_label, len(pts), jitter, seed, ci_level if has_band else None, n_dropped,
                               y_scale, beyond, held_at_mean, family, curve)
    if unassigned[1] and pts["segment"].isna().any():
        caption += f" {unassigned[1]}"
    return kit.save(fig, stem, formats, caption)


def _draw_segments(ax, pts: pd.DataFrame, lines: pd.DataFrame, segs: list[int], names, y_scale, clip_lines: bool,
                   unassigned_label: str = "Unassigned"):
    """Every segment's points, line and band (and the unassigned respondents); the legend handles, whether a band
    was drawn, and the segments whose line or band passes beyond the outcome scale."""
    styles = kit.segment_styles(segs)
    clip = _scale_clip(ax, y_scale) if clip_lines else None
    handles, has_band, beyond = [], False, {"line": [], "band": []}
    unassigned = pts["segment"].isna()
    if unassigned.any():
        ax.scatter(pts.loc[unassigned, "px"], pts.loc[unassigned, "py"],
                   marker="x", s=10, color="0.6", linewidths=0.6, zorder=1)
        handles.append(Line2D([], [], marker="x", color="0.6", linestyle="none",
                              label=f"{unassigned_label} (n\u00a0=\u00a0{int(unassigned.sum())})"))
    seg_num = pd.to_numeric(pts["segment"], errors="coerce")
    line_seg = pd.to_numeric(lines["segment"], errors="coerce")
    for s in segs:
        grid = lines[line_seg == s]
        handle, banded = _segment_points_and_line(ax, pts[(seg_num == s).to_numpy()], grid,
                                                  styles[s], kit.seg_label(s, names), clip)
        handles.append(handle)
        has_band |= banded
        for part, leaves in _leaves_scale(grid, y_scale).items():
            if leaves:
                beyond[part].append(s)
    return handles, has_band, beyond


def _scatter_caption(x_label: str, y_label: str, n: int, jitter: float, seed: int, band_level: float | None,
                     n_dropped: int, y_scale: tuple[float, float] | None = None,
                     beyond: Mapping[str, list] | None = None, held_at_mean: Mapping[str, float] | None = None,
                     family: str = "gaussian", curve: str | None = None) -> str:
    jit = (f"Points are jittered by uniform noise of \u00b1{jitter:g} scale points on both axes "
           f"(seed {seed}) to separate tied answers; lines are fitted to the unjittered data. "
           if jitter else "Points are not jittered. ")
    held = ""
    if held_at_mean:
        values = [f"{kit.plain(p)} at its mean ({v:.2f})" for p, v in held_at_mean.items()]
        held = (" The model has more than one predictor: the lines are drawn with "
                + join_words(values)
                + "; the points are the observed outcomes, not adjusted for "
                + ("them." if len(values) > 1 else "it."))
    scale = ""
    if y_scale is not None:
        scale_text = kit.scale_text(y_scale)
        scale = f" Dotted lines mark the ends of the outcome's {scale_text} scale."
        beyond = beyond or {}
        lines = beyond.get("line", [])
        if lines:
            one = len(lines) == 1
            scale += (f" The fitted {'line' if one else 'lines'} of {kit.segment_list(lines)} would pass beyond the "
                      f"{scale_text} scale, where the model predicts values the scale cannot take; "
                      f"{'it is' if one else 'they are'} cut off at the scale's end.")
        bands = [s for s in beyond.get("band", []) if s not in lines]
        if bands:
            one = len(bands) == 1
            scale += (f" The confidence {'band' if one else 'bands'} of {kit.segment_list(bands)} "
                      f"{'reaches' if one else 'reach'} beyond the {scale_text} scale and "
                      f"{'is' if one else 'are'} cut off at the scale's end.")
    facts = family_class(family)
    return (
        f"{y_label} against {x_label} for {n} respondents, by segment "
        "(segments distinguished by marker shape, line style and shade). "
        + jit
        + ("Lines: segment-specific fitted regressions; the slope is the change in the outcome per "
           "one-point increase in the predictor" if facts.mean_label is None else
           f"Curves: each segment's {curve or facts.mean_label}, from its {family} regression; the segment's slope "
           f"is in {facts.coefficient_unit} per one-point increase in the predictor (coefficient table)")
        + (f"; shaded bands: pointwise {kit.pct(band_level)} confidence intervals of the fitted line."
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
# information criteria against K
# ---------------------------------------------------------------------------

_CRITERION_LABELS = {
    "aic": "AIC", "aic3": "AIC3", "bic": "BIC", "caic": "CAIC", "sabic": "SABIC",
    "icl": "ICL",
}


def information_criteria(
    model_selection: pd.DataFrame,
    stem: Path,
    criteria: Sequence[str] = ("aic", "bic", "sabic", "icl"),
    relative: bool = True,
    formats: Sequence[str] = ("pdf",),
    *,
    criterion: str | None = None,
) -> kit.Figure:
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
        When one criterion's differences dwarf the others' (ICL's entropy
        term often does), the axis is linear up to 10 and logarithmic above,
        so every criterion's minimum stays readable; the caption says so.
    formats : sequence of str, default ("pdf",)
    criterion : str, optional
        How K was chosen (the analysis's ``criterion``: a criterion column or
        ``lr_test``); drawn when it is a criterion the table has and named in
        the caption, with the chosen row's ``choice_note``.

    Returns
    -------
    kit.Figure
    """
    kit.require(model_selection, ["k"], "model_selection")
    # the criterion that chose K is always drawn, even when it is not among the default ones
    wanted = [*criteria, *([criterion] if criterion and criterion not in criteria else [])]
    crits = [c for c in wanted if c in model_selection.columns]
    if not crits:
        raise ValueError(f"model_selection has none of the criteria {list(criteria)}")
    tab = model_selection.sort_values("k")
    ks = tab["k"].to_numpy(int)
    chosen = None
    if "chosen" in tab.columns:
        flag = np.array([bool(v) if pd.notna(v) else False for v in tab["chosen"]])
        if flag.any():
            chosen = int(ks[flag][0])
    width = kit.SINGLE_COLUMN + 0.5
    with kit.rendering():
        fig = _MplFigure(figsize=(width, 3.3), layout="constrained")
        ax = fig.add_subplot()
        _draw_criteria(ax, tab, crits, ks, relative)
        symlog = relative and _symlog_axis(ax, tab, crits)
        flagged = _flagged_ks(tab)
        for k in flagged:
            ax.axvspan(k - 0.3, k + 0.3, color="0.88", linewidth=0, zorder=-1)
        title = []
        if chosen is not None:
            ax.axvline(chosen, color="0.5", linewidth=0.8, linestyle=(0, (2, 2)), zorder=0)
            title.append(f"chosen K = {chosen}{_rule_words(criterion)} (dashed line)")
        if flagged:
            title.append(f"K = {_k_list(flagged)} flagged (grey bands)")
        if title:
            # The title line above the axes, not a label inside them: it cannot meet the legend or a line.
            ax.set_title(kit.wrap("; ".join(title), kit.cells_in(width - 0.9, 8)), loc="left", fontsize=8)
        ax.set_xticks(ks)
        if len(ks) == 1:
            ax.set_xlim(ks[0] - 1, ks[0] + 1)
        ax.set_xlabel("Number of segments K")
        ax.set_ylabel("Criterion minus its minimum over K\n(\u22122 log-likelihood units)"
                      if relative else "Criterion value (\u22122 log-likelihood units)")
        labels = [_CRITERION_LABELS.get(c, c.upper()) for c in crits]
        fig.legend(loc="outside lower center", ncols=kit.legend_columns(labels, width, 7.5))
    caption = _criteria_caption(crits, ks, relative, chosen, flagged) + _choice_text(tab, criterion, chosen, symlog)
    return kit.save(fig, stem, formats, caption)


#: with relative values above this, a linear axis would squeeze the 0-10 zone, where a criterion's differences
#: decide between neighbouring K, into a sliver under one criterion's large differences
_SYMLOG_ABOVE = 50.0
_SYMLOG_LINEAR = 10.0


def _symlog_axis(ax, tab: pd.DataFrame, crits: list[str]) -> bool:
    """Make the y axis linear up to 10 and logarithmic above when the differences span more than 50; whether it
    did."""
    spans = [float(np.nanmax(v) - np.nanmin(v)) for v in
             (pd.to_numeric(tab[c], errors="coerce").to_numpy(float) for c in crits) if np.isfinite(v).any()]
    if not spans or max(spans) <= _SYMLOG_ABOVE:
        return False
    ax.set_yscale("symlog", linthresh=_SYMLOG_LINEAR, linscale=1.0)
    top = 10 ** math.ceil(math.log10(max(spans)))
    ticks = [0.0, 5.0] + [m * 10.0 ** e for e in range(1, int(math.log10(top)) + 1) for m in (1, 2, 5)]
    ax.set_yticks([t for t in ticks if t <= max(spans) * 1.05], minor=False)
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_ylim(-0.05 * _SYMLOG_LINEAR, max(spans) * 1.3)
    return True


def _rule_words(criterion: str | None) -> str:
    """The title's few words on how K was chosen (", lowest BIC", ", by LR tests")."""
    if not criterion:
        return ""
    if criterion == "lr_test":
        return ", by LR tests"
    return f", lowest {_CRITERION_LABELS.get(criterion, criterion.upper())}"


def _choice_text(tab: pd.DataFrame, criterion: str | None, chosen: int | None, symlog: bool) -> str:
    """How the chosen K was chosen (the analysis's criterion, the choice note) and how to read a split axis."""
    text = ""
    if chosen is not None and criterion:
        rule = ("sequential parametric bootstrap likelihood-ratio tests of K against K + 1 (lr_p_value in "
                "model_selection.csv)" if criterion == "lr_test" else
                f"the lowest {_CRITERION_LABELS.get(criterion, criterion.upper())}")
        text += f" It was chosen by {rule}."
        notes = tab.loc[tab["k"] == chosen, "choice_note"] if "choice_note" in tab.columns else pd.Series([], dtype=str)
        note = str(notes.iloc[0]).strip() if len(notes) and pd.notna(notes.iloc[0]) else ""
        text += f" {note}" if note else ""
    if symlog:
        text += (f" The y axis is linear from 0 to {_SYMLOG_LINEAR:g} and logarithmic above, so differences near "
                 "each criterion's minimum stay readable beside the large ones.")
    return text


def _draw_criteria(ax, tab: pd.DataFrame, crits: list[str], ks: np.ndarray, relative: bool) -> None:
    """One grey line per criterion, told apart by marker, dash and fill (greyscale-safe)."""
    grey = ["0.0", "0.35", "0.55", "0.15", "0.7", "0.45"]
    for i, c in enumerate(crits):
        vals = pd.to_numeric(tab[c], errors="coerce").to_numpy(float)
        if relative and np.isfinite(vals).any():
            vals = vals - np.nanmin(vals)
        ax.plot(ks, vals, color=grey[i % len(grey)], marker=kit.MARKERS[i % len(kit.MARKERS)],
                linestyle=kit.LINESTYLES[i % len(kit.LINESTYLES)], markersize=5,
                markerfacecolor="white" if i % 2 else grey[i % len(grey)],
                label=_CRITERION_LABELS.get(c, c.upper()))


def _criteria_caption(crits: list[str], ks: np.ndarray, relative: bool, chosen: int | None,
                      flagged: list[int]) -> str:
    names = ", ".join(_CRITERION_LABELS.get(c, c.upper()) for c in crits)
    return (
        f"Information criteria ({names}) against the number of segments K = "
        f"{ks.min()}\u2013{ks.max()}" + (" (SABIC: the sample-size adjusted BIC)" if "sabic" in crits else "")
        + ". Each criterion is \u22122 \u00d7 log-likelihood plus a "
        "complexity penalty, so lower is better"
        + ("; values are shown as differences from each criterion's minimum, so 0 marks the K "
           "that criterion prefers. " if relative else ". ")
        + (f"The dashed vertical line marks the chosen K = {chosen}." if chosen is not None
           else "No K is marked as chosen.")
        + (f" Grey bands mark K = {_k_list(flagged)}, whose solutions have a problem (segments on the variance "
           "floor, at a scale bound, or a singular information matrix; see the problems column of "
           "model_selection.csv); such a K is not chosen unless every K has one." if flagged else "")
    )


def _flagged_ks(tab: pd.DataFrame) -> list[int]:
    """The K whose row has a non-empty ``problems`` entry (trustseg.model.diagnostics)."""
    if "problems" not in tab.columns:
        return []
    problems = tab["problems"].astype(object).fillna("").astype(str).str.strip()
    return [int(k) for k, p in zip(tab["k"], problems) if p]


def _k_list(ks: Sequence[int]) -> str:
    return ", ".join(str(k) for k in ks)


# ---------------------------------------------------------------------------
# posterior certainty
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
) -> kit.Figure:
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
    kit.Figure
    """
    post, segs = _posterior_matrix(posteriors)
    post = post[np.isfinite(post).all(axis=1)]
    k = post.shape[1]
    maxp = post.max(axis=1) if len(post) else np.empty(0)
    assigned = np.asarray(segs)[post.argmax(axis=1)] if len(post) else np.empty(0, int)
    styles = kit.segment_styles(kit.all_segments(names, segs))
    floor = 1.0 / k if k > 1 else 0.0
    edges = np.linspace(floor, 1.0, bins + 1)
    width = kit.SINGLE_COLUMN + 0.5
    # The segment's name over its counts, both as the panel's title: one text
    # above the panel, wrapped to its width, so the two never meet.
    titles = []
    for s in segs:
        vals = maxp[assigned == s]
        note = f"n = {len(vals)}, mean = {vals.mean():.2f}" if len(vals) else "no respondent assigned"
        titles.append(kit.wrap(kit.seg_label(s, names), kit.cells_in(width - 0.9, 8)) + "\n" + note)
    title_lines = max(t.count("\n") + 1 for t in titles)
    with kit.rendering():
        fig = _MplFigure(figsize=(width, max(kit.MIN_HEIGHT, 0.6 + (0.85 + 0.16 * title_lines) * k)),
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
    return kit.save(fig, stem, formats, caption)


# ---------------------------------------------------------------------------
# coefficient forest plot
# ---------------------------------------------------------------------------


def coefficient_forest(
    estimates: pd.DataFrame,
    names: Mapping[int, str] | None,
    stem: Path,
    equivalence_margin: float | None = None,
    focal_term: str | None = None,
    ci_level: float = 0.95,
    x_label: str | None = None,
    formats: Sequence[str] = ("pdf",),
    *,
    outcome_scale: Sequence[float] | None = None,
    predictor_scale: Sequence[float] | None = None,
    family: str | Sequence[str] = "gaussian",
    margin_terms: Sequence[str] | None = None,
    expected_sign: int | None = None,
) -> kit.Figure:
    """Forest plot of segment coefficients with confidence intervals, one panel per term (terms in words).

    ``estimates`` has ``segment, term, estimate, ci_low, ci_high`` and
    optionally ``boot_ci_low, boot_ci_high`` (bootstrap percentile intervals,
    dashed) and ``reappearance`` (share of refits in which the segment was
    found again; the caption warns of a segment found in fewer than half,
    whose bootstrap intervals pool refits matched to other respondents); a
    missing interval is marked n/a.  ``equivalence_margin``
    shades ``±margin`` in the panels of ``margin_terms`` (every slope with a
    verdict, each path of a chain; default the focal term).  ``family`` (one
    per equation of a chain) gives the coefficients' unit for the default
    ``x_label`` and the caption; ``expected_sign`` marks the focal term's
    expected direction.  With ``outcome_scale``/``predictor_scale`` the
    caption says when an intercept lies off the outcome's scale or sits at a
    predictor value of 0 off the predictor's (so -0.7 on 1-7 is not misread).
    """
    kit.require(estimates, ["segment", "term", "estimate", "ci_low", "ci_high"], "estimates")
    est = estimates.copy()
    est["segment"] = pd.to_numeric(est["segment"], errors="coerce")
    est = est.dropna(subset=["segment"])
    terms = list(dict.fromkeys(est["term"].astype(str)))
    focal_term = focal_term or next((t for t in terms if not _is_intercept(t)), None)
    banded = [t for t in (margin_terms or [focal_term]) if t in terms] if equivalence_margin else []
    families = [family] if isinstance(family, str) else list(family)
    x_label = x_label or f"Estimate ({coefficient_unit(families)}; slopes per predictor point)"
    segs = kit.all_segments(names, est["segment"])
    row_labels = [kit.wrapped_label(s, names, 24) for s in segs]
    label_width = max(kit.text_inches(t, 7.5) for t in row_labels)
    width = min(kit.DOUBLE_COLUMN, 1.0 + label_width + 2.0 * max(len(terms), 1))
    panel = (width - 0.6 - label_width) / max(len(terms), 1)
    row_height = 0.2 + 0.13 * max(t.count("\n") + 1 for t in row_labels)
    has_boot = {"boot_ci_low", "boot_ci_high"} <= set(est.columns)
    margin = equivalence_margin if banded else None
    with kit.rendering():
        fig = _MplFigure(figsize=(width, max(kit.MIN_HEIGHT, 1.4 + row_height * len(segs))), layout="constrained")
        axes = fig.subplots(1, max(len(terms), 1), sharey=True, squeeze=False)[0]
        if not terms:
            kit.empty_note(axes[0], "No estimates")
        n_missing = 0
        for ax, term in zip(axes, terms):
            # "(Intercept)" is the table's name for it; a panel title and a caption say "Intercept"
            title = ("Intercept" if _is_intercept(term) else kit.label_words(term)) + (
                _expected_mark(expected_sign) if term == focal_term else "")
            n_missing += _forest_term_panel(ax, est[est["term"].astype(str) == term], segs, names, has_boot,
                                            margin if term in banded else None, title, panel)
            ax.set_xlabel(kit.wrap(kit.plain(x_label), kit.cells_in(panel, 8)) if len(terms) == 1 else "")
        _forest_frame(fig, axes, segs, row_labels, terms, x_label, width, ci_level, has_boot, margin)
    intercepts = _intercept_note(est, terms, kit.check_scale(outcome_scale, "outcome_scale"),
                                 kit.check_scale(predictor_scale, "predictor_scale"))
    caption = _forest_caption(terms, ci_level, has_boot, margin, banded, n_missing, intercepts, families,
                              expected_sign)
    return kit.save(fig, stem, formats, caption + _rarely_found_note(est, has_boot))


def _rarely_found_note(est: pd.DataFrame, has_boot: bool) -> str:
    """Caption sentence on segments the bootstrap found again in fewer than half of its refits."""
    if not has_boot or "reappearance" not in est.columns:
        return ""
    rate = pd.to_numeric(est["reappearance"], errors="coerce").groupby(est["segment"].astype(int)).first()
    rare = rate[rate < 0.5]
    if rare.empty:
        return ""
    one = len(rare) == 1
    rates = join_words([kit.pct(round(float(v), 2)) for v in rare])
    which = kit.segment_list(rare.index)
    return (f" {which[:1].upper()}{which[1:]} "
            f"{'was' if one else 'were'} found again in only {rates} of the bootstrap refits (bootstrap.csv, "
            f"reappearance): {'its' if one else 'their'} bootstrap intervals pool refits in which the matched segment "
            "holds mostly other respondents, so they show how unstable the segment is, not the sampling spread of "
            f"{'its' if one else 'their'} coefficients.")


def _forest_frame(fig, axes, segs, row_labels, terms, x_label, width, ci_level, has_boot, margin) -> None:
    """The forest's shared parts: segment rows (segment 1 on top), the estimate axis label, the legend."""
    axes[0].set_yticks(range(len(segs)), row_labels)
    axes[0].set_ylim(len(segs) - 0.5, -0.5)
    if len(terms) > 1:
        fig.supxlabel(kit.wrap(kit.plain(x_label), kit.cells_in(width - 0.4, 8)), fontsize=8)
    legend = kit.forest_legend(ci_level, has_boot, margin)
    fig.legend(handles=legend, loc="outside upper center",
               ncols=kit.legend_columns([h.get_label() for h in legend], width, 7.5))


def _expected_mark(sign: int | None) -> str:
    """The focal panel's note of the expected direction: which side of zero the expected effects lie on."""
    if sign is None:
        return ""
    return "\n(expected > 0 →)" if sign > 0 else "\n(← expected < 0)"


def _forest_term_panel(ax, rows: pd.DataFrame, segs: list[int], names, has_boot: bool, margin: float | None,
                       title: str, panel: float) -> int:
    """One term's panel: the equivalence band (when the term has a verdict), zero line, intervals, title, ticks."""
    if margin:
        ax.axvspan(-margin, margin, color="0.88", zorder=0, linewidth=0)
    ax.axvline(0.0, color="0.3", linewidth=0.8, zorder=1)
    n_missing = kit.forest_panel(ax, rows, {s: i for i, s in enumerate(segs)}, kit.segment_styles(segs), has_boot)
    ax.set_title(kit.wrap(kit.plain(title), kit.cells_in(panel, 9)))
    ax.margins(x=0.15)
    kit.forest_ticks(ax, panel)
    return n_missing


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
                 f"predictor's {kit.scale_text(predictor_scale)} scale: it extrapolates beyond the data and is "
                 "no one's expected answer.")
    if outcome_scale is not None:
        lo, hi = outcome_scale
        rows = est[est["term"].astype(str).isin(intercepts)]
        values = pd.to_numeric(rows["estimate"], errors="coerce")
        off = sorted(set(rows.loc[(values < lo) | (values > hi), "segment"].astype(int)))
        if off:
            one = len(off) == 1
            note += (f" The intercept{'' if one else 's'} of {kit.segment_list(off)} "
                     f"{'lies' if one else 'lie'} outside the outcome's {kit.scale_text(outcome_scale)} scale.")
    return note


def _forest_caption(terms: list[str], ci_level: float, has_boot: bool, margin: float | None, banded: list[str],
                    n_missing: int, intercept_note: str = "", families: Sequence[str] = ("gaussian",),
                    expected_sign: int | None = None) -> str:
    unit = coefficient_unit(families)
    facts = [family_class(f) for f in families]
    words = ["intercept" if _is_intercept(t) else str(t).replace("_", " ") for t in terms]
    return (
        f"Segment-specific coefficients ({', '.join(words)}) with {kit.pct(ci_level)} confidence "
        "intervals, one panel per term and one row per segment (marker shape and shade identify "
        "the segment). Markers: point estimates; solid lines: model-based intervals"
        + ("; dashed lines: bootstrap percentile intervals" if has_boot else "")
        + (f". Coefficients in {unit}" + ("" if not any(f.has_intercept for f in facts) else
                                         " (intercepts: the linear predictor where every predictor is 0)")
           + f"; slopes in {unit} per one-point increase in the predictor")
        + (" (latent: the score before censoring at its scale's ends)" if "latent" in unit else "")
        + ". An interval that excludes the vertical zero line indicates a non-zero effect"
        + (f"; an interval inside the shaded band (\u00b1{margin:g} for "
           f"{'every slope' if len(banded) > 1 else str(banded[0]).replace('_', ' ')}) indicates a practically "
           "negligible effect" if margin else "")
        + "."
        + (f" The focal slope is expected to be {'positive' if expected_sign > 0 else 'negative'}; segment 1 (top) "
           "is the segment moved most strongly in that direction." if expected_sign else "")
        + intercept_note
        + (f" {n_missing} interval(s) could not be estimated (marked n/a)." if n_missing else "")
    )
