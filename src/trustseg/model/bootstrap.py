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

Warm starts.  The engine (:class:`trustseg.model.mixture.ClusterwiseRegression`)
fits from random partitions only.  A refit that must also start from given
parameters (the full-sample solution, the generating model, a split segment)
runs this module's own EM from those parameters (:func:`em_from_params`) with
the engine's settings (``method``, ``max_iter``, ``tol``, ``min_share``,
``variance_floor``) and keeps whichever solution — engine or warm start — has
more segments and then the higher log-likelihood, the engine's own rule.
"""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from trustseg.errors import TrustsegError
from trustseg.progress import Progress

__all__ = [
    "bootstrap_replicates",
    "summarise_bootstrap",
    "ari_summary",
    "lr_test",
    "lr_test_seed",
    "replicate_rng",
    "em_from_params",
    "params_of",
    "REPLICATE_COLUMNS",
    "SUMMARY_COLUMNS",
]

logger = logging.getLogger("trustseg")

INTERCEPT = "(Intercept)"
_LOG_2PI = float(np.log(2 * np.pi))
_LR_TAG = 0x4C52  # "LR": keeps the LR-test streams apart from the bootstrap's

REPLICATE_COLUMNS = [
    "replicate", "segment", "term", "estimate", "share", "sigma", "loglik", "ari",
    "matched_cost", "jaccard", "lost", "n_segments", "converged", "note",
]
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
# parameters, posteriors, warm-start EM
# ----------------------------------------------------------------------------


def params_of(model) -> dict:
    """The mixture parameters of a fitted model as a dict of arrays.

    Keys ``intercept`` (K,), ``coef`` (K, p), ``sigma`` (K,), ``weights`` (K,).
    """
    return {
        "intercept": np.asarray(model.intercept_, dtype=float).copy(),
        "coef": np.asarray(model.coef_, dtype=float).reshape(len(model.intercept_), -1).copy(),
        "sigma": np.asarray(model.sigma_, dtype=float).copy(),
        "weights": np.asarray(model.weights_, dtype=float).copy(),
    }


def _log_joint(X: np.ndarray, y: np.ndarray, params: dict) -> np.ndarray:
    resid = y[:, None] - (params["intercept"][None, :] + X @ params["coef"].T)
    var = params["sigma"] ** 2
    return np.log(params["weights"]) - 0.5 * (_LOG_2PI + np.log(var)) - 0.5 * resid**2 / var


def _lse_rows(lj: np.ndarray) -> np.ndarray:
    top = lj.max(axis=1)
    return top + np.log(np.exp(lj - top[:, None]).sum(axis=1))


def _posteriors(X, y, params):
    lj = _log_joint(X, y, params)
    return np.exp(lj - _lse_rows(lj)[:, None])


def _loglik(X, y, w, params) -> float:
    return float(w @ _lse_rows(_log_joint(X, y, params)))


def em_from_params(X, y, w, params: dict, *, method: str = "em", max_iter: int = 1000, tol: float = 1e-8,
                   min_share: float = 0.03, variance_floor: float = 1e-3) -> tuple[dict, float, bool]:
    """Run EM (or CEM) from given parameters, with the engine's settings.

    Parameters
    ----------
    X : ndarray (n, p)
    y, w : ndarray (n,)
        Outcome and (non-negative) weights.
    params : dict
        Starting parameters (see :func:`params_of`).
    method, max_iter, tol, min_share, variance_floor
        As in :class:`~trustseg.model.mixture.ClusterwiseRegression`: ``"cem"``
        assigns respondents to their modal segment and uses one common
        variance; variances are kept at or above ``variance_floor`` times the
        weighted variance of y; a segment whose share falls below
        ``min_share`` or that has fewer than p + 2 effective respondents is
        removed and EM continues with the others.

    Returns
    -------
    (params, loglik, converged)
        Parameters (segments possibly fewer than at the start, in no
        particular order), the weighted mixture log-likelihood and whether
        the tolerance was reached.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.asarray(w, dtype=float)
    n, p = X.shape
    tot = w.sum()
    mx = w @ X / tot
    my = float(w @ y / tot)
    floor = variance_floor * float(w @ (y - my) ** 2 / tot)
    design = np.column_stack([np.ones(n), X - mx])
    yc = y - my
    cur = {k: np.array(v, dtype=float, copy=True) for k, v in params.items()}
    cur["sigma"] = np.sqrt(np.maximum(cur["sigma"] ** 2, floor))
    cur["weights"] = np.clip(cur["weights"], 1e-300, None)
    cur["weights"] = cur["weights"] / cur["weights"].sum()
    hard = method == "cem"
    previous = -np.inf
    prev_assign = None
    converged = False
    for _ in range(max_iter):
        lj = _log_joint(X, y, cur)
        ll_i = _lse_rows(lj)
        obj = float(w @ ll_i)
        resp = np.exp(lj - ll_i[:, None])
        if hard:
            assign = resp.argmax(axis=1)
            if prev_assign is not None and np.array_equal(assign, prev_assign):
                converged = True
                break
            prev_assign = assign
            resp = np.eye(resp.shape[1])[assign]
        elif abs(obj - previous) <= tol * abs(obj):
            converged = True
            break
        previous = obj
        rw = resp * w[:, None]
        mass = rw.sum(axis=0)
        counts = resp.sum(axis=0)
        share = mass / mass.sum()
        bad = (share < min_share) | (counts < p + 2)
        if bad.all():
            break
        if bad.any():
            rw, resp, mass = rw[:, ~bad], resp[:, ~bad], mass[~bad]
            previous, prev_assign = -np.inf, None
        kk = rw.shape[1]
        coefs = np.empty((kk, p + 1))
        rss = np.empty(kk)
        for j in range(kk):
            g = design * rw[:, j : j + 1]
            gram = design.T @ g
            rhs = g.T @ yc
            try:
                coefs[j] = np.linalg.solve(gram, rhs)
            except np.linalg.LinAlgError:
                coefs[j] = np.linalg.lstsq(gram, rhs, rcond=None)[0]
            r = yc - design @ coefs[j]
            rss[j] = rw[:, j] @ r**2
        var = np.full(kk, rss.sum() / mass.sum()) if hard else rss / np.maximum(mass, 1e-300)
        var = np.maximum(var, floor)
        slopes = coefs[:, 1:]
        cur = {
            "intercept": coefs[:, 0] + my - slopes @ mx,
            "coef": slopes,
            "sigma": np.sqrt(var),
            "weights": mass / mass.sum(),
        }
    return cur, _loglik(X, y, w, cur), converged


