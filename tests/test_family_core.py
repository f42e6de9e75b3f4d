"""Mixtures of outcome families (issue 12): Louis' identity, GEM, flexmix and recovery.

The flexmix reference numbers (tests/data/families_reference.json, see
FAMILIES_README.md) are ``FLXMRglm(family = "poisson")`` fits of ``yp ~ x`` on
NPreg; the ``polished`` entry is flexmix's EM rerun to tolerance 1e-12 from
its best posterior, the ``refit`` SEs come from optim's Hessian.
"""

from __future__ import annotations

import json
from itertools import permutations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trustseg.model.em import RunState, from_partition, m_step, make_problem, run_em
from trustseg.model.families import make_family
from trustseg.model.likelihood import (
    e_step,
    expected_complete_loglik,
    log_joint,
    mixture_loglik,
    observed_information,
)
from trustseg.model.mixture import ClusterwiseRegression
from trustseg.model.params import MixtureParams, pack, unpack
from trustseg.model.search import fit_mixture

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "families_reference.json").read_text())["cases"]


def npreg():
    return pd.read_csv(DATA / "NPreg.csv")


# ----------------------------------------------------------------------------
# small simulated K = 2 mixtures of every family, with weights
# ----------------------------------------------------------------------------

TRUE = {
    # family: (beta (K, q), extra (K, m), weights)
    "gaussian": ([[1.0, 0.8], [4.0, -0.5]], [[-0.3], [0.2]], [0.6, 0.4]),
    "censored": ([[1.5, 0.9], [5.0, -0.6]], [[0.0], [-0.2]], [0.55, 0.45]),
    "binomial": ([[-1.0, 0.9], [1.5, -0.7]], [[], []], [0.5, 0.5]),
    "poisson": ([[0.3, 0.5], [1.5, -0.4]], [[], []], [0.6, 0.4]),
    "ordinal": ([[2.0], [-2.0]], [[-1.5, 0.0, 1.5, 3.0], [-3.0, -1.5, 0.0, 1.5]], [0.5, 0.5]),
}


def family_of(name):
    if name == "censored":
        return make_family("censored", lower=1.0, upper=7.0)
    if name == "ordinal":
        return make_family("ordinal", categories=(1, 2, 3, 4, 5))
    return make_family(name)


def simulate(name, n, seed, true=None):
    """(family, X, y, w, data, params) from a K = 2 mixture with known parameters."""
    rng = np.random.default_rng(seed)
    family = family_of(name)
    beta, extra, weights = true or TRUE[name]
    params = MixtureParams(np.array(weights, float), np.array(beta, float),
                                 np.array(extra, float).reshape(len(weights), -1))
    x = rng.uniform(0.0, 4.0, n) if name != "ordinal" else rng.normal(0.0, 1.5, n)
    data = None
    if name == "binomial":
        data = {"trials": rng.integers(1, 6, n).astype(float)}
    if name == "poisson":
        data = {"offset": np.log(rng.uniform(0.5, 2.0, n))}
    design = family.design(x[:, None])
    labels = rng.choice(len(weights), size=n, p=params.weights)
    y = np.empty(n)
    for j in range(len(weights)):
        rows = labels == j
        sub = None if data is None else {key: value[rows] for key, value in data.items()}
        y[rows] = family.simulate(design[rows] @ params.beta[j], params.extra[j], rng, sub)
    w = rng.uniform(0.5, 2.0, n)
    return family, x[:, None], y, w, data, params


