"""Does the estimator find the optimum, and does it say honestly how often it did?

The scenarios are the ones that defeated the old random-partition emEM:
satisfaction as the mean of four 7-point items (25 distinct values), one
rising segment and two flat ones, and K = 2 fitted to three-segment data.
Each "best known" solution is the best over a thorough fit (many starts of
every kind) and fits started from the true (or merged true) parameters.
"""

from __future__ import annotations

import numpy as np
import pytest

from trustseg.model.em import RunState, cannot_catch_up, from_partition, make_problem, run_em
from trustseg.model.families import GaussianFamily
from trustseg.model.mixture import ClusterwiseRegression
from trustseg.model.search import same_solution
from trustseg.model.selection import criteria_table

RISING_AND_FLAT = {
    "intercept": np.array([0.5, 5.5, 3.0]),
    "slope": np.array([0.9, 0.0, 0.0]),
    "sigma": np.array([0.7, 0.6, 0.6]),
    "weights": np.array([0.45, 0.30, 0.25]),
}


def likert_mean_survey(n, seed, truth=RISING_AND_FLAT):
    """Satisfaction = mean of four correlated 7-point items; outcome continuous."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(4.0, 1.3, size=n)
    items = np.clip(np.rint(latent[:, None] + rng.normal(0.0, 0.8, size=(n, 4))), 1, 7)
    x = items.mean(axis=1)
    z = rng.choice(len(truth["weights"]), size=n, p=truth["weights"])
    y = truth["intercept"][z] + truth["slope"][z] * x + truth["sigma"][z] * rng.normal(size=n)
    return x[:, None], y


def as_start(truth):
    return {"intercept": truth["intercept"], "coef": truth["slope"][:, None], "sigma": truth["sigma"],
            "weights": truth["weights"]}


def merged_starts(truth):
    """K = 2 starts from the three true segments with one pair merged (share-weighted)."""
    starts = []
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        keep = [m for m in range(3) if m not in (i, j)][0]
        w = truth["weights"][[i, j]]
        merged = {key: float(w @ truth[key][[i, j]] / w.sum()) for key in ("intercept", "slope", "sigma")}
        starts.append({
            "intercept": [merged["intercept"], truth["intercept"][keep]],
            "coef": [[merged["slope"]], [truth["slope"][keep]]],
            "sigma": [merged["sigma"] * 1.5, truth["sigma"][keep]],
            "weights": [w.sum(), truth["weights"][keep]],
        })
    return starts


_BEST = {}


def best_known(X, y, k, starts):
    key = (len(y), float(y.sum()), k)
    if key in _BEST:
        return _BEST[key]
    thorough = ClusterwiseRegression(n_segments=k, n_init=60, random_state=12345).fit(X, y)
    given = ClusterwiseRegression(n_segments=k, n_init=0, init_params=starts).fit(X, y)
    _BEST[key] = max(thorough.loglik_, given.loglik_)
    return _BEST[key]


@pytest.mark.parametrize("random_state", [0, 1, 2, 3])
def test_default_fit_reaches_the_optimum_on_likert_mean_data(random_state):
    X, y = likert_mean_survey(1500, seed=1)
    best = best_known(X, y, 3, [as_start(RISING_AND_FLAT)])
    model = ClusterwiseRegression(n_segments=3, random_state=random_state).fit(X, y)
    assert model.loglik_ == pytest.approx(best, rel=1e-8)
    # one rising and two flat segments, as simulated
    assert model.coef_[0, 0] == pytest.approx(0.9, abs=0.1)
    assert np.all(np.abs(model.coef_[1:, 0]) < 0.15)
    assert model.converged_ and model.optimum_replicated_
    assert model.n_best_starts_ >= len(model.start_logliks_) // 2


@pytest.mark.parametrize("data_seed", [1, 2, 3])
def test_two_segments_fitted_to_three_find_the_best_merge(data_seed):
    X, y = likert_mean_survey(300, seed=data_seed)
    best = best_known(X, y, 2, merged_starts(RISING_AND_FLAT))
    model = ClusterwiseRegression(n_segments=2, random_state=0).fit(X, y)
    assert model.loglik_ >= best - 1e-8 * abs(best)


def solved(problem, params):
    state = RunState(params)
    state.loglik = problem.loglik(params)
    return state


def test_same_solution_ignores_segment_order_but_not_parameters():
    X, y = likert_mean_survey(500, seed=4)
    problem = make_problem(GaussianFamily(), X, y, variance_floor=1e-6)
    scale = problem.family.solution_scale(problem.design, problem.y, problem.w)
    model = ClusterwiseRegression(n_segments=3, n_init=3, random_state=0).fit(X, y)
    labels = model.predict(X, y) - 1
    state = solved(problem, from_partition(problem, labels, 3).params)
    order = np.array([2, 0, 1])
    params = state.params
    permuted = solved(problem, type(params)(params.weights[order], params.beta[order], params.extra[order]))
    assert same_solution(state, permuted, scale)
    moved = solved(problem, type(params)(params.weights, params.beta + np.array([[0.0, 0.01]]), params.extra))
    # the same log-likelihood to 1e-6 would not be enough: the slopes differ
    moved.loglik = state.loglik
    assert not same_solution(state, moved, scale)


def test_squarem_is_monotone_and_reaches_the_em_optimum():
    X, y = likert_mean_survey(2000, seed=5)
    problem = make_problem(GaussianFamily(), X, y, variance_floor=1e-4, min_share=0.01, tol=1e-10, max_iter=20000)
    labels = np.random.default_rng(0).integers(0, 3, size=len(y))
    plain = run_em(problem, from_partition(problem, labels, 3), accelerate=False)
    accelerated = run_em(problem, from_partition(problem, labels, 3))
    assert accelerated.converged and plain.converged
    assert accelerated.loglik == pytest.approx(plain.loglik, rel=1e-7)
    assert accelerated.n_iter < plain.n_iter / 2
    # monotone: each cycle's log-likelihood is at least the previous one
    trace = []
    state = from_partition(problem, labels, 3)
    for _ in range(30):
        state = run_em(problem, state, max_iter=state.n_iter + 3)
        trace.append(state.loglik)
    assert np.all(np.diff(trace) >= -1e-9 * abs(trace[-1]))


def test_pruning_only_stops_runs_thatcannot_catch_up():
    # a run converging at -1000 (steps shrinking by half) cannot reach -900
    converging = [-1010.0, -1005.0, -1002.5, -1001.25, -1000.625]
    assert cannot_catch_up(converging, target=-900.0)
    # but it may still reach -1000.5: never pruned
    assert not cannot_catch_up(converging, target=-1000.5)
    # a run still climbing fast is not pruned, nor one without enough history
    assert not cannot_catch_up([-2000.0, -1800.0, -1650.0, -1540.0], target=-1000.0)
    assert not cannot_catch_up([-1010.0, -1005.0], target=-900.0)


def test_every_start_is_recorded_and_reaching_the_best_means_the_same_parameters():
    X, y = likert_mean_survey(1500, seed=1)
    model = ClusterwiseRegression(n_segments=3, n_init=9, random_state=3).fit(X, y)
    assert len(model.start_kinds_) == len(model.start_logliks_) == len(model.start_stop_reasons_) == 9
    assert set(model.start_kinds_) == {"split", "lines", "kmeans"}
    assert set(model.start_stop_reasons_) <= {"converged", "pruned", "iteration cap"}
    reached = model.start_reached_best_
    assert reached.sum() == model.n_best_starts_
    assert np.allclose(model.start_logliks_[reached], model.loglik_, rtol=1e-6)
    # a start that did not reach the best solution is below it
    assert np.all(model.start_logliks_[~reached] < model.loglik_ + 1e-6 * abs(model.loglik_))


def test_same_seed_same_fit_and_a_different_seed_the_same_optimum():
    X, y = likert_mean_survey(1200, seed=6)
    a = ClusterwiseRegression(n_segments=3, n_init=6, random_state=11).fit(X, y)
    b = ClusterwiseRegression(n_segments=3, n_init=6, random_state=11).fit(X, y)
    c = ClusterwiseRegression(n_segments=3, n_init=6, random_state=12).fit(X, y)
    assert np.array_equal(a.start_logliks_, b.start_logliks_) and np.array_equal(a.coef_, b.coef_)
    assert c.loglik_ == pytest.approx(a.loglik_, rel=1e-9)


def test_a_fit_stopped_at_the_iteration_cap_says_so():
    X, y = likert_mean_survey(800, seed=7)
    with pytest.warns(RuntimeWarning, match="max_iter"):
        model = ClusterwiseRegression(n_segments=3, n_init=2, max_iter=3, random_state=0).fit(X, y)
    assert not model.converged_
    row = criteria_table([model], X, y).iloc[0]
    assert not row["converged"]
    with pytest.warns(RuntimeWarning):  # no maximum: the information is not positive definite
        summary = model.inference(X, y).summary().as_text()
    assert "NO: stopped" in summary


def test_with_a_search_subsample_starts_that_end_at_the_chosen_optimum_count_as_reaching_it():
    # Crossing lines: on a 1,500-respondent search sample two near-tied optima can
    # swap rank, so two distinct search solutions may refine to one optimum on all
    # respondents.  Every start counted must end there, and every start that ends
    # there must be counted.
    crossing = {"intercept": np.array([1.0, 6.0, 3.5]), "slope": np.array([0.8, -0.5, 0.1]),
                "sigma": np.array([0.9, 0.9, 0.9]), "weights": np.array([0.45, 0.30, 0.25])}
    X, y = likert_mean_survey(8000, seed=2, truth=crossing)
    model = ClusterwiseRegression(n_segments=3, n_init=12, search_subsample=1500, random_state=1).fit(X, y)
    at_chosen = model.start_refined_ & np.isclose(model.start_logliks_, model.loglik_, rtol=1e-9, atol=0)
    assert np.array_equal(model.start_reached_best_, at_chosen)
    assert model.n_best_starts_ == at_chosen.sum() >= 2


def test_a_search_subsample_optimum_in_a_worse_full_data_basin_is_escaped_on_all_respondents():
    # Equal slopes, levels 2 SD apart: the optima are close, and here the
    # 2,000-respondent search sample's optimum refines to a full-data local
    # optimum 0.27 below the one a search on all respondents finds.
    levels = {"intercept": np.array([0.5, 1.7, 2.9]), "slope": np.array([0.5, 0.5, 0.5]),
              "sigma": np.array([0.6, 0.6, 0.6]), "weights": np.array([0.45, 0.30, 0.25])}
    X, y = likert_mean_survey(20000, seed=3, truth=levels)
    on_all = ClusterwiseRegression(n_segments=3, n_init=20, search_subsample=10**9, random_state=0).fit(X, y)
    searched = ClusterwiseRegression(n_segments=3, n_init=10, search_subsample=2000, random_state=0).fit(X, y)
    assert searched.loglik_ == pytest.approx(on_all.loglik_, rel=1e-9)


def test_a_segment_removed_on_the_step_that_converges_leaves_a_consistent_state(monkeypatch):
    # Found on a 50,000-respondent bootstrap refit: the step that met the
    # convergence test also removed a segment, and restoring the parameters from
    # before the step paired K + 1 segments with K labels.
    import trustseg.model.em as em

    X, y = likert_mean_survey(1500, seed=2)
    problem = make_problem(GaussianFamily(), X, y, variance_floor=1e-4, min_share=0.01, tol=1e-6, max_iter=5000)
    labels = np.random.default_rng(0).integers(0, 3, size=len(y))
    converged = run_em(problem, from_partition(problem, labels, 3))
    assert converged.converged
    real = em.degenerate_components
    calls = []

    def last_segment_degenerate(w, resp, min_share, min_respondents):
        # from the converged state, steps 1-3 are one SQUAREM cycle; step 4, the
        # next cycle's first, meets the convergence test and removes segment 3
        degenerate, reasons = real(w, resp, min_share, min_respondents)
        calls.append(resp.shape[1])
        if len(calls) == 4 and resp.shape[1] == 3:
            degenerate = np.array([False, False, True])
            reasons = {2: {"reason": "planted"}}
        return degenerate, reasons

    monkeypatch.setattr(em, "degenerate_components", last_segment_degenerate)
    state = run_em(problem, converged, max_iter=converged.n_iter + 5000)
    assert len(calls) > 4
    assert len(state.labels) == len(state.params.weights) == state.params.beta.shape[0] == 2
    assert state.converged
