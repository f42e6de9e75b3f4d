"""Stage 5 (workflow/rules/figures.smk): every figure, with its caption recorded beside it."""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from trustseg.errors import DataError, TrustsegError
from trustseg.report.tables import atomic_write_text, write_table
from trustseg.stages.common import POSTERIOR_PREFIX, analysis_data, derive_seed, read_clean, write_json

logger = logging.getLogger("trustseg")


def line_grid(segments_df: pd.DataFrame, covariance: pd.DataFrame, X: pd.DataFrame, focal: str,
              alpha: float = 0.05, n_points: int = 60) -> pd.DataFrame:
    """Fitted focal line and pointwise confidence band per segment.

    Other predictors are held at their mean.  The band uses the segment's
    coefficient covariance from the full mixture likelihood:
    ``var(fit) = g' V g`` with ``g = (1, x, mean of the others)``.
    """
    from scipy.stats import norm

    z = norm.ppf(1 - alpha / 2)
    lo, hi = float(X[focal].min()), float(X[focal].max())
    grid = np.linspace(lo, hi, n_points)
    terms = ["(Intercept)", *X.columns]
    means = X.mean()
    cov = covariance.set_index("parameter")
    rows = []
    for segment, part in segments_df.groupby("segment"):
        coef = part.set_index("term")["estimate"].reindex(terms).to_numpy(dtype=float)
        labels = [f"{segment}:{t}" for t in terms]
        V = cov.loc[labels, labels].to_numpy(dtype=float)
        G = np.column_stack([np.ones_like(grid)] + [grid if t == focal else np.full_like(grid, means[t]) for t in X.columns])
        fit = G @ coef
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", G, V, G), 0.0))
        rows.append(pd.DataFrame({"segment": segment, "x": grid, "fit": fit, "lower": fit - z * se, "upper": fit + z * se}))
    return pd.concat(rows, ignore_index=True)


def _axis_label(variable: str, constructs: Mapping) -> str:
    spec = constructs.get(variable)
    if spec:
        lo, hi = spec["scale"]
        return f"{variable.capitalize()} (mean of {len(spec['items'])} items, {lo:g}-{hi:g} scale)"
    return f"{variable} (as in the data)"


def _figure_record(figure) -> dict:
    return {"caption": figure.caption, "files": [str(p) for p in figure.paths]}


def _segment_names(segments_path: str) -> dict[int, str]:
    return pd.read_csv(segments_path).groupby("segment")["name"].first().to_dict()


def segment_figures(clean_path: str, name: str, analysis: Mapping, constructs: Mapping, weight_column: str | None,
                    inputs: Mapping[str, str], out_dir: str, formats: Sequence[str], seed: int) -> None:
    """The segment scatter, information criteria, posterior certainty and coefficient forest of one analysis.

    Captions go to ``captions_segments.json`` beside the figures.
    """
    from trustseg.report import figures as fig

    out = Path(out_dir)
    clean_df = read_clean(clean_path)
    X, y, _, _ = analysis_data(clean_df, analysis, name, weight_column)
    focal = analysis.get("focal") or analysis["predictors"][0]
    segments_df = pd.read_csv(inputs["segments"])
    names = _segment_names(inputs["segments"])
    assignments = pd.read_csv(inputs["assignments"], dtype={"respondent_id": str})
    formats = tuple(formats)
    written = {}
    scatter = pd.DataFrame({"x": X[focal].to_numpy(), "y": y.to_numpy(), "segment": assignments["segment"].to_numpy()})
    grid = line_grid(segments_df, pd.read_csv(inputs["covariance"]), X, focal, alpha=analysis["alpha"])
    written["segment_scatter"] = fig.segment_scatter(
        scatter, grid, names, _axis_label(focal, constructs), _axis_label(analysis["outcome"], constructs),
        out / "segment_scatter", seed=derive_seed(seed, name, "jitter") % 2**31, ci_level=1 - analysis["alpha"],
        formats=formats,
    )
    written["information_criteria"] = fig.information_criteria(
        pd.read_csv(inputs["model_selection"]), out / "information_criteria", formats=formats
    )
    posteriors = assignments[[c for c in assignments.columns if c.startswith(POSTERIOR_PREFIX)]].to_numpy()
    written["posterior_certainty"] = fig.posterior_certainty(posteriors, names, out / "posterior_certainty", formats=formats)
    estimates = segments_df[["segment", "term", "estimate", "ci_low", "ci_high"]].copy()
    if inputs.get("bootstrap"):
        boot = pd.read_csv(inputs["bootstrap"]).rename(columns={"ci_low": "boot_ci_low", "ci_high": "boot_ci_high"})
        estimates = estimates.merge(boot[["segment", "term", "boot_ci_low", "boot_ci_high"]], on=["segment", "term"], how="left")
    written["coefficient_forest"] = fig.coefficient_forest(
        estimates, names, out / "coefficient_forest", equivalence_margin=analysis["equivalence_margin"],
        focal_term=focal, ci_level=1 - analysis["alpha"], formats=formats,
    )
    write_json({key: _figure_record(f) for key, f in written.items()}, out / "captions_segments.json")


def bootstrap_figure(segments_path: str, bootstrap_path: str, replicates_path: str, out_stem: str,
                     formats: Sequence[str]) -> None:
    """Bootstrap stability: ARI distribution and how often each segment reappeared."""
    from trustseg.report import figures as fig

    boot = pd.read_csv(bootstrap_path)
    replicates = pd.read_csv(replicates_path)
    ari = replicates.groupby("replicate")["ari"].first().to_numpy(dtype=float)
    reappearance = boot.groupby("segment")["reappearance"].first().reset_index()
    figure = fig.bootstrap_stability(ari, reappearance, _segment_names(segments_path), Path(out_stem), formats=tuple(formats))
    write_json({"bootstrap_stability": _figure_record(figure)}, Path(out_stem).with_name("captions_bootstrap.json"))


def profile_figure(segments_path: str, profiles_path: str, out_stem: str, formats: Sequence[str]) -> None:
    """Heat map of the profile variables by segment."""
    from trustseg.report import figures as fig

    figure = fig.profile_heatmap(pd.read_csv(profiles_path), _segment_names(segments_path), Path(out_stem),
                                 formats=tuple(formats))
    write_json({"profile_heatmap": _figure_record(figure)}, Path(out_stem).with_name("captions_profiles.json"))


def cleaning_figure(report_path: str, out_stem: str, formats: Sequence[str]) -> None:
    """Bar chart of the respondents affected by each cleaning rule."""
    from trustseg.report import figures as fig

    figure = fig.cleaning_summary(pd.read_csv(report_path), Path(out_stem), formats=tuple(formats))
    write_json({"cleaning_summary": _figure_record(figure)}, Path(out_stem).with_name("captions_cleaning.json"))
