"""Estimation: recovery, weights, determinism, serialisation and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _engine_helpers import simulate_segments
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score

from trustseg.errors import DataError
from trustseg.model.mixture import ClusterwiseRegression
from trustseg.model.persistence import model_from_dict, model_to_dict

TRUE = {
    "intercepts": [0.5, 2.0, 4.5],
    "slopes": [1.2, 0.6, 0.0],
    "sigmas": [0.4, 0.8, 0.3],
    "shares": [0.55, 0.37, 0.08],
}


@pytest.fixture(scope="module")
def three_segments():
    X, y, labels = simulate_segments(3000, seed=11, **TRUE)
    model = ClusterwiseRegression(n_segments=3, n_init=6, random_state=3).fit(X, y)
    return X, y, labels, model


def test_recovers_parameters_with_unequal_variances_and_small_segment(three_segments):
    X, y, labels, model = three_segments
    assert model.converged_ and model.n_segments_ == 3
    assert not any(r["in_final"] for r in model.removed_segments_)
    # within four standard errors of the truth (overlapping segments make the
    # small one's estimates much less precise than a separate regression's)
    result = model.inference(X, y)
    params = result.params
    for term, truth in (("(Intercept)", TRUE["intercepts"]), ("satisfaction", TRUE["slopes"])):
        rows = params[params["term"] == term]
        assert np.all(np.abs(rows["estimate"] - truth) < 4 * rows["std_error"])
    assert np.all(np.abs(result.sigmas["estimate"] - TRUE["sigmas"]) < 4 * result.sigmas["std_error"])
    assert np.all(np.abs(result.shares["estimate"] - TRUE["shares"]) < 4 * result.shares["std_error"])
    assert np.all(np.abs(model.coef_[:, 0] - TRUE["slopes"]) < 0.15)
    # the segment lines cross, so even the true parameters misclassify some
    # respondents: compare with the classification the true parameters give
    x = X["satisfaction"].to_numpy()[:, None]
    residual = y.to_numpy()[:, None] - (np.array(TRUE["intercepts"]) + x * np.array(TRUE["slopes"]))
    sigma = np.array(TRUE["sigmas"])
    oracle = (np.log(TRUE["shares"]) - np.log(sigma) - 0.5 * (residual / sigma) ** 2).argmax(axis=1)
    ours = adjusted_rand_score(labels, model.predict(X, y))
    assert ours >= adjusted_rand_score(labels, oracle) - 0.02


def test_segments_ordered_by_focal_slope(three_segments):
    _, _, _, model = three_segments
    assert np.all(np.diff(model.coef_[:, model.focal_index_]) < 0)


def test_predict_proba_and_score(three_segments):
    X, y, _, model = three_segments
    proba = model.predict_proba(X, y)
    assert proba.shape == (len(y), 3) and np.allclose(proba.sum(axis=1), 1)
    assert set(np.unique(model.predict(X, y))) == {1, 2, 3}
    assert model.score(X, y) == pytest.approx(model.loglik_ / len(y), rel=1e-12)


def test_same_random_state_identical_and_shuffle_keeps_order(three_segments):
    X, y, labels, model = three_segments
    again = ClusterwiseRegression(n_segments=3, n_init=6, random_state=3).fit(X, y)
    assert model_to_dict(again) == model_to_dict(model)
    perm = np.random.default_rng(0).permutation(len(y))
    shuffled = ClusterwiseRegression(n_segments=3, n_init=6, random_state=3).fit(
        X.iloc[perm], y.iloc[perm]
    )
    assert np.allclose(shuffled.coef_, model.coef_, atol=1e-6)
    assert np.allclose(shuffled.weights_, model.weights_, atol=1e-6)
    assert np.array_equal(shuffled.predict(X, y), model.predict(X, y))


def test_weighted_fit_equals_replicated_rows():
    X, y, _ = simulate_segments(600, [0.0, 3.0], [1.0, 0.2], [0.5, 0.5], [0.6, 0.4], seed=5)
    counts = np.random.default_rng(1).integers(1, 4, size=len(y))
    weighted = ClusterwiseRegression(n_segments=2, n_init=10, random_state=0).fit(
        X, y, sample_weight=counts
    )
    rows = np.repeat(np.arange(len(y)), counts)
    replicated = ClusterwiseRegression(n_segments=2, n_init=10, random_state=0).fit(
        X.iloc[rows], y.iloc[rows]
    )
    assert weighted.loglik_ == pytest.approx(replicated.loglik_, rel=1e-9)
    for attr in ("intercept_", "coef_", "sigma_", "weights_"):
        assert np.allclose(getattr(weighted, attr), getattr(replicated, attr), atol=1e-6)
    assert weighted.score(X, y, sample_weight=counts) == pytest.approx(
        replicated.loglik_ / counts.sum(), rel=1e-9
    )


def test_non_integer_weights_scale_invariance():
    X, y, _ = simulate_segments(500, [0.0, 3.0], [1.0, 0.2], [0.5, 0.5], [0.6, 0.4], seed=6)
    w = np.random.default_rng(2).uniform(0.3, 2.7, size=len(y))
    a = ClusterwiseRegression(n_segments=2, n_init=5).fit(X, y, sample_weight=w)
    b = ClusterwiseRegression(n_segments=2, n_init=5).fit(X, y, sample_weight=w * 3.7)
    assert b.loglik_ == pytest.approx(3.7 * a.loglik_, rel=1e-9)
    assert np.allclose(a.coef_, b.coef_, atol=1e-7)


def test_json_round_trip_is_exact(three_segments):
    X, y, _, model = three_segments
    text = json.dumps(model_to_dict(model))
    rebuilt = model_from_dict(json.loads(text))
    assert model_to_dict(rebuilt) == model_to_dict(model)
    assert np.array_equal(rebuilt.predict_proba(X, y), model.predict_proba(X, y))
    assert rebuilt.get_params() == model.get_params()


def test_sklearn_conventions():
    model = ClusterwiseRegression(n_segments=2, focal="satisfaction", random_state=4)
    assert clone(model).get_params() == model.get_params()
    assert not any(name.endswith("_") for name in vars(model))
    X, y, _ = simulate_segments(300, [0.0, 3.0], [1.0, 0.2], [0.5, 0.5], [0.6, 0.4], seed=7)
    assert model.fit(X, y) is model
    arrays = ClusterwiseRegression(n_segments=2, random_state=4).fit(X.to_numpy(), y.to_numpy())
    assert list(arrays.feature_names_in_) == ["x1"]
    assert np.allclose(arrays.coef_, model.coef_)


def test_focal_predictor_by_name_orders_segments():
    X, y, _ = simulate_segments(
        1500, [0.0, 3.0], [1.0, 0.2], [0.3, 0.3], [0.5, 0.5], seed=8, n_predictors=2
    )
    model = ClusterwiseRegression(n_segments=2, focal="z1", n_init=5).fit(X, y)
    assert model.focal_index_ == 1
    assert model.coef_[0, 1] >= model.coef_[1, 1]


def test_cem_is_spaeth_with_common_variance():
    X, y, labels = simulate_segments(2000, [-3.0, 6.0], [1.0, 0.0], [0.3, 0.3], [0.5, 0.5], seed=9)
    model = ClusterwiseRegression(n_segments=2, method="cem", n_init=5).fit(X, y)
    assert model.converged_
    assert model.sigma_[0] == model.sigma_[1]
    assert np.allclose(model.coef_[:, 0], [1.0, 0.0], atol=0.05)
    assert model.n_params_ == 2 * 2 + 1 + 1
    assert model.classification_loglik_ <= model.loglik_
    assert adjusted_rand_score(labels, model.predict(X, y)) > 0.95


def test_degenerate_segments_removed_and_reported():
    X, y, _ = simulate_segments(400, [0.0, 3.0], [1.0, 0.2], [0.5, 0.5], [0.6, 0.4], seed=10)
    with pytest.warns(RuntimeWarning, match="degenerate"):
        model = ClusterwiseRegression(n_segments=3, min_share=0.4, n_init=4).fit(X, y)
    assert model.n_segments_ < 3
    assert model.coef_.shape == (model.n_segments_, 1)
    final = [r for r in model.removed_segments_ if r["in_final"]]
    assert final and all("min_share" in r["reason"] for r in final)
    assert model.n_params_ == model.n_segments_ * 3 + model.n_segments_ - 1
    assert np.isfinite(model.loglik_)
    rebuilt = model_from_dict(json.loads(json.dumps(model_to_dict(model))))
    assert rebuilt.removed_segments_ == model.removed_segments_


def test_variance_floor_on_a_scale_ceiling():
    rng = np.random.default_rng(12)
    x = rng.integers(1, 8, size=400).astype(float)
    y = np.clip(np.round(1 + 0.8 * x + rng.normal(0, 1, size=400)), 1, 7)
    y[:120] = 7.0  # a flat group at the ceiling: zero residual variance possible
    x[:120] = rng.integers(5, 8, size=120)
    floor_variance = 1e-3 * np.var(y)  # absolute, in squared outcome units
    model = ClusterwiseRegression(n_segments=3, n_init=10, variance_floor=floor_variance).fit(
        pd.DataFrame({"satisfaction": x}), pd.Series(y, name="loyalty")
    )
    assert model.variance_floor_ == floor_variance
    floor = np.sqrt(floor_variance)
    assert np.all(model.sigma_ >= floor * (1 - 1e-12))
    assert np.isfinite(model.loglik_)
    assert np.isclose(model.sigma_.min(), floor)


def test_missing_values_are_located():
    X, y, _ = simulate_segments(300, [0.0, 3.0], [1.0, 0.2], [0.5, 0.5], [0.6, 0.4], seed=13)
    X.loc[[4, 17, 230], "satisfaction"] = np.nan
    y.iloc[9] = np.inf
    with pytest.raises(DataError) as info:
        ClusterwiseRegression(n_segments=2).fit(X, y)
    message = str(info.value)
    assert "3 missing values in column 'satisfaction' at rows 4, 17, 230" in message
    assert "1 infinite value in column 'loyalty' at row 9" in message
    assert isinstance(info.value, ValueError)
    model = ClusterwiseRegression(n_segments=2, n_init=3).fit(X, y, missing="drop")
    assert model.dropped_rows_ == ["4", "9", "17", "230"] and model.n_obs_ == 296
    with pytest.raises(DataError):
        model.predict(X, y)


@pytest.mark.parametrize(
    "case,match",
    [
        ("too_few", "cannot support"),
        ("constant", "constant"),
        ("collinear", "collinear"),
        ("too_many_segments", "cannot support"),
        ("bad_weights", "negative"),
        ("constant_outcome", "outcome is constant"),
    ],
)
def test_bad_input_is_a_clear_error(case, match):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"satisfaction": rng.normal(size=40), "value": rng.normal(size=40)})
    y = pd.Series(rng.normal(size=40), name="loyalty")
    k, weights = 2, None
    if case == "too_few":
        X, y = X.iloc[:5], y.iloc[:5]
    elif case == "constant":
        X["value"] = 3.0
    elif case == "collinear":
        X["sum"] = X["satisfaction"] + 2 * X["value"]
    elif case == "too_many_segments":
        k = 11
    elif case == "bad_weights":
        weights = np.ones(40)
        weights[3] = -1
    elif case == "constant_outcome":
        y[:] = 4.0
    with pytest.raises(DataError, match=match):
        ClusterwiseRegression(n_segments=k, n_init=2).fit(X, y, sample_weight=weights)


def test_a_search_subsample_reaches_the_full_data_optimum():
    X, y, _ = simulate_segments(8000, **TRUE, seed=14)
    full = ClusterwiseRegression(n_segments=3, n_init=6, random_state=1).fit(X, y)
    sub = ClusterwiseRegression(
        n_segments=3, n_init=6, random_state=1, search_subsample=1000, n_full_runs=2
    ).fit(X, y)
    assert sub.loglik_ == pytest.approx(full.loglik_, rel=1e-9)
    # every start that found the search optimum shares its full-data refinement
    assert sub.start_refined_.sum() >= sub.n_best_starts_ >= 1
    assert len(sub.start_logliks_) == 6
