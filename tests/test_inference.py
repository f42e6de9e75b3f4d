"""Observed information, sandwich, tests and verdicts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _engine_helpers import simulate_segments
from scipy.special import logsumexp

import trustseg.model.bootstrap as bs
import trustseg.model.likelihood as likelihood_module
import trustseg.stages.fit as fit_stage
from trustseg.model.families import make_family
from trustseg.model.inference import MixtureInference
from trustseg.model.likelihood import observed_information
from trustseg.model.mixture import ClusterwiseRegression
from trustseg.model.persistence import model_from_dict, model_to_dict


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
    model = model_from_dict(model_to_dict(model))
    model.intercept_ = model.intercept_ + np.array([0.05, -0.03])
    model.weights_ = np.array([0.55, 0.45])
    Xa, ya = X.to_numpy(), y.to_numpy()
    hessian, _, gradient = observed_information(model.family_, model.family_.design(Xa), ya, np.ones(len(ya)),
                                                model.params_)
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
    monkeypatch.setattr(likelihood_module, "_CHUNK_BYTES", 8 * (7 + 8 + 2 + 2) * 3 * 37)  # 37-row chunks
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
    assert list(result.verdicts["verdict"]) == ["drives_up", "does_not_drive"]
    verdicts = result.verdicts
    # p_zero is the two-sided test of slope = 0: below alpha exactly when the 1 - alpha interval excludes 0
    assert np.array_equal(verdicts["p_zero"] < 0.05, (verdicts["ci_low"] > 0) | (verdicts["ci_high"] < 0))
    assert "p_zero_adjusted" not in verdicts and "p_positive" not in verdicts
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
    rebuilt = model_from_dict(json.loads(json.dumps(model_to_dict(model))))
    assert np.array_equal(rebuilt.inference(X, y).cov, model.inference(X, y).cov)
    assert isinstance(rebuilt.inference(X, y), MixtureInference)


def _hand_made(slopes, slope_errors, alpha=0.05, margin=0.1, verdict_adjustment="none"):
    """Inference for K segments with the given focal slopes and standard errors (independent estimates).

    No fit: the verdict and comparison rules are tested on exactly known numbers.
    """
    k = len(slopes)
    model = ClusterwiseRegression(n_segments=k)
    model.feature_names_in_ = np.array(["satisfaction"], dtype=object)
    model.n_features_in_, model.focal_index_, model.n_segments_ = 1, 0, k
    model.intercept_ = np.linspace(1.0, 2.0, k)
    model.coef_ = np.asarray(slopes, dtype=float).reshape(k, 1)
    model.sigma_ = np.full(k, 0.5)
    model.extra_ = np.log(model.sigma_)[:, None]
    model.family_ = make_family("gaussian")
    model.weights_ = np.full(k, 1.0 / k)
    names = [f"{j + 1}:{t}" for j in range(k) for t in ("(Intercept)", "satisfaction", "log_sigma")]
    names += [f"{j + 1}:logit" for j in range(1, k)]
    variances = np.full(len(names), 0.01)
    for j, se in enumerate(slope_errors):
        variances[names.index(f"{j + 1}:satisfaction")] = se**2
    return MixtureInference(model, np.diag(variances), names, "oim", alpha, margin, 1000,
                            verdict_adjustment=verdict_adjustment)


def test_verdicts_are_the_four_outcomes_of_an_equivalence_test():
    # up; down (switching falls with satisfaction); significant but inside the margin; flat; too uncertain
    result = _hand_made([0.8, -0.65, 0.05, 0.01, 0.05], [0.05, 0.04, 0.01, 0.02, 0.2])
    assert list(result.verdicts["verdict"]) == ["drives_up", "drives_down", "negligible", "does_not_drive",
                                                "inconclusive"]
    negligible = result.verdicts.iloc[2]
    # both tests hold: the slope is not zero and it lies within +-0.1 (it used to be called "drives")
    assert negligible["p_zero"] < 0.05 and negligible["p_tost"] < 0.05 and negligible["ci_low"] > 0


def test_a_significant_slope_inside_the_margin_is_negligible_on_data():
    rng = np.random.default_rng(31)
    x = rng.uniform(1, 7, 20000)
    X = pd.DataFrame({"satisfaction": x})
    y = pd.Series(3.0 + 0.05 * x + rng.normal(0, 0.3, x.size), name="repurchase")
    model = ClusterwiseRegression(n_segments=1, n_init=1).fit(X, y)
    verdict = model.inference(X, y, equivalence_margin=0.1).verdicts.iloc[0]
    assert verdict["ci_low"] > 0 and verdict["ci_high"] < 0.1
    assert verdict["verdict"] == "negligible"


def test_holm_adjustment_can_make_a_borderline_verdict_inconclusive():
    # z = 2.1 (p = 0.036) beside a flat, precisely estimated slope: Holm doubles the smallest p-value
    plain = _hand_made([0.21, 0.0], [0.1, 0.01])
    holm = _hand_made([0.21, 0.0], [0.1, 0.01], verdict_adjustment="holm")
    assert list(plain.verdicts["verdict"]) == ["drives_up", "does_not_drive"]
    assert list(holm.verdicts["verdict"]) == ["inconclusive", "does_not_drive"]
    assert holm.verdicts["p_zero_adjusted"].iloc[0] == pytest.approx(2 * plain.verdicts["p_zero"].iloc[0])
    assert np.all(holm.verdicts["p_tost_adjusted"] >= holm.verdicts["p_tost"])
    # the raw p-values and the intervals are those of the unadjusted run
    assert holm.verdicts["p_zero"].equals(plain.verdicts["p_zero"])
    with pytest.raises(ValueError, match="verdict_adjustment"):
        _hand_made([0.2], [0.1], verdict_adjustment="bonferroni")


def test_the_summary_says_whether_verdicts_are_adjusted(two_segments):
    X, y, model = two_segments
    assert "not adjusted for 2 segments" in model.inference(X, y).summary().as_text()
    holm = model.inference(X, y, verdict_adjustment="holm")
    assert "Holm-adjusted over the segments" in holm.summary().as_text()
    assert {"p_zero_adjusted", "p_tost_adjusted"} <= set(holm.verdicts.columns)


def test_pairwise_differences_get_an_equivalence_test():
    result = _hand_made([1.0, 0.6, 0.3, 0.29], [0.01, 0.2, 0.01, 0.01])
    pairs = result.pairwise.set_index(["segment_a", "segment_b"])
    # 0.4 apart with SE 0.2: p = 0.046, not significant after Holm over 6 pairs, and far from alike
    assert pairs.loc[(1, 2), "p_value"] < 0.05 < pairs.loc[(1, 2), "p_holm"]
    assert pairs.loc[(1, 2), "comparison"] == "not_shown_to_differ"
    assert pairs.loc[(1, 3), "comparison"] == "differ"
    # 0.01 apart with SE 0.014: not significant, and shown to lie within +-0.1
    assert pairs.loc[(3, 4), "p_tost_holm"] < 0.05 and pairs.loc[(3, 4), "comparison"] == "alike"
    tests = result.tests_frame()
    assert list(tests.columns[-3:]) == ["p_tost", "p_tost_holm", "comparison"]
    assert tests["comparison"].iloc[0] == "differ"  # the Wald test of equal slopes
    assert set(tests["comparison"].iloc[1:]) == {"differ", "alike", "not_shown_to_differ"}


def test_segments_are_ordered_in_the_expected_direction():
    X, y, _ = simulate_segments(600, [6.0, 1.0], [-0.6, 0.4], [0.3, 0.3], [0.5, 0.5], seed=25)
    up = ClusterwiseRegression(n_segments=2, n_init=2, random_state=1).fit(X, y)
    down = ClusterwiseRegression(n_segments=2, n_init=2, random_state=1, focal_direction=-1).fit(X, y)
    assert up.coef_[0, 0] > 0 > up.coef_[1, 0]
    assert down.coef_[0, 0] < 0 < down.coef_[1, 0]
    assert down.loglik_ == pytest.approx(up.loglik_)
    assert np.allclose(down.coef_[::-1], up.coef_)
    rebuilt = model_from_dict(json.loads(json.dumps(model_to_dict(down))))
    assert rebuilt.focal_direction == -1
    # bootstrap refits take the reference's settings, so they order the segments the same way
    refit, note = bs._refit(X.to_numpy(), y.to_numpy(), np.ones(len(y)), rebuilt, 2, [rebuilt.params_], 1, 3,
                            list(X.columns))
    assert note == "" and refit.coef_[0, 0] < 0 < refit.coef_[1, 0]
    assert fit_stage.focal_direction("worse") == -1 and fit_stage.focal_direction("better") == 1
    with pytest.raises(ValueError, match="focal_direction"):
        ClusterwiseRegression(n_segments=2, focal_direction=0).fit(X, y)


def test_two_ordinal_thresholds_that_met_share_one_standard_error():
    """A category nobody in a segment gave: its two thresholds meet at the maximum and the information has no
    curvature along their gap; the covariance is that of the merged parameters, not a pseudo-inverse."""
    from trustseg.model.families import met_threshold_groups
    from trustseg.model.inference import _covariance
    from trustseg.model.params import MixtureParams

    family = make_family("ordinal", categories=[1.0, 2.0, 3.0, 4.0])
    params = MixtureParams(np.array([0.5, 0.5]), np.array([[1.0], [0.5]]),
                           np.array([[-1.0, 0.5, 0.5 + 1e-9], [-1.0, 0.0, 1.0]]))
    groups = met_threshold_groups(family, params)
    assert groups.tolist() == [0, 1, 2, 2, 4, 5, 6, 7, 8]
    rng = np.random.default_rng(3)
    root = rng.normal(size=(8, 8))
    merged_information = root @ root.T + 8 * np.eye(8)
    _, column = np.unique(groups, return_inverse=True)
    indicator = np.eye(8)[column]  # (9, 8): the two thresholds are one parameter
    hessian = -(indicator @ merged_information @ indicator.T)  # singular in the full layout
    full, singular_full = _covariance(hessian, -hessian, "oim")
    assert singular_full
    cov, singular = _covariance(hessian, -hessian, "oim", groups)
    assert not singular
    expected = np.linalg.inv(indicator.T @ -hessian @ indicator)  # moving both thresholds by one moves the pair
    np.testing.assert_allclose(cov, expected[np.ix_(column, column)], rtol=1e-10)
    assert cov[2, 2] == cov[3, 3] > 0
