"""Respondents set aside: a group whose answers sit on a few values whatever their predictors, beside the segments.

A quarter of a survey answering 4 to every repurchase item, or a group at the
two ends of the scale, is not a regression segment: their answer depends on
nothing (the kinds ``one_answer``, ``variance_floor`` and ``two_ends`` of
:mod:`trustseg.model.admissibility`).  Left in the data, such a group either
becomes a spurious segment (an unbounded likelihood) or is absorbed by the
real segments and flattens their slopes.  Trimmed clusterwise regression
(Garcia-Escudero, Gordaliza, Mayo-Iscar and San Martin 2010) trims a share of
respondents; a noise component (Banfield and Raftery 1993) gives them a
class of their own.  This module does the second, for the group a spurious
segment revealed: a class with probability ``a_v`` at each of a few answer
values ``v`` and none elsewhere, beside K regression segments:

    L_i = sum_v a_v c_v [y_i = v] + (1 - A) f(y_i | x_i),   A = sum_v a_v,

where ``f`` is the K-segment mixture and ``c_v`` puts the class on the
family's measure: 1 where the family's likelihood of the answer is a
probability (a censored bound, any discrete outcome), 1 / width of the
answer's cell (half-way to its neighbouring answers) where it is a density.
The likelihood is bounded and comparable with the K-segment model's (a
segment at the variance floor has a density the floor sets; this class has
the density of a whole answer spread over its cell), so BIC can choose
between "K segments" and "K segments and a set-aside group".

The fit is a minorise-maximise algorithm (each step raises the likelihood):
with ``tau_i`` the posterior of the set-aside class, the masses are the
weighted counts ``sum_{y_i = v} w_i tau_i / sum w_i``, and the segments are
the K-segment fit with weights ``w_i (1 - tau_i)`` (Jensen's inequality splits
log L_i between the class and the mixture), warm-started from the last one.
The first and last segment fits are full multi-start searches.  Standard
errors come from the exact observed information of L, not of the weighted
fit: the set-aside posteriors' uncertainty adds ``sum w r (1 - r) s s'`` to
the segments' Hessian (``r = 1 - tau``, ``s`` the row score of log f) and
couples it with the masses.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.base import BaseEstimator, clone

from trustseg.model.admissibility import segment_flaws
from trustseg.model.diagnostics import problem_codes, segment_problems
from trustseg.model.families import variance_floor
from trustseg.model.inference import MixtureInference
from trustseg.model.likelihood import information_criteria, observed_information, posterior_criteria
from trustseg.model.validation import weight_values

#: the outer iterations' stopping rule: relative change of the log-likelihood
_TOL = 1e-9
#: outer iterations at most, and full re-searches of the segments at the end at most
_MAX_ITER, _MAX_RESEARCH = 500, 3
#: a set-aside mass below this is on its bound (no respondent left at that answer)
_EMPTY_MASS = 1e-8
#: a segment on the variance floor with at least this share of its weight at one answer sat on that answer
_FLOOR_PILE_SHARE = 0.5
#: rounds of set-aside fits: the spurious segments' answers, then their union with what is left spurious
_ROUNDS = 2
#: the set-aside posterior a respondent at a set-aside answer starts with
_START_TAU = 0.9


def answer_log_scale(y, values, family) -> np.ndarray:
    """log c_v of each answer value: 0 where the family's likelihood is a probability, -log(cell width) otherwise.

    An answer's cell runs half-way to the neighbouring answers given; at the
    lowest or highest answer it is as wide on the open side as on the other.
    """
    values = np.asarray(values, dtype=float).reshape(-1)
    given = np.unique(np.round(np.asarray(y, dtype=float), 9))
    widths = np.empty(len(values))
    for i, value in enumerate(values):
        at = int(np.searchsorted(given, round(value, 9)))
        if at >= len(given) or not np.isclose(given[at], value):
            raise ValueError(f"no respondent gave the answer {value:g}, so it cannot be set aside")
        lower = given[at] - given[at - 1] if at > 0 else None
        upper = given[at + 1] - given[at] if at + 1 < len(given) else None
        sides = [gap for gap in (lower, upper) if gap is not None] or [1.0]
        widths[i] = (sides[0] + sides[-1]) / 2
    return np.where(family.answer_is_mass(values), 0.0, -np.log(widths))


def located_answers(values, family) -> np.ndarray:
    """Which answers in ``values`` lie inside the scale, (m,) bool: each one's location is a parameter of the group.

    A pile inside the scale is an answer the spurious segment chose, as a
    point-mass component's location is a parameter; the scale's ends are
    given by the questionnaire.
    """
    ends = [getattr(family, "lower", np.nan), getattr(family, "upper", np.nan)]
    return ~np.isin(np.round(np.asarray(values, dtype=float), 9), np.round(ends, 9))


def group_n_params(values, family) -> int:
    """The parameters a set-aside group at the answers ``values`` adds: a mass per answer, a location inside."""
    return len(values) + int(located_answers(values, family).sum())


def answer_index(y, values) -> np.ndarray:
    """The position in ``values`` of each respondent's answer, -1 for an answer not set aside, (n,)."""
    y = np.asarray(y, dtype=float).reshape(-1)
    index = np.full(len(y), -1)
    for i, value in enumerate(np.asarray(values, dtype=float).reshape(-1)):
        index[np.isclose(y, value)] = i
    return index


