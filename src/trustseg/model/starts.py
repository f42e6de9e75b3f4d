"""Where EM starts, and the moves that take it out of a local optimum, for every outcome family.

A mixture of regressions has many local optima, and which one EM reaches is
decided by where it starts.  Random partitions (every segment a random third
of the respondents) give K nearly identical lines, from which EM often drifts
into a crossing-lines optimum; the kinds here start from lines that already
differ:

* ``"lines"``: K least-squares lines, each through a handful of random
  respondents, and every respondent assigned to the nearest line (Spaeth's
  exchange starts; DeSarbo and Cron 1988 start from random lines too).
* ``"kmeans"``: a k-means partition of the standardised (predictors,
  outcomes) points, one random k-means++ seeding each; finds segments that
  differ in level.
* ``"split"``: the smallest-to-largest-K path.  From the one-segment fit,
  each step splits the k-segment optimum in every way of
  :func:`split_candidates` (a segment cut along its line, or the worst-fitted
  tenth of respondents as a segment of their own), runs each to its optimum
  and keeps the best, until K segments; the K - 1 optimum is a natural start
  for K, and the worst-fitted few are a small segment random starts miss.
* ``"random"``: a random partition (the classic emEM start).

Every start is a hard partition of the respondents turned into parameters by
fitting each part (:func:`~trustseg.model.em.from_partition`), so all kinds
meet one rule: each segment gets at least as many respondents as it has
parameters.

The escape moves are here too: split-and-merge moves (Ueda et al. 2000;
:func:`escape_moves`) and the merges of a K + 1 solution back to K
(:func:`merge_candidates`).  A move is a partition; the search runs it.
"""

from __future__ import annotations

import numpy as np

from trustseg.model.em import from_partition, posteriors
from trustseg.model.families import take_rows
from trustseg.model.families.base import weighted_lstsq
from trustseg.model.likelihood import posteriors_and_row_loglik

START_KINDS = ("split", "lines", "kmeans", "random")
#: the split path's and the split moves' other cut: this share of the respondents the solution fits worst
WORST_FITTED_SHARE = 0.1


def random_partition(problem, k, rng):
    """Every respondent in a random segment (each segment with at least its parameters' worth)."""
    labels = rng.integers(0, k, size=problem.n)
    need = problem.min_respondents
    order = rng.permutation(problem.n)[: k * need]
    labels[order] = np.repeat(np.arange(k), need)[: len(order)]
    return labels


def random_lines(problem, k, rng):
    """K least-squares lines through a few random respondents each; every respondent joins the nearest.

    A line is the least-squares fit of the outcome (each equation's, for an
    equation system) to the design on ``min_respondents`` random
    respondents; the distance of a respondent to it is the sum over the
    equations of its squared residuals in units of the equation's residual
    SD over everyone (for a normal outcome, the nearest line is the most
    likely one under one spread for all).  A start only needs the
    partition, so no family is fitted here: cheap for every family.
    """
    design, w = problem.design, problem.w
    y = problem.y.reshape(problem.n, -1)
    blocks = getattr(problem.family, "equation_blocks", None) or [np.arange(design.shape[1])]
    positive = np.flatnonzero(w > 0)
    size = min(positive.size, problem.min_respondents)
    scale = np.empty(len(blocks))
    for e, block in enumerate(blocks):
        residual = y[:, e] - design[:, block] @ weighted_lstsq(design[:, block], y[:, e], w)
        scale[e] = max(float(np.sqrt(w @ residual**2 / w.sum())), 1e-12)
    distance = np.zeros((problem.n, k))
    for j in range(k):
        rows = rng.choice(positive, size=size, replace=False)
        for e, block in enumerate(blocks):
            line = np.linalg.lstsq(design[rows][:, block], y[rows, e], rcond=None)[0]
            distance[:, j] += ((y[:, e] - design[:, block] @ line) / scale[e]) ** 2
    return distance.argmin(axis=1)


def _points(problem):
    """The (predictors, outcomes) points of the respondents, standardised; constant columns left out."""
    points = np.column_stack([problem.design, problem.y.reshape(problem.n, -1)])
    spread = points.std(axis=0)
    points = points[:, spread > 1e-12]
    return (points - points.mean(axis=0)) / points.std(axis=0)


