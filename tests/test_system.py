"""Several equations sharing one set of segments (issue 13): the equation system in the mixture layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from _engine_helpers import central_differences

from trustseg.model.families import make_family, segment_gradient_hessian
from trustseg.model.families.system import EquationSystem, system_data
from trustseg.model.likelihood import mixture_loglik, observed_information
from trustseg.model.params import pack, unpack
from trustseg.model.search import fit_mixture

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def npreg_system():
    """NPreg's yn ~ x + x^2 and yp ~ x (as a normal outcome), sharing the segments."""
    npreg = pd.read_csv(DATA / "NPreg.csv")
    x = npreg["x"].to_numpy()
    system = EquationSystem((make_family("gaussian"), make_family("gaussian")), (2, 1), ("yn", "yp"))
    design = system.design([np.column_stack([x, x**2]), x[:, None]])
    return system, design, npreg[["yn", "yp"]].to_numpy(dtype=float), npreg


def test_the_block_design_gives_each_equation_its_own_intercept_and_predictors(npreg_system):
    system, design, _, npreg = npreg_system
    x = npreg["x"].to_numpy()
    assert [b.tolist() for b in system.equation_blocks] == [[0, 1, 2], [3, 4]]
    assert np.array_equal(design, np.column_stack([np.ones_like(x), x, x**2, np.ones_like(x), x]))
    assert system.extra_names() == ["yn:log_sigma", "yp:log_sigma"]


def test_one_segment_is_the_equations_fitted_separately(npreg_system):
    system, design, y, npreg = npreg_system
    fit = fit_mixture(system, design, y, 1, n_init=2, random_state=0)
    separate = [sm.OLS(npreg["yn"], design[:, :3]).fit(), sm.OLS(npreg["yp"], design[:, 3:]).fit()]
    assert fit.loglik == pytest.approx(sum(r.llf for r in separate), rel=1e-10)
    np.testing.assert_allclose(fit.params.beta[0], np.concatenate([r.params for r in separate]), rtol=1e-7)
    # maximum likelihood sigma: the residual sum of squares over n
    ml_sigma = [np.sqrt(r.ssr / r.nobs) for r in separate]
    np.testing.assert_allclose(np.exp(fit.params.extra[0]), ml_sigma, rtol=1e-7)


def test_segment_and_mixture_derivatives_match_central_differences(npreg_system):
    system, design, y, _ = npreg_system
    w = np.linspace(0.2, 1.0, len(y))
    theta = np.array([1.0, 4.0, 0.2, 2.0, 0.5, np.log(3.0), np.log(2.0)])

    def segment(values):
        return segment_gradient_hessian(system, design, y, values[:5], values[5:], w)[:2]

    loglik, gradient, hessian = segment_gradient_hessian(system, design, y, theta[:5], theta[5:], w)
    numeric_gradient, numeric_hessian = central_differences(segment, theta)
    np.testing.assert_allclose(gradient, numeric_gradient, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hessian, numeric_hessian, rtol=1e-6, atol=1e-6)

    fit = fit_mixture(system, design, y, 2, n_init=4, random_state=0)
    k, q, m = 2, design.shape[1], system.n_extra()
    ones = np.ones(len(y))

    def mixture(values):
        params = unpack(values, k, q, m)
        _, _, grad = observed_information(system, design, y, ones, params)
        return mixture_loglik(system, design, y, ones, params), grad

    start = pack(fit.params) + 0.01  # off the optimum, where the gradient is not zero
    hessian, _, gradient = observed_information(system, design, y, ones, unpack(start, k, q, m))
    numeric_gradient, numeric_hessian = central_differences(mixture, start)
    np.testing.assert_allclose(gradient, numeric_gradient, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(hessian, numeric_hessian, rtol=1e-5, atol=1e-3)


def test_side_data_reach_the_equation_they_belong_to():
    rng = np.random.default_rng(3)
    n = 400
    x = rng.uniform(1, 7, n)
    trials = rng.integers(1, 10, n).astype(float)
    wins = rng.binomial(trials.astype(int), 1 / (1 + np.exp(-(-2 + 0.5 * x)))).astype(float)
    score = 1 + 0.8 * x + rng.normal(0, 1, n)
    system = EquationSystem((make_family("gaussian"), make_family("binomial")), (1, 1), ("score", "wins"))
    design = system.design([x[:, None], x[:, None]])
    data = system_data([None, {"trials": trials}])
    assert set(data) == {"1:trials"}
    fit = fit_mixture(system, design, np.column_stack([score, wins]), 1, data=data, n_init=1)
    binomial = sm.GLM(np.column_stack([wins, trials - wins]), sm.add_constant(x), family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(fit.params.beta[0, 2:], binomial.params, rtol=1e-6)
