"""The mixture likelihood of any outcome family: E-step, log-likelihood, degenerate segments, observed information.

One place for everything that touches the mixture likelihood; the EM driver
(:mod:`trustseg.model.em`), the search, the estimators, inference,
selection, classification and the bootstrap all call it, so there is one
E-step, one degenerate-segment rule and one observed information.

``design`` is always the full design (the intercept column first when the
family has one, a block per equation for an equation system); ``params`` a
:class:`~trustseg.model.params.MixtureParams`; ``data`` the per-row side
data (trials, offsets, spread predictors).
"""

from __future__ import annotations

import math

import numpy as np

from trustseg.model.params import param_layout

# Relative tolerance under which two log-likelihoods count as the same optimum.
SAME_OPTIMUM_RTOL = 1e-6
# Rows per chunk of the observed information: bounded memory whatever n is.
_CHUNK_BYTES = 64 * 2**20


def log_joint(family, design, y, params, data=None):
    """log pi_k + log f_k(y_i) as an (n, K) array."""
    eta = family.linear_predictors(design, params.beta)
    out = family.segment_logliks(y, eta, np.asarray(params.extra, dtype=float), data)
    with np.errstate(divide="ignore"):
        out += np.log(np.asarray(params.weights, dtype=float))
    return out


def posteriors_and_row_loglik(joint):
    """Rows of ``joint`` (n, K) normalised to probabilities, and each row's log-sum-exp (n,); ``joint`` is reused.

    numpy reductions along a short axis, and scipy's ``logsumexp``, cost
    several times this on the arrays of an EM step, which EM takes
    thousands of times: K is small, so the maximum is taken column by
    column and the sum is a BLAS product.  A row where every segment has
    density zero keeps -inf (and NaN posteriors).
    """
    row_max = joint[:, 0].copy()
    for j in range(1, joint.shape[1]):
        np.maximum(row_max, joint[:, j], out=row_max)
    finite = np.isfinite(row_max)
    every = bool(finite.all())
    shift = row_max if every else np.where(finite, row_max, 0.0)
    for j in range(joint.shape[1]):  # column by column, as above: a short last axis makes numpy's loops slow
        joint[:, j] -= shift
    np.exp(joint, out=joint)
    row_sum = joint @ np.ones(joint.shape[1])
    if every:  # the common case, without the guards
        for j in range(joint.shape[1]):
            joint[:, j] /= row_sum
        return joint, row_max + np.log(row_sum)
    with np.errstate(divide="ignore", invalid="ignore"):
        joint /= row_sum[:, None]
        loglik_i = np.where(finite, row_max + np.log(row_sum), row_max)
    return joint, loglik_i


def e_step(family, design, y, params, data=None):
    """Posterior probabilities (n, K) and the per-respondent log-likelihood (n,)."""
    return posteriors_and_row_loglik(log_joint(family, design, y, params, data))


def weighted_loglik(w, loglik_i):
    """sum_i w_i l_i, -inf when a respondent of positive weight has density zero in every segment."""
    if np.isfinite(loglik_i).all():
        return float(w @ loglik_i)
    positive = w > 0
    if not np.all(np.isfinite(loglik_i[positive])):
        return -np.inf
    return float(w[positive] @ loglik_i[positive])


def mixture_loglik(family, design, y, w, params, data=None):
    """The weighted mixture log-likelihood sum_i w_i log sum_k pi_k f_k(y_i).

    -inf when some segment gives a respondent (of positive weight) density
    zero: outside every family's parameter space (unordered ordinal
    thresholds), where the other segments could otherwise hide it.
    """
    w = np.asarray(w, dtype=float)
    joint = log_joint(family, design, y, params, data)
    if not np.all(np.isfinite(joint[w > 0])):
        return -np.inf
    return weighted_loglik(w, posteriors_and_row_loglik(joint)[1])


def expected_complete_loglik(family, design, y, w, resp, params, data=None):
    """Q = sum_i w_i sum_k resp_ik (log pi_k + log f_k(y_i)), the function a (G)EM step raises."""
    joint = log_joint(family, design, y, params, data)
    weighted = np.asarray(w, dtype=float)[:, None] * resp
    return float(np.sum(np.where(weighted > 0, weighted * joint, 0.0)))


