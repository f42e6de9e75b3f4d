"""Clusterwise regression: a finite mixture of Gaussian linear regressions.

The estimator follows DeSarbo & Cron (1988): respondent ``i`` belongs to segment
``k`` with probability ``pi_k`` and, within the segment,
``y_i ~ N(a_k + x_i' b_k, sigma_k^2)``.  Parameters are estimated by maximum
likelihood with the EM algorithm (``method="em"``) or by the classification EM
algorithm with one common residual variance (``method="cem"``), which is
Spaeth's clusterwise regression with segment proportions.

The likelihood itself (validation, E- and M-steps, scores and Hessian) lives in
:mod:`trustseg.model._core`, the algorithm (SQUAREM-accelerated EM, Newton
finish) in :mod:`trustseg.model._em` and the start kinds in
:mod:`trustseg.model._starts`; this module holds the scikit-learn style
estimator.  A fit runs in three steps:

1. **Search.**  Every one of the ``n_init`` starts (the split path from one
   segment, random lines, k-means partitions) runs to its optimum on the
   search sample (all respondents, or a random subsample of
   ``search_subsample`` when there are more).  A start that can no longer
   catch up with the best so far is stopped and marked ``"pruned"``.
2. **Escape.**  The best solution, and every start that ended below it, gets
   split-and-merge and top-down moves (deterministic, memoised per distinct
   optimum); a move that raises the log-likelihood is taken.
3. **Refine.**  With a search subsample, the ``n_full_runs`` best distinct
   solutions are run to convergence on all respondents.  Starts given in
   ``init_params`` run on all respondents beside them.

``start_logliks_``, ``start_kinds_``, ``start_stop_reasons_`` and
``start_reached_best_`` record every start; a start reached the best only if
it reached the same parameters (up to segment order), not merely a close
log-likelihood.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from numbers import Integral, Real

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, Options, StrOptions
from threadpoolctl import threadpool_limits

from trustseg.errors import DataError
from trustseg.model._core import (
    INTERCEPT,
    SAME_OPTIMUM_RTOL,
    MixtureParams,
    Problem,
    _predictor_values,
    check_identifiable,
    mixture_loglik,
    observed_information,
    reached_optimum,
    same_solution,
    validate_data,
)
from trustseg.model._em import newton_polish, run_em, run_squarem, start_from_params, transfer_state
from trustseg.model._family_core import (
    DEFAULT_FAMILY_START_KINDS,
    FAMILY_START_KINDS,
    FamilyMixtureParams,
    family_design,
    family_log_joint,
    family_observed_information,
    fit_family_mixture,
    same_family_solution,
    solution_scale,
)
from trustseg.model._starts import (
    START_KINDS,
    escape_moves,
    from_partition,
    kmeans_partition,
    merge_candidates,
    random_lines,
    random_partition,
    split_candidates,
    split_path,
)
from trustseg.model.families import FAMILIES, MAX_ORDINAL_CATEGORIES, NORMAL_FAMILIES, make_family, take_rows
from trustseg.model.spread import LocationScaleFamily, spread_data
from trustseg.model.system import EquationSystem
from trustseg.progress import Progress

__all__ = ["ClusterwiseRegression", "MixtureParams", "reached_optimum", "validate_data"]

# EM hands over to Newton's method below this relative log-likelihood change.
_NEWTON_SWITCH_TOL = 1e-6
# Default variance floor, relative to the weighted variance of the outcome.
DEFAULT_RELATIVE_FLOOR = 1e-3
_FORMAT = "trustseg.ClusterwiseRegression/4"
# The default mix of start kinds (see trustseg.model._starts), chosen by the
# benchmark in docs/benchmarks.md: the split path once, then lines and k-means.
DEFAULT_START_KINDS = ("split", "lines", "kmeans")
# Split-and-merge escape from a local optimum: rounds, and moves tried per round.
_ESCAPE_ROUNDS = 2
# The K + 1 fits of the top-down move: relative tolerance and iteration cap.
_ROUGH_TOL, _ROUGH_MAX_ITER = 1e-5, 200
_ESCAPE_MOVES = 4
#: with a search subsample, the chosen optimum's escape runs on this many times as many respondents
_ESCAPE_SAMPLE_FACTOR = 10
_START_BUILDERS = {"lines": random_lines, "kmeans": kmeans_partition, "random": random_partition}


def _family_rows(family_data, kept):
    """The family's per-respondent arrays (trials, offset) for the rows ``kept``; None without any."""
    if family_data is None:
        return None
    unknown = sorted(set(family_data) - {"trials", "offset"})
    if unknown:
        raise ValueError(f"family_data takes 'trials' and 'offset', not {unknown}")
    rows = {}
    for key, value in family_data.items():
        if value is None:
            continue
        array = np.asarray(value, dtype=float).reshape(-1)
        if array.shape != kept.shape:
            raise DataError(f"family_data['{key}'] has {array.size} values for {kept.size} respondents")
        if not np.isfinite(array[kept]).all():
            raise DataError(f"family_data['{key}'] has missing or infinite values")
        rows[key] = array[kept]
    return rows or None


def variance_floor_setting(floor):
    """A fitted variance floor as a setting (JSON, a refit's ``variance_floor``): None, a number, or one per
    equation (None where an equation has none)."""
    if floor is None:
        return None
    if np.ndim(floor):
        return [None if not np.isfinite(v) else float(v) for v in np.asarray(floor, dtype=float)]
    return float(floor)


def _with_spread(family, rows, X):
    """The per-row side data with the location-scale family's spread predictors (the columns of X) added."""
    if family.name != "location_scale":
        return rows
    return spread_data(family.spread_names, X, rows)


def family_for_data(name, options, y, y_name):
    """Family ``name`` with ``options``; bounds (censored) and categories (ordinal) default to those of ``y``."""
    options = {key: tuple(v) if isinstance(v, list) else v for key, v in (options or {}).items()}
    if name == "censored":
        options.setdefault("lower", float(y.min()))
        options.setdefault("upper", float(y.max()))
    elif name == "ordinal" and "categories" not in options:
        # an outcome with too many values for a rating item is the data's problem: say so about the column
        if len(np.unique(y)) > MAX_ORDINAL_CATEGORIES:
            make_family("ordinal").check_outcome(y, y_name)
        options["categories"] = tuple(float(v) for v in np.unique(y))
    return make_family(name, **options)


