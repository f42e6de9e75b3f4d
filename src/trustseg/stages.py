"""One function per workflow stage.

The Snakemake rules are thin: each script in ``workflow/scripts/`` unpacks the
``snakemake`` object and calls one function here with plain paths and config
slices.  Every function reads its inputs, calls the modules that hold the
analysis logic and writes its outputs atomically, so a failed job never leaves
a half-written file in ``results/``.
"""

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
from trustseg.tables import atomic_write_text, write_table

logger = logging.getLogger("trustseg")

POSTERIOR_PREFIX = "posterior_"


# ----------------------------------------------------------------------------- plumbing


def derive_seed(seed: int, *keys: str | int) -> int:
    """A 32-bit seed for one random step, derived from the config seed.

    Strings (analysis names, stage names) are hashed with CRC-32 so the seed
    does not depend on Python's randomised ``hash``.
    """
    words = [int(seed)] + [zlib.crc32(k.encode("utf-8")) if isinstance(k, str) else int(k) for k in keys]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint32)[0])


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as UTF-8 CSV atomically, with ``\\n`` line ends."""
    return atomic_write_text(Path(path), df.to_csv(index=False, lineterminator="\n"))


def write_json(obj, path: str | Path) -> Path:
    """Write JSON atomically (sorted keys, so identical runs give identical files)."""
    return atomic_write_text(Path(path), json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def read_json(path: str | Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_clean(path: str | Path) -> pd.DataFrame:
    """Read ``results/cleaning/clean.csv`` keeping respondent ids as text."""
    return pd.read_csv(path, dtype={"respondent_id": str}, keep_default_na=True)


def configure_logging(log_path: str | Path | None) -> None:
    """Send the ``trustseg`` logger to the job's log file and to stderr."""
    root = logging.getLogger("trustseg")
    root.setLevel(logging.INFO)
    root.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_path, mode="w", encoding="utf-8")
        handler.setFormatter(fmt)
        root.addHandler(handler)
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    root.addHandler(stream)


def run_stage(stage: Callable[..., None], log_path: str | Path | None, **kwargs) -> None:
    """Run one stage as a workflow job.

    A :class:`~trustseg.errors.TrustsegError` (the user's config or data) is
    written to the log and stderr as one clear message and the job exits with
    status 1, without a Python traceback.  Any other exception is a bug in
    trustseg: its traceback goes to the log before it propagates.
    """
    configure_logging(log_path)
    started = time.perf_counter()
    try:
        stage(**kwargs)
    except TrustsegError as exc:
        logger.error("%s", exc)
        sys.stderr.flush()
        raise SystemExit(1) from None
    except Exception:
        logger.error("unexpected error (a bug in trustseg; please report it):\n%s", traceback.format_exc())
        raise
    logger.info("done in %.1f s", time.perf_counter() - started)


# ----------------------------------------------------------------------------- cleaning


def clean(config: Mapping, outputs: Mapping[str, str]) -> None:
    """Read the raw survey, apply the cleaning rules, score and check reliability.

    Outputs (keys of ``outputs``): ``clean``, ``report``, ``flagged``,
    ``reliability`` (CSV paths; Markdown/LaTeX twins are written beside the
    report and reliability tables).
    """
    from trustseg.cleaning import clean_survey
    from trustseg.io import read_survey
    from trustseg.reliability import reliability_table

    data_cfg = config["data"]
    raw = read_survey(data_cfg["path"], data_cfg)
    logger.info("read %d rows and %d columns from %s", len(raw), raw.shape[1], data_cfg["path"])
    result = clean_survey(raw, dict(config))
    reliability = reliability_table(result.clean, config["constructs"])
    for _, row in result.report.iterrows():
        logger.info("cleaning rule %-22s rows affected %6s  %s", row["rule"], row["rows_affected"], row["action"])
    if "warning" in reliability:
        for warning in reliability["warning"].dropna().unique():
            if str(warning).strip():
                logger.warning("reliability: %s", warning)

    write_csv(result.clean, outputs["clean"])
    write_csv(result.flagged, outputs["flagged"])
    write_table(result.report, _stem(outputs["report"]), caption="Cleaning rules: respondents and answers affected.")
    write_table(reliability, _stem(outputs["reliability"]), caption="Reliability of the construct scores.")
    logger.info("clean data: %d respondents kept, %d flagged", len(result.clean), len(result.flagged))


