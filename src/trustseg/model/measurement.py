"""Slopes of the constructs, not of their noisy scores: coefficients corrected for measurement error (issue 27).

A construct score ``x`` (the mean of a few items) is the construct ``xi``
plus an error ``u`` of variance ``sigma_uu``; with the reliability ``rho`` of
the score (Cronbach's alpha) ``sigma_uu = (1 - rho) var(x)``.  Regressing on
``x`` instead of ``xi`` attenuates the slope, and in a chain (trust on
satisfaction; repurchase on satisfaction and trust) the error of the
mediator hands part of its effect to the other predictors.  Within a
segment the constructs vary less than in the whole sample, so the error's
share of a score's variance is larger there than ``1 - rho`` suggests.

The correction is errors-in-variables with a known error variance on each
segment's posterior-weighted moments (Fuller 1987, section 2.2; measurement
taken as equal across segments).  With ``M`` the posterior-weighted second
moments of the design ``(1, x)`` in segment ``k`` (weights ``tau_ik w_i``)
and ``S`` the diagonal of the predictors' error variances (zero for the
intercept and for a predictor measured without error)

    beta_latent = (M - S)^-1 M beta_observed.

For the gaussian family ``M beta_observed`` is the weighted cross-moment of
the design and the outcome (the M-step's normal equations), so this is
Fuller's estimator.  For the censored family it inverts the attenuation of
the latent-scale coefficients, which is exact when the constructs are
normal within the segment (regression calibration: given the score, the
construct is normal with mean linear in the score, so the censored model on
the score has coefficients ``M^-1 (M - S) beta_latent`` and a larger residual
variance).  An outcome's own error does not bias its slopes; a mediator's
error biases the equations in which it is a predictor.  Families other than
the normal ones (ordinal, binomial, poisson) are not corrected.

Standard errors by the delta method, from three independent sources:

* the observed coefficients, with the mixture's covariance (which carries
  the uncertainty of the classification), through ``(M - S)^-1 M``;
* the segment's moments ``M``, with their empirical (posterior-weighted)
  covariance, through ``(M - S)^-1 dM (beta_observed - beta_latent)``;
* the error variances (from the reliabilities' sampling variance), through
  ``(M - S)^-1 dS beta_latent``.

Under normal constructs and errors the observed coefficients are
uncorrelated with the moments of their own predictors, so the first two
add.  With one segment this is the single-indicator structural equation
model with fixed error variances (lavaan's ``F =~ 1*x; x ~~ theta*x``),
which the tests check against lavaan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trustseg.equations import term_name
from trustseg.model.validation import INTERCEPT

#: below this reliability a corrected slope is unstable (the issue's omega < 0.7; the usual alpha threshold)
LOW_RELIABILITY = 0.7
#: below this share of a segment's score variance that is the construct's, a segment's correction is refused
MIN_SEGMENT_RELIABILITY = 0.1
#: a latent correlation of two predictors above this is noted: their separate slopes are barely identified
COLLINEAR = 0.95


def error_variance_sampling_variance(error_variance: float, n_items: int, n: int) -> float:
    """Sampling variance of the error variance ``(1 - alpha) var(score)``, ``2 theta^2 / ((k - 1)(n - 1))``.

    ``(1 - alpha) var(score)`` is the respondent-by-item residual mean
    square divided by ``k``: for items that measure the construct alike
    (tau-equivalent, normal errors) it is ``theta`` times a chi-squared on
    ``(n - 1)(k - 1)`` degrees of freedom over those degrees of freedom.
    (Carrying alpha's own sampling variance times ``var(score)^2`` instead
    would count it ``k`` times over: alpha and the score's variance err
    together.)  NaN with fewer than two items or respondents.
    """
    if n_items < 2 or n < 2 or not np.isfinite(error_variance):
        return float("nan")
    return float(2 * error_variance ** 2 / ((n_items - 1) * (n - 1)))


def error_variance(reliability: float, score_variance: float) -> float:
    """The error variance of a score, ``(1 - reliability) var(score)``; 0 for a reliability of 1 or more."""
    return float(max(1.0 - float(reliability), 0.0) * float(score_variance))


@dataclass
class LatentCoefficients:
    """Error-corrected coefficients of every segment, with their covariance.

    ``estimate`` (K, Q) in the columns ``terms`` (the model's ``coef_terms_``,
    intercepts included; NaN for a segment whose correction is refused);
    ``cov`` the covariance of all of them, named ``param_names`` (a row of
    zeros for a coefficient without a standard error)
    (``"<segment>:<term>"``, segment by segment); ``segment_reliability``
    one row per segment and corrected predictor: the share of the score's
    within-segment variance that is the construct's
    (``1 - sigma_uu / var_k(x)``) and whether the segment was corrected.
    """

    terms: list
    estimate: np.ndarray
    cov: np.ndarray
    param_names: list
    segment_reliability: pd.DataFrame
    notes: list = field(default_factory=list)
    #: (K, Q) whether each coefficient was corrected: its segment could be and its equation has a predictor
    #: measured with error (otherwise the latent coefficient is the observed one, or NaN)
    corrected: np.ndarray | None = None

    def std_errors(self) -> np.ndarray:
        """The standard errors in the shape of ``estimate``."""
        variance = np.diag(self.cov).reshape(self.estimate.shape)
        return np.sqrt(np.where(variance > 0, variance, np.nan))

    def frame(self) -> pd.DataFrame:
        """One row per segment and term: ``segment, term, latent_estimate, latent_std_error``."""
        k, q = self.estimate.shape
        corrected = np.zeros((k, q), dtype=bool) if self.corrected is None else self.corrected
        return pd.DataFrame({"segment": np.repeat(np.arange(1, k + 1), q), "term": self.terms * k,
                             "latent_estimate": self.estimate.ravel(), "latent_std_error": self.std_errors().ravel(),
                             "corrected": corrected.ravel() & np.isfinite(self.estimate.ravel())})


@dataclass
class _Equation:
    """One equation as the correction reads it: its terms' columns in the model and in the moments."""

    outcome: str
    predictors: list
    coef_columns: list  # columns of the model's coefficients (intercept first)
    moment_index: list  # positions in the segment's moment vector (0 is the constant)


