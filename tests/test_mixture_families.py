"""ClusterwiseRegression with an outcome family other than gaussian (issue 12).

The estimator delegates the fit to the family mixture layer; these tests pin
what a caller sees: the flexmix optimum and refit standard errors through
``inference``, the fitted attributes and their order, saving and loading,
warm starts, the bootstrap and the LR test, and the messages for a wrong family.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trustseg.errors import ConfigError, DataError
from trustseg.model.bootstrap import bootstrap_replicates, lr_test
from trustseg.model.diagnostics import residual_spread, segment_problems
from trustseg.model.mixture import ClusterwiseRegression
from trustseg.model.persistence import model_from_dict, model_to_dict

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "families_reference.json").read_text())["cases"]


@pytest.fixture(scope="module")
def npreg():
    return pd.read_csv(DATA / "NPreg.csv")


@pytest.fixture(scope="module")
def poisson_fit(npreg):
    return ClusterwiseRegression(n_segments=2, family="poisson", n_init=6, random_state=3).fit(
        npreg[["x"]], npreg["yp"])


def ordinal_data(n=1500, seed=0):
    """Two segments answering a 1-5 item: one driven by satisfaction (slope 0.8), one not."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 8, n).astype(float)
    driven = rng.random(n) < 0.5
    latent = np.where(driven, 0.8 * x, 0.0) + rng.logistic(size=n)
    y = 1.0 + np.searchsorted([1.5, 3.0, 4.5, 6.0], latent)
    return pd.DataFrame({"satisfaction": x}), pd.Series(y, name="repurchase")


def test_poisson_reaches_flexmix_and_its_refit_standard_errors(poisson_fit, npreg):
    ref = {m["k_fitted"]: m for m in REFERENCE["flexmix_poisson"]["models"]}[2]
    assert poisson_fit.loglik_ >= ref["polished"]["logLik"] - 1e-6
    assert poisson_fit.n_params_ == 5 and poisson_fit.extra_.shape == (2, 0)
    assert np.isnan(poisson_fit.sigma_).all() and poisson_fit.variance_floor_ is None
    params = poisson_fit.inference(npreg[["x"]], npreg["yp"]).params
    ours = params.set_index(["segment", "term"])["std_error"]
    theirs = {(round(c["(Intercept)"], 3), round(c["x"], 3)): None for c in ref["polished"]["components"]}
    assert len(theirs) == 2
    # flexmix orders its components arbitrarily: match each of ours by its slope
    refit = np.array([r["std_error"] for r in ref["refit"]]).reshape(2, 2)
    slopes = np.array([c["x"] for c in ref["polished"]["components"]])
    for j, slope in enumerate(poisson_fit.coef_[:, 0], start=1):
        r = int(np.argmin(np.abs(slopes - slope)))
        assert ours[(j, "(Intercept)")] == pytest.approx(refit[r, 0], rel=0.02)
        assert ours[(j, "x")] == pytest.approx(refit[r, 1], rel=0.02)


def test_segments_are_ordered_by_the_focal_slope_and_every_start_is_recorded(poisson_fit):
    assert poisson_fit.coef_[0, 0] > poisson_fit.coef_[1, 0]
    assert len(poisson_fit.start_logliks_) == 6
    assert set(poisson_fit.start_kinds_) == {"split", "lines", "kmeans"}
    # this optimum is found from both kinds of start, so from both seed streams
    assert poisson_fit.n_best_starts_ >= 2 and poisson_fit.optimum_replicated_
    assert poisson_fit.param_names_ == ["1:(Intercept)", "1:x", "2:(Intercept)", "2:x", "2:logit"]


def test_saved_and_loaded_family_model_predicts_the_same(poisson_fit, npreg):
    loaded = model_from_dict(json.loads(json.dumps(model_to_dict(poisson_fit))))
    assert loaded.family_ == poisson_fit.family_
    X, y = npreg[["x"]], npreg["yp"]
    assert np.array_equal(loaded.predict_proba(X, y), poisson_fit.predict_proba(X, y))
    assert np.array_equal(loaded.segment_means(X), poisson_fit.segment_means(X))


