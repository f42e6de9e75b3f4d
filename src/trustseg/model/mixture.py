"""Clusterwise regression: a finite mixture of regressions of one outcome (DeSarbo and Cron 1988).

Respondent ``i`` belongs to segment ``k`` with probability ``pi_k`` and,
within the segment, its outcome follows the family's distribution with
linear predictor ``a_k + x_i' b_k`` (normal for the gaussian family, as
DeSarbo and Cron's; censored at the scale's ends, cumulative logit, logit or
log link for the others).  Parameters are estimated by maximum likelihood
with the EM algorithm (``method="em"``), or for the gaussian family by
classification EM with one common residual variance (``method="cem"``),
Spaeth's clusterwise regression with segment proportions.

This module turns X, y and the family settings into the data of a fit
(:class:`~trustseg.model.estimator.FitData`); the engine, the fitted
attributes and prediction are the shared base's
(:class:`~trustseg.model.estimator.SegmentedRegression`).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from trustseg.errors import DataError
from trustseg.model.estimator import SHARED_CONSTRAINTS, FitData, SegmentedRegression, default_variance_floor
from trustseg.model.families import FAMILIES, LocationScaleFamily, family_class, family_for_data, spread_data
from trustseg.model.hyperparameters import Interval, OneOf
from trustseg.model.validation import check_identifiable, predictor_values, validate_data

__all__ = ["ClusterwiseRegression"]


def family_rows(family_data, kept):
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


def _with_spread(family, rows, X):
    """The per-row side data with the location-scale family's spread predictors (the columns of X) added."""
    if not isinstance(family, LocationScaleFamily):
        return rows
    return spread_data(family.spread_names, X, rows)


