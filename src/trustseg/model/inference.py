"""Inference for a fitted clusterwise regression.

Standard errors come from the observed information of the *full* mixture
likelihood -- all segment coefficients, log residual standard deviations and the
segment shares (as multinomial logits with segment 1 as reference) together --
as flexmix's ``refit()`` does, not from K separate weighted regressions (which
ignore the uncertainty of the classification).

The Hessian is computed analytically with Louis' identity.  With
``l_ik = log(pi_k f_k(y_i | x_i))``, ``g_ik`` its gradient, ``tau_ik`` the
posterior and ``s_i = sum_k tau_ik g_ik`` the score of respondent i,

    H = sum_i w_i [ sum_k tau_ik (d2 l_ik + g_ik g_ik') - s_i s_i' ].

``cov_type="oim"`` gives ``(-H)^-1`` (weights act as frequency weights);
``cov_type="robust"`` gives the sandwich ``H^-1 (sum_i w_i^2 s_i s_i') H^-1``,
the right choice for survey weights.  Respondents are processed in chunks so
memory does not grow with n.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import logsumexp

from trustseg.model.mixture import validate_data
from trustseg.render import MixtureSummary

# rows per chunk of the score computation; bounded memory whatever n is
_CHUNK_BYTES = 64 * 2**20


def holm_adjust(p_values):
    """Holm step-down adjusted p-values (same order as the input)."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    adjusted = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.maximum.accumulate(adjusted)
    out = np.empty(m)
    out[order] = adjusted
    return out


def _layout(k, p):
    """Positions of each segment's coefficients and log-sigma, and of the logits."""
    q = p + 1
    block = q + 1
    coef_index = [np.arange(j * block, j * block + q) for j in range(k)]
    log_sigma_index = [j * block + q for j in range(k)]
    logit_index = np.arange(k * block, k * block + k - 1)
    return coef_index, log_sigma_index, logit_index, k * block + k - 1


