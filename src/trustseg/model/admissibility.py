"""Which solutions are segmentations: the spurious segments a mixture must not be reported with.

Coarse survey answers (a handful of values, many ties, piles at the ends of
the scale) make the likelihood of a mixture unbounded or nearly so: a segment
can collapse onto one answer value, onto a subset of respondents that a
plane fits exactly, or spread itself over both ends of a censored scale, and
the likelihood rewards it.  These are the spurious local maximisers of
McLachlan and Peel (2000, section 3.10), who advise setting them aside in
favour of the largest admissible local maximum; constrained maximum
likelihood (Hathaway 1985; Ingrassia and Rocci 2007; Garcia-Escudero et al.
on trimmed and constrained clusterwise regression) puts the same idea on a
proper footing.  A segment is spurious when one of these holds (one function
per kind, each with its threshold):

``variance_floor`` (:func:`on_variance_floor`)
    A normal segment's residual variance is on the variance floor (within
    ``FLOOR_RTOL``): it fits its members (nearly) exactly, a subset that a
    plane fits or that gave one answer; its likelihood is the floor's, not
    the data's.
``one_answer`` (:func:`one_answer`)
    At least ``ONE_ANSWER_SHARE`` of a rating outcome's segment (by posterior
    weight) gave one and the same answer value: a pile of the answer scale
    (everyone at 1.5, or at the top), not a regression.
``two_ends`` (:func:`two_ends`)
    A censored segment whose model puts at least ``TWO_ENDS_SHARE`` of its
    members' probability at the two ends of the scale, at least
    ``TWO_ENDS_EACH`` at each: a spread so wide that it describes the piles
    at both ends rather than a line between them.
``separation`` (:func:`separated`)
    A binomial, ordinal or poisson segment with a coefficient on the box the
    coefficients are kept in (its answers are perfectly predicted: the
    likelihood has no maximum).  Thresholds of an ordinal segment on the edge
    (an answer nobody in the segment gave) do not count.

The search (:mod:`trustseg.model.search`) returns the highest-likelihood
solution without a spurious segment and records the others it set aside;
:mod:`trustseg.model.diagnostics` reports the same kinds for a fitted model.
"""

from __future__ import annotations

import math

import numpy as np

from trustseg.model.families import on_bounds

#: the kinds of spurious segment, in the order they are reported
KINDS = ("variance_floor", "one_answer", "two_ends", "separation")
#: a residual variance within this relative distance of the floor counts as on it
FLOOR_RTOL = 1e-3
#: the share of a segment's posterior weight at one answer value that makes it a pile, not a regression
ONE_ANSWER_SHARE = 0.9
#: the probability at the two ends of the scale (together, and at each) that makes a censored segment two piles
TWO_ENDS_SHARE, TWO_ENDS_EACH = 0.5, 0.1


def on_variance_floor(part, params, bounds):
    """Which segments' residual variance (of a normal equation) sits on its floor, (K,) bool."""
    if not part.family.normal or bounds is None:
        return np.zeros(len(params.weights), dtype=bool)
    low = bounds.extra_low[part.extra]
    log_sd = np.asarray(params.extra, dtype=float)[:, part.extra]
    if not np.isfinite(low[0]):
        return np.zeros(len(params.weights), dtype=bool)
    return log_sd[:, 0] <= low[0] + 0.5 * math.log1p(FLOOR_RTOL)


def one_answer(part, y, w, resp):
    """Each segment's largest share of posterior weight at one answer value, and that value: (K,), (K,).

    Only a rating outcome can pile up this way (a yes/no or count outcome
    takes few values by nature); for other families the shares are 0.
    """
    k = resp.shape[1]
    if not part.family.rating_outcome:
        return np.zeros(k), np.full(k, np.nan)
    values, codes = np.unique(np.round(y, 9), return_inverse=True)
    mass = np.maximum(w @ resp, 1e-300)
    at = np.stack([np.bincount(codes, weights=w * resp[:, j], minlength=len(values)) for j in range(k)])
    modal = at.argmax(axis=1)
    return at[np.arange(k), modal] / mass, values[modal]


