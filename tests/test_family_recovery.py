"""Recovery of known family mixtures, and binomial mixtures with trials against flexmix (issue 12).

Coverage studies: for each seed a K = 2 mixture with known parameters is
simulated and fitted with :func:`fit_mixture` from its own starts; the
fitted segments are put in the order of the true ones (closest parameters),
and every parameter -- coefficients, extra parameters, the share logit --
gets a Wald z = (estimate - truth) / SE, the SE from the observed
information.  With correct SEs each |z| <= 1.96 holds with probability 0.95
and E[z^2] = 1.  Over N intervals the binomial standard deviation of the
coverage rate is sqrt(0.95 * 0.05 / N), 0.015 to 0.022 for the 210 to 100
intervals of the studies here, so the floor COVERAGE_FLOOR = 0.85 sits more
than 4.5 standard deviations below nominal (parameters of one fit are
correlated, which widens the spread a little).
Coverage alone cannot catch SEs that are too large (it only rises), so the
mean of z^2 must lie in [0.6, 1.6]: SEs off by a factor of 1.3 either way
give 0.59 or 1.69 in expectation.  No |z| may exceed 4 (the 4-SE check
per parameter).

The flexmix numbers (tests/data/families_reference.json, case
``flexmix_binomial_trials``; see FAMILIES_README.md) are
``stepFlexmix(cbind(yp, 12 - yp) ~ x, model = FLXMRglm(family = "binomial"))``
on NPreg: yp read as successes out of 12 trials.  The 0/1 outcome yb has no
usable K >= 2 maximum (the components separate), so it is no SE reference.
"""

from __future__ import annotations

import json
from itertools import permutations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trustseg.model.families import make_family
from trustseg.model.likelihood import observed_information
from trustseg.model.params import MixtureParams, pack, param_layout
from trustseg.model.search import fit_mixture

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "families_reference.json").read_text())["cases"]

COVERAGE_FLOOR = 0.85
MEAN_Z2_RANGE = (0.6, 1.6)
MAX_ABS_Z = 4.0
Z_95 = 1.959963984540054


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------


def segment_table(params):
    """Per segment (beta, extra) as rows: what segments are matched on."""
    return np.column_stack([params.beta, params.extra])


def reorder(params, order):
    order = list(order)
    return MixtureParams(params.weights[order], params.beta[order], params.extra[order])


def in_order_of(fitted, reference):
    """``fitted`` with its segments permuted to be closest to ``reference``'s (rows = segments)."""
    ours, theirs = segment_table(fitted), segment_table(reference)
    order = min(permutations(range(len(ours))), key=lambda p: np.abs(ours[list(p)] - theirs).sum())
    return reorder(fitted, order)


def assert_local_maximum(family, X, y, params, data=None):
    """The gradient vanishes and the Hessian is negative definite; returns the Hessian."""
    hessian, _, gradient = observed_information(family, family.design(X), y, np.ones(len(y)),
                                                       params, data)
    assert np.max(np.abs(gradient)) <= 1e-4, f"gradient {np.max(np.abs(gradient)):.3g} at the fit"
    assert np.linalg.eigvalsh(hessian).max() < 0
    return hessian


def standard_errors(family, X, y, params, data=None):
    """Observed-information SEs in the layout of :func:`pack` (frequency weights of one)."""
    hessian = assert_local_maximum(family, X, y, params, data)
    return np.sqrt(np.diag(np.linalg.inv(-hessian)))


def wald_z(family, X, y, true, fit_params, data=None):
    """(estimate - truth) / SE for every parameter, the fitted segments in the true order."""
    params = in_order_of(fit_params, true)
    se = standard_errors(family, X, y, params, data)
    return (pack(params) - pack(true)) / se


def assert_calibrated(z):
    """Coverage of the 95% Wald intervals, E[z^2] and the largest |z| (see the module docstring)."""
    z = np.asarray(z)
    coverage = float(np.mean(np.abs(z) <= Z_95))
    mean_z2 = float(np.mean(z**2))
    assert coverage >= COVERAGE_FLOOR, f"coverage {coverage:.3f} of {z.size} 95% intervals"
    assert MEAN_Z2_RANGE[0] <= mean_z2 <= MEAN_Z2_RANGE[1], f"mean z^2 {mean_z2:.3f} over {z.size} estimates"
    assert np.abs(z).max() <= MAX_ABS_Z, f"largest |z| {np.abs(z).max():.2f}"


