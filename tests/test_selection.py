"""Choosing K: criteria, parameter counts and the table from stored models."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from _engine_helpers import simulate_segments

from trustseg.model.mixture import ClusterwiseRegression
from trustseg.model.selection import COLUMNS, criteria_table, select_segments


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
        k: ClusterwiseRegression.from_dict(json.loads(json.dumps(m.to_dict())))
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