def two_ends(part, design, params, w, resp, data):
    """Each segment's model probability at the lower and the upper end of the scale, (K, 2) (0 without ends)."""
    family, k = part.family, resp.shape[1]
    out = np.zeros((k, 2))
    mass = np.maximum(w @ resp, 1e-300)
    for j in range(k):
        eta = family.linear_predictor(design, params.beta[j, part.beta])
        ends = family.end_masses(eta, params.extra[j, part.extra], data)
        if ends is None:
            return out
        out[j] = (w * resp[:, j]) @ ends / mass[j]
    return out


def separated(part, params, bounds):
    """Which segments of a family that can separate have a coefficient on the box that keeps it finite, (K,) bool.

    Only the coefficients count: an ordinal segment in which nobody gave
    some answer has thresholds on the edge of the parameter space (two of
    them meeting, or the outer one running off), but its coefficients, and
    the segment, are as well defined as any (measured on an 11-point liking
    item: the best two-segment solution has 830 respondents who never gave
    the lowest answer).
    """
    if not part.family.can_separate or bounds is None:
        return np.zeros(len(params.weights), dtype=bool)
    box = bounds.part(part.beta, part.extra, part.family.ordered_extra) if part.column is not None else bounds
    k = len(params.weights)
    coefficients = type(params)(params.weights, params.beta[:, part.beta], np.zeros((k, 0)))
    box = type(box)(box.beta_low, box.beta_high, box.extra_low[:0], box.extra_high[:0], False)
    return on_bounds(coefficients, box)


def segment_flaws(problem, params, resp=None):
    """What makes each segment of ``params`` spurious on ``problem``'s data: one dict per segment.

    Each dict maps a kind of :data:`KINDS` to what shows it (the share at
    one answer and the value; the shares at the two ends; the variance
    floor), empty for an admissible segment.  ``resp`` are the posteriors
    when the caller has them.
    """
    if resp is None:
        resp = problem.e_step(params)[0]
    k = len(params.weights)
    flaws = [{} for _ in range(k)]
    members = problem.w @ resp
    for part in problem.family.equations():
        y = problem.y if part.column is None else problem.y[:, part.column]
        name = "" if part.column is None else f"{problem.family.outcomes[part.column]}: "
        floor = on_variance_floor(part, params, problem.bounds)
        share, value = one_answer(part, y, problem.w, resp)
        ends = two_ends(part, problem.design[:, part.beta], params, problem.w, resp, part.data(problem.data))
        separation = separated(part, params, problem.bounds)
        for j in range(k):
            if floor[j]:
                # the modal answer and its share, so that a reader hears which pile a floor segment sat on
                flaws[j]["variance_floor"] = {"equation": name.rstrip(": "), "members": float(members[j]),
                                              "value": float(value[j]) if np.isfinite(value[j]) else None,
                                              "share": float(share[j])}
            if share[j] >= ONE_ANSWER_SHARE:
                flaws[j]["one_answer"] = {"equation": name.rstrip(": "), "value": float(value[j]),
                                          "share": float(share[j]), "members": float(members[j])}
            if ends[j].sum() >= TWO_ENDS_SHARE and ends[j].min() >= TWO_ENDS_EACH:
                flaws[j]["two_ends"] = {"equation": name.rstrip(": "), "lower": float(ends[j, 0]),
                                        "upper": float(ends[j, 1]), "members": float(members[j])}
            if separation[j]:
                flaws[j]["separation"] = {"equation": name.rstrip(": "), "members": float(members[j])}
    return flaws


def is_admissible(flaws) -> bool:
    """Whether no segment of a solution is spurious (``flaws`` from :func:`segment_flaws`)."""
    return not any(flaws)


def flaw_codes(flaws) -> list[str]:
    """Each segment's kinds as ``;``-separated text, in the order of :data:`KINDS` (empty when admissible)."""
    return [";".join(kind for kind in KINDS if kind in segment) for segment in flaws]
