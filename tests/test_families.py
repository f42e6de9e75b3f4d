"""Outcome families (issue 12): analytic derivatives, K = 1 fits against R and statsmodels.

The R reference numbers (tests/data/families_reference.json, written by
families_reference.R; see FAMILIES_README.md) are for ``glm`` (Poisson,
binomial), flexmix at K = 1, ``AER::tobit`` and ``ordinal::clm``.  Our ordinal
family uses clm's sign convention, logit P(Y <= j) = theta_j - x'beta, so its
thresholds and slope compare without conversion.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from _engine_helpers import assert_row_derivatives_match, central_differences
from statsmodels.miscmodels.ordinal_model import OrderedModel

from trustseg.errors import ConfigError, DataError
from trustseg.model.families import (
    FAMILIES,
    BinomialFamily,
    CensoredFamily,
    GaussianFamily,
    OrdinalFamily,
    PoissonFamily,
    fit_segment,
    make_family,
    segment_gradient_hessian,
)

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "families_reference.json").read_text())["cases"]
COEF_RTOL = 1e-6
SE_RTOL = 0.01


def relative_difference(ours, theirs):
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    return float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)))


def standard_errors(fit):
    return np.sqrt(np.diag(np.linalg.inv(-fit.hessian)))


# ----------------------------------------------------------------------------
# analytic derivatives against finite differences
# ----------------------------------------------------------------------------


def derivative_cases():
    """(family, y, eta, extra, data) at several parameter points per family, tails included."""
    rng = np.random.default_rng(12)
    n = 60
    eta = rng.normal(0.0, 1.5, n)
    cases = []
    for log_sigma in (-0.7, 0.0, 0.9):
        cases.append(("gaussian", GaussianFamily(), rng.normal(eta, 1.0), eta, np.array([log_sigma]), None))
    censored = CensoredFamily(lower=1.0, upper=7.0)
    for shift, log_sigma in ((4.0, 0.2), (1.0, -0.5), (7.5, 0.8)):
        # shift 1.0 and 7.5 put many rows deep in a censoring tail (t down to about -8)
        centre = eta + shift
        y = np.clip(rng.normal(centre, 1.3), 1.0, 7.0)
        cases.append(("censored", censored, y, centre, np.array([log_sigma]), None))
    trials = rng.integers(1, 12, n).astype(float)
    for scale in (0.5, 2.0, 6.0):
        e = scale * eta
        cases.append(("binomial 0/1", BinomialFamily(), rng.binomial(1, 1 / (1 + np.exp(-e))).astype(float), e,
                      np.empty(0), None))
        cases.append(("binomial trials", BinomialFamily(), rng.binomial(trials.astype(int), 1 / (1 + np.exp(-e)))
                      .astype(float), e, np.empty(0), {"trials": trials}))
    offset = rng.normal(0.0, 0.5, n)
    for level in (-1.0, 0.5, 2.5):
        e = 0.4 * eta + level
        cases.append(("poisson", PoissonFamily(), rng.poisson(np.exp(e + offset)).astype(float), e, np.empty(0),
                      {"offset": offset}))
    ordinal = OrdinalFamily(categories=(1, 2, 3, 4, 5))
    ordinal_points = (((-1.5, -0.3, 0.6, 2.0), 1.0), ((-4.0, -1.0, 1.0, 4.0), 3.0), ((0.0, 0.2, 0.4, 9.0), 5.0))
    for thresholds, scale in ordinal_points:
        theta = np.array(thresholds)
        e = scale * eta
        y = ordinal.simulate(e, theta, rng)
        cases.append(("ordinal", ordinal, y, e, theta, None))
    return cases


DERIVATIVE_CASES = derivative_cases()
CASE_IDS = [f"{label}-{i}" for i, (label, *_rest) in enumerate(DERIVATIVE_CASES)]


@pytest.mark.parametrize("case", DERIVATIVE_CASES, ids=CASE_IDS)
def test_derivatives_match_finite_differences(case):
    _label, family, y, eta, extra, data = case
    assert_row_derivatives_match(family, y, np.asarray(eta, dtype=float), np.asarray(extra, dtype=float), data)


@pytest.mark.parametrize("case", DERIVATIVE_CASES, ids=CASE_IDS)
def test_segment_gradient_and_hessian_match_finite_differences(case):
    _label, family, y, eta, extra, data = case
    rng = np.random.default_rng(3)
    n = len(y)
    x = rng.normal(size=(n, 2))
    # a design reproducing eta exactly: eta as the first column, coefficient 1
    X = np.column_stack([eta, x])
    beta = np.array([1.0, 0.0, 0.0])
    w = rng.uniform(0.0, 2.0, n)
    w[:3] = 0.0  # posterior weights may be exactly zero
    params = np.concatenate([beta, extra])
    p = len(beta)

    def total(values):
        return segment_gradient_hessian(family, X, y, values[:p], values[p:], w, data)

    loglik, gradient, hessian = total(params)
    assert loglik == pytest.approx(float(w @ family.loglik(y, X @ beta, extra, data)), rel=1e-12)
    numeric_gradient, numeric_hessian = central_differences(total, params)
    scale_g = 1 + np.abs(gradient).max()
    scale_h = 1 + np.abs(hessian).max()
    np.testing.assert_allclose(gradient, numeric_gradient, rtol=1e-5, atol=1e-6 * scale_g)
    np.testing.assert_allclose(hessian, numeric_hessian, rtol=1e-5, atol=1e-6 * scale_h)


def test_censored_and_ordinal_derivatives_stay_finite_far_in_the_tails():
    censored = CensoredFamily(lower=1.0, upper=7.0)
    y = np.array([1.0, 7.0, 1.0, 7.0])
    eta = np.array([60.0, -55.0, -60.0, 70.0])  # t = -59, -62 for the censored rows: Phi underflows
    loglik = censored.loglik(y, eta, np.array([0.0]))
    d1, d2 = censored.derivatives(y, eta, np.array([0.0]))
    assert np.all(np.isfinite(loglik)) and np.all(np.isfinite(d1)) and np.all(np.isfinite(d2))
    # inverse Mills ratio at t ~ -59 is about -t
    assert d1[0, 0] == pytest.approx(-59.0, rel=1e-3)
    ordinal = OrdinalFamily(categories=(1, 2, 3))
    y = np.array([1.0, 3.0, 2.0, 2.0])
    eta = np.array([80.0, -80.0, 60.0, -60.0])
    theta = np.array([-1.0, 1.0])
    assert np.all(np.isfinite(ordinal.loglik(y, eta, theta)))
    assert all(np.all(np.isfinite(a)) for a in ordinal.derivatives(y, eta, theta))


# ----------------------------------------------------------------------------
# K = 1 against R
# ----------------------------------------------------------------------------


def npreg():
    return pd.read_csv(DATA / "NPreg.csv")


@pytest.mark.parametrize(("family", "column", "case"), [("poisson", "yp", "glm_poisson_k1"),
                                                       ("binomial", "yb", "glm_binomial_k1")])
def test_glm_families_match_r_glm_and_flexmix_k1(family, column, case):
    data = npreg()
    fit = fit_segment(make_family(family), data[["x"]].to_numpy(), data[column].to_numpy())
    assert fit.converged
    glm = REFERENCE[case]
    assert fit.loglik == pytest.approx(glm["logLik"], rel=COEF_RTOL)
    assert relative_difference(fit.beta, list(glm["coefficients"].values())) < COEF_RTOL
    assert relative_difference(standard_errors(fit), list(glm["std_errors"].values())) < SE_RTOL
    np.testing.assert_allclose(np.linalg.inv(-fit.hessian), glm["vcov"], rtol=SE_RTOL)
    flexmix_k1 = REFERENCE[f"flexmix_{family}"]["models"][0]
    assert flexmix_k1["k_fitted"] == 1
    assert fit.loglik == pytest.approx(flexmix_k1["logLik"], rel=COEF_RTOL)
    assert relative_difference(fit.beta, list(flexmix_k1["components"][0].values())) < COEF_RTOL
    assert relative_difference(standard_errors(fit), flexmix_k1["refit"][0]["std_error"]) < SE_RTOL


def test_censored_matches_aer_tobit():
    data = pd.read_csv(DATA / "censored_example.csv")
    family = make_family("censored", lower=1, upper=7)
    family.check_outcome(data["loyalty"].to_numpy(), "loyalty")
    fit = fit_segment(family, data[["satisfaction"]].to_numpy(), data["loyalty"].to_numpy())
    tobit = REFERENCE["censored_tobit_k1"]
    assert fit.converged
    assert fit.loglik == pytest.approx(tobit["logLik"], rel=COEF_RTOL)
    assert relative_difference(fit.beta, list(tobit["coefficients"].values())) < COEF_RTOL
    # AER's vcov is on (coefficients, log sigma): our parametrisation exactly
    assert fit.extra[0] == pytest.approx(tobit["log_sigma"], rel=COEF_RTOL)
    np.testing.assert_allclose(np.linalg.inv(-fit.hessian), tobit["vcov"], rtol=SE_RTOL)
    assert relative_difference(standard_errors(fit), np.sqrt(np.diag(tobit["vcov"]))) < SE_RTOL


def test_ordinal_matches_clm():
    data = pd.read_csv(DATA / "ordinal_example.csv")
    family = make_family("ordinal", categories=(1, 2, 3, 4, 5))
    family.check_outcome(data["item"].to_numpy(), "item")
    fit = fit_segment(family, data[["satisfaction"]].to_numpy(), data["item"].to_numpy())
    clm = REFERENCE["ordinal_clm_k1"]
    assert fit.converged
    assert family.extra_names() == [f"threshold_{name}" for name in clm["thresholds"]]
    assert fit.loglik == pytest.approx(clm["logLik"], rel=COEF_RTOL)
    # same sign convention as clm: logit P(Y <= j) = theta_j - x'beta
    assert relative_difference(fit.extra, list(clm["thresholds"].values())) < COEF_RTOL
    assert relative_difference(fit.beta, list(clm["beta"].values())) < COEF_RTOL
    # clm orders the parameters (thresholds, beta); ours are (beta, thresholds)
    order = [1, 2, 3, 4, 0]
    covariance = np.linalg.inv(-fit.hessian)[np.ix_(order, order)]
    np.testing.assert_allclose(covariance, clm["vcov"], rtol=SE_RTOL)


# ----------------------------------------------------------------------------
# against statsmodels, with weights
# ----------------------------------------------------------------------------


def simulated_predictors(n, seed):
    rng = np.random.default_rng(seed)
    return rng, rng.normal(size=(n, 2)), rng.integers(1, 4, n).astype(float)


def assert_matches_glm(fit, glm):
    """Log-likelihood and coefficients to COEF_RTOL, standard errors to SE_RTOL, of a statsmodels GLM fit."""
    assert fit.loglik == pytest.approx(glm.llf, rel=COEF_RTOL)
    assert relative_difference(fit.beta, glm.params) < COEF_RTOL
    assert relative_difference(standard_errors(fit), glm.bse) < SE_RTOL


def test_binomial_with_trials_and_weights_matches_statsmodels_glm():
    rng, X, w = simulated_predictors(300, 21)
    trials = rng.integers(1, 9, 300).astype(float)
    y = rng.binomial(trials.astype(int), 1 / (1 + np.exp(-(0.3 + X @ [0.8, -0.5])))).astype(float)
    fit = fit_segment(BinomialFamily(), X, y, w=w, data={"trials": trials})
    glm = sm.GLM(np.column_stack([y, trials - y]), sm.add_constant(X), family=sm.families.Binomial(),
                 freq_weights=w).fit(tol=1e-12)
    assert_matches_glm(fit, glm)


def test_binomial_0_1_with_weights_matches_statsmodels_glm():
    rng, X, w = simulated_predictors(300, 22)
    y = rng.binomial(1, 1 / (1 + np.exp(-(-0.4 + X @ [1.0, 0.3])))).astype(float)
    fit = fit_segment(BinomialFamily(), X, y, w=w)
    glm = sm.GLM(y, sm.add_constant(X), family=sm.families.Binomial(), freq_weights=w).fit(tol=1e-12)
    assert_matches_glm(fit, glm)


def test_poisson_with_offset_and_weights_matches_statsmodels_glm():
    rng, X, w = simulated_predictors(300, 23)
    offset = np.log(rng.uniform(0.5, 3.0, 300))
    y = rng.poisson(np.exp(0.2 + X @ [0.4, -0.6] + offset)).astype(float)
    fit = fit_segment(PoissonFamily(), X, y, w=w, data={"offset": offset})
    glm = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson(), offset=offset,
                 freq_weights=w).fit(tol=1e-12)
    assert_matches_glm(fit, glm)


def test_ordinal_with_integer_weights_matches_ordered_model_on_replicated_rows():
    # OrderedModel takes no weights; integer weights equal replicated rows.
    rng, X, w = simulated_predictors(250, 24)
    family = OrdinalFamily(categories=(1, 2, 3, 4))
    y = family.simulate(X @ [1.0, -0.7], np.array([-1.0, 0.2, 1.4]), rng)
    fit = fit_segment(family, X, y, w=w)
    repeat = w.astype(int)
    model = OrderedModel(np.repeat(y, repeat), np.repeat(X, repeat, axis=0), distr="logit")
    result = model.fit(method="bfgs", disp=False, gtol=1e-10, maxiter=2000)
    assert fit.loglik == pytest.approx(result.llf, rel=COEF_RTOL)
    assert relative_difference(fit.beta, result.params[:2]) < 1e-5
    # OrderedModel stores the first threshold and log increments; both use theta_j - x'beta
    assert relative_difference(fit.extra, model.transform_threshold_params(result.params)[1:-1]) < 1e-5
    # the slopes' SEs do not depend on how the thresholds are parametrised
    assert relative_difference(standard_errors(fit)[:2], result.bse[:2]) < SE_RTOL


def test_gaussian_fit_is_weighted_least_squares_with_the_ml_variance():
    rng, X, w = simulated_predictors(200, 25)
    w = w * rng.uniform(0.1, 1.0, 200)
    y = 1.0 + X @ [0.5, -2.0] + rng.normal(0.0, 0.7, 200)
    fit = fit_segment(GaussianFamily(), X, y, w=w)
    wls = sm.WLS(y, sm.add_constant(X), weights=w).fit()
    assert relative_difference(fit.beta, wls.params) < 1e-9
    ml_variance = float(w @ wls.resid**2) / w.sum()
    assert np.exp(2 * fit.extra[0]) == pytest.approx(ml_variance, rel=1e-9)
    assert np.abs(fit.gradient).max() < 1e-8


# ----------------------------------------------------------------------------
# fitting behaviour
# ----------------------------------------------------------------------------


def test_fit_accepts_warm_starts_and_zero_weights():
    rng, X, w = simulated_predictors(300, 26)
    family = CensoredFamily(lower=1.0, upper=7.0)
    y = np.clip(rng.normal(4.0 + X @ [1.0, 0.5], 1.2), 1.0, 7.0)
    w = rng.uniform(0.0, 1.0, 300) * (rng.uniform(size=300) > 0.2)  # posterior-like, many zeros
    cold = fit_segment(family, X, y, w=w)
    warm = fit_segment(family, X, y, w=w, start=(cold.beta + 0.3, cold.extra - 0.4))
    assert cold.converged and warm.converged
    np.testing.assert_allclose(warm.beta, cold.beta, rtol=1e-8)
    dropped = fit_segment(family, X[w > 0], y[w > 0], w=w[w > 0])
    np.testing.assert_allclose(dropped.beta, cold.beta, rtol=1e-10)


def test_fit_recovers_from_a_start_where_the_hessian_is_indefinite():
    rng, X, _ = simulated_predictors(400, 27)
    y = 2.0 + X @ [1.0, -1.0] + rng.normal(0.0, 0.5, 400)
    family = GaussianFamily()
    start = (np.array([30.0, -5.0, 5.0]), np.array([-3.0]))  # far off, sigma tiny: H not negative definite
    _, _, hessian = segment_gradient_hessian(family, np.column_stack([np.ones(400), X]), y, *start, np.ones(400))
    assert np.linalg.eigvalsh(hessian).max() > 0
    fit = fit_segment(family, X, y, start=start, max_iter=200)
    assert fit.converged
    np.testing.assert_allclose(fit.beta, sm.OLS(y, sm.add_constant(X)).fit().params, rtol=1e-8)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_recovery_at_n_5000(name):
    rng = np.random.default_rng(sorted(FAMILIES).index(name) + 40)
    n = 5000
    x = rng.normal(size=(n, 2))
    data = None
    if name == "gaussian":
        family, beta, extra = GaussianFamily(), np.array([1.0, 0.5, -0.8]), np.array([np.log(0.9)])
    elif name == "censored":
        family, beta, extra = CensoredFamily(1, 7), np.array([5.0, 1.2, -0.6]), np.array([np.log(1.3)])
    elif name == "binomial":
        family, beta, extra = BinomialFamily(), np.array([-0.3, 0.9, 0.4]), np.empty(0)
        data = {"trials": rng.integers(1, 6, n).astype(float)}
    elif name == "poisson":
        family, beta, extra = PoissonFamily(), np.array([0.6, 0.3, -0.5]), np.empty(0)
        data = {"offset": np.log(rng.uniform(0.5, 2.0, n))}
    else:
        family, beta, extra = OrdinalFamily((1, 2, 3, 4, 5)), np.array([1.1, -0.7]), np.array([-2.0, -0.5, 0.7, 2.2])
    X = np.column_stack([np.ones(n), x]) if family.has_intercept else x
    y = family.simulate(X @ beta, extra, rng, data)
    family.check_outcome(y, "y", data)
    fit = fit_segment(family, x, y, data=data)
    assert fit.converged
    estimates = np.concatenate([fit.beta, fit.extra])
    truth = np.concatenate([beta, extra])
    assert np.all(np.abs(estimates - truth) <= 4 * standard_errors(fit))


# ----------------------------------------------------------------------------
# names, means, wrong families
# ----------------------------------------------------------------------------


def test_extra_names_and_intercepts():
    assert make_family("gaussian").extra_names() == ["log_sigma"]
    assert make_family("censored", lower=1, upper=7).extra_names() == ["log_sigma"]
    assert make_family("binomial").extra_names() == [] and make_family("poisson").extra_names() == []
    ordinal = make_family("ordinal", categories=(1, 2, 3, 4))
    assert ordinal.extra_names() == ["threshold_1|2", "threshold_2|3", "threshold_3|4"]
    assert not ordinal.has_intercept
    assert all(FAMILIES[name].has_intercept for name in ("gaussian", "censored", "binomial", "poisson"))


def test_means_match_simulation_averages():
    rng = np.random.default_rng(5)
    eta = np.full(200_000, 0.4)
    cases = [
        (CensoredFamily(-0.5, 1.0), np.array([0.1]), None),
        (BinomialFamily(), np.empty(0), {"trials": np.full(200_000, 4.0)}),
        (PoissonFamily(), np.empty(0), {"offset": np.full(200_000, 0.3)}),
        (OrdinalFamily((1, 2, 4)), np.array([-0.2, 1.0]), None),
        (GaussianFamily(), np.array([0.0]), None),
    ]
    for family, extra, data in cases:
        draws = family.simulate(eta, extra, rng, data)
        assert family.mean(eta, extra, data)[0] == pytest.approx(draws.mean(), abs=4 * draws.std() / 447)


def test_make_family_rejects_unknown_names_and_settings():
    with pytest.raises(ConfigError, match="unknown outcome family 'tweedie'"):
        make_family("tweedie")
    with pytest.raises(ConfigError, match="takes the settings"):
        make_family("poisson", lower=1)
    with pytest.raises(ConfigError, match="strictly increasing"):
        make_family("ordinal", categories=(1, 3, 2))


def test_binomial_outcome_with_other_values_names_column_and_values():
    with pytest.raises(DataError, match=r"column 'recommend'.*0 and 1.*: 2, 5 \(3 rows\)"):
        BinomialFamily().check_outcome(np.array([0, 1, 2, 5, 5, 1.0]), "recommend")
    with pytest.raises(DataError, match=r"column 'successes'.*: 4"):
        BinomialFamily().check_outcome(np.array([0, 3, 4.0]), "successes", {"trials": np.array([2, 3, 3.0])})
    BinomialFamily().check_outcome(np.array([0, 3, 3.0]), "successes", {"trials": np.array([2, 3, 3.0])})


def test_ordinal_outcome_with_40_values_names_column_and_suggests_another_family():
    y = np.linspace(1, 7, 40)
    with pytest.raises(DataError, match=r"column 'loyalty': an ordinal outcome with 40 distinct values \(1, 1\.15"
                                        r".*use gaussian or censored"):
        OrdinalFamily((1, 2, 3, 4, 5, 6, 7)).check_outcome(y, "loyalty")
    with pytest.raises(DataError, match=r"column 'item'.*not answer categories.*: 0, 6"):
        OrdinalFamily((1, 2, 3, 4, 5)).check_outcome(np.array([0, 1, 2, 6.0]), "item")


def test_negative_count_names_column_and_values():
    with pytest.raises(DataError, match=r"column 'visits'.*whole numbers >= 0.*: -2, 1\.5 \(2 rows\)"):
        PoissonFamily().check_outcome(np.array([0, 3, -2, 1.5]), "visits")


def test_censored_outcome_outside_bounds_names_column():
    with pytest.raises(DataError, match=r"column 'loyalty'.*\[1, 7\].*: 0, 8"):
        CensoredFamily(1, 7).check_outcome(np.array([0, 3, 8.0]), "loyalty")