def reached_optimum(logliks, best):
    """Which starts' log-likelihoods reached ``best`` (within a relative 1e-6).

    The one rule behind ``n_best_starts_`` and the ``reached_best`` column of
    the workflow's ``start_logliks.csv`` (with the parameters compared too,
    see :func:`trustseg.model.search.same_solution`).
    """
    logliks = np.asarray(logliks, dtype=float)
    return np.isfinite(logliks) & (np.abs(logliks - best) <= SAME_OPTIMUM_RTOL * max(abs(best), 1.0))


def degenerate_components(w, resp, min_share, min_respondents):
    """Segments EM must drop: share below ``min_share`` or too few effective respondents.

    A segment is degenerate when its (weighted) share is below ``min_share``
    or its effective number of respondents ``sum_i tau_ik`` is below
    ``min_respondents`` (what its parameters need).  Returns the boolean
    mask over segments and, for each degenerate segment, its share,
    effective respondents and the reason in words.
    """
    mass = w @ resp
    counts = np.ones(len(w)) @ resp
    share = mass / mass.sum()
    degenerate = (share < min_share) | (counts < min_respondents)
    reasons = {}
    for j in np.flatnonzero(degenerate):
        reason = (
            f"share {share[j]:.4f} below min_share {min_share}"
            if share[j] < min_share
            else f"{counts[j]:.1f} effective respondents, fewer than the {min_respondents} its parameters need"
        )
        reasons[int(j)] = {"share": float(share[j]), "effective_respondents": float(counts[j]), "reason": reason}
    return degenerate, reasons


def information_criteria(loglik, n_params, n) -> dict:
    """AIC, AIC3, BIC, CAIC and SABIC of a log-likelihood with ``n_params`` free parameters and ``n`` respondents.

    ``n`` counts rows, also for weighted fits: survey weights rescale the
    likelihood, they do not add respondents.
    """
    deviance = -2.0 * float(loglik)
    return {
        "aic": deviance + 2 * n_params,
        "aic3": deviance + 3 * n_params,
        "bic": deviance + n_params * math.log(n),
        "caic": deviance + n_params * (math.log(n) + 1),
        "sabic": deviance + n_params * math.log((n + 2) / 24),
    }


def posterior_criteria(loglik, n_params, n, posterior, w) -> dict:
    """:func:`information_criteria`, ICL (BIC - 2 sum_i w_i log tau_{i, z_i}, z_i the most probable class) and
    the relative entropy of the posteriors (n, C): what a model-selection row reads from a fit."""
    criteria = information_criteria(loglik, n_params, n)
    hard = posterior[np.arange(len(w)), posterior.argmax(axis=1)]
    return {**criteria, "icl": criteria["bic"] - 2 * float(w @ np.log(np.maximum(hard, 1e-300))),
            "entropy": relative_entropy(posterior, w)}


def entropy(posteriors, w) -> float:
    """Weighted classification entropy ``E = -sum_i w_i sum_k tau_ik log tau_ik`` (0 log 0 = 0)."""
    safe = np.where(posteriors > 0, posteriors, 1.0)
    return float(-(w @ (posteriors * np.log(safe)).sum(axis=1)))


def relative_entropy(posteriors, w) -> float:
    """Entropy R^2 ``1 - E / (W log K)``, ``W = sum_i w_i``; 1 for a single segment."""
    k = posteriors.shape[1]
    if k == 1:
        return 1.0
    return 1.0 - entropy(posteriors, w) / (w.sum() * math.log(k))


# ----------------------------------------------------------------------------
# scores and Hessian of the full mixture likelihood (Louis' identity)
# ----------------------------------------------------------------------------


def logit_directions(shares):
    """Row j: d log pi_j / d alpha = e_j - pi, for the logits alpha_2..alpha_K of the shares (pi_1 the reference)."""
    k = len(shares)
    alpha_dir = -np.tile(shares[1:], (k, 1))
    alpha_dir[np.arange(1, k), np.arange(k - 1)] += 1.0
    return alpha_dir


