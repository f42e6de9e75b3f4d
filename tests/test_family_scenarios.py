"""The censored and ordinal scenarios of the optimum matrix (``benchmarks/family_scenarios.py``, issue 22).

The matrix's "before and after" comparison is only fair if both engines see the
same data: the scenarios must simulate deterministically from the data seed,
give answers on the 1-7 scale of their family, and leave the gaussian matrix's
file names (and so its recorded results) as they were.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import family_scenarios
        import optimum_matrix

        yield family_scenarios, optimum_matrix
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.parametrize("family", ["censored", "ordinal"])
def test_family_scenarios_are_seeded_and_on_the_answer_scale(bench, family):
    scenarios, _ = bench
    for name, spec in scenarios.FAMILY_SCENARIOS.items():
        X, y, _ = scenarios.simulate_family(name, family, 400, 7)
        X2, y2, _ = scenarios.simulate_family(name, family, 400, 7)
        np.testing.assert_array_equal(X, X2)
        np.testing.assert_array_equal(y, y2)
        assert not np.array_equal(y, scenarios.simulate_family(name, family, 400, 8)[1])
        assert X.shape == (400, 1) and set(np.unique(X[:, 0])) <= set(np.arange(1, 7.01, 0.25))
        assert y.min() >= 1 and y.max() <= 7 and (y == 7).any()
        if family == "ordinal":
            assert set(np.unique(y)) <= set(scenarios.FAMILIES["ordinal"]["options"]["categories"])
        assert spec["k"] == len(spec["shares"]) and np.isclose(sum(spec["shares"]), 1.0)
    assert min(min(s["shares"]) for s in scenarios.FAMILY_SCENARIOS.values()) == pytest.approx(0.05)


def test_the_same_seed_gives_both_families_the_same_respondents(bench):
    scenarios, _ = bench
    X_censored, _, _ = scenarios.simulate_family("crossing", "censored", 300, 7)
    X_ordinal, _, _ = scenarios.simulate_family("crossing", "ordinal", 300, 7)
    np.testing.assert_array_equal(X_censored, X_ordinal)


def test_gaussian_file_names_are_unchanged(bench):
    _, matrix = bench
    assert matrix.data_stem("base", "gaussian") == "base"
    assert matrix.results_name("trustseg", "gaussian") == "trustseg.jsonl"
    assert matrix.data_stem("base", "ordinal") == "ordinal_base"
    assert matrix.results_name("trustseg", "censored") == "trustseg_censored.jsonl"
