"""Choosing K: criteria, parameter counts and the table from stored models."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from _engine_helpers import simulate_segments
from test_diagnostics import raw_single_item_data

from trustseg.model.mixture import ClusterwiseRegression
from trustseg.model.persistence import model_from_dict, model_to_dict
from trustseg.model.selection import COLUMNS, choose_k, criteria_table, select_segments


@pytest.fixture(scope="module")
def selection():
    X, y, _ = simulate_segments(700, [0.5, 3.5], [1.0, 0.1], [0.4, 0.4], [0.6, 0.4], seed=31)
    table, models = select_segments(X, y, k_range=range(1, 4), n_init=5, return_models=True)
    return X, y, table, models


def test_table_columns_and_choice(selection):
    _, _, table, _ = selection
    assert list(table.columns) == COLUMNS
    assert list(table["k"]) == [1, 2, 3]
    assert table.loc[table["chosen"], "k"].tolist() == [2]
    assert table.loc[0, "entropy"] == 1.0 and table.loc[0, "min_share"] == 1.0


def test_criteria_formulas(selection):
    X, y, table, models = selection
    n, p = len(y), 1
    for row in table.itertuples():
        k = row.k
        assert row.n_params == k * (p + 1) + k + (k - 1)
        minus2l = -2 * row.loglik
        assert row.aic == pytest.approx(minus2l + 2 * row.n_params)
        assert row.aic3 == pytest.approx(minus2l + 3 * row.n_params)
        assert row.bic == pytest.approx(minus2l + row.n_params * math.log(n))
        assert row.caic == pytest.approx(minus2l + row.n_params * (math.log(n) + 1))
        assert row.sabic == pytest.approx(minus2l + row.n_params * math.log((n + 2) / 24))
        posterior = models[k].predict_proba(X, y)
        hard = posterior.max(axis=1)
        assert row.icl == pytest.approx(row.bic - 2 * np.log(hard).sum())
        if k > 1:
            entropy = -(posterior * np.log(np.clip(posterior, 1e-300, None))).sum()
            assert row.entropy == pytest.approx(1 - entropy / (n * math.log(k)))


def test_table_from_models_rebuilt_from_json(selection):
    X, y, table, models = selection
    rebuilt = {
        k: model_from_dict(json.loads(json.dumps(model_to_dict(m))))
        for k, m in models.items()
    }
    again = criteria_table(rebuilt, X, y)
    assert again.equals(table)
    by_aic = criteria_table(list(rebuilt.values()), X, y, criterion="aic")
    assert by_aic.loc[by_aic["chosen"], "aic"].iloc[0] == by_aic["aic"].min()


def test_weighted_table_uses_respondent_count():
    X, y, _ = simulate_segments(300, [0.5, 3.5], [1.0, 0.1], [0.4, 0.4], [0.6, 0.4], seed=32)
    w = np.random.default_rng(0).uniform(0.5, 3.0, size=len(y))
    table = select_segments(X, y, k_range=[1, 2], n_init=3, sample_weight=w)
    row = table.iloc[1]
    assert row.bic == pytest.approx(-2 * row.loglik + row.n_params * math.log(300))


def test_cem_parameter_count():
    X, y, _ = simulate_segments(300, [-3.0, 6.0], [1.0, 0.0], [0.4, 0.4], [0.6, 0.4], seed=33)
    table = select_segments(X, y, k_range=[2], n_init=3, method="cem")
    assert table.loc[0, "n_params"] == 2 * 2 + 1 + 1


def test_mismatched_data_is_refused(selection):
    X, y, _, models = selection
    with pytest.raises(ValueError, match="fitted to"):
        criteria_table(models, X.iloc[:100], y.iloc[:100])
    with pytest.raises(ValueError, match="criterion"):
        criteria_table(models, X, y, criterion="hqic")


# ----------------------------------------------------------------------------- problems and the choice of K


def choice_table(bic, problems, k_fitted=None):
    """A model-selection table for K = 1, 2, ... with these BIC values and problems."""
    ks = list(range(1, len(bic) + 1))
    return pd.DataFrame({"k": ks, "k_fitted": k_fitted or ks, "bic": bic, "problems": problems})


def chosen_k(table, **kwargs):
    row, note = choose_k(table, **kwargs)
    return int(table.loc[row, "k"]), note


def test_a_k_with_problems_is_passed_over_and_the_note_says_why():
    table = choice_table([900.0, 850.0, 820.0, 800.0],
                         ["", "", "", "variance_floor(3 segments);singular_information"])
    k, note = chosen_k(table)
    assert k == 3
    assert note == (
        "K = 4 had the lowest BIC, but 3 of its 4 segments sit on the variance floor and its observed information "
        "is singular, so its standard errors cannot be trusted; K = 3 is the best without problems."
    )
    # without problems the plain minimum, with nothing to say
    assert chosen_k(choice_table([900.0, 850.0, 820.0, 800.0], [""] * 4)) == (4, "")
    # the user's opt-out
    k, note = chosen_k(table, allow_flagged=True)
    assert k == 4 and note.startswith("K = 4 has the lowest BIC. K = 4 is chosen because allow_flagged is true")


def test_every_k_passed_over_is_named_in_the_note():
    # K = 3 and K = 2 both beat K = 1 and both have problems: the note must account for both
    table = choice_table([900.0, 850.0, 820.0], ["", "variance_floor(1 segment)", "singular_information"])
    k, note = chosen_k(table)
    assert k == 1
    assert note.startswith("K = 3 had the lowest BIC, but its observed information is singular")
    assert "; K = 2 also has a lower BIC, but 1 of its 2 segments sits on the variance floor;" in note
    assert note.endswith("K = 1 is the best without problems.")


def test_when_every_k_has_problems_the_criterion_chooses_and_says_so():
    table = choice_table([900.0, 850.0], ["singular_information", "variance_floor(1 segment)"])
    k, note = chosen_k(table)
    assert k == 2
    assert "every candidate number of segments has problems" in note and "1 of its 2 segments sits" in note


def test_a_k_that_lost_a_segment_is_never_chosen():
    table = choice_table([900.0, 800.0, 850.0], ["", "", ""], k_fitted=[1, 1, 3])
    assert chosen_k(table) == (3, "")
    assert choose_k(choice_table([900.0], [""], k_fitted=[0])) == (None, "")


def test_sequential_lr_test_stops_at_the_first_non_significant_k():
    table = choice_table([900.0, 850.0, 820.0, 800.0], [""] * 4)
    k, note = chosen_k(table, criterion="lr_test", lr_p_values={1: 0.02, 2: 0.04, 3: 0.3}, alpha=0.05)
    assert k == 3
    assert note == ("Sequential bootstrap likelihood-ratio tests: K = 1 against 2: p = 0.020 < 0.05; K = 2 against "
                    "3: p = 0.040 < 0.05; K = 3 against 4: p = 0.300 \u2265 0.05, so K = 3 is kept.")
    # the same tests at alpha 0.01 stop at K = 2; a test with no p-value stops where it is
    assert chosen_k(table, criterion="lr_test", lr_p_values={1: 0.002, 2: 0.04, 3: 0.3}, alpha=0.01)[0] == 2
    assert chosen_k(table, criterion="lr_test", lr_p_values={1: 0.02}, alpha=0.05)[0] == 2
    # every test significant: the largest candidate, which has nothing to be tested against
    k, note = chosen_k(table, criterion="lr_test", lr_p_values={1: 0.02, 2: 0.02, 3: 0.02})
    assert k == 4 and note.endswith("K = 4 has no fit with 5 segments to be tested against, so K = 4 is kept.")


def test_sequential_lr_test_passes_over_a_k_with_problems():
    table = choice_table([900.0, 850.0, 820.0, 800.0], ["", "variance_floor(1 segment)", "", "singular_information"])
    k, note = chosen_k(table, criterion="lr_test", lr_p_values={1: 0.02, 2: 0.5, 3: 0.01})
    assert k == 3
    assert "K = 2 is passed over because of its problems" in note
    assert note.endswith("K = 4 is passed over because of its problems; every test rejected the smaller model, "
                         "and K = 3 is the largest without problems.")
    assert chosen_k(table, criterion="lr_test", lr_p_values={1: 0.02, 2: 0.5, 3: 0.01}, allow_flagged=True)[0] == 2


@pytest.fixture(scope="module")
def raw_outcome_selection():
    X, y = raw_single_item_data()
    models = [ClusterwiseRegression(n_segments=k, n_init=4, variance_floor=1 / 12, random_state=k).fit(X, y)
              for k in range(1, 5)]
    return X, y, models


def test_raw_single_item_outcome_flags_degenerate_ks(raw_outcome_selection):
    X, y, models = raw_outcome_selection
    table = criteria_table(models, X, y, criterion="aic")
    assert list(table.columns) == COLUMNS
    flagged = table["problems"] != ""
    assert flagged.iloc[1:].all() and "variance_floor(" in table["problems"].iloc[-1]
    plain_best = int(table.loc[table["aic"].idxmin(), "k"])
    assert plain_best > 1  # the criterion alone would pick a degenerate solution
    chosen = table.loc[table["chosen"]].iloc[0]
    assert chosen["problems"] == "" and chosen["k"] == 1
    assert chosen["choice_note"].startswith(f"K = {plain_best} had the lowest AIC, but ")
    assert (table.loc[~table["chosen"], "choice_note"] == "").all()
    opted_out = criteria_table(models, X, y, criterion="aic", allow_flagged=True)
    assert int(opted_out.loc[opted_out["chosen"], "k"].iloc[0]) == plain_best


def test_select_segments_cannot_choose_by_the_lr_test():
    X, y, _ = simulate_segments(100, [0.5], [1.0], [0.4], [1.0], seed=34)
    with pytest.raises(ValueError, match="lr_p_values"):
        select_segments(X, y, k_range=[1], n_init=1, criterion="lr_test")


def _settings(**changes):
    from dataclasses import fields

    from trustseg.report.results import AnalysisSettings

    values = {"outcome": "repurchase", "predictors": ["satisfaction"], "focal": "satisfaction", "method": "em",
              "criterion": "bic", "k": 3, "k_requested": 3, "cov_type": "oim", "alpha": 0.05, "ci_level": 0.95,
              "equivalence_margin": 0.1, "membership_ci_level": 0.95, **changes}
    return AnalysisSettings(**{f.name: values[f.name] for f in fields(AnalysisSettings) if f.name in values})


def _selection(bic, lr_p, problems=None, chosen=3, note=""):
    ks = list(range(1, len(bic) + 1))
    table = pd.DataFrame({"k_requested": ks, "k": ks, "k_fitted": ks, "bic": bic, "n_starts": 10,
                          "n_best_starts": 8, "loglik": -500.0, "optimum_replicated": True, "converged": True,
                          "problems": problems or [""] * len(ks), "chosen": [k == chosen for k in ks]})
    table["choice_note"] = np.where(table["chosen"], note, "")
    table["lr_p_value"] = [lr_p.get(k, np.nan) for k in ks]
    table["lr_replicates"] = [49 if k in lr_p else pd.NA for k in ks]
    table["lr_p_min"] = [0.02 if k in lr_p else np.nan for k in ks]
    return table


def test_selection_sentence_says_when_the_criterion_and_the_lr_test_disagree():
    from trustseg.report.sentences import selection_sentence

    text = selection_sentence(_selection([900.0, 850.0, 820.0, 830.0], {1: 0.02, 2: 0.02, 3: 0.04}), _settings())
    assert "the lowest BIC chose K = 3" in text
    assert ("For K = 1 vs 2 and 2 vs 3, p = 0.020 is the smallest 49 replicates can give: the observed statistic "
            "beat every replicate") in text
    assert "BIC keeps K = 3, but K = 3 against 4 has p = 0.040 < 0.05, so the test prefers more segments" in text
    # a test that stops earlier than the criterion
    text = selection_sentence(_selection([900.0, 850.0, 820.0, 830.0], {1: 0.02, 2: 0.31, 3: 0.6}), _settings())
    assert "sequential testing would stop at K = 2" in text and "prefers more segments" not in text
    # agreement: nothing to remark
    text = selection_sentence(_selection([900.0, 850.0, 820.0, 830.0], {1: 0.04, 2: 0.04, 3: 0.6}), _settings())
    assert "disagree" not in text and "smallest 49 replicates" not in text
    # three replicates (p >= 0.25 always): the tests cannot reject anything, so they cannot disagree either
    table = _selection([900.0, 850.0, 820.0, 830.0], {1: 0.25, 2: 0.25, 3: 0.5}).assign(lr_replicates=3, lr_p_min=0.25)
    text = selection_sentence(table, _settings())
    assert "no p-value can fall below alpha = 0.05" in text and "disagree" not in text


def test_selection_sentence_carries_the_choice_note():
    from trustseg.report.sentences import selection_sentence

    note = ("K = 4 had the lowest BIC, but 3 of its 4 segments sit on the variance floor; K = 3 is the best "
            "without problems.")
    table = _selection([900.0, 850.0, 820.0, 800.0], {}, problems=["", "", "", "variance_floor(3 segments)"],
                       note=note)
    text = selection_sentence(table, _settings())
    assert text.startswith(f"Among the candidate numbers of segments (1\u20134), K = 3 was chosen. {note}")
    text = selection_sentence(table.assign(choice_note=np.where(table["chosen"], "Sequential ... kept.", "")),
                              _settings(criterion="lr_test"))
    assert text.startswith("Among the candidate numbers of segments (1\u20134), sequential parametric bootstrap "
                           "likelihood-ratio tests chose K = 3. Sequential ... kept.")