NAMES = list(TRUE)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_and_hessian_match_finite_differences(name):
    # 150 respondents leave an ordinal segment without some answer (a boundary maximum, see separation)
    family, X, y, w, data, params = simulate(name, 150 if name != "ordinal" else 400, 3)
    design = family.design(X)
    k, q = params.beta.shape
    m = params.extra.shape[1]
    # a point away from the optimum, so the gradient is far from zero
    theta = pack(params) + np.random.default_rng(4).normal(0.0, 0.05, len(pack(params)))

    def loglik(values):
        return mixture_loglik(family, design, y, w, unpack(values, k, q, m), data)

    def gradient(values):
        return observed_information(family, design, y, w, unpack(values, k, q, m), data)[2]

    hessian, score_outer, grad = observed_information(family, design, y, w, unpack(theta, k, q, m), data)
    h = 1e-5
    eye = np.eye(len(theta))
    fd_grad = np.array([(loglik(theta + h * e) - loglik(theta - h * e)) / (2 * h) for e in eye])
    fd_hess = np.array([(gradient(theta + h * e) - gradient(theta - h * e)) / (2 * h) for e in eye])
    assert np.max(np.abs(grad - fd_grad)) <= 1e-5 * max(1.0, np.max(np.abs(fd_grad)))
    assert np.max(np.abs(hessian - fd_hess)) <= 1e-5 * np.max(np.abs(fd_hess))
    assert np.allclose(hessian, hessian.T)
    assert np.all(np.linalg.eigvalsh(score_outer) >= -1e-8 * np.max(np.abs(score_outer)))

    fit = fit_mixture(family, X, y, 2, w=w, data=data, n_init=4, random_state=1)
    _, _, at_fit = observed_information(family, design, y, w, fit.params, data)
    assert np.max(np.abs(at_fit)) <= 1e-4
    assert fit.loglik >= mixture_loglik(family, design, y, w, params, data)


@pytest.mark.parametrize("name", NAMES)
def test_em_never_decreases_the_loglik_or_q(name):
    family, X, y, w, data, _ = simulate(name, 300, 5)
    design = family.design(X)
    rng = np.random.default_rng(6)
    labels = rng.integers(2, size=len(y))
    problem = make_problem(family, X, y, w, data)
    params = from_partition(problem, labels, 2).params
    previous = mixture_loglik(family, design, y, w, params, data)
    for _ in range(30):  # the family's own M-step: closed form, or a few Newton steps (still GEM)
        resp, loglik_i = e_step(family, design, y, params, data)
        assert float(w @ loglik_i) == pytest.approx(previous, rel=1e-12)
        q_before = expected_complete_loglik(family, design, y, w, resp, params, data)
        params = m_step(problem, resp, params)
        q_after = expected_complete_loglik(family, design, y, w, resp, params, data)
        assert q_after >= q_before - 1e-9 * abs(q_before)
        current = mixture_loglik(family, design, y, w, params, data)
        assert current >= previous - 1e-9 * abs(previous)
        previous = current


def test_e_step_is_stable_and_matches_the_log_joint():
    family, X, y, w, data, params = simulate("gaussian", 50, 7)
    design = family.design(X)
    far = params._replace(extra=np.array([[-6.0], [-6.0]]))  # tiny sigmas: densities underflow
    resp, loglik_i = e_step(family, design, y, far, data)
    assert np.all(np.isfinite(resp)) and np.allclose(resp.sum(axis=1), 1.0)
    joint = log_joint(family, design, y, far, data)
    assert np.allclose(loglik_i, np.logaddexp(joint[:, 0], joint[:, 1]))


# ----------------------------------------------------------------------------
# Gaussian against trustseg's own engine; Poisson against flexmix
# ----------------------------------------------------------------------------


def match_order(ours, theirs):
    """The permutation of our segments closest to theirs (rows = segments)."""
    best = min(permutations(range(len(ours))), key=lambda p: np.abs(ours[list(p)] - theirs).sum())
    return list(best)


def test_gaussian_matches_the_gaussian_engine_on_npreg():
    d = npreg()
    X = np.column_stack([d.x, d.x**2])
    fit = fit_mixture(make_family("gaussian"), X, d.yn.values, 2, n_init=10, random_state=0)
    model = ClusterwiseRegression(n_segments=2, n_init=10, random_state=0).fit(
        pd.DataFrame({"x": d.x, "x2": d.x**2}), d.yn)
    assert abs(fit.loglik - model.loglik_) <= 1e-6
    theirs = np.column_stack([model.intercept_, np.asarray(model.coef_).reshape(2, -1),
                              np.log(model.sigma_), model.weights_])
    ours = np.column_stack([fit.params.beta, fit.params.extra, fit.params.weights])
    order = match_order(ours, theirs)
    assert np.allclose(ours[order], theirs, rtol=1e-4, atol=1e-5)


