"""The ordinal family's vectorised kernel: answer probabilities in the tails, every segment's derivatives at once,
and the M-step's log-densities handed to the next E-step.

Reference log-probabilities were computed with mpmath at 100 significant
digits (``mp.log(F(b) - F(a))`` with ``F(t) = 1 / (1 + e^-t)``), except the
pair (700, 701), whose difference needs more digits than that:
log(e^-700 (1 - e^-1)) up to terms of order e^-700.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from trustseg.model.em import cached_density, em_step, make_problem, run_em
from trustseg.model.families import Family, OrdinalFamily
from trustseg.model.families.base import newton_step_segments
from trustseg.model.params import MixtureParams

REFERENCE = [
    (30.0, 30.5, -30.932752129567339),
    (30.0, 30.000000001, -50.723265754706231),  # a narrow interval far in the upper tail
    (-40.0, -39.0, -39.458675145387082),
    (-40.0, -39.9999999, -56.118095589272221),
    (2.0, 2.000000000001, -29.884788241383956),
    (-math.inf, -50.0, -50.0),
    (45.0, math.inf, -45.0),
    (-3.0, 4.0, -0.067649577474390868),
    (700.0, 701.0, -700.0 + math.log1p(-math.exp(-1.0))),
    (-745.5, -744.0, -744.25248245892545),
]


def test_answer_log_probabilities_are_accurate_to_rounding_in_both_tails_and_for_narrow_intervals():
    from trustseg.model.families.ordinal import log_logistic_interval

    a, b, expected = (np.array(column) for column in zip(*REFERENCE))
    got = log_logistic_interval(a, b)
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)
    # crossed or equal cuts (a trial point's thresholds) have probability zero, and NaN cuts too
    crossed = log_logistic_interval(np.array([1.0, 2.0, np.nan]), np.array([0.5, 2.0, 1.0]))
    assert np.all(crossed == -np.inf)


def _segments(rng, n=400, q=3, k=3, categories=7):
    family = OrdinalFamily(categories=tuple(range(1, categories + 1)))
    design = rng.normal(size=(n, q))
    y = rng.integers(1, categories + 1, n).astype(float)
    y[:5] = 1.0  # every category given
    y[5:10] = float(categories)
    beta = rng.normal(scale=0.5, size=(k, q))
    extra = np.sort(rng.normal(scale=2.0, size=(k, categories - 1)), axis=1)
    extra[0] *= 8.0  # far apart thresholds: answers deep in the tails
    weights = rng.uniform(size=(n, k))
    return family, design, y, beta, extra, weights


@pytest.mark.parametrize("categories", [2, 3, 7, 11])
def test_every_segments_gradient_and_hessian_at_once_equal_the_chain_rule_from_the_row_derivatives(categories):
    rng = np.random.default_rng(categories)
    family, design, y, beta, extra, weights = _segments(rng, categories=categories)
    data = family.prepare(y)
    gradients, hessians = family.gradient_hessians(design, y, beta, extra, weights, data)
    for j in range(len(beta)):
        # the protocol's generic chain rule through derivatives() (n, 1 + m, 1 + m)
        gradient, hessian = Family.gradient_hessian(family, design, y, beta[j], extra[j], weights[:, j], data)
        np.testing.assert_allclose(gradients[j], gradient, rtol=1e-11, atol=1e-11 * np.abs(gradient).max())
        np.testing.assert_allclose(hessians[j], hessian, rtol=1e-11, atol=1e-11 * np.abs(hessian).max())
        one = family.gradient_hessian(design, y, beta[j], extra[j], weights[:, j], data)
        np.testing.assert_allclose(one[1], hessians[j], rtol=1e-11, atol=1e-12 * np.abs(hessian).max())


def test_the_m_steps_line_search_densities_are_those_of_the_parameters_it_returns():
    rng = np.random.default_rng(5)
    family, design, y, beta, extra, weights = _segments(rng)
    data = family.prepare(y)
    params = MixtureParams(np.full(3, 1 / 3), beta, extra)
    cache = {}
    new_beta, new_extra = newton_step_segments(family, design, y, weights, params, data, cache=cache)
    density = cached_density(cache, MixtureParams(params.weights, new_beta, new_extra))
    expected = family.segment_logliks(y, family.linear_predictors(design, new_beta), new_extra, data)
    np.testing.assert_array_equal(density, expected)
    assert cached_density(cache, MixtureParams(params.weights, new_beta, new_extra)) is None  # taken once
    newton_step_segments(family, design, y, weights, params, data, cache=cache)
    # other parameters (equal values in other arrays: a clamp, a removed segment) get nothing
    assert cached_density(cache, MixtureParams(params.weights, new_beta.copy(), new_extra.copy())) is None


def test_em_with_the_handed_over_densities_follows_the_same_path_as_without():
    rng = np.random.default_rng(8)
    n = 600
    x = rng.uniform(1, 7, n)
    z = rng.uniform(size=n) < 0.4
    y = np.clip(np.round(np.where(z, 1.0 + 0.8 * x, 5.0 - 0.1 * x) + rng.normal(0, 0.7, n)), 1, 7)
    family = OrdinalFamily(categories=tuple(range(1, 8)))
    start = MixtureParams(np.array([0.5, 0.5]), np.array([[0.5], [-0.2]]),
                          np.array([np.linspace(-1, 4, 6), np.linspace(-3, 2, 6)]))
    problem = make_problem(family, x[:, None], y, max_iter=40)
    from trustseg.model.em import RunState

    with_cache = run_em(problem, RunState(start), tol=1e-12)
    plain = make_problem(family, x[:, None], y, max_iter=40)
    plain.cache = _Forgetful()
    without = run_em(plain, RunState(start), tol=1e-12)
    assert with_cache.n_iter == without.n_iter
    assert with_cache.loglik == pytest.approx(without.loglik, rel=1e-13)
    np.testing.assert_allclose(with_cache.params.extra, without.params.extra, rtol=1e-10)
    state = RunState(with_cache.params)
    em_step(problem, state)


class _Forgetful(dict):
    """A cache that keeps nothing, so every E-step computes its densities."""

    def __setitem__(self, key, value):
        pass