def _equations(model):
    """The model's equations, ``[(outcome, predictors, term names)]``, whichever estimator fitted it."""
    if hasattr(model, "equations_"):
        families = model.family_.families
        return [(o, list(p), [term_name(o, t) for t in ([INTERCEPT] if f.has_intercept else []) + list(p)], f)
                for (o, p), f in zip(model.equations_, families)]
    predictors = [str(n) for n in model.feature_names_in_]
    return [(model.outcome_name_, predictors, list(model.coef_terms_), model.family_)]


def _layout(model):
    """The equations with their columns, the variables of the moments, and the check that each can be corrected."""
    equations = _equations(model)
    unsupported = [o for o, _, _, family in equations if not getattr(family, "normal", False)
                   or not family.has_intercept]
    if unsupported:
        raise ValueError(f"the measurement-error correction needs a normal family with an intercept (gaussian or "
                         f"censored); the equations of {unsupported} have another")
    variables = list(dict.fromkeys(p for _, predictors, _, _ in equations for p in predictors))
    terms = list(model.coef_terms_)
    laid = [_Equation(o, p, [terms.index(t) for t in names], [0] + [1 + variables.index(v) for v in p])
            for o, p, names, _ in equations]
    return laid, variables, terms


def _coefficients(model) -> np.ndarray:
    """Each segment's coefficients in the columns of ``coef_terms_`` (intercept first for one equation)."""
    if hasattr(model, "equations_") or not model.family_.has_intercept:
        return np.asarray(model.coef_, dtype=float)
    return np.column_stack([model.intercept_, model.coef_])


def _segment_moments(values: np.ndarray, weights: np.ndarray):
    """The weighted second moments of ``(1, values)`` and the influence of each respondent on them.

    Returns ``M`` (m, m) and ``influence`` (n, m, m) with ``M`` + the sum of
    the influences of a perturbation; ``weights`` are ``tau_ik w_i``.
    """
    design = np.column_stack([np.ones(len(values)), values])
    total = weights.sum()
    moments = (design * weights[:, None]).T @ design / total
    influence = weights[:, None, None] * (design[:, :, None] * design[:, None, :] - moments) / total
    return moments, influence