def test_poisson_matches_flexmix_on_npreg():
    d = npreg()
    family = make_family("poisson")
    models = {m["k_fitted"]: m for m in REFERENCE["flexmix_poisson"]["models"]}
    design = family.design(d.x.values[:, None])
    w = np.ones(len(d))
    for k in (2, 3):
        fit = fit_mixture(family, d.x.values, d.yp.values, k, n_init=10, random_state=0)
        assert fit.loglik >= models[k]["polished"]["logLik"] - 1e-6
    fit = fit_mixture(family, d.x.values, d.yp.values, 2, n_init=10, random_state=0)
    ref = models[2]
    theirs = np.array([[c["(Intercept)"], c["x"]] for c in ref["polished"]["components"]])
    order = match_order(fit.params.beta, theirs)
    assert np.allclose(fit.params.beta[order], theirs, atol=1e-3)
    assert np.allclose(fit.params.weights[order], ref["polished"]["prior"], atol=1e-3)
    hessian, _, _ = observed_information(family, design, d.yp.values, w, fit.params)
    se = np.sqrt(np.diag(np.linalg.inv(-hessian)))
    ours = se[:4].reshape(2, 2)[order]
    refit = np.array([r["std_error"] for r in ref["refit"]])
    assert np.max(np.abs(ours / refit - 1.0)) <= 0.02
    # with K = 2 the share logit log(pi_2/pi_1) only changes sign with the order: same SE
    assert se[4] == pytest.approx(ref["refit_prior_logit"][0]["std_error"], rel=0.02)


# ----------------------------------------------------------------------------
# recovery at n = 4000 and determinism
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["censored", "ordinal"])
def test_recovery_of_known_parameters(name):
    family, X, y, w, data, true = simulate(name, 4000, 11)
    w = np.ones(len(y))  # frequency weights: inv(-H) is the covariance
    fit = fit_mixture(family, X, y, 2, w=w, data=data, n_init=4, random_state=2)
    design = family.design(X)
    hessian, _, _ = observed_information(family, design, y, w, fit.params, data)
    se = np.sqrt(np.diag(np.linalg.inv(-hessian)))
    k, q = fit.params.beta.shape
    m = fit.params.extra.shape[1]
    ours = np.column_stack([fit.params.beta, fit.params.extra])
    theirs = np.column_stack([true.beta, true.extra])
    order = match_order(ours, theirs)
    se_segments = se[: k * (q + m)].reshape(k, q + m)[order]
    assert np.all(np.abs(ours[order] - theirs) <= 4 * se_segments)
    assert np.all(np.abs(fit.params.weights[order] - true.weights) <= 0.05)
    reached = np.sum(np.abs(fit.start_logliks - np.nanmax(fit.start_logliks)) <= 1e-6 * abs(fit.loglik))
    assert reached >= 2
    assert fit.loglik >= np.nanmax(fit.start_logliks) - 1e-9


def test_same_random_state_gives_identical_fits():
    family, X, y, w, data, _ = simulate("poisson", 300, 13)
    a = fit_mixture(family, X, y, 2, w=w, data=data, n_init=4, random_state=21)
    b = fit_mixture(family, X, y, 2, w=w, data=data, n_init=4, random_state=21)
    assert a.loglik == b.loglik and a.n_iter == b.n_iter
    np.testing.assert_array_equal(a.start_logliks, b.start_logliks)
    for left, right in zip(a.params, b.params):
        np.testing.assert_array_equal(left, right)


