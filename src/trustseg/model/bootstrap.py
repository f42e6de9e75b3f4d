"""Evidence that the segments are real: bootstrap stability and the BLRT.

Two resampling procedures:

* :func:`bootstrap_replicates` / :func:`summarise_bootstrap` — the
  nonparametric bootstrap.  Respondents are resampled with replacement, the
  K-segment model is refitted, every bootstrap segment is matched to a
  full-sample segment (Hungarian matching, never by position), and the
  replicates give percentile intervals for every coefficient, how often each
  segment reappears, and how stable the partition of the respondents is
  (adjusted Rand index).
* :func:`lr_test` — the parametric bootstrap likelihood-ratio test of K
  against K + 1 segments (McLachlan 1987; flexmix's ``LR_test``; Latent GOLD's
  and Mplus's BLRT).

Seeding.  Replicate ``b`` of a run with seed ``s`` draws all its random numbers
from ``numpy.random.default_rng(numpy.random.SeedSequence([s, b]))``, so
splitting the replicates over jobs (``replicates=range(0, 50)``,
``range(50, 100)``...) gives exactly the numbers of one long run.  Use
:func:`lr_test_seed` to give every K its own independent test seed.

Refits.  Every refit is the engine itself (the reference's own estimator,
:class:`trustseg.model.mixture.ClusterwiseRegression` or
:class:`trustseg.model.chain.ChainRegression`) with the reference
model's settings: ``n_init`` fresh starts plus a full run (Newton finish
included) from given parameters (``init_params``: the full-sample solution,
the generating model, a split segment), the engine choosing among them by its
own rule.  The variance floor is the reference fit's, in outcome units, so a
resample never rescales it.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from trustseg.errors import TrustsegError
from trustseg.model.families import take_rows
from trustseg.model.persistence import variance_floor_setting
from trustseg.progress import Progress

__all__ = [
    "bootstrap_replicates",
    "summarise_bootstrap",
    "ari_summary",
    "lr_test",
    "lr_test_seed",
    "replicate_rng",
    "REPLICATE_COLUMNS",
    "SUMMARY_COLUMNS",
    "LATENT_REPLICATE_COLUMN",
    "latent_percentiles",
]

logger = logging.getLogger("trustseg")

_LR_TAG = 0x4C52  # "LR": keeps the LR-test streams apart from the bootstrap's

REPLICATE_COLUMNS = [
    "replicate", "segment", "term", "estimate", "share", "sigma", "loglik", "ari",
    "matched_cost", "jaccard", "lost", "n_segments", "converged", "note",
]
#: the replicate's coefficient corrected for measurement error, when the bootstrap is given a correction (issue 27)
LATENT_REPLICATE_COLUMN = "latent_estimate"
SUMMARY_COLUMNS = [
    "segment", "term", "estimate", "boot_mean", "boot_se", "ci_low", "ci_high",
    "n_replicates", "n_lost", "reappearance", "share", "share_boot_mean",
    "share_ci_low", "share_ci_high", "note",
]


# ----------------------------------------------------------------------------
# seeds and progress
# ----------------------------------------------------------------------------


def replicate_rng(seed: int, replicate: int) -> np.random.Generator:
    """Generator of replicate ``replicate``: ``SeedSequence([seed, replicate])``."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(replicate)]))


def lr_test_seed(seed: int, k: int) -> int:
    """Seed of the K-versus-(K+1) likelihood-ratio test derived from the config seed.

    ``SeedSequence([seed, 0x4C52, k])`` hashed to one 32-bit integer: every K is
    an independent job whose numbers do not depend on which other K are
    tested, and the streams differ from the nonparametric bootstrap's
    (``SeedSequence([seed, b])``).
    """
    return int(np.random.SeedSequence([int(seed), _LR_TAG, int(k)]).generate_state(1, dtype=np.uint32)[0])


# ----------------------------------------------------------------------------
# refits with the engine
# ----------------------------------------------------------------------------