def observed_information(model, X, y, w):
    """Hessian and outer product of scores of the weighted mixture log-likelihood.

    Parameters
    ----------
    model : ClusterwiseRegression
        Fitted model (segments in its order).
    X, y, w : ndarray
        Complete data (validated), weights.

    Returns
    -------
    hessian : ndarray (D, D)
    score_outer : ndarray (D, D)
        ``sum_i w_i^2 s_i s_i'`` (used by the sandwich).
    gradient : ndarray (D,)
        ``sum_i w_i s_i`` (zero at the maximum; used to polish EM's solution).
    """
    k, p = model.n_segments_, model.n_features_in_
    q = p + 1
    coef_index, log_sigma_index, logit_index, dim = _layout(k, p)
    betas = np.column_stack([model.intercept_, model.coef_])  # (K, q)
    variances = model.sigma_**2
    shares = model.weights_
    hessian = np.zeros((dim, dim))
    score_outer = np.zeros((dim, dim))
    gradient = np.zeros(dim)
    n = X.shape[0]
    chunk = max(1, int(_CHUNK_BYTES // (8 * (dim + 4 * k + q + 2) * 3)))
    total_weight = 0.0
    alpha_dir = -np.tile(shares[1:], (k, 1))  # row j: d log pi_j / d alpha = e_j - pi
    alpha_dir[np.arange(1, k), np.arange(k - 1)] += 1.0
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        design = np.column_stack([np.ones(stop - start), X[start:stop]])
        wc = w[start:stop]
        total_weight += wc.sum()
        residuals = y[start:stop, None] - design @ betas.T  # (c, K)
        log_joint = (
            np.log(shares)
            - 0.5 * (math.log(2 * math.pi) + np.log(variances))
            - 0.5 * residuals**2 / variances
        )
        tau = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
        wtau = tau * wc[:, None]
        scaled = residuals / variances  # r / sigma^2
        # g_ik is zero outside segment k's block and the logits, so the sums are
        # assembled block by block instead of from a dense (c, K, D) array.
        # Segment block of g_ik: a_ik = [x_i r_ik / s_k^2, r_ik^2 / s_k^2 - 1];
        # logit part: e_k - pi, the same for every respondent.
        scores = np.empty((stop - start, dim))
        for j in range(k):
            block = np.empty((stop - start, q + 1))
            block[:, :q] = design * scaled[:, j : j + 1]
            block[:, q] = residuals[:, j] * scaled[:, j] - 1.0
            index = np.append(coef_index[j], log_sigma_index[j])
            # sum_i w tau g g' within the block, and its cross term with the logits
            hessian[np.ix_(index, index)] += (block * wtau[:, j : j + 1]).T @ block
            cross = np.outer(wtau[:, j] @ block, alpha_dir[j])
            hessian[np.ix_(index, logit_index)] += cross
            hessian[np.ix_(logit_index, index)] += cross.T
            mass_j = wtau[:, j].sum()
            hessian[np.ix_(logit_index, logit_index)] += mass_j * np.outer(alpha_dir[j], alpha_dir[j])
            scores[:, index] = block * tau[:, j : j + 1]
            # second derivatives of log f_k
            hessian[np.ix_(coef_index[j], coef_index[j])] -= (
                design * (wtau[:, j] / variances[j])[:, None]
            ).T @ design
            second = -2.0 * design.T @ (wtau[:, j] * scaled[:, j])
            hessian[coef_index[j], log_sigma_index[j]] += second
            hessian[log_sigma_index[j], coef_index[j]] += second
            hessian[log_sigma_index[j], log_sigma_index[j]] -= 2.0 * wtau[:, j] @ (
                residuals[:, j] * scaled[:, j]
            )
        scores[:, logit_index] = tau[:, 1:] - shares[1:]
        hessian -= (scores * wc[:, None]).T @ scores
        gradient += wc @ scores
        score_outer += (scores * (wc**2)[:, None]).T @ scores
    # the logit block does not depend on the respondent: sum_k tau_ik = 1
    pi = shares[1:]
    hessian[np.ix_(logit_index, logit_index)] -= total_weight * (np.diag(pi) - np.outer(pi, pi))
    return hessian, score_outer, gradient


def _covariance(hessian, score_outer, cov_type):
    information = -hessian
    eigenvalues = np.linalg.eigvalsh((information + information.T) / 2)
    if eigenvalues.min() <= 1e-10 * max(eigenvalues.max(), 1e-300):
        warnings.warn(
            "the observed information is not positive definite: the solution is not "
            "a strict local maximum (for CEM fits this is expected); standard errors "
            "use a pseudo-inverse and should not be trusted",
            RuntimeWarning,
            stacklevel=3,
        )
        inverse = np.linalg.pinv(information)
    else:
        inverse = np.linalg.inv(information)
    inverse = (inverse + inverse.T) / 2
    if cov_type == "oim":
        return inverse
    sandwich = inverse @ score_outer @ inverse
    return (sandwich + sandwich.T) / 2


class MixtureInference:
    """Standard errors, tests and verdicts for a fitted :class:`ClusterwiseRegression`.

    Attributes
    ----------
    params : DataFrame
        segment, share, term, estimate, std_error, z, p_value, ci_low, ci_high for
        the intercept and every predictor of every segment.
    shares : DataFrame
        segment, estimate, std_error, ci_low, ci_high of the segment shares
        (delta method from the logits).
    sigmas : DataFrame
        segment, estimate, std_error of the residual standard deviations.
    verdicts : DataFrame
        For the focal predictor in each segment: estimate, the two-sided 1-alpha
        interval, ``p_positive`` (one-sided p-value of H0: slope <= 0), ``p_tost``
        (TOST p-value of H0: |slope| >= margin, i.e. the larger of the two
        one-sided p-values) and the verdict: ``drives`` when the 1-alpha
        interval lies above zero (equivalently ``p_positive < alpha/2``),
        otherwise ``does_not_drive`` when the 1-2alpha interval lies inside
        +-margin (``p_tost < alpha``), otherwise ``inconclusive``.  A
        non-significant slope alone is never ``does_not_drive``.
    slope_equality : dict
        Wald test that the focal slope is equal in all segments: statistic, df
        (K-1) and p_value (NaN for a one-segment model, where it is undefined).
    pairwise : DataFrame
        segment_a, segment_b, difference, std_error, z, p_value, p_holm.
    cov : ndarray
        Covariance of all parameters, ordered as ``param_names``.
    param_names : list of str
        "<segment>:<term>" for coefficients, "<segment>:log_sigma", and
        "<segment>:logit" (segments 2..K; segment 1 is the reference).
    """

    def __init__(self, model, cov, param_names, cov_type, alpha, equivalence_margin, n_obs):
        self.model = model
        self.cov = cov
        self.param_names = param_names
        self.cov_type = cov_type
        self.alpha = float(alpha)
        self.equivalence_margin = float(equivalence_margin)
        self.n_obs = n_obs
        self._build_tables()

    @classmethod
    def from_model(cls, model, X, y, sample_weight=None, cov_type="oim", alpha=0.05,
                   equivalence_margin=0.1):
        """Compute the covariance for ``model`` on the data it was fitted to."""
        if cov_type not in ("oim", "robust"):
            raise ValueError(f"cov_type must be 'oim' or 'robust', not {cov_type!r}")
        if not 0 < alpha < 0.5:
            raise ValueError("alpha must lie in (0, 0.5)")
        if equivalence_margin <= 0:
            raise ValueError("equivalence_margin must be positive")
        model._check_fitted()
        data = validate_data(X, y, sample_weight, "raise", list(model.feature_names_in_))
        hessian, score_outer, _ = observed_information(model, data["X"], data["y"], data["w"])
        cov = _covariance(hessian, score_outer, cov_type)
        k = model.n_segments_
        terms = ["(Intercept)"] + [str(n) for n in model.feature_names_in_]
        names = []
        for j in range(k):
            names += [f"{j + 1}:{t}" for t in terms] + [f"{j + 1}:log_sigma"]
        names += [f"{j + 1}:logit" for j in range(1, k)]
        return cls(model, cov, names, cov_type, alpha, equivalence_margin, data["X"].shape[0])

    # -- tables ----------------------------------------------------------------

    def _build_tables(self):
        model = self.model
        k, p = model.n_segments_, model.n_features_in_
        coef_index, log_sigma_index, logit_index, _ = _layout(k, p)
        terms = ["(Intercept)"] + [str(n) for n in model.feature_names_in_]
        z_crit = stats.norm.ppf(1 - self.alpha / 2)
        rows = []
        for j in range(k):
            estimates = np.concatenate([[model.intercept_[j]], model.coef_[j]])
            errors = np.sqrt(np.diag(self.cov)[coef_index[j]])
            for term, est, se in zip(terms, estimates, errors):
                z = est / se
                rows.append({
                    "segment": j + 1, "share": float(model.weights_[j]), "term": term,
                    "estimate": float(est), "std_error": float(se), "z": float(z),
                    "p_value": float(2 * stats.norm.sf(abs(z))),
                    "ci_low": float(est - z_crit * se), "ci_high": float(est + z_crit * se),
                })
        self.params = pd.DataFrame(rows)

        # shares: pi = softmax(0, alpha_2..alpha_K), Jacobian d pi_j / d alpha_m
        pi = model.weights_
        jacobian = -np.outer(pi, pi[1:])
        jacobian[1:, :] += np.diag(pi[1:])
        share_cov = jacobian @ self.cov[np.ix_(logit_index, logit_index)] @ jacobian.T
        share_se = np.sqrt(np.clip(np.diag(share_cov), 0, None))
        self.shares = pd.DataFrame({
            "segment": np.arange(1, k + 1), "estimate": pi, "std_error": share_se,
            "ci_low": pi - z_crit * share_se, "ci_high": pi + z_crit * share_se,
        })
        log_sigma_se = np.sqrt(np.diag(self.cov)[log_sigma_index])
        self.sigmas = pd.DataFrame({
            "segment": np.arange(1, k + 1), "estimate": model.sigma_,
            "std_error": model.sigma_ * log_sigma_se,
        })

        focal_positions = np.array([coef_index[j][1 + model.focal_index_] for j in range(k)])
        focal_slopes = model.coef_[:, model.focal_index_]
        focal_cov = self.cov[np.ix_(focal_positions, focal_positions)]
        self._verdicts(focal_slopes, np.sqrt(np.diag(focal_cov)), terms[1 + model.focal_index_])
        self._slope_tests(focal_slopes, focal_cov)

    def _verdicts(self, slopes, errors, term):
        margin, alpha = self.equivalence_margin, self.alpha
        z_two = stats.norm.ppf(1 - alpha / 2)
        z_tost = stats.norm.ppf(1 - alpha)
        rows = []
        for j, (est, se) in enumerate(zip(slopes, errors)):
            low, high = est - z_two * se, est + z_two * se
            p_positive = float(stats.norm.sf(est / se))
            p_tost = float(max(stats.norm.sf((est + margin) / se),
                               stats.norm.cdf((est - margin) / se)))
            if low > 0:
                verdict = "drives"
            elif est - z_tost * se > -margin and est + z_tost * se < margin:
                verdict = "does_not_drive"
            else:
                verdict = "inconclusive"
            rows.append({
                "segment": j + 1, "term": term, "estimate": float(est),
                "ci_low": float(low), "ci_high": float(high),
                "p_positive": p_positive, "p_tost": p_tost, "verdict": verdict,
            })
        self.verdicts = pd.DataFrame(rows)

    def _slope_tests(self, slopes, focal_cov):
        k = len(slopes)
        if k < 2:
            self.slope_equality = {"statistic": float("nan"), "df": 0, "p_value": float("nan")}
            self.pairwise = pd.DataFrame(
                columns=["segment_a", "segment_b", "difference", "std_error", "z",
                         "p_value", "p_holm"])
            return
        contrast = np.zeros((k - 1, k))
        contrast[np.arange(k - 1), np.arange(k - 1)] = 1.0
        contrast[np.arange(k - 1), np.arange(1, k)] = -1.0
        diff = contrast @ slopes
        statistic = float(diff @ np.linalg.solve(contrast @ focal_cov @ contrast.T, diff))
        self.slope_equality = {
            "statistic": statistic, "df": k - 1,
            "p_value": float(stats.chi2.sf(statistic, k - 1)),
        }
        rows = []
        for a in range(k):
            for b in range(a + 1, k):
                difference = slopes[a] - slopes[b]
                se = math.sqrt(focal_cov[a, a] + focal_cov[b, b] - 2 * focal_cov[a, b])
                z = difference / se
                rows.append({"segment_a": a + 1, "segment_b": b + 1,
                             "difference": float(difference), "std_error": se,
                             "z": float(z), "p_value": float(2 * stats.norm.sf(abs(z)))})
        pairwise = pd.DataFrame(rows)
        pairwise["p_holm"] = holm_adjust(pairwise["p_value"].to_numpy())
        self.pairwise = pairwise

    # -- presentation -------------------------------------------------------------

    def summary(self):
        """Text / Markdown / LaTeX summary of the estimates, tests and verdicts."""
        model = self.model
        info = [
            ("Outcome", model.outcome_name_),
            ("Method", "EM (maximum likelihood)" if model.method == "em" else "CEM (classification)"),
            ("Respondents", str(self.n_obs)),
            ("Segments", str(model.n_segments_)),
            ("Log-likelihood", f"{model.loglik_:.4f}"),
            ("Parameters", str(model.n_params_)),
            ("Starts reaching the best log-likelihood", f"{model.n_best_starts_} of {len(model.start_logliks_)}"),
            ("Covariance", "observed information" if self.cov_type == "oim" else "robust sandwich"),
            ("Equivalence margin", f"{self.equivalence_margin:g}"),
        ]
        test = self.slope_equality
        tables = [
            ("Segment regressions", self.params),
            ("Segment shares", self.shares),
            (f"Focal predictor verdicts (alpha = {self.alpha:g})", self.verdicts),
        ]
        if model.n_segments_ > 1:
            info.append(("Equal focal slopes (Wald)",
                         f"chi2({test['df']}) = {test['statistic']:.3f}, p = {test['p_value']:.4g}"))
            tables.append(("Pairwise focal slope differences (Holm-adjusted)", self.pairwise))
        return MixtureSummary("Clusterwise regression", info, tables)
