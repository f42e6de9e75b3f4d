"""Surveys with planted trouble (issue 23): the selection path keeps the planted groups out of the reported segments.

One data set per design of ``benchmarks/planted_trouble.py`` (its Monte Carlo, 50 data sets per design and n,
is in docs/benchmarks.md): two true regression segments of 1-7 item means, plus respondents who answered one
value whatever their satisfaction (a pile), or sat at both ends of the scale; and one 11-point item explained by
yes/no predictors, where subsets that a plane fits exactly exist.  K = 1..3 are fitted as the workflow does
(:func:`select_segments`, BIC, the admissible search, the workflow's variance floor).
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest

from trustseg.model.diagnostics import set_aside_sentence
from trustseg.model.selection import select_segments

CENSORED = {"family": "censored", "family_options": {"lower": 1.0, "upper": 7.0}}


def _items(level, noise, n_items, rng):
    return np.clip(np.rint(level[:, None] + rng.normal(0.0, noise, (len(level), n_items))), 1, 7).mean(axis=1)


def score_survey(n, planted, seed, kind):
    """Two segments (0.3 + 0.8 s and 4.6 + 0.25 s) of 1-7 item means, plus a planted group (label 2)."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(3, size=n, p=[0.6 * (1 - planted), 0.4 * (1 - planted), planted])
    satisfaction = _items(rng.normal(4.5, 1.2, n), 0.8, 4, rng)
    line = np.where(segment == 0, 0.3 + 0.8 * satisfaction, 4.6 + 0.25 * satisfaction) + rng.normal(0, 0.6, n)
    y = _items(line, 0.5, 3, rng)
    if kind == "pile":
        y[segment == 2] = 4.0
    else:
        y[segment == 2] = np.where(rng.random(n) < 2 / 3, 1.0, 7.0)[segment == 2]
    return pd.DataFrame({"satisfaction": satisfaction}), y, segment


def binary_survey(n, seed):
    """One 0-10 rating item on six yes/no predictors, two segments of 45% and 55%."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(2, size=n, p=[0.45, 0.55])
    X = rng.integers(0, 2, size=(n, 6)).astype(float)
    coef = np.array([[2.0, 1.5, -1.0, 0.5, 0.0, 1.0], [-0.5, 0.0, 1.0, -1.5, 1.0, 0.0]])
    mean = np.array([2.5, 6.5])[segment] + np.einsum("ij,ij->i", X, coef[segment])
    y = np.clip(np.rint(mean + rng.normal(0.0, np.array([1.2, 1.0])[segment])), 0, 10)
    return pd.DataFrame(X, columns=[f"x{j + 1}" for j in range(6)]), y, segment


def select(X, y, floor, **family):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return select_segments(X, y, k_range=range(1, 4), n_init=10, random_state=1, criterion="bic",
                               return_models=True, variance_floor=floor, focal=X.columns[0], **family)


@cache
def pile_selection():
    """The pile design (a quarter at 4.0), n = 600, selected once for the tests that read it."""
    X, y, segment = score_survey(600, 0.25, seed=3, kind="pile")
    return X, y, segment, *select(X, y, 1 / 36, **CENSORED)


def chosen_k(table):
    return int(table.loc[table["chosen"].astype(bool), "k"].iloc[0])


def planted_segments(model, X, y, segment):
    """The fitted segments whose posterior weight is mostly planted respondents."""
    posterior = model.predict_proba(X, y)
    share = posterior[segment == 2].sum(axis=0) / posterior.sum(axis=0)
    return [j for j in range(model.n_segments_) if share[j] > 0.5]


def test_yes_no_predictors_choose_the_true_two_segments_and_name_the_exact_fit_set_aside():
    X, y, segment = binary_survey(300, seed=1)
    table, models = select(X, y, 1 / 12)
    assert chosen_k(table) == 2
    chosen = models[2]
    assert chosen.admissible_ and not any(chosen.problems_)
    # the fitted segments are the true ones (each holds most of one true segment), their x1 intervals cover the truth
    posterior = chosen.predict_proba(X, y)
    overlap = np.stack([posterior[segment == t].mean(axis=0) for t in range(2)])
    match = overlap.argmax(axis=1)
    assert sorted(match.tolist()) == [0, 1] and overlap.max(axis=1).min() > 0.6
    slopes = chosen.inference(X, y).params.query("term == 'x1'").set_index("segment")
    for truth, j in zip([2.0, -0.5], match):
        assert slopes.loc[j + 1, "ci_low"] <= truth <= slopes.loc[j + 1, "ci_high"]
    # at K = 3 a subset fitted exactly beat the admissible solution: set aside and named in words
    sentence = set_aside_sentence(models[3])
    assert models[3].admissible_ and models[3].set_aside_
    assert "into a segment that fits them (nearly) exactly, on the variance floor; it was set aside as spurious" in (
        sentence)


@pytest.mark.parametrize("kind, planted", [("pile", 0.25), ("ends", 0.15)])
def test_a_planted_group_is_never_a_reported_segment(kind, planted):
    """Whatever K the criterion chooses, no segment of the reported solution is the planted group unflagged."""
    if kind == "pile":
        X, y, segment, table, models = pile_selection()
    else:
        X, y, segment = score_survey(600, planted, seed=3, kind=kind)
        table, models = select(X, y, 1 / 36, **CENSORED)
    k = chosen_k(table)
    chosen = models[k]
    assert chosen.admissible_ and not any(chosen.problems_)
    assert not planted_segments(chosen, X, y, segment)
    # every fit that made the planted group a segment of its own was flagged, and that K was not chosen
    for other in models.values():
        if planted_segments(other, X, y, segment):
            assert not other.admissible_ and other.n_segments_ != k


def test_a_pile_set_aside_from_the_floor_is_named_by_its_answer():
    """A segment on the variance floor made mostly of one answer is named by that answer in the warning, so a
    reader hears which pile it was (the planted respondents at 4.0), not only that something fitted exactly."""
    models = pile_selection()[4]
    sentence = set_aside_sentence(models[2])
    assert models[2].admissible_ and models[2].set_aside_
    assert "% of whom gave the answer 4, into a segment that fits them (nearly) exactly" in sentence
    assert sentence.endswith("it was set aside as spurious")
