"""Stage 3 (workflow/rules/evidence.smk): bootstrap LR tests, the model-selection table, bootstrap stability."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from trustseg.equations import TERM_SEPARATOR
from trustseg.report.tables import write_table
from trustseg.stages.common import analysis_data, derive_seed, read_clean, read_json, stem, write_csv, write_json
from trustseg.stages.fits import load_model, segments_of

logger = logging.getLogger("trustseg")


def lr_test_k(clean_path: str, name: str, fit_k_path: str, fit_k1_path: str, output: str, *, outcome: str,
              predictors: Sequence[str], weight_column: str | None, n_replicates: int, n_init: int, seed: int,
              family_columns: Mapping[str, str] | None = None, equations: Sequence | None = None) -> None:
    """Parametric bootstrap likelihood-ratio test of K against K + 1 segments."""
    from trustseg.model.bootstrap import lr_test, lr_test_seed

    clean_df = read_clean(clean_path)
    X, y, w, _, side = analysis_data(clean_df, outcome, predictors, name, weight_column, family_columns, equations)
    model_k, model_k1 = load_model(fit_k_path), load_model(fit_k1_path)
    k = read_json(fit_k_path)["k_requested"]
    result = lr_test(X, y, model_k, model_k1, n_replicates=n_replicates,
                     seed=lr_test_seed(derive_seed(seed, name, "lr"), k), n_init=n_init, sample_weight=w,
                     family_data=side)
    result = {key: value for key, value in result.items()}
    result["k_requested"] = int(k)
    logger.info(
        "analysis %s: LR test K=%d vs K+1: statistic %.3f, p = %.3f", name, k, result["statistic"], result["p_value"]
    )
    write_json(result, output)


def model_selection(criteria_path: str, lr_paths: Sequence[str], name: str, output: str, *, criterion: str) -> None:
    """Merge the criteria, problems and choice with the bootstrap LR tests into ``model_selection.csv``.

    ``lr_p_min`` is the smallest p-value each test's replicates can give,
    ``1 / (B + 1)``: a p-value there means the observed statistic beat every
    replicate, and the true p-value may be smaller still.
    """
    table = pd.read_csv(criteria_path, keep_default_na=False, na_values=[""])
    for text in ("problems", "set_aside", "set_aside_answers", "set_aside_group", "choice_note"):
        if text in table.columns:
            table[text] = table[text].astype(object).fillna("").astype(str)
    table["lr_statistic"] = np.nan
    table["lr_p_value"] = np.nan
    table["lr_p_min"] = np.nan
    table["lr_replicates"] = pd.array([pd.NA] * len(table), dtype="Int64")
    for path in lr_paths:
        result = read_json(path)
        at = table["k_requested"] == result["k_requested"]
        table.loc[at, "lr_statistic"] = result["statistic"]
        table.loc[at, "lr_p_value"] = result["p_value"]
        table.loc[at, "lr_p_min"] = result["p_value_min"]
        table.loc[at, "lr_replicates"] = result["n_replicates"]
    if "choice_note" in table.columns:  # the sentence last, after the numbers
        table = table[[c for c in table.columns if c != "choice_note"] + ["choice_note"]]
    how = ("chosen by sequential bootstrap likelihood-ratio tests, from the smallest K up" if criterion == "lr_test"
           else f"chosen by the lowest {criterion.upper()} among the K without problems")
    tested = "every K with a K+1" if criterion == "lr_test" else "K up to the chosen one"
    write_table(
        table,
        stem(output),
        caption=(
            f"Choosing the number of segments for analysis {name}: information criteria and problems of each K "
            f"({how}), and the parametric bootstrap likelihood-ratio test of K against K+1 "
            f"(p-value lr_p_value, at least lr_p_min = 1/(replicates+1); tested for {tested})."
        ),
    )


def bootstrap_chunk(clean_path: str, name: str, fit_path: str, chunk: int, output: str, *, outcome: str,
                    predictors: Sequence[str], weight_column: str | None, replicates: int, n_chunks: int, n_init: int,
                    seed: int, family_columns: Mapping[str, str] | None = None,
                    equations: Sequence | None = None, measurement_error: str = "ignore",
                    reliability_path: str | None = None) -> None:
    """Nonparametric bootstrap replicates ``chunk`` of ``n_chunks`` (seeded per replicate).

    With ``measurement_error="correct"`` each refit's coefficients are also
    corrected for measurement error, with the reliabilities recomputed on its
    resample (:func:`trustseg.stages.measurement.replicate_correction`).
    """
    from trustseg.equations import chain_predictors
    from trustseg.model.bootstrap import bootstrap_replicates
    from trustseg.stages.measurement import replicate_correction

    clean_df = read_clean(clean_path)
    X, y, w, ids_, side = analysis_data(clean_df, outcome, predictors, name, weight_column, family_columns,
                                        equations)
    # beside a set-aside group the refits are the segments', each respondent weighted by the chance of not
    # being set aside in the full-sample fit (the group's own uncertainty is in the segments stage's errors)
    reference, w, _ = segments_of(load_model(fit_path), w)
    latent = None
    if measurement_error == "correct" and reliability_path:
        latent = replicate_correction(reference, clean_df, X, y, w, ids_, reliability_path,
                                      chain_predictors(equations) if equations else predictors)
    ids = chunk_replicates(replicates, n_chunks, chunk)
    logger.info("analysis %s: bootstrap replicates %d..%d of %d", name, ids.start + 1, ids.stop, replicates)
    result = bootstrap_replicates(X, y, reference, ids, seed=derive_seed(seed, name, "bootstrap"), n_init=n_init,
                                  sample_weight=w, family_data=side, latent=latent)
    write_csv(result, output)


def chunk_replicates(replicates: int, n_chunks: int, chunk: int) -> range:
    """Replicate indices of one chunk: consecutive, as equal in size as possible."""
    edges = np.linspace(0, replicates, n_chunks + 1).round().astype(int)
    return range(int(edges[chunk]), int(edges[chunk + 1]))


def bootstrap_merge(chunks: Sequence[str], segments_path: str, name: str, outputs: Mapping[str, str], *,
                    alpha: float) -> None:
    """Combine the chunks into percentile intervals, reappearance and partition stability."""
    from trustseg.model.bootstrap import ari_summary, summarise_bootstrap

    frames = [pd.read_csv(c) for c in chunks]
    replicates = pd.concat(frames, ignore_index=True).sort_values(["replicate", "segment", "term"], kind="stable")
    reference = pd.read_csv(segments_path)
    chain = "equation" in reference.columns
    if chain:  # a chain's refits name a coefficient "<equation>~<term>"
        reference = reference.assign(term=reference["equation"] + TERM_SEPARATOR + reference["term"])
    summary = summarise_bootstrap(replicates, reference, alpha=alpha)
    if chain:
        split = summary["term"].str.split(TERM_SEPARATOR, n=1, expand=True)
        summary = summary.assign(term=split[1])
        summary.insert(1, "equation", split[0])
    write_csv(replicates, outputs["replicates"])
    write_table(summary, stem(outputs["summary"]),
                caption=(f"Bootstrap stability of the segments of analysis {name}: percentile intervals over "
                         f"{replicates['replicate'].nunique()} refits on resampled respondents, and how often each "
                         "segment reappeared."))
    write_table(ari_summary(replicates), stem(outputs["ari"]),
                caption="Agreement (adjusted Rand index) between each bootstrap partition and the full-sample one.")
