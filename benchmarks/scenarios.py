"""Simulated clusterwise-regression scenarios for the optimum benchmarks.

Used by ``benchmarks/optimum_matrix.py`` and ``benchmarks/monte_carlo_k2.py``;
nothing here is run on its own.  Example::

    from scenarios import SCENARIOS, simulate, write_csv
    X, y, truth = simulate("base", n=1000, seed=7)
    write_csv("/tmp/base.csv", X, y)          # columns x, y, read by flexmix_matrix.R

Every scenario has one predictor x and one outcome y.  Respondent ``i`` belongs
to segment ``k`` with probability ``weights[k]`` and, within it,
``y = intercept[k] + coef[k] * x + N(0, sigma[k]^2)``.  ``truth`` is a dict with
the four keys ``intercept`` (K,), ``coef`` (K, 1), ``sigma`` (K,) and ``weights``
(K,), so it can be given as it is to ``ClusterwiseRegression(init_params=truth)``.

Predictor types:

* ``continuous``: x ~ U(1, 7).
* ``likert_mean``: the mean of four correlated 7-point items.  Each respondent
  has a latent level ~ N(4, 1.3); each item is that level plus N(0, 0.8) noise,
  rounded and clipped to 1..7, so x takes 25 values (1, 1.25, ..., 7).
* ``likert_single``: one such item (7 values).

The scenarios vary a base scenario one feature at a time (see ``SCENARIOS``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import logsumexp

PREDICTORS = ("continuous", "likert_mean", "likert_single")


def _scenario(predictor, separation, intercept, coef, sigma, weights):
    intercept = np.asarray(intercept, dtype=float)
    k = len(intercept)
    coef = np.asarray(coef, dtype=float).reshape(k, 1)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), (k,)).copy()
    weights = np.asarray(weights, dtype=float)
    if not (len(weights) == k and np.isclose(weights.sum(), 1.0) and predictor in PREDICTORS):
        raise ValueError("a scenario needs K intercepts, slopes, sigmas and shares summing to 1")
    return {
        "predictor": predictor,
        "separation": separation,
        "k": k,
        "shares": weights.tolist(),
        "truth": {"intercept": intercept, "coef": coef, "sigma": sigma, "weights": weights},
    }


def _evenly_spread(k):
    """K moderately overlapping lines: levels at mid-scale (x = 4) 1.2 apart around 4,
    slopes 0.8, 0.6, ... (steepest lowest), so neighbours are 2 SDs apart at x = 4,
    3 SDs at x = 1 and 1 SD at x = 7; sigma 0.6, equal shares."""
    mid = 4.0 + 1.2 * (np.arange(k) - (k - 1) / 2)
    slope = 0.8 - 0.2 * np.arange(k)
    return _scenario("likert_mean", "moderate (neighbours 2 SD apart at x = 4)", mid - 4.0 * slope, slope,
                     0.6, np.full(k, 1.0 / k))


_BASE = {"intercept": [0.5, 5.5, 3.0], "coef": [0.9, 0.0, 0.0], "sigma": [0.7, 0.6, 0.6],
         "weights": [0.45, 0.30, 0.25]}

#: name -> predictor, separation (in words), K, shares and true parameters.
SCENARIOS = {
    "base": _scenario("likert_mean", "moderate: one rising line crossing two flat ones", **_BASE),
    "continuous": _scenario("continuous", "as base", **_BASE),
    "single_item": _scenario("likert_single", "as base", **_BASE),
    "separated": _scenario("likert_mean", "well separated", [0.5, 2.5, 5.5], [1.1, 0.6, 0.1], [0.5, 0.6, 0.4],
                           [0.5, 0.3, 0.2]),
    "crossing": _scenario("likert_mean", "overlapping lines crossing mid-scale", [1.0, 6.0, 3.5], [0.8, -0.5, 0.1],
                          0.9, [0.45, 0.30, 0.25]),
    "levels": _scenario("likert_mean", "equal slopes 0.5, levels 1.2 apart (2 SD)", [0.5, 1.7, 2.9], [0.5] * 3,
                        0.6, [0.45, 0.30, 0.25]),
    "small_segment": _scenario("likert_mean", "as base, one segment of 5%",
                               **{**_BASE, "weights": [0.60, 0.35, 0.05]}),
    "k2": _evenly_spread(2),
    "k4": _evenly_spread(4),
    "k5": _evenly_spread(5),
}


def _likert_items(rng, n, n_items):
    latent = rng.normal(4.0, 1.3, size=(n, 1))
    items = np.clip(np.rint(latent + rng.normal(0.0, 0.8, size=(n, n_items))), 1, 7)
    return items.mean(axis=1)


def draw_predictor(kind, n, rng):
    """n values of the predictor type ``kind`` (see the module docstring)."""
    if kind == "continuous":
        return rng.uniform(1.0, 7.0, size=n)
    if kind == "likert_mean":
        return _likert_items(rng, n, 4)
    if kind == "likert_single":
        return _likert_items(rng, n, 1)
    raise ValueError(f"unknown predictor type {kind!r}; expected one of {PREDICTORS}")


def simulate_from(truth, predictor, n, seed, return_labels=False):
    """Data from the given true parameters: X (n, 1), y (n,), and the segment labels if asked."""
    rng = np.random.default_rng(seed)
    weights = np.asarray(truth["weights"], dtype=float)
    labels = rng.choice(len(weights), size=n, p=weights)
    x = draw_predictor(predictor, n, rng)
    intercept = np.asarray(truth["intercept"], dtype=float)
    slope = np.asarray(truth["coef"], dtype=float).reshape(-1)
    sigma = np.asarray(truth["sigma"], dtype=float)
    y = intercept[labels] + slope[labels] * x + sigma[labels] * rng.normal(size=n)
    X = x[:, None]
    return (X, y, labels) if return_labels else (X, y)


def simulate(name, n, seed):
    """Scenario ``name`` with ``n`` respondents: (X (n, 1), y (n,), truth dict of copies)."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; expected one of {list(SCENARIOS)}")
    spec = SCENARIOS[name]
    X, y = simulate_from(spec["truth"], spec["predictor"], n, seed)
    return X, y, {key: value.copy() for key, value in spec["truth"].items()}


