import logging
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp

import trustseg.model.bootstrap as bs
from trustseg.model.bootstrap import (
    REPLICATE_COLUMNS,
    SUMMARY_COLUMNS,
    ari_summary,
    bootstrap_replicates,
    lr_test,
    lr_test_seed,
    summarise_bootstrap,
)
from trustseg.model.families import GaussianFamily
from trustseg.model.likelihood import log_joint
from trustseg.model.mixture import ClusterwiseRegression
from trustseg.model.params import MixtureParams
from trustseg.model.persistence import model_from_dict, model_to_dict

# ----------------------------------------------------------------------------
# engine-free parts
# ----------------------------------------------------------------------------

TRUE = {
    "intercept": np.array([0.5, 5.5]),
    "coef": np.array([[0.9], [0.0]]),
    "sigma": np.array([0.5, 0.5]),
    "weights": np.array([0.55, 0.45]),
}


def _two_segments(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(1, 7, n)
    z = (rng.random(n) < TRUE["weights"][1]).astype(int)
    y = TRUE["intercept"][z] + TRUE["coef"][z, 0] * x + TRUE["sigma"][z] * rng.standard_normal(n)
    return pd.DataFrame({"satisfaction": x}), pd.Series(y, name="repurchase")


def test_seeds_are_stable_and_distinct():
    assert lr_test_seed(2010, 2) == lr_test_seed(2010, 2)
    assert len({lr_test_seed(2010, k) for k in range(1, 7)}) == 6
    a = bs.replicate_rng(5, 3).integers(0, 100, 10)
    b = bs.replicate_rng(5, 3).integers(0, 100, 10)
    assert np.array_equal(a, b)


def test_warm_start_runs_the_engine_and_drops_degenerate():
    X, y = _two_segments(400)
    start = {k: v.copy() for k, v in TRUE.items()}
    start["intercept"] = start["intercept"] + 0.3
    model = ClusterwiseRegression(n_segments=2, n_init=0, init_params=start).fit(X, y)
    assert model.converged_ and model.start_kinds_ == ["given"]
    assert np.allclose(model.coef_.ravel(), [0.9, 0.0], atol=0.08)
    # the warm start reaches the same optimum as the random starts, Newton finish included
    random = ClusterwiseRegression(n_segments=2, n_init=5).fit(X, y)
    assert model.loglik_ == pytest.approx(random.loglik_, rel=1e-9)
    family = GaussianFamily()
    start_loglik = logsumexp(log_joint(family, family.design(X.to_numpy()), y.to_numpy(),
                                       MixtureParams.coerce(start, family, 1)), axis=1).sum()
    assert model.loglik_ > start_loglik
    # a third segment far from the data dies out and is removed
    three = {"intercept": np.r_[TRUE["intercept"], 40.0], "coef": np.r_[TRUE["coef"], [[0.0]]],
             "sigma": np.r_[TRUE["sigma"], 0.5], "weights": np.array([0.5, 0.4, 0.1])}
    with pytest.warns(RuntimeWarning, match="degenerate"):
        model3 = ClusterwiseRegression(n_segments=3, n_init=0, init_params=three).fit(X, y)
    assert model3.n_segments_ == 2 and model3.removed_segments_[0]["in_final"]


def test_matching_is_not_positional():
    def segments(params):  # the fitted attributes _standardised reads
        return SimpleNamespace(intercept_=params["intercept"], coef_=params["coef"], sigma_=params["sigma"],
                               extra_=np.log(params["sigma"])[:, None])

    ref = segments(TRUE)
    boot = segments({k: v[::-1].copy() for k, v in TRUE.items()})
    mx, sx, sy = np.array([4.0]), np.array([1.7]), 2.5
    pairs, cost = bs._match(bs._standardised(ref, mx, sx, sy), bs._standardised(boot, mx, sx, sy),
                            None, "params")
    assert pairs == {0: 1, 1: 0}
    jac = np.array([[0.1, 0.9], [0.8, 0.2]])
    pairs, _ = bs._match(None, None, jac, "posteriors")
    assert pairs == {0: 1, 1: 0}


def _fake_replicates():
    rows = []
    rng = np.random.default_rng(0)
    for b in range(20):
        for seg in (1, 2):
            lost = seg == 2 and b < 4
            jac = 0.3 if (seg == 2 and b in (4, 5)) else 0.9
            for term, centre in (("(Intercept)", seg * 1.0), ("x", seg * 0.5)):
                rows.append(dict(replicate=b, segment=seg, term=term,
                                 estimate=np.nan if lost else centre + rng.normal(0, 0.1),
                                 share=np.nan if lost else 0.5 + 0.01 * (b - 10), sigma=np.nan if lost else 1.0,
                                 loglik=-100.0, ari=0.8 + 0.01 * b, matched_cost=0.0,
                                 jaccard=np.nan if lost else jac, lost=lost, n_segments=1 if lost else 2,
                                 converged=True, note=""))
    return pd.DataFrame(rows, columns=REPLICATE_COLUMNS)


def test_summarise_bootstrap_on_known_replicates():
    reps = _fake_replicates()
    ref = pd.DataFrame({"segment": [1, 1, 2, 2], "term": ["(Intercept)", "x"] * 2,
                        "estimate": [1.0, 0.5, 2.0, 1.0], "share": [0.5, 0.5, 0.5, 0.5]})
    s = summarise_bootstrap(reps, ref, alpha=0.1)
    assert list(s.columns) == SUMMARY_COLUMNS
    assert s[["segment", "term"]].values.tolist() == [[1, "(Intercept)"], [1, "x"], [2, "(Intercept)"], [2, "x"]]
    seg1 = s[s.segment == 1]
    assert (seg1["reappearance"] == 1.0).all() and (seg1["n_replicates"] == 20).all()
    seg2 = s[s.segment == 2].iloc[0]
    assert seg2["n_lost"] == 4 and seg2["n_replicates"] == 16
    assert seg2["reappearance"] == pytest.approx(14 / 20)  # 4 lost, 2 with low overlap
    assert "lost in 4 of 20" in seg2["note"]
    vals = reps[(reps.segment == 1) & (reps.term == "x")]["estimate"]
    row = s[(s.segment == 1) & (s.term == "x")].iloc[0]
    assert row["ci_low"] == pytest.approx(np.quantile(vals, 0.05))
    assert row["ci_high"] == pytest.approx(np.quantile(vals, 0.95))
    assert row["boot_se"] == pytest.approx(vals.std(ddof=1))
    assert row["estimate"] == 0.5 and row["share"] == 0.5
    assert row["share_ci_low"] < row["share_boot_mean"] < row["share_ci_high"]
    ari = s.attrs["ari_summary"]
    assert ari["median"] == pytest.approx(np.median(0.8 + 0.01 * np.arange(20)))
    assert ari_summary(reps)["n_replicates"].iloc[0] == 20


def test_summarise_empty():
    s = summarise_bootstrap(pd.DataFrame(columns=REPLICATE_COLUMNS),
                            pd.DataFrame({"segment": [1], "term": ["x"], "estimate": [1.0]}))
    assert s.empty and list(s.columns) == SUMMARY_COLUMNS


# ----------------------------------------------------------------------------
# with the engine
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted():
    from trustseg.model.mixture import ClusterwiseRegression

    X, y = _two_segments(240, seed=1)
    m1 = ClusterwiseRegression(n_segments=1, n_init=1, random_state=0, max_iter=200).fit(X, y)
    m2 = ClusterwiseRegression(n_segments=2, n_init=4, random_state=0, max_iter=200).fit(X, y)
    return X, y, m1, m2


def test_bootstrap_layout_recovery_and_chunking(fitted):
    X, y, _, m2 = fitted
    full = bootstrap_replicates(X, y, m2, range(4), seed=7, n_init=1)
    assert list(full.columns) == REPLICATE_COLUMNS
    assert len(full) == 4 * 2 * 2
    assert set(full.term) == {"(Intercept)", "satisfaction"}
    assert not full["lost"].any()
    chunks = pd.concat([bootstrap_replicates(X, y, m2, range(0, 2), seed=7, n_init=1),
                        bootstrap_replicates(X, y, m2, [2, 3], seed=7, n_init=1)], ignore_index=True)
    pd.testing.assert_frame_equal(full, chunks)
    again = bootstrap_replicates(X, y, m2, [3], seed=7, n_init=1)
    pd.testing.assert_frame_equal(full[full.replicate == 3].reset_index(drop=True), again)
    other = bootstrap_replicates(X, y, m2, [3], seed=8, n_init=1)
    assert not np.allclose(other["estimate"], again["estimate"])
    # the segments come back where they were and the partition is stable
    slopes = full[full.term == "satisfaction"].groupby("segment")["estimate"].mean()
    assert slopes[1] == pytest.approx(m2.coef_[0, 0], abs=0.1)
    assert slopes[2] == pytest.approx(m2.coef_[1, 0], abs=0.1)
    assert (full["ari"] > 0.5).all() and (full["jaccard"] > 0.7).all()
    ref = pd.DataFrame({"segment": [1, 1, 2, 2], "term": ["(Intercept)", "satisfaction"] * 2,
                        "estimate": np.c_[m2.intercept_, m2.coef_].ravel(), "share": np.repeat(m2.weights_, 2)})
    s = summarise_bootstrap(full, ref)
    assert (s["reappearance"] == 1.0).all()
    assert (s["ci_low"] <= s["ci_high"]).all()


def test_bootstrap_matches_a_reordered_reference(fitted):
    X, y, _, m2 = fitted

    d = model_to_dict(m2)
    for key in ("intercept", "coef", "sigma", "weights", "extra"):
        d[key] = d[key][::-1]
    flipped = model_from_dict(d)
    reps = bootstrap_replicates(X, y, flipped, range(2), seed=7, n_init=1, match="posteriors")
    slopes = reps[reps.term == "satisfaction"].groupby("segment")["estimate"].mean()
    assert slopes[1] == pytest.approx(flipped.coef_[0, 0], abs=0.1)  # the flat segment, now labelled 1
    assert slopes[2] == pytest.approx(flipped.coef_[1, 0], abs=0.1)


def test_lost_and_failed_replicates_are_recorded(fitted, monkeypatch):
    X, y, _, m2 = fitted
    one = ClusterwiseRegression(n_segments=1, n_init=1).fit(X, y)
    monkeypatch.setattr(bs, "_refit", lambda *a, **k: (one, ""))
    reps = bootstrap_replicates(X, y, m2, [0], seed=1, n_init=1)
    assert reps.groupby("segment")["lost"].all().tolist() == [False, True]
    lost = reps[reps.lost]
    assert lost["estimate"].isna().all() and lost["note"].str.contains("kept 1 of 2").all()
    monkeypatch.setattr(bs, "_refit", lambda *a, **k: (None, "boom"))
    failed = bootstrap_replicates(X, y, m2, [0, 1], seed=1, n_init=1)
    assert failed["lost"].all() and (failed["note"] == "boom").all()
    assert ari_summary(failed)["n_failed"].iloc[0] == 2


def test_bootstrap_logs_progress(fitted, caplog):
    X, y, _, m2 = fitted
    with caplog.at_level(logging.INFO, logger="trustseg"):
        bootstrap_replicates(X, y, m2, range(2), seed=3, n_init=1, sample_weight=np.full(len(y), 2.0))
    assert any("left" in r.getMessage() for r in caplog.records)


def test_lr_test_rejects_one_segment_and_is_reproducible(fitted):
    X, y, m1, m2 = fitted
    seed = lr_test_seed(2010, 1)
    res = lr_test(X, y, m1, m2, n_replicates=3, seed=seed, n_init=1)
    assert res["statistic"] == pytest.approx(2 * (m2.loglik_ - m1.loglik_))
    assert res["n_replicates"] == 3 and res["n_failed"] == 0
    assert res["p_value"] == pytest.approx(1 / 4)  # the observed LR exceeds every null replicate
    assert all(v >= 0 for v in res["replicate_statistics"])
    import json
    json.dumps(res)
    again = lr_test(X, y, m1, m2, n_replicates=3, seed=seed, n_init=1)
    np.testing.assert_array_equal(res["replicate_statistics"], again["replicate_statistics"])


def test_summarise_after_csv_round_trip(tmp_path):
    reps = _fake_replicates()
    path = tmp_path / "reps.csv"
    reps.to_csv(path, index=False)
    back = pd.read_csv(path)
    back["lost"] = back["lost"].astype(str)  # as text, the worst case
    ref = pd.DataFrame({"segment": [1, 1, 2, 2], "term": ["(Intercept)", "x"] * 2,
                        "estimate": [1.0, 0.5, 2.0, 1.0]})
    a = summarise_bootstrap(reps, ref)
    b = summarise_bootstrap(back, ref)
    pd.testing.assert_frame_equal(a.drop(columns="note"), b.drop(columns="note"), check_exact=False)
