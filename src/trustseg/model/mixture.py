"""Clusterwise regression: a finite mixture of Gaussian linear regressions.

The estimator follows DeSarbo & Cron (1988): respondent ``i`` belongs to segment
``k`` with probability ``pi_k`` and, within the segment,
``y_i ~ N(a_k + x_i' b_k, sigma_k^2)``.  Parameters are estimated by maximum
likelihood with the EM algorithm (``method="em"``) or by the classification EM
algorithm with one common residual variance (``method="cem"``), which is
Spaeth's clusterwise regression with segment proportions.

The likelihood itself (validation, E- and M-steps, scores and Hessian) lives in
:mod:`trustseg.model._core` and the algorithm (EM runs, starts, Newton finish)
in :mod:`trustseg.model._em`; this module holds the scikit-learn style
estimator.  Starts follow the emEM scheme: ``n_init`` short EM runs from random
partitions (on a random subsample when the data are large), then full EM from
the best few, plus a full run from every start given in ``init_params``.
``start_logliks_`` keeps, for every start, the full-data log-likelihood that
start reached.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from threadpoolctl import threadpool_limits

from trustseg.errors import DataError
from trustseg.model._core import (
    MixtureParams,
    Problem,
    check_identifiable,
    mixture_loglik,
    reached_optimum,
    validate_data,
)
from trustseg.model._em import newton_polish, run_em, start_from_params, start_from_partition
from trustseg.progress import Progress

__all__ = ["ClusterwiseRegression", "MixtureParams", "reached_optimum", "validate_data"]

# EM hands over to Newton's method below this relative log-likelihood change.
_NEWTON_SWITCH_TOL = 1e-6
# Default variance floor, relative to the weighted variance of the outcome.
DEFAULT_RELATIVE_FLOOR = 1e-3
_FORMAT = "trustseg.ClusterwiseRegression/2"


class ClusterwiseRegression(BaseEstimator):
    """Finite mixture of Gaussian linear regressions (clusterwise regression).

    Parameters
    ----------
    n_segments : int, default 3
        Number of segments K requested.
    n_init : int, default 20
        Number of random-partition starts (emEM).  May be 0 when
        ``init_params`` gives at least one start.
    method : {"em", "cem"}, default "em"
        ``"em"``: maximum likelihood with segment-specific variances
        (DeSarbo & Cron 1988).  ``"cem"``: classification EM with one common
        variance (Spaeth's clusterwise regression); ``loglik_`` is then the
        mixture log-likelihood at the CEM solution and
        ``classification_loglik_`` the criterion CEM maximised.
    max_iter : int, default 1000
        Maximum EM iterations of a full run.
    tol : float, default 1e-8
        Convergence tolerance on the relative change of the log-likelihood.
    min_share : float, default 0.03
        Segments whose (weighted) share falls below this are removed.
    variance_floor : float, optional
        Smallest residual variance a segment may have, in squared outcome
        units, so a flat segment at a rating-scale ceiling cannot drive the
        likelihood to infinity.  Default: ``1e-3`` times the weighted variance
        of y.  The floor in force is ``variance_floor_``; give it to a refit
        on resampled data so every refit uses the same floor.
    focal : str or int, optional
        The focal predictor (segments are ordered by its slope, verdicts are
        given for it).  Default: the first column of X.
    random_state : int, numpy Generator or None, default 0
        Seeds every random step (partitions, subsample).
    n_short_iter : int, default 20
        EM iterations of each short emEM run.
    n_full_runs : int, optional
        How many of the best short runs are continued to convergence.  Default:
        every start when ``n * n_init <= 200_000`` (cheap), else 3.
    short_subsample : int, default 20_000
        With more respondents than this, the short runs use a random subsample
        of this size (full-data log-likelihoods still rank the starts, and the
        full runs always use all respondents).
    init_params : MixtureParams, mapping or list of them, optional
        Starting parameters on the original scale (``intercept``, ``coef``,
        ``sigma``, ``weights``; see :class:`~trustseg.model._core.MixtureParams`),
        each with ``n_segments`` segments.  Each is one more start, run to
        convergence (Newton finish included) beside the random starts; the
        solution is chosen among all starts by the same rule.

    Attributes
    ----------
    loglik_ : float
        Maximised (weighted) log-likelihood ``sum_i w_i log f(y_i | x_i)``.
    coef_, intercept_, sigma_, weights_ : ndarray
        Slopes (K, p), intercepts (K,), residual standard deviations (K,) and
        segment shares (K,), segments ordered by the focal slope, steepest first.
    start_logliks_ : ndarray of shape (n_init + number of given starts,)
        Full-data log-likelihood each start reached (after its full run if
        ``start_refined_`` is True, otherwise after its short run); random
        starts first, then the given ones.
    start_kinds_ : list of str
        ``"random"`` (a random partition) or ``"given"`` (``init_params``) per start.
    variance_floor_ : float
        The variance floor in force (squared outcome units).
    n_best_starts_ : int
        Starts within a relative 1e-6 of the best log-likelihood.
    removed_segments_ : list of dict
        Every degenerate segment removed in any start, with the start, the stage
        ("short" or "full"), the iteration and the reason; ``in_final`` marks
        removals in the start that produced the returned solution.
    """

    # every parameter's admissible values, checked in fit() (scikit-learn's convention)
    _parameter_constraints: dict = {
        "n_segments": [Interval(Integral, 1, None, closed="left")],
        "n_init": [Interval(Integral, 0, None, closed="left")],
        "method": [StrOptions({"em", "cem"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "min_share": [Interval(Real, 0, 1, closed="left")],
        "variance_floor": [Interval(Real, 0, None, closed="neither"), None],
        "focal": [str, Interval(Integral, 0, None, closed="left"), None],
        "random_state": ["random_state"],
        "n_short_iter": [Interval(Integral, 1, None, closed="left")],
        "n_full_runs": [Interval(Integral, 1, None, closed="left"), None],
        "short_subsample": [Interval(Integral, 2, None, closed="left")],
        "init_params": [dict, list, tuple, None],
    }

    def __init__(
        self,
        n_segments=3,
        n_init=20,
        method="em",
        max_iter=1000,
        tol=1e-8,
        min_share=0.03,
        variance_floor=None,
        focal=None,
        random_state=0,
        n_short_iter=20,
        n_full_runs=None,
        short_subsample=20_000,
        init_params=None,
    ):
        self.n_segments = n_segments
        self.n_init = n_init
        self.method = method
        self.max_iter = max_iter
        self.tol = tol
        self.min_share = min_share
        self.variance_floor = variance_floor
        self.focal = focal
        self.random_state = random_state
        self.n_short_iter = n_short_iter
        self.n_full_runs = n_full_runs
        self.short_subsample = short_subsample
        self.init_params = init_params

    # -- fitting ------------------------------------------------------------

    def _given_starts(self):
        """``init_params`` as a list of MixtureParams with ``n_segments`` segments each."""
        if self.init_params is None:
            return []
        given = self.init_params
        if isinstance(given, (dict, MixtureParams)):
            given = [given]
        starts = [MixtureParams.coerce(g) for g in given]
        for s in starts:
            if len(s.intercept) != self.n_segments:
                raise ValueError(
                    f"init_params has a start with {len(s.intercept)} segments; n_segments is {self.n_segments}"
                )
        return starts

    def _resolve_focal(self, names):
        if self.focal is None:
            return 0
        if isinstance(self.focal, Integral):
            if not 0 <= self.focal < len(names):
                raise DataError(f"focal index {self.focal} outside the {len(names)} predictors")
            return int(self.focal)
        if self.focal not in names:
            raise DataError(f"focal predictor {self.focal!r} is not a column of X: {names}")
        return names.index(self.focal)

    def fit(self, X, y, sample_weight=None, missing="raise"):
        """Fit the mixture by emEM.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n, p)
        y : Series or array-like of shape (n,)
        sample_weight : array-like of shape (n,), optional
            Survey weights (need not be integers).
        missing : {"raise", "drop"}
            ``"raise"`` refuses NaN/inf and says where they are; ``"drop"``
            drops those rows and records them in ``dropped_rows_``.

        Returns
        -------
        self
        """
        self._validate_params()
        given = self._given_starts()
        if self.n_init + len(given) < 1:
            raise ValueError("n_init is 0 and init_params gives no start: there is nothing to fit from")
        # EM's matrix products are thin (n x K times n x few): multithreaded BLAS
        # only adds synchronisation, which on a shared machine costs up to 10x.
        with threadpool_limits(limits=1, user_api="blas"):
            problem, settings = self._prepare(X, y, sample_weight, missing)
            states, start_logliks = self._short_runs(problem, settings)
            refined = self._full_runs(problem, settings, states, start_logliks, given)
            self._choose(problem, states, np.asarray(start_logliks), np.asarray(refined), len(given))
        return self

    def _prepare(self, X, y, sample_weight, missing):
        """Validate the data, record what was fitted to, and build the centred problem."""
        data = validate_data(X, y, sample_weight, missing)
        X_, y_, w = data["X"], data["y"], data["w"]
        check_identifiable(X_, y_, w, data["names"], int(self.n_segments))
        self.feature_names_in_ = np.asarray(data["names"], dtype=object)
        self.n_features_in_ = X_.shape[1]
        self.focal_index_ = self._resolve_focal(data["names"])
        self.outcome_name_ = data["y_name"]
        self.dropped_rows_ = data["dropped_rows"]
        self.n_obs_ = int(X_.shape[0])
        self.sum_weights_ = float(w.sum())
        problem = Problem(X_, y_, w)
        self.outcome_variance_ = problem.var_y
        if self.variance_floor is None:
            self.variance_floor_ = DEFAULT_RELATIVE_FLOOR * problem.var_y
        else:
            self.variance_floor_ = float(self.variance_floor)
        settings = {
            "method": self.method,
            "tol": float(self.tol),
            "min_share": float(self.min_share),
            "var_floor": self.variance_floor_,
        }
        return problem, settings

    def _short_runs(self, problem, settings):
        """Stage 1 of emEM: short EM runs from random partitions (on a subsample for large n)."""
        k = int(self.n_segments)
        rng = (
            self.random_state
            if isinstance(self.random_state, np.random.Generator)
            else np.random.default_rng(self.random_state)
        )
        seeds = rng.bit_generator.seed_seq.spawn(self.n_init + 1)
        short_problem = problem
        if problem.n > self.short_subsample:
            rows = np.sort(
                np.random.default_rng(seeds[-1]).choice(problem.n, size=int(self.short_subsample), replace=False)
            )
            short_problem = problem.subset(rows)
        states = []
        progress = Progress(self.n_init, f"K={k}: short EM runs from random starts")
        for start in range(self.n_init):
            state = start_from_partition(short_problem, k, np.random.default_rng(seeds[start]), settings)
            state = run_em(short_problem, state, settings, self.n_short_iter, start, "short")
            if short_problem is not problem:
                state.loglik, state.residuals = mixture_loglik(problem, state.shares, state.coefs, state.variances)
                state.converged = False
            elif self.method == "cem":
                state.loglik, state.residuals = mixture_loglik(problem, state.shares, state.coefs, state.variances)
            states.append(state)
            progress.update(start + 1)
        return states, [s.loglik for s in states]

    def _full_runs(self, problem, settings, states, start_logliks, given):
        """Stage 2: full runs from the best short runs and from every given start."""
        k = int(self.n_segments)
        n_full = self.n_full_runs
        if n_full is None:
            n_full = self.n_init if problem.n * self.n_init <= 200_000 else 3
        n_full = int(min(max(n_full, 1), self.n_init))
        order = sorted(range(self.n_init), key=lambda s: (-len(states[s].labels), -start_logliks[s], s))
        chosen = order[:n_full]
        for params in given:
            states.append(start_from_params(problem, params, settings))
            start_logliks.append(-np.inf)
            chosen.append(len(states) - 1)
        refined = [False] * len(states)
        progress = Progress(len(chosen), f"K={k}: full EM from the best starts")
        for done, start in enumerate(chosen, start=1):
            state = self._refine(problem, states[start], settings, start)
            if self.method == "cem":
                state.classification_loglik = state.loglik
                state.loglik, _ = mixture_loglik(problem, state.shares, state.coefs, state.variances)
            states[start] = state
            start_logliks[start] = state.loglik
            refined[start] = True
            progress.update(done)
        return refined

    def _choose(self, problem, states, start_logliks, refined, n_given):
        """The solution: most segments kept, then the highest log-likelihood, among the refined starts."""
        k = int(self.n_segments)
        best = min(np.flatnonzero(refined), key=lambda s: (-len(states[s].labels), -start_logliks[s], s))
        chosen = states[best]
        self.start_logliks_ = start_logliks
        self.start_refined_ = refined
        self.start_kinds_ = ["random"] * self.n_init + ["given"] * n_given
        self.best_start_ = int(best)
        self.n_best_starts_ = int(np.sum(reached_optimum(start_logliks, start_logliks[best])))
        self.removed_segments_ = [
            {**record, "in_final": bool(s == best)} for s, state in enumerate(states) for record in state.removed
        ]
        if len(chosen.labels) < k:
            warnings.warn(
                f"{k - len(chosen.labels)} of the {k} requested segments were degenerate in every start and were "
                f"removed; the model has {len(chosen.labels)} segments (see removed_segments_)",
                RuntimeWarning,
                stacklevel=3,
            )
        self.loglik_ = float(chosen.loglik)
        self.classification_loglik_ = float(chosen.classification_loglik) if self.method == "cem" else None
        self.n_iter_ = int(chosen.n_iter)
        self.converged_ = bool(chosen.converged)
        self.n_newton_steps_ = int(getattr(chosen, "newton_steps", 0))
        self._store_solution(problem, chosen.shares, chosen.coefs, chosen.variances)

    def _refine(self, problem, state, settings, start):
        """Run one start to convergence on all respondents.

        EM converges linearly, and slowly where segments overlap.  For ML fits
        EM therefore runs only until the relative log-likelihood change drops
        below ``max(tol, 1e-6)``; safeguarded Newton steps with the analytic
        observed information then finish with quadratic convergence.  If
        Newton cannot (a variance on its floor, an indefinite Hessian), EM
        simply continues to ``tol``.
        """
        if self.method == "cem":
            return run_em(problem, state, settings, self.max_iter, start, "full")
        switch_tol = max(settings["tol"], _NEWTON_SWITCH_TOL)
        state = run_em(problem, state, settings, self.max_iter, start, "full", tol=switch_tol)
        if state.converged:
            polished = newton_polish(problem, state, settings)
            if polished is not None:
                return polished
        if state.n_iter < self.max_iter and switch_tol > settings["tol"]:
            state = run_em(problem, state, settings, self.max_iter - state.n_iter, start, "full")
        return state

    def _reorder(self):
        """Order segments by focal slope (steepest first), then intercept, then share."""

        def rounded(values):
            # compare at 9 significant digits so rounding noise cannot reorder ties
            scale = 10 ** np.floor(np.log10(np.maximum(np.abs(values), 1e-12)))
            return np.round(values / scale, 9) * scale

        order = np.lexsort((
            -rounded(self.weights_),
            -rounded(self.intercept_),
            -rounded(self.coef_[:, self.focal_index_]),
        ))
        self.coef_ = self.coef_[order].copy()
        self.intercept_ = self.intercept_[order].copy()
        self.sigma_ = self.sigma_[order].copy()
        self.weights_ = self.weights_[order].copy()

    def _store_solution(self, problem, shares, coefs_centred, variances):
        """Convert to the original scale and order the segments."""
        slopes = coefs_centred[:, 1:]
        self.coef_ = slopes.copy()
        self.intercept_ = problem.original_intercepts(coefs_centred)
        self.sigma_ = np.sqrt(variances)
        self.weights_ = shares.copy()
        self.n_segments_ = int(len(shares))
        self.n_params_ = self._count_params()
        self._reorder()

    def _count_params(self):
        k, p = self.n_segments_, self.n_features_in_
        n_sigmas = 1 if self.method == "cem" else k
        return int(k * (p + 1) + n_sigmas + (k - 1))

    @property
    def params_(self) -> MixtureParams:
        """The fitted parameters as :class:`MixtureParams` (a warm start for another fit)."""
        self._check_fitted()
        return MixtureParams.of(self)

    # -- using a fitted model ---------------------------------------------

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            raise AttributeError("this ClusterwiseRegression is not fitted yet; call fit first")

    def _log_joint(self, X, y, sample_weight=None):
        self._check_fitted()
        data = validate_data(X, y, sample_weight, "raise", list(self.feature_names_in_))
        return self.params_.log_joint(data["X"], data["y"]), data["w"]

    def predict_proba(self, X, y):
        """Posterior segment probabilities, shape (n, K), columns in segment order."""
        joint, _ = self._log_joint(X, y)
        return np.exp(joint - logsumexp(joint, axis=1, keepdims=True))

    def predict(self, X, y):
        """Most probable segment of each respondent, numbered 1..K."""
        return self.predict_proba(X, y).argmax(axis=1) + 1

    def score_samples(self, X, y):
        """Log-likelihood of each respondent, log f(y_i | x_i)."""
        joint, _ = self._log_joint(X, y)
        return logsumexp(joint, axis=1)

    def score(self, X, y, sample_weight=None):
        """Mean log-likelihood per respondent (weighted mean if weights are given)."""
        joint, w = self._log_joint(X, y, sample_weight)
        return float(w @ logsumexp(joint, axis=1) / w.sum())

    def inference(
        self, X, y, sample_weight=None, cov_type="oim", alpha=0.05, equivalence_margin=0.1
    ):
        """Standard errors, tests and verdicts; see :class:`trustseg.model.inference.MixtureInference`."""
        from trustseg.model.inference import MixtureInference

        return MixtureInference.from_model(
            self,
            X,
            y,
            sample_weight=sample_weight,
            cov_type=cov_type,
            alpha=alpha,
            equivalence_margin=equivalence_margin,
        )

    # -- serialisation -------------------------------------------------------

    def to_dict(self):
        """A JSON-serialisable dict that :meth:`from_dict` turns back into this model."""
        self._check_fitted()
        params = self.get_params()
        if isinstance(params["random_state"], np.random.Generator):
            params["random_state"] = None
        if isinstance(params["focal"], Integral):
            params["focal"] = int(params["focal"])
        if params["init_params"] is not None:
            params["init_params"] = [
                {name: np.asarray(value).tolist() for name, value in start._asdict().items()}
                for start in self._given_starts()
            ]
        return {
            "format": _FORMAT,
            "hyperparameters": params,
            "feature_names_in": [str(n) for n in self.feature_names_in_],
            "outcome_name": self.outcome_name_,
            "focal_index": int(self.focal_index_),
            "n_segments": int(self.n_segments_),
            "intercept": self.intercept_.tolist(),
            "coef": self.coef_.tolist(),
            "sigma": self.sigma_.tolist(),
            "weights": self.weights_.tolist(),
            "loglik": float(self.loglik_),
            "classification_loglik": self.classification_loglik_,
            "n_params": int(self.n_params_),
            "n_iter": int(self.n_iter_),
            "n_newton_steps": int(self.n_newton_steps_),
            "converged": bool(self.converged_),
            "start_logliks": self.start_logliks_.tolist(),
            "start_refined": self.start_refined_.tolist(),
            "start_kinds": list(self.start_kinds_),
            "best_start": int(self.best_start_),
            "n_best_starts": int(self.n_best_starts_),
            "removed_segments": [dict(r) for r in self.removed_segments_],
            "dropped_rows": list(self.dropped_rows_),
            "n_obs": int(self.n_obs_),
            "sum_weights": float(self.sum_weights_),
            "outcome_variance": float(self.outcome_variance_),
            "variance_floor": float(self.variance_floor_),
        }

    @classmethod
    def from_dict(cls, d):
        """Rebuild a fitted model from :meth:`to_dict` output."""
        if d.get("format") != _FORMAT:
            raise DataError(
                f"this fitted model was saved as {d.get('format')!r}, which this version of trustseg "
                f"({_FORMAT}) cannot read; fit it again (delete the old results/ and rerun)"
            )
        model = cls(**d["hyperparameters"])
        model.feature_names_in_ = np.asarray(d["feature_names_in"], dtype=object)
        model.n_features_in_ = len(d["feature_names_in"])
        model.outcome_name_ = d["outcome_name"]
        model.focal_index_ = int(d["focal_index"])
        model.n_segments_ = int(d["n_segments"])
        model.intercept_ = np.asarray(d["intercept"], dtype=float)
        model.coef_ = np.asarray(d["coef"], dtype=float).reshape(model.n_segments_, -1)
        model.sigma_ = np.asarray(d["sigma"], dtype=float)
        model.weights_ = np.asarray(d["weights"], dtype=float)
        model.loglik_ = float(d["loglik"])
        model.classification_loglik_ = d["classification_loglik"]
        model.n_params_ = int(d["n_params"])
        model.n_iter_ = int(d["n_iter"])
        model.n_newton_steps_ = int(d["n_newton_steps"])
        model.converged_ = bool(d["converged"])
        model.start_logliks_ = np.asarray(d["start_logliks"], dtype=float)
        model.start_refined_ = np.asarray(d["start_refined"], dtype=bool)
        model.start_kinds_ = list(d["start_kinds"])
        model.best_start_ = int(d["best_start"])
        model.n_best_starts_ = int(d["n_best_starts"])
        model.removed_segments_ = [dict(r) for r in d["removed_segments"]]
        model.dropped_rows_ = list(d["dropped_rows"])
        model.n_obs_ = int(d["n_obs"])
        model.sum_weights_ = float(d["sum_weights"])
        model.outcome_variance_ = float(d["outcome_variance"])
        model.variance_floor_ = float(d["variance_floor"])
        return model
