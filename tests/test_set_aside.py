"""A set-aside group beside the segments (trustseg.model.set_aside): its likelihood, fit, information and choice.

The data are a two-segment survey of 1-7 item means (the `pile` and `ends`
designs of ``benchmarks/planted_trouble.py``, smaller): a quarter of the
respondents answer 4 whatever their satisfaction, or a sixth sit at the two
ends of the scale.  Truth: slopes 0.8 and 0.25.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from trustseg.model.families import CensoredFamily, GaussianFamily, OrdinalFamily
from trustseg.model.likelihood import log_joint, posteriors_and_row_loglik
from trustseg.model.mixture import ClusterwiseRegression
from trustseg.model.params import pack, unpack
from trustseg.model.selection import select_segments
from trustseg.model.set_aside import (
    SetAsideRegression,
    answer_index,
    answer_log_scale,
    answers_words,
    set_aside_candidates,
)

SLOPES = (0.8, 0.25)


def _items(level, rng, n_items):
    return np.clip(np.rint(level[:, None] + rng.normal(0.0, 0.5, (len(level), n_items))), 1, 7).mean(axis=1)


def survey(n=400, planted=0.25, where="pile", seed=3):
    """Satisfaction, repurchase (mean of three 1-7 items) and each respondent's group (2 = planted)."""
    rng = np.random.default_rng(seed)
    group = rng.choice(3, size=n, p=[0.6 * (1 - planted), 0.4 * (1 - planted), planted])
    satisfaction = _items(rng.normal(4.5, 1.2, n), rng, 4)
    line = np.where(group == 0, 0.3 + SLOPES[0] * satisfaction, 4.6 + SLOPES[1] * satisfaction)
    y = _items(line + rng.normal(0.0, 0.6, n), rng, 3)
    planted_rows = group == 2
    if where == "pile":
        y[planted_rows] = 4.0
    else:
        y[planted_rows] = np.where(rng.random(planted_rows.sum()) < 2 / 3, 1.0, 7.0)
    return pd.DataFrame({"satisfaction": satisfaction}), y, group


def estimator(k=2, seed=0):
    return ClusterwiseRegression(n_segments=k, n_init=6, random_state=seed, family="censored",
                                 family_options={"lower": 1.0, "upper": 7.0}, variance_floor=1 / 36,
                                 focal="satisfaction")


@pytest.fixture(scope="module")
def pile_fit():
    X, y, group = survey()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return X, y, group, SetAsideRegression(estimator(), [4.0]).fit(X, y)


def test_answer_cells_are_half_way_to_the_neighbours_and_a_censored_end_is_a_probability():
    y = np.array([1.0, 1.5, 2.0, 3.0, 3.0, 7.0])
    family = CensoredFamily(lower=1.0, upper=7.0)
    log_scale = answer_log_scale(y, [1.0, 2.0, 7.0], family)
    # 1 and 7 are censored ends (probabilities); 2 sits between 1.5 and 3: its cell is (0.5 + 1) / 2 wide
    np.testing.assert_allclose(log_scale, [0.0, -np.log(0.75), 0.0])
    # on the gaussian family every answer is a density; the lowest answer's cell is as wide as its one gap
    np.testing.assert_allclose(answer_log_scale(y, [1.0, 7.0], GaussianFamily()), [-np.log(0.5), -np.log(4.0)])
    # an ordinal answer is always a probability
    ordinal = OrdinalFamily(categories=(1.0, 2.0, 3.0))
    np.testing.assert_array_equal(ordinal.answer_is_mass([1.0, 2.0]), [True, True])
    with pytest.raises(ValueError, match="no respondent gave the answer 5"):
        answer_log_scale(y, [5.0], family)
    np.testing.assert_array_equal(answer_index(y, [1.5, 3.0]), [-1, 0, -1, 1, 1, -1])
    assert answers_words([4.0]) == "the answer 4" and answers_words([1.0, 7.0]) == "the answers 1 and 7"


def test_the_fit_recovers_the_segments_beside_the_pile_and_never_lowers_the_likelihood(pile_fit):
    X, y, group, fit = pile_fit
    assert np.all(np.diff(fit.loglik_path_) >= -1e-6 * abs(fit.loglik_path_[-1]))
    assert fit.converged_
    np.testing.assert_allclose(np.sort(fit.model_.coef_[:, 0])[::-1], SLOPES, atol=0.12)
    assert fit.set_aside_share_ == pytest.approx(np.mean(group == 2), abs=0.05)
    # the planted respondents are set aside; of the segments' members only those who answered 4, and not all
    assert fit.set_aside_posteriors_[group == 2].mean() > 0.7
    assert fit.set_aside_posteriors_[(group < 2) & (y != 4.0)].max() == 0.0
    proba = fit.predict_proba(X, y)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[:, -1], fit.set_aside_posteriors_)
    # a mass per answer, and the location of an answer inside the scale, beside the segments' parameters
    assert fit.n_params_ == fit.model_.n_params_ + 2