def latent_coefficients(model, X, posteriors: np.ndarray, cov_observed: np.ndarray, error_variances: dict,
                        error_variance_variances: dict | None = None, sample_weight=None) -> LatentCoefficients:
    """The error-corrected coefficients of every segment of a fitted model (see the module docstring).

    Parameters
    ----------
    model : ClusterwiseRegression or ChainRegression
        Fitted with a normal family (gaussian or censored) in every equation.
    X : DataFrame
        The predictors (and for a chain every variable), the rows the model was fitted to.
    posteriors : ndarray (n, K)
        Each respondent's segment probabilities (``model.predict_proba``).
    cov_observed : ndarray
        The covariance of the model's parameters (``inference.cov``), named by ``model.param_names_``.
    error_variances : dict
        Predictor -> the variance of its measurement error; a predictor absent or at 0 is taken as
        measured without error.
    error_variance_variances : dict, optional
        Predictor -> the sampling variance of its error variance (from the reliability's); absent: known.
    sample_weight : array-like, optional
        The respondents' weights (frequency weights, as the fit took them).
    """
    equations, variables, terms = _layout(model)
    frame = pd.DataFrame(X)
    values = frame[variables].to_numpy(dtype=float)
    w = np.ones(len(values)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    sigma = np.array([float(error_variances.get(v, 0.0) or 0.0) for v in variables])
    sigma_var = np.array([float((error_variance_variances or {}).get(v, 0.0) or 0.0) for v in variables])
    observed = _coefficients(model)
    k, q = observed.shape
    names = list(model.param_names_)
    positions = [names.index(f"{j + 1}:{t}") for j in range(k) for t in terms]
    v_observed = np.asarray(cov_observed, dtype=float)[np.ix_(positions, positions)]
    # a coefficient without a variance (a singular information) leaves its equation's corrected ones without one
    unknown = ~np.isfinite(np.diag(v_observed))
    v_observed = np.nan_to_num(v_observed, nan=0.0)
    estimate = np.full((k, q), np.nan)
    corrected = np.zeros((k, q), dtype=bool)
    j_observed = np.zeros((k * q, k * q))
    j_moments, influences = [], []
    j_sigma = np.zeros((k * q, len(variables)))
    rows, notes = [], []
    for j in range(k):
        moments, influence = _segment_moments(values, posteriors[:, j] * w)
        within = np.diag(moments)[1:] - moments[0, 1:] ** 2
        ok = _segment_reliability_rows(rows, j, variables, sigma, within)
        if ok:
            ok = _latent_covariance_usable(moments, sigma, variables, j, notes, rows)
        grad_m = np.zeros((k * q, influence.shape[1] ** 2))
        for eq in equations:
            rows_out = [j * q + c for c in eq.coef_columns]
            if not ok:
                continue
            part = _corrected_equation(moments, sigma, eq, observed[j, eq.coef_columns])
            estimate[j, eq.coef_columns] = part["latent"]
            corrected[j, eq.coef_columns] = bool((sigma[np.array(eq.moment_index[1:], dtype=int) - 1] > 0).any())
            j_observed[np.ix_(rows_out, rows_out)] = part["d_observed"]
            grad_m[rows_out] = part["d_moments"]
            j_sigma[rows_out] = part["d_sigma"]
        j_moments.append(grad_m)
        influences.append(influence.reshape(len(values), -1))
    gradient = np.hstack(j_moments)
    stacked = np.hstack(influences)
    v_moments = _moment_covariance(stacked, w)
    cov = (j_observed @ v_observed @ j_observed.T + gradient @ v_moments @ gradient.T
           + j_sigma @ np.diag(sigma_var) @ j_sigma.T)
    cov = (cov + cov.T) / 2
    failed = ~np.isfinite(estimate.ravel()) | ((np.abs(j_observed) > 0) & unknown[None, :]).any(axis=1)
    # no variance for those (a zero, read as "no standard error"): a NaN would turn every effect built from the
    # other coefficients into NaN too, since a product of covariances takes 0 * NaN = NaN
    cov[failed, :] = 0.0
    cov[:, failed] = 0.0
    return LatentCoefficients(terms, estimate, cov, [f"{j + 1}:{t}" for j in range(k) for t in terms],
                              pd.DataFrame(rows, columns=SEGMENT_RELIABILITY_COLUMNS), notes,
                              corrected & np.isfinite(estimate))


SEGMENT_RELIABILITY_COLUMNS = ["segment", "predictor", "error_variance", "within_variance", "within_reliability",
                               "corrected"]


def _moment_covariance(influence: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The covariance of the stacked moments from each respondent's influence (``w`` as frequency weights).

    A respondent of weight ``w_i`` stands for ``w_i`` identical ones: the
    influence of each is the row divided by ``w_i``, so the sum over them of
    its square is ``row row' / w_i``.
    """
    scaled = influence / np.sqrt(np.maximum(w, 1e-300))[:, None]
    return scaled.T @ scaled


def _latent_covariance_usable(moments, sigma, variables, j, notes, rows) -> bool:
    """Whether segment ``j``'s corrected covariance of the predictors is positive definite; notes on collinearity.

    The constructs' covariance in the segment is the scores' minus the error
    variances; not positive definite, the errors claim more than the scores
    vary together and the segment is not corrected.  A latent correlation
    above ``COLLINEAR`` is noted: the constructs' separate slopes are then
    barely told apart (their intervals say how little).
    """
    centred = moments[1:, 1:] - np.outer(moments[0, 1:], moments[0, 1:]) - np.diag(sigma)
    if len(variables) < 2 or np.linalg.eigvalsh(centred).min() > 0:
        if len(variables) >= 2:
            scale = np.sqrt(np.diag(centred))
            corr = centred / np.outer(scale, scale)
            for a in range(len(variables)):
                for b in range(a + 1, len(variables)):
                    if abs(corr[a, b]) > COLLINEAR:
                        notes.append(f"segment {j + 1}: {variables[a]} and {variables[b]} correlate {corr[a, b]:.2f} "
                                     "once corrected for measurement error: their separate slopes are barely told "
                                     "apart (wide latent intervals)")
        return True
    notes.append(f"segment {j + 1}: the scores of {', '.join(variables)} vary together less than their measurement "
                 "errors claim (the corrected covariance is not positive definite): not corrected")
    for row in rows:
        if row["segment"] == j + 1:
            row["corrected"] = False
    return False


def _segment_reliability_rows(rows, j, variables, sigma, within) -> bool:
    """Append segment ``j``'s within-segment reliabilities; whether every corrected predictor has enough."""
    ok = True
    for v, s, var in zip(variables, sigma, within):
        if s <= 0:
            continue
        share = 1 - s / var if var > 0 else -np.inf
        enough = bool(share >= MIN_SEGMENT_RELIABILITY)
        ok = ok and enough
        rows.append({"segment": j + 1, "predictor": v, "error_variance": float(s), "within_variance": float(var),
                     "within_reliability": float(share), "corrected": enough})
    for row in rows:
        if row["segment"] == j + 1:
            row["corrected"] = ok
    return ok


def _corrected_equation(moments: np.ndarray, sigma: np.ndarray, eq: _Equation, observed: np.ndarray) -> dict:
    """One equation's corrected coefficients in one segment and their derivatives.

    ``d_observed`` (q_e, q_e) by the observed coefficients, ``d_moments``
    (q_e, m*m) by the segment's (full, row-major) moment matrix and
    ``d_sigma`` (q_e, V) by the error variances of the moments' variables.
    """
    index = eq.moment_index
    m_e = moments[np.ix_(index, index)]
    s_e = np.diag(np.concatenate([[0.0], sigma[np.array(index[1:]) - 1]]))
    inverse = np.linalg.inv(m_e - s_e)
    latent = inverse @ m_e @ observed
    size = moments.shape[0]
    d_moments = np.zeros((len(index), size * size))
    gap = observed - latent
    for a_local, a in enumerate(index):
        for b_local, b in enumerate(index):
            # d latent / d M[a, b] = A^-1 e_a (gap)_b
            d_moments[:, a * size + b] = inverse[:, a_local] * gap[b_local]
    d_sigma = np.zeros((len(index), len(sigma)))
    for p_local, p in enumerate(index[1:], start=1):
        d_sigma[:, p - 1] = inverse[:, p_local] * latent[p_local]
    return {"latent": latent, "d_observed": inverse @ m_e, "d_moments": d_moments, "d_sigma": d_sigma}