def _row_terms(masses, log_scale, index, log_f):
    """log of the set-aside class's and the mixture's part of each L_i, (n,) and (n,)."""
    aside = np.full(len(index), -np.inf)
    at = index >= 0
    with np.errstate(divide="ignore"):
        aside[at] = np.log(masses[index[at]]) + log_scale[index[at]]
        rest = math.log1p(-masses.sum()) + log_f
    return aside, rest


def _masses(index, tau, w, m):
    """The set-aside class's probability at each of its ``m`` answers: weighted posterior counts over all weight."""
    at = index >= 0
    return np.bincount(index[at], weights=(w * tau)[at], minlength=m) / w.sum()


def _weighted_loglik(model, X, y, weights) -> float:
    """The segments' own weighted log-likelihood at ``weights``."""
    return float(weights @ model.score_samples(X, y))


class SetAsideRegression(BaseEstimator):
    """K segments of ``estimator`` and a group of respondents set aside at the answers ``values``.

    Parameters
    ----------
    estimator : ClusterwiseRegression
        The segments' model (its K, family, starts and seed); cloned, never changed.
    values : sequence of float
        The answers the set-aside group sits on (one pile; or the two ends of the scale).
    max_iter : int
        Outer iterations at most.

    Fitted attributes: ``model_`` the segments (fitted with the weights
    ``w (1 - set_aside_posteriors_)``, so its own ``loglik_`` is not this
    model's); ``set_aside_values_``, ``set_aside_masses_`` (a_v) and
    ``set_aside_share_`` (A); ``set_aside_posteriors_`` (n,) each
    respondent's probability of the set-aside group; ``loglik_`` (log L),
    ``n_params_`` (the segments', a mass per answer and the location of
    each answer inside the scale: see :func:`group_n_params`), ``n_obs_``,
    ``n_iter_``, ``converged_`` and ``loglik_path_``.
    """

    def __init__(self, estimator=None, values=(), max_iter=_MAX_ITER):
        self.estimator = estimator
        self.values = values
        self.max_iter = max_iter

    def fit(self, X, y, sample_weight=None):
        """Fit the segments and the set-aside group; returns ``self``."""
        y_arr = np.asarray(y, dtype=float).reshape(-1)
        w = weight_values(sample_weight, len(y_arr), None)
        values = np.asarray(self.values, dtype=float).reshape(-1)
        if not values.size:
            raise ValueError("values must name at least one answer to set aside")
        base = clone(self.estimator)
        if base.variance_floor is None:  # the floor of all the data, not of the weighted ones
            base.set_params(variance_floor=variance_floor(y_arr, w))
        self.set_aside_values_ = values
        index = answer_index(y_arr, values)
        tau = np.where(index >= 0, _START_TAU, 0.0)
        model = clone(base).fit(X, y, sample_weight=w * (1 - tau))
        self.answer_log_scale_ = answer_log_scale(y_arr, values, model.family_)
        masses = _masses(index, tau, w, len(values))
        path, researches = [], 0
        for _ in range(int(self.max_iter)):
            tau, loglik = self._e_step(model, X, y, masses, w, index)
            path.append(loglik)
            masses = _masses(index, tau, w, len(values))
            if len(path) > 1 and abs(path[-1] - path[-2]) <= _TOL * abs(path[-1]):
                if researches >= _MAX_RESEARCH:
                    break
                # settled: a full search of the segments at these weights; a better fit goes on iterating
                researches += 1
                whole = model.n_segments_ == base.n_segments  # a model that lost a segment is no start for K
                searched = clone(base).set_params(init_params=model.params_ if whole else None).fit(
                    X, y, sample_weight=w * (1 - tau))
                if searched.loglik_ <= _weighted_loglik(model, X, y, w * (1 - tau)) + _TOL * abs(loglik):
                    researches = _MAX_RESEARCH
                model = searched
                continue
            model = self._warm_fit(base, model, X, y, w * (1 - tau))
        self.model_, self.set_aside_masses_ = model, masses
        self.set_aside_share_ = float(masses.sum())
        self.set_aside_posteriors_, self.loglik_ = self._e_step(model, X, y, masses, w, index)
        self.loglik_path_ = np.array(path)
        self.n_iter_ = len(path)
        self.converged_ = len(path) < int(self.max_iter)
        self.n_params_ = int(model.n_params_) + group_n_params(values, model.family_)
        self.n_obs_ = len(y_arr)
        return self

    def _e_step(self, model, X, y, masses, w, index):
        """Each respondent's set-aside posterior and the weighted log L (``index``: :func:`answer_index` of y)."""
        aside, rest = _row_terms(masses, self.answer_log_scale_, index, model.score_samples(X, y))
        row = np.logaddexp(aside, rest)
        return np.exp(aside - row), float(w @ row)

    @staticmethod
    def _warm_fit(base, model, X, y, weights):
        """The segments refitted with new weights from where they are (no new starts, no escape moves)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the final search warns for the model kept
            return clone(base).set_params(init_params=model.params_, n_init=0, escape=False,
                                          n_segments=model.n_segments_).fit(X, y, sample_weight=weights)

    # -- criteria and inference ----------------------------------------------------------

    def information_criteria(self) -> dict:
        """AIC, AIC3, BIC, CAIC and SABIC of log L, comparable with a K-segment model's on the same data."""
        return information_criteria(self.loglik_, self.n_params_, self.n_obs_)

    def bic(self) -> float:
        return self.information_criteria()["bic"]

    def predict_proba(self, X, y):
        """Posterior probabilities (n, K + 1): the K segments in the model's order, then the set-aside group."""
        index = answer_index(y, self.set_aside_values_)
        tau = self._e_step(self.model_, X, y, self.set_aside_masses_, np.ones(len(index)), index)[0]
        return np.column_stack([self.model_.predict_proba(X, y) * (1 - tau)[:, None], tau])

    def information(self, X, y, sample_weight=None):
        """Negative Hessian of log L in the segments' parameters (``model_.param_names_``) and the masses."""
        model, masses = self.model_, self.set_aside_masses_
        y_arr = np.asarray(y, dtype=float).reshape(-1)
        w = weight_values(sample_weight, len(y_arr), None)
        tau = self.set_aside_posteriors_
        r, index, share = 1 - tau, answer_index(y_arr, self.set_aside_values_), masses.sum()
        problem = model.problem_for(X, y)
        segment_part = observed_information(problem.family, problem.design, problem.y, w * r, model.params_,
                                            problem.data)[0]
        pile = np.flatnonzero(index >= 0)  # only there is tau > 0
        rows = problem.subset(pile)
        coupling = observed_information(rows.family, rows.design, rows.y, np.sqrt(w * r * tau)[pile],
                                        model.params_, rows.data)[1]
        live = np.flatnonzero(masses > _EMPTY_MASS)  # a mass on its bound of 0 is held there, not estimated
        dim, m = segment_part.shape[0], len(live)
        hessian = np.zeros((dim + m, dim + m))
        hessian[:dim, :dim] = segment_part + coupling
        slopes = np.empty((len(y_arr), m))  # d log L_i / d a_v
        for col, v in enumerate(live):
            slopes[:, col] = np.where(index == v, tau / masses[v], 0.0) - r / (1 - share)
            cross = -(w * r * (tau / (1 - share) + np.where(index == v, tau / masses[v], 0.0)))[pile]
            hessian[:dim, dim + col] = hessian[dim + col, :dim] = observed_information(
                rows.family, rows.design, rows.y, cross, model.params_, rows.data)[2]
        hessian[dim:, dim:] = -(slopes * w[:, None]).T @ slopes
        return -hessian

    def inference(self, X, y, sample_weight=None, alpha=0.05, equivalence_margin=0.1, verdict_adjustment="none",
                  cov_type="oim", family_data=None):
        """The segments' standard errors, tests and verdicts from the exact information of log L.

        Only the observed information is derived for this likelihood: another
        ``cov_type`` warns and uses it; ``family_data`` must be None (no
        set-aside group is fitted beside trials or an exposure).
        """
        if family_data:
            raise ValueError("a set-aside group is not fitted beside trials or an exposure (family_data)")
        if cov_type != "oim":
            warnings.warn(f"cov_type {cov_type!r}: the standard errors beside a set-aside group come from the "
                          "observed information (oim)", RuntimeWarning, stacklevel=2)
        information = self.information(X, y, sample_weight)
        dim = information.shape[0] - int((self.set_aside_masses_ > _EMPTY_MASS).sum())
        cov = np.linalg.inv(information)[:dim, :dim]
        cov = (cov + cov.T) / 2
        return MixtureInference(self.model_, cov, self.model_.param_names_, "oim", alpha, equivalence_margin,
                                self.n_obs_, verdict_adjustment=verdict_adjustment)


