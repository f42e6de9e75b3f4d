"""The bootstrap stability figure (rule bootstrap_figure): partition agreement and segment reappearance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure as _MplFigure

import trustseg.report.figures.kit as kit

# ---------------------------------------------------------------------------
# bootstrap stability
# ---------------------------------------------------------------------------


def bootstrap_stability(
    ari,
    reappearance: pd.DataFrame,
    names: Mapping[int, str] | None,
    stem: Path,
    formats: Sequence[str] = ("pdf",),
) -> kit.Figure:
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
    kit.Figure
    """
    kit.require(reappearance, ["segment", "reappearance"], "reappearance")
    ari = np.asarray(ari, dtype=float).ravel()
    n_failed = int((~np.isfinite(ari)).sum())
    ari = ari[np.isfinite(ari)]
    rep = reappearance.copy()
    rep["segment"] = pd.to_numeric(rep["segment"], errors="coerce")
    rep = rep.dropna(subset=["segment"])
    segs = kit.all_segments(names, rep["segment"])
    row_labels = [kit.wrapped_label(s, names, 24) for s in segs]
    label_lines = max((t.count("\n") + 1 for t in row_labels), default=1)
    height = max(2.9, 1.3 + (0.22 + 0.12 * label_lines) * len(segs))
    with kit.rendering():
        fig = _MplFigure(figsize=(kit.DOUBLE_COLUMN * 0.85, height), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.1, 1])
        if len(ari):
            lo = min(0.0, float(ari.min()))
            ax1.hist(ari, bins=np.linspace(lo, 1.0, 21), color="0.45", edgecolor="white", linewidth=0.4)
            med = float(np.median(ari))
            ax1.axvline(med, color="black", linestyle="--", linewidth=1.0)
            ax1.set_xlim(lo, 1.0)
            ax1.yaxis.get_major_locator().set_params(integer=True)
        else:
            kit.empty_note(ax1, "No successful replicates")
        ax1.set_xlabel("Adjusted Rand index vs full-sample\npartition (1 = identical, 0 = chance)")
        ax1.set_ylabel("Bootstrap replicates (count)")
        # The median goes into the title, above the bars, not onto them.
        ax1.set_title("(a) Partition agreement" + (f"\nmedian {med:.2f} (dashed line)" if len(ari) else ""),
                      loc="left")
        _reappearance_panel(ax2, rep, segs, row_labels)
    caption = (
        f"Bootstrap stability of the segmentation. (a) Adjusted Rand index between each of the "
        f"{len(ari)} bootstrap replicates' partition and the full-sample partition (1 = identical "
        "assignment, 0 = chance agreement); dashed line: median"
        + (f" ({float(np.median(ari)):.2f})" if len(ari) else "")
        + ". (b) Share of replicates (0\u20131, labelled in percent) in which each segment "
        "reappeared; higher is more stable, n/a = not estimable."
        + (f" {n_failed} replicate(s) failed and are not shown." if n_failed else "")
    )
    return kit.save(fig, stem, formats, caption)



def _reappearance_panel(ax, rep: pd.DataFrame, segs: list[int], row_labels: list[str]) -> None:
    """Panel (b): each segment's reappearance rate as a bar, segments down the y axis (names stacked, never
    running into each other), segment 1 on top."""
    styles = kit.segment_styles(segs)
    for i, s in enumerate(segs):
        st = styles[s]
        val = rep.loc[rep["segment"] == s, "reappearance"]
        v = float(val.iloc[0]) if len(val) and pd.notna(val.iloc[0]) else np.nan
        if np.isfinite(v):
            ax.barh(i, v, color=st["color"], hatch=st["hatch"], edgecolor="0.15", linewidth=0.5, height=0.6)
            ax.text(v + 0.02, i, f"{100 * v:.0f}%", ha="left", va="center", fontsize=7.5)
        else:
            ax.text(0.02, i, "n/a", ha="left", va="center", fontsize=7.5, color="0.35")
    ax.set_yticks(range(len(segs)), row_labels, fontsize=7)
    ax.set_ylim(max(len(segs), 1) - 0.4, -0.6)  # segment 1 on top
    ax.set_xlim(0, 1.2)  # room for "100%" right of a full bar
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_xlabel("Reappearance rate\n(share of replicates, 0\u20131)")
    ax.set_title("(b) Segment reappearance", loc="left")