def test_a_segment_with_a_negligible_share_is_dropped_and_recorded():
    family, X, y, w, data, true = simulate("poisson", 300, 17)
    design = family.design(X)
    start = MixtureParams(np.array([0.5, 0.4995, 0.0005]), np.vstack([true.beta, [[0.9, 0.1]]]),
                                np.zeros((3, 0)))
    state = run_em(make_problem(family, X, y, w, data, tol=1e-10, max_iter=2000), RunState(start))
    params, dropped = state.params, state.removed
    assert params.beta.shape == (2, 2) and state.converged
    assert [d["component"] for d in dropped] == [2] and dropped[0]["share"] < 1e-3
    assert state.loglik == pytest.approx(mixture_loglik(family, design, y, w, params, data), rel=1e-9)


def test_a_runaway_ordinal_threshold_is_pulled_back_by_an_escape_start():
    from trustseg.model.families.ordinal import RUNAWAY_THRESHOLD_GAP, runaway_thresholds_reset

    family = make_family("ordinal", categories=[1.0, 2.0, 3.0, 4.0, 5.0])
    # three segments answering a 5-point item (benchmarks/families_bench.py, ordinal "separated", at n = 5000)
    rng = np.random.default_rng(0)
    n = 5000
    segment = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    X = np.column_stack([np.clip(np.rint(rng.normal(4.5, 1.3, n) + rng.normal(0, 0.8, n)), 1, 7),
                         rng.normal(size=n)])
    slopes = np.array([[1.2, 0.5], [0.5, 0.0], [0.0, -0.5]])
    intercepts = np.array([2.5, 0.0, -2.5]) - 4.0 * slopes[:, 0]
    latent = intercepts[segment] + np.einsum("ij,ij->i", X, slopes[segment]) + rng.logistic(size=n)
    y = 1.0 + (latent[:, None] > np.array([-3.0, -1.0, 1.0, 3.0])).sum(axis=1)
    # the local optimum a 100,000-respondent search ended in: segments 2 and 3 never answer 1 or 5
    trapped = MixtureParams(
        np.array([0.56, 0.216, 0.225]), np.array([[1.12, 0.44], [0.63, 0.0], [0.08, -0.46]]),
        np.array([[-0.5, 1.02, 3.09, 5.07], [-13.33, 1.55, 4.12, 21.73], [-0.09, 1.91, 3.88, 27.43]]))
    reset = runaway_thresholds_reset(trapped)
    assert np.allclose(reset.extra[0], trapped.extra[0]) and np.allclose(reset.extra[1, 1:3], [1.55, 4.12])
    typical = np.median(np.diff(trapped.extra, axis=1)[np.diff(trapped.extra, axis=1) < RUNAWAY_THRESHOLD_GAP])
    assert reset.extra[1, 0] == pytest.approx(1.55 - typical) and reset.extra[2, 3] == pytest.approx(3.88 + typical)
    assert runaway_thresholds_reset(reset) is None
    assert make_family("poisson").escape_starts(trapped) == []

    # EM alone, stopped where its steps are as small as the Newton hand-over's, is still in the trap
    stuck = fit_mixture(family, X, y, 3, n_init=0, given=[trapped], escape=False, tol=1e-5)
    assert np.diff(stuck.params.extra, axis=1).max() > RUNAWAY_THRESHOLD_GAP
    freed = fit_mixture(family, X, y, 3, n_init=0, given=[trapped])
    assert [s.kind for s in freed.starts] == ["given"] and freed.state.moves >= 1
    assert np.diff(freed.params.extra, axis=1).max() < RUNAWAY_THRESHOLD_GAP
    truth = MixtureParams(np.array([0.5, 0.3, 0.2]), slopes,
                          np.array([-3.0, -1.0, 1.0, 3.0])[None, :] - intercepts[:, None])
    optimum = fit_mixture(family, X, y, 3, n_init=0, given=[truth], escape=False)
    # the escape start climbs out, about as high as the optimum next to the truth
    assert freed.loglik > stuck.loglik + 0.5
    assert freed.loglik >= optimum.loglik - 1e-2