def _log_l(theta, fit, X, y):
    """log L at a packed vector: the segments' parameters (param_layout) and then the masses."""
    model = fit.model_
    problem = model.problem_for(X, y)
    k, q, m = len(model.weights_), problem.design.shape[1], model.extra_.shape[1]
    params = unpack(theta[: -len(fit.set_aside_masses_)], k, q, m)
    masses = theta[-len(fit.set_aside_masses_):]
    log_f = posteriors_and_row_loglik(log_joint(problem.family, problem.design, problem.y, params, problem.data))[1]
    index = answer_index(y, fit.set_aside_values_)
    aside = np.full(len(y), -np.inf)
    aside[index >= 0] = np.log(masses[index[index >= 0]]) + fit.answer_log_scale_[index[index >= 0]]
    return float(np.logaddexp(aside, np.log1p(-masses.sum()) + log_f).sum())


def test_the_information_is_the_exact_hessian_of_the_full_likelihood(pile_fit):
    X, y, _, fit = pile_fit
    theta = np.concatenate([pack(fit.model_.params_), fit.set_aside_masses_])
    assert _log_l(theta, fit, X, y) == pytest.approx(fit.loglik_, rel=1e-10)
    h, dim = 1e-4, len(theta)
    numeric = np.empty((dim, dim))
    for i in range(dim):
        for j in range(dim):
            steps = [np.eye(dim)[i] * h * a + np.eye(dim)[j] * h * b for a, b in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
            values = [_log_l(theta + step, fit, X, y) for step in steps]
            numeric[i, j] = (values[0] - values[1] - values[2] + values[3]) / (4 * h * h)
    np.testing.assert_allclose(fit.information(X, y), -numeric, rtol=2e-3, atol=2e-2)


def test_the_inference_reads_the_exact_information_and_its_interval_covers_the_truth(pile_fit):
    X, y, _, fit = pile_fit
    exact = fit.inference(X, y).params
    weighted = fit.model_.inference(X, y, sample_weight=1 - fit.set_aside_posteriors_).params
    slopes = exact[exact["term"] == "satisfaction"]
    assert ((slopes["ci_low"] <= np.array(SLOPES)) & (np.array(SLOPES) <= slopes["ci_high"])).all()
    # the set-aside posteriors' uncertainty widens the standard errors of the segments at the pile
    assert (exact["std_error"].to_numpy() >= weighted["std_error"].to_numpy() * (1 - 1e-6)).all()


def test_select_segments_chooses_the_true_segments_beside_the_pile_and_names_them():
    X, y, _ = survey(seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        plain = select_segments(X, y, k_range=range(1, 4), n_init=6, random_state=0, family="censored",
                                family_options={"lower": 1.0, "upper": 7.0}, variance_floor=1 / 36)
        table, models = select_segments(X, y, k_range=range(1, 4), n_init=6, random_state=0, family="censored",
                                        family_options={"lower": 1.0, "upper": 7.0}, variance_floor=1 / 36,
                                        set_aside=True, return_models=True)
    assert "set_aside_answers" not in plain.columns
    chosen = table.loc[table["chosen"]].iloc[0]
    assert chosen["k"] == 2 and chosen["set_aside_answers"] == (4.0,)
    assert "at the answer 4, whose answers depend on no predictor, were set aside" in chosen["set_aside_group"]
    assert (2, (4.0,)) in models and table["set_aside_answers"].isna().sum() == 3


def test_the_ends_of_a_censored_scale_are_set_aside_together_and_count_no_location():
    X, y, group = survey(planted=0.15, where="ends", seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = SetAsideRegression(estimator(), [1.0, 7.0]).fit(X, y)
    assert fit.n_params_ == fit.model_.n_params_ + 2
    np.testing.assert_allclose(np.sort(fit.model_.coef_[:, 0])[::-1], SLOPES, atol=0.15)
    assert fit.set_aside_posteriors_[group == 2].mean() > 0.8


def test_clean_data_offer_no_answer_to_set_aside():
    X, y, _ = survey(planted=0.0, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        models = {k: estimator(k).fit(X, y) for k in (1, 2)}
    assert set_aside_candidates(models, X, y) == []


def test_an_answer_nobody_is_left_at_is_held_on_its_bound():
    X, y, _ = survey(seed=13)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = SetAsideRegression(estimator(), [4.0, 7.0]).fit(X, y)
        table = fit.inference(X, y).params
    assert np.isfinite(table["std_error"]).all()
