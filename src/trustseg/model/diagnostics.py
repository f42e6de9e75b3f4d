"""Diagnostics of a fitted clusterwise regression: spurious segments and residual spread.

Pure functions on a fitted estimator and the data it was fitted to.  They say
when a solution should not be read as it stands: the spurious segments of
:mod:`trustseg.model.admissibility` (``variance_floor``, ``one_answer``,
``two_ends``, ``separation``; their definitions and thresholds are there, the
one place the search and these diagnostics share), and at the model level

``singular_information``
    The observed information of the full mixture likelihood is not positive
    definite: its smallest eigenvalue is at most ``SINGULAR_RTOL`` times its
    largest (:func:`information_is_singular`, the same rule by which
    :class:`~trustseg.model.inference.MixtureInference` falls back on a
    pseudo-inverse).  The solution is not a strict local maximum and none of
    its standard errors can be trusted.

:func:`segment_problems` gives one row per segment; :func:`problem_codes`
condenses it into the text of the ``problems`` column of
``model_selection.csv`` (``variance_floor(2 segments);one_answer(1
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

from trustseg.model.admissibility import KINDS, segment_flaws
from trustseg.model.likelihood import e_step
from trustseg.render import join_words

__all__ = [
    "SINGULAR_RTOL",
    "PROBLEMS",
    "grouped_information",
    "information_is_singular",
    "segment_problems",
    "problem_codes",
    "parse_problem_codes",
    "problems_phrase",
    "set_aside_sentence",
    "residual_spread",
    "RESIDUAL_SPREAD_COLUMNS",
]

#: the observed information is singular when its smallest eigenvalue is at most this times its largest
SINGULAR_RTOL = 1e-10
#: the problem codes, in the order they are reported: the spurious kinds, then the model-level one
PROBLEMS = (*KINDS, "singular_information")
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


def grouped_information(matrix, groups) -> np.ndarray:
    """``matrix`` (p, p) in the parameters that are free at the solution: ``G' matrix G`` for the (p, r)
    indicator ``G`` of ``groups`` (:func:`~trustseg.model.families.met_threshold_groups`)."""
    _, column = np.unique(groups, return_inverse=True)
    indicator = np.zeros((len(groups), column.max() + 1))
    indicator[np.arange(len(groups)), column] = 1.0
    return indicator.T @ np.asarray(matrix, dtype=float) @ indicator


def _data(model, X, y, sample_weight, family_data=None):
    """The data as the model reads them (a chain's outcomes are columns of X): design, outcome, weights."""
    data, _ = model._validated(X, y, sample_weight, family_data)
    return data["design"], data["y"], data["w"]


def segment_problems(model, X, y, sample_weight=None, *, variance_floor=None, singular_information=None,
                     family_data=None) -> pd.DataFrame:
    """The problems of each segment of a fitted model.

    Parameters
    ----------
    model : ClusterwiseRegression or ChainRegression
        Fitted on (X, y, sample_weight).
    X, y, sample_weight
        The data it was fitted to.
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
        One row per segment: ``segment``, ``share``, ``sigma``; a column per
        spurious kind (``variance_floor``, ``one_answer``, ``two_ends``,
        ``separation``: whether the segment is so); ``answer_value`` and
        ``answer_share`` (the value a ``one_answer`` segment piles at, and
        the share of its weight there); ``singular_information`` (the same
        on every row) and ``problems`` (the codes that apply,
        ``;``-separated, empty when none).
    """
    model._check_fitted()
    problem = model.problem_for(X, y, sample_weight, family_data, variance_floor)
    flaws = segment_flaws(problem, model.params_)
    if singular_information is None:
        hessian, _, _ = model.observed_information(X, y, sample_weight, family_data)
        singular_information = information_is_singular(grouped_information(-hessian, model.parameter_groups()))
    singular = bool(singular_information)
    rows = []
    for j, flaw in enumerate(flaws):
        pile = flaw.get("one_answer", {})
        rows.append({
            "segment": j + 1, "share": float(model.weights_[j]), "sigma": float(model.sigma_[j]),
            **{kind: kind in flaw for kind in KINDS},
            "answer_value": pile.get("value", np.nan), "answer_share": pile.get("share", np.nan),
            "singular_information": singular,
            "problems": ";".join([kind for kind in KINDS if kind in flaw] + ["singular_information"] * singular),
        })
    return pd.DataFrame(rows)


#: the share of a variance-floor segment at one answer from which the sentence names that answer
PILE_WORDS_SHARE = 0.5


def _segment_words(flaw: dict, members: float, share: float) -> str:
    """What made one set-aside segment spurious, in words: "a segment of the 200 respondents (26%) whose ..."."""
    who = f"{members:.0f} respondents ({100 * share:.0f}%)"
    if "one_answer" in flaw:
        value = flaw["one_answer"]["value"]
        return f"the {who} who (nearly) all gave the answer {value:g} into a segment of their own"
    if "two_ends" in flaw:
        return f"{who} at the two ends of the scale into one segment"
    if "variance_floor" in flaw:
        pile = flaw["variance_floor"]
        if pile.get("share", 0.0) >= PILE_WORDS_SHARE:  # mostly one answer: say which (a pile, not a plane)
            who += f", {100 * pile['share']:.0f}% of whom gave the answer {pile['value']:g},"
        return f"{who} into a segment that fits them (nearly) exactly, on the variance floor"
    if "separation" in flaw:
        return f"{who} into a segment whose answers it predicts perfectly (separation)"
    return f"{who} into a spurious segment"


def set_aside_sentence(model) -> str:
    """The best spurious solution the search set aside with a higher likelihood than the one returned, in words.

    "a solution with a log-likelihood 3.23 higher put the 200 respondents (26%) who (nearly) all gave the answer
    1.5 into a segment of their own; it was set aside as spurious". Empty when nothing higher was set aside
    (the records are the fitted model's ``set_aside_``).
    """
    higher = [r for r in getattr(model, "set_aside_", []) if r["loglik"] > model.loglik_]
    if not higher:
        return ""
    best = max(higher, key=lambda r: r["loglik"])
    total = sum(best["weights"]) or 1.0
    parts = []
    for weight, flaw in zip(best["weights"], best["flaws"]):
        if flaw:
            members = max((v.get("members", 0.0) for v in flaw.values()), default=0.0)
            parts.append(_segment_words(flaw, members, weight / total))
    return (f"a solution with a log-likelihood {best['loglik'] - model.loglik_:.2f} higher put "
            f"{join_words(parts)}; it was set aside as spurious")


def problem_codes(problems: pd.DataFrame) -> str:
    """The model-level summary of :func:`segment_problems`, e.g. ``variance_floor(2 segments);singular_information``.

    Empty when the model has no problem.
    """
    parts = []
    for code in KINDS:
        count = int(problems[code].sum()) if code in problems else 0
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
    if "one_answer" in codes:
        n = codes["one_answer"]
        who = "it" if one_segment else f"{n}{of}"
        phrases.append(f"{who} {'are' if n > 1 and not one_segment else 'is'} (nearly) one answer value of the "
                       "outcome, a pile of the answer scale rather than a regression")
    if "two_ends" in codes:
        n = codes["two_ends"]
        who = "it" if one_segment else f"{n}{of}"
        phrases.append(f"{who} {'spread' if n > 1 and not one_segment else 'spreads'} over both ends of the "
                       "outcome scale rather than along a line")
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
    if not model.family_.linear_normal:
        # residuals of a linear regression with constant variance are what the test is about
        return pd.DataFrame(columns=RESIDUAL_SPREAD_COLUMNS)
    design, ya, w = _data(model, X, y, sample_weight)
    params = model.params_
    posterior = e_step(model.family_, design, ya, params)[0]
    Xa = design[:, 1:]
    w = w * (len(w) / w.sum())  # survey weights count respondents, whatever their scale
    names = [str(n) for n in model.feature_names_in_]
    tests = [([j], name) for j, name in enumerate(names)]
    if len(names) > 1:
        tests.append((list(range(len(names))), ALL_PREDICTORS))
    rows = []
    for k in range(len(params.weights)):
        residuals = ya - design @ params.beta[k]
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