def _stem(csv_path: str | Path) -> Path:
    path = Path(csv_path)
    return path.with_suffix("") if path.suffix == ".csv" else path


# ----------------------------------------------------------------------------- analysis data


def analysis_data(
    clean: pd.DataFrame, analysis: Mapping, name: str, weight_column: str | None = None
) -> tuple[pd.DataFrame, pd.Series, np.ndarray | None, pd.Series]:
    """Predictors, outcome, weights and respondent ids of one analysis.

    Respondents without a score on the outcome or a predictor are left out of
    this analysis (they stay in the clean data); their number is logged.
    """
    variables = [analysis["outcome"], *analysis["predictors"]]
    missing_cols = [v for v in variables if v not in clean.columns]
    if missing_cols:
        raise DataError(
            f"analysis '{name}' uses {missing_cols}, which are neither constructs nor columns of the clean data. "
            f"Fix config key 'analyses.{name}'."
        )
    needed = variables + ([weight_column] if weight_column else [])
    complete = clean[needed].notna().all(axis=1)
    n_left_out = int((~complete).sum())
    if n_left_out:
        logger.info("analysis %s: %d respondents without a score on %s are left out", name, n_left_out, variables)
    data = clean.loc[complete]
    if data.empty:
        raise DataError(f"analysis '{name}': no respondent has scores on all of {variables}; check the constructs' items.")
    X = data[list(analysis["predictors"])].astype(float)
    y = data[analysis["outcome"]].astype(float)
    w = data[weight_column].to_numpy(dtype=float) if weight_column else None
    return X, y, w, data["respondent_id"].astype(str)


def outcome_variance_floor(y: Sequence[float], sample_weight=None, rounding_variance: float | None = None,
                           relative_floor: float = 1e-3) -> float:
    """Residual-variance floor for a rating-scale outcome, relative to var(y).

    Answers on an integer scale are a latent opinion rounded to whole points,
    and rounding adds variance 1/12 to each answer (Sheppard's correction);
    the mean of ``m`` items therefore carries ``1 / (12 m)`` of rounding
    variance (see :func:`outcome_rounding_variance`).  No segment can fit the
    score more tightly than that.  Without this floor EM builds spikes on
    single scale points: a "segment" of everyone who answered 2 to every
    repurchase item, with a near-zero variance and a huge, meaningless
    likelihood that BIC then rewards.  The floor is the larger of the
    rounding variance and ``relative_floor * var(y)``, returned relative to
    the (weighted) variance of ``y`` as the engine expects.  Without a
    ``rounding_variance`` the smallest gap ``h`` between distinct outcome
    values gives ``h**2 / 12``.
    """
    values = np.asarray(y, dtype=float)
    w = np.ones_like(values) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    mean = np.average(values, weights=w)
    var = float(np.average((values - mean) ** 2, weights=w))
    if var <= 0:
        return relative_floor
    if rounding_variance is None:
        steps = np.diff(np.unique(np.round(values, 9)))
        rounding_variance = float(steps.min()) ** 2 / 12.0 if steps.size else 0.0
    return max(relative_floor, float(rounding_variance) / var)


def outcome_rounding_variance(analysis: Mapping, constructs: Mapping) -> float | None:
    """Rounding variance of the outcome score: ``1 / (12 m)`` for the mean of ``m`` integer-scale items.

    ``None`` when the outcome is not a construct on an integer scale (the
    floor then comes from the data).
    """
    spec = constructs.get(analysis["outcome"])
    if spec is None:
        return None
    lo, hi = spec["scale"]
    if not (float(lo).is_integer() and float(hi).is_integer()):
        return None
    return 1.0 / (12.0 * len(spec["items"]))