def loglik_at(params, X, y):
    """Mixture log-likelihood sum_i log sum_k pi_k N(y_i | a_k + x_i b_k, sigma_k^2) at ``params``."""
    intercept = np.asarray(params["intercept"], dtype=float)
    coef = np.asarray(params["coef"], dtype=float).reshape(len(intercept), -1)
    sigma = np.asarray(params["sigma"], dtype=float)
    weights = np.asarray(params["weights"], dtype=float)
    z = (np.asarray(y, dtype=float)[:, None] - intercept - np.asarray(X, dtype=float) @ coef.T) / sigma
    joint = np.log(weights) - np.log(sigma) - 0.5 * np.log(2 * np.pi) - 0.5 * z**2
    return float(logsumexp(joint, axis=1).sum())


#: how a latent outcome becomes a survey answer: a mean of three 1-7 items (the censored family's score, piled
#: at the ends) or one 1-7 item (the ordinal family's answer)
OUTCOMES = ("latent", "score", "item")


def as_answers(latent, outcome, rng):
    """The survey answers of a latent outcome: ``score`` (mean of 3 items, 1-7) or ``item`` (one 1-7 item)."""
    if outcome == "latent":
        return latent
    if outcome == "score":
        items = np.clip(np.rint(latent[:, None] + rng.normal(0.0, 0.5, size=(len(latent), 3))), 1, 7)
        return items.mean(axis=1)
    if outcome == "item":
        return np.clip(np.rint(latent), 1, 7)
    raise ValueError(f"unknown outcome {outcome!r}; expected one of {OUTCOMES}")


def simulate_answers(name, n, seed, outcome):
    """Scenario ``name`` with its outcome turned into survey answers (:func:`as_answers`): X, y, truth."""
    X, y, truth = simulate(name, n, seed)
    return X, as_answers(y, outcome, np.random.default_rng([seed, 1])), truth


#: eleven yes/no perceptions with their shares of "yes" (as in a published fast-food brand-image survey)
PERCEPTIONS = {"yummy": 0.55, "convenient": 0.91, "spicy": 0.09, "fattening": 0.87, "greasy": 0.53, "fast": 0.90,
               "cheap": 0.60, "tasty": 0.64, "expensive": 0.36, "healthy": 0.20, "disgusting": 0.24}


def simulate_perceptions(n=1453, seed=0):
    """An 11-point liking item (-5 .. +5) explained by eleven yes/no perceptions, two segments.

    The design of the textbook mixture of regressions of liking on brand
    perceptions (about 630 and 820 respondents): one segment's liking rises
    with yummy, tasty and cheap and falls with disgusting; the other's
    follows mostly yummy and tasty, from a lower level.  Perceptions are
    correlated through a latent attitude, and respondents share few answer
    patterns, so subsets of them can be fitted exactly (the trap of a
    coarse outcome on yes/no predictors).  Returns X (DataFrame), y, labels.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    attitude = rng.normal(size=n)
    shares = np.array(list(PERCEPTIONS.values()))
    sign = np.array([1, 1, 0, -1, -1, 1, 1, 1, -1, 1, -1])
    loading = 0.8 * sign
    threshold = -np.sqrt(1.0 + loading**2) * np.array([_probit(s) for s in shares])
    X = ((attitude[:, None] * loading + rng.normal(size=(n, len(shares)))) > threshold).astype(float)
    labels = (rng.random(n) < 0.43).astype(int)
    coef = np.array([
        [1.8, 0.3, 0.0, 0.0, -0.3, 0.2, 0.8, 1.5, -0.4, 0.6, -2.0],
        [1.2, 0.0, 0.0, -0.2, -0.2, 0.0, 0.1, 1.0, 0.0, 0.3, -1.0],
    ])
    intercept = np.array([-1.5, -3.0])
    latent = intercept[labels] + np.einsum("ij,ij->i", X, coef[labels]) + rng.normal(0.0, 1.6, n)
    y = np.clip(np.rint(latent), -5, 5)
    return pd.DataFrame(X, columns=list(PERCEPTIONS)), y, labels


def _probit(p):
    from scipy.stats import norm

    return float(norm.ppf(p))


def write_csv(path, X, y):
    """Write columns x, y (full precision) for R; X may be (n,) or (n, 1)."""
    x = np.asarray(X, dtype=float).reshape(len(y), -1)[:, 0]
    data = np.column_stack([x, np.asarray(y, dtype=float)])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, data, delimiter=",", header="x,y", comments="", fmt="%.17g")


def truth_as_json(truth):
    """The truth dict with plain lists (for JSON)."""
    return {key: np.asarray(value, dtype=float).tolist() for key, value in truth.items()}