def assert_bic_picks_two(family, X, y, n_init):
    """BIC over K = 1..3 is smallest at K = 2; every fit a local maximum with all its segments."""
    fits = {k: fit_mixture(family, X, y, k, n_init=n_init, random_state=k) for k in (1, 2, 3)}
    for k, fit in fits.items():
        assert len(fit.params.weights) == k
        # K = 3 on two-segment data may have no interior maximum (its sup is a separated third segment, which
        # the search sets aside): only the true K and below are held to a vanishing gradient
        if k <= 2:
            assert_local_maximum(family, X, y, fit.params)
    assert fits[3].loglik >= fits[2].loglik >= fits[1].loglik  # nested: more segments fit at least as well
    scores = {k: bic(fit, family, X.shape[1], len(y)) for k, fit in fits.items()}
    assert min(scores, key=scores.get) == 2, f"BIC {scores}"


def bic(fit, family, n_predictors, n):
    """-2 loglik + (free parameters) log n, the parameters counted with :func:`family_param_layout`."""
    k = len(fit.params.weights)
    q = n_predictors + (1 if family.has_intercept else 0)
    _, _, dim = param_layout(k, q, family.n_extra())
    return -2.0 * fit.loglik + dim * np.log(n)


def simulate_mixture(family, true, X, rng, data=None):
    """Outcomes of a mixture with parameters ``true`` at predictors ``X``; the segment labels."""
    n = X.shape[0]
    design = family.design(X)
    labels = rng.choice(len(true.weights), size=n, p=true.weights)
    y = np.empty(n)
    for j in range(len(true.weights)):
        rows = labels == j
        sub = None if data is None else {key: value[rows] for key, value in data.items()}
        y[rows] = family.simulate(design[rows] @ true.beta[j], true.extra[j], rng, sub)
    return y, labels


# ----------------------------------------------------------------------------
# binomial with trials against flexmix, K = 2 and 3
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 3])
def test_binomial_with_trials_matches_flexmix_on_npreg(k):
    npreg = pd.read_csv(DATA / "NPreg.csv")
    case = REFERENCE["flexmix_binomial_trials"]
    assert case["formula"] == "cbind(yp, 12 - yp) ~ x"
    reference = {m["k_fitted"]: m for m in case["models"]}[k]
    family = make_family("binomial")
    X, y = npreg[["x"]].to_numpy(), npreg["yp"].to_numpy(dtype=float)
    data = {"trials": np.full(len(y), 12.0)}
    family.check_outcome(y, "yp", data)
    fit = fit_mixture(family, X, y, k, data=data, n_init=10, random_state=0)
    assert len(fit.params.weights) == k
    # at least flexmix's log-likelihood: its default EM stop and the EM polished to tolerance 1e-12
    polished = reference["polished"]
    for theirs in (reference["logLik"], polished["logLik"]):
        assert fit.loglik >= theirs - 1e-6 * abs(theirs)
    # the same solution: our segments in flexmix's order
    flexmix = MixtureParams(np.asarray(polished["prior"]),
                                  np.array([[c["(Intercept)"], c["x"]] for c in polished["components"]]),
                                  np.zeros((k, 0)))
    ours = in_order_of(fit.params, flexmix)
    np.testing.assert_allclose(ours.beta, flexmix.beta, atol=1e-3)
    np.testing.assert_allclose(ours.weights, flexmix.weights, atol=1e-3)
    # SEs within 2% of refit(): coefficients per component, then refit's share logits
    # log(pi_j / pi_1), j >= 2, in flexmix's order -- our logits once our segments are in that order
    se = standard_errors(family, X, y, ours, data)
    segment_index, logit_index, _ = param_layout(k, 2, 0)
    for j, refit in enumerate(reference["refit"]):
        assert refit["term"] == ["(Intercept)", "x"]
        np.testing.assert_allclose(se[segment_index[j]], refit["std_error"], rtol=0.02)
    logit_se = [c["std_error"] for c in reference["refit_prior_logit"]]
    np.testing.assert_allclose(se[logit_index], logit_se, rtol=0.02)


def test_binomial_0_1_mixture_reaches_at_least_flexmix_loglik_on_npreg():
    # Not identified (FAMILIES_README.md): flexmix's own K = 2 log-likelihood is only a lower bound.
    npreg = pd.read_csv(DATA / "NPreg.csv")
    reference = {m["k_fitted"]: m for m in REFERENCE["flexmix_binomial"]["models"]}[2]
    X, y = npreg[["x"]].to_numpy(), npreg["yb"].to_numpy(dtype=float)
    # the optimiser: the highest solution is a separated segment, far above flexmix's (3 EM iterations)
    highest = fit_mixture(make_family("binomial"), X, y, 2, n_init=2, random_state=0, admissible_only=False)
    assert highest.loglik >= reference["logLik"] - 1e-6 * abs(reference["logLik"])
    assert not highest.admissible
    # the admissible solutions lie on a ridge (-138.25 to -138.38 from different starts, measured): the best
    # admissible one found is on it, within 0.01 of flexmix's point, which is itself not an optimum
    fit = fit_mixture(make_family("binomial"), X, y, 2, n_init=2, random_state=0)
    assert fit.admissible and np.isfinite(fit.loglik)
    assert fit.loglik >= reference["logLik"] - 0.01


