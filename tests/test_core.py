"""The likelihood core and the estimator's parameter checks, warm starts and results methods."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp

from trustseg.model.classification import classification_quality
from trustseg.model.em import m_step, make_problem
from trustseg.model.families import GaussianFamily
from trustseg.model.likelihood import e_step, log_joint, relative_entropy
from trustseg.model.mixture import ClusterwiseRegression
from trustseg.model.params import MixtureParams
from trustseg.model.persistence import model_from_dict, model_to_dict
from trustseg.model.selection import criteria_table
from trustseg.sources import module_sources


def two_lines(n=600, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.uniform(1, 7, n)
    z = rng.random(n) < 0.4
    y = np.where(z, 5.5, 0.5 + 0.9 * x) + 0.4 * rng.standard_normal(n)
    return pd.DataFrame({"satisfaction": x}), pd.Series(y, name="repurchase")


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_segments": 0}, "n_segments"),
        ({"n_segments": 2.5}, "n_segments"),
        ({"method": "kmeans"}, "method"),
        ({"tol": 0.0}, "tol"),
        ({"min_share": 1.0}, "min_share"),
        ({"variance_floor": -1.0}, "variance_floor"),
        ({"max_iter": 0}, "max_iter"),
        ({"start_kinds": "best"}, "start_kinds"),
        ({"start_kinds": ["lines", "nearest"]}, "start_kinds"),
        ({"n_full_runs": 0}, "n_full_runs"),
        ({"search_subsample": 1}, "search_subsample"),
        ({"random_state": "seed"}, "random_state"),
        ({"init_params": 3}, "init_params"),
    ],
)
def test_every_parameter_is_checked(params, match):
    X, y = two_lines(100)
    with pytest.raises(ValueError, match=match):
        ClusterwiseRegression(**params).fit(X, y)


def test_no_start_at_all_is_refused():
    X, y = two_lines(100)
    with pytest.raises(ValueError, match="nothing to fit from"):
        ClusterwiseRegression(n_segments=2, n_init=0).fit(X, y)


def test_given_start_must_have_the_requested_segments():
    X, y = two_lines(100)
    start = {"intercept": [0.5], "coef": [[0.9]], "sigma": [0.4], "weights": [1.0]}
    with pytest.raises(ValueError, match="1 segments; n_segments is 2"):
        ClusterwiseRegression(n_segments=2, init_params=start).fit(X, y)
    with pytest.raises(ValueError, match="finite"), np.errstate(invalid="ignore"):
        MixtureParams.coerce({**start, "sigma": [-1.0]}, GaussianFamily(), 1)


def test_given_start_joins_the_random_starts_and_round_trips():
    X, y = two_lines()
    random_only = ClusterwiseRegression(n_segments=2, n_init=4, random_state=1).fit(X, y)
    both = ClusterwiseRegression(n_segments=2, n_init=4, random_state=1, init_params=random_only.params_).fit(X, y)
    assert both.start_kinds_ == ["split", "lines", "kmeans", "lines", "given"]
    assert both.start_refined_[-1]
    # the random starts are untouched by the extra start
    assert np.array_equal(both.start_logliks_[:4], random_only.start_logliks_)
    assert both.loglik_ == pytest.approx(random_only.loglik_, rel=1e-10)
    rebuilt = model_from_dict(model_to_dict(both))
    assert rebuilt.start_kinds_ == both.start_kinds_
    assert rebuilt.start_stop_reasons_ == both.start_stop_reasons_
    assert np.array_equal(rebuilt.start_reached_best_, both.start_reached_best_)
    assert rebuilt.optimum_replicated_ == both.optimum_replicated_
    assert rebuilt.variance_floor_ == both.variance_floor_
    assert np.allclose(np.asarray(rebuilt.init_params[0]["beta"])[:, 0], random_only.intercept_)


def test_old_format_is_refused_with_a_fix():
    X, y = two_lines(200)
    d = model_to_dict(ClusterwiseRegression(n_segments=1, n_init=1).fit(X, y))
    d["format"] = "trustseg.ClusterwiseRegression/2"
    with pytest.raises(Exception, match="fit it again"):
        model_from_dict(d)


def test_default_floor_is_relative_to_the_outcome_and_given_floor_is_absolute():
    X, y = two_lines()
    default = ClusterwiseRegression(n_segments=1, n_init=1).fit(X, y)
    assert default.variance_floor_ == pytest.approx(1e-3 * y.var(ddof=0))
    absolute = ClusterwiseRegression(n_segments=1, n_init=1, variance_floor=0.25).fit(X, y)
    assert absolute.variance_floor_ == 0.25
    # a given floor is taken as it is, in squared outcome units
    assert absolute.sigma_.min() >= 0.5 * (1 - 1e-12)


def test_e_and_m_steps_agree_with_the_posteriors_of_the_parameters():
    X, y = two_lines()
    problem = make_problem(GaussianFamily(), X.to_numpy(), y.to_numpy(), variance_floor=1e-12)
    model = ClusterwiseRegression(n_segments=2, n_init=3).fit(X, y)
    params = model.params_
    resp, loglik_i = e_step(problem.family, problem.design, problem.y, params)
    assert np.allclose(resp, model.predict_proba(X, y), atol=1e-12)
    assert float(loglik_i.sum()) == pytest.approx(model.loglik_, rel=1e-12)
    # at the optimum one M-step from the posteriors returns the same parameters
    new = m_step(problem, resp, params)
    assert np.allclose(new.weights, params.weights, atol=1e-6)
    assert np.allclose(np.exp(2 * new.extra[:, 0]), model.sigma_**2, rtol=1e-5)
    assert np.allclose(new.beta, params.beta, atol=1e-6)


def test_one_entropy_for_selection_and_classification():
    X, y = two_lines()
    model = ClusterwiseRegression(n_segments=2, n_init=3).fit(X, y)
    post = model.predict_proba(X, y)
    table = criteria_table([model], X, y)
    quality = classification_quality(post)["summary"].set_index("measure")["value"]
    assert table["entropy"].iloc[0] == relative_entropy(post, np.ones(len(y)))
    assert quality["entropy_r2"] == table["entropy"].iloc[0]
    by_hand = 1 + (post * np.log(np.clip(post, 1e-300, None))).sum() / (len(y) * np.log(2))
    assert table["entropy"].iloc[0] == pytest.approx(by_hand, rel=1e-10)


def test_prediction_band_and_tests_frame():
    X, y = two_lines()
    model = ClusterwiseRegression(n_segments=2, n_init=3).fit(X, y)
    result = model.inference(X, y, alpha=0.05)
    grid = pd.DataFrame({"satisfaction": [1.0, 4.0, 7.0]})
    pred = result.get_prediction(grid)
    assert list(pred.columns) == ["segment", "satisfaction", "fit", "std_error", "lower", "upper"]
    assert len(pred) == 6
    first = pred[pred.segment == 1]
    assert np.allclose(first["fit"], model.intercept_[0] + model.coef_[0, 0] * grid["satisfaction"])
    # the band's variance is g'Vg of the segment's intercept and slope
    V = result.cov[:2, :2]
    g = np.array([1.0, 4.0])
    assert first["std_error"].iloc[1] == pytest.approx(np.sqrt(g @ V @ g))
    assert np.allclose(first["upper"] - first["fit"], 1.959963984540054 * first["std_error"])
    tests = result.tests_frame()
    assert tests["test"].tolist() == [
        "equal satisfaction slope in all segments (Wald)",
        "satisfaction slope difference",
    ]
    assert tests["statistic"].iloc[0] == pytest.approx(tests["statistic"].iloc[1] ** 2)
    assert str(tests["segment_a"].dtype) == "Int64"
    with pytest.raises(ValueError, match="satisfaction"):
        result.get_prediction(pd.DataFrame({"other": [1.0]}))


def test_mixture_params_log_joint_matches_the_estimator():
    X, y = two_lines()
    model = ClusterwiseRegression(n_segments=2, n_init=3).fit(X, y)
    joint = log_joint(model.family_, model.family_.design(X.to_numpy()), y.to_numpy(), model.params_)
    assert logsumexp(joint, axis=1).sum() == pytest.approx(model.loglik_, rel=1e-12)


def test_sources_follow_the_imports():
    fit = {p.split("trustseg/")[-1] for p in module_sources("trustseg.stages.fit")}
    figures = {p.split("trustseg/")[-1] for p in module_sources("trustseg.stages.figures")}
    assert "model/mixture.py" in fit and "model/likelihood.py" in fit and "model/em.py" in fit
    # a figure edit reruns figures, not fits; an engine edit does not rerun figures
    assert "report/figures/kit.py" in figures and "report/figures/kit.py" not in fit
    assert "model/mixture.py" not in figures
    # a single equation runs none of the chain's code
    single = {p.split("trustseg/")[-1] for p in module_sources("trustseg.stages.fit",
                                                                leave_out=("trustseg.model.chain",))}
    assert "model/chain.py" in fit and "model/families/system.py" in fit
    assert fit - single == {"model/chain.py", "model/families/system.py", "model/effects.py"}
    with pytest.raises(ValueError, match="no module"):
        module_sources("trustseg.stages.nonexistent")
