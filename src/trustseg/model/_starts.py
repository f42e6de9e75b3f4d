"""Where EM starts: the start kinds of the estimator.

A mixture of regressions has many local optima, and which one EM reaches is
decided by where it starts.  Random partitions (every segment a random third
of the respondents) give K nearly identical lines, from which EM often drifts
into a crossing-lines optimum; the kinds here start from lines that already
differ:

* ``"lines"``: K regression lines, each through ``p + 2`` randomly drawn
  respondents, and every respondent assigned to the nearest line (Spaeth's
  exchange starts; DeSarbo and Cron 1988 start from random lines too).
* ``"kmeans"``: a k-means partition of the standardised (predictors, outcome)
  points, one random k-means++ seeding each; finds segments that differ in
  level.
* ``"split"``: the smallest-to-largest-K path.  From the one-segment regression,
  each step splits one segment of the k-segment optimum in two (its respondents
  above and below its line), runs EM on every such split and keeps the best,
  until K segments; the K - 1 optimum is a natural start for K.
* ``"random"``: a random partition (the classic emEM start).

Every start is a hard partition turned into parameters by one M-step, so all
kinds meet the same rule: each segment gets at least ``p + 2`` respondents.

The escape moves that take a converged start out of a local optimum are here
too: split-and-merge moves (Ueda et al. 2000; :func:`escape_moves`) and the
merges of a K + 1 solution back to K (:func:`merge_candidates`).
"""

from __future__ import annotations

import numpy as np

from trustseg.model._core import log_joint, m_step
from trustseg.model._em import RunState

START_KINDS = ("lines", "kmeans", "split", "random")


def from_partition(problem, labels, k, settings):
    """Parameters from a hard partition (one M-step); every segment gets ``p + 2`` members.

    A segment with too few members takes the first respondents of segments that
    have members to spare, so every segment's regression exists.
    """
    labels = np.asarray(labels).copy()
    need = problem.p + 2
    counts = np.bincount(labels, minlength=k)
    for j in np.flatnonzero(counts < need):
        donors = np.flatnonzero(np.bincount(labels, minlength=k)[labels] > need)
        take = donors[: need - counts[j]] if donors.size else np.arange(need)
        labels[take] = j
    resp_w = np.zeros((problem.n, k))
    resp_w[np.arange(problem.n), labels] = problem.w
    if (resp_w.sum(axis=0) <= 0).any():
        resp_w += 1e-12
    shares, coefs, variances, residuals = m_step(problem, resp_w, settings["method"] == "cem", settings["var_floor"])
    return RunState(shares, coefs, variances, residuals, np.arange(k))


def random_partition(problem, k, rng, settings):
    """Every respondent in a random segment."""
    labels = rng.integers(0, k, size=problem.n)
    need = problem.p + 2
    order = rng.permutation(problem.n)[: k * need]
    labels[order] = np.repeat(np.arange(k), need)
    return from_partition(problem, labels, k, settings)


def random_lines(problem, k, rng, settings):
    """K lines through ``p + 2`` random respondents each; every respondent joins its nearest line."""
    m = problem.p + 2
    positive = np.flatnonzero(problem.w > 0)
    coefs = np.empty((k, problem.p + 1))
    for j in range(k):
        rows = rng.choice(positive, size=min(m, positive.size), replace=False)
        coefs[j] = np.linalg.lstsq(problem.design[rows], problem.y[rows], rcond=None)[0]
    distance = np.abs(problem.y[:, None] - problem.design @ coefs.T)
    return from_partition(problem, distance.argmin(axis=1), k, settings)


def kmeans_partition(problem, k, rng, settings, n_lloyd=25):
    """A k-means partition of the standardised (predictors, outcome) points.

    k-means++ seeding (Arthur and Vassilvitskii 2007) and weighted Lloyd
    iterations, written out because a start needs one cheap run, not
    scikit-learn's threaded machinery (whose start-up costs more than the run).
    """
    points = np.column_stack([problem.design[:, 1:], problem.y])
    points = points / np.maximum(points.std(axis=0), 1e-12)
    return from_partition(problem, weighted_kmeans_labels(points, problem.w, k, rng, n_lloyd), k, settings)