def test_the_censored_m_step_of_several_segments_is_least_squares_on_the_latent_moments():
    """The Tobit EM step forms its sums from the answers as they are plus the censored rows' departures: it must
    equal weighted least squares of every segment on E[Y*] with the variance from E[Y*^2], written out directly
    on the whole (n, K) arrays, with both ends censored, one, or none, and with the E-step's log-densities
    handed over or not."""
    from scipy.special import log_ndtr

    from trustseg.model.families.normal import censored_normal_loglik, latent_least_squares

    rng = np.random.default_rng(31)
    n, k = 700, 3
    design = np.column_stack([np.ones(n), rng.integers(1, 8, (n, 2)).astype(float)])
    y = np.clip(np.round(design @ [0.5, 0.6, 0.3] + rng.normal(0, 1.5, n)), 1, 7)
    weights = rng.dirichlet(np.ones(k), n) * rng.uniform(0.5, 2.0, n)[:, None]
    beta, log_sigma = rng.normal(0.3, 0.4, (k, 3)), rng.normal(0.2, 0.2, k)
    for lower, upper in ((1.0, 7.0), (-np.inf, 7.0), (-np.inf, np.inf)):
        eta, sigma = design @ beta.T, np.exp(log_sigma)
        first, second = np.repeat(y[:, None], k, axis=1), np.repeat(y[:, None] ** 2, k, axis=1)
        for rows, bound, sign in ((y >= upper, upper, 1.0), (y <= lower, lower, -1.0)):
            t = sign * (eta[rows] - bound) / sigma
            mills = np.exp(-0.5 * t * t - 0.5 * np.log(2 * np.pi) - log_ndtr(t))
            first[rows] = eta[rows] + sign * sigma * mills
            second[rows] = eta[rows] ** 2 + sigma**2 + sign * sigma * mills * (bound + eta[rows])
        expected_beta = np.array([np.linalg.solve(design.T @ (design * weights[:, [j]]),
                                                  design.T @ (weights[:, j] * first[:, j])) for j in range(k)])
        fitted = eta_new = design @ expected_beta.T
        expected_var = (weights * (second - 2 * first * fitted + eta_new**2)).sum(axis=0) / weights.sum(axis=0)
        density = censored_normal_loglik(y, eta, log_sigma, lower, upper)
        for log_density in (None, density):
            got_beta, got_var = latent_least_squares(design, y, weights, beta, log_sigma, lower, upper, {},
                                                     log_density)
            np.testing.assert_allclose(got_beta, expected_beta, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(got_var, expected_var, rtol=1e-10)


def test_the_censored_m_step_is_the_tobit_em_and_climbs_to_the_tobit_fit():
    """Closed-form EM steps with the censored answers' latent values as missing data (Amemiya 1984): each step
    raises the weighted censored log-likelihood, and their fixed point is the Newton fit of the Tobit model."""
    from trustseg.model.families.base import newton_fit
    from trustseg.model.families.normal import latent_least_squares

    rng = np.random.default_rng(12)
    n = 600
    x = rng.uniform(1, 7, n)
    y = np.clip(np.round(0.5 + 0.9 * x + rng.normal(0, 1.2, n)), 1, 7)  # piles at both ends of a 1-7 scale
    assert ((y == 1) | (y == 7)).mean() > 0.15
    family = make_family("censored", lower=1, upper=7)
    design = family.design(x[:, None])
    w = rng.uniform(0.5, 2.0, n)
    beta, log_sigma = np.array([[3.0, 0.1]]), np.array([0.0])
    before = -np.inf
    for _ in range(400):
        loglik = float(w @ family.loglik(y, design @ beta[0], log_sigma))
        assert loglik >= before - 1e-9  # an EM step never lowers it
        before = loglik
        beta, variances = latent_least_squares(design, y, w[:, None], beta, log_sigma, 1.0, 7.0)
        log_sigma = 0.5 * np.log(variances)
    reference = newton_fit(family, design, y, w)
    np.testing.assert_allclose(beta[0], reference.beta, atol=1e-6)
    np.testing.assert_allclose(log_sigma, reference.extra, atol=1e-6)