def _family_settings(family):
    """A family's settings as a JSON-ready dict (censored bounds, ordinal categories, spread predictors)."""
    settings = {}
    for name in (f.name for f in dataclasses.fields(family)):
        value = getattr(family, name)
        if isinstance(value, tuple):
            settings[name] = [v if isinstance(v, str) else float(v) for v in value]
        else:
            settings[name] = value if isinstance(value, str) else float(value)
    return settings


def _family_from_record(name, settings):
    """The family saved by :meth:`ClusterwiseRegression.to_dict` (its name and settings)."""
    if name == "system":
        return EquationSystem.from_record(settings)
    settings = {key: tuple(v) if isinstance(v, list) else v for key, v in settings.items()}
    if name == "location_scale":
        return LocationScaleFamily(**settings)
    return make_family(name, **settings)


class _Run:
    """One start: its kind, seed stream, the state it reached and where that state was refined."""

    def __init__(self, kind, stream, state, on_all, seconds):
        self.kind, self.stream, self.state, self.seconds = kind, stream, state, seconds
        # the state on all respondents (the search state itself unless the search used a subsample)
        self.final_state = state if on_all else None
        self.loglik = state.loglik
        self.leader = False  # its search state was rerun on all respondents
        self.earlier = []  # removal records from before an escape replaced its state

    def moved_to(self, state):
        """This start after an escape move to ``state`` (its earlier removal records kept)."""
        moved = _Run(self.kind, self.stream, state, self.final_state is not None, self.seconds)
        moved.earlier = [r for r in self.removed() if not any(r is s for s in state.removed)]
        return moved

    def removed(self):
        """Degenerate segments this start removed, in the search and (if rerun) on all respondents."""
        records = self.earlier + list(self.state.removed)
        if self.leader:
            records += self.final_state.removed
        return records


