"""Clusterwise regression of several equations sharing one set of segments (issue 13: the trust chain).

:class:`ChainRegression` fits, for example, ``trust ~ satisfaction`` and
``repurchase ~ satisfaction + trust`` with the same latent segments in both
equations: a respondent belongs to one segment, and in it both equations
hold with that segment's coefficients (DeSarbo and Cron 1988 for one
equation; flexmix's list of component models sharing the latent classes,
Grün and Leisch 2008, for several).  Given the segment the equations' errors
are independent.  The engine is that of every outcome family (:mod:`trustseg.model.search`),
with the equations presented to it as one family
(:class:`~trustseg.model.families.system.EquationSystem`).

The equations are given in order: an outcome used as a predictor (a
mediator such as trust) must be the outcome of an earlier equation, so the
chain has no cycle.  Coefficients are named ``"<outcome>~<term>"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real

import numpy as np
import pandas as pd

from trustseg.equations import TERM_SEPARATOR, chain_order_problems, chain_predictors, chain_variables, term_name
from trustseg.errors import DataError
from trustseg.model.effects import chain_effects, chain_paths
from trustseg.model.estimator import SHARED_CONSTRAINTS, FitData, SegmentedRegression
from trustseg.model.families import FAMILIES, family_for_data, variance_floor
from trustseg.model.families.system import EquationSystem, system_data
from trustseg.model.hyperparameters import Interval, OneOf
from trustseg.model.validation import INTERCEPT, check_identifiable, weight_values


def equation_list(equations) -> list[tuple[str, list[str]]]:
    """The equations as ``(outcome, predictors)`` pairs, checked: none empty, no cycle, each outcome once.

    Each equation is a pair or a mapping with ``outcome`` and ``predictors``.
    A predictor that is another equation's outcome must come from an earlier
    equation.
    """
    out = []
    for i, equation in enumerate(equations or ()):
        if isinstance(equation, Mapping):
            outcome, predictors = equation.get("outcome"), equation.get("predictors")
        else:
            outcome, predictors = equation
        if isinstance(predictors, str):
            predictors = [predictors]
        if not isinstance(outcome, str) or not predictors or not all(isinstance(p, str) for p in predictors):
            raise ValueError(f"equation {i + 1} must give an outcome and a list of predictors, got {equation!r}")
        out.append((outcome, list(predictors)))
    if not out:
        raise ValueError("a chain needs at least one equation")
    problems = chain_order_problems(out)
    repeated = sorted({variables[0] for _, rule, variables in problems if rule == "repeated_outcome"})
    if repeated:
        raise ValueError(f"{repeated} is the outcome of more than one equation")
    for i, rule, variables in problems:
        outcome, predictors = out[i]
        if rule == "own_outcome":
            raise ValueError(f"equation {i + 1} ({outcome}) has its own outcome among its predictors")
        if rule == "repeated_predictor":
            raise ValueError(f"equation {i + 1} ({outcome}) lists a predictor twice: {predictors}")
        raise ValueError(
            f"equation {i + 1} ({outcome}) uses {variables}, the outcome of a later equation: order the equations "
            "so that each mediator is explained before it explains (a chain has no cycles)"
        )
    return out


class ChainRegression(SegmentedRegression):
    """Several regression equations sharing one set of latent segments.

    Parameters
    ----------
    equations : sequence
        ``(outcome, predictors)`` pairs (or mappings with those keys) in
        order, e.g. ``[("trust", ["satisfaction"]), ("repurchase",
        ["satisfaction", "trust"])]``.
    family : str or sequence of str, default "gaussian"
        The outcome family of every equation, or one per equation.
    family_options : dict or sequence of dict, optional
        The families' settings (censored bounds, ordinal categories), for
        every equation or one per equation.
    variance_floor : float or sequence, optional
        Residual-variance floor of every normal equation, or one per
        equation (None: the default floor of the outcome,
        :func:`~trustseg.model.families.variance_floor`).
    focal : str, optional
        The focal predictor (default: the first predictor of the first
        equation); it must be a predictor of the first equation.  Segments
        are ordered by its total effect on the last equation's outcome.

    The other parameters are those of
    :class:`~trustseg.model.mixture.ClusterwiseRegression`; the fit is
    maximum likelihood (EM) with a constant spread.

    Fitted attributes are those of
    :class:`~trustseg.model.estimator.SegmentedRegression` with the
    coefficients of all equations side by side: ``coef_`` (K, Q) named by
    ``coef_terms_`` (``"<outcome>~<term>"``), ``extra_`` (K, m) named by
    ``extra_names_`` (``"<outcome>:log_sigma"`` per normal equation);
    ``intercept_`` is zero (each equation's intercept is a coefficient) and
    ``sigma_`` NaN (each equation has its own, in ``extra_``).
    ``equations_`` holds the checked equations and ``variance_floor_`` one
    floor per equation (NaN for a family without a residual SD).
    """

    _parameter_constraints: dict = {
        **SHARED_CONSTRAINTS,
        "equations": [list, tuple],
        "family": [OneOf(frozenset(FAMILIES)), list, tuple],
        "family_options": [dict, list, tuple, None],
        "variance_floor": [Interval(Real, 0, None, closed="neither"), list, tuple, None],
        "focal": [str, None],
    }

    def __init__(
        self,
        equations=(),
        n_segments=3,
        n_init=20,
        family="gaussian",
        family_options=None,
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
        self.equations = equations
        self.n_segments = n_segments
        self.n_init = n_init
        self.family = family
        self.family_options = family_options
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

    # -- the data ----------------------------------------------------------------

    def _per_equation(self, value, n_eq, what):
        if isinstance(value, (list, tuple)):
            if len(value) != n_eq:
                raise ValueError(f"{what} gives {len(value)} values for {n_eq} equations")
            return list(value)
        return [value] * n_eq

    def _system(self, equations, Y):
        """The equation system with each equation's family (bounds and categories default to the data's)."""
        names = self._per_equation(self.family, len(equations), "family")
        options = self._per_equation(self.family_options, len(equations), "family_options")
        families = [family_for_data(name, opts, Y[:, e], outcome)
                    for e, ((outcome, _), name, opts) in enumerate(zip(equations, names, options))]
        return EquationSystem(tuple(families), tuple(len(p) for _, p in equations),
                              tuple(o for o, _ in equations))

    def _variables(self, X, equations, missing, sample_weight=None):
        """The variables every equation reads as a float frame, the weights, and the rows kept."""
        if not isinstance(X, pd.DataFrame):
            raise DataError("a chain needs X as a DataFrame holding every outcome and predictor of its equations")
        variables = chain_variables(equations)
        absent = [v for v in variables if v not in X.columns]
        if absent:
            raise DataError(f"X lacks the columns {absent}, which the equations use")
        frame = X[variables].apply(pd.to_numeric, errors="coerce").astype(float)
        w = weight_values(sample_weight, len(frame), X.index)
        finite = np.isfinite(frame.to_numpy()).all(axis=1) & np.isfinite(w)
        if not finite.all() and missing == "raise":
            rows = [str(r) for r in frame.index[~finite][:5]]
            raise DataError(f"{int((~finite).sum())} rows have missing or non-numeric values in {variables} "
                            f"(e.g. rows {rows}); drop them or pass missing='drop'")
        return frame, w, finite

    def _side_data(self, family_data, kept, equations):
        """``family_data`` ({outcome: {"trials" | "offset": array}}) as the system's flat per-row dict."""
        if not family_data:
            return None
        outcomes = [o for o, _ in equations]
        unknown = sorted(set(family_data) - set(outcomes))
        if unknown:
            raise ValueError(f"family_data is keyed by the equations' outcomes {outcomes}, not {unknown}")
        per_equation = []
        for outcome in outcomes:
            rows = {}
            for key, value in (family_data.get(outcome) or {}).items():
                if key not in ("trials", "offset"):
                    raise ValueError(f"family_data['{outcome}'] takes 'trials' and 'offset', not {key!r}")
                array = np.asarray(value, dtype=float).reshape(-1)
                if array.shape != kept.shape:
                    raise DataError(f"family_data['{outcome}']['{key}'] has {array.size} values for "
                                    f"{kept.size} respondents")
                rows[key] = array[kept]
            per_equation.append(rows or None)
        return system_data(per_equation)

    def _floors(self, family, outcomes, w):
        """The residual-variance floor of each equation: given, or the default of its outcome; NaN without one."""
        given = self._per_equation(self.variance_floor, family.n_equations, "variance_floor")
        return np.array([(variance_floor(outcomes[:, e], w) if floor is None else float(floor)) if member.normal
                         else np.nan for e, (member, floor) in enumerate(zip(family.families, given))])

    # -- fitting -------------------------------------------------------------------

    def fit(self, X, y=None, sample_weight=None, missing="raise", family_data=None):
        """Fit the equations' shared segments from every start and keep the best optimum.

        Parameters
        ----------
        X : DataFrame
            Every outcome and predictor of the equations, one row per respondent.
        y : None
            Unused: the outcomes are columns of ``X``.
        sample_weight : array-like of shape (n,), optional
        missing : {"raise", "drop"}
        family_data : dict, optional
            ``{outcome: {"trials": ..., "offset": ...}}`` for binomial and poisson equations.

        Returns
        -------
        self
        """
        self.equations_ = equation_list(self.equations)
        return self._fit(X, y, sample_weight, missing, family_data)

    def _fit_data(self, X, y, sample_weight, missing, family_data) -> FitData:
        equations = self.equations_
        frame, w, kept = self._variables(X, equations, missing, sample_weight)
        dropped = [str(r) for r in frame.index[~kept]]
        frame, w = frame.loc[kept], w[kept]
        outcomes = np.column_stack([frame[o].to_numpy() for o, _ in equations])
        family = self._system(equations, outcomes)
        design = family.design([frame[p].to_numpy() for _, p in equations])
        rows = self._side_data(family_data, kept, equations)
        family.check_outcome(outcomes, "y", rows)
        for e, (_, predictors) in enumerate(equations):
            check_identifiable(frame[predictors].to_numpy(), outcomes[:, e], w, predictors, int(self.n_segments))
        names = [term_name(o, t) for (o, p), member in zip(equations, family.families)
                 for t in ([INTERCEPT] if member.has_intercept else []) + p]
        return FitData(family, design, outcomes, w, rows, names, equations[-1][0], dropped, design,
                       self._floors(family, outcomes, w))

    def _resolve_focal(self, names):
        """The focal predictor's column: its coefficient in the first equation."""
        first_outcome, first_predictors = self.equations_[0]
        focal = first_predictors[0] if self.focal is None else self.focal
        if focal not in first_predictors:
            raise DataError(f"the focal predictor {focal!r} is not a predictor of the first equation "
                            f"({first_outcome} ~ {' + '.join(first_predictors)})")
        return names.index(term_name(first_outcome, focal))

    @property
    def focal_name_(self) -> str:
        """The focal predictor's variable name."""
        return str(self.feature_names_in_[self.focal_index_]).split(TERM_SEPARATOR, 1)[1]

    def _focal_effects(self):
        """Segments are ordered by the focal predictor's total effect on the last outcome (steepest first)."""
        return self.total_effects(self.focal_name_)

    # -- effects -----------------------------------------------------------------------

    def path_coefficients(self, outcome: str, predictor: str) -> np.ndarray:
        """Each segment's coefficient of ``predictor`` in the equation of ``outcome`` (0 where it has none), (K,)."""
        name = term_name(outcome, predictor)
        names = [str(n) for n in self.feature_names_in_]
        return self.coef_[:, names.index(name)].copy() if name in names else np.zeros(len(self.weights_))

    def total_effects(self, source: str, target: str | None = None) -> np.ndarray:
        """Each segment's total effect of ``source`` on ``target`` (default: the last outcome), (K,).

        The sum, over every path from ``source`` to ``target``
        (:func:`trustseg.model.effects.chain_paths`), of the product of its
        coefficients, on the linear-predictor scale.
        """
        self._check_fitted()
        equations = self.equations_
        target = equations[-1][0] if target is None else target
        total = np.zeros(len(self.weights_))
        for path in chain_paths(equations, source, target):
            product = np.ones(len(self.weights_))
            for predictor, outcome in zip(path[:-1], path[1:]):
                product = product * self.path_coefficients(outcome, predictor)
            total = total + product
        return total

    def effects(self, inference, verdict_adjustment=None):
        """Paths, direct, indirect and total effects of the focal predictor per segment, with verdicts.

        ``inference`` is :meth:`inference` of this model (its covariance,
        alpha and equivalence margin); see :func:`trustseg.model.effects.chain_effects`.
        """
        return chain_effects(
            self.equations_, self.focal_name_, self.coef_terms_, inference.param_names, self.coef_,
            np.asarray(inference.cov), alpha=inference.alpha, equivalence_margin=inference.equivalence_margin,
            verdict_adjustment=inference.verdict_adjustment if verdict_adjustment is None else verdict_adjustment,
        )

    # -- using a fitted model ---------------------------------------------------------

    def _validated(self, X, y=None, sample_weight=None, family_data=None):
        """The design and outcomes of ``X`` for the fitted equations, with the per-row side data."""
        self._check_fitted()
        equations = self.equations_
        frame, w, kept = self._variables(X, equations, "raise", sample_weight)
        outcomes = np.column_stack([frame[o].to_numpy() for o, _ in equations])
        design = self.family_.design([frame[p].to_numpy() for _, p in equations])
        rows = self._side_data(family_data, kept, equations)
        self.family_.check_outcome(outcomes, "y", rows)
        return {"X": design, "design": design, "y": outcomes, "w": w}, rows

    def _predictors_and_side_data(self, X, family_data):
        """The design of ``X`` (every equation's predictors; outcomes are not needed) and its side data."""
        self._check_fitted()
        equations = self.equations_
        predictors = chain_predictors(equations)
        if not isinstance(X, pd.DataFrame) or [p for p in predictors if p not in X.columns]:
            raise DataError(f"X must be a DataFrame with the equations' predictors {predictors}")
        frame = X[predictors].astype(float)
        design = self.family_.design([frame[p].to_numpy() for _, p in equations])
        return design, self._side_data(family_data, np.ones(len(frame), dtype=bool), equations)

    def sample_y(self, X, random_state=None, family_data=None):
        """Outcomes of every equation drawn from the fitted mixture at the predictors of ``X``, (n, E).

        A mediator is drawn before the equations it explains, and they use the
        drawn value (so a simulated chain carries its own mediation).
        """
        self._check_fitted()
        equations = self.equations_
        rng = np.random.default_rng(random_state)
        frame = X.copy()
        params = self.params_
        n = len(frame)
        segment = self._draw_segments(n, rng)
        out = np.empty((n, len(equations)))
        blocks, extras = self.family_.equation_blocks, self.family_.extra_blocks
        for e, ((outcome, predictors), family) in enumerate(zip(equations, self.family_.families)):
            design = family.design(frame[predictors].to_numpy(dtype=float))
            eta = np.einsum("ij,ij->i", design, params.beta[:, blocks[e]][segment])
            rows = None
            if family_data and family_data.get(outcome):
                rows = {key: np.asarray(v, dtype=float) for key, v in family_data[outcome].items()}
            y = np.empty(n)
            for j in range(self.n_segments_):
                members = segment == j
                part = None if rows is None else {key: v[members] for key, v in rows.items()}
                y[members] = family.simulate(eta[members], params.extra[j][extras[e]], rng, part)
            out[:, e] = y
            frame[outcome] = y
        return out

    @property
    def family_options_(self) -> list[dict]:
        """Each equation's family settings (bounds, categories): the ``family_options`` that rebuild its family."""
        self._check_fitted()
        return [dict(settings) for settings in self.family_settings_["family_settings"]]