def _engine_settings(reference) -> dict:
    return {
        "method": getattr(reference, "method", "em"),
        "max_iter": int(getattr(reference, "max_iter", 1000)),
        "tol": float(getattr(reference, "tol", 1e-8)),
        "min_share": float(getattr(reference, "min_share", 0.03)),
        "variance_floor": float(getattr(reference, "variance_floor", 1e-3)),
    }


def _fit(X, y, w, reference, k: int, starts: list[dict], n_init: int, random_state: int, names):
    """Best of an engine fit with ``n_init`` random starts and EM from ``starts``.

    Returns (params, loglik, converged, note).  ``params`` is None when every
    attempt failed.
    """
    from trustseg.model.mixture import ClusterwiseRegression

    settings = _engine_settings(reference)
    candidates = []
    notes = []
    if n_init > 0:
        hyper = reference.get_params() if hasattr(reference, "get_params") else {}
        hyper.update(n_segments=int(k), n_init=int(n_init), random_state=int(random_state))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = ClusterwiseRegression(**hyper).fit(pd.DataFrame(X, columns=names), y, sample_weight=w)
            candidates.append((params_of(m), float(m.loglik_), bool(m.converged_)))
        except (TrustsegError, ValueError, np.linalg.LinAlgError) as exc:
            notes.append(f"random starts failed: {exc}")
    for start in starts:
        try:
            with np.errstate(all="ignore"):
                par, ll, conv = em_from_params(X, y, w, start, **settings)
            if np.isfinite(ll):
                candidates.append((par, ll, conv))
        except (ValueError, np.linalg.LinAlgError) as exc:  # pragma: no cover - defensive
            notes.append(f"warm start failed: {exc}")
    if not candidates:
        return None, np.nan, False, "; ".join(notes) or "no start succeeded"
    best = max(candidates, key=lambda c: (len(c[0]["intercept"]), c[1]))
    return best[0], best[1], best[2], "; ".join(notes)