def _refit(X, y, w, reference, k: int, starts: list, n_init: int, random_state: int, names, family_data=None):
    """Refit K segments with the engine: ``n_init`` fresh starts plus a full run from each of ``starts``.

    The engine's own settings and start rule apply, without escape moves (the reference's
    hyperparameters, its variance floor as an absolute quantity, the Newton
    finish); ``family_data`` holds the rows' trials or offset.  Returns
    ``(model, note)``; ``model`` is None when the fit failed.
    """
    hyper = reference.get_params()
    # the reference's bounds and answer categories: a resample may miss an answer value
    hyper.update(family_options=reference.family_options_ or None)
    # a start from a refit that lost a segment has too few segments to start K from
    starts = [s for s in starts if len(s.weights) == k]
    # no escape moves: each refit starts at the full-sample solution, which had them, and the moves made
    # every bootstrap LR test of the golf run take one to three minutes (docs/benchmarks.md)
    hyper.update(
        n_segments=int(k), n_init=int(n_init), random_state=int(random_state), escape=False,
        init_params=starts or None,
        variance_floor=variance_floor_setting(reference.variance_floor_),
    )
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            # a chain refits on its frame of variables (its outcomes are columns of it)
            inputs = X if _is_chain(reference) else pd.DataFrame(X, columns=names)
            model = type(reference)(**hyper).fit(inputs, y, sample_weight=w, family_data=family_data)
    except (TrustsegError, ValueError, np.linalg.LinAlgError) as exc:
        return None, f"refit failed: {exc}"
    return model, ""


# ----------------------------------------------------------------------------
# matching bootstrap segments to the full-sample segments
# ----------------------------------------------------------------------------


def _is_chain(model) -> bool:
    return getattr(model, "equations_", None) is not None


def _take(family_data, rows, chain):
    """The family data of the respondents ``rows`` (a chain's is keyed by outcome)."""
    if family_data is None:
        return None
    if chain:
        return {outcome: take_rows(values, rows) for outcome, values in family_data.items()}
    return take_rows(family_data, rows)


def _standardised(model, mean_x, sd_x, sd_y) -> np.ndarray:
    """Segment parameters on a common scale: level at mean x, slopes and sigma, in SDs of y.

    For families without a residual SD the linear predictor's own scale is
    kept (``sd_y`` 1) and the family's extra parameters (thresholds) stand in
    for sigma.  A chain's equations are put side by side, each in SDs of its
    own outcome (``sd_y`` one per equation; ``mean_x``, ``sd_x`` of its design).
    """
    if _is_chain(model):
        parts = []
        system = model.family_
        for e, (block, extras, family) in enumerate(zip(system.equation_blocks, system.extra_blocks,
                                                        system.families)):
            coef = model.coef_[:, block]
            scale = sd_y[e] if family.normal else 1.0
            parts.append((coef @ mean_x[block])[:, None] / scale)  # the level at the mean predictors
            slopes = coef[:, 1:] if family.has_intercept else coef
            columns = block[1:] if family.has_intercept else block
            parts.append(slopes * sd_x[columns][None, :] / scale)
            parts.append(np.exp(model.extra_[:, extras[:1]]) / scale if family.normal else model.extra_[:, extras])
        return np.column_stack(parts)
    level = (model.intercept_ + model.coef_ @ mean_x) / sd_y
    slopes = model.coef_ * sd_x[None, :] / sd_y
    extras = model.sigma_[:, None] / sd_y if np.isfinite(model.sigma_).all() else model.extra_
    return np.column_stack([level, slopes, extras])


