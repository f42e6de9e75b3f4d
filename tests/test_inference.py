"""Observed information, sandwich, tests and verdicts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _engine_helpers import simulate_segments
from scipy.special import logsumexp

import trustseg.model._core as core_module
from trustseg.model._core import MixtureParams, observed_information
from trustseg.model.inference import MixtureInference
from trustseg.model.mixture import ClusterwiseRegression


def mixture_loglik(theta, X, y, k):
    """Weighted-free mixture log-likelihood in the inference parametrisation."""
    p = X.shape[1]
    blocks = theta[: k * (p + 2)].reshape(k, p + 2)
    logits = np.concatenate([[0.0], theta[k * (p + 2):]])
    log_pi = logits - logsumexp(logits)
    design = np.column_stack([np.ones(len(y)), X])
    residuals = y[:, None] - design @ blocks[:, : p + 1].T
    log_sigma = blocks[:, p + 1]
    log_joint = log_pi - log_sigma - 0.5 * np.log(2 * np.pi) - 0.5 * residuals**2 * np.exp(-2 * log_sigma)
    return logsumexp(log_joint, axis=1).sum()


@pytest.fixture(scope="module")
def two_segments():
    X, y, _ = simulate_segments(800, [0.5, 3.0], [1.0, 0.3], [0.5, 0.7], [0.6, 0.4], seed=21)
    model = ClusterwiseRegression(n_segments=2, n_init=5, random_state=0).fit(X, y)
    return X, y, model


def theta_of(model):
    return np.concatenate([
        np.column_stack([model.intercept_, model.coef_, np.log(model.sigma_)]).ravel(),
        np.log(model.weights_[1:] / model.weights_[0]),
    ])


def test_analytic_hessian_and_gradient_match_finite_differences(two_segments):
    X, y, model = two_segments
    # move off the optimum so the gradient is not zero and Louis' formula is tested in full
    model = ClusterwiseRegression.from_dict(model.to_dict())
    model.intercept_ = model.intercept_ + np.array([0.05, -0.03])
    model.weights_ = np.array([0.55, 0.45])
    Xa, ya = X.to_numpy(), y.to_numpy()
    hessian, _, gradient = observed_information(MixtureParams.of(model), Xa, ya, np.ones(len(ya)))
    theta = theta_of(model)
    h = 1e-5
    numeric_gradient = np.array([
        (mixture_loglik(theta + h * e, Xa, ya, 2) - mixture_loglik(theta - h * e, Xa, ya, 2)) / (2 * h)
        for e in np.eye(len(theta))
    ])
    assert np.allclose(gradient, numeric_gradient, rtol=1e-5, atol=1e-4)
    h = 1e-4
    numeric_hessian = np.array([
        [
            (mixture_loglik(theta + h * (ei + ej), Xa, ya, 2) - mixture_loglik(theta + h * (ei - ej), Xa, ya, 2)
             - mixture_loglik(theta - h * (ei - ej), Xa, ya, 2) + mixture_loglik(theta - h * (ei + ej), Xa, ya, 2))
            / (4 * h * h)
            for ej in np.eye(len(theta))
        ]
        for ei in np.eye(len(theta))
    ])
    assert np.allclose(hessian, numeric_hessian, rtol=1e-3, atol=1e-2)


def test_chunked_computation_gives_the_same_covariance(two_segments, monkeypatch):
    X, y, model = two_segments
    whole = model.inference(X, y)
    monkeypatch.setattr(core_module, "_CHUNK_BYTES", 8 * (7 + 8 + 2 + 2) * 3 * 37)  # 37-row chunks
    chunked = model.inference(X, y)
    assert np.allclose(whole.cov, chunked.cov, rtol=1e-10, atol=1e-14)


def test_robust_close_to_oim_for_a_correct_model(two_segments):
    X, y, model = two_segments
    oim = model.inference(X, y).params["std_error"].to_numpy()
    robust = model.inference(X, y, cov_type="robust").params["std_error"].to_numpy()
    assert np.allclose(robust, oim, rtol=0.2)


def test_weighted_robust_equals_replicated_oim_scale():
    X, y, _ = simulate_segments(500, [0.5, 3.0], [1.0, 0.3], [0.5, 0.7], [0.6, 0.4], seed=22)
    w = np.random.default_rng(3).integers(1, 3, size=len(y)).astype(float)
    model = ClusterwiseRegression(n_segments=2, n_init=5).fit(X, y, sample_weight=w)
    rows = np.repeat(np.arange(len(y)), w.astype(int))
    replicated = model.inference(X.iloc[rows], y.iloc[rows])
    weighted = model.inference(X, y, sample_weight=w)
    assert np.allclose(weighted.cov, replicated.cov, rtol=1e-8, atol=1e-12)


def test_share_standard_errors_by_delta_method(two_segments):
    X, y, model = two_segments
    result = model.inference(X, y)
    logit_var = result.cov[-1, -1]
    pi1, pi2 = model.weights_
    # pi_2 = 1 / (1 + exp(-alpha)): d pi_2 / d alpha = pi_1 pi_2
    expected = pi1 * pi2 * np.sqrt(logit_var)
    assert np.allclose(result.shares["std_error"], [expected, expected])


def test_slope_tests_and_holm(two_segments):
    X, y, model = two_segments
    result = model.inference(X, y)
    pair = result.pairwise.iloc[0]
    assert result.slope_equality["df"] == 1
    assert result.slope_equality["statistic"] == pytest.approx(pair["z"] ** 2, rel=1e-10)
    # one pair: Holm leaves its p-value as it is
    assert pair["p_holm"] == pytest.approx(pair["p_value"])


def test_verdicts_follow_the_intervals():
    X, y, _ = simulate_segments(6000, [0.5, 4.0], [1.0, 0.0], [0.4, 0.4], [0.5, 0.5], seed=23)
    model = ClusterwiseRegression(n_segments=2, n_init=5).fit(X, y)
    result = model.inference(X, y, equivalence_margin=0.1)
    assert list(result.verdicts["verdict"]) == ["drives", "does_not_drive"]
    # the same flat slope on few respondents: not significant, yet not shown equivalent
    few = simulate_segments(60, [0.5, 4.0], [1.0, 0.0], [0.4, 2.5], [0.5, 0.5], seed=24)
    small = ClusterwiseRegression(n_segments=2, n_init=5).fit(few[0], few[1])
    verdicts = small.inference(few[0], few[1]).verdicts
    flat = verdicts.iloc[-1]
    assert flat["ci_low"] < 0 < flat["ci_high"]
    assert flat["verdict"] == "inconclusive"


def test_params_table_layout_and_summary(two_segments):
    X, y, model = two_segments
    result = model.inference(X, y)
    assert list(result.params.columns) == [
        "segment", "share", "term", "estimate", "std_error", "z", "p_value", "ci_low", "ci_high"
    ]
    assert list(result.params["term"]) == ["(Intercept)", "satisfaction"] * 2
    assert result.cov.shape == (len(result.param_names),) * 2
    summary = result.summary()
    assert "satisfaction" in summary.as_text() and str(summary) == summary.as_text()
    assert "| segment |" in summary.as_markdown()
    assert r"\toprule" in summary.as_latex() and r"(Intercept)" in summary.as_latex()


def test_inference_from_a_rebuilt_model(two_segments):
    X, y, model = two_segments
    rebuilt = ClusterwiseRegression.from_dict(json.loads(json.dumps(model.to_dict())))
    assert np.array_equal(rebuilt.inference(X, y).cov, model.inference(X, y).cov)
    assert isinstance(rebuilt.inference(X, y), MixtureInference)