# ----------------------------------------------------------------------------
# which answers to set aside: those the spurious segments sat on
# ----------------------------------------------------------------------------


def _answers_of(flaws, family):
    """The answers one spurious segment sat on: its one answer, or the two ends of a censored scale; () if neither.

    One end of a censored scale is never offered alone: censoring already
    gives each segment a mass there, and a group at that end would only
    mend how a censored normal fits a coarse score's last answer (a mean of
    three 1-7 items is 7 only when all three are), not hold respondents
    whose answers depend on nothing.
    """
    if "two_ends" in flaws:
        return (float(family.lower), float(family.upper))
    answers = ()
    if "one_answer" in flaws:
        answers = (float(flaws["one_answer"]["value"]),)
    floor = flaws.get("variance_floor") or {}
    if not answers and floor.get("value") is not None and floor.get("share", 0.0) >= _FLOOR_PILE_SHARE:
        answers = (float(floor["value"]),)
    return answers if answers and located_answers(answers, family).all() else ()


def _spurious_answers(model, X, y, weights) -> list[tuple]:
    """The answer sets a fitted model's spurious segments sat on: those it set aside, and its own if spurious.

    A spurious solution the search set aside is evidence of a group at its
    answers only when it beat the solution kept by more than BIC charges for
    such a group (half log n per parameter of :func:`group_n_params`): on
    coarse but clean scores a floor segment often beats it by a log-likelihood
    unit or two, which the discreteness alone explains.
    """
    penalty = 0.5 * math.log(model.n_obs_)
    solutions = [(record["flaws"], record["loglik"] - model.loglik_) for record in getattr(model, "set_aside_", [])]
    if not model.admissible_:
        solutions.append((segment_flaws(model.problem_for(X, y, weights), model.params_), math.inf))
    found = []
    for flaws, gain in solutions:
        for segment in flaws:
            answers = _answers_of(segment, model.family_)
            if answers and answers not in found and gain > penalty * group_n_params(answers, model.family_):
                found.append(answers)
    return found


