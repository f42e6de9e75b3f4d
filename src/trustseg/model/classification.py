"""How well the fitted segments classify respondents.

A clusterwise regression assigns every respondent a posterior probability of
belonging to each segment.  When those posteriors are close to 0 or 1 the
segments are well separated and a respondent's modal (most likely) segment is
a good guess of the true one; when they are spread out, profiling respondents
by their modal segment mixes the segments up.  This module summarises that
uncertainty with the measures reported by Latent GOLD and Mplus:

* **entropy R²** (relative entropy): ``1 - sum_i w_i sum_k -p_ik log p_ik /
  (sum_i w_i log K)``; 1 means perfect separation, 0 means the posteriors
  equal 1/K for everyone.  Defined as 1 for K = 1.
* **classification error rate**: ``1 - weighted mean of max_k p_ik``, the
  expected share of respondents whose modal segment is not their true one.
* **average posterior probability** (Mplus "average latent class
  probabilities for most likely latent class membership"): for the modal
  members of segment s, the mean posterior of every segment t.  The diagonal
  should be high (> 0.8 is a common rule of thumb).
* **classification-error table** (Latent GOLD): rows are the modal
  assignment, columns the expected true segment; cell (s, t) is the
  (weighted) sum of the posteriors p_it over the modal members of s.  Its
  row sums are the modal counts, its column sums the expected segment sizes,
  and its off-diagonal total divided by the grand total is the
  classification error rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trustseg.model.likelihood import relative_entropy

__all__ = ["classification_quality", "check_posteriors"]


def check_posteriors(posteriors, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Validate a posterior matrix and (optional) respondent weights.

    Parameters
    ----------
    posteriors : array-like of shape (n, K)
        Posterior probabilities, rows summing to 1.
    weights : array-like of shape (n,), optional
        Non-negative respondent weights; ``None`` gives every respondent 1.

    Returns
    -------
    (posteriors, weights) : tuple of ndarray
        Float arrays; posteriors of shape (n, K), weights of shape (n,).

    Raises
    ------
    ValueError
        If the posteriors are not a finite (n, K) matrix of probabilities
        whose rows sum to 1, or the weights do not match.
    """
    p = np.asarray(posteriors, dtype=float)
    if p.ndim == 1:
        p = p[:, None]
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"posteriors must be an (n, K) matrix with n, K >= 1; got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("posteriors contain missing or infinite values")
    if np.any(p < -1e-9) or np.any(p > 1 + 1e-9):
        raise ValueError("posteriors must lie in [0, 1]")
    rows = p.sum(axis=1)
    if np.any(np.abs(rows - 1) > 1e-6):
        bad = int(np.argmax(np.abs(rows - 1)))
        raise ValueError(f"posterior rows must sum to 1; row {bad} sums to {rows[bad]:.6g}")
    p = np.clip(p, 0.0, 1.0)
    if weights is None:
        w = np.ones(p.shape[0])
    else:
        w = np.asarray(weights, dtype=float).ravel()
        if w.shape[0] != p.shape[0]:
            raise ValueError(f"weights have {w.shape[0]} values for {p.shape[0]} respondents")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("weights must be finite, non-negative and not all zero")
    return p, w


def _tidy(summary, segments, avg, error, notes) -> pd.DataFrame:
    """All the classification tables in the long form of ``classification.csv``."""
    k = len(segments)
    tidy_rows: list[dict] = []
    for _, r in summary.iterrows():
        tidy_rows.append({"table": "summary", "modal_segment": pd.NA, "segment": pd.NA,
                          "measure": r["measure"], "value": r["value"], "note": ""})
    for _, r in segments.iterrows():
        for m in ("n_modal", "share_modal", "expected_size", "share_expected", "avg_posterior"):
            tidy_rows.append({"table": "segments", "modal_segment": pd.NA, "segment": int(r["segment"]),
                              "measure": m, "value": float(r[m]), "note": r["note"]})
    for name, mat in (("average_posterior", avg), ("error_table", error)):
        for s in range(k):
            for t in range(k):
                tidy_rows.append({"table": name, "modal_segment": s + 1, "segment": t + 1,
                                  "measure": name, "value": float(mat[s, t]), "note": notes[s]})
    tidy = pd.DataFrame(tidy_rows)
    tidy["modal_segment"] = tidy["modal_segment"].astype("Int64")
    tidy["segment"] = tidy["segment"].astype("Int64")
    tidy["value"] = tidy["value"].astype(float)
    return tidy


