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
from statsmodels.stats.multitest import multipletests

from trustseg.model._core import INTERCEPT, MixtureParams, observed_information, param_layout, validate_data
from trustseg.render import MixtureSummary


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
        hessian, score_outer, _ = observed_information(MixtureParams.of(model), data["X"], data["y"], data["w"])
        cov = _covariance(hessian, score_outer, cov_type)
        k = model.n_segments_
        terms = [INTERCEPT] + [str(n) for n in model.feature_names_in_]
        names = []
        for j in range(k):
            names += [f"{j + 1}:{t}" for t in terms] + [f"{j + 1}:log_sigma"]
        names += [f"{j + 1}:logit" for j in range(1, k)]
        return cls(model, cov, names, cov_type, alpha, equivalence_margin, data["X"].shape[0])

    # -- tables ----------------------------------------------------------------

    def _build_tables(self):
        model = self.model
        k, p = model.n_segments_, model.n_features_in_
        coef_index, log_sigma_index, logit_index, _ = param_layout(k, p)
        terms = [INTERCEPT] + [str(n) for n in model.feature_names_in_]
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
                variance = focal_cov[a, a] + focal_cov[b, b] - 2 * focal_cov[a, b]
                # a pseudo-inverse covariance (no strict maximum) can give a negative variance: no SE then
                se = math.sqrt(variance) if variance > 0 else float("nan")
                z = difference / se
                rows.append({"segment_a": a + 1, "segment_b": b + 1,
                             "difference": float(difference), "std_error": se,
                             "z": float(z), "p_value": float(2 * stats.norm.sf(abs(z)))})
        pairwise = pd.DataFrame(rows)
        pairwise["p_holm"] = multipletests(pairwise["p_value"].to_numpy(), method="holm")[1]
        self.pairwise = pairwise

    # -- derived quantities --------------------------------------------------------

    @property
    def focal_term(self) -> str:
        """Name of the focal predictor."""
        return str(self.model.feature_names_in_[self.model.focal_index_])

    def get_prediction(self, exog, alpha=None) -> pd.DataFrame:
        """Each segment's fitted line at ``exog`` with a pointwise confidence band.

        Parameters
        ----------
        exog : DataFrame
            Predictor values, one column per predictor the model was fitted on.
        alpha : float, optional
            The band is the two-sided ``1 - alpha`` interval (default: this
            result's ``alpha``).

        Returns
        -------
        DataFrame
            One row per segment and row of ``exog``: ``segment``, the
            predictors, ``fit`` (the segment's expected outcome),
            ``std_error`` (``sqrt(g' V g)`` with ``g = (1, x)`` and ``V`` the
            segment's coefficient covariance from the full mixture
            likelihood), ``lower`` and ``upper``.
        """
        model = self.model
        names = [str(n) for n in model.feature_names_in_]
        absent = [n for n in names if n not in exog.columns]
        if absent:
            raise ValueError(f"exog lacks the predictors {absent}")
        z = stats.norm.ppf(1 - (self.alpha if alpha is None else float(alpha)) / 2)
        coef_index = param_layout(model.n_segments_, model.n_features_in_)[0]
        design = np.column_stack([np.ones(len(exog))] + [exog[n].to_numpy(dtype=float) for n in names])
        frames = []
        for j in range(model.n_segments_):
            coef = np.concatenate([[model.intercept_[j]], model.coef_[j]])
            V = self.cov[np.ix_(coef_index[j], coef_index[j])]
            fit = design @ coef
            se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", design, V, design), 0.0))
            frame = exog[names].reset_index(drop=True).copy()
            frame.insert(0, "segment", j + 1)
            frames.append(frame.assign(fit=fit, std_error=se, lower=fit - z * se, upper=fit + z * se))
        return pd.concat(frames, ignore_index=True)

    def tests_frame(self) -> pd.DataFrame:
        """The Wald test of equal focal slopes and the pairwise differences as one table.

        Columns ``test, segment_a, segment_b, difference, std_error,
        statistic, df, p_value, p_holm``: the first row is the Wald test (chi2
        with K - 1 df), then one row per pair of segments (z statistic,
        Holm-adjusted p-value).
        """
        focal = self.focal_term
        rows = [{
            "test": f"equal {focal} slope in all segments (Wald)",
            "segment_a": pd.NA, "segment_b": pd.NA, "difference": np.nan, "std_error": np.nan,
            "statistic": self.slope_equality["statistic"], "df": self.slope_equality["df"],
            "p_value": self.slope_equality["p_value"], "p_holm": np.nan,
        }]
        for _, row in self.pairwise.iterrows():
            rows.append({
                "test": f"{focal} slope difference", "segment_a": int(row["segment_a"]),
                "segment_b": int(row["segment_b"]), "difference": row["difference"],
                "std_error": row["std_error"], "statistic": row["z"], "df": np.nan,
                "p_value": row["p_value"], "p_holm": row["p_holm"],
            })
        frame = pd.DataFrame(rows)
        frame["segment_a"] = frame["segment_a"].astype("Int64")
        frame["segment_b"] = frame["segment_b"].astype("Int64")
        return frame

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
            ("Starts reaching the best solution", f"{model.n_best_starts_} of {len(model.start_logliks_)}"),
            ("Best solution from both seed streams", "yes" if model.optimum_replicated_ else "no"),
            ("Converged", "yes" if model.converged_ else f"NO: stopped at {model.n_iter_} iterations"),
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