# ----------------------------------------------------------------------------
# matching bootstrap segments to the full-sample segments
# ----------------------------------------------------------------------------


def _standardised(params: dict, mean_x, sd_x, sd_y) -> np.ndarray:
    """Segment parameters on a common scale: level at mean x, slopes and sigma, in SDs of y."""
    level = (params["intercept"] + params["coef"] @ mean_x) / sd_y
    slopes = params["coef"] * sd_x[None, :] / sd_y
    return np.column_stack([level, slopes, params["sigma"] / sd_y])


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


def bootstrap_replicates(X, y, reference, replicates, seed: int, n_init: int = 3, sample_weight=None, *,
                         match: str = "params") -> pd.DataFrame:
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
        Random-partition starts of each refit; the full-sample solution is
        always one more start (EM from the full-sample parameters).
    sample_weight : array-like (n,), optional
        Survey weights; a respondent drawn twice counts twice with its weight.
    match : {"params", "posteriors"}, default "params"
        How bootstrap segments are matched to full-sample segments by the
        Hungarian algorithm.  ``"params"``: squared Euclidean distance between
        standardised parameters (level at the mean predictors and sigma in SDs
        of y, slopes times SD(x)/SD(y)).  ``"posteriors"``: 1 minus the soft
        Jaccard overlap of the posteriors (below).

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
    n = len(ya)
    ref = params_of(reference)
    k = len(ref["intercept"])
    tot = w.sum()
    mean_x = w @ Xa / tot
    sd_x = np.sqrt(w @ (Xa - mean_x) ** 2 / tot)
    sd_x = np.where(sd_x > 0, sd_x, 1.0)
    sd_y = float(np.sqrt(w @ (ya - w @ ya / tot) ** 2 / tot)) or 1.0
    ref_std = _standardised(ref, mean_x, sd_x, sd_y)
    ref_post = _posteriors(Xa, ya, ref)
    ref_modal = ref_post.argmax(axis=1)
    terms = [INTERCEPT] + names
    replicates = [int(b) for b in replicates]
    progress = Progress(len(replicates), f"bootstrap (K={k})")
    rows = []
    for done, b in enumerate(replicates, start=1):
        rng = replicate_rng(seed, b)
        idx = rng.integers(0, n, size=n)
        random_state = int(rng.integers(0, 2**32 - 1))
        par, ll, conv, note = _fit(Xa[idx], ya[idx], w[idx], reference, k, [ref], n_init, random_state, names)
        if par is None:
            for j in range(k):
                for t in terms:
                    rows.append((b, j + 1, t, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan,
                                 True, 0, False, note))
            logger.warning("bootstrap replicate %d failed: %s", b, note)
            progress.update(done)
            continue
        boot_post = _posteriors(Xa, ya, par)
        ari = float(adjusted_rand_score(ref_modal, boot_post.argmax(axis=1)))
        jac = _soft_jaccard(ref_post, boot_post, w)
        pairs, cost = _match(ref_std, _standardised(par, mean_x, sd_x, sd_y), jac, match)
        kb = len(par["intercept"])
        for j in range(k):
            if j in pairs:
                m = pairs[j]
                est = np.concatenate([[par["intercept"][m]], par["coef"][m]])
                for t, e in zip(terms, est):
                    rows.append((b, j + 1, t, float(e), float(par["weights"][m]), float(par["sigma"][m]),
                                 ll, ari, float(cost[j, m]), float(jac[j, m]), False, kb, conv, note))
            else:
                for t in terms:
                    rows.append((b, j + 1, t, np.nan, np.nan, np.nan, ll, ari, np.nan, np.nan, True, kb, conv,
                                 note or f"refit kept {kb} of {k} segments"))
        progress.update(done)
    out = pd.DataFrame(rows, columns=REPLICATE_COLUMNS)
    out = out.astype({"replicate": int, "segment": int, "lost": bool, "n_segments": int, "converged": bool})
    out["note"] = out["note"].astype(str)
    return out


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
    lo_q, hi_q = alpha / 2, 1 - alpha / 2
    ref = reference_params.set_index(["segment", "term"])
    ref_share = (reference_params.groupby("segment")["share"].first()
                 if "share" in reference_params.columns else pd.Series(dtype=float))
    seg_level = replicates_df.drop_duplicates(["replicate", "segment"])
    rows = []
    for (seg, term), g in replicates_df.groupby(["segment", "term"], sort=False):
        ok = g[~g["lost"]]
        vals = ok["estimate"].to_numpy(dtype=float)
        vals = vals[np.isfinite(vals)]
        s = seg_level[seg_level["segment"] == seg]
        s_ok = s[~s["lost"]]
        shares = s_ok["share"].to_numpy(dtype=float)
        reappear = float(((~s["lost"]) & (s["jaccard"] >= reappear_threshold)).sum() / n_total)
        notes = []
        n_lost = int(s["lost"].sum())
        if n_lost:
            notes.append(f"lost in {n_lost} of {n_total} replicates")
        if vals.size < 2:
            notes.append("fewer than 2 replicates: no interval")
        elif vals.size < 50:
            notes.append(f"only {vals.size} replicates: percentile interval is rough")
        key = (seg, term)
        rows.append({
            "segment": int(seg),
            "term": term,
            "estimate": float(ref.loc[key, "estimate"]) if key in ref.index else np.nan,
            "boot_mean": float(vals.mean()) if vals.size else np.nan,
            "boot_se": float(vals.std(ddof=1)) if vals.size > 1 else np.nan,
            "ci_low": float(np.quantile(vals, lo_q)) if vals.size > 1 else np.nan,
            "ci_high": float(np.quantile(vals, hi_q)) if vals.size > 1 else np.nan,
            "n_replicates": int(vals.size),
            "n_lost": n_lost,
            "reappearance": reappear,
            "share": float(ref_share.get(seg, np.nan)),
            "share_boot_mean": float(shares.mean()) if shares.size else np.nan,
            "share_ci_low": float(np.quantile(shares, lo_q)) if shares.size > 1 else np.nan,
            "share_ci_high": float(np.quantile(shares, hi_q)) if shares.size > 1 else np.nan,
            "note": "; ".join(notes),
        })
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS).sort_values("segment", kind="stable").reset_index(drop=True)
    out.attrs["ari_summary"] = ari_summary(replicates_df).iloc[0].to_dict()
    return out