def _error_table(p, w, modal) -> np.ndarray:
    """Cell (s, t): the weighted sum of the posteriors p_it over the modal members of s."""
    k = p.shape[1]
    error = np.zeros((k, k))
    for s in range(k):
        members = modal == s
        error[s] = (w[members, None] * p[members]).sum(axis=0)
    return error


def _frames(labels, avg, error):
    """The average-posterior and error tables as labelled frames."""
    cols = [f"segment_{t}" for t in labels]
    average_posterior = pd.DataFrame(avg, columns=cols)
    average_posterior.insert(0, "modal_segment", labels)
    error_table = pd.DataFrame(error, columns=cols)
    error_table.insert(0, "modal_segment", labels)
    return average_posterior, error_table


def classification_quality(posteriors, weights=None) -> dict[str, pd.DataFrame]:
    """Entropy R², average posteriors and the classification-error table.

    Parameters
    ----------
    posteriors : array-like of shape (n, K)
        Posterior segment probabilities, columns in segment order 1..K (as
        returned by ``ClusterwiseRegression.predict_proba``).
    weights : array-like of shape (n,), optional
        Survey weights.  Every measure is then weighted; ``n`` stays the
        unweighted number of respondents and ``n_modal`` the unweighted count.

    Returns
    -------
    dict of str to DataFrame
        ``"summary"``
            Columns ``measure, value`` with rows ``n``, ``k``,
            ``entropy_r2``, ``classification_error``, ``mean_max_posterior``,
            ``min_avg_posterior`` (smallest diagonal of the average-posterior
            table over segments with modal members).
        ``"segments"``
            One row per segment: ``segment, n_modal, share_modal,
            expected_size, share_expected, avg_posterior, note``
            (``avg_posterior`` is the mean posterior of the segment among
            its own modal members; a segment with no modal members has
            ``n_modal = 0``, NaN ``avg_posterior`` and a note).
        ``"average_posterior"``
            K x K: column ``modal_segment`` then ``segment_1..segment_K``;
            row s holds the mean posteriors of segment s's modal members.
        ``"error_table"``
            K x K: column ``modal_segment`` then ``segment_1..segment_K``;
            cell (s, t) is the weighted sum of p_it over the modal members
            of s (expected number truly in t).
        ``"tidy"``
            All of the above in long form for ``results/<analysis>/
            classification.csv``: ``table, modal_segment, segment, measure,
            value, note`` where ``table`` is ``summary``, ``segments``,
            ``average_posterior`` or ``error_table`` and the segment columns
            are nullable integers (missing where they do not apply).

    Notes
    -----
    Ties in the modal assignment go to the lower segment number (the
    steeper slope), as ``numpy.argmax`` does.
    """
    p, w = check_posteriors(posteriors, weights)
    n, k = p.shape
    modal = np.argmax(p, axis=1)
    labels = np.arange(1, k + 1)
    error = _error_table(p, w, modal)
    row_w = error.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(row_w[:, None] > 0, error / row_w[:, None], np.nan)
    n_modal = np.bincount(modal, minlength=k)
    expected = (w[:, None] * p).sum(axis=0)
    total_w = w.sum()
    mean_max = float((w * p.max(axis=1)).sum() / total_w)
    entropy_r2 = relative_entropy(p, w)
    diag = np.diag(avg)
    min_avg = float(np.nanmin(diag)) if np.any(np.isfinite(diag)) else float("nan")

    summary = pd.DataFrame({
        "measure": ["n", "k", "entropy_r2", "classification_error", "mean_max_posterior", "min_avg_posterior"],
        "value": [float(n), float(k), entropy_r2, 1.0 - mean_max, mean_max, min_avg],
    })
    notes = ["" if n_modal[s] > 0 else "no respondent has this modal segment" for s in range(k)]
    segments = pd.DataFrame({
        "segment": labels, "n_modal": n_modal.astype(int), "share_modal": row_w / total_w,
        "expected_size": expected, "share_expected": expected / total_w, "avg_posterior": diag, "note": notes,
    })
    average_posterior, error_table = _frames(labels, avg, error)
    tidy = _tidy(summary, segments, avg, error, notes)
    return {
        "summary": summary,
        "segments": segments,
        "average_posterior": average_posterior,
        "error_table": error_table,
        "tidy": tidy,
    }