def _soft_jaccard(pa: np.ndarray, pb: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted soft Jaccard overlap of every column of pa with every column of pb."""
    out = np.empty((pa.shape[1], pb.shape[1]))
    for j in range(pa.shape[1]):
        mn = np.minimum(pa[:, j : j + 1], pb)
        mx = np.maximum(pa[:, j : j + 1], pb)
        out[j] = (w @ mn) / np.maximum(w @ mx, 1e-300)
    return out


def _match(ref_std, boot_std, jaccard, match: str):
    if match == "params":
        cost = ((ref_std[:, None, :] - boot_std[None, :, :]) ** 2).sum(axis=2)
    else:
        cost = 1.0 - jaccard
    rows, cols = linear_sum_assignment(cost)
    return dict(zip(rows.tolist(), cols.tolist())), cost


# ----------------------------------------------------------------------------
# nonparametric bootstrap
# ----------------------------------------------------------------------------


def _as_arrays(X, y, sample_weight, reference):
    """The data as arrays (a chain keeps its frame of variables) with the weights and predictor names."""
    if _is_chain(reference):
        data, _ = reference._validated(X, None, sample_weight)
        frame = X.reset_index(drop=True)
        return frame, None, data["w"], [str(n) for n in reference.feature_names_in_]
    names = [str(c) for c in getattr(reference, "feature_names_in_", [])]
    if isinstance(X, pd.DataFrame) and names:
        X = X[names]
    Xa = np.asarray(X, dtype=float)
    if Xa.ndim == 1:
        Xa = Xa[:, None]
    ya = np.asarray(y, dtype=float).reshape(-1)
    if not names:
        names = [f"x{j + 1}" for j in range(Xa.shape[1])]
    w = np.ones(len(ya)) if sample_weight is None else np.asarray(sample_weight, dtype=float).reshape(-1)
    if Xa.shape[0] != len(ya) or len(w) != len(ya):
        raise ValueError("X, y and sample_weight have different numbers of rows")
    if not (np.isfinite(Xa).all() and np.isfinite(ya).all() and np.isfinite(w).all()):
        raise ValueError("X, y and sample_weight must be complete; drop incomplete rows before bootstrapping")
    return Xa, ya, w, names


class _ReferenceFrame:
    """The full-sample solution every bootstrap refit is matched to, on the original respondents."""

    def __init__(self, reference, X, y, w, names, match, family_data=None):
        self.X, self.y, self.w, self.match, self.family_data = X, y, w, match, family_data
        self.params = reference.params_
        self.k = reference.n_segments_
        self.terms = reference.coef_terms_
        total = w.sum()
        if _is_chain(reference):
            data, _ = reference._validated(X, None, w)
            design, outcomes = data["X"], data["y"]
            self.mean_x = w @ design / total
            self.sd_x = np.sqrt(w @ (design - self.mean_x) ** 2 / total)
            self.sd_y = np.array([float(np.sqrt(w @ (v - w @ v / total) ** 2 / total)) or 1.0 for v in outcomes.T])
        else:
            self.mean_x = w @ X / total
            sd_x = np.sqrt(w @ (X - self.mean_x) ** 2 / total)
            self.sd_x = np.where(sd_x > 0, sd_x, 1.0)
            # a log odds or log count has its own scale; only a normal outcome is put in SDs of y
            self.sd_y = (float(np.sqrt(w @ (y - w @ y / total) ** 2 / total)) or 1.0
                         if np.isfinite(reference.sigma_).all() else 1.0)
        self.standardised = _standardised(reference, self.mean_x, self.sd_x, self.sd_y)
        self.posteriors = reference.predict_proba(X, y, family_data=family_data)
        self.modal = self.posteriors.argmax(axis=1)

    def replicate_rows(self, b, refit, note, latent=None):
        """Rows of ``REPLICATE_COLUMNS`` (and the latent estimate) for replicate b: each full-sample segment and its
        match; ``latent`` the refit's corrected coefficients (K_b, Q), NaN when not given."""
        k, terms = self.k, self.terms
        if refit is None:
            return [(b, j + 1, t, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, True, 0, False, note,
                     np.nan) for j in range(k) for t in terms]
        ll, conv = float(refit.loglik_), bool(refit.converged_)
        boot_post = refit.predict_proba(self.X, self.y, family_data=self.family_data)
        ari = float(adjusted_rand_score(self.modal, boot_post.argmax(axis=1)))
        jac = _soft_jaccard(self.posteriors, boot_post, self.w)
        boot_std = _standardised(refit, self.mean_x, self.sd_x, self.sd_y)
        pairs, cost = _match(self.standardised, boot_std, jac, self.match)
        kb = refit.n_segments_
        rows = []
        for j in range(k):
            if j not in pairs:
                rows += [(b, j + 1, t, np.nan, np.nan, np.nan, ll, ari, np.nan, np.nan, True, kb, conv,
                          note or f"refit kept {kb} of {k} segments", np.nan) for t in terms]
                continue
            m = pairs[j]
            est = refit.family_params_.beta[m]
            corrected = np.full(len(terms), np.nan) if latent is None else latent[m]
            rows += [(b, j + 1, t, float(e), float(refit.weights_[m]), float(refit.sigma_[m]), ll, ari,
                      float(cost[j, m]), float(jac[j, m]), False, kb, conv, note, float(c))
                     for t, e, c in zip(terms, est, corrected)]
        return rows


def bootstrap_replicates(X, y, reference, replicates, seed: int, n_init: int = 3, sample_weight=None, *,
                         match: str = "params", family_data=None, latent=None) -> pd.DataFrame:
    """Refit the K-segment model on bootstrap resamples of the respondents.

    Parameters
    ----------
    X : DataFrame or ndarray (n, p)
        Predictors of the full sample (the columns ``reference`` was fitted on).
    y : array-like (n,)
        Outcome.
    reference : ClusterwiseRegression
        The fitted full-sample model with K segments.
    replicates : range or list of int
        Replicate indices to run, e.g. ``range(0, 50)`` for one chunk.
    seed : int
        Run seed; replicate ``b`` uses ``SeedSequence([seed, b])`` for the
        resample and the random starts, so any chunking gives the same rows.
    n_init : int, default 3
        Fresh starts of each refit (split path, random lines, k-means); the full-sample solution is
        always one more start (EM from the full-sample parameters).
    sample_weight : array-like (n,), optional
        Survey weights; a respondent drawn twice counts twice with its weight.
    match : {"params", "posteriors"}, default "params"
        How bootstrap segments are matched to full-sample segments by the
        Hungarian algorithm.  ``"params"``: squared Euclidean distance between
        standardised parameters (level at the mean predictors and sigma in SDs
        of y, slopes times SD(x)/SD(y)).  ``"posteriors"``: 1 minus the soft
        Jaccard overlap of the posteriors (below).
    family_data : dict, optional
        The trials or offset of each respondent (binomial, poisson), resampled with them.
    latent : callable, optional
        ``latent(refit, rows)`` -> the refit's coefficients corrected for measurement error (K_b, Q) on the
        resampled rows of X; adds a ``latent_estimate`` column (``stages.measurement.replicate_correction``).

    Returns
    -------
    DataFrame
        Long format, one row per replicate x full-sample segment x term
        (``"(Intercept)"`` then the predictors), columns

        ``replicate, segment, term, estimate`` — the matched bootstrap
        segment's coefficient, labelled with the full-sample segment;
        ``share, sigma`` of that bootstrap segment;
        ``loglik`` of the replicate's fit (on its resample);
        ``ari`` — adjusted Rand index between the modal partition of all
        *original* respondents under the bootstrap model and the full-sample
        modal partition;
        ``matched_cost`` — the matching cost of the pair;
        ``jaccard`` — soft Jaccard overlap ``sum_i w_i min(p_ij, q_ik) /
        sum_i w_i max(p_ij, q_ik)`` between the full-sample posteriors of
        segment j and the bootstrap model's posteriors of its match k, both on
        the original respondents (1 = identical membership);
        ``lost`` — True when the refit has fewer than K segments and this
        segment got no match (its values are NaN), or the refit failed;
        ``n_segments`` of the refit; ``converged``; ``note`` (why a fit failed).

    Notes
    -----
    Progress is logged to the ``"trustseg"`` logger about every 10% with an
    estimate of the time left.
    """
    if match not in ("params", "posteriors"):
        raise ValueError("match must be 'params' or 'posteriors'")
    Xa, ya, w, names = _as_arrays(X, y, sample_weight, reference)
    frame = _ReferenceFrame(reference, Xa, ya, w, names, match, family_data)
    replicates = [int(b) for b in replicates]
    progress = Progress(len(replicates), f"bootstrap (K={frame.k})")
    rows = []
    for done, b in enumerate(replicates, start=1):
        refit, note, idx = _resample_refit(Xa, ya, w, reference, frame, b, seed, n_init, names, family_data)
        corrected = latent(refit, idx) if latent is not None and refit is not None else None
        rows += frame.replicate_rows(b, refit, note, corrected)
        progress.update(done)
    out = pd.DataFrame(rows, columns=[*REPLICATE_COLUMNS, LATENT_REPLICATE_COLUMN])
    if latent is None:
        out = out.drop(columns=LATENT_REPLICATE_COLUMN)
    out = out.astype({"replicate": int, "segment": int, "lost": bool, "n_segments": int, "converged": bool})
    out["note"] = out["note"].astype(str)
    return out


def _resample_refit(Xa, ya, w, reference, frame, b, seed, n_init, names, family_data):
    """Replicate ``b``: the respondents resampled with replacement (each with its weight and family data), the
    model refitted from fresh starts and from the full-sample solution; ``(refit or None, note)``."""
    rng = replicate_rng(seed, b)
    idx = rng.integers(0, len(w), size=len(w))
    random_state = int(rng.integers(0, 2**32 - 1))
    chain = _is_chain(reference)
    refit, note = _refit(Xa.iloc[idx].reset_index(drop=True) if chain else Xa[idx], None if chain else ya[idx],
                         w[idx], reference, frame.k, [frame.params], n_init, random_state, names,
                         _take(family_data, idx, chain))
    if refit is None:
        logger.warning("bootstrap replicate %d failed: %s", b, note)
    return refit, note, idx


def _as_bool(values: pd.Series) -> pd.Series:
    """Booleans from bool, 0/1 or "True"/"False" text (a CSV read back)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype(bool)
    text = values.astype(str).str.strip().str.lower()
    return text.isin(["true", "1", "1.0", "yes"])


def ari_summary(replicates_df: pd.DataFrame) -> pd.DataFrame:
    """Adjusted Rand index across replicates: one row.

    Columns ``n_replicates`` (with an ARI), ``n_failed`` (fits that failed),
    ``mean, median, p05, min``.
    """
    per = replicates_df.groupby("replicate")["ari"].first()
    vals = per.dropna().to_numpy(dtype=float)
    if vals.size == 0:
        stats_ = dict(mean=np.nan, median=np.nan, p05=np.nan, min=np.nan)
    else:
        stats_ = dict(mean=float(vals.mean()), median=float(np.median(vals)),
                      p05=float(np.quantile(vals, 0.05)), min=float(vals.min()))
    return pd.DataFrame([{"n_replicates": int(vals.size), "n_failed": int(per.isna().sum()), **stats_}])


def _summary_row(seg, term, estimate, term_rows, segment_rows, n_total, share, alpha, reappear_threshold):
    """One row of :func:`summarise_bootstrap`: the replicates of one segment's term."""
    lo_q, hi_q = alpha / 2, 1 - alpha / 2
    vals = term_rows.loc[~term_rows["lost"], "estimate"].to_numpy(dtype=float)
    vals = vals[np.isfinite(vals)]
    shares = segment_rows.loc[~segment_rows["lost"], "share"].to_numpy(dtype=float)
    reappear = float(((~segment_rows["lost"]) & (segment_rows["jaccard"] >= reappear_threshold)).sum() / n_total)
    notes = []
    n_lost = int(segment_rows["lost"].sum())
    if n_lost:
        notes.append(f"lost in {n_lost} of {n_total} replicates")
    if vals.size < 2:
        notes.append("fewer than 2 replicates: no interval")
    elif vals.size < 50:
        notes.append(f"only {vals.size} replicates: percentile interval is rough")
    return {
        "segment": int(seg),
        "term": term,
        "estimate": estimate,
        "boot_mean": float(vals.mean()) if vals.size else np.nan,
        "boot_se": float(vals.std(ddof=1)) if vals.size > 1 else np.nan,
        "ci_low": float(np.quantile(vals, lo_q)) if vals.size > 1 else np.nan,
        "ci_high": float(np.quantile(vals, hi_q)) if vals.size > 1 else np.nan,
        "n_replicates": int(vals.size),
        "n_lost": n_lost,
        "reappearance": reappear,
        "share": share,
        "share_boot_mean": float(shares.mean()) if shares.size else np.nan,
        "share_ci_low": float(np.quantile(shares, lo_q)) if shares.size > 1 else np.nan,
        "share_ci_high": float(np.quantile(shares, hi_q)) if shares.size > 1 else np.nan,
        "note": "; ".join(notes),
    }


def summarise_bootstrap(replicates_df: pd.DataFrame, reference_params: pd.DataFrame, alpha: float = 0.05,
                        reappear_threshold: float = 0.5) -> pd.DataFrame:
    """Percentile intervals, reappearance and share intervals per segment and term.

    Parameters
    ----------
    replicates_df : DataFrame
        Output of :func:`bootstrap_replicates` (all chunks concatenated).
    reference_params : DataFrame
        Full-sample estimates with columns ``segment, term, estimate`` and
        optionally ``share`` (``MixtureInference.params`` layout).
    alpha : float, default 0.05
        Intervals are the ``alpha/2`` and ``1 - alpha/2`` percentiles.
    reappear_threshold : float, default 0.5
        A segment *reappears* in a replicate when it was matched (not lost)
        and the soft Jaccard overlap of its bootstrap posteriors with its
        full-sample posteriors on the original respondents is at least this
        value (the Jaccard criterion of Hennig 2007, ``clusterboot``, made
        soft for posterior probabilities).

    Returns
    -------
    DataFrame
        One row per segment and term: ``segment, term, estimate`` (full
        sample), ``boot_mean, boot_se`` (SD of the replicate estimates),
        ``ci_low, ci_high`` (percentile interval), ``n_replicates`` (replicates
        where the segment was matched), ``n_lost``, ``reappearance`` (share of
        all replicates in which the segment reappeared), ``share`` (full
        sample), ``share_boot_mean, share_ci_low, share_ci_high`` (percentile
        interval of the matched segment's share; segment-level, repeated on
        every term row) and ``note``.  ``attrs["ari_summary"]`` holds
        :func:`ari_summary` as a dict.
    """
    if replicates_df.empty:
        out = pd.DataFrame(columns=SUMMARY_COLUMNS)
        out.attrs["ari_summary"] = ari_summary(pd.DataFrame({"replicate": [], "ari": []})).iloc[0].to_dict()
        return out
    replicates_df = replicates_df.assign(lost=_as_bool(replicates_df["lost"]))
    n_total = replicates_df["replicate"].nunique()
    ref = reference_params.set_index(["segment", "term"])
    ref_share = (reference_params.groupby("segment")["share"].first()
                 if "share" in reference_params.columns else pd.Series(dtype=float))
    seg_level = replicates_df.drop_duplicates(["replicate", "segment"])
    rows = []
    for (seg, term), g in replicates_df.groupby(["segment", "term"], sort=False):
        key = (seg, term)
        estimate = float(ref.loc[key, "estimate"]) if key in ref.index else np.nan
        rows.append(_summary_row(seg, term, estimate, g, seg_level[seg_level["segment"] == seg], n_total,
                                 float(ref_share.get(seg, np.nan)), alpha, reappear_threshold))
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS).sort_values("segment", kind="stable").reset_index(drop=True)
    if LATENT_REPLICATE_COLUMN in replicates_df.columns:
        out = out.merge(latent_percentiles(replicates_df, alpha), on=["segment", "term"], how="left")
    out.attrs["ari_summary"] = ari_summary(replicates_df).iloc[0].to_dict()
    return out