def test_segment_means_are_on_the_outcome_scale(poisson_fit, npreg):
    means = poisson_fit.segment_means(npreg[["x"]])
    eta = poisson_fit.intercept_[None, :] + npreg[["x"]].to_numpy() @ poisson_fit.coef_.T
    assert np.allclose(means, np.exp(eta))


def test_a_warm_start_from_the_solution_stays_there(poisson_fit, npreg):
    warm = ClusterwiseRegression(n_segments=2, family="poisson", n_init=0,
                                 init_params=poisson_fit.params_).fit(npreg[["x"]], npreg["yp"])
    assert warm.start_kinds_ == ["given"]
    assert warm.loglik_ == pytest.approx(poisson_fit.loglik_, rel=1e-10)


def test_ordinal_inference_and_curves_on_the_answer_scale():
    X, y = ordinal_data()
    model = ClusterwiseRegression(n_segments=2, family="ordinal", n_init=4, random_state=0).fit(X, y)
    assert model.family_.categories == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert model.coef_terms_ == ["satisfaction"]  # no intercept: the thresholds take its place
    assert model.extra_names_ == ["threshold_1|2", "threshold_2|3", "threshold_3|4", "threshold_4|5"]
    result = model.inference(X, y)
    verdicts = result.verdicts.set_index("segment")["verdict"]
    assert verdicts[1] == "drives_up" and verdicts[2] in ("inconclusive", "does_not_drive")
    assert model.coef_[0, 0] == pytest.approx(0.8, abs=0.15)
    curves = result.get_prediction(pd.DataFrame({"satisfaction": [1.0, 7.0]}))
    # expected ratings lie on the 1-5 scale, rise with satisfaction in segment 1, and bracket their band
    assert curves["mean"].between(1, 5).all()
    rising = curves[curves["segment"] == 1]["mean"].to_numpy()
    assert rising[1] > rising[0] + 1
    assert (curves["mean_lower"] <= curves["mean"]).all() and (curves["mean"] <= curves["mean_upper"]).all()
    assert len(result.extras) == 8 and result.sigmas.empty
    assert "ordinal cumulative logit" in result.summary().as_text()


def test_censored_fit_respects_the_variance_floor_and_reports_sigma():
    rng = np.random.default_rng(5)
    x = rng.integers(1, 8, 800).astype(float)
    y = np.clip(np.round(1.0 + 0.9 * x + rng.normal(0, 1.0, 800)), 1, 7)
    X, y = pd.DataFrame({"satisfaction": x}), pd.Series(y, name="loyalty")
    model = ClusterwiseRegression(n_segments=1, family="censored", family_options={"lower": 1, "upper": 7},
                                  n_init=2).fit(X, y)
    assert model.family_settings_ == {"lower": 1.0, "upper": 7.0}
    assert model.sigma_[0] == pytest.approx(np.exp(model.extra_[0, 0]))
    assert model.variance_floor_ > 0
    # censoring at 7 makes the latent slope steeper than a straight line through the piled-up answers
    gaussian = ClusterwiseRegression(n_segments=1, n_init=1).fit(X, y)
    assert model.coef_[0, 0] > gaussian.coef_[0, 0]
    problems = segment_problems(model, X, y)
    assert list(problems["problems"]) == [""]
    assert residual_spread(model, X, y).empty


def test_binomial_segments_at_zero_and_one_are_not_spurious():
    rng = np.random.default_rng(2)
    x = rng.uniform(1, 7, 1200)
    driven = rng.random(1200) < 0.5
    y = (rng.random(1200) < 1 / (1 + np.exp(-np.where(driven, -4 + 1.0 * x, 0.5)))).astype(float)
    X, y = pd.DataFrame({"satisfaction": x}), pd.Series(y, name="renewed")
    model = ClusterwiseRegression(n_segments=2, family="binomial", n_init=4, random_state=1).fit(X, y)
    problems = segment_problems(model, X, y)
    assert not problems[["one_answer", "two_ends", "separation"]].any().any()


