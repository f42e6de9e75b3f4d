"""Diagnostics of a fitted clusterwise regression: degenerate segments and residual spread.

Pure functions on a fitted :class:`~trustseg.model.mixture.ClusterwiseRegression`
and the data it was fitted to.  They say when a solution should not be read
as it stands:

``variance_floor``
    The segment's residual variance sits on the variance floor
    (``sigma_k**2 <= floor * (1 + FLOOR_RTOL)``, the floor being
    ``model.variance_floor_`` unless given).  The likelihood would have pushed
    it lower: the segment fits its members more tightly than the rounding of
    the answers allows (a spike on one scale point, or respondents lying on a
    line such as ``y = x + c``), and its standard errors come from a boundary,
    not from a maximum.
``point_mass_at_bound``
    At least ``POINT_MASS_SHARE`` (90%) of the segment's posterior weight
    ``sum_i w_i tau_ik`` falls on respondents whose outcome equals one bound of
    the scale (the minimum, or the maximum; not the two together).  The scale
    is the outcome construct's, or the observed range of the outcome when it
    is not known.  Such a segment is a floor or ceiling effect of the answer
    scale, not a regression: its slope is flat by construction.
``separation``
    A binomial, ordinal or poisson segment whose coefficients sit on the box
    the fit keeps them in (:func:`~trustseg.model.families.coefficient_bounds`):
    its answers are perfectly predicted (all one answer, or split by a
    predictor), the likelihood has no maximum there, and its coefficients
    and standard errors mean nothing.
``singular_information`` (model level)
    The observed information of the full mixture likelihood is not positive
    definite: its smallest eigenvalue is at most ``SINGULAR_RTOL`` times its
    largest (:func:`information_is_singular`, the same rule by which
    :class:`~trustseg.model.inference.MixtureInference` falls back on a
    pseudo-inverse).  The solution is not a strict local maximum and none of
    its standard errors can be trusted.

:func:`segment_problems` gives one row per segment; :func:`problem_codes`
condenses it into the text of the ``problems`` column of
``model_selection.csv`` (``variance_floor(2 segments);point_mass_at_bound(1
segment);singular_information``, empty when there is none) and
:func:`problems_phrase` into words.

:func:`residual_spread` tests, per segment, whether the residual spread
changes with the predictors (a Koenker-type Breusch-Pagan score test with the
segment's posterior weights), which the model's constant ``sigma_k`` assumes
it does not.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import stats

from trustseg.model._core import MixtureParams
from trustseg.model.families import NORMAL_FAMILIES, SEPARATING_FAMILIES, coefficient_bounds, on_bounds
from trustseg.render import join_words

__all__ = [
    "FLOOR_RTOL",
    "POINT_MASS_SHARE",
    "SINGULAR_RTOL",
    "PROBLEMS",
    "information_is_singular",
    "segment_problems",
    "problem_codes",
    "parse_problem_codes",
    "problems_phrase",
    "residual_spread",
    "RESIDUAL_SPREAD_COLUMNS",
]

#: a residual variance within this relative distance of the floor counts as on it
FLOOR_RTOL = 1e-3
#: share of a segment's posterior weight at one scale bound that makes it a point mass there
POINT_MASS_SHARE = 0.9
#: the observed information is singular when its smallest eigenvalue is at most this times its largest
SINGULAR_RTOL = 1e-10
#: families of a rating-scale outcome, whose segments can be a point mass at a bound of the scale
BOUNDED_RATING_FAMILIES = ("gaussian", "censored", "ordinal", "location_scale")
#: the problem codes, in the order they are reported
PROBLEMS = ("variance_floor", "point_mass_at_bound", "separation", "singular_information")
#: the columns of :func:`residual_spread`
RESIDUAL_SPREAD_COLUMNS = [
    "segment", "predictor", "statistic", "df", "p_value", "spread_varies", "variance_slope", "n_effective",
]
#: the ``predictor`` label of the joint test of all predictors (only with more than one predictor)
ALL_PREDICTORS = "(all predictors)"


def information_is_singular(information) -> bool:
    """Whether an information matrix is not positive definite (relative to its largest eigenvalue).

    True when the smallest eigenvalue of the symmetrised matrix is at most
    ``SINGULAR_RTOL`` times the largest (or anything is not finite).
    """
    information = np.asarray(information, dtype=float)
    if not np.isfinite(information).all():
        return True
    eigenvalues = np.linalg.eigvalsh((information + information.T) / 2)
    return bool(eigenvalues.min() <= SINGULAR_RTOL * max(eigenvalues.max(), 1e-300))


def _data(model, X, y, sample_weight, family_data=None):
    """The data as the model reads them (a chain's outcomes are columns of X): predictors, outcome, weights."""
    data, _ = model._validated(X, y, sample_weight, family_data)
    return data["X"], data["y"], data["w"]


def _equation_views(model, ya, variance_floor=None, scale=None):
    """Per equation: its family, outcome column, each segment's residual SD (NaN without one), floor and scale.

    One equation for a single-outcome model; for a chain (an equation
    system) each equation's, with ``variance_floor`` and ``scale`` given per
    equation (a list) or for all of them.
    """
    family = model.family_
    if getattr(family, "equation_blocks", None) is None:
        floor = model.variance_floor_ if variance_floor is None else variance_floor
        return [(family, ya, model.sigma_, np.nan if floor is None else float(floor), scale)]
    n_eq = family.n_equations
    floors = np.asarray(model.variance_floor_ if variance_floor is None else variance_floor, dtype=float)
    floors = np.broadcast_to(floors, (n_eq,))
    scales = scale if isinstance(scale, list) and len(scale) == n_eq and not np.isscalar(scale[0]) else [scale] * n_eq
    views = []
    for e, (member, extras) in enumerate(zip(family.families, family.extra_blocks)):
        sigma = (np.exp(model.extra_[:, extras[0]]) if member.name in NORMAL_FAMILIES
                 else np.full(model.n_segments_, np.nan))
        views.append((member, ya[:, e], sigma, float(floors[e]), scales[e]))
    return views


def segment_problems(model, X, y, sample_weight=None, *, scale=None, variance_floor=None,
                     singular_information=None, family_data=None) -> pd.DataFrame:
    """The problems of each segment of a fitted model.

    Parameters
    ----------
    model : ClusterwiseRegression
        Fitted on (X, y, sample_weight).
    X, y, sample_weight
        The data it was fitted to.
    scale : (float, float), optional
        Lowest and highest possible outcome (the outcome construct's scale).
        Default: the observed minimum and maximum of ``y``.
    variance_floor : float, optional
        The residual-variance floor the fit used; default ``model.variance_floor_``.
    singular_information : bool, optional
        Whether the observed information is singular, when already known
        (e.g. ``MixtureInference.singular_information``); computed otherwise.
    family_data : dict, optional
        The trials or offset the model was fitted with.

    Returns
    -------
    DataFrame
        One row per segment: ``segment``, ``share``, ``sigma``,
        ``variance_floor`` (the floor, squared outcome units),
        ``on_variance_floor``, ``bound`` (the scale bound holding most of the
        segment, NaN when none holds any), ``bound_share`` (share of the
        segment's posterior weight at that bound), ``point_mass_at_bound``, ``separation``,
        ``singular_information`` (the same on every row) and ``problems`` (the
        codes that apply, ``;``-separated, empty when none).
    """
    model._check_fitted()
    Xa, ya, w = _data(model, X, y, sample_weight, family_data)
    k = model.n_segments_
    posterior = model.predict_proba(X, y, family_data=family_data)
    mass = (w[:, None] * posterior).sum(axis=0)
    on_floor = np.zeros(k, dtype=bool)
    point_mass = np.zeros(k, dtype=bool)
    bound, bound_share = np.full(k, np.nan), np.zeros(k)
    views = _equation_views(model, ya, variance_floor, scale)
    floors = [view[3] for view in views]
    for family, y_e, sigma, floor, scale_e in views:
        # the variance floor binds only families with a residual SD (NaN sigma compares False)
        on_floor |= sigma**2 <= floor * (1.0 + FLOOR_RTOL)
        low, high = (float(y_e.min()), float(y_e.max())) if scale_e is None else (float(scale_e[0]), float(scale_e[1]))
        atol = 1e-9 * max(1.0, abs(high - low))
        bound_shares = np.column_stack([
            (w * np.isclose(y_e, b, rtol=0.0, atol=atol)) @ posterior / np.maximum(mass, 1e-300) for b in (low, high)
        ])  # (K, 2): share of each segment at the lowest and at the highest answer
        which = bound_shares.argmax(axis=1)
        share = bound_shares[np.arange(len(which)), which]
        # one outcome reports its bound whatever its family; a chain, the rating outcomes' highest share
        if len(views) == 1 or family.name in BOUNDED_RATING_FAMILIES:
            larger = share > bound_share
            bound = np.where(larger, np.where(share > 0, np.where(which == 0, low, high), np.nan), bound)
            bound_share = np.maximum(bound_share, share)
        # a yes/no outcome is always at a bound, and a segment of zero counts is a real one (non-users)
        point_mass |= (share >= POINT_MASS_SHARE) & (family.name in BOUNDED_RATING_FAMILIES)
    floor = floors[0] if len(floors) == 1 else float(np.nanmax(floors)) if np.isfinite(floors).any() else np.nan

    separated = np.zeros(k, dtype=bool)
    if model.family_.name in SEPARATING_FAMILIES:
        separated = on_bounds(model.family_params_, coefficient_bounds(model.family_, Xa, w))

    if singular_information is None:
        hessian, _, _ = model.observed_information(X, y, sample_weight, family_data)
        singular_information = information_is_singular(-hessian)
    singular = bool(singular_information)

    rows = []
    for j in range(k):
        codes = [code for code, flag in zip(PROBLEMS, (on_floor[j], point_mass[j], separated[j], singular)) if flag]
        rows.append({
            "segment": j + 1, "share": float(model.weights_[j]), "sigma": float(model.sigma_[j]),
            "variance_floor": floor, "on_variance_floor": bool(on_floor[j]), "bound": float(bound[j]),
            "bound_share": float(bound_share[j]), "point_mass_at_bound": bool(point_mass[j]),
            "separation": bool(separated[j]),
            "singular_information": singular, "problems": ";".join(codes),
        })
    return pd.DataFrame(rows)


def problem_codes(problems: pd.DataFrame) -> str:
    """The model-level summary of :func:`segment_problems`, e.g. ``variance_floor(2 segments);singular_information``.

    Empty when the model has no problem.
    """
    parts = []
    for code, column in (("variance_floor", "on_variance_floor"), ("point_mass_at_bound", "point_mass_at_bound"),
                         ("separation", "separation")):
        if column not in problems:
            continue
        count = int(problems[column].sum())
        if count:
            parts.append(f"{code}({count} segment{'s' if count > 1 else ''})")
    if len(problems) and bool(problems["singular_information"].iloc[0]):
        parts.append("singular_information")
    return ";".join(parts)


_CODE = re.compile(r"^(?P<code>[a-z_]+)(?:\((?P<count>\d+)[^)]*\))?$")


def parse_problem_codes(text) -> dict[str, int]:
    """``{code: number of segments}`` from a ``problems`` text (``singular_information`` counts 1).

    Empty (or missing, as read back from a CSV) text gives ``{}``; unknown codes are kept.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)) or not str(text).strip():
        return {}
    out = {}
    for part in str(text).split(";"):
        match = _CODE.match(part.strip())
        if match:
            out[match["code"]] = int(match["count"]) if match["count"] else 1
    return out


def problems_phrase(text, k: int | None = None, *, one_segment: bool = False) -> str:
    """A ``problems`` text in words, e.g. "5 of its 6 segments sit on the variance floor".

    ``k`` is the number of segments of the model (said when given).  With
    ``one_segment`` the text is one segment's codes and the words are about
    it ("it sits on the variance floor").  Empty text gives "".
    """
    codes = parse_problem_codes(text)
    of = f" of its {k} segments" if k else " of its segments"
    phrases = []
    if "variance_floor" in codes:
        n = codes["variance_floor"]
        who = "it" if one_segment else f"{n}{of}"
        phrases.append(f"{who} {'sit' if n > 1 and not one_segment else 'sits'} on the variance floor")
    if "point_mass_at_bound" in codes:
        n = codes["point_mass_at_bound"]
        who = "it" if one_segment else f"{n}{of}"
        phrases.append(f"{who} {'are point masses' if n > 1 and not one_segment else 'is a point mass'} at an end "
                       "of the outcome scale")
    if "separation" in codes:
        n = codes["separation"]
        who = "its answers are" if one_segment else f"{n}{of} have answers"
        phrases.append(f"{who} perfectly predicted (separation), so {'its' if one_segment else 'their'} "
                       "coefficients run to infinity")
    if "singular_information" in codes:
        whose = "the model's" if one_segment else "its"
        phrases.append(f"{whose} observed information is singular, so its standard errors cannot be trusted")
    phrases += [code.replace("_", " ") for code in codes if code not in PROBLEMS]
    return join_words(phrases)


def _koenker(u, Z, a):
    """Koenker's score statistic ``n_eff R^2`` of the weighted regression of ``u`` on ``Z`` (with intercept)."""
    n_eff = a.sum()
    design = np.column_stack([np.ones(len(u)), Z])
    root = np.sqrt(a)
    beta = np.linalg.lstsq(design * root[:, None], u * root, rcond=None)[0]
    mean = a @ u / n_eff
    total = a @ (u - mean) ** 2
    if not total > 0:
        return np.nan, beta
    r_squared = 1.0 - a @ (u - design @ beta) ** 2 / total
    return float(n_eff * max(r_squared, 0.0)), beta


def residual_spread(model, X, y, sample_weight=None, alpha: float = 0.05) -> pd.DataFrame:
    """Test, per segment, whether the residual spread changes with the predictors.

    For segment ``k`` with residuals ``e_ik = y_i - a_k - x_i'b_k`` of every
    respondent, the squared residuals ``e_ik**2`` are regressed on ``(1, x_i)``
    by weighted least squares with weights ``v_ik = w_i tau_ik`` (survey
    weights rescaled to mean 1 times the posterior probabilities).  Under the
    model's constant segment variance the predictors explain none of it, and
    Koenker's (1981) studentised Breusch-Pagan statistic ``n_k R^2``, with
    ``R^2`` the weighted coefficient of determination and ``n_k = sum_i v_ik``
    the segment's expected number of respondents, is approximately
    chi-squared with as many degrees of freedom as predictors tested.  It
    does not assume normal residuals (Koenker's form).  The test conditions
    on the estimated coefficients and memberships, as the usual
    Breusch-Pagan test conditions on least-squares residuals.

    Parameters
    ----------
    model : ClusterwiseRegression
        Fitted on (X, y, sample_weight).
    X, y, sample_weight
        The data it was fitted to.
    alpha : float, default 0.05
        ``spread_varies`` is ``p_value < alpha``.

    Returns
    -------
    DataFrame
        Empty for families other than gaussian (their spread is set by the
        mean, or is latent).  Otherwise ``RESIDUAL_SPREAD_COLUMNS``: one row per segment and predictor (the
        test against that predictor alone, 1 df), plus a joint row
        (``predictor`` = ``"(all predictors)"``, as many df as predictors)
        when there are several.  ``variance_slope`` is the change in the
        residual variance per predictor point (squared outcome units; NaN on
        the joint row): positive when the spread grows with the predictor.
        ``n_effective`` is ``n_k``.
    """
    model._check_fitted()
    if model.family_.name != "gaussian":
        # residuals of a linear regression with constant variance are what the test is about
        return pd.DataFrame(columns=RESIDUAL_SPREAD_COLUMNS)
    Xa, ya, w = _data(model, X, y, sample_weight)
    params = MixtureParams.of(model)
    posterior = params.posteriors(Xa, ya)
    w = w * (len(w) / w.sum())  # survey weights count respondents, whatever their scale
    names = [str(n) for n in model.feature_names_in_]
    tests = [([j], name) for j, name in enumerate(names)]
    if len(names) > 1:
        tests.append((list(range(len(names))), ALL_PREDICTORS))
    rows = []
    for k in range(len(params.intercept)):
        residuals = ya - params.intercept[k] - Xa @ params.coef[k]
        a = w * posterior[:, k]
        for columns, label in tests:
            statistic, beta = _koenker(residuals**2, Xa[:, columns], a)
            df = len(columns)
            p_value = float(stats.chi2.sf(statistic, df)) if np.isfinite(statistic) else np.nan
            rows.append({
                "segment": k + 1, "predictor": label, "statistic": statistic, "df": df, "p_value": p_value,
                "spread_varies": bool(np.isfinite(p_value) and p_value < alpha),
                "variance_slope": float(beta[1]) if df == 1 else np.nan,
                "n_effective": float(a.sum()),
            })
    return pd.DataFrame(rows, columns=RESIDUAL_SPREAD_COLUMNS)
