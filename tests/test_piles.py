"""Coarse answers: the answer values held by a large share of respondents (survey/piles.py) and their warning."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from trustseg.report.warnings_report import pile_warnings
from trustseg.survey.piles import PILE_SHARE, answer_piles, pile_sentences


def _switching_like(n=400, at=0.26, seed=0):
    rng = np.random.default_rng(seed)
    score = np.round(rng.uniform(1, 5, n) * 2) / 2  # half points, as a mean of two 1-5 items
    pile = rng.random(n) < at
    score[pile] = 1.5
    return pd.DataFrame({"switching_intention": score, "satisfaction": rng.uniform(1, 7, n)})


def test_a_pile_of_one_answer_is_found_with_its_share_and_a_sentence():
    data = _switching_like()
    share = float((data["switching_intention"] == 1.5).mean())
    piles = answer_piles(data, ["switching_intention", "satisfaction", "not_in_the_data"])
    assert piles["variable"].tolist() == ["switching_intention"]  # continuous satisfaction has no pile
    row = piles.iloc[0]
    assert row["value"] == 1.5 and row["share"] == share and row["respondents"] == round(share * len(data))
    assert row["sentence"] == f"{share:.0%} of respondents scored exactly 1.5 on switching intention"


def test_every_value_above_the_threshold_is_listed_largest_first_and_missing_answers_do_not_count():
    values = [1.0] * 50 + [7.0] * 30 + [4.0] * 15 + [2.0] * 5 + [np.nan] * 100
    piles = answer_piles(pd.DataFrame({"loyalty": values}), ["loyalty"])
    assert piles["value"].tolist() == [1.0, 7.0]  # 50% and 30% of the 100 who answered; 15% is below
    assert (piles["answered"] == 100).all()
    assert 0.15 < PILE_SHARE <= 0.30
    # means of items that differ only in the last bits are one value
    near = pd.DataFrame({"score": [(0.1 + 0.2) * 10, 3.0] * 5 + list(range(10, 30))})
    assert answer_piles(near, ["score"])["respondents"].tolist() == [10]


def test_the_warning_names_the_pile_on_an_analysis_outcome_only(tmp_path):
    piles = answer_piles(_switching_like(), ["switching_intention", "satisfaction"])
    (tmp_path / "cleaning").mkdir()
    piles.to_csv(tmp_path / "cleaning" / "piles.csv", index=False)
    analysis = tmp_path / "switching"
    analysis.mkdir()
    settings = {"outcome": "switching_intention", "predictors": ["satisfaction"], "focal": "satisfaction", "k": 2,
                "k_requested": 2, "method": "em", "criterion": "bic", "cov_type": "oim", "alpha": 0.05,
                "ci_level": 0.95, "equivalence_margin": 0.1, "membership_ci_level": 0.95, "higher_is": "worse",
                "verdict_adjustment": "none", "family": {"name": "censored", "options": {"lower": 1, "upper": 5}}}
    (analysis / "analysis.json").write_text(json.dumps(settings))
    warnings = pile_warnings(tmp_path, ["switching"])
    assert len(warnings) == 1
    assert warnings[0].startswith("Coarse answers on switching intention (the outcome of switching): ")
    assert pile_sentences(piles, ["switching_intention"])[0] in warnings[0]
    assert pile_warnings(tmp_path / "nowhere", ["switching"]) == []