def _estimator(analysis: Mapping, k: int, y, w, seed: int, name: str, rounding_variance: float | None = None):
    from trustseg.mixture import ClusterwiseRegression

    return ClusterwiseRegression(
        n_segments=int(k),
        n_init=int(analysis["n_init"]),
        method=analysis["method"],
        min_share=float(analysis["min_share"]),
        variance_floor=outcome_variance_floor(y, w, rounding_variance),
        focal=analysis.get("focal") or analysis["predictors"][0],
        random_state=derive_seed(seed, name, "fit", int(k)),
    )


def _load_model(path: str | Path):
    from trustseg.mixture import ClusterwiseRegression

    return ClusterwiseRegression.from_dict(read_json(path)["model"])


# ----------------------------------------------------------------------------- fitting and choosing K


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
    from trustseg.selection import criteria_table

    clean_df = read_clean(clean_path)
    X, y, w, _ = analysis_data(clean_df, analysis, name, weight_column)
    fitted = {read_json(f)["k_requested"]: _load_model(f) for f in fits}
    ks = sorted(fitted)
    table = criteria_table([fitted[k] for k in ks], X, y, sample_weight=w, criterion=analysis["criterion"])
    table.insert(0, "k_requested", ks)
    write_csv(table, criteria_out)
    chosen = table.loc[table["chosen"].astype(bool)]
    logger.info("analysis %s: %s chooses K=%s", name, analysis["criterion"].upper(), chosen["k"].tolist())

    from trustseg.mixture import reached_optimum

    rows = []
    for k in ks:
        model = fitted[k]
        reached = reached_optimum(model.start_logliks_, model.loglik_)
        for start, (value, best) in enumerate(zip(model.start_logliks_, reached), start=1):
            rows.append({"k": k, "start": start, "loglik": float(value), "reached_best": bool(best)})
    write_csv(pd.DataFrame(rows), starts_out)


def chosen_k(criteria_path: str | Path) -> int:
    """The number of segments chosen in ``criteria.csv`` (as requested in the config)."""
    table = pd.read_csv(criteria_path)
    chosen = table.loc[table["chosen"].astype(bool), "k_requested"]
    if chosen.empty:
        raise DataError(f"{criteria_path} marks no number of segments as chosen.")
    return int(chosen.iloc[0])


def lr_test_k(clean_path: str, name: str, analysis: Mapping, weight_column: str | None, fit_k_path: str,
              fit_k1_path: str, n_replicates: int, n_init: int, seed: int, output: str) -> None:
    """Parametric bootstrap likelihood-ratio test of K against K + 1 segments."""
    from trustseg.bootstrap import lr_test, lr_test_seed

    clean_df = read_clean(clean_path)
    X, y, w, _ = analysis_data(clean_df, analysis, name, weight_column)
    model_k, model_k1 = _load_model(fit_k_path), _load_model(fit_k1_path)
    k = read_json(fit_k_path)["k_requested"]
    result = lr_test(X, y, model_k, model_k1, n_replicates=n_replicates,
                     seed=lr_test_seed(derive_seed(seed, name, "lr"), k), n_init=n_init, sample_weight=w)
    result = {key: value for key, value in result.items()}
    result["k_requested"] = int(k)
    logger.info("analysis %s: LR test K=%d vs K+1: statistic %.3f, p = %.3f", name, k, result["statistic"], result["p_value"])
    write_json(result, output)