def set_aside_candidates(models, X, y, sample_weight=None) -> list[tuple]:
    """The answer sets that the fitted ``models``' spurious segments sat on, each once, in the order met.

    Read from every spurious solution a search set aside and from a
    returned solution that is itself spurious: a segment made of one answer
    (``one_answer``) gives that answer, one at the two ends of a censored
    scale (``two_ends``) gives the two ends, one on the variance floor with
    most of its weight at one answer gives that answer.  A floor segment of
    many answers (a subset a plane fits exactly) gives none.
    """
    found = []
    for model in (models.values() if isinstance(models, dict) else models):
        found += [answers for answers in _spurious_answers(model, X, y, sample_weight) if answers not in found]
    return found


def fit_set_aside(models, X, y, sample_weight=None, candidates=None, rounds=_ROUNDS) -> dict:
    """Each K of ``models`` refitted beside a set-aside group at each candidate answer set: {(k, answers): fit}.

    ``candidates`` defaults to :func:`set_aside_candidates` of the models.
    Each fit takes its K's estimator (the same starts, seed and floor).  A
    set-aside fit whose segments still have a spurious one sat on another
    answer offers the union of both answer sets for a further round (a
    survey can pile at two answers), ``rounds`` rounds at most.
    """
    fitted = list(models.values()) if isinstance(models, dict) else list(models)
    todo = set_aside_candidates(fitted, X, y, sample_weight) if candidates is None else list(candidates)
    w = weight_values(sample_weight, len(np.asarray(y)), None)
    fits, tried = {}, set()
    for _ in range(int(rounds)):
        more = []
        for answers in todo:
            tried.add(answers)
            for model in fitted:
                estimator = clone(model).set_params(variance_floor=model.variance_floor_)
                try:
                    fit = SetAsideRegression(estimator, answers).fit(X, y, sample_weight)
                except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:  # an offer, not the fit asked for
                    warnings.warn(f"K = {model.n_segments} beside a set-aside group at {answers_words(answers)} "
                                  f"could not be fitted ({exc}); it is not offered", RuntimeWarning, stacklevel=2)
                    continue
                fits[(int(model.n_segments), answers)] = fit
                for extra in _spurious_answers(fit.model_, X, y, w * (1 - fit.set_aside_posteriors_)):
                    union = tuple(sorted(set(answers) | set(extra)))
                    if union not in tried and union not in more:
                        more.append(union)
        todo = more
    return fits


