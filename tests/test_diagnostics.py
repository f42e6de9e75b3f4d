"""Degenerate solutions and residual spread: trustseg.model.diagnostics on data built here."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _engine_helpers import simulate_segments
from statsmodels.stats.diagnostic import het_breuschpagan

from trustseg.model.diagnostics import (
    ALL_PREDICTORS,
    RESIDUAL_SPREAD_COLUMNS,
    information_is_singular,
    parse_problem_codes,
    problem_codes,
    problems_phrase,
    residual_spread,
    segment_problems,
)
from trustseg.model.mixture import ClusterwiseRegression

RAW_FLOOR = 1 / 12  # rounding variance of a single integer answer


def raw_single_item_data(n: int = 300, seed: int = 1) -> tuple[pd.DataFrame, pd.Series]:
    """A raw single-item 1-7 outcome regressed on a 1-7 satisfaction score (the mean of three items).

    As on the real surveys of issue 11: most respondents follow a noisy
    rounded line, 30% answer the outcome item with their (integer)
    satisfaction plus a constant (diagonal lines ``y = x + c``, c = -1, 0, 1)
    and 10% give the outcome's lowest answer whatever their satisfaction.
    """
    rng = np.random.default_rng(seed)
    items = np.clip(np.round(rng.normal(4.5, 1.2, size=(n, 3))), 1, 7)
    y = np.clip(np.round(1 + 0.8 * items.mean(axis=1) + rng.normal(0, 0.9, n)), 1, 7)
    on_lines = rng.choice(n, int(0.3 * n), replace=False)
    for shift, part in zip((0, 1, -1), np.array_split(on_lines, 3)):
        answer = rng.integers(1, 8, len(part)).astype(float)
        items[part] = answer[:, None]
        y[part] = np.clip(answer + shift, 1, 7)
    bottom = rng.choice(np.setdiff1d(np.arange(n), on_lines), int(0.1 * n), replace=False)
    y[bottom] = 1.0
    return pd.DataFrame({"satisfaction": items.mean(axis=1)}), pd.Series(y, name="repurchase")


def fit(X, y, k, floor=RAW_FLOOR, n_init=4, **kwargs):
    return ClusterwiseRegression(n_segments=k, n_init=n_init, variance_floor=floor, random_state=k, **kwargs).fit(X, y)


@pytest.fixture(scope="module")
def degenerate():
    """The highest-likelihood solution at K = 4, spurious as it is (the search's admissibility rule off)."""
    X, y = raw_single_item_data()
    return X, y, fit(X, y, 4, admissible_only=False)


def test_information_is_singular_relative_to_its_largest_eigenvalue():
    assert not information_is_singular(np.eye(3))
    assert not information_is_singular(np.diag([1e6, 1.0, 1e-3]))
    assert information_is_singular(np.diag([1.0, 1e-12]))
    assert information_is_singular(np.array([[1.0, 2.0], [2.0, 1.0]]))  # indefinite
    assert information_is_singular(np.array([[1.0, np.nan], [np.nan, 1.0]]))


def test_a_clean_solution_has_no_problem():
    X, y, _ = simulate_segments(400, [0.5, 3.5], [1.0, 0.1], [0.5, 0.5], [0.6, 0.4], seed=3)
    problems = segment_problems(fit(X, y, 2, floor=None), X, y)
    assert problems["problems"].tolist() == ["", ""]
    assert not problems[["variance_floor", "one_answer", "two_ends", "separation",
                         "singular_information"]].any().any()
    assert problem_codes(problems) == ""


def test_floor_one_answer_and_singular_information_are_found(degenerate):
    X, y, model = degenerate
    assert model.problems_  # the spurious solution kept, and its problems said
    problems = segment_problems(model, X, y)
    on_floor = model.sigma_**2 <= RAW_FLOOR * (1 + 1e-3)
    assert on_floor.sum() >= 2  # the diagonal lines and the bottom group sit on the floor
    assert problems["variance_floor"].tolist() == on_floor.tolist()
    # the segment at the bottom of the scale: flat at 1, nearly all of its weight on the lowest answer
    bottom = int(np.argmin(model.intercept_ + model.coef_[:, 0] * 4.5))
    assert problems.loc[bottom, "one_answer"] and problems.loc[bottom, "answer_value"] == 1.0
    assert problems.loc[bottom, "answer_share"] >= 0.9
    assert problems["answer_value"].notna().tolist() == problems["one_answer"].tolist()
    # the same rule as the inference's fallback on a pseudo-inverse
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        inference = model.inference(X, y)
    assert problems["singular_information"].all() == inference.singular_information
    codes = parse_problem_codes(problem_codes(problems))
    assert codes["variance_floor"] == on_floor.sum()
    assert codes["one_answer"] == problems["one_answer"].sum()
    assert "variance_floor" in problems.loc[bottom, "problems"] and "one_answer" in problems.loc[bottom, "problems"]


def test_covariance_never_holds_a_negative_variance(degenerate):
    X, y, model = degenerate
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no sqrt of a negative number anywhere
        warnings.filterwarnings("ignore", message="the observed information is not positive definite")
        inference = model.inference(X, y)
    variances = np.diag(inference.cov)
    assert not (variances <= 0).any()
    undefined = np.isnan(variances)
    assert undefined.any()  # the pseudo-inverse gave some parameters no variance: NaN, not a negative number
    assert np.isnan(inference.cov[undefined]).all() and np.isnan(inference.cov[:, undefined]).all()
    errors = inference.params["std_error"]
    assert (errors.isna() | (errors > 0)).all()


def test_problem_codes_read_back_into_words():
    text = "variance_floor(5 segments);one_answer(1 segment);singular_information"
    assert parse_problem_codes(text) == {"variance_floor": 5, "one_answer": 1, "singular_information": 1}
    assert parse_problem_codes("") == parse_problem_codes(float("nan")) == {}
    assert problems_phrase(text, 6) == (
        "5 of its 6 segments sit on the variance floor, 1 of its 6 segments is (nearly) one answer value of the "
        "outcome, a pile of the answer scale rather than a regression and its observed information is singular, "
        "so its standard errors cannot be trusted"
    )
    assert problems_phrase("variance_floor;two_ends", one_segment=True) == (
        "it sits on the variance floor and it spreads over both ends of the outcome scale rather than along a line"
    )
    assert problems_phrase("separation(2 segments)", 3) == (
        "2 of its 3 segments have answers perfectly predicted (separation), so their coefficients run to infinity"
    )
    assert problems_phrase("") == ""


def _heteroskedastic(n, seed, growth):
    """One segment whose error SD is 0.45 exp(growth (x - 4.3)) (the Monte Carlo design of issue 11)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(1, 7, n)
    y = 1.5 + 0.5 * x + 0.45 * np.exp(growth * (x - 4.3)) * rng.standard_normal(n)
    return pd.DataFrame({"satisfaction": x}), pd.Series(y, name="repurchase")


def test_residual_spread_is_koenkers_test_for_one_segment():
    X, y = _heteroskedastic(400, 5, 0.4)
    model = fit(X, y, 1, floor=None)
    spread = residual_spread(model, X, y)
    assert list(spread.columns) == RESIDUAL_SPREAD_COLUMNS
    row = spread.iloc[0]
    assert row["spread_varies"] and row["variance_slope"] > 0 and row["df"] == 1
    residuals = y - model.intercept_[0] - X["satisfaction"] * model.coef_[0, 0]
    lm, lm_p, _, _ = het_breuschpagan(residuals, np.column_stack([np.ones(len(y)), X]), robust=True)
    assert row["statistic"] == pytest.approx(lm, rel=1e-9) and row["p_value"] == pytest.approx(lm_p, rel=1e-9)
    # survey weights count respondents whatever their scale
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    weighted = ClusterwiseRegression(n_segments=1, n_init=1, random_state=0).fit(X, y, sample_weight=w)
    once = residual_spread(weighted, X, y, w)
    tenfold = residual_spread(weighted, X, y, 10 * w)
    assert once["statistic"].iloc[0] == pytest.approx(tenfold["statistic"].iloc[0], rel=1e-9)
    assert once["n_effective"].iloc[0] == pytest.approx(len(y))


def test_residual_spread_flags_only_the_segment_whose_spread_changes():
    rng = np.random.default_rng(7)
    X1, y1 = _heteroskedastic(350, 8, 0.5)
    x2 = rng.uniform(1, 7, 350)
    y2 = 6.0 - 0.6 * x2 + 0.4 * rng.standard_normal(350)  # constant spread, falling line
    X = pd.concat([X1, pd.DataFrame({"satisfaction": x2})], ignore_index=True)
    y = pd.concat([y1, pd.Series(y2, name="repurchase")], ignore_index=True)
    model = fit(X, y, 2, floor=None)
    spread = residual_spread(model, X, y).set_index("segment")
    rising = 1 if model.coef_[0, 0] > model.coef_[1, 0] else 2  # segment 1 has the steepest slope
    assert spread.loc[rising, "spread_varies"] and spread.loc[rising, "variance_slope"] > 0
    assert not spread.loc[3 - rising, "spread_varies"]


def test_residual_spread_tests_each_predictor_and_all_together():
    X, y, _ = simulate_segments(300, [1.0], [0.6], [0.5], [1.0], seed=11, n_predictors=2)
    spread = residual_spread(fit(X, y, 1, floor=None), X, y, alpha=0.01)
    assert spread["predictor"].tolist() == ["satisfaction", "z1", ALL_PREDICTORS]
    assert spread["df"].tolist() == [1, 1, 2]
    assert np.isnan(spread["variance_slope"].iloc[2])
    assert not spread["spread_varies"].any()  # constant spread
    assert ((spread["p_value"] > 0) & (spread["p_value"] <= 1)).all()


def test_a_pile_at_one_answer_is_set_aside_and_said_in_words():
    """A quarter of the respondents at one answer value of the outcome, unrelated to satisfaction (issue 23): the
    highest solution is that pile as a segment of its own; the search returns an admissible one and says what it
    set aside."""
    from trustseg.model.diagnostics import set_aside_sentence

    rng = np.random.default_rng(0)
    n = 400
    x = np.round(rng.uniform(1, 7, n) * 4) / 4
    y = np.where(rng.random(n) < 0.5, 1 + 0.8 * x, 5.5 - 0.1 * x) + rng.normal(0, 0.6, n)
    y = np.clip(np.round(y * 4) / 4, 1, 7)
    y[rng.random(n) < 0.25] = 1.5
    X, y = pd.DataFrame({"satisfaction": x}), pd.Series(y, name="switching")
    model = fit(X, y, 2, floor=1 / 48, n_init=10)
    assert model.admissible_ and not segment_problems(model, X, y)["one_answer"].any()
    sentence = set_aside_sentence(model)
    assert sentence.startswith("a solution with a log-likelihood ") and "higher put the " in sentence
    assert "who (nearly) all gave the answer 1.5 into a segment of their own; it was set aside as spurious" in sentence
    plain = fit(X, y, 2, floor=1 / 48, n_init=10, admissible_only=False)
    assert plain.loglik_ > model.loglik_ and set_aside_sentence(plain) == ""
