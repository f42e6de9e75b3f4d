"""Alpha, omega and item statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trustseg.survey.reliability import RELIABILITY_COLUMNS, cronbach_alpha, mcdonald_omega, reliability_table


def one_factor(n=2000, loadings=(0.8, 0.7, 0.6, 0.7), seed=1):
    rng = np.random.default_rng(seed)
    f = rng.standard_normal(n)
    cols = {f"x{j + 1}": lam * f + np.sqrt(1 - lam**2) * rng.standard_normal(n) for j, lam in enumerate(loadings)}
    return pd.DataFrame(cols)


def test_alpha_matches_the_formula():
    d = pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [2, 2, 3, 5, 4], "c": [1, 3, 3, 4, 5]}, dtype=float)
    k = 3
    expected = k / (k - 1) * (1 - d.var().sum() / d.sum(axis=1).var())
    assert cronbach_alpha(d) == pytest.approx(expected)


def test_omega_recovers_the_population_value():
    lam = np.array([0.8, 0.7, 0.6, 0.7])
    truth = lam.sum() ** 2 / (lam.sum() ** 2 + (1 - lam**2).sum())
    assert mcdonald_omega(one_factor()) == pytest.approx(truth, abs=0.02)


def test_equal_loadings_make_omega_close_to_alpha():
    d = one_factor(loadings=(0.7, 0.7, 0.7, 0.7))
    assert mcdonald_omega(d) == pytest.approx(cronbach_alpha(d), abs=0.01)


def test_table_layout_and_item_statistics():
    d = one_factor(n=300)
    d.loc[0, "x1"] = np.nan  # one incomplete case
    t = reliability_table(d, {"sat": {"items": ["x1", "x2", "x3", "x4"], "scale": [1, 7]}})
    assert list(t.columns) == RELIABILITY_COLUMNS
    assert t["level"].tolist() == ["construct"] + ["item"] * 4
    head = t.iloc[0]
    assert head["n_items"] == 4 and head["n"] == 299 and head["warning"] == ""
    complete = d.dropna()
    x1 = t.set_index("item").loc["x1"]
    rest_total = complete[["x2", "x3", "x4"]].sum(axis=1)
    assert x1["item_total_r"] == pytest.approx(np.corrcoef(complete["x1"], rest_total)[0, 1])
    assert x1["alpha_if_deleted"] == pytest.approx(cronbach_alpha(complete[["x2", "x3", "x4"]]))


def test_single_item_two_items_and_low_alpha_warn_without_crashing():
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"a": rng.integers(1, 8, 50), "b": rng.integers(1, 8, 50), "c": rng.integers(1, 8, 50)})
    t = reliability_table(d, {"one": {"items": ["a"]}, "two": {"items": ["b", "c"]}})
    one = t[(t["construct"] == "one") & (t["level"] == "construct")].iloc[0]
    assert np.isnan(one["alpha"]) and np.isnan(one["omega"]) and "single-item" in one["warning"]
    two = t[(t["construct"] == "two") & (t["level"] == "construct")].iloc[0]
    assert not np.isnan(two["alpha"]) and np.isnan(two["omega"])
    assert "< 0.70" in two["warning"] and "at least three items" in two["warning"]
    assert t[(t["construct"] == "two") & (t["level"] == "item")]["alpha_if_deleted"].isna().all()


def test_reverse_item_left_unrecoded_is_pointed_out():
    d = one_factor(n=300)
    d["x4"] = -d["x4"]
    t = reliability_table(d, {"sat": {"items": ["x1", "x2", "x3", "x4"]}})
    assert "reverse-keyed" in t.set_index("item").loc["x4", "warning"]


def test_degenerate_inputs_give_nan_and_reasons():
    d = pd.DataFrame({"a": [3, 3, 3, 3], "b": [3, 3, 3, 3], "c": [1, None, None, None]})
    t = reliability_table(d, {"flat": {"items": ["a", "b"]}, "sparse": {"items": ["a", "c"]},
                              "gone": {"items": ["a", "zz"]}})
    rows = t[t["level"] == "construct"].set_index("construct")
    assert np.isnan(rows.loc["flat", "alpha"]) and "do not vary" in rows.loc["flat", "warning"]
    assert rows.loc["sparse", "n"] == 1 and "too few" in rows.loc["sparse", "warning"]
    assert "not in the data" in rows.loc["gone", "warning"]