class ClusterwiseRegression(SegmentedRegression):
    """Finite mixture of linear regressions (clusterwise regression) for any outcome family.

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
        Every family runs the same search (:mod:`trustseg.model.search`):
        the split path, random lines and k-means starts, SQUAREM-accelerated
        EM with a Newton finish, split-and-merge and top-down escape moves,
        and the family's own escape starts (an ordinal threshold that ran
        away).  The default is gaussian, not the workflow's censored score:
        a censored fit needs the scale's ends, which only the caller knows
        (``family="censored", family_options={"lower": 1, "upper": 7}`` is
        what the workflow fits for a score over several 1-7 items).
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
        :mod:`trustseg.model.families.spread`), so a spread that grows with
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
        Starting parameters on the original scale
        (:class:`~trustseg.model.params.MixtureParams`, or a mapping of
        ``weights``, ``beta``, ``extra``; a normal family also takes
        ``intercept``, ``coef``, ``sigma``, ``weights``), each with
        ``n_segments`` segments.  Each is one more start, run to
        convergence (Newton finish included) beside the random starts; the
        solution is chosen among all starts by the same rule.

    admissible_only : bool, default True
        Return the highest-likelihood solution without a spurious segment
        (:mod:`trustseg.model.admissibility`: a segment on the variance
        floor, at one answer value, spread over both ends of a censored
        scale, or separated), setting aside any spurious solution of a
        higher likelihood (``set_aside_``).  False returns the plain maximum.
        When no start reached an admissible solution the best one is returned
        with a warning (``admissible_`` False, ``problems_`` says why).

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
    problems_ : list of str
        Each segment's spurious kinds (``;``-separated; empty for an
        admissible segment); ``admissible_`` whether none has any.
    set_aside_ : list of dict
        The spurious solutions of a higher likelihood the search set aside:
        their log-likelihood, shares and each segment's flaws.
    start_admissible_, start_problems_ : ndarray of bool, list of str
        Whether each start ended at an admissible solution, and what was
        spurious in it if not.
    removed_segments_ : list of dict
        Every degenerate segment removed in any start, with the start, the stage
        ("search" on the search subsample, "escape" on the larger sample the
        chosen solution's escape moves use, "full" on all respondents), the
        iteration and the reason; ``in_final`` marks removals in the history
        of the returned solution.
    """

    _parameter_constraints: dict = {
        **SHARED_CONSTRAINTS,
        "method": [OneOf(frozenset({"em", "cem"}))],
        "family": [OneOf(frozenset(FAMILIES))],
        "family_options": [dict, None],
        "spread": [OneOf(frozenset({"constant", "linear"}))],
        "variance_floor": [Interval(Real, 0, None, closed="neither"), None],
        "focal": [str, Interval(Integral, 0, None, closed="left"), None],
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
        admissible_only=True,
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
        self.admissible_only = admissible_only

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
        return self._fit(X, y, sample_weight, missing, family_data)

    # -- the data of a fit --------------------------------------------------------

    def _classification(self) -> bool:
        return self.method == "cem"

    def _family(self, y, y_name, names):
        """The family in force: ``family`` with ``family_options`` (bounds and categories default to the data's),
        with one common variance under CEM, wrapped in the location-scale family of the predictors ``names``
        when ``spread`` is linear."""
        facts = family_class(self.family)
        if self.method == "cem" and not facts.classification_em:
            raise ValueError(f"method={self.method!r} is for the gaussian family; the {self.family} family uses 'em'")
        if self.spread == "linear" and not getattr(facts, "varies_spread", False):
            raise ValueError(f"spread='linear' is for the gaussian and censored families, not {self.family}")
        options = dict(self.family_options or {})
        if self.method == "cem":
            options["common_variance"] = True
        family = family_for_data(self.family, options, y, y_name)
        if self.spread == "linear":
            bounds = {"lower": family.lower, "upper": family.upper} if hasattr(family, "lower") else {}
            return LocationScaleFamily(base=self.family, spread_names=tuple(names), **bounds)
        return family

    def _fit_data(self, X, y, sample_weight, missing, family_data) -> FitData:
        data = validate_data(X, y, sample_weight, missing)
        X_, y_, w = data["X"], data["y"], data["w"]
        family = self._family(y_, data["y_name"], data["names"])
        rows = _with_spread(family, family_rows(family_data, data["kept"]), X_)
        family.check_outcome(y_, data["y_name"], rows)
        check_identifiable(X_, y_, w, data["names"], int(self.n_segments))
        return FitData(family, family.design(X_), y_, w, rows, data["names"], data["y_name"], data["dropped_rows"],
                       X_, default_variance_floor(family, y_, w, self.variance_floor))

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

    def _validated(self, X, y=None, sample_weight=None, family_data=None):
        """The data as arrays, checked against the fitted model, with the family's per-row data."""
        self._check_fitted()
        data = validate_data(X, y, sample_weight, "raise", list(self.feature_names_in_))
        rows = _with_spread(self.family_, family_rows(family_data, data["kept"]), data["X"])
        self.family_.check_outcome(data["y"], data["y_name"], rows)
        data["design"] = self.family_.design(data["X"])
        return data, rows

    def _need_outcome(self, y, method):
        if y is None:
            raise TypeError(f"{method} needs the outcome y: a respondent's segment is read from how well each "
                            "segment explains their answer. To predict the outcome from X alone use "
                            "predict_mean(X) (over the segments) or segment_means(X) (per segment).")
        return y

    def _predictors_and_side_data(self, X, family_data):
        """The design of the predictors ``X``, and the family's per-row data for them (spread predictors included)."""
        self._check_fitted()
        values, _, _ = predictor_values(X, list(self.feature_names_in_))
        rows = _with_spread(self.family_, family_rows(family_data, np.ones(values.shape[0], dtype=bool)), values)
        return self.family_.design(values), rows

    @property
    def family_options_(self) -> dict:
        """The ``family_options`` that rebuild this model's family on other data (bounds, categories).

        For a linear spread, the options of the base family: the spread
        predictors are the model's own.
        """
        self._check_fitted()
        settings = dict(self.family_settings_)
        settings.pop("common_variance", None)
        if not isinstance(self.family_, LocationScaleFamily):
            return settings
        return {key: settings[key] for key in ("lower", "upper") if key in settings
                and hasattr(self.family_.base_family, key)}
