"""The chosen segmentation (workflow/rules/segments.smk): inference, names, assignments, classification."""

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
from trustseg.stages.fits import load_model
from trustseg.stages.common import POSTERIOR_PREFIX, analysis_data, read_clean, stem, write_csv

logger = logging.getLogger("trustseg")


def segment_table(inference, analysis: Mapping, counts: Mapping[int, int], scale: Sequence[float] | None = None,
                  predictor_means: Mapping[str, float] | None = None) -> pd.DataFrame:
    """One row per segment and term: plain-language name, estimates, tests and the focal verdict."""
    from trustseg.report.naming import name_segments

    focal = analysis.get("focal") or analysis["predictors"][0]
    table = inference.params.copy()
    verdicts = inference.verdicts[["segment", "p_positive", "p_tost", "verdict"]].assign(term=focal)
    table = table.merge(verdicts, on=["segment", "term"], how="left")
    table["verdict"] = table["verdict"].fillna("")
    sigmas = inference.sigmas.set_index("segment")["estimate"]
    table["sigma"] = table["segment"].map(sigmas)
    table["n_assigned"] = table["segment"].map(counts).fillna(0).astype(int)
    names = name_segments(
        table, focal=focal, outcome_scale=tuple(scale) if scale else None,
        predictor_means=predictor_means, outcome=analysis["outcome"],
    )
    table.insert(1, "name", table["segment"].map(names))
    return table


def segments(clean_path: str, name: str, analysis: Mapping, weight_column: str | None, fit_path: str,
             outputs: Mapping[str, str], scale: Sequence[float] | None = None) -> None:
    """Inference, names, assignments and classification quality of the chosen model."""
    from trustseg.model.classification import classification_quality

    clean_df = read_clean(clean_path)
    X, y, w, ids = analysis_data(clean_df, analysis, name, weight_column)
    model = load_model(fit_path)
    inference = model.inference(
        X, y, sample_weight=w, cov_type=analysis["cov_type"], alpha=analysis["alpha"],
        equivalence_margin=analysis["equivalence_margin"],
    )
    posteriors = model.predict_proba(X, y)
    labels = posteriors.argmax(axis=1) + 1
    counts = pd.Series(labels).value_counts().to_dict()
    focal = analysis.get("focal") or analysis["predictors"][0]
    table = segment_table(
        inference, analysis, counts, scale,
        predictor_means={p: float(np.average(X[p], weights=w)) for p in analysis["predictors"]},
    )
    names = table.groupby("segment")["name"].first().to_dict()
    write_table(
        table, stem(outputs["segments"]),
        caption=(
            f"Segments of analysis {name}: {analysis['outcome']} regressed on {', '.join(analysis['predictors'])}. "
            f"Standard errors from the {'observed information' if analysis['cov_type'] == 'oim' else 'sandwich'} "
            f"of the full mixture likelihood; {100 * (1 - analysis['alpha']):.0f}% intervals; verdict for {focal} "
            f"with equivalence margin ±{analysis['equivalence_margin']}."
        ),
    )

    tests = [{
        "test": f"equal {focal} slope in all segments (Wald)",
        "segment_a": pd.NA, "segment_b": pd.NA, "difference": np.nan, "std_error": np.nan,
        "statistic": inference.slope_equality["statistic"], "df": inference.slope_equality["df"],
        "p_value": inference.slope_equality["p_value"], "p_holm": np.nan,
    }]
    for _, row in inference.pairwise.iterrows():
        tests.append({
            "test": f"{focal} slope difference", "segment_a": int(row["segment_a"]), "segment_b": int(row["segment_b"]),
            "difference": row["difference"], "std_error": row["std_error"], "statistic": row["z"], "df": np.nan,
            "p_value": row["p_value"], "p_holm": row["p_holm"],
        })
    tests_df = pd.DataFrame(tests)
    tests_df["segment_a"] = tests_df["segment_a"].astype("Int64")
    tests_df["segment_b"] = tests_df["segment_b"].astype("Int64")
    write_table(tests_df, stem(outputs["tests"]),
                caption=f"Tests of the {focal} slope across segments (pairwise p-values Holm-adjusted).")

    assignments = pd.DataFrame({"respondent_id": ids.to_numpy(), "segment": labels})
    for j in range(posteriors.shape[1]):
        assignments[f"{POSTERIOR_PREFIX}{j + 1}"] = posteriors[:, j]
    write_csv(assignments, outputs["assignments"])

    quality = classification_quality(posteriors, w)
    write_table(quality["tidy"], stem(outputs["classification"]),
                caption="Classification quality: entropy R², average posterior probabilities and classification errors.")
    write_csv(covariance_frame(inference), outputs["covariance"])
    summary = inference.summary()
    atomic_write_text(Path(outputs["summary"]), summary.as_text() + "\n")
    atomic_write_text(Path(outputs["summary"]).with_suffix(".md"), summary.as_markdown() + "\n")
    atomic_write_text(Path(outputs["summary"]).with_suffix(".tex"), summary.as_latex() + "\n")
    logger.info("analysis %s: %d segments: %s", name, model.n_segments_, "; ".join(f"{k} {v}" for k, v in names.items()))


def covariance_frame(inference) -> pd.DataFrame:
    """The full parameter covariance as a labelled square table."""
    names = list(inference.param_names)
    frame = pd.DataFrame(np.asarray(inference.cov), columns=names)
    frame.insert(0, "parameter", names)
    return frame