# ----------------------------------------------------------------------------
# censored (Tobit) mixture on a 1-7 scale with a pile-up at 7
# ----------------------------------------------------------------------------

CENSORED = make_family("censored", lower=1.0, upper=7.0)
# segment 1: loyalty rises with satisfaction, a quarter of all answers end at 7;
# segment 2: loyalty falls with satisfaction
CENSORED_TRUE = MixtureParams(np.array([0.55, 0.45]), np.array([[2.9, 0.8], [6.0, -0.45]]),
                                    np.log([[1.0], [0.8]]))


def simulate_censored(n, seed, true=CENSORED_TRUE):
    """Satisfaction ~ N(4.8, 1.3^2) clipped to [1, 7]; loyalty from a K = 2 Tobit mixture."""
    rng = np.random.default_rng(seed)
    X = np.clip(rng.normal(4.8, 1.3, n), 1.0, 7.0)[:, None]
    y, _ = simulate_mixture(CENSORED, true, X, rng)
    return X, y


def test_censored_mixture_wald_intervals_cover_the_truth():
    z = []
    for seed in range(30):
        X, y = simulate_censored(2000, seed)
        assert 0.15 <= np.mean(y == 7.0) <= 0.30  # a real pile-up at the top of the scale
        fit = fit_mixture(CENSORED, X, y, 2, n_init=2, random_state=seed)
        z.append(wald_z(CENSORED, X, y, CENSORED_TRUE, fit.params))
    assert_calibrated(z)


def test_censored_mixture_bic_picks_two_segments():
    X, y = simulate_censored(2000, 1000)
    assert_bic_picks_two(CENSORED, X, y, n_init=3)


# ----------------------------------------------------------------------------
# ordinal (cumulative logit) mixture on a 5-point item, two predictors
# ----------------------------------------------------------------------------

ORDINAL = make_family("ordinal", categories=(1, 2, 3, 4, 5))
# per segment: slopes of the two predictors, then the four thresholds
ORDINAL_TRUE = MixtureParams(np.array([0.6, 0.4]), np.array([[1.6, 0.5], [-1.2, 0.9]]),
                                   np.array([[-2.0, -0.7, 0.6, 2.0], [-3.0, -2.0, -1.0, 0.5]]))


def simulate_ordinal(n, seed, true=ORDINAL_TRUE):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y, _ = simulate_mixture(ORDINAL, true, X, rng)
    return X, y


def test_ordinal_mixture_wald_intervals_cover_the_truth():
    z = []
    for seed in range(10):
        X, y = simulate_ordinal(2000, seed)
        assert np.all(np.bincount(y.astype(int), minlength=6)[1:] >= 0.1 * len(y))  # every answer used
        fit = fit_mixture(ORDINAL, X, y, 2, n_init=2, random_state=seed)
        z.append(wald_z(ORDINAL, X, y, ORDINAL_TRUE, fit.params))
    assert_calibrated(z)


def test_ordinal_mixture_bic_picks_two_segments():
    X, y = simulate_ordinal(2000, 1000)
    assert_bic_picks_two(ORDINAL, X, y, n_init=2)


# ----------------------------------------------------------------------------
# binomial (with varying trials) and Poisson (with an offset) mixtures
# ----------------------------------------------------------------------------


def test_binomial_mixture_with_trials_wald_intervals_cover_the_truth():
    family = make_family("binomial")
    true = MixtureParams(np.array([0.5, 0.5]), np.array([[-1.0, 0.9], [1.5, -0.7]]), np.zeros((2, 0)))
    z = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        X = rng.uniform(0.0, 4.0, (1000, 1))
        data = {"trials": rng.integers(2, 9, 1000).astype(float)}
        y, _ = simulate_mixture(family, true, X, rng, data)
        fit = fit_mixture(family, X, y, 2, data=data, n_init=4, random_state=seed)
        z.append(wald_z(family, X, y, true, fit.params, data))
    assert_calibrated(z)


def test_poisson_mixture_with_offset_wald_intervals_cover_the_truth():
    family = make_family("poisson")
    true = MixtureParams(np.array([0.6, 0.4]), np.array([[0.3, 0.5], [1.5, -0.4]]), np.zeros((2, 0)))
    z = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        X = rng.uniform(0.0, 4.0, (1000, 1))
        data = {"offset": np.log(rng.uniform(0.5, 2.0, 1000))}
        y, _ = simulate_mixture(family, true, X, rng, data)
        fit = fit_mixture(family, X, y, 2, data=data, n_init=4, random_state=seed)
        z.append(wald_z(family, X, y, true, fit.params, data))
    assert_calibrated(z)