def answers_words(answers) -> str:
    """The set-aside answers in words: "the answer 4", "the answers 1 and 7"."""
    shown = [f"{value:g}" for value in answers]
    return f"the answer {shown[0]}" if len(shown) == 1 else f"the answers {', '.join(shown[:-1])} and {shown[-1]}"


def group_words(fit, sample_weight=None) -> str:
    """Who a fit set aside, in words: "199 respondents (26%) at the answers 1.5 and 2, whose answers ..."."""
    tau = fit.set_aside_posteriors_
    w = weight_values(sample_weight, len(tau), None)
    members = float(w @ tau)
    return (f"{members:.0f} respondents ({members / w.sum():.0%}) at {answers_words(fit.set_aside_values_)}, "
            "whose answers depend on no predictor, were set aside as a group of their own")


def criteria_row(fit, X, y, sample_weight=None) -> dict:
    """A model-selection row (:data:`trustseg.model.selection.COLUMNS`) of a set-aside fit.

    ``k`` counts the segments asked for, not the set-aside group, and
    ``k_fitted`` those kept (a fit that lost one is never chosen); ``problems`` are
    the segments' (read with the weights they were fitted with);
    ``set_aside_group`` says who was set aside (``set_aside``, the spurious
    solutions a search set aside, is left empty).
    """
    y_arr = np.asarray(y, dtype=float).reshape(-1)
    w = weight_values(sample_weight, len(y_arr), None)
    model, tau = fit.model_, fit.set_aside_posteriors_
    problems = problem_codes(segment_problems(model, X, y, w * (1 - tau)))
    return {
        "k": int(fit.estimator.n_segments), "k_fitted": int(model.n_segments_), "loglik": float(fit.loglik_),
        "n_params": int(fit.n_params_),
        **posterior_criteria(fit.loglik_, fit.n_params_, fit.n_obs_, fit.predict_proba(X, y), w),
        "min_share": float((model.weights_ * (1 - fit.set_aside_share_)).min()),
        "n_starts": int(len(model.start_logliks_)), "n_best_starts": int(model.n_best_starts_),
        "optimum_replicated": bool(model.optimum_replicated_), "converged": bool(fit.converged_ and model.converged_),
        "problems": problems,
        "set_aside": "",
        "set_aside_group": group_words(fit, w),
        "set_aside_answers": tuple(float(v) for v in fit.set_aside_values_),
    }
