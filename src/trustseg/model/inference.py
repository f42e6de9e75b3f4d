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

from trustseg.model.diagnostics import grouped_information, information_is_singular
from trustseg.model.params import param_layout
from trustseg.render import MixtureSummary

#: the focal verdicts :class:`MixtureInference` gives (the segments stage adds ``"unreliable"``)
VERDICTS = ("drives_up", "drives_down", "negligible", "does_not_drive", "inconclusive")
#: how a pair of focal slopes compares (column ``comparison`` of ``pairwise`` and tests.csv)
COMPARISONS = ("differ", "alike", "not_shown_to_differ")
VERDICT_ADJUSTMENTS = ("none", "holm")
PAIRWISE_COLUMNS = ["segment_a", "segment_b", "difference", "std_error", "z", "p_value", "p_holm",
                    "p_tost", "p_tost_holm", "comparison"]


def _tost_p_values(estimates, errors, margin):
    """TOST p-values of H0: |estimate| >= margin (Schuirmann 1987): the larger one-sided p-value."""
    estimates, errors = np.asarray(estimates, dtype=float), np.asarray(errors, dtype=float)
    return np.maximum(stats.norm.sf((estimates + margin) / errors), stats.norm.cdf((estimates - margin) / errors))


def _holm(p_values):
    """Holm-adjusted p-values; a NaN (no standard error) stays NaN and does not count as a test."""
    p_values = np.asarray(p_values, dtype=float)
    adjusted = np.full(p_values.shape, np.nan)
    finite = np.isfinite(p_values)
    if finite.any():
        adjusted[finite] = multipletests(p_values[finite], method="holm")[1]
    return adjusted


def _verdict(estimate, significant, equivalent):
    """The four outcomes of an equivalence test, with the direction of a relevant effect."""
    if significant and equivalent:
        return "negligible"
    if significant:
        return "drives_up" if estimate > 0 else "drives_down"
    if equivalent:
        return "does_not_drive"
    return "inconclusive"


def verdict_columns(estimates, errors, alpha, equivalence_margin, verdict_adjustment="none") -> pd.DataFrame:
    """The interval, tests and verdict of each estimate, one row per estimate.

    Columns ``ci_low, ci_high`` (normal 1 - alpha), ``p_zero`` (H0: 0),
    ``p_tost`` (H0: outside ±margin), with ``"holm"`` also
    ``p_zero_adjusted, p_tost_adjusted`` (Holm over the estimates, which then
    decide), and ``verdict`` (:func:`_verdict`).
    """
    estimates, errors = np.asarray(estimates, dtype=float), np.asarray(errors, dtype=float)
    z_two = stats.norm.ppf(1 - alpha / 2)
    out = pd.DataFrame({
        "ci_low": estimates - z_two * errors, "ci_high": estimates + z_two * errors,
        "p_zero": 2 * stats.norm.sf(np.abs(estimates / errors)),
        "p_tost": _tost_p_values(estimates, errors, equivalence_margin),
    })
    p_zero, p_tost = out["p_zero"].to_numpy(), out["p_tost"].to_numpy()
    if verdict_adjustment == "holm":
        p_zero, p_tost = _holm(p_zero), _holm(p_tost)
        out["p_zero_adjusted"], out["p_tost_adjusted"] = p_zero, p_tost
    out["verdict"] = [
        _verdict(est, significant, equivalent)
        # a NaN p-value (no standard error) compares False: neither shown, so inconclusive
        for est, significant, equivalent in zip(estimates, p_zero < alpha, p_tost < alpha)
    ]
    return out


def _comparison(p_holm, p_tost_holm, alpha):
    """``alike`` when the difference is shown within the margin, ``differ`` when shown non-zero, else neither."""
    if p_tost_holm < alpha:
        return "alike"
    if p_holm < alpha:
        return "differ"
    return "not_shown_to_differ"