def test_bootstrap_and_lr_test_refit_the_family(poisson_fit, npreg):
    X, y = npreg[["x"]], npreg["yp"]
    replicates = bootstrap_replicates(X, y, poisson_fit, range(3), seed=1, n_init=2)
    assert not replicates["lost"].any() and replicates["note"].eq("").all()
    assert set(replicates["term"]) == {"(Intercept)", "x"} and replicates["sigma"].isna().all()
    one = ClusterwiseRegression(n_segments=1, family="poisson", n_init=2).fit(X, y)
    result = lr_test(X, y, one, poisson_fit, 4, seed=7, n_init=2)
    assert result["n_failed"] == 0 and result["statistic"] > 30
    # data simulated from one poisson regression rarely look like two segments as clearly as yp does
    assert result["p_value"] == pytest.approx(1 / 5)


def two_segment_trials(n=600, seed=5):
    """Successes out of 1-12 trials, two segments: the chance rises with x in one and falls in the other."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(1, 7, n)
    trials = rng.integers(1, 13, n).astype(float)
    eta = np.where(rng.random(n) < 0.5, -3.0 + 0.8 * x, 2.0 - 0.6 * x)
    y = rng.binomial(trials.astype(int), 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"x": x}), pd.Series(y, name="won"), {"trials": trials}


def test_bootstrap_and_lr_test_carry_each_respondents_trials():
    X, y, side = two_segment_trials()
    model = ClusterwiseRegression(n_segments=2, family="binomial", n_init=4, random_state=0).fit(
        X, y, family_data=side)
    assert sorted(np.round(model.coef_[:, 0], 1)) == pytest.approx([-0.6, 0.8], abs=0.15)
    # a resample must take its respondents' trials: with the original order some successes exceed their trials
    replicates = bootstrap_replicates(X, y, model, range(3), seed=1, n_init=2, family_data=side)
    assert not replicates["lost"].any() and replicates["note"].eq("").all()
    one = ClusterwiseRegression(n_segments=1, family="binomial", n_init=2).fit(X, y, family_data=side)
    result = lr_test(X, y, one, model, 3, seed=7, n_init=2, family_data=side)
    assert result["n_failed"] == 0 and result["statistic"] > 100
    # replicates drawn out of each respondent's trials: their statistics are those of one segment, far smaller
    assert max(result["replicate_statistics"]) < 20


def test_an_exposure_offset_turns_counts_into_rates():
    rng = np.random.default_rng(2)
    n = 800
    x = rng.uniform(1, 7, n)
    months = rng.uniform(1, 24, n)
    segment = rng.random(n) < 0.4
    rate = np.exp(np.where(segment, -2.0 + 0.4 * x, 0.5 - 0.1 * x))
    y = rng.poisson(months * rate).astype(float)
    X, y = pd.DataFrame({"x": x}), pd.Series(y, name="visits")
    model = ClusterwiseRegression(n_segments=2, family="poisson", n_init=4, random_state=0).fit(
        X, y, family_data={"offset": np.log(months)})
    assert sorted(model.coef_[:, 0]) == pytest.approx([-0.1, 0.4], abs=0.05)
    assert sorted(model.intercept_) == pytest.approx([-2.0, 0.5], abs=0.25)
    # expected counts per unit of exposure without the offset, per respondent with it
    at = pd.DataFrame({"x": [4.0]})
    per_month = model.segment_means(at)[0]
    assert model.segment_means(at, {"offset": np.log([12.0])})[0] == pytest.approx(12 * per_month)


def test_sampled_outcomes_follow_the_family(poisson_fit, npreg):
    y = poisson_fit.sample_y(npreg[["x"]], random_state=0)
    assert (y >= 0).all() and np.array_equal(y, np.round(y))
    again = poisson_fit.sample_y(npreg[["x"]], random_state=0)
    assert np.array_equal(y, again)


def test_wrong_family_for_the_outcome_names_column_and_values(npreg):
    with pytest.raises(DataError, match=r"yn.*binomial|binomial.*yn"):
        ClusterwiseRegression(n_segments=1, family="binomial").fit(npreg[["x"]], npreg["yn"])
    with pytest.raises(DataError, match="distinct values"):
        ClusterwiseRegression(n_segments=1, family="ordinal").fit(npreg[["x"]], npreg["yn"])
    with pytest.raises(ConfigError, match="takes the settings"):
        ClusterwiseRegression(n_segments=1, family="poisson", family_options={"lower": 0}).fit(
            npreg[["x"]], npreg["yp"])
    with pytest.raises(ValueError, match="gaussian family"):
        ClusterwiseRegression(n_segments=1, family="poisson", method="cem").fit(npreg[["x"]], npreg["yp"])


def test_a_perfectly_predicted_segment_is_flagged_as_separation():
    # half the respondents renew exactly when satisfaction exceeds 4: their logit slope has no maximum
    rng = np.random.default_rng(8)
    x = rng.uniform(1, 7, 800)
    split = rng.random(800) < 0.5
    y = np.where(split, (x > 4).astype(float), (rng.random(800) < 0.5).astype(float))
    X, y = pd.DataFrame({"satisfaction": x}), pd.Series(y, name="renewed")
    with pytest.warns(RuntimeWarning, match="spurious segment"):
        highest = ClusterwiseRegression(n_segments=2, family="binomial", n_init=4, random_state=0,
                                        admissible_only=False).fit(X, y)
    problems = segment_problems(highest, X, y)
    assert problems["separation"].sum() >= 1
    assert "separation" in problems.loc[problems["separation"], "problems"].iloc[0]
    # the slope stopped at the limit (15 log odds per predictor SD) instead of running off
    assert np.abs(highest.coef_).max() == pytest.approx(15.0 / X["satisfaction"].std(ddof=0), rel=1e-6)
    # by default the search sets the separated solution aside, says so, and returns the best admissible one
    model = ClusterwiseRegression(n_segments=2, family="binomial", n_init=4, random_state=0).fit(X, y)
    assert model.admissible_ and not segment_problems(model, X, y)["separation"].any()
    assert model.loglik_ < highest.loglik_
    assert any("separation" in flaw for record in model.set_aside_ for flaw in record["flaws"])


def test_linear_spread_fits_a_spread_that_grows_with_satisfaction():
    # error SD exp(-1 + 0.25 x): 0.5 at x = 1, 2.0 at x = 7; a flat segment and a driven one
    rng = np.random.default_rng(0)
    n = 1500
    x = rng.integers(1, 8, n).astype(float)
    driven = rng.random(n) < 0.5
    y = np.where(driven, 1 + 0.6 * x, 4.0) + np.exp(-1 + 0.25 * x) * rng.standard_normal(n)
    X, y = pd.DataFrame({"satisfaction": x}), pd.Series(y, name="repurchase")
    linear = ClusterwiseRegression(n_segments=2, spread="linear", n_init=4, random_state=0).fit(X, y)
    constant = ClusterwiseRegression(n_segments=2, n_init=4, random_state=0).fit(X, y)
    assert linear.extra_names_ == ["log_sigma", "log_sigma:satisfaction"]
    assert linear.n_params_ == constant.n_params_ + 2 and np.isnan(linear.sigma_).all()
    # BIC sees the spread, and the spread slopes come back near 0.25
    bic = {m: -2 * m.loglik_ + m.n_params_ * np.log(n) for m in (linear, constant)}
    assert bic[linear] < bic[constant]
    assert np.allclose(linear.extra_[:, 1], 0.25, atol=0.06)
    verdicts = linear.inference(X, y).verdicts.set_index("segment")
    assert verdicts.loc[1, "ci_low"] < 0.6 < verdicts.loc[1, "ci_high"]
    assert verdicts.loc[2, "ci_low"] < 0.0 < verdicts.loc[2, "ci_high"]
    loaded = model_from_dict(json.loads(json.dumps(model_to_dict(linear))))
    assert np.array_equal(loaded.predict_proba(X, y), linear.predict_proba(X, y))
    with pytest.raises(ValueError, match="gaussian and censored"):
        ClusterwiseRegression(n_segments=1, family="poisson", spread="linear").fit(X, y.round().abs())


def test_a_large_sample_searches_a_subsample_and_reruns_the_best_on_everyone():
    rng = np.random.default_rng(3)
    n = 3000
    x = np.round(rng.normal(4.5, 1.2, (n, 3)).clip(1, 7)).mean(axis=1)
    segment = rng.choice(2, n, p=[0.4, 0.6])
    latent = np.where(segment == 0, 0.95 * x, 5.0)[:, None] + 0.6 * rng.standard_normal((n, 3))
    y = np.round(latent.clip(1, 7)).mean(axis=1)
    X, y = pd.DataFrame({"satisfaction": x}), pd.Series(y, name="repurchase")
    settings = {"n_segments": 2, "family": "censored", "family_options": {"lower": 1, "upper": 7}, "n_init": 4,
                "random_state": 0}
    everyone = ClusterwiseRegression(**settings).fit(X, y)
    searched = ClusterwiseRegression(**settings, search_subsample=800).fit(X, y)
    assert searched.loglik_ == pytest.approx(everyone.loglik_, rel=1e-9)
    # the searches all end at one solution: only one of them is rerun on everyone, and every start that ended
    # there is credited with reaching the optimum (so both seed streams did), as the gaussian engine counts them
    assert searched.n_best_starts_ == everyone.n_best_starts_ == 4 and searched.optimum_replicated_
    assert np.allclose(searched.start_logliks_, searched.loglik_, rtol=1e-12)


def test_a_linear_spread_model_is_refitted_with_its_base_family_options():
    rng = np.random.default_rng(0)
    n = 600
    x = rng.integers(1, 8, n).astype(float)
    driven = rng.random(n) < 0.5
    y = np.clip(np.round(np.where(driven, 1 + 0.6 * x, 4.0) + np.exp(-1 + 0.25 * x) * rng.standard_normal(n)), 1, 7)
    X, y = pd.DataFrame({"satisfaction": x}), pd.Series(y, name="repurchase")
    model = ClusterwiseRegression(n_segments=2, family="censored", family_options={"lower": 1, "upper": 7},
                                  spread="linear", n_init=4, random_state=0).fit(X, y)
    # the spread predictors are the model's own: a refit takes only the censoring bounds
    assert model.family_options_ == {"lower": 1.0, "upper": 7.0}
    replicates = bootstrap_replicates(X, y, model, range(2), seed=1, n_init=2)
    assert not replicates["lost"].any() and replicates["note"].eq("").all()


def test_an_ordinal_answer_nobody_gave_is_not_separation():
    # categories 1-5, nobody answers 3: the thresholds around it meet (the edge of the parameter space),
    # the slope is finite
    rng = np.random.default_rng(4)
    x = rng.uniform(1, 7, 600)
    latent = 0.8 * x + rng.logistic(size=600)
    y = np.array([1.0, 2.0, 4.0, 5.0])[np.digitize(latent, [3.0, 4.5, 6.0])]  # answers 1, 2, 4, 5
    X, y = pd.DataFrame({"satisfaction": x}), pd.Series(y, name="rating")
    model = ClusterwiseRegression(n_segments=1, n_init=1, family="ordinal",
                                  family_options={"categories": [1, 2, 3, 4, 5]}).fit(X, y)
    assert model.admissible_
    assert not segment_problems(model, X, y)["separation"].any()
    assert 0.5 < model.coef_[0, 0] < 1.1