def weighted_kmeans_labels(points, w, k, rng, n_lloyd=25):
    """Segment labels (0..k-1) of a weighted k-means of ``points`` (n, d), already scaled.

    k-means++ seeding, then at most ``n_lloyd`` weighted Lloyd iterations; a
    centre that loses all its points stays where it was.
    """
    n = len(points)
    centres = np.empty((k, points.shape[1]))
    centres[0] = points[rng.choice(n, p=w / w.sum())]
    nearest = ((points - centres[0]) ** 2).sum(axis=1)
    for j in range(1, k):
        mass = w * nearest
        pick = rng.choice(n, p=mass / mass.sum()) if mass.sum() > 0 else rng.integers(n)
        centres[j] = points[pick]
        nearest = np.minimum(nearest, ((points - centres[j]) ** 2).sum(axis=1))
    labels = None
    for _ in range(n_lloyd):
        distance = (points**2).sum(axis=1)[:, None] - 2 * points @ centres.T + (centres**2).sum(axis=1)[None, :]
        new = distance.argmin(axis=1)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        mass = np.bincount(labels, weights=w, minlength=k)
        for d in range(points.shape[1]):
            sums = np.bincount(labels, weights=w * points[:, d], minlength=k)
            centres[:, d] = np.where(mass > 0, sums / np.maximum(mass, 1e-300), centres[:, d])
    return labels


def split_candidates(problem, state, settings):
    """From a k-segment state, the k ways to split one segment in two (above / below its line)."""
    k = len(state.shares)
    labels = log_joint(state.residuals, state.shares, state.variances).argmax(axis=1)
    out = []
    for j in range(k):
        new = labels.copy()
        above = (labels == j) & (state.residuals[:, j] > 0)
        new[above] = k
        if (new == j).sum() < problem.p + 2 or above.sum() < problem.p + 2:
            continue
        out.append(from_partition(problem, new, k + 1, settings))
    return out


def split_path(problem, k, settings, converge):
    """The K-segment end of the smallest-to-largest-K path (see the module docstring).

    ``converge(state)`` runs a state to its optimum and returns it.  Returns
    the converged states at 1, 2, ..., k segments (the last is the start).
    """
    state = converge(from_partition(problem, np.zeros(problem.n, dtype=int), 1, settings))
    path = [state]
    while len(state.shares) < k:
        candidates = [converge(c) for c in split_candidates(problem, state, settings)]
        grown = [c for c in candidates if len(c.shares) == len(state.shares) + 1]
        if not grown:
            # every split lost a segment again: end here, keeping the removal records
            if candidates:
                path.append(max(candidates, key=lambda c: c.loglik))
            break
        state = max(grown, key=lambda c: c.loglik)
        path.append(state)
    return path


def _split_by_line(problem, labels, s, new_label):
    """Respondents of segment ``s`` above its least-squares line move to ``new_label``."""
    members = np.flatnonzero(labels == s)
    sqrt_w = np.sqrt(problem.w[members])
    line = np.linalg.lstsq(problem.design[members] * sqrt_w[:, None], problem.y[members] * sqrt_w, rcond=None)[0]
    above = members[problem.y[members] - problem.design[members] @ line > 0]
    out = labels.copy()
    out[above] = new_label
    return out


def escape_moves(problem, state, max_moves):
    """Split-and-merge moves from a converged state (Ueda et al. 2000), most promising first.

    A move merges the two segments whose posteriors overlap most and splits
    one segment (possibly the merged one) above and below its line, keeping K.
    Returns hard partitions (label arrays with K labels).
    """
    k = len(state.shares)
    if k < 2:
        return []
    labels, pairs = _overlaps(problem, state)
    # split the widest segments first: share times residual SD
    width = state.shares * np.sqrt(state.variances)
    moves = []
    for i, j in pairs:
        merged = np.where(labels == j, i, labels)
        merged = np.where(merged > j, merged - 1, merged)  # labels 0..k-2
        widths = {s: (width[i] + width[j] if s == i else width[s + (s >= j)]) for s in range(k - 1)}
        for s in sorted(widths, key=lambda s: -widths[s]):
            members = merged == s
            if members.sum() < 2 * (problem.p + 2):
                continue
            moves.append(_split_by_line(problem, merged, s, k - 1))
            if len(moves) == max_moves:
                return moves
    return moves


def _overlaps(problem, state):
    """Hard labels and the segment pairs ordered by how much their posteriors overlap, most first."""
    joint = log_joint(state.residuals, state.shares, state.variances)
    resp = np.exp(joint - joint.max(axis=1, keepdims=True))
    resp /= resp.sum(axis=1, keepdims=True)
    weighted = resp * np.sqrt(problem.w)[:, None]
    norms = np.sqrt((weighted**2).sum(axis=0))
    k = len(state.shares)
    pairs = sorted(
        ((float(weighted[:, i] @ weighted[:, j] / max(norms[i] * norms[j], 1e-300)), i, j)
         for i in range(k) for j in range(i + 1, k)),
        reverse=True,
    )
    return joint.argmax(axis=1), [(i, j) for _, i, j in pairs]


def merge_candidates(problem, state, max_moves):
    """From a state with k + 1 segments, partitions that merge one pair (most overlapping first) into one."""
    labels, pairs = _overlaps(problem, state)
    out = []
    for i, j in pairs[:max_moves]:
        merged = np.where(labels == j, i, labels)
        out.append(np.where(merged > j, merged - 1, merged))
    return out