def model_selection(criteria_path: str, lr_paths: Sequence[str], name: str, criterion: str, output: str) -> None:
    """Merge the criteria and the bootstrap LR tests into ``model_selection.csv``."""
    table = pd.read_csv(criteria_path)
    table["lr_statistic"] = np.nan
    table["lr_p_value"] = np.nan
    table["lr_replicates"] = pd.array([pd.NA] * len(table), dtype="Int64")
    for path in lr_paths:
        result = read_json(path)
        at = table["k_requested"] == result["k_requested"]
        table.loc[at, "lr_statistic"] = result["statistic"]
        table.loc[at, "lr_p_value"] = result["p_value"]
        table.loc[at, "lr_replicates"] = result["n_replicates"]
    write_table(
        table,
        _stem(output),
        caption=(
            f"Choosing the number of segments for analysis {name}: information criteria "
            f"(chosen by {criterion.upper()}), and the parametric bootstrap likelihood-ratio test of K against K+1 "
            "(p-value of lr_p_value; tested for K up to the chosen one)."
        ),
    )


# ----------------------------------------------------------------------------- the chosen segmentation


def segment_table(inference, analysis: Mapping, counts: Mapping[int, int], scale: Sequence[float] | None = None,
                  predictor_means: Mapping[str, float] | None = None) -> pd.DataFrame:
    """One row per segment and term: plain-language name, estimates, tests and the focal verdict."""
    from trustseg.naming import name_segments

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
    from trustseg.classification import classification_quality

    clean_df = read_clean(clean_path)
    X, y, w, ids = analysis_data(clean_df, analysis, name, weight_column)
    model = _load_model(fit_path)
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
        table, _stem(outputs["segments"]),
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
    write_table(tests_df, _stem(outputs["tests"]),
                caption=f"Tests of the {focal} slope across segments (pairwise p-values Holm-adjusted).")

    assignments = pd.DataFrame({"respondent_id": ids.to_numpy(), "segment": labels})
    for j in range(posteriors.shape[1]):
        assignments[f"{POSTERIOR_PREFIX}{j + 1}"] = posteriors[:, j]
    write_csv(assignments, outputs["assignments"])

    quality = classification_quality(posteriors, w)
    write_table(quality["tidy"], _stem(outputs["classification"]),
                caption="Classification quality: entropy R², average posterior probabilities and classification errors.")
    write_csv(covariance_frame(inference), outputs["covariance"])
    summary = inference.summary()
    atomic_write_text(Path(outputs["summary"]), summary.as_text() + "\n")
    atomic_write_text(Path(outputs["summary"]).with_suffix(".md"), summary.as_markdown() + "\n")
    atomic_write_text(Path(outputs["summary"]).with_suffix(".tex"), summary.as_latex() + "\n")
    logger.info("analysis %s: %d segments: %s", name, model.n_segments_, "; ".join(f"{k} {v}" for k, v in names.items()))


# ----------------------------------------------------------------------------- bootstrap


def bootstrap_chunk(clean_path: str, name: str, analysis: Mapping, weight_column: str | None, fit_path: str,
                    chunk: int, n_chunks: int, replicates: int, n_init: int, seed: int, output: str) -> None:
    """Nonparametric bootstrap replicates ``chunk`` of ``n_chunks`` (seeded per replicate)."""
    from trustseg.bootstrap import bootstrap_replicates

    clean_df = read_clean(clean_path)
    X, y, w, _ = analysis_data(clean_df, analysis, name, weight_column)
    reference = _load_model(fit_path)
    ids = chunk_replicates(replicates, n_chunks, chunk)
    logger.info("analysis %s: bootstrap replicates %d..%d of %d", name, ids.start + 1, ids.stop, replicates)
    result = bootstrap_replicates(X, y, reference, ids, seed=derive_seed(seed, name, "bootstrap"), n_init=n_init,
                                  sample_weight=w)
    write_csv(result, output)


def chunk_replicates(replicates: int, n_chunks: int, chunk: int) -> range:
    """Replicate indices of one chunk: consecutive, as equal in size as possible."""
    edges = np.linspace(0, replicates, n_chunks + 1).round().astype(int)
    return range(int(edges[chunk]), int(edges[chunk + 1]))


