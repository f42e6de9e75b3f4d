"""Segment-specific spread (issue 12): the location-scale family, alone and in a mixture.

Derivatives against finite differences, the reduction to the constant-spread
families when the spread slopes are zero, one-segment fits against a closed
form and against scipy's optimiser on an independently written likelihood,
Louis' identity in a two-segment mixture, and recovery of known parameters.
"""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest
from _engine_helpers import assert_row_derivatives_match, central_differences
from scipy import optimize, stats

from trustseg.errors import ConfigError, DataError
from trustseg.model.families import CensoredFamily, GaussianFamily, fit_segment, segment_gradient_hessian
from trustseg.model.families.spread import LocationScaleFamily, spread_data, spread_key
from trustseg.model.likelihood import mixture_loglik, observed_information
from trustseg.model.params import MixtureParams, pack, unpack
from trustseg.model.search import fit_mixture

LOWER, UPPER = 1.0, 7.0


def gaussian_family(names=("sat",)):
    return LocationScaleFamily(spread_names=names)


def censored_family(names=("sat",)):
    return LocationScaleFamily(base="censored", lower=LOWER, upper=UPPER, spread_names=names)


# ----------------------------------------------------------------------------
# derivatives
# ----------------------------------------------------------------------------


def derivative_cases():
    """(label, family, y, eta, extra, data) with two spread predictors, censored tails included."""
    rng = np.random.default_rng(21)
    n = 80
    Z = np.column_stack([rng.uniform(1.0, 7.0, n), rng.normal(0.0, 1.0, n)])
    cases = []
    for extra in ([-0.5, 0.2, 0.1], [0.4, -0.15, -0.3]):
        family = gaussian_family(("sat", "other"))
        data = spread_data(family.spread_names, Z)
        eta = rng.normal(3.0, 1.5, n)
        y = family.simulate(eta, np.array(extra), rng, data)
        cases.append(("gaussian", family, y, eta, np.array(extra), data))
    family = censored_family(("sat", "other"))
    data = spread_data(family.spread_names, Z)
    for shift, extra in ((4.0, [-0.8, 0.15, 0.1]), (0.5, [0.0, 0.1, -0.2]), (7.8, [-0.4, 0.2, 0.3])):
        # shifts 0.5 and 7.8 put many rows deep in a censoring tail
        eta = rng.normal(shift, 1.0, n)
        y = family.simulate(eta, np.array(extra), rng, data)
        cases.append(("censored", family, y, eta, np.array(extra), data))
    # a censored base on data that never reach a bound: the uncensored formulas alone
    eta = rng.normal(4.0, 0.3, n)
    y = np.clip(rng.normal(eta, 0.3), 1.5, 6.5)
    cases.append(("censored-none-at-bounds", family, y, eta, np.array([-1.2, 0.01, 0.05]), data))
    return cases


DERIVATIVE_CASES = derivative_cases()
CASE_IDS = [f"{label}-{i}" for i, (label, *_rest) in enumerate(DERIVATIVE_CASES)]


def test_the_derivative_cases_hold_censored_rows_where_intended():
    censored_rows = [int(np.sum((y <= LOWER) | (y >= UPPER))) for label, _, y, *_ in DERIVATIVE_CASES
                     if label == "censored"]
    assert min(censored_rows) >= 3
    none = [case for case in DERIVATIVE_CASES if case[0] == "censored-none-at-bounds"][0]
    assert not np.any((none[2] <= LOWER) | (none[2] >= UPPER))


@pytest.mark.parametrize("case", DERIVATIVE_CASES, ids=CASE_IDS)
def test_derivatives_match_finite_differences(case):
    _label, family, y, eta, extra, data = case
    assert_row_derivatives_match(family, y, np.asarray(eta, dtype=float), np.asarray(extra, dtype=float), data)


@pytest.mark.parametrize("case", DERIVATIVE_CASES, ids=CASE_IDS)
def test_segment_gradient_and_hessian_match_finite_differences(case):
    _label, family, y, eta, extra, data = case
    rng = np.random.default_rng(5)
    n = len(y)
    X = np.column_stack([np.ones(n), eta, rng.normal(size=n)])  # coefficients (0, 1, 0) reproduce eta
    beta = np.array([0.0, 1.0, 0.0])
    w = rng.uniform(0.0, 2.0, n)
    w[:4] = 0.0  # posterior weights may be exactly zero: those rows (and their spread values) are dropped
    params = np.concatenate([beta, extra])
    p = len(beta)

    def total(values):
        return segment_gradient_hessian(family, X, y, values[:p], values[p:], w, data)

    loglik, gradient, hessian = total(params)
    assert loglik == pytest.approx(float(w @ family.loglik(y, eta, extra, data)), rel=1e-12)
    numeric_gradient, numeric_hessian = central_differences(total, params)
    np.testing.assert_allclose(gradient, numeric_gradient, rtol=1e-5, atol=1e-6 * (1 + np.abs(gradient).max()))
    np.testing.assert_allclose(hessian, numeric_hessian, rtol=1e-5, atol=1e-6 * (1 + np.abs(hessian).max()))