def latent_percentiles(replicates_df: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Percentile intervals of the corrected coefficients over the replicates that matched the segment and could
    correct it: ``segment, term, latent_boot_ci_low, latent_boot_ci_high, latent_boot_replicates``."""
    kept = replicates_df.loc[~_as_bool(replicates_df["lost"])]
    rows = []
    for (seg, term), g in kept.groupby(["segment", "term"], sort=False):
        vals = g[LATENT_REPLICATE_COLUMN].to_numpy(dtype=float)
        vals = vals[np.isfinite(vals)]
        low, high = np.quantile(vals, [alpha / 2, 1 - alpha / 2]) if vals.size > 1 else (np.nan, np.nan)
        rows.append({"segment": int(seg), "term": term, "latent_boot_ci_low": float(low),
                     "latent_boot_ci_high": float(high), "latent_boot_replicates": int(vals.size)})
    return pd.DataFrame(rows, columns=["segment", "term", "latent_boot_ci_low", "latent_boot_ci_high",
                                       "latent_boot_replicates"])


# ----------------------------------------------------------------------------
# parametric bootstrap likelihood-ratio test
# ----------------------------------------------------------------------------


def _lr_replicate(X, w, names, model_k, model_k1, gen, rng, n_init, family_data=None):
    """One parametric bootstrap replicate of the LR statistic: (statistic or NaN, note)."""
    k = model_k.n_segments_
    if _is_chain(model_k):
        # the simulated outcomes replace the observed ones in the frame (a mediator's too)
        X = X.copy()
        X[[outcome for outcome, _ in model_k.equations_]] = model_k.sample_y(X, rng, family_data=family_data)
        yb = None
    else:
        yb = model_k.sample_y(X, rng, family_data=family_data)
    rs_k, rs_k1 = (int(v) for v in rng.integers(0, 2**32 - 1, size=2))
    fit_k, note_k = _refit(X, yb, w, model_k, k, [gen], n_init, rs_k, names, family_data)
    if fit_k is None:
        return np.nan, f"K fit failed ({note_k})"
    # both refits start from the full-sample solution and from fresh starts of every
    # kind the observed fits had (the split path among them), so neither side of the
    # statistic gets a start the observed one did not
    fit_k1, note_k1 = _refit(X, yb, w, model_k1, k + 1, [model_k1.params_], n_init, rs_k1, names, family_data)
    if fit_k1 is None:
        return np.nan, f"K+1 fit failed ({note_k1})"
    # a K + 1 mixture contains every K mixture: a negative statistic is a local optimum
    return max(0.0, 2.0 * (fit_k1.loglik_ - fit_k.loglik_)), ""


def _lr_notes(model_k, model_k1):
    """What the LR test cannot promise for these two models, in words."""
    notes = []
    if getattr(model_k, "method", "em") == "cem":
        notes.append("method cem does not maximise the mixture likelihood: the LR test is only approximate")
    if int(model_k1.n_segments_) < int(model_k.n_segments_) + 1:
        notes.append(f"the K+1 model kept only {int(model_k1.n_segments_)} segments")
    return notes


def lr_test(X, y, model_k, model_k1, n_replicates: int, seed: int, n_init: int = 3,
            sample_weight=None, family_data=None) -> dict:
    """Parametric bootstrap likelihood-ratio test of K against K + 1 segments.

    Parameters
    ----------
    X, y : array-like
        The data both models were fitted on.
    model_k, model_k1 : ClusterwiseRegression
        Fitted models with K and K + 1 segments.
    n_replicates : int
        Bootstrap samples B (e.g. 49, 99).
    seed : int
        Test seed; use :func:`lr_test_seed` ``(config_seed, K)``.  Replicate
        ``b`` uses ``SeedSequence([seed, b])``.
    n_init : int, default 3
        Fresh starts of each refit (the split path, random lines, k-means).
    sample_weight : array-like, optional
        Survey weights (used in every log-likelihood).
    family_data : dict, optional
        The trials or offset of each respondent (binomial, poisson): the
        replicates are drawn with them, and refitted with them.

    Returns
    -------
    dict
        ``k``, ``statistic`` (observed LR = 2 (l_{K+1} - l_K)), ``p_value`` =
        (1 + #{LR_b >= LR_obs}) / (B_ok + 1) over the B_ok replicates whose
        fits succeeded, ``n_replicates`` (B_ok), ``n_failed``,
        ``p_value_min`` = 1 / (B_ok + 1), the smallest p-value the replicates
        can give (the observed statistic above every replicate's),
        ``replicate_statistics`` (list of float in replicate order, NaN for
        failed replicates; JSON-serialisable like every other value),
        ``loglik_k``, ``loglik_k1``, ``seed`` and ``note``.

    Notes
    -----
    Each replicate simulates y from the fitted K model at the observed X
    (segment drawn with the K shares, normal residual with its sigma), then
    fits K segments (from the generating parameters, i.e. the full-sample K
    solution, plus ``n_init`` fresh starts) and K + 1 segments (from the
    full-sample K + 1 solution plus ``n_init`` fresh starts).  Fresh starts are
    the estimator's start kinds and escape moves, exactly as the observed
    fits got them, so the statistic is computed the same way on both sides.
    A K + 1 mixture contains every K mixture: a replicate statistic below 0
    only reflects a local optimum and is set to 0.  With ``method="cem"``
    the test is only approximate (said in ``note``).  Progress is logged
    about every 10% of the replicates.
    """
    k = int(model_k.n_segments_)
    Xa, ya, w, names = _as_arrays(X, y, sample_weight, model_k)
    gen = model_k.params_
    l_k, l_k1 = float(model_k.loglik_), float(model_k1.loglik_)
    observed = 2.0 * (l_k1 - l_k)
    notes = _lr_notes(model_k, model_k1)
    stats_ = np.full(int(n_replicates), np.nan)
    progress = Progress(int(n_replicates), f"LR test K={k} vs {k + 1}")
    for b in range(int(n_replicates)):
        stats_[b], note = _lr_replicate(Xa, w, names, model_k, model_k1, gen, replicate_rng(seed, b), n_init,
                                        family_data)
        if note:
            notes.append(f"replicate {b}: {note}")
        progress.update(b + 1)
    ok = np.isfinite(stats_)
    n_ok = int(ok.sum())
    p_value = (1 + int(np.sum(stats_[ok] >= observed))) / (n_ok + 1) if n_ok else np.nan
    return {
        "k": int(k),
        "statistic": float(observed),
        "p_value": float(p_value),
        "p_value_min": 1.0 / (n_ok + 1),
        "n_replicates": n_ok,
        "n_failed": int(n_replicates) - n_ok,
        "replicate_statistics": [float(v) for v in stats_],
        "loglik_k": l_k,
        "loglik_k1": l_k1,
        "seed": int(seed),
        "note": "; ".join(notes),
    }