def kmeans_partition(problem, k, rng, n_lloyd=25):
    """A k-means partition of the standardised (predictors, outcomes) points."""
    return weighted_kmeans_labels(_points(problem), problem.w, k, rng, n_lloyd)


def weighted_kmeans_labels(points, w, k, rng, n_lloyd=25):
    """Segment labels (0..k-1) of a weighted k-means of ``points`` (n, d), already scaled.

    k-means++ seeding (Arthur and Vassilvitskii 2007), then at most
    ``n_lloyd`` weighted Lloyd iterations; a centre that loses all its points
    stays where it was.  Written out because a start needs one cheap run,
    not scikit-learn's threaded machinery (whose start-up costs more).
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


RANDOM_STARTS = {"lines": random_lines, "kmeans": kmeans_partition, "random": random_partition}


# ----------------------------------------------------------------------------
# splits: the split path, split-and-merge and top-down moves
# ----------------------------------------------------------------------------


def _residuals(problem, params):
    """Every segment's residual directions at its own fit, (n, K, d)."""
    family = problem.family
    eta = family.linear_predictors(problem.design, params.beta)
    return np.stack([family.residual_directions(problem.y, eta[:, j], params.extra[j], problem.data)
                     for j in range(len(params.weights))], axis=1)


def split_candidates(problem, state):
    """From a k-segment state, the partitions with k + 1 segments that split it.

    Each segment cut along each of its residual directions (its members
    above the line become the new segment), then the worst-fitted tenth of
    the respondents as a segment of their own (the others keep their most
    likely segment).  A part with fewer respondents than a segment's
    parameters is no candidate.
    """
    params, k, need = state.params, state.k, problem.min_respondents
    joint = problem.log_joint(params)
    labels = joint.argmax(axis=1)
    residuals = _residuals(problem, params)
    out = []
    for j in range(k):
        for d in range(residuals.shape[2]):
            above = (labels == j) & (residuals[:, j, d] > 0)
            if (labels == j).sum() - above.sum() < need or above.sum() < need:
                continue
            new = labels.copy()
            new[above] = k
            out.append(new)
    fit_i = posteriors_and_row_loglik(joint)[1]
    order = np.argsort(fit_i, kind="stable")
    worst = order[np.cumsum(problem.w[order]) <= WORST_FITTED_SHARE * problem.w.sum()]
    if worst.size >= need:
        new = labels.copy()
        new[worst] = k
        if np.bincount(new, minlength=k + 1).min() >= need:
            out.append(new)
    return out


def split_path(problem, k, converge, start=0, stage="full"):
    """The converged states at 1, 2, ..., k segments of the smallest-to-largest-K path (the last is the start).

    ``converge(state, target)`` runs a state to its optimum.  Every split of
    a step is run (pruned once it cannot beat the best split so far) and the
    best one with k + 1 segments is kept.
    """
    state = converge(from_partition(problem, np.zeros(problem.n, dtype=int), 1, start, stage), None)
    path = [state]
    while state.k < k:
        best = None
        for labels in split_candidates(problem, state):
            grown = converge(from_partition(problem, labels, state.k + 1, start, stage),
                             None if best is None else best.loglik)
            if grown.k == state.k + 1 and grown.converged and (best is None or grown.loglik > best.loglik):
                best = grown
        if best is None:
            break  # every split lost a segment again: the path ends here
        state = best
        path.append(state)
    return path


def _overlaps(problem, params):
    """Hard labels and the segment pairs ordered by how much their posteriors overlap, most first."""
    resp = posteriors(problem, params)
    weighted = resp * np.sqrt(problem.w)[:, None]
    norms = np.sqrt((weighted**2).sum(axis=0))
    k = len(params.weights)
    pairs = sorted(
        ((float(weighted[:, i] @ weighted[:, j] / max(norms[i] * norms[j], 1e-300)), i, j)
         for i in range(k) for j in range(i + 1, k)),
        reverse=True,
    )
    return resp, [(i, j) for _, i, j in pairs]


def _split_by_line(problem, labels, s, new_label, direction):
    """Respondents of segment ``s`` above its own fit (along residual ``direction``) move to ``new_label``."""
    family = problem.family
    members = np.flatnonzero(labels == s)
    beta, extra = family.m_step(problem.design[members], problem.y[members], problem.w[members, None], None,
                                take_rows(problem.data, members), None, problem.bounds)
    eta = family.linear_predictor(problem.design[members], beta[0])
    residual = family.residual_directions(problem.y[members], eta, extra[0], take_rows(problem.data, members))
    out = labels.copy()
    out[members[residual[:, direction] > 0]] = new_label
    return out