@pytest.mark.parametrize(("family", "base"), [(gaussian_family(), GaussianFamily()),
                                              (censored_family(), CensoredFamily(lower=LOWER, upper=UPPER))])
def test_zero_spread_slopes_give_the_constant_spread_family(family, base):
    rng = np.random.default_rng(8)
    n = 200
    sat = rng.uniform(1.0, 7.0, n)
    data = spread_data(family.spread_names, sat[:, None])
    eta = rng.normal(4.0, 2.5, n)
    y = base.simulate(eta, np.array([0.3]), rng)
    assert np.sum((y <= LOWER) | (y >= UPPER)) >= 10 or family.base == "gaussian"
    extra = np.array([0.3, 0.0])
    np.testing.assert_allclose(family.loglik(y, eta, extra, data), base.loglik(y, eta, [0.3]), rtol=1e-13)
    d1, d2 = family.derivatives(y, eta, extra, data)
    b1, b2 = base.derivatives(y, eta, [0.3])
    np.testing.assert_allclose(d1[:, :2], b1, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(d2[:, :2, :2], b2, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(family.mean(eta, extra, data), base.mean(eta, [0.3]), rtol=1e-13)


def test_censored_mean_matches_the_average_of_simulated_outcomes():
    family = censored_family()
    rng = np.random.default_rng(2)
    sat = np.repeat([1.0, 4.0, 7.0], 40_000)
    data = spread_data(family.spread_names, sat[:, None])
    eta = np.repeat([1.5, 4.0, 6.8], 40_000)
    extra = np.array([-1.0, 0.25])  # sigma 0.47, 1.0, 2.1
    y = family.simulate(eta, extra, rng, data)
    assert y.min() == LOWER and y.max() == UPPER
    mean = family.mean(eta, extra, data)
    for start in (0, 40_000, 80_000):
        block = slice(start, start + 40_000)
        se = y[block].std() / np.sqrt(40_000)
        assert abs(y[block].mean() - mean[start]) <= 4 * se


# ----------------------------------------------------------------------------
# one segment
# ----------------------------------------------------------------------------


def test_two_group_fit_equals_the_closed_form_mle():
    """Mean and log SD both on a group indicator: the MLE is each group's mean and ML SD."""
    rng = np.random.default_rng(3)
    group = np.repeat([0.0, 1.0], [70, 130])
    y = rng.normal(2.0 + 1.5 * group, np.exp(-0.3 + 0.8 * group))
    family = gaussian_family(("group",))
    fit = fit_segment(family, group[:, None], y, data=spread_data(family.spread_names, group[:, None]))
    assert fit.converged
    m0, m1 = y[group == 0].mean(), y[group == 1].mean()
    s0, s1 = y[group == 0].std(), y[group == 1].std()  # ML (divide by n) SDs
    np.testing.assert_allclose(fit.beta, [m0, m1 - m0], rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(fit.extra, [np.log(s0), np.log(s1) - np.log(s0)], rtol=1e-9, atol=1e-10)
    closed_form = stats.norm.logpdf(y, np.where(group == 1, m1, m0), np.where(group == 1, s1, s0)).sum()
    assert fit.loglik == pytest.approx(closed_form, rel=1e-12)


def independent_negative_loglik(theta, x, y, sat, w, lower, upper):
    """The (censored) heteroscedastic regression likelihood written with scipy.stats alone."""
    mean = theta[0] + theta[1] * x
    sd = np.exp(theta[2] + theta[3] * sat)
    out = stats.norm.logpdf(y, mean, sd)
    out = np.where(y <= lower, stats.norm.logcdf((lower - mean) / sd), out)
    out = np.where(y >= upper, stats.norm.logsf((upper - mean) / sd), out)
    return -float(w @ out)


@pytest.mark.parametrize("base", ["gaussian", "censored"])
def test_one_segment_fit_equals_scipy_minimize_of_the_same_likelihood(base):
    rng = np.random.default_rng(4)
    n = 400
    sat = np.round(rng.uniform(1.0, 7.0, n) * 3) / 3  # a mean of three 7-point items
    x = sat + rng.normal(0.0, 0.5, n)  # the mean and the spread need not share a predictor
    family = censored_family() if base == "censored" else gaussian_family()
    data = spread_data(family.spread_names, sat[:, None])
    y = family.simulate(1.0 + 0.7 * x, np.array([-1.0, 0.25]), rng, data)
    bounds = (family.lower, family.upper)
    if base == "censored":
        assert np.sum((y <= LOWER) | (y >= UPPER)) >= 20
    else:
        assert np.sum((y < LOWER) | (y > UPPER)) >= 20  # values a censored fit would treat differently
    w = rng.uniform(0.5, 2.0, n)
    fit = fit_segment(family, x[:, None], y, w=w, data=data)
    assert fit.converged
    ours = np.concatenate([fit.beta, fit.extra])
    assert fit.loglik == pytest.approx(-independent_negative_loglik(ours, x, y, sat, w, *bounds), rel=1e-12)
    theirs = optimize.minimize(independent_negative_loglik, x0=[np.mean(y), 0.0, np.log(np.std(y)), 0.0],
                               args=(x, y, sat, w, *bounds), method="BFGS", options={"gtol": 1e-9})
    assert -theirs.fun <= fit.loglik + 1e-9
    assert fit.loglik + theirs.fun <= 1e-6
    np.testing.assert_allclose(ours, theirs.x, atol=1e-4)
    # the independent likelihood is flat at our solution
    step = 1e-6
    numeric = [(independent_negative_loglik(ours + step * e, x, y, sat, w, *bounds)
                - independent_negative_loglik(ours - step * e, x, y, sat, w, *bounds)) / (2 * step)
               for e in np.eye(4)]
    assert np.max(np.abs(numeric)) <= 1e-4


def test_zero_weight_rows_drop_their_spread_values_too():
    rng = np.random.default_rng(6)
    n = 300
    sat = rng.uniform(1.0, 7.0, n)
    family = gaussian_family()
    data = spread_data(family.spread_names, sat[:, None])
    y = family.simulate(2.0 + 0.5 * sat, np.array([-1.0, 0.25]), rng, data)
    w = (rng.uniform(size=n) < 0.6).astype(float)
    keep = w > 0
    weighted = fit_segment(family, sat[:, None], y, w=w, data=data)
    subset = fit_segment(family, sat[keep, None], y[keep], data=spread_data(family.spread_names, sat[keep, None]))
    np.testing.assert_allclose(np.r_[weighted.beta, weighted.extra], np.r_[subset.beta, subset.extra], rtol=1e-9)


# ----------------------------------------------------------------------------
# mixtures
# ----------------------------------------------------------------------------

# a flat segment and one driven by satisfaction; both with log SD -1 + 0.25 sat (0.47 to 2.1)
TRUE = MixtureParams(np.array([0.5, 0.5]), np.array([[5.0, 0.0], [0.0, 0.6]]),
                           np.array([[-1.0, 0.25], [-1.0, 0.25]]))


def simulate_mixture(family, n, seed, true=TRUE):
    """A K = 2 mixture with the spread growing with satisfaction (a mean of three 7-point items)."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(4.5, 1.5, n)
    sat = np.clip(np.round(latent[:, None] + rng.normal(0.0, 0.7, (n, 3))), 1, 7).mean(axis=1)
    data = spread_data(family.spread_names, sat[:, None])
    design = family.design(sat[:, None])
    labels = rng.choice(2, size=n, p=true.weights)
    y = np.empty(n)
    for j in range(2):
        rows = labels == j
        sub = {key: value[rows] for key, value in data.items()}
        y[rows] = family.simulate(design[rows] @ true.beta[j], true.extra[j], rng, sub)
    return sat[:, None], y, data


@pytest.mark.parametrize("family", [gaussian_family(), censored_family()], ids=["gaussian", "censored"])
def test_mixture_gradient_and_hessian_match_finite_differences(family):
    X, y, data = simulate_mixture(family, 200, 9)
    w = np.random.default_rng(10).uniform(0.5, 2.0, len(y))
    design = family.design(X)
    k, q, m = 2, 2, 2
    theta = pack(TRUE) + np.random.default_rng(11).normal(0.0, 0.05, 2 * (q + m) + 1)

    def loglik(values):
        return mixture_loglik(family, design, y, w, unpack(values, k, q, m), data)

    def gradient(values):
        return observed_information(family, design, y, w, unpack(values, k, q, m), data)[2]

    hessian, score_outer, grad = observed_information(family, design, y, w,
                                                             unpack(theta, k, q, m), data)
    h = 1e-5
    eye = np.eye(len(theta))
    fd_grad = np.array([(loglik(theta + h * e) - loglik(theta - h * e)) / (2 * h) for e in eye])
    fd_hess = np.array([(gradient(theta + h * e) - gradient(theta - h * e)) / (2 * h) for e in eye])
    assert np.max(np.abs(grad)) > 1.0  # away from the optimum
    assert np.max(np.abs(grad - fd_grad)) <= 1e-5 * max(1.0, np.max(np.abs(fd_grad)))
    assert np.max(np.abs(hessian - fd_hess)) <= 1e-5 * np.max(np.abs(fd_hess))
    assert np.allclose(hessian, hessian.T)
    assert np.all(np.linalg.eigvalsh(score_outer) >= -1e-8 * np.max(np.abs(score_outer)))


@pytest.mark.parametrize("family", [gaussian_family(), censored_family()], ids=["gaussian", "censored"])
def test_recovery_of_known_parameters(family):
    X, y, data = simulate_mixture(family, 2000, 12)
    w = np.ones(len(y))
    fit = fit_mixture(family, X, y, 2, data=data, n_init=4, random_state=3)
    design = family.design(X)
    hessian, _, gradient = observed_information(family, design, y, w, fit.params, data)
    assert np.max(np.abs(gradient)) <= 1e-4
    se = np.sqrt(np.diag(np.linalg.inv(-hessian)))
    ours = np.column_stack([fit.params.beta, fit.params.extra])
    theirs = np.column_stack([TRUE.beta, TRUE.extra])
    order = list(min(permutations(range(2)), key=lambda p: np.abs(ours[list(p)] - theirs).sum()))
    se_segments = se[:8].reshape(2, 4)[order]
    assert np.all(np.abs(ours[order] - theirs) <= 4 * se_segments)
    assert np.all(np.abs(fit.params.weights[order] - TRUE.weights) <= 0.05)
    assert fit.loglik >= mixture_loglik(family, design, y, w, TRUE, data)


def test_the_location_scale_mixture_beats_the_constant_spread_one_on_bic_when_spread_grows():
    family = gaussian_family()
    X, y, data = simulate_mixture(family, 1000, 13)
    constant = fit_mixture(GaussianFamily(), X, y, 2, n_init=4, random_state=0)
    varying = fit_mixture(family, X, y, 2, data=data, n_init=4, random_state=0)
    n = len(y)
    bic_constant = -2 * constant.loglik + 7 * np.log(n)
    bic_varying = -2 * varying.loglik + 9 * np.log(n)
    assert bic_varying < bic_constant - 10


# ----------------------------------------------------------------------------
# settings and data checks
# ----------------------------------------------------------------------------


def test_extra_names_follow_the_spread_predictors():
    family = censored_family(("sat", "age"))
    assert family.extra_names() == ["log_sigma", "log_sigma:sat", "log_sigma:age"]
    assert family.n_extra() == 3 and family.n_spread == 2
    assert LocationScaleFamily(spread_names="sat").spread_names == ("sat",)
    assert spread_key("sat") == "spread:sat"


@pytest.mark.parametrize(("settings", "message"), [
    ({"base": "poisson", "spread_names": ("sat",)}, "unknown base family 'poisson'"),
    ({"spread_names": ()}, "no spread predictors"),
    ({"spread_names": ("sat", "sat")}, "more than once"),
    ({"lower": 1.0, "upper": 7.0, "spread_names": ("sat",)}, "censored base only"),
    ({"base": "censored", "lower": 7.0, "upper": 1.0, "spread_names": ("sat",)}, "must be below"),
])
def test_bad_settings_are_refused_with_a_clear_message(settings, message):
    with pytest.raises(ConfigError, match=message):
        LocationScaleFamily(**settings)


def test_outcome_and_spread_predictors_are_checked():
    family = censored_family()
    y = np.array([1.0, 3.0, 7.0])
    family.check_outcome(y, "repurchase", spread_data(("sat",), np.array([[1.0], [2.0], [3.0]])))
    with pytest.raises(DataError, match="column 'repurchase'.*scale bounds"):
        family.check_outcome(np.array([0.0, 3.0, 8.0]), "repurchase", spread_data(("sat",), np.ones((3, 1))))
    with pytest.raises(DataError, match="column 'sat': missing"):
        family.check_outcome(y, "repurchase", spread_data(("sat",), np.array([[1.0], [np.nan], [3.0]])))
    with pytest.raises(ValueError, match=r"data\['spread:sat'\]"):
        family.loglik(y, y, np.array([0.0, 0.0]), None)