class ClusterwiseRegression(BaseEstimator):
    """Finite mixture of Gaussian linear regressions (clusterwise regression).

    Parameters
    ----------
    n_segments : int, default 3
        Number of segments K requested.
    n_init : int, default 20
        Number of starts, of the kinds in ``start_kinds``.  May be 0 when
        ``init_params`` gives at least one start.
    method : {"em", "cem"}, default "em"
        ``"em"``: maximum likelihood with segment-specific variances
        (DeSarbo & Cron 1988).  ``"cem"``: classification EM with one common
        variance (Spaeth's clusterwise regression); ``loglik_`` is then the
        mixture log-likelihood at the CEM solution and
        ``classification_loglik_`` the criterion CEM maximised.
    family : {"gaussian", "censored", "ordinal", "binomial", "poisson"}, default "gaussian"
        The outcome's distribution within a segment (see
        :mod:`trustseg.model.families`): ``"gaussian"`` (normal, identity
        link), ``"censored"`` (normal censored at the bounds of the scale;
        Tobit), ``"ordinal"`` (cumulative logit for one rating item),
        ``"binomial"`` (logit; 0/1 or successes out of ``family_data["trials"]``)
        or ``"poisson"`` (log link; ``family_data["offset"]`` allowed).
        Coefficients are on the scale of the family's linear predictor.
        Families other than gaussian run multi-start EM with a Newton finish
        (random and k-means starts; no split path or split-and-merge moves;
        an ordinal solution in which a segment's end threshold ran away gets
        one escape start with it pulled back).
    family_options : dict, optional
        The family's settings: ``lower`` and ``upper`` for censored (default:
        the observed minimum and maximum of y; give the scale's bounds),
        ``categories`` for ordinal (default: the distinct values of y; give
        every answer value of the item).  The settings in force are
        ``family_settings_``.
    spread : {"constant", "linear"}, default "constant"
        For the gaussian and censored families: ``"linear"`` lets each
        segment's log residual SD depend linearly on the predictors, ``log
        sigma_ik = gamma_0k + x_i' gamma_k`` (a location-scale mixture;
        :mod:`trustseg.model.spread`), so a spread that grows with
        satisfaction does not bias the slopes or shrink their intervals.
        ``sigma_`` is then NaN; the ``log_sigma`` terms are in ``extra_``.
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
    focal_direction : {1, -1}, default 1
        The expected direction of the focal effect, which sets the segment
        order: ``1`` numbers the steepest rising slope first (repurchase on
        satisfaction), ``-1`` the steepest falling one first (an outcome
        where higher is worse, such as switching or complaints).  It changes
        nothing but the order.
    random_state : int, numpy Generator or None, default 0
        Seeds every random step (starts, search subsample).  Start ``s`` draws
        from its own child seed; even and odd starts form two independent seed
        streams (see ``optimum_replicated_``).
    start_kinds : "auto" or list of str, default "auto"
        The kinds of start, cycled over the ``n_init`` starts: ``"split"`` (the
        smallest-to-largest-K path, deterministic, used once), ``"lines"``
        (random regression lines), ``"kmeans"``, ``"random"`` (random
        partitions); see :mod:`trustseg.model._starts`.  ``"auto"``: split,
        then lines and k-means in turn (chosen by the benchmark in
        ``docs/benchmarks.md``).
    n_full_runs : int, default 2
        With a search subsample, how many of the best distinct search
        solutions are run to convergence on all respondents.
    search_subsample : int, default 10_000
        With more respondents than this, the starts search on a random
        subsample of this size (full-data log-likelihoods still rank their
        solutions, and the final runs use all respondents); the chosen
        solution then gets split-and-merge moves on a sample ten times this
        size (or on all respondents, if fewer), because close optima of the
        search sample can lie in the basin of a worse full-data optimum.
    escape : bool, default True
        Offer split-and-merge and top-down moves to the best solution and to
        every start that ended below it (see :meth:`_escape`).  False is for
        studying the starts alone.
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
        segment shares (K,), segments ordered by the focal slope, steepest in
        the ``focal_direction`` first.  Coefficients are on the scale of the
        family's linear predictor (log odds, log count, latent rating); the
        ordinal family has no intercept (``intercept_`` is 0, its thresholds
        take its place) and ``sigma_`` is NaN for families without one.
    extra_ : ndarray of shape (K, m)
        The family's further parameters per segment, named ``extra_names_``
        (``log_sigma``; ordinal thresholds ``threshold_a|b``; none for
        binomial and poisson).
    family_ : outcome family
        The family object in force (:mod:`trustseg.model.families`), with
        ``family_settings_`` its settings.
    start_logliks_ : ndarray of shape (n_init + number of given starts,)
        Full-data log-likelihood each start reached; starts first, then the
        given ones.  With a search subsample, a start whose solution was not
        among the refined ones shows the full-data log-likelihood of its
        search solution (``start_refined_`` False).
    start_kinds_ : list of str
        The kind of each start (``"split"``, ``"lines"``, ``"kmeans"``,
        ``"random"`` or ``"given"``).
    start_stop_reasons_ : list of str
        How each start ended: ``"converged"``, ``"pruned"`` (stopped because
        it could not catch up with the best solution so far) or
        ``"iteration cap"``.
    start_reached_best_ : ndarray of bool
        Whether each start reached the returned solution: the same
        log-likelihood and the same parameters up to segment order.
    n_best_starts_ : int
        How many starts reached the returned solution.
    optimum_replicated_ : bool
        Whether starts from both independent seed streams reached it.  False
        means the solution depends on the seed: refit with more starts.
    converged_ : bool
        Whether the returned solution converged (False: stopped at ``max_iter``).
    variance_floor_ : float or None
        The variance floor in force (squared outcome units); None for
        families without a residual variance.
    removed_segments_ : list of dict
        Every degenerate segment removed in any start, with the start, the stage
        ("search" on the search subsample, "escape" on the larger sample the
        chosen solution's escape moves use, "full" on all respondents), the
        iteration and the reason; ``in_final`` marks removals in the history
        of the returned solution.
    """

    # every parameter's admissible values, checked in fit() (scikit-learn's convention)
    _parameter_constraints: dict = {
        "n_segments": [Interval(Integral, 1, None, closed="left")],
        "n_init": [Interval(Integral, 0, None, closed="left")],
        "method": [StrOptions({"em", "cem"})],
        "family": [StrOptions(set(FAMILIES))],
        "family_options": [dict, None],
        "spread": [StrOptions({"constant", "linear"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "min_share": [Interval(Real, 0, 1, closed="left")],
        "variance_floor": [Interval(Real, 0, None, closed="neither"), None],
        "focal": [str, Interval(Integral, 0, None, closed="left"), None],
        "focal_direction": [Options(Integral, {1, -1})],
        "random_state": ["random_state"],
        "start_kinds": [StrOptions({"auto"}), list, tuple],
        "n_full_runs": [Interval(Integral, 1, None, closed="left")],
        "search_subsample": [Interval(Integral, 2, None, closed="left")],
        "escape": ["boolean"],
        "init_params": [dict, list, tuple, None],
    }

    def __init__(
        self,
        n_segments=3,
        n_init=20,
        method="em",
        family="gaussian",
        family_options=None,
        spread="constant",
        max_iter=1000,
        tol=1e-8,
        min_share=0.03,
        variance_floor=None,
        focal=None,
        focal_direction=1,
        random_state=0,
        start_kinds="auto",
        n_full_runs=2,
        search_subsample=10_000,
        escape=True,
        init_params=None,
    ):
        self.n_segments = n_segments
        self.n_init = n_init
        self.method = method
        self.family = family
        self.family_options = family_options
        self.spread = spread
        self.max_iter = max_iter
        self.tol = tol
        self.min_share = min_share
        self.variance_floor = variance_floor
        self.focal = focal
        self.focal_direction = focal_direction
        self.random_state = random_state
        self.start_kinds = start_kinds
        self.n_full_runs = n_full_runs
        self.search_subsample = search_subsample
        self.escape = escape
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

    def fit(self, X, y, sample_weight=None, missing="raise", family_data=None):
        """Fit the mixture from every start and keep the best optimum.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n, p)
        y : Series or array-like of shape (n,)
        sample_weight : array-like of shape (n,), optional
            Survey weights (need not be integers).
        missing : {"raise", "drop"}
            ``"raise"`` refuses NaN/inf and says where they are; ``"drop"``
            drops those rows and records them in ``dropped_rows_``.
        family_data : dict, optional
            Per-respondent arrays the family needs: ``trials`` (binomial),
            ``offset`` (poisson).

        Returns
        -------
        self
        """
        self._validate_params()
        if self.family != "gaussian" or self.spread != "constant":
            return self._fit_family(X, y, sample_weight, missing, family_data)
        if family_data is not None:
            raise ValueError("family_data (trials, offset) is for the binomial and poisson families")
        if self.family_options:
            raise ValueError(f"the gaussian family takes no family_options, got {sorted(self.family_options)}")
        given = self._given_starts()
        if self.n_init + len(given) < 1:
            raise ValueError("n_init is 0 and init_params gives no start: there is nothing to fit from")
        # EM's matrix products are thin (n x K times n x few): multithreaded BLAS
        # only adds synchronisation, which on a shared machine costs up to 10x.
        with threadpool_limits(limits=1, user_api="blas"):
            problem, settings = self._prepare(X, y, sample_weight, missing)
            runs, escape_seed = self._search(problem, settings)
            self._refine_on_all(problem, settings, runs, escape_seed)
            runs += self._given_runs(problem, settings, given, runs)
            self._choose(problem, runs)
        return self

    def _prepare(self, X, y, sample_weight, missing):
        """Validate the data, record what was fitted to, and build the centred problem."""
        data = validate_data(X, y, sample_weight, missing)
        X_, y_, w = data["X"], data["y"], data["w"]
        check_identifiable(X_, y_, w, data["names"], int(self.n_segments))
        self._record_data(data)
        self.family_, self.family_settings_ = make_family("gaussian"), {}
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

    def _record_data(self, data):
        """What the model was fitted to: names, focal predictor, dropped rows, sizes."""
        self.feature_names_in_ = np.asarray(data["names"], dtype=object)
        self.n_features_in_ = data["X"].shape[1]
        self.focal_index_ = self._resolve_focal(data["names"])
        self.outcome_name_ = data["y_name"]
        self.dropped_rows_ = data["dropped_rows"]
        self.n_obs_ = int(data["X"].shape[0])
        self.sum_weights_ = float(data["w"].sum())

    # -- families other than gaussian -----------------------------------------

    def _family_object(self, y, y_name, names):
        """The family in force: ``family`` with ``family_options`` (bounds and categories default to the data's),
        wrapped in the location-scale family of the predictors ``names`` when ``spread`` is linear."""
        if self.spread == "linear" and self.family not in NORMAL_FAMILIES:
            raise ValueError(f"spread='linear' is for the gaussian and censored families, not {self.family}")
        family = family_for_data(self.family, self.family_options, y, y_name)
        if self.spread == "linear":
            bounds = {"lower": family.lower, "upper": family.upper} if self.family == "censored" else {}
            return LocationScaleFamily(base=self.family, spread_names=tuple(names), **bounds)
        return family

    def _fit_family(self, X, y, sample_weight, missing, family_data):
        """Multi-start EM for a family other than gaussian (:func:`~trustseg.model._family_core.fit_family_mixture`)."""
        self._check_family_method()
        k = int(self.n_segments)
        with threadpool_limits(limits=1, user_api="blas"):
            data = validate_data(X, y, sample_weight, missing)
            X_, y_, w = data["X"], data["y"], data["w"]
            family = self._family_object(y_, data["y_name"], data["names"])
            rows = _with_spread(family, _family_rows(family_data, data["kept"]), X_)
            family.check_outcome(y_, data["y_name"], rows)
            check_identifiable(X_, y_, w, data["names"], k)
            self._record_data(data)
            self.family_ = family
            self.family_settings_ = _family_settings(family)
            mean = float(w @ y_ / w.sum())
            self.outcome_variance_ = float(w @ (y_ - mean) ** 2 / w.sum())
            extra_lower = None
            self.variance_floor_ = None
            if family.name in NORMAL_FAMILIES or family.name == "location_scale":
                self.variance_floor_ = (DEFAULT_RELATIVE_FLOOR * self.outcome_variance_ if self.variance_floor is None
                                        else float(self.variance_floor))
                # the floor bounds a location-scale segment's log sigma at x = 0, not every respondent's
                extra_lower = [0.5 * np.log(self.variance_floor_)] + [-np.inf] * (family.n_extra() - 1)
            fit = self._run_family_fit(family, X_, y_, w, rows, extra_lower)
        return self._finish_family_fit(fit, family, X_, y_, w)

    def _check_family_method(self):
        if self.method != "em":
            raise ValueError(f"method={self.method!r} is for the gaussian family; the {self.family} family uses 'em'")
        if self.n_init < 1 and self.init_params is None:
            raise ValueError("n_init is 0 and init_params gives no start: there is nothing to fit from")

    def _run_family_fit(self, family, X_, y_, w, rows, extra_lower):
        """:func:`~trustseg.model._family_core.fit_family_mixture` with this estimator's settings."""
        rng = (self.random_state if isinstance(self.random_state, np.random.Generator)
               else np.random.default_rng(self.random_state))
        return fit_family_mixture(
            family, X_, y_, int(self.n_segments), w, rows, n_init=int(self.n_init), random_state=rng,
            tol=float(self.tol), max_iter=int(self.max_iter), min_share=float(self.min_share),
            extra_lower=extra_lower, starts_from=self._given_family_starts(family, X_.shape[1]),
            search_subsample=int(self.search_subsample), n_full_runs=int(self.n_full_runs),
            escape=bool(self.escape), start_kinds=self._family_start_kinds(),
        )

    def _family_start_kinds(self):
        """The kinds of start of a family fit: random and k-means unless ``start_kinds`` names others."""
        if self.start_kinds == "auto":
            return DEFAULT_FAMILY_START_KINDS
        kinds = tuple(k for k in self.start_kinds if k in FAMILY_START_KINDS)
        if not kinds:
            raise ValueError(f"start_kinds {list(self.start_kinds)} names none of the kinds a {self.family} fit "
                             f"takes: {list(FAMILY_START_KINDS)}")
        return kinds

    def _finish_family_fit(self, fit, family, X_, y_, w):
        """Record the starts and the chosen solution of a family fit; warn of removed segments, no convergence."""
        k = int(self.n_segments)
        self._record_family_starts(fit, family, X_, y_, w)
        if len(fit.params.weights) < k:
            warnings.warn(
                f"{k - len(fit.params.weights)} of the {k} requested segments were degenerate in every start and "
                f"were removed; the model has {len(fit.params.weights)} segments (see removed_segments_)",
                RuntimeWarning, stacklevel=3,
            )
        if not fit.converged:
            warnings.warn(
                f"the best of the {len(fit.starts)} starts stopped at max_iter={self.max_iter} before converging: "
                "its estimates are not a maximum of the likelihood (converged_ is False); raise max_iter",
                RuntimeWarning, stacklevel=3,
            )
        self.loglik_ = float(fit.loglik)
        self.classification_loglik_ = None
        self.n_iter_ = int(fit.n_iter)
        self.converged_ = bool(fit.converged)
        self.n_newton_steps_ = 0
        self._store_family_solution(fit.params)
        return self

    def _given_family_starts(self, family, p):
        """``init_params`` as FamilyMixtureParams (``weights``, ``beta``, ``extra``) with ``n_segments`` segments."""
        if self.init_params is None:
            return []
        given = [self.init_params] if isinstance(self.init_params, (dict, FamilyMixtureParams)) else self.init_params
        q, m, k = p + family.has_intercept, family.n_extra(), int(self.n_segments)
        starts = []
        for g in given:
            fields = g._asdict() if isinstance(g, FamilyMixtureParams) else dict(g)
            missing = [f for f in FamilyMixtureParams._fields if f not in fields]
            if missing:
                raise ValueError(f"init_params for the {family.name} family lack {missing}; give "
                                 f"{list(FamilyMixtureParams._fields)}")
            weights = np.asarray(fields["weights"], dtype=float).reshape(-1)
            start = FamilyMixtureParams(weights, np.asarray(fields["beta"], dtype=float).reshape(len(weights), q),
                                        np.asarray(fields["extra"], dtype=float).reshape(len(weights), m))
            if not len(start.weights) == len(start.beta) == len(start.extra) == k:
                raise ValueError(f"init_params has a start with {len(start.weights)} segments; n_segments is {k}")
            starts.append(start)
        return starts

    def _record_family_starts(self, fit, family, X, y, w):
        """Every start's log-likelihood, kind, stop reason and whether it reached the chosen solution."""
        chosen = fit.starts[fit.best_start]
        scale = solution_scale(family, X, y, w)
        # compared where every start ends on all respondents: a search start not rerun cannot have reached it
        reached = [
            start.params is not None and start.refined and same_family_solution(start, chosen, scale)
            for start in fit.starts
        ]
        self.start_logliks_ = np.array([start.loglik for start in fit.starts])
        self.start_kinds_ = [start.kind for start in fit.starts]
        self.start_stop_reasons_ = [start.stop_reason for start in fit.starts]
        self.start_seconds_ = np.array([start.seconds for start in fit.starts])
        self.start_refined_ = np.array([start.refined for start in fit.starts])
        self.start_reached_best_ = np.array(reached)
        self.best_start_ = int(fit.best_start)
        self.n_best_starts_ = int(sum(reached))
        streams = {start.stream for start, hit in zip(fit.starts, reached) if hit and start.stream is not None}
        self.optimum_replicated_ = len(streams) >= 2
        self.removed_segments_ = [
            {"start": s, "component": int(record["segment"]), "stage": "full", "iteration": int(record["iteration"]),
             "share": record["share"], "effective_respondents": record["effective_respondents"],
             "reason": record["reason"], "in_final": s == fit.best_start}
            for s, start in enumerate(fit.starts) for record in start.dropped
        ]

    def _store_family_solution(self, params):
        """Split (beta, extra) into intercepts, slopes, sigma and extras, and order the segments."""
        family = self.family_
        beta = np.asarray(params.beta, dtype=float)
        k = len(params.weights)
        self.intercept_ = beta[:, 0].copy() if family.has_intercept else np.zeros(k)
        self.coef_ = beta[:, 1:].copy() if family.has_intercept else beta.copy()
        self.extra_ = np.asarray(params.extra, dtype=float).reshape(k, -1).copy()
        self.sigma_ = np.exp(self.extra_[:, 0]) if family.name in NORMAL_FAMILIES else np.full(k, np.nan)
        self.weights_ = np.asarray(params.weights, dtype=float).copy()
        self.n_segments_ = k
        self.n_params_ = int(k * (self.n_features_in_ + family.has_intercept + family.n_extra()) + k - 1)
        self._reorder()

    def _start_plan(self):
        """The kind of each of the ``n_init`` starts, in order."""
        kinds = DEFAULT_START_KINDS if self.start_kinds == "auto" else tuple(self.start_kinds)
        unknown = sorted(set(kinds) - set(START_KINDS))
        if unknown or not kinds:
            raise ValueError(
                f"start_kinds must be 'auto' or a list drawn from {list(START_KINDS)}; got {unknown or kinds}"
            )
        plan, cycle = [], [kind for kind in kinds if kind != "split"] or ["random"]
        for kind in kinds:
            if kind == "split" and "split" not in plan:
                plan.append("split")  # deterministic: one split path is enough
        while len(plan) < self.n_init:
            plan.append(cycle[(len(plan) - ("split" in plan)) % len(cycle)])
        return plan[: self.n_init]

    def _search(self, problem, settings):
        """Every start run to its optimum on the search sample (all respondents unless n is large)."""
        k = int(self.n_segments)
        rng = (
            self.random_state
            if isinstance(self.random_state, np.random.Generator)
            else np.random.default_rng(self.random_state)
        )
        # one seed per start, then the search sample's and the escape sample's
        seeds = rng.bit_generator.seed_seq.spawn(self.n_init + 2)
        search = problem
        if problem.n > self.search_subsample:
            rows = np.sort(
                np.random.default_rng(seeds[self.n_init]).choice(problem.n, size=int(self.search_subsample),
                                                                 replace=False)
            )
            search = problem.subset(rows)
        runs, best = [], None
        stage = "full" if search is problem else "search"
        progress = Progress(self.n_init, f"K={k}: EM from {self.n_init} starts")
        for start, kind in enumerate(self._start_plan()):
            started = time.perf_counter()
            if kind == "split":
                path = split_path(search, k, settings, lambda s, i=start: self._converge(search, s, settings, i, stage))
                state = path[-1]
            else:
                state = _START_BUILDERS[kind](search, k, np.random.default_rng(seeds[start]), settings)
                state = self._converge(search, state, settings, start, stage, target=best)
            if state.converged and len(state.labels) == k:
                best = state.loglik if best is None else max(best, state.loglik)
            stream = None if kind == "split" else start % 2
            runs.append(_Run(kind, stream, state, search is problem, time.perf_counter() - started))
            progress.update(start + 1)
        if self.escape:
            self._escape_all(search, settings, runs, stage)
        return runs, seeds[self.n_init + 1]

    def _escape(self, problem, state, settings, start, stage, target, top_down=True):
        """Moves that take a start out of a local optimum; the state is returned unchanged if none helps.

        * A start that lost a degenerate segment splits one of the others
          (above and below its line) until it has K segments again.
        * Split-and-merge moves (Ueda et al. 2000): merge the two most
          overlapping segments and split one above and below its line.
        * A top-down move: the best split to K + 1 segments, run to its
          optimum, then every pair of its segments merged back to K (the
          K + 1 optimum is a natural start for K, as K - 1 is for K + 1).

        Each candidate runs to convergence but is pruned once it cannot reach
        ``target`` (at least the state's own log-likelihood); the first that
        raises the log-likelihood is taken and the moves start again from it.
        Moves are deterministic, so the workflow stays reproducible and equal
        local optima get equal escapes (see ``_search``, which memoises them).
        """
        k = int(self.n_segments)
        while len(state.labels) < k:
            grown = [self._converge(problem, c, settings, start, stage)
                     for c in split_candidates(problem, state, settings)]
            grown = [c for c in grown if len(c.labels) == len(state.labels) + 1]
            if not grown:
                return state
            state = self._carry(max(grown, key=lambda c: c.loglik), state)
        for _ in range(_ESCAPE_ROUNDS):
            better = None
            for labels in self._moves(problem, state, settings, start, stage, top_down):
                candidate = self._carry(from_partition(problem, labels, k, settings), state)
                goal = max(target, state.loglik) if target is not None else state.loglik
                candidate = self._converge(problem, candidate, settings, start, stage, target=goal)
                if (candidate.converged and len(candidate.labels) == k
                        and candidate.loglik > state.loglik + SAME_OPTIMUM_RTOL * abs(state.loglik)):
                    better = candidate
                    break
            if better is None:
                return state
            state = better
        return state

    @staticmethod
    def _carry(new, old):
        """``new`` continues the history of ``old``: iterations, moves and removal records."""
        new.n_iter += old.n_iter
        new.moves = old.moves + 1
        new.removed = list(old.removed) + list(new.removed)
        return new

    def _moves(self, problem, state, settings, start, stage, top_down=True):
        """The candidate partitions of :meth:`_escape`, split-and-merge first, then top-down (lazily)."""
        yield from escape_moves(problem, state, _ESCAPE_MOVES)
        if not top_down or len(state.shares) + 1 > problem.n // (problem.p + 2):
            return
        # the K + 1 fits only seed merges, so a rough optimum is enough
        grown = [run_squarem(problem, c, settings, _ROUGH_MAX_ITER, start, stage, tol=_ROUGH_TOL)
                 for c in split_candidates(problem, state, settings)]
        grown = [c for c in grown if len(c.labels) == len(state.labels) + 1]
        if grown:
            yield from merge_candidates(problem, max(grown, key=lambda c: c.loglik), _ESCAPE_MOVES)

    def _escape_all(self, problem, settings, runs, stage):
        """Escape moves for the best solution first, then for every start that ended below it.

        The best solution gets the moves too: when every start agrees on a local
        optimum, this is what finds the better one.  Moves are deterministic and
        memoised over equal solutions, so their cost is paid once per distinct
        local optimum and equal optima always move to the same solution.
        """
        k = int(self.n_segments)
        escaped = []
        full = [r for r, run in enumerate(runs) if len(run.state.labels) == k and run.state.converged]
        best = None
        if full:
            leader = max(full, key=lambda r: (runs[r].state.loglik, -r))
            improved = self._escape_once(problem, runs[leader].state, settings, leader, stage, None, escaped)
            best = improved.loglik
        for r, run in enumerate(runs):
            if best is not None and reached_optimum([run.state.loglik], best)[0] and len(run.state.labels) == k:
                continue
            moved = run.state
            if moved.stop_reason == "pruned":
                # on to its own optimum, so that starts in the same basin share one escape
                moved = self._converge(problem, moved, settings, r, stage)
            moved = self._escape_once(problem, moved, settings, r, stage, best, escaped)
            if moved is not run.state:
                runs[r] = run.moved_to(moved)
                if moved.converged and len(moved.labels) == k:
                    best = moved.loglik if best is None else max(best, moved.loglik)

    def _escape_once(self, problem, state, settings, start, stage, target, escaped):
        """:meth:`_escape`, memoised over equal solutions (``escaped`` holds (before, after) pairs)."""
        if state.converged:
            for before, after in escaped:
                if len(before.labels) == len(state.labels) and same_solution(before, state, problem):
                    return after
        after = self._escape(problem, state, settings, start, stage, target)
        if state.converged:
            escaped.append((state, after))
        return after

    def _refine_on_all(self, problem, settings, runs, escape_seed):
        """With a search subsample: the best distinct solutions rerun on all respondents.

        Each run's search solution is scored on all respondents; the
        ``n_full_runs`` best distinct solutions are run to convergence on all
        of them, and every run whose search solution is one of those shares its
        full-data optimum.
        """
        if not runs or runs[0].final_state is runs[0].state:
            return
        for run in runs:
            run.loglik = mixture_loglik(problem, run.state.shares, run.state.coefs, run.state.variances)[0]
        order = sorted(range(len(runs)), key=lambda r: (-len(runs[r].state.labels), -runs[r].loglik, r))
        leaders, best = [], None
        for r in order:
            if len(leaders) == self.n_full_runs:
                break
            if any(same_solution(runs[r].state, runs[lead].state, problem) for lead in leaders):
                continue
            leaders.append(r)
            refined = self._converge(problem, transfer_state(problem, runs[r].state), settings, r, "full",
                                     target=best)
            runs[r].final_state, runs[r].leader = refined, True
            if refined.converged:
                best = refined.loglik if best is None else max(best, refined.loglik)
        for run in runs:
            for lead in leaders:
                if run is runs[lead] or same_solution(run.state, runs[lead].state, problem):
                    run.final_state = runs[lead].final_state
                    run.loglik = run.final_state.loglik
                    break
        if not self.escape or not leaders:
            return
        # A search optimum can lie in the basin of a full-data local optimum
        # when optima are close (heavily overlapping segments): all starts then
        # agree on it.  Split-and-merge moves on a sample ten times the search
        # sample (all respondents up to that size) find the better one; the
        # top-down moves would cost K + 1 such fits.
        top = max(leaders, key=lambda r: runs[r].final_state.loglik)
        reached = runs[top].final_state
        if not reached.converged:
            return
        size = _ESCAPE_SAMPLE_FACTOR * int(self.search_subsample)
        if problem.n <= size:
            escaped = self._escape(problem, reached, settings, top, "full", None, top_down=False)
        else:
            rows = np.sort(np.random.default_rng(escape_seed).choice(problem.n, size=size, replace=False))
            sample = problem.subset(rows)
            on_sample = self._converge(sample, transfer_state(sample, reached), settings, top, "escape")
            moved = self._escape(sample, on_sample, settings, top, "escape", None, top_down=False)
            escaped = reached
            if moved is not on_sample:
                candidate = self._converge(problem, self._carry(transfer_state(problem, moved), reached), settings,
                                           top, "full", target=reached.loglik)
                if candidate.converged and candidate.loglik > reached.loglik + SAME_OPTIMUM_RTOL * abs(reached.loglik):
                    escaped = candidate
        if escaped is not reached:
            for run in runs:
                if run.final_state is reached:
                    run.final_state, run.loglik = escaped, escaped.loglik

    def _given_runs(self, problem, settings, given, runs):
        """Every ``init_params`` start run to convergence on all respondents."""
        out = []
        best = max((run.loglik for run in runs if run.final_state is not None and run.final_state.converged),
                   default=None)
        for i, params in enumerate(given):
            started = time.perf_counter()
            state = self._converge(problem, start_from_params(problem, params, settings), settings,
                                   len(runs) + i, "full", target=best)
            out.append(_Run("given", None, state, True, time.perf_counter() - started))
        return out

    def _converge(self, problem, state, settings, start, stage, target=None):
        """Run one start to convergence.

        EM, accelerated by SQUAREM, runs until the relative log-likelihood
        change drops below ``max(tol, 1e-6)``; safeguarded Newton steps with the
        analytic observed information then finish with quadratic
        convergence.  If Newton cannot (a variance on its floor, an indefinite
        Hessian), EM simply continues to ``tol``.  A run that cannot reach
        ``target`` is stopped early (``stop_reason`` "pruned").
        """
        if self.method == "cem":
            state = run_em(problem, state, settings, self.max_iter, start, stage)
            state.classification_loglik = state.loglik
            state.loglik, state.residuals = mixture_loglik(problem, state.shares, state.coefs, state.variances)
            return state
        switch_tol = max(settings["tol"], _NEWTON_SWITCH_TOL)
        state = run_squarem(problem, state, settings, self.max_iter, start, stage, tol=switch_tol, target=target)
        if state.converged:
            polished = newton_polish(problem, state, settings)
            if polished is not None:
                polished.stop_reason = "converged"
                return polished
        if state.stop_reason != "pruned" and state.n_iter < self.max_iter and switch_tol > settings["tol"]:
            state = run_squarem(problem, state, settings, self.max_iter, start, stage, target=target)
        return state

    def _choose(self, problem, runs):
        """The solution: most segments kept, then the highest log-likelihood."""
        k = int(self.n_segments)
        finished = [r for r, run in enumerate(runs) if run.final_state is not None]
        best = min(finished, key=lambda r: (-len(runs[r].final_state.labels), -runs[r].loglik, r))
        chosen = runs[best].final_state
        self.start_logliks_ = np.array([run.loglik for run in runs])
        self.start_kinds_ = [run.kind for run in runs]
        self.start_stop_reasons_ = [run.final_state.stop_reason if run.final_state is not None
                                    else run.state.stop_reason for run in runs]
        self.start_seconds_ = np.array([run.seconds for run in runs])
        self.start_refined_ = np.array([run.final_state is not None for run in runs])
        # compared where every start ends, on all respondents: two search-sample
        # solutions that refine to the same optimum both reached it
        reached = [
            run.final_state is not None and len(run.final_state.labels) == len(chosen.labels)
            and same_solution(run.final_state, chosen, problem)
            for run in runs
        ]
        self.start_reached_best_ = np.array(reached)
        self.best_start_ = int(best)
        self.n_best_starts_ = int(sum(reached))
        streams = {run.stream for run, hit in zip(runs, reached) if hit and run.stream is not None}
        self.optimum_replicated_ = bool(streams == {0, 1})
        # starts that share a memoised escape share its records: list each record once
        records = {}
        for run in runs:
            for record in run.removed():
                final = records.get(id(record), (record, False))[1] or run.final_state is chosen
                records[id(record)] = (record, final)
        self.removed_segments_ = [{**record, "in_final": bool(final)} for record, final in records.values()]
        if len(chosen.labels) < k:
            warnings.warn(
                f"{k - len(chosen.labels)} of the {k} requested segments were degenerate in every start and were "
                f"removed; the model has {len(chosen.labels)} segments (see removed_segments_)",
                RuntimeWarning,
                stacklevel=3,
            )
        if not chosen.converged:
            warnings.warn(
                f"the best of the {len(runs)} starts stopped at max_iter={self.max_iter} before converging: its "
                "estimates are not a maximum of the likelihood (converged_ is False); raise max_iter",
                RuntimeWarning,
                stacklevel=3,
            )
        self.loglik_ = float(chosen.loglik)
        self.classification_loglik_ = float(chosen.classification_loglik) if self.method == "cem" else None
        self.n_iter_ = int(chosen.n_iter)
        self.converged_ = bool(chosen.converged)
        self.n_newton_steps_ = int(getattr(chosen, "newton_steps", 0))
        self._store_solution(problem, chosen.shares, chosen.coefs, chosen.variances)

    def _reorder(self):
        """Order segments by focal slope (steepest in ``focal_direction`` first), then intercept, then share."""

        def rounded(values):
            # compare at 9 significant digits so rounding noise cannot reorder ties
            scale = 10 ** np.floor(np.log10(np.maximum(np.abs(values), 1e-12)))
            return np.round(values / scale, 9) * scale

        order = np.lexsort((
            -rounded(self.weights_),
            -rounded(self.intercept_),
            -rounded(self.focal_direction * self._focal_effects()),
        ))
        self.coef_ = self.coef_[order].copy()
        self.intercept_ = self.intercept_[order].copy()
        self.sigma_ = self.sigma_[order].copy()
        self.weights_ = self.weights_[order].copy()
        self.extra_ = self.extra_[order].copy()

    def _focal_effects(self):
        """Each segment's effect of the focal predictor, by which the segments are ordered: its slope."""
        return self.coef_[:, self.focal_index_]

    def _store_solution(self, problem, shares, coefs_centred, variances):
        """Convert to the original scale and order the segments."""
        slopes = coefs_centred[:, 1:]
        self.coef_ = slopes.copy()
        self.intercept_ = problem.original_intercepts(coefs_centred)
        self.sigma_ = np.sqrt(variances)
        self.extra_ = np.log(self.sigma_)[:, None]
        self.weights_ = shares.copy()
        self.n_segments_ = int(len(shares))
        self.n_params_ = self._count_params()
        self._reorder()

    def _count_params(self):
        k, p = self.n_segments_, self.n_features_in_
        n_sigmas = 1 if self.method == "cem" else k
        return int(k * (p + 1) + n_sigmas + (k - 1))

    @property
    def params_(self):
        """The fitted parameters, a warm start for another fit of the same family.

        :class:`MixtureParams` for the gaussian family, :class:`FamilyMixtureParams`
        (``weights``, ``beta``, ``extra``) for the others.
        """
        self._check_fitted()
        return MixtureParams.of(self) if self.family_.name == "gaussian" else self.family_params_

    @property
    def family_params_(self) -> FamilyMixtureParams:
        """The fitted parameters in the family layout: shares, (intercept, slopes) and extras per segment."""
        self._check_fitted()
        beta = np.column_stack([self.intercept_, self.coef_]) if self.family_.has_intercept else self.coef_
        return FamilyMixtureParams(self.weights_.copy(), np.array(beta, dtype=float), self.extra_.copy())

    @property
    def family_options_(self) -> dict:
        """The ``family_options`` that rebuild this model's family on other data (bounds, categories).

        For a linear spread, the options of the base family: the spread
        predictors are the model's own.
        """
        self._check_fitted()
        settings = dict(self.family_settings_)
        if self.family_.name != "location_scale":
            return settings
        return {key: settings[key] for key in ("lower", "upper")} if self.family_.base == "censored" else {}

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

    # -- using a fitted model ---------------------------------------------

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            raise AttributeError("this ClusterwiseRegression is not fitted yet; call fit first")

    def _validated(self, X, y, sample_weight=None, family_data=None):
        """The data as arrays, checked against the fitted model, with the family's per-row data."""
        self._check_fitted()
        data = validate_data(X, y, sample_weight, "raise", list(self.feature_names_in_))
        if self.family_.name == "gaussian":
            if family_data is not None:
                raise ValueError("family_data (trials, offset) is for the binomial and poisson families")
            return data, None
        rows = _with_spread(self.family_, _family_rows(family_data, data["kept"]), data["X"])
        self.family_.check_outcome(data["y"], data["y_name"], rows)
        return data, rows

    def _log_joint(self, X, y, sample_weight=None, family_data=None):
        data, rows = self._validated(X, y, sample_weight, family_data)
        if self.family_.name == "gaussian":
            return self.params_.log_joint(data["X"], data["y"]), data["w"]
        design = family_design(self.family_, data["X"])
        return family_log_joint(self.family_, design, data["y"], self.family_params_, rows), data["w"]

    def predict_proba(self, X, y, family_data=None):
        """Posterior segment probabilities, shape (n, K), columns in segment order."""
        joint, _ = self._log_joint(X, y, family_data=family_data)
        return np.exp(joint - logsumexp(joint, axis=1, keepdims=True))

    def predict(self, X, y, family_data=None):
        """Most probable segment of each respondent, numbered 1..K."""
        return self.predict_proba(X, y, family_data).argmax(axis=1) + 1

    def score_samples(self, X, y, family_data=None):
        """Log-likelihood of each respondent, log f(y_i | x_i)."""
        joint, _ = self._log_joint(X, y, family_data=family_data)
        return logsumexp(joint, axis=1)

    def score(self, X, y, sample_weight=None, family_data=None):
        """Mean log-likelihood per respondent (weighted mean if weights are given)."""
        joint, w = self._log_joint(X, y, sample_weight, family_data)
        return float(w @ logsumexp(joint, axis=1) / w.sum())

    def observed_information(self, X, y, sample_weight=None, family_data=None):
        """Hessian, outer product of scores and gradient of the weighted mixture log-likelihood.

        In the parameters named by :attr:`param_names_`; the Hessian is
        analytic (Louis' identity), see :mod:`trustseg.model.inference`.
        """
        data, rows = self._validated(X, y, sample_weight, family_data)
        if self.family_.name == "gaussian":
            return observed_information(MixtureParams.of(self), data["X"], data["y"], data["w"])
        design = family_design(self.family_, data["X"])
        return family_observed_information(self.family_, design, data["y"], data["w"], self.family_params_, rows)

    def _predictors_and_side_data(self, X, family_data):
        """The predictors as a matrix, and the family's per-row data for them (spread predictors included)."""
        self._check_fitted()
        values, _, _ = _predictor_values(X, list(self.feature_names_in_))
        return values, _with_spread(self.family_, _family_rows(family_data, np.ones(values.shape[0], dtype=bool)),
                                    values)

    def segment_means(self, X, family_data=None):
        """Each segment's expected outcome on the outcome's own scale, shape (n, K).

        The mean response (identity for gaussian, the mean of the censored
        variable, a probability or a share of trials, an expected count, an
        expected rating) at the predictors ``X``.
        """
        values, rows = self._predictors_and_side_data(X, family_data)
        params = self.family_params_
        eta = family_design(self.family_, values) @ params.beta.T
        return np.column_stack([self.family_.mean(eta[:, j], params.extra[j], rows) for j in range(self.n_segments_)])

    def sample_y(self, X, random_state=None, family_data=None):
        """Outcomes drawn from the fitted mixture at ``X`` (a segment per respondent by the shares, then y)."""
        values, rows = self._predictors_and_side_data(X, family_data)
        rng = np.random.default_rng(random_state)
        params = self.family_params_
        segment = rng.choice(self.n_segments_, size=values.shape[0], p=params.weights / params.weights.sum())
        eta = np.einsum("ij,ij->i", family_design(self.family_, values), params.beta[segment])
        y = np.empty(values.shape[0])
        for j in range(self.n_segments_):
            members = segment == j
            y[members] = self.family_.simulate(eta[members], params.extra[j], rng, take_rows(rows, members))
        return y

    def inference(
        self, X, y, sample_weight=None, cov_type="oim", alpha=0.05, equivalence_margin=0.1,
        verdict_adjustment="none", family_data=None,
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
            verdict_adjustment=verdict_adjustment,
            family_data=family_data,
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
        params["focal_direction"] = int(params["focal_direction"])
        if params["init_params"] is not None:
            starts = (self._given_starts() if self.family == "gaussian"
                      else self._given_family_starts(self.family_, self.n_features_in_))
            params["init_params"] = [
                {name: np.asarray(value).tolist() for name, value in start._asdict().items()} for start in starts
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
            "start_stop_reasons": list(self.start_stop_reasons_),
            "start_reached_best": self.start_reached_best_.tolist(),
            "optimum_replicated": bool(self.optimum_replicated_),
            "best_start": int(self.best_start_),
            "n_best_starts": int(self.n_best_starts_),
            "removed_segments": [dict(r) for r in self.removed_segments_],
            "dropped_rows": list(self.dropped_rows_),
            "n_obs": int(self.n_obs_),
            "sum_weights": float(self.sum_weights_),
            "outcome_variance": float(self.outcome_variance_),
            "variance_floor": variance_floor_setting(self.variance_floor_),
            "family": self.family_.name,
            "family_settings": dict(self.family_settings_),
            "extra": self.extra_.tolist(),
        }

    @classmethod
    def from_dict(cls, d):
        """Rebuild a fitted model from :meth:`to_dict` output."""
        if d.get("format") != _FORMAT:
            raise DataError(
                f"this fitted model was saved as {d.get('format')!r}, which this version of trustseg "
                f"({_FORMAT}) cannot read; fit it again (delete the old results/ and rerun)"
            )
        if "equations" in d["hyperparameters"] and cls is ClusterwiseRegression:
            from trustseg.model.chain import ChainRegression  # a model of several equations

            return ChainRegression.from_dict(d)
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
        model.start_stop_reasons_ = list(d["start_stop_reasons"])
        model.start_reached_best_ = np.asarray(d["start_reached_best"], dtype=bool)
        model.optimum_replicated_ = bool(d["optimum_replicated"])
        model.best_start_ = int(d["best_start"])
        model.n_best_starts_ = int(d["n_best_starts"])
        model.removed_segments_ = [dict(r) for r in d["removed_segments"]]
        model.dropped_rows_ = list(d["dropped_rows"])
        model.n_obs_ = int(d["n_obs"])
        model.sum_weights_ = float(d["sum_weights"])
        model.outcome_variance_ = float(d["outcome_variance"])
        floor = d["variance_floor"]
        model.variance_floor_ = (None if floor is None else
                                 np.array([np.nan if v is None else v for v in floor], dtype=float)
                                 if isinstance(floor, list) else float(floor))
        model.family_ = _family_from_record(d["family"], d["family_settings"])
        model.family_settings_ = dict(d["family_settings"])
        model.extra_ = np.asarray(d["extra"], dtype=float).reshape(model.n_segments_, -1)
        return model
