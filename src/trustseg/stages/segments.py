"""The chosen segmentation (workflow/rules/segments.smk): inference, names, assignments, classification, settings."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from trustseg.report.tables import atomic_write_text, write_table
from trustseg.stages.common import POSTERIOR_PREFIX, analysis_data, chosen_row, read_clean, stem, write_csv, write_json
from trustseg.stages.fits import load_model

logger = logging.getLogger("trustseg")


def segment_table(inference, focal: str, outcome: str, counts: Mapping[int, int], scale: Sequence[float] | None = None,
                  predictor_means: Mapping[str, float] | None = None) -> pd.DataFrame:
    """One row per segment and term: plain-language name, estimates, tests and the focal verdict."""
    from trustseg.report.naming import name_segments

    table = inference.params.copy()
    verdicts = inference.verdicts[["segment", "p_positive", "p_tost", "verdict"]].assign(term=focal)
    table = table.merge(verdicts, on=["segment", "term"], how="left")
    table["verdict"] = table["verdict"].fillna("")
    sigmas = inference.sigmas.set_index("segment")["estimate"]
    table["sigma"] = table["segment"].map(sigmas)
    table["n_assigned"] = table["segment"].map(counts).fillna(0).astype(int)
    names = name_segments(
        table, focal=focal, outcome_scale=tuple(scale) if scale else None,
        predictor_means=predictor_means, outcome=outcome,
    )
    table.insert(1, "name", table["segment"].map(names))
    return table


def segments(clean_path: str, name: str, fit_path: str, outputs: Mapping[str, str], *, outcome: str,
             predictors: Sequence[str], focal: str, cov_type: str, alpha: float, equivalence_margin: float,
             weight_column: str | None, scale: Sequence[float] | None = None) -> None:
    """Inference, names, assignments and classification quality of the chosen model."""
    from trustseg.model.classification import classification_quality

    clean_df = read_clean(clean_path)
    X, y, w, ids = analysis_data(clean_df, outcome, predictors, name, weight_column)
    model = load_model(fit_path)
    inference = model.inference(
        X, y, sample_weight=w, cov_type=cov_type, alpha=alpha, equivalence_margin=equivalence_margin,
    )
    posteriors = model.predict_proba(X, y)
    labels = posteriors.argmax(axis=1) + 1
    counts = pd.Series(labels).value_counts().to_dict()
    table = segment_table(
        inference, focal, outcome, counts, scale,
        predictor_means={p: float(np.average(X[p], weights=w)) for p in predictors},
    )
    names = table.groupby("segment")["name"].first().to_dict()
    write_table(
        table, stem(outputs["segments"]),
        caption=(
            f"Segments of analysis {name}: {outcome} regressed on {', '.join(predictors)}. "
            f"Standard errors from the {'observed information' if cov_type == 'oim' else 'sandwich'} "
            f"of the full mixture likelihood; {100 * (1 - alpha):.0f}% intervals; verdict for {focal} "
            f"with equivalence margin ±{equivalence_margin}."
        ),
    )

    tests_df = inference.tests_frame()
    write_table(tests_df, stem(outputs["tests"]),
                caption=f"Tests of the {focal} slope across segments (pairwise p-values Holm-adjusted).")

    assignments = pd.DataFrame({"respondent_id": ids.to_numpy(), "segment": labels})
    for j in range(posteriors.shape[1]):
        assignments[f"{POSTERIOR_PREFIX}{j + 1}"] = posteriors[:, j]
    write_csv(assignments, outputs["assignments"])

    quality = classification_quality(posteriors, w)
    write_table(
        quality["tidy"],
        stem(outputs["classification"]),
        caption="Classification quality: entropy R², average posterior probabilities and classification errors.",
    )
    write_csv(covariance_frame(inference), outputs["covariance"])
    write_csv(fitted_lines(inference, X, focal), outputs["fitted_lines"])
    summary = inference.summary()
    atomic_write_text(Path(outputs["summary"]), summary.as_text() + "\n")
    atomic_write_text(Path(outputs["summary"]).with_suffix(".md"), summary.as_markdown() + "\n")
    atomic_write_text(Path(outputs["summary"]).with_suffix(".tex"), summary.as_latex() + "\n")
    logger.info(
        "analysis %s: %d segments: %s", name, model.n_segments_, "; ".join(f"{k} {v}" for k, v in names.items())
    )


def fitted_lines(inference, X: pd.DataFrame, focal: str, n_points: int = 60) -> pd.DataFrame:
    """Each segment's fitted line over the observed range of the focal predictor, with its band.

    Other predictors are held at their (unweighted) mean.  Columns: segment,
    the predictors, fit, std_error, lower, upper (the analysis's 1 - alpha band).
    """
    grid = pd.DataFrame({p: np.full(n_points, X[p].mean()) for p in X.columns})
    grid[focal] = np.linspace(float(X[focal].min()), float(X[focal].max()), n_points)
    return inference.get_prediction(grid)


def covariance_frame(inference) -> pd.DataFrame:
    """The full parameter covariance as a labelled square table."""
    names = list(inference.param_names)
    frame = pd.DataFrame(np.asarray(inference.cov), columns=names)
    frame.insert(0, "parameter", names)
    return frame


def record_settings(criteria_path: str, name: str, output: str, *, outcome: str, predictors: Sequence[str],
                    focal: str, alpha: float, criterion: str, equivalence_margin: float, cov_type: str, method: str,
                    membership_ci_level: float) -> None:
    """Write the settings of one analysis and its chosen K to ``analysis.json``, the one place readers find them.

    The notebooks and :mod:`trustseg.report.results` read the outcome, focal
    predictor, confidence levels, criterion and margin here instead of
    recovering them from the tables.
    """
    chosen = chosen_row(criteria_path)
    write_json({
        "analysis": name,
        "outcome": outcome,
        "predictors": list(predictors),
        "focal": focal,
        "method": method,
        "criterion": criterion,
        "k": int(chosen["k"]),
        "k_requested": int(chosen["k_requested"]),
        "cov_type": cov_type,
        "alpha": alpha,
        "ci_level": 1 - alpha,
        "equivalence_margin": equivalence_margin,
        "membership_ci_level": membership_ci_level,
    }, output)