def escape_moves(problem, state, max_moves):
    """Split-and-merge moves from a converged state (Ueda et al. 2000), most promising first.

    A move merges the two segments whose posteriors overlap most and splits
    one segment (possibly the merged one) above and below its line, keeping
    K; the widest segments (share times residual spread) are split first.
    Returns hard partitions (label arrays with K labels).
    """
    k = state.k
    if k < 2:
        return []
    resp, pairs = _overlaps(problem, state.params)
    labels = resp.argmax(axis=1)
    residuals = _residuals(problem, state.params)
    mass = problem.w @ resp
    spread = np.sqrt((problem.w @ (resp * residuals[:, :, 0] ** 2)) / np.maximum(mass, 1e-300))
    width = state.params.weights * spread
    need = problem.min_respondents
    moves = []
    for i, j in pairs:
        merged = np.where(labels == j, i, labels)
        merged = np.where(merged > j, merged - 1, merged)  # labels 0..k-2
        widths = {s: (width[i] + width[j] if s == i else width[s + (s >= j)]) for s in range(k - 1)}
        for s in sorted(widths, key=lambda s: -widths[s]):
            if (merged == s).sum() < 2 * need:
                continue
            for direction in range(residuals.shape[2]):
                moves.append(_split_by_line(problem, merged, s, k - 1, direction))
                if len(moves) == max_moves:
                    return moves
    return moves


def repair_moves(problem, state, spurious, max_moves):
    """Partitions that dissolve the ``spurious`` segments of a state and split the others to keep K.

    The members of each spurious segment go to their most likely other
    (admissible) segment; then each admissible segment is cut along its
    residuals (as a split move does) into the segments freed.  Returns hard
    partitions (label arrays with K labels), the widest segments cut first.
    """
    k = state.k
    keep = np.array([j not in spurious for j in range(k)])
    if not keep.any() or not spurious:
        return []
    resp = posteriors(problem, state.params)
    labels = np.flatnonzero(keep)[resp[:, keep].argmax(axis=1)]
    order = {old: new for new, old in enumerate(np.flatnonzero(keep))}
    labels = np.array([order[label] for label in labels])
    kept = int(keep.sum())
    width = (problem.w @ resp)[keep]
    moves = []
    for s in np.argsort(-width, kind="stable"):
        if (labels == s).sum() < 2 * problem.min_respondents:
            continue
        for direction in range(problem.y.reshape(problem.n, -1).shape[1]):
            cut = np.unique(_split_by_line(problem, labels, s, kept, direction), return_inverse=True)[1]
            # each further freed segment takes the worst-fitted tenth of the others, as the split path does
            while cut.max() + 1 < k:
                grown = np.unique(_worst_fitted_segment(problem, cut, cut.max() + 1), return_inverse=True)[1]
                # no new segment (an empty worst tenth, or one that swallowed a whole segment): no move here
                if grown.max() <= cut.max() or np.bincount(grown).min() < problem.min_respondents:
                    break
                cut = grown
            if cut.max() + 1 == k and np.bincount(cut).min() >= problem.min_respondents:
                moves.append(cut)
            if len(moves) == max_moves:
                return moves
    return moves


def _worst_fitted_segment(problem, labels, new_label):
    """``labels`` with the respondents its segments' fits explain worst (a tenth) as segment ``new_label``."""
    state = from_partition(problem, labels, new_label)
    fit_i = posteriors_and_row_loglik(problem.log_joint(state.params))[1]
    order = np.argsort(fit_i, kind="stable")
    worst = order[np.cumsum(problem.w[order]) <= WORST_FITTED_SHARE * problem.w.sum()]
    out = labels.copy()
    out[worst] = new_label
    return out


def merge_candidates(problem, state, max_moves):
    """From a state with k + 1 segments, partitions that merge one pair (most overlapping first) into one."""
    resp, pairs = _overlaps(problem, state.params)
    labels = resp.argmax(axis=1)
    out = []
    for i, j in pairs[:max_moves]:
        merged = np.where(labels == j, i, labels)
        out.append(np.where(merged > j, merged - 1, merged))
    return out