def _add_gradient_outer_terms(hessian, scores, index, logit_index, block, tau_j, wtau_j, alpha_dir_j):
    """Segment j's terms of Louis' identity built from its gradient alone.

    ``block`` (c, b) is the gradient g_ij of l_ij = log pi_j + log f_j(y_i)
    in segment j's parameters ``index``; in the logits it is ``alpha_dir_j``,
    the same for every respondent.  Adds sum_i w_i tau_ij g_ij g_ij' (the
    block, its cross terms with the logits, the logit block) to ``hessian``
    and writes tau_ij g_ij into segment j's columns of ``scores``.
    """
    hessian[np.ix_(index, index)] += (block * wtau_j).T @ block
    cross = np.outer(wtau_j[:, 0] @ block, alpha_dir_j)
    hessian[np.ix_(index, logit_index)] += cross
    hessian[np.ix_(logit_index, index)] += cross.T
    mass_j = wtau_j[:, 0].sum()
    hessian[np.ix_(logit_index, logit_index)] += mass_j * np.outer(alpha_dir_j, alpha_dir_j)
    scores[:, index] = block * tau_j


def _add_score_terms(hessian, score_outer, gradient, scores, tau, shares, logit_index, w):
    """Finish a chunk of Louis' identity: the logit scores, then - sum w s s', sum w s and sum w^2 s s'."""
    scores[:, logit_index] = tau[:, 1:] - shares[1:]
    hessian -= (scores * w[:, None]).T @ scores
    gradient += w @ scores
    score_outer += (scores * (w**2)[:, None]).T @ scores


def observed_information(family, design, y, w, params, data=None):
    """Hessian, outer product of scores and gradient of the weighted mixture log-likelihood.

    Louis' identity: with tau_ik the posteriors, g_ik and H_ik the gradient
    and Hessian of l_ik = log pi_k + log f_k(y_i),

        H = sum_i w_i [ sum_k tau_ik (H_ik + g_ik g_ik') - s_i s_i' ],   s_i = sum_k tau_ik g_ik.

    g_ik is zero outside segment k's block and the logits; in the block it is
    the family's row gradient, in the logits ``e_k - pi``.  The parameters
    are laid out as :func:`~trustseg.model.params.param_layout` says.
    Respondents are processed in chunks.

    Returns
    -------
    hessian : ndarray (D, D)
    score_outer : ndarray (D, D)
        ``sum_i w_i^2 s_i s_i'`` (used by the sandwich).
    gradient : ndarray (D,)
        ``sum_i w_i s_i`` (zero at the maximum).
    """
    w = np.asarray(w, dtype=float)
    beta = np.asarray(params.beta, dtype=float)
    extra = np.asarray(params.extra, dtype=float)
    shares = np.asarray(params.weights, dtype=float)
    k, q = beta.shape
    m = extra.shape[1]
    segment_index, logit_index, dim = param_layout(k, q, m)
    hessian = np.zeros((dim, dim))
    score_outer = np.zeros((dim, dim))
    gradient = np.zeros(dim)
    alpha_dir = logit_directions(shares)
    n = design.shape[0]
    chunk = max(1, int(_CHUNK_BYTES // (8 * (dim + k * (q + m) ** 2 + q + 4))))
    total_weight = 0.0
    for start in range(0, n, chunk):
        rows = slice(start, min(n, start + chunk))
        dc, yc, wc = design[rows], y[rows], w[rows]
        datac = None if data is None else {key: None if v is None else np.asarray(v)[rows] for key, v in data.items()}
        total_weight += wc.sum()
        tau = posteriors_and_row_loglik(log_joint(family, dc, yc, params, datac))[0]
        wtau = tau * wc[:, None]
        scores = np.empty((dc.shape[0], dim))
        for j in range(k):
            d1, d2 = family.derivatives(yc, family.linear_predictor(dc, beta[j]), extra[j], datac)
            block = family.row_gradients(dc, d1)
            _add_gradient_outer_terms(hessian, scores, segment_index[j], logit_index, block, tau[:, j : j + 1],
                                      wtau[:, j : j + 1], alpha_dir[j])
            # second derivatives of log f_k, chained to beta through the design
            hessian[np.ix_(segment_index[j], segment_index[j])] += family.weighted_second_derivatives(
                dc, wtau[:, j], d2)
        _add_score_terms(hessian, score_outer, gradient, scores, tau, shares, logit_index, wc)
    # second derivatives of log pi_k in the logits: -(diag(pi) - pi pi'), the same for every k and i
    pi = shares[1:]
    hessian[np.ix_(logit_index, logit_index)] -= total_weight * (np.diag(pi) - np.outer(pi, pi))
    return hessian, score_outer, gradient