def bootstrap_merge(chunks: Sequence[str], segments_path: str, name: str, alpha: float, outputs: Mapping[str, str]) -> None:
    """Combine the chunks into percentile intervals, reappearance and partition stability."""
    from trustseg.bootstrap import ari_summary, summarise_bootstrap

    frames = [pd.read_csv(c) for c in chunks]
    replicates = pd.concat(frames, ignore_index=True).sort_values(["replicate", "segment", "term"], kind="stable")
    reference = pd.read_csv(segments_path)
    summary = summarise_bootstrap(replicates, reference, alpha=alpha)
    write_csv(replicates, outputs["replicates"])
    write_table(summary, _stem(outputs["summary"]),
                caption=(f"Bootstrap stability of the segments of analysis {name}: percentile intervals over "
                         f"{replicates['replicate'].nunique()} refits on resampled respondents, and how often each "
                         "segment reappeared."))
    write_table(ari_summary(replicates), _stem(outputs["ari"]),
                caption="Agreement (adjusted Rand index) between each bootstrap partition and the full-sample one.")


# ----------------------------------------------------------------------------- profiles


def profiles(clean_path: str, assignments_path: str, name: str, variables: Sequence[str], weight_column: str | None,
             seed: int, outputs: Mapping[str, str]) -> None:
    """Who the segments are: profile table and the BCH-corrected membership model."""
    from trustseg.profiles import membership_model, profile_table

    clean_df = read_clean(clean_path)
    assignments = pd.read_csv(assignments_path, dtype={"respondent_id": str})
    data = assignments.merge(clean_df, on="respondent_id", how="left", validate="one_to_one")
    posteriors = data[[c for c in assignments.columns if c.startswith(POSTERIOR_PREFIX)]].to_numpy()
    variables = list(variables)
    table = profile_table(data, data["segment"], variables, posteriors=posteriors, seed=derive_seed(seed, name, "profiles"))
    write_table(table, _stem(outputs["profiles"]), caption=f"Who is in each segment of analysis {name}.")
    weights = data[weight_column].to_numpy(dtype=float) if weight_column else None
    membership = membership_model(data, posteriors, variables, weights=weights)
    write_table(membership, _stem(outputs["membership"]),
                caption=(f"What predicts segment membership (analysis {name}): multinomial logit against segment 1, "
                         "BCH-corrected for classification error."))


# ----------------------------------------------------------------------------- figures


def covariance_frame(inference) -> pd.DataFrame:
    """The full parameter covariance as a labelled square table."""
    names = list(inference.param_names)
    frame = pd.DataFrame(np.asarray(inference.cov), columns=names)
    frame.insert(0, "parameter", names)
    return frame


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
    from trustseg import figures as fig

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
    from trustseg import figures as fig

    boot = pd.read_csv(bootstrap_path)
    replicates = pd.read_csv(replicates_path)
    ari = replicates.groupby("replicate")["ari"].first().to_numpy(dtype=float)
    reappearance = boot.groupby("segment")["reappearance"].first().reset_index()
    figure = fig.bootstrap_stability(ari, reappearance, _segment_names(segments_path), Path(out_stem), formats=tuple(formats))
    write_json({"bootstrap_stability": _figure_record(figure)}, Path(out_stem).with_name("captions_bootstrap.json"))


def profile_figure(segments_path: str, profiles_path: str, out_stem: str, formats: Sequence[str]) -> None:
    """Heat map of the profile variables by segment."""
    from trustseg import figures as fig

    figure = fig.profile_heatmap(pd.read_csv(profiles_path), _segment_names(segments_path), Path(out_stem),
                                 formats=tuple(formats))
    write_json({"profile_heatmap": _figure_record(figure)}, Path(out_stem).with_name("captions_profiles.json"))


def cleaning_figure(report_path: str, out_stem: str, formats: Sequence[str]) -> None:
    """Bar chart of the respondents affected by each cleaning rule."""
    from trustseg import figures as fig

    figure = fig.cleaning_summary(pd.read_csv(report_path), Path(out_stem), formats=tuple(formats))
    write_json({"cleaning_summary": _figure_record(figure)}, Path(out_stem).with_name("captions_cleaning.json"))
