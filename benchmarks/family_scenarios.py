"""Censored and ordinal scenarios for the optimum matrix (issue 22).

Used by ``benchmarks/optimum_matrix.py --family censored|ordinal``; nothing here
is run on its own.  Example::

    from family_scenarios import FAMILY_SCENARIOS, simulate_family
    X, y, spec = simulate_family("crossing", "ordinal", n=1000, seed=7)

Every scenario is a mixture of linear regressions on a *latent* outcome,
``latent = intercept[k] + coef[k] * x + N(0, sigma[k]^2)`` for a respondent of
segment ``k`` (drawn with probability ``weights[k]``), with one Likert-valued
predictor x (``likert_mean``: the mean of four correlated 1-7 items, 25 values;
``likert_single``: one 1-7 item; see ``scenarios.draw_predictor``).  The
latent outcome becomes a survey answer by ``scenarios.as_answers``:

* censored family: ``score``, the mean of three 1-7 items (each the latent
  value plus N(0, 0.5^2) noise, rounded and clipped to 1..7), so y takes the
  values 1, 1.33, ..., 7 and piles at the ends; fitted as a normal censored at
  ``lower=1``, ``upper=7``.
* ordinal family: ``item``, the latent value rounded and clipped to 1..7;
  fitted as a cumulative logit with ``categories=1..7``.

Neither fitted family is the generating model (the answers are rounded and, for
the censored score, averaged), so there is no "start at the truth" here: the
best known optimum is the best log-likelihood any recorded fit or a thorough
fit reached.  The same data seed gives the same predictor, segments and latent
outcome for both families; only the last rounding step differs.
"""

from __future__ import annotations

import numpy as np
from scenarios import as_answers, simulate_from

#: family -> how the latent outcome becomes an answer, and the family_options the fit is given
FAMILIES = {
    "censored": {"outcome": "score", "options": {"lower": 1.0, "upper": 7.0}},
    "ordinal": {"outcome": "item", "options": {"categories": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]}},
}


def _spec(predictor, description, intercept, coef, sigma, weights):
    k = len(intercept)
    truth = {"intercept": np.asarray(intercept, dtype=float), "coef": np.asarray(coef, dtype=float).reshape(k, 1),
             "sigma": np.broadcast_to(np.asarray(sigma, dtype=float), (k,)).copy(),
             "weights": np.asarray(weights, dtype=float)}
    if not (len(truth["weights"]) == k and np.isclose(truth["weights"].sum(), 1.0)):
        raise ValueError("a scenario needs K intercepts, slopes, sigmas and shares summing to 1")
    return {"predictor": predictor, "separation": description, "k": k, "shares": truth["weights"].tolist(),
            "truth": truth}


#: name -> predictor, description, K, shares and the latent outcome's true parameters
FAMILY_SCENARIOS = {
    # a rising line (latent 1.3 .. 6.7 over x = 1 .. 7) and a flat high segment at 6.3 of which about 20%
    # answer at the ceiling: the ceiling pile a gaussian fit would flatten
    "base": _spec("likert_mean", "two segments: a rising line and a flat one near the ceiling",
                  [0.4, 6.3], [0.9, 0.0], [0.8, 0.8], [0.6, 0.4]),
    # one 1-7 item as the predictor; lines crossing at x = 4 (latent 4.2), opposite slopes
    "crossing": _spec("likert_single", "two lines crossing at x = 4, slopes +0.8 and -0.7",
                      [1.0, 7.0], [0.8, -0.7], [0.9, 0.9], [0.55, 0.45]),
    # the gaussian matrix's small_segment (a rising line crossing two flat ones), the flat high one
    # raised so it piles at the ceiling, and a 5% flat low segment (50 respondents at n = 1,000)
    "small_segment": _spec("likert_mean", "three segments, one of 5%",
                           [0.5, 6.0, 2.0], [0.9, 0.0, 0.0], [0.7, 0.6, 0.6], [0.60, 0.35, 0.05]),
}


def simulate_family(name, family, n, seed):
    """Scenario ``name`` as answers of ``family``: X (n, 1), y (n,), the scenario spec.

    Deterministic in ``seed``: the latent data are ``scenarios.simulate_from``
    with this seed, the answers use the generator ``default_rng([seed, 1])``.
    """
    if name not in FAMILY_SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; expected one of {list(FAMILY_SCENARIOS)}")
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {list(FAMILIES)}")
    spec = FAMILY_SCENARIOS[name]
    X, latent = simulate_from(spec["truth"], spec["predictor"], n, seed)
    y = as_answers(latent, FAMILIES[family]["outcome"], np.random.default_rng([seed, 1]))
    return X, y, spec