# ----------------------------------------------------------------------------
# parametric bootstrap likelihood-ratio test
# ----------------------------------------------------------------------------


def _simulate(X, params, rng):
    k = len(params["intercept"])
    z = rng.choice(k, size=X.shape[0], p=params["weights"] / params["weights"].sum())
    mean = params["intercept"][z] + np.einsum("ij,ij->i", X, params["coef"][z])
    return mean + params["sigma"][z] * rng.standard_normal(X.shape[0])


def _split_start(params: dict) -> dict:
    """K+1 start: the largest segment split in two, intercepts moved by ±sigma/2."""
    j = int(np.argmax(params["weights"]))
    out = {key: np.array(v, copy=True) for key, v in params.items()}
    out["intercept"] = np.append(out["intercept"], out["intercept"][j] - 0.5 * out["sigma"][j])
    out["intercept"][j] += 0.5 * out["sigma"][j]
    out["coef"] = np.vstack([out["coef"], out["coef"][j]])
    out["sigma"] = np.append(out["sigma"], out["sigma"][j])
    out["weights"] = np.append(out["weights"], out["weights"][j] / 2)
    out["weights"][j] /= 2
    return out


def lr_test(X, y, model_k, model_k1, n_replicates: int, seed: int, n_init: int = 3,
            sample_weight=None) -> dict:
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
        Random starts of each refit.
    sample_weight : array-like, optional
        Survey weights (used in every log-likelihood).

    Returns
    -------
    dict
        ``k``, ``statistic`` (observed LR = 2 (l_{K+1} - l_K)), ``p_value`` =
        (1 + #{LR_b >= LR_obs}) / (B_ok + 1) over the B_ok replicates whose
        fits succeeded, ``n_replicates`` (B_ok), ``n_failed``,
        ``replicate_statistics`` (list of float in replicate order, NaN for
        failed replicates; JSON-serialisable like every other value),
        ``loglik_k``, ``loglik_k1``, ``seed`` and ``note``.

    Notes
    -----
    Each replicate simulates y from the fitted K model at the observed X
    (segment drawn with the K shares, normal residual with its sigma), then
    fits K segments (EM from the generating parameters plus ``n_init`` random
    starts) and K + 1 segments (``n_init`` random starts plus EM from the
    K-segment refit with its largest segment split in two).  Because a K + 1
    mixture contains every K mixture, a replicate statistic below 0 only
    reflects a local optimum and is set to 0.  With ``method="cem"`` the
    log-likelihoods are evaluated at CEM solutions, which do not maximise the
    mixture likelihood, so the test is only approximate (said in ``note``).
    Progress is logged about every
    10% of the replicates.
    """
    k = len(model_k.intercept_)
    Xa, ya, w, names = _as_arrays(X, y, sample_weight, model_k)
    gen = params_of(model_k)
    l_k, l_k1 = float(model_k.loglik_), float(model_k1.loglik_)
    observed = 2.0 * (l_k1 - l_k)
    notes = []
    if getattr(model_k, "method", "em") == "cem":
        notes.append("method cem does not maximise the mixture likelihood: the LR test is only approximate")
    if len(model_k1.intercept_) < k + 1:
        notes.append(f"the K+1 model kept only {len(model_k1.intercept_)} segments")
    stats_ = np.full(int(n_replicates), np.nan)
    progress = Progress(int(n_replicates), f"LR test K={k} vs {k + 1}")
    for b in range(int(n_replicates)):
        rng = replicate_rng(seed, b)
        yb = _simulate(Xa, gen, rng)
        rs_k, rs_k1 = (int(v) for v in rng.integers(0, 2**32 - 1, size=2))
        par_k, ll_k, _, note_k = _fit(Xa, yb, w, model_k, k, [gen], n_init, rs_k, names)
        if par_k is None:
            notes.append(f"replicate {b}: K fit failed ({note_k})")
            progress.update(b + 1)
            continue
        par_k1, ll_k1, _, note_k1 = _fit(Xa, yb, w, model_k1, k + 1, [_split_start(par_k)], n_init, rs_k1, names)
        if par_k1 is None:
            notes.append(f"replicate {b}: K+1 fit failed ({note_k1})")
            progress.update(b + 1)
            continue
        stats_[b] = max(0.0, 2.0 * (ll_k1 - ll_k))
        progress.update(b + 1)
    ok = np.isfinite(stats_)
    n_ok = int(ok.sum())
    p_value = (1 + int(np.sum(stats_[ok] >= observed))) / (n_ok + 1) if n_ok else np.nan
    return {
        "k": int(k),
        "statistic": float(observed),
        "p_value": float(p_value),
        "n_replicates": n_ok,
        "n_failed": int(n_replicates) - n_ok,
        "replicate_statistics": [float(v) for v in stats_],
        "loglik_k": l_k,
        "loglik_k1": l_k1,
        "seed": int(seed),
        "note": "; ".join(notes),
    }