def _covariance(hessian, score_outer, cov_type, groups=None):
    """The parameter covariance and whether the observed information is singular.

    ``groups`` (:meth:`~trustseg.model.estimator.SegmentedRegression.parameter_groups`)
    merges the parameters that are one at the solution (two ordinal
    thresholds that met): the covariance is computed in the merged
    parameters and each member of a group gets the group's row and column.

    A singular information (:func:`~trustseg.model.diagnostics.information_is_singular`)
    is inverted by a pseudo-inverse, which can give a parameter a variance of
    zero or below: such a variance cannot be a standard error, so its row and
    column of the covariance are NaN (and so are its standard error, interval
    and tests), never a negative variance.
    """
    if groups is not None and len(np.unique(groups)) < len(groups):
        _, column = np.unique(groups, return_inverse=True)
        cov, singular = _covariance(grouped_information(hessian, groups), grouped_information(score_outer, groups),
                                    cov_type)
        return cov[np.ix_(column, column)], singular
    information = -hessian
    singular = information_is_singular(information)
    if singular:
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
        cov = inverse
    else:
        sandwich = inverse @ score_outer @ inverse
        cov = (sandwich + sandwich.T) / 2
    undefined = ~(np.diag(cov) > 0)
    cov[undefined, :] = np.nan
    cov[:, undefined] = np.nan
    return cov, singular


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
        For the focal predictor in each segment: estimate, the two-sided
        1-alpha interval (``ci_low``, ``ci_high``), ``p_zero`` (two-sided
        p-value of H0: slope = 0), ``p_tost`` (TOST p-value of H0: |slope| >=
        margin, the larger of the two one-sided p-values; Schuirmann 1987),
        with ``verdict_adjustment="holm"`` also ``p_zero_adjusted`` and
        ``p_tost_adjusted`` (each Holm-adjusted over the K segments), and the
        verdict, one of :data:`VERDICTS`, from the four outcomes of an
        equivalence test (significant = ``p_zero < alpha``, i.e. the 1-alpha
        interval excludes 0; equivalent = ``p_tost < alpha``, i.e. the
        1-2alpha interval lies inside +-margin; the adjusted p-values when
        adjusted):

        * ``drives_up`` / ``drives_down``: significant and not equivalent,
          slope above / below zero -- an effect of relevant size may exist;
        * ``negligible``: significant and equivalent -- a real but negligible
          effect (a large sample detects a slope of 0.05 inside +-0.1);
        * ``does_not_drive``: equivalent and not significant;
        * ``inconclusive``: neither.  A non-significant slope alone is never
          ``does_not_drive``.

        By default (``verdict_adjustment="none"``) each segment's verdict is a
        test at level alpha, not corrected for testing K segments at once.
    verdict_adjustment : {"none", "holm"}
        Whether the verdicts' p-values were Holm-adjusted over the segments.
    slope_equality : dict
        Wald test that the focal slope is equal in all segments: statistic, df
        (K-1) and p_value (NaN for a one-segment model, where it is undefined).
    pairwise : DataFrame
        segment_a, segment_b, difference (slope a - slope b), std_error, z,
        p_value, p_holm (Holm over the pairs), p_tost and p_tost_holm (TOST of
        H0: |difference| >= margin, raw and Holm over the pairs) and
        ``comparison``, one of :data:`COMPARISONS`: ``alike`` when the
        difference is shown to lie within +-margin (``p_tost_holm < alpha``,
        whether or not it is also significant), else ``differ`` when
        ``p_holm < alpha``, else ``not_shown_to_differ`` -- a non-significant
        difference is not evidence that two slopes are the same.
    cov : ndarray
        Covariance of all parameters, ordered as ``param_names``; the row and
        column of a parameter whose variance the information cannot give
        (zero or below, from a pseudo-inverse) are NaN.
    singular_information : bool
        The observed information is not positive definite: the covariance is
        a pseudo-inverse and no standard error can be trusted.
    param_names : list of str
        "<segment>:<term>" for coefficients, "<segment>:log_sigma", and
        "<segment>:logit" (segments 2..K; segment 1 is the reference).
    """

    def __init__(self, model, cov, param_names, cov_type, alpha, equivalence_margin, n_obs,
                 singular_information=False, verdict_adjustment="none"):
        if verdict_adjustment not in VERDICT_ADJUSTMENTS:
            raise ValueError(f"verdict_adjustment must be one of {VERDICT_ADJUSTMENTS}, not {verdict_adjustment!r}")
        self.verdict_adjustment = verdict_adjustment
        self.model = model
        self.cov = cov
        self.singular_information = bool(singular_information)
        self.param_names = param_names
        self.cov_type = cov_type
        self.alpha = float(alpha)
        self.equivalence_margin = float(equivalence_margin)
        self.n_obs = n_obs
        self._build_tables()

    @classmethod
    def from_model(cls, model, X, y, sample_weight=None, cov_type="oim", alpha=0.05,
                   equivalence_margin=0.1, verdict_adjustment="none", family_data=None):
        """Compute the covariance for ``model`` on the data it was fitted to.

        Coefficients, their tests and the focal verdicts are on the scale of
        the family's linear predictor (outcome points for gaussian and
        censored, log odds for binomial and ordinal, log counts for
        poisson); so is ``equivalence_margin``.

        ``verdict_adjustment="holm"`` Holm-adjusts the zero and equivalence
        tests of the focal slope over the K segments before the verdicts are
        given; the default ``"none"`` tests each segment at level ``alpha``.
        """
        if verdict_adjustment not in VERDICT_ADJUSTMENTS:
            raise ValueError(f"verdict_adjustment must be one of {VERDICT_ADJUSTMENTS}, not {verdict_adjustment!r}")
        if cov_type not in ("oim", "robust"):
            raise ValueError(f"cov_type must be 'oim' or 'robust', not {cov_type!r}")
        if not 0 < alpha < 0.5:
            raise ValueError("alpha must lie in (0, 0.5)")
        if equivalence_margin <= 0:
            raise ValueError("equivalence_margin must be positive")
        model._check_fitted()
        hessian, score_outer, _ = model.observed_information(X, y, sample_weight, family_data)
        cov, singular = _covariance(hessian, score_outer, cov_type, model.parameter_groups())
        n_obs = len(X) if y is None else len(np.asarray(y))  # a chain's outcomes are columns of X
        return cls(model, cov, model.param_names_, cov_type, alpha, equivalence_margin, n_obs,
                   singular_information=singular, verdict_adjustment=verdict_adjustment)

    # -- tables ----------------------------------------------------------------

    def _layout(self):
        """Positions of each segment's coefficients and extras, and of the logits, in ``cov``."""
        model = self.model
        q = len(model.coef_terms_)
        segment_index, logit_index, _ = param_layout(model.n_segments_, q, len(model.extra_names_))
        return [index[:q] for index in segment_index], [index[q:] for index in segment_index], logit_index

    def _coefficients(self, j):
        model = self.model
        if model.family_.has_intercept:
            return np.concatenate([[model.intercept_[j]], model.coef_[j]])
        return np.asarray(model.coef_[j], dtype=float)

    def _build_tables(self):
        model = self.model
        k = model.n_segments_
        coef_index, extra_index, logit_index = self._layout()
        terms = model.coef_terms_
        z_crit = stats.norm.ppf(1 - self.alpha / 2)
        rows = []
        for j in range(k):
            estimates = self._coefficients(j)
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
        extra_rows = []
        for j in range(k):
            errors = np.sqrt(np.diag(self.cov)[extra_index[j]])
            for term, est, se in zip(model.extra_names_, model.extra_[j], errors):
                extra_rows.append({"segment": j + 1, "term": term, "estimate": float(est), "std_error": float(se),
                                   "ci_low": float(est - z_crit * se), "ci_high": float(est + z_crit * se)})
        self.extras = pd.DataFrame(extra_rows, columns=["segment", "term", "estimate", "std_error", "ci_low",
                                                        "ci_high"])
        # sigma by the delta method from log sigma (empty for families without one residual SD per segment)
        log_sigma = self.extras[(self.extras["term"] == "log_sigma") & np.isfinite(model.sigma_).all()]
        self.sigmas = pd.DataFrame({
            "segment": log_sigma["segment"].to_numpy(), "estimate": np.exp(log_sigma["estimate"].to_numpy()),
            "std_error": np.exp(log_sigma["estimate"].to_numpy()) * log_sigma["std_error"].to_numpy(),
        })

        focal_column = model.coef_terms_.index(self.focal_term)
        focal_positions = np.array([coef_index[j][focal_column] for j in range(k)])
        focal_slopes = model.coef_[:, model.focal_index_]
        focal_cov = self.cov[np.ix_(focal_positions, focal_positions)]
        self._verdicts(focal_slopes, np.sqrt(np.diag(focal_cov)), self.focal_term)
        self._slope_tests(focal_slopes, focal_cov)

    def _verdicts(self, slopes, errors, term):
        head = pd.DataFrame({"segment": np.arange(1, len(slopes) + 1), "term": term,
                             "estimate": np.asarray(slopes, dtype=float)})
        tests = verdict_columns(slopes, errors, self.alpha, self.equivalence_margin, self.verdict_adjustment)
        self.verdicts = pd.concat([head, tests], axis=1)

    def _slope_tests(self, slopes, focal_cov):
        k = len(slopes)
        if k < 2:
            self.slope_equality = {"statistic": float("nan"), "df": 0, "p_value": float("nan")}
            self.pairwise = pd.DataFrame(columns=PAIRWISE_COLUMNS)
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
        pairwise["p_holm"] = _holm(pairwise["p_value"].to_numpy())
        # the equivalence test of each difference: "not significant" alone never says two slopes are alike
        pairwise["p_tost"] = _tost_p_values(pairwise["difference"].to_numpy(), pairwise["std_error"].to_numpy(),
                                            self.equivalence_margin)
        pairwise["p_tost_holm"] = _holm(pairwise["p_tost"].to_numpy())
        pairwise["comparison"] = [
            _comparison(p_holm, p_tost_holm, self.alpha)
            for p_holm, p_tost_holm in zip(pairwise["p_holm"], pairwise["p_tost_holm"])
        ]
        self.pairwise = pairwise[PAIRWISE_COLUMNS]

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
        coef_index = self._layout()[0]
        columns = [exog[n].to_numpy(dtype=float) for n in names]
        design = np.column_stack(([np.ones(len(exog))] if model.family_.has_intercept else []) + columns)
        family = model.family_
        frames = []
        for j in range(model.n_segments_):
            V = self.cov[np.ix_(coef_index[j], coef_index[j])]
            fit = design @ self._coefficients(j)
            se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", design, V, design), 0.0))
            frame = exog[names].reset_index(drop=True).copy()
            frame.insert(0, "segment", j + 1)
            frame = frame.assign(fit=fit, std_error=se, lower=fit - z * se, upper=fit + z * se)
            if family.mean_label is not None:
                # the band of the linear predictor carried to the outcome's scale (the mean is monotone in it)
                extra = model.extra_[j]
                frame = frame.assign(mean=family.mean(fit, extra), mean_lower=family.mean(fit - z * se, extra),
                                     mean_upper=family.mean(fit + z * se, extra))
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def tests_frame(self) -> pd.DataFrame:
        """The Wald test of equal focal slopes and the pairwise differences as one table.

        Columns ``test, segment_a, segment_b, difference, std_error,
        statistic, df, p_value, p_holm, p_tost, p_tost_holm, comparison``:
        the first row is the Wald test (chi2 with K - 1 df; ``comparison``
        ``differ`` or ``not_shown_to_differ``), then one row per pair of
        segments (z statistic, Holm-adjusted p-value, the equivalence test of
        the difference against +-margin and the pair's ``comparison``; see
        :attr:`pairwise`).
        """
        focal = self.focal_term
        wald_p = self.slope_equality["p_value"]
        rows = [{
            "test": f"equal {focal} slope in all segments (Wald)",
            "segment_a": pd.NA, "segment_b": pd.NA, "difference": np.nan, "std_error": np.nan,
            "statistic": self.slope_equality["statistic"], "df": self.slope_equality["df"],
            "p_value": wald_p, "p_holm": np.nan, "p_tost": np.nan, "p_tost_holm": np.nan,
            "comparison": _comparison(wald_p, np.nan, self.alpha) if np.isfinite(wald_p) else "",
        }]
        for _, row in self.pairwise.iterrows():
            rows.append({
                "test": f"{focal} slope difference", "segment_a": int(row["segment_a"]),
                "segment_b": int(row["segment_b"]), "difference": row["difference"],
                "std_error": row["std_error"], "statistic": row["z"], "df": np.nan,
                "p_value": row["p_value"], "p_holm": row["p_holm"], "p_tost": row["p_tost"],
                "p_tost_holm": row["p_tost_holm"], "comparison": row["comparison"],
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
            ("Family", f"{model.family_.description} (coefficients in "
                       f"{model.family_.coefficient_unit})"),
            ("Method", "EM (maximum likelihood)" if getattr(model, "method", "em") == "em" else "CEM (classification)"),
            ("Respondents", str(self.n_obs)),
            ("Segments", str(model.n_segments_)),
            ("Log-likelihood", f"{model.loglik_:.4f}"),
            ("Parameters", str(model.n_params_)),
            ("Starts reaching the best solution", f"{model.n_best_starts_} of {len(model.start_logliks_)}"),
            ("Best solution from both seed streams", "yes" if model.optimum_replicated_ else "no"),
            ("Converged", "yes" if model.converged_ else f"NO: stopped at {model.n_iter_} iterations"),
            ("Covariance", "observed information" if self.cov_type == "oim" else "robust sandwich"),
            ("Equivalence margin", f"{self.equivalence_margin:g}"),
            ("Verdicts", "Holm-adjusted over the segments" if self.verdict_adjustment == "holm"
             else f"each segment at level {self.alpha:g}, not adjusted for {model.n_segments_} segments"),
        ]
        test = self.slope_equality
        tables = [
            ("Segment regressions", self.params),
            ("Segment shares", self.shares),
            *([("Family parameters (log sigma, thresholds)", self.extras)] if len(self.extras) else []),
            (f"Focal predictor verdicts (alpha = {self.alpha:g})", self.verdicts),
        ]
        if model.n_segments_ > 1:
            info.append(("Equal focal slopes (Wald)",
                         f"chi2({test['df']}) = {test['statistic']:.3f}, p = {test['p_value']:.4g}"))
            tables.append((f"Pairwise focal slope differences (Holm-adjusted; equivalence margin "
                           f"\u00b1{self.equivalence_margin:g})", self.pairwise))
        return MixtureSummary("Clusterwise regression", info, tables)
