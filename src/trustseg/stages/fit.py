"""Stage 2 (workflow/rules/fit.smk): fit every candidate K and choose K."""

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
from trustseg.stages.common import analysis_data, derive_seed, outcome_variance_floor, read_clean, read_json, write_csv, write_json

logger = logging.getLogger("trustseg")


def _estimator(analysis: Mapping, k: int, y, w, seed: int, name: str, rounding_variance: float | None = None):
    from trustseg.model.mixture import ClusterwiseRegression

    return ClusterwiseRegression(
        n_segments=int(k),
        n_init=int(analysis["n_init"]),
        method=analysis["method"],
        min_share=float(analysis["min_share"]),
        variance_floor=outcome_variance_floor(y, w, rounding_variance),
        focal=analysis.get("focal") or analysis["predictors"][0],
        random_state=derive_seed(seed, name, "fit", int(k)),
    )


def fit_k(clean_path: str, name: str, analysis: Mapping, k: int, seed: int, weight_column: str | None, output: str,
          rounding_variance: float | None = None) -> None:
    """Fit the K-segment clusterwise regression of one analysis (one job per K)."""
    clean_df = read_clean(clean_path)
    X, y, w, _ = analysis_data(clean_df, analysis, name, weight_column)
    n_params = int(k) * (X.shape[1] + 2) - 1
    if len(y) < 2 * n_params:
        raise DataError(
            f"analysis '{name}': {k} segments need {n_params} parameters, but only {len(y)} respondents have complete "
            f"scores (at least {2 * n_params} are needed). Remove {k} from config key 'analyses.{name}.segments' "
            "or collect more data."
        )
    model = _estimator(analysis, k, y, w, seed, name, rounding_variance)
    started = time.perf_counter()
    try:
        model.fit(X, y, sample_weight=w)
    except DataError as exc:
        raise DataError(f"analysis '{name}', {k} segments: {exc}") from None
    best = np.nanmax(model.start_logliks_)
    logger.info(
        "analysis %s, K=%d: log-likelihood %.4f, %d of %d starts reached it, %d segments kept, %.2f s",
        name, k, model.loglik_, model.n_best_starts_, len(model.start_logliks_), model.n_segments_,
        time.perf_counter() - started,
    )
    if not np.isclose(best, model.loglik_, rtol=1e-6, atol=1e-6):
        logger.info("best start reached %.4f before removal of degenerate segments", best)
    for removed in model.removed_segments_:
        logger.warning("analysis %s, K=%d: removed a segment: %s", name, k, removed)
    write_json({"analysis": name, "k_requested": int(k), "n": int(len(y)), "model": model.to_dict()}, output)


def select_k(clean_path: str, name: str, analysis: Mapping, weight_column: str | None, fits: Sequence[str],
             criteria_out: str, starts_out: str) -> None:
    """Tabulate information criteria over K, choose K, and list every start's log-likelihood."""
    from trustseg.model.selection import criteria_table

    clean_df = read_clean(clean_path)
    X, y, w, _ = analysis_data(clean_df, analysis, name, weight_column)
    fitted = {read_json(f)["k_requested"]: load_model(f) for f in fits}
    ks = sorted(fitted)
    table = criteria_table([fitted[k] for k in ks], X, y, sample_weight=w, criterion=analysis["criterion"])
    table.insert(0, "k_requested", ks)
    write_csv(table, criteria_out)
    chosen = table.loc[table["chosen"].astype(bool)]
    logger.info("analysis %s: %s chooses K=%s", name, analysis["criterion"].upper(), chosen["k"].tolist())

    from trustseg.model.mixture import reached_optimum

    rows = []
    for k in ks:
        model = fitted[k]
        reached = reached_optimum(model.start_logliks_, model.loglik_)
        for start, (value, best) in enumerate(zip(model.start_logliks_, reached), start=1):
            rows.append({"k": k, "start": start, "loglik": float(value), "reached_best": bool(best)})
    write_csv(pd.DataFrame(rows), starts_out)
