"""What every segmented regression estimator shares: the fit through the engine, the fitted attributes, prediction.

:class:`SegmentedRegression` is the base of
:class:`~trustseg.model.mixture.ClusterwiseRegression` (one equation) and
:class:`~trustseg.model.chain.ChainRegression` (equations sharing the
segments), which are siblings: each only turns its data into the family, the
design, the outcome and the per-row side data of one fit (:class:`FitData`),
and names its coefficients.  Everything else is here: the multi-start search
of :mod:`trustseg.model.search`, the fitted attributes, the segment order,
posteriors, log-likelihoods, the observed information, inference, summary,
information criteria, expected outcomes and simulation.

scikit-learn's conventions: ``__init__`` only stores the hyperparameters,
``fit`` checks them and returns ``self``, fitted attributes end in ``_``,
``random_state`` controls every random step.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from trustseg.model.em import Problem
from trustseg.model.families import met_threshold_groups, take_rows, variance_floor
from trustseg.model.hyperparameters import BOOLEAN, RANDOM_STATE, Interval, OneOf, check_hyperparameters
from trustseg.model.likelihood import information_criteria, log_joint, observed_information, posteriors_and_row_loglik
from trustseg.model.params import MixtureParams, is_params_mapping
from trustseg.model.search import DEFAULT_START_KINDS, SearchSettings, search
from trustseg.model.starts import START_KINDS
from trustseg.model.validation import INTERCEPT


@dataclass
class FitData:
    """One data set as the engine takes it, with what the estimator records about it.

    ``design`` is the family's full design and ``y`` its outcome (an (n, E)
    array for an equation system); ``data`` the per-row side data;
    ``names`` the names of the coefficients' predictors (``feature_names_in_``);
    ``X`` the predictors as the caller's diagnostics read them.
    """

    family: object
    design: np.ndarray
    y: np.ndarray
    w: np.ndarray
    data: dict | None
    names: list
    y_name: str
    dropped_rows: list
    X: np.ndarray
    variance_floor: object = None


#: the hyperparameters both estimators take, with the values they accept
SHARED_CONSTRAINTS = {
    "n_segments": [Interval(Integral, 1, None, closed="left")],
    "n_init": [Interval(Integral, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="neither")],
    "min_share": [Interval(Real, 0, 1, closed="left")],
    "focal_direction": [OneOf(frozenset({1, -1}))],
    "random_state": [RANDOM_STATE],
    "start_kinds": [OneOf(frozenset({"auto"})), list, tuple],
    "n_full_runs": [Interval(Integral, 1, None, closed="left")],
    "search_subsample": [Interval(Integral, 2, None, closed="left")],
    "escape": [BOOLEAN],
    "init_params": [dict, list, tuple, MixtureParams, None],
    "admissible_only": [BOOLEAN],
}


class SegmentedRegression(BaseEstimator):
    """The shared base of the segmented regression estimators (see the module docstring).

    Fitted attributes (segments ordered by the focal predictor's effect,
    steepest in ``focal_direction`` first):

    ``loglik_``, ``n_params_``, ``n_segments_``; ``weights_`` (K,) the
    segment shares; ``coef_`` (K, p) the slopes and ``intercept_`` (K,) the
    intercepts (0 for a family without one); ``extra_`` (K, m) the family's
    further parameters named ``extra_names_``; ``sigma_`` (K,) the residual
    SDs (NaN for a family without one); ``params_`` all of them as a
    :class:`~trustseg.model.params.MixtureParams`; ``family_`` the family in
    force; every start's ``start_logliks_``, ``start_kinds_``,
    ``start_stop_reasons_``, ``start_refined_`` and ``start_reached_best_``,
    with ``n_best_starts_`` and ``optimum_replicated_``;
    ``removed_segments_`` every degenerate segment removed on the way;
    ``variance_floor_`` the floor in force.
    """

    _parameter_constraints: dict = {}

    # -- what a sibling provides ------------------------------------------------

    @abstractmethod
    def _fit_data(self, X, y, sample_weight, missing, family_data) -> FitData:
        """The data of a fit: the family (its bounds and categories from the data), design, outcome, side data."""

    @abstractmethod
    def _validated(self, X, y=None, sample_weight=None, family_data=None):
        """The data as the fitted model reads them: a dict with ``X``, ``design``, ``y``, ``w``; and the side data."""

    @abstractmethod
    def _resolve_focal(self, names) -> int:
        """The column of the focal predictor's coefficient among ``names``."""

    def _focal_effects(self):
        """Each segment's effect of the focal predictor, by which the segments are ordered: its slope."""
        return self.coef_[:, self.focal_index_]

    def _classification(self) -> bool:
        """Whether the fit is classification EM (hard assignments)."""
        return False

    # -- fitting -----------------------------------------------------------------

    def _start_kinds(self):
        kinds = DEFAULT_START_KINDS if self.start_kinds == "auto" else tuple(self.start_kinds)
        unknown = sorted(set(kinds) - set(START_KINDS))
        if unknown or not kinds:
            raise ValueError(f"start_kinds must be 'auto' or a list drawn from {list(START_KINDS)}; "
                             f"got {unknown or list(kinds)}")
        return kinds

    def _given_starts(self, family, n_predictors):
        """``init_params`` as MixtureParams with ``n_segments`` segments each."""
        if self.init_params is None:
            return []
        given = [self.init_params] if is_params_mapping(self.init_params) else list(self.init_params)
        return [MixtureParams.coerce(g, family, n_predictors, int(self.n_segments)) for g in given]

    def _fit(self, X, y, sample_weight, missing, family_data):
        """Check the hyperparameters, build the problem, run the search and store its solution."""
        check_hyperparameters(self, self._parameter_constraints)
        kinds = self._start_kinds()
        with threadpool_limits(limits=1, user_api="blas"):  # EM's products are thin: BLAS threads only contend
            fit_data = self._fit_data(X, y, sample_weight, missing, family_data)
            family = fit_data.family
            given = self._given_starts(family, fit_data.design.shape[1] - int(family.has_intercept))
            if self.n_init + len(given) < 1:
                raise ValueError("n_init is 0 and init_params gives no start: there is nothing to fit from")
            self._record_data(fit_data)
            design, y, w = fit_data.design, fit_data.y, fit_data.w
            problem = Problem(family, design, y, w, family.prepare(y, fit_data.data),
                              family.bounds(design, w, self.variance_floor_), float(self.min_share), float(self.tol),
                              int(self.max_iter), self._classification())
            settings = SearchSettings(int(self.n_segments), int(self.n_init), kinds, self.random_state,
                                      int(self.search_subsample), int(self.n_full_runs), bool(self.escape), given,
                                      bool(self.admissible_only))
            result = search(problem, settings)
        self._store_search(result)
        return self

    def _record_data(self, fit_data):
        """What the model was fitted to: names, focal predictor, family, dropped rows, sizes, the floor."""
        w, y = fit_data.w, fit_data.y
        self.family_ = fit_data.family
        self.family_settings_ = fit_data.family.settings()
        self.feature_names_in_ = np.asarray(fit_data.names, dtype=object)
        self.n_features_in_ = len(fit_data.names)
        self.focal_index_ = self._resolve_focal(list(fit_data.names))
        self.outcome_name_ = fit_data.y_name
        self.dropped_rows_ = list(fit_data.dropped_rows)
        self.n_obs_ = int(len(w))
        self.sum_weights_ = float(w.sum())
        last = y if y.ndim == 1 else y[:, -1]
        self.outcome_variance_ = float(w @ (last - w @ last / w.sum()) ** 2 / w.sum())
        self.variance_floor_ = fit_data.variance_floor

    def _store_search(self, result):
        """The chosen solution and the record of every start; warnings for lost segments and no convergence."""
        k, chosen = int(self.n_segments), result.state
        self.start_logliks_ = np.array([start.loglik for start in result.starts])
        self.start_kinds_ = [start.kind for start in result.starts]
        self.start_stop_reasons_ = [start.stop_reason for start in result.starts]
        self.start_seconds_ = np.array([start.seconds for start in result.starts])
        self.start_refined_ = np.array([start.refined for start in result.starts])
        self.start_reached_best_ = np.array([start.reached_best for start in result.starts])
        self.best_start_ = int(result.best_start)
        self.n_best_starts_ = int(result.n_best_starts)
        self.optimum_replicated_ = bool(result.optimum_replicated)
        self.removed_segments_ = list(result.removed)
        self.start_admissible_ = np.array([start.admissible for start in result.starts])
        self.start_problems_ = [start.problems for start in result.starts]
        self.problems_ = list(result.problems)
        self.admissible_ = bool(result.admissible)
        self.set_aside_ = list(result.set_aside)
        if not self.admissible_:
            warnings.warn(
                f"every solution with {chosen.k} segments that the {len(result.starts)} starts reached has a "
                f"spurious segment ({'; '.join(p for p in self.problems_ if p)}; see problems_): none is a "
                "segmentation of these data, and this one is returned as it is", RuntimeWarning, stacklevel=4)
        if chosen.k < k:
            warnings.warn(
                f"{k - chosen.k} of the {k} requested segments were degenerate in every start and were removed; "
                f"the model has {chosen.k} segments (see removed_segments_)", RuntimeWarning, stacklevel=4)
        if not chosen.converged:
            warnings.warn(
                f"the best of the {len(result.starts)} starts stopped at max_iter={self.max_iter} before converging: "
                "its estimates are not a maximum of the likelihood (converged_ is False); raise max_iter",
                RuntimeWarning, stacklevel=4)
        self.loglik_ = float(chosen.loglik)
        self.classification_loglik_ = (None if chosen.classification_loglik is None
                                       else float(chosen.classification_loglik))
        self.n_iter_ = int(chosen.n_iter)
        self.converged_ = bool(chosen.converged)
        self.n_newton_steps_ = int(chosen.newton_steps)
        self._store_params(chosen.params)

    def _store_params(self, params):
        """Split the solution into the fitted attributes and order the segments."""
        family = self.family_
        beta = np.asarray(params.beta, dtype=float)
        k = len(params.weights)
        self.intercept_ = beta[:, 0].copy() if family.has_intercept else np.zeros(k)
        self.coef_ = beta[:, 1:].copy() if family.has_intercept else beta.copy()
        self.extra_ = np.asarray(params.extra, dtype=float).reshape(k, -1).copy()
        self.sigma_ = family.residual_sd(self.extra_)
        self.weights_ = np.asarray(params.weights, dtype=float).copy()
        self.n_segments_ = k
        self.n_params_ = family.n_parameters(k, self.n_features_in_ + int(family.has_intercept))
        self._reorder()

    def _reorder(self):
        """Order segments by focal effect (steepest in ``focal_direction`` first), then intercept, then share."""

        def rounded(values):
            # compare at 9 significant digits so rounding noise cannot reorder ties
            scale = 10 ** np.floor(np.log10(np.maximum(np.abs(values), 1e-12)))
            return np.round(values / scale, 9) * scale

        order = np.lexsort((-rounded(self.weights_), -rounded(self.intercept_),
                            -rounded(self.focal_direction * self._focal_effects())))
        for name in ("coef_", "intercept_", "sigma_", "weights_", "extra_"):
            setattr(self, name, getattr(self, name)[order].copy())
        if len(getattr(self, "problems_", ())) == len(order):
            self.problems_ = [self.problems_[j] for j in order]

    # -- fitted attributes ---------------------------------------------------------

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            raise AttributeError(f"this {type(self).__name__} is not fitted yet; call fit first")

    @property
    def params_(self) -> MixtureParams:
        """The fitted parameters (shares, coefficients with the intercept first, extras): a warm start."""
        self._check_fitted()
        beta = np.column_stack([self.intercept_, self.coef_]) if self.family_.has_intercept else self.coef_
        return MixtureParams(self.weights_.copy(), np.array(beta, dtype=float), self.extra_.copy())

    @property
    def family_params_(self) -> MixtureParams:
        """The same as :attr:`params_` (the name of earlier versions)."""
        return self.params_

    @property
    def extra_names_(self) -> list[str]:
        """Names of the family's further parameters per segment (columns of ``extra_``)."""
        self._check_fitted()
        return self.family_.extra_names()

    @property
    def coef_terms_(self) -> list[str]:
        """Names of each segment's coefficients: the intercept (if the family has one), then the predictors."""
        self._check_fitted()
        names = [str(n) for n in self.feature_names_in_]
        return ([INTERCEPT] + names) if self.family_.has_intercept else names

    @property
    def param_names_(self) -> list[str]:
        """Names of the free parameters in the order of :meth:`observed_information`.

        Per segment its coefficients and extras (``"<segment>:<term>"``), then
        the logits of the shares of segments 2..K (``"<segment>:logit"``).
        """
        names = []
        for j in range(self.n_segments_):
            names += [f"{j + 1}:{t}" for t in self.coef_terms_ + self.extra_names_]
        return names + [f"{j + 1}:logit" for j in range(1, self.n_segments_)]

    def aic(self) -> float:
        """Akaike's information criterion of the fitted model, -2 loglik + 2 P."""
        self._check_fitted()
        return information_criteria(self.loglik_, self.n_params_, self.n_obs_)["aic"]

    def bic(self) -> float:
        """The Bayesian information criterion of the fitted model, -2 loglik + P log n (n respondents)."""
        self._check_fitted()
        return information_criteria(self.loglik_, self.n_params_, self.n_obs_)["bic"]

    # -- posteriors and likelihoods ------------------------------------------------------

    def _log_joint(self, X, y, sample_weight=None, family_data=None):
        data, rows = self._validated(X, y, sample_weight, family_data)
        rows = self.family_.prepare(data["y"], rows)
        return log_joint(self.family_, data["design"], data["y"], self.params_, rows), data["w"]

    def predict_proba(self, X, y=None, family_data=None):
        """Posterior segment probabilities of each respondent, (n, K), columns in segment order.

        Needs the outcome: membership is read from how well each segment
        explains a respondent's answer (use :meth:`predict_mean` to predict
        the outcome itself).
        """
        joint, _ = self._log_joint(X, self._need_outcome(y, "predict_proba"), family_data=family_data)
        return posteriors_and_row_loglik(joint)[0]

    def predict(self, X, y=None, family_data=None):
        """Most probable segment of each respondent, numbered 1..K (needs the outcome, as :meth:`predict_proba`)."""
        return self.predict_proba(X, self._need_outcome(y, "predict"), family_data).argmax(axis=1) + 1

    def _need_outcome(self, y, method):
        return y

    def score_samples(self, X, y=None, family_data=None):
        """Log-likelihood of each respondent, log f(y_i | x_i)."""
        joint, _ = self._log_joint(X, self._need_outcome(y, "score_samples"), family_data=family_data)
        return posteriors_and_row_loglik(joint)[1]

    def score(self, X, y=None, sample_weight=None, family_data=None):
        """Mean log-likelihood per respondent (weighted mean if weights are given)."""
        joint, w = self._log_joint(X, self._need_outcome(y, "score"), sample_weight, family_data)
        return float(w @ posteriors_and_row_loglik(joint)[1] / w.sum())

    def observed_information(self, X, y=None, sample_weight=None, family_data=None):
        """Hessian, outer product of scores and gradient of the weighted mixture log-likelihood.

        In the parameters named by :attr:`param_names_`; the Hessian is
        analytic (Louis' identity), see :mod:`trustseg.model.inference`.
        """
        data, rows = self._validated(X, y, sample_weight, family_data)
        rows = self.family_.prepare(data["y"], rows)
        return observed_information(self.family_, data["design"], data["y"], data["w"], self.params_, rows)

    def parameter_groups(self) -> np.ndarray:
        """Which parameters of :attr:`param_names_` are one at the solution (ordinal thresholds that met), (p,)."""
        self._check_fitted()
        return met_threshold_groups(self.family_, self.params_)

    def problem_for(self, X, y=None, sample_weight=None, family_data=None, variance_floor=None):
        """The engine's problem of the fitted model on data ``X``, ``y`` (for its diagnostics): the family,
        design, outcome, weights, side data and the box of its parameters (the fitted variance floor unless
        ``variance_floor`` is given)."""
        data, rows = self._validated(X, y, sample_weight, family_data)
        floor = self.variance_floor_ if variance_floor is None else variance_floor
        return Problem(self.family_, data["design"], data["y"], data["w"], self.family_.prepare(data["y"], rows),
                       self.family_.bounds(data["design"], data["w"], floor), float(self.min_share))

    # -- expected outcomes and simulation ----------------------------------------------

    @abstractmethod
    def _predictors_and_side_data(self, X, family_data):
        """The design of ``X`` (no outcome needed) and its per-row side data."""

    def segment_means(self, X, family_data=None):
        """Each segment's expected outcome on the outcome's own scale at ``X``: (n, K), or (n, K, E) for a chain.

        The mean response (identity for gaussian, the mean of the censored
        variable, a probability or a share of trials, an expected count, an
        expected rating) at the predictors ``X``; no outcome needed.
        """
        design, rows = self._predictors_and_side_data(X, family_data)
        params = self.params_
        eta = self.family_.linear_predictors(design, params.beta)
        return np.stack([self.family_.mean(eta[:, j], params.extra[j], rows) for j in range(self.n_segments_)],
                        axis=1)

    def predict_mean(self, X, family_data=None):
        """The expected outcome at ``X`` over the segments, sum_k pi_k E_k[y | x]: (n,), or (n, E) for a chain."""
        means = self.segment_means(X, family_data)
        return np.tensordot(means, self.weights_, axes=([1], [0]))

    def _draw_segments(self, n, rng):
        params = self.params_
        return rng.choice(self.n_segments_, size=n, p=params.weights / params.weights.sum())

    def sample_y(self, X, random_state=None, family_data=None):
        """Outcomes drawn from the fitted mixture at ``X`` (a segment per respondent by the shares, then y)."""
        design, rows = self._predictors_and_side_data(X, family_data)
        rng = np.random.default_rng(random_state)
        params = self.params_
        segment = self._draw_segments(design.shape[0], rng)
        y = None
        for j in range(self.n_segments_):
            members = segment == j
            eta = self.family_.linear_predictor(design[members], params.beta[j])
            drawn = self.family_.simulate(eta, params.extra[j], rng, take_rows(rows, members))
            if y is None:
                y = np.empty((design.shape[0],) + np.shape(drawn)[1:])
            y[members] = drawn
        return y

    # -- inference ------------------------------------------------------------------------

    def inference(self, X, y=None, sample_weight=None, cov_type="oim", alpha=0.05, equivalence_margin=0.1,
                  verdict_adjustment="none", family_data=None):
        """Standard errors, tests and verdicts; see :class:`trustseg.model.inference.MixtureInference`."""
        from trustseg.model.inference import MixtureInference

        return MixtureInference.from_model(
            self, X, y, sample_weight=sample_weight, cov_type=cov_type, alpha=alpha,
            equivalence_margin=equivalence_margin, verdict_adjustment=verdict_adjustment, family_data=family_data)

    def summary(self, X, y=None, sample_weight=None, **options):
        """The model summary (coefficients with standard errors, tests, verdicts): ``inference(...).summary()``."""
        return self.inference(X, y, sample_weight, **options).summary()


def default_variance_floor(family, y, w, given):
    """The variance floor of a normal family: ``given`` (squared outcome units) or the default of the data."""
    if not family.normal:
        return None
    return variance_floor(y, w) if given is None else float(given)
