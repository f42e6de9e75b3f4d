import numpy as np
import pandas as pd
import pytest

from trustseg.errors import DataError
from trustseg.model.levels import band_bounds, is_categorical, order_levels
from trustseg.model.membership import bch_weights, classification_error_matrix, membership_model
from trustseg.model.profiles import profile_table


@pytest.fixture
def survey():
    rng = np.random.default_rng(1)
    n = 300
    seg = rng.choice([1, 2, 3], n, p=[0.5, 0.45, 0.05])
    df = pd.DataFrame({
        "gender": np.where(seg == 1, rng.choice(["f", "m"], n, p=[0.8, 0.2]), rng.choice(["f", "m"], n)),
        "age": rng.normal(40, 10, n) + 8 * (seg == 2),
        "const": "x",
        "allna": np.nan,
        "club": rng.choice([1, 2, 3], n, p=[0.8, 0.15, 0.05]),
    })
    df.loc[:5, "age"] = np.nan
    return df, pd.Series(seg, index=df.index)


def test_profile_table_layout_and_values(survey):
    df, seg = survey
    out = profile_table(df, seg, ["gender", "age", "const", "allna", "club"])
    assert list(out.columns)[:4] == ["variable", "kind", "level", "segment"]
    g = out[out.variable == "gender"]
    assert g["kind"].iloc[0] == "categorical" and len(g) == 2 * 3
    # shares within a segment sum to 1 and match a crosstab
    assert np.allclose(g.groupby("segment")["value"].sum(), 1.0)
    ct = pd.crosstab(df["gender"], seg, normalize="columns")
    assert g[(g.level == "f") & (g.segment == 1)]["value"].iloc[0] == pytest.approx(ct.loc["f", 1])
    assert g["p_value"].iloc[0] < 0.01 and g["effect_measure"].iloc[0] == "Cramer's V"
    a = out[out.variable == "age"]
    assert a["kind"].iloc[0] == "numeric" and a["n_missing"].iloc[0] == 6
    assert a[a.segment == 2]["value"].iloc[0] == pytest.approx(df.loc[seg == 2, "age"].mean())
    assert a["test"].iloc[0] == "ANOVA" and a["alt_test"].iloc[0] == "Kruskal-Wallis"
    assert a["p_value"].iloc[0] < 0.001


def test_profile_edge_cases_are_noted(survey):
    df, seg = survey
    out = profile_table(df, seg, ["const", "allna", "club"])
    assert out[out.variable == "const"]["note"].str.contains("single level").all()
    allna = out[out.variable == "allna"]
    assert allna["note"].str.contains("all values missing").all() and (allna["n"] == 0).all()
    club = out[out.variable == "club"]  # 3-valued numeric -> categorical, small expected counts
    assert club["kind"].iloc[0] == "categorical"
    assert club["note"].str.contains("expected counts below 5").all()
    assert 0 < club["alt_p_value"].iloc[0] <= 1
    # deterministic permutation p-value
    again = profile_table(df, seg, ["club"])
    assert again["alt_p_value"].iloc[0] == club["alt_p_value"].iloc[0]
    # every missing test statistic has a note
    assert (out.loc[out["p_value"].isna(), "note"] != "").all()


def test_profile_single_segment_and_posteriors(survey):
    df, _ = survey
    one = profile_table(df, pd.Series(1, index=df.index), ["gender", "age"])
    assert one["note"].str.contains("one segment").all()
    rng = np.random.default_rng(0)
    post = rng.dirichlet([1, 1], size=len(df))
    seg = pd.Series(post.argmax(1) + 1, index=df.index)
    out = profile_table(df, seg, ["age", "gender"], posteriors=post)
    a = out[(out.variable == "age") & (out.segment == 1)]
    ok = df["age"].notna()
    expected = np.average(df.loc[ok, "age"], weights=post[ok.to_numpy(), 0])
    assert a["value"].iloc[0] == pytest.approx(expected)


def test_profile_small_segment_numeric():
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]})
    seg = pd.Series([1, 1, 1, 2, 2, 2, 3])
    out = profile_table(df, seg, ["x"], max_levels=2)
    assert out["note"].str.contains("fewer than 2 respondents").all()
    assert np.isfinite(out["p_value"].iloc[0])


def test_unknown_variable_raises(survey):
    df, seg = survey
    with pytest.raises(DataError, match="nope"):
        profile_table(df, seg, ["nope"])
    with pytest.raises(DataError):
        membership_model(df, np.full((len(df), 2), 0.5), ["nope"])


def test_is_categorical():
    assert is_categorical(pd.Series(["a", "b"]))
    assert is_categorical(pd.Series([0, 1, 1, 0]))
    assert not is_categorical(pd.Series(np.arange(20.0)))
    assert is_categorical(pd.Series([True, False]))


def _simulate_membership(seed, n=2000):
    """Mixture with covariate-dependent membership; posteriors from the y-only model."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    g = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    truth = {2: {"(Intercept)": 0.2, "z": 1.0, "g[b]": 0.8, "g[c]": 0.0},
             3: {"(Intercept)": -0.3, "z": -0.8, "g[b]": 0.0, "g[c]": 0.7}}
    eta = np.zeros((n, 3))
    for k, b in truth.items():
        eta[:, k - 1] = b["(Intercept)"] + b["z"] * z + b["g[b]"] * (g == "b") + b["g[c]"] * (g == "c")
    pr = np.exp(eta)
    pr /= pr.sum(1, keepdims=True)
    cls = (pr.cumsum(1) > rng.random(n)[:, None]).argmax(1)
    mu = np.array([0.0, 2.0, 4.0])
    y = mu[cls] + rng.normal(size=n)
    pi = np.bincount(cls, minlength=3) / n
    lj = np.log(pi) - 0.5 * (y[:, None] - mu) ** 2
    post = np.exp(lj - lj.max(1, keepdims=True))
    post /= post.sum(1, keepdims=True)
    return pd.DataFrame({"z": z, "g": g}), post, truth


def test_bch_recovers_logit_and_beats_naive():
    bias_bch, bias_naive = 0.0, 0.0
    for seed in range(3):
        data, post, truth = _simulate_membership(seed)
        bch = membership_model(data, post, ["z", "g"])
        naive = membership_model(data, post, ["z", "g"], correction="none")
        assert bch.attrs["converged"] and bch.attrs["reference_levels"] == {"g": "a"}
        for (k, term), est, se in zip(zip(bch.segment, bch.term), bch.estimate, bch.std_error):
            assert abs(est - truth[k][term]) < 4 * se + 0.05
            bias_bch += abs(est - truth[k][term])
        for (k, term), est in zip(zip(naive.segment, naive.term), naive.estimate):
            bias_naive += abs(est - truth[k][term])
        # slope of z is attenuated by the naive logit
        nz = naive[(naive.segment == 2) & (naive.term == "z")]["estimate"].iloc[0]
        bz = bch[(bch.segment == 2) & (bch.term == "z")]["estimate"].iloc[0]
        assert abs(bz - 1.0) < abs(nz - 1.0)
    assert bias_bch < 0.6 * bias_naive


def test_bch_weights_identities():
    _, post, _ = _simulate_membership(0, n=500)
    W, D, note = bch_weights(post)
    assert note == ""
    assert np.allclose(D.sum(1), 1.0)
    assert np.allclose(W.sum(1), 1.0)
    # BCH-weighted segment sizes equal the posterior-expected sizes
    assert np.allclose(W.sum(0), post.sum(0), rtol=1e-6)
    assert np.allclose(classification_error_matrix(np.eye(3)[[0, 1, 2, 2]]), np.eye(3))


def test_membership_edge_cases():
    _, post, _ = _simulate_membership(1, n=400)
    rng = np.random.default_rng(2)
    data = pd.DataFrame({"z": rng.normal(size=400), "one": "x", "none": np.nan,
                         "g": rng.choice(["a", "b"], 400)})
    data.loc[:9, "z"] = np.nan
    out = membership_model(data, post, ["z", "one", "none", "g"])
    assert out.attrs["n_dropped"] == 10 and out.attrs["n_used"] == 390
    assert out.attrs["skipped"] == {"one": "single level", "none": "all values missing"}
    skipped = out[out.term.isin(["one", "none"])]
    assert len(skipped) == 4 and skipped["note"].str.startswith("skipped").all()
    assert out[out.term == "(Intercept)"]["note"].str.contains("10 respondent").all()
    fitted = out[~out.term.isin(["one", "none"])]
    assert np.isfinite(fitted[["estimate", "std_error"]].to_numpy()).all()
    assert set(fitted.segment) == {2, 3}
    np.testing.assert_allclose(fitted["odds_ratio"], np.exp(fitted["estimate"]))
    single = membership_model(data, np.ones((400, 1)), ["z"])
    assert single.empty and "one segment" in single.attrs["notes"][0]


# ---------------------------------------------------------------- ordered categories


def test_order_levels_recognises_numeric_bands():
    assert order_levels([">100k", "30-60k", "<30k", "60-100k"]) == ["<30k", "30-60k", "60-100k", ">100k"]
    assert order_levels(["65+", "25-34", "Under 18", "18-24"]) == ["Under 18", "18-24", "25-34", "65+"]
    assert order_levels(["$60,000 or more", "Less than $30,000", "$30,000-$59,999"]) == [
        "Less than $30,000", "$30,000-$59,999", "$60,000 or more"]
    assert order_levels(["5千-1万", "1万以上", "5千以下"]) == ["5千以下", "5千-1万", "1万以上"]
    assert order_levels(["500-1k", "5k+", "<500", "1k-5k"]) == ["<500", "500-1k", "1k-5k", "5k+"]
    assert order_levels([10, 2, 1]) == [1, 2, 10]
    # Text that is not all numbers falls back to alphabetical order.
    assert order_levels(["Social", "Full", "Junior 18"]) == ["Full", "Junior 18", "Social"]
    assert band_bounds("Female") is None and band_bounds("30-60k") == (30000.0, 60000.0)


def test_order_levels_takes_a_given_order_first():
    # The order given wins over the natural one; unlisted levels follow; codes match their text.
    assert order_levels(["High", "Low", "Medium", "n/a"], ["Low", "Medium", "High"]) == ["Low", "Medium", "High", "n/a"]
    assert order_levels([1.0, 2.0, 3.0], ["3", 1]) == [3.0, 1.0, 2.0]


def test_golf_example_bands_are_in_order():
    from trustseg.survey.simulate import simulate_golf_survey

    survey, _ = simulate_golf_survey(2010, n_members=200)
    seg = pd.Series(np.arange(len(survey)) % 2 + 1, index=survey.index)
    out = profile_table(survey, seg, ["age_band", "income_band"])
    levels = out.drop_duplicates(["variable", "level"]).groupby("variable", sort=False)["level"].apply(list)
    assert levels["income_band"] == ["<30k", "30-60k", "60-100k", ">100k"]
    assert levels["age_band"] == ["18-34", "35-49", "50-64", "65+"]


def test_profile_table_and_membership_follow_level_orders(survey):
    df, seg = survey
    rng = np.random.default_rng(4)
    df = df.assign(tier=rng.choice(["High", "Low", "Medium"], len(df)), code=rng.choice([1.0, 2.0, 3.0], len(df)))
    natural = profile_table(df, seg, ["tier", "code"])
    assert list(dict.fromkeys(natural.loc[natural.variable == "tier", "level"])) == ["High", "Low", "Medium"]
    assert list(dict.fromkeys(natural.loc[natural.variable == "code", "level"])) == ["1", "2", "3"]  # not "1.0"
    orders = {"tier": ["Low", "Medium", "High"], "code": ["3", "2", "1"]}
    out = profile_table(df, seg, ["tier", "code"], level_orders=orders)
    assert list(dict.fromkeys(out.loc[out.variable == "tier", "level"])) == ["Low", "Medium", "High"]
    assert list(dict.fromkeys(out.loc[out.variable == "code", "level"])) == ["3", "2", "1"]
    post = np.eye(3)[seg.to_numpy() - 1] * 0.9 + 0.1 / 3
    terms = membership_model(df, post, ["tier"], level_orders=orders)["term"]
    tier_terms = [t for t in dict.fromkeys(terms) if t.startswith("tier[")]
    reference = membership_model(df, post, ["tier"], level_orders=orders).attrs["reference_levels"]["tier"]
    assert tier_terms == [f"tier[{lv}]" for lv in orders["tier"] if lv != reference]


def _profile_stage_files(tmp_path, income):
    """clean.csv and assignments.csv for the profile stage, with an income band column."""
    n = len(income)
    rng = np.random.default_rng(0)
    clean = pd.DataFrame({"respondent_id": [f"r{i}" for i in range(n)], "sat": rng.uniform(1, 7, n),
                          "rep": rng.uniform(1, 7, n), "income": income})
    seg = np.arange(n) % 2 + 1
    assignments = pd.DataFrame({"respondent_id": clean["respondent_id"], "segment": seg,
                                "posterior_1": np.where(seg == 1, 0.9, 0.1),
                                "posterior_2": np.where(seg == 1, 0.1, 0.9)})
    clean.to_csv(tmp_path / "clean.csv", index=False)
    assignments.to_csv(tmp_path / "assignments.csv", index=False)
    return {"profiles": str(tmp_path / "profiles.csv"), "membership": str(tmp_path / "membership.csv")}


def _run_profile_stage(tmp_path, outputs, **kwargs):
    from trustseg.stages.profiles import profiles

    profiles(str(tmp_path / "clean.csv"), str(tmp_path / "assignments.csv"), "a", outputs, variables=["income"],
             weight_column=None, seed=0, outcome="rep", predictors=["sat"], **kwargs)
    table = pd.read_csv(outputs["profiles"], keep_default_na=False)
    return list(dict.fromkeys(table["level"]))


def test_profile_stage_orders_categories_by_value_labels_then_config(tmp_path, caplog):
    import pyreadstat

    from trustseg.errors import ConfigError

    # Labels whose codes order them differently from the alphabet and from any band reading.
    labels = {1.0: "Low", 2.0: "Medium", 3.0: "High"}
    codes = np.tile([1.0, 2.0, 3.0], 20)
    raw = tmp_path / "survey.sav"
    pyreadstat.write_sav(pd.DataFrame({"income": codes}), str(raw), variable_value_labels={"income": labels})
    outputs = _profile_stage_files(tmp_path, [labels[c] for c in codes])
    assert _run_profile_stage(tmp_path, outputs) == ["High", "Low", "Medium"]  # a CSV alone: alphabetical
    assert _run_profile_stage(tmp_path, outputs, data_path=str(raw)) == ["Low", "Medium", "High"]
    # The config's profile_order wins; a level it leaves out follows, with a warning naming the key.
    with caplog.at_level("WARNING", logger="trustseg"):
        got = _run_profile_stage(tmp_path, outputs, data_path=str(raw), profile_order={"income": ["High", "Lo"]})
    assert got == ["High", "Low", "Medium"]
    assert "profile_order.income" in caplog.text and "'Low', 'Medium'" in caplog.text and "'Lo'" in caplog.text
    with pytest.raises(ConfigError, match="profile_order.*'age'.*not among the profile variables"):
        _run_profile_stage(tmp_path, outputs, profile_order={"age": ["18-34"]})


def test_profile_stage_reads_declared_codes_as_categories(tmp_path):
    """An occupation stored as codes 1-12 is a category per code when the config says so, not a mean code."""
    codes = np.tile(np.arange(1, 13), 10).astype(float)
    outputs = _profile_stage_files(tmp_path, codes)
    _run_profile_stage(tmp_path, outputs)
    assert set(pd.read_csv(outputs["profiles"])["kind"]) == {"numeric"}
    levels = _run_profile_stage(tmp_path, outputs, profile_categorical=["income"])
    assert set(pd.read_csv(outputs["profiles"])["kind"]) == {"categorical"}
    assert levels == list(range(1, 13))
    membership = pd.read_csv(outputs["membership"])
    assert len(membership.query("term.str.startswith('income[')")) == 11


def test_membership_sets_aside_a_level_that_separates_the_segments():
    """A level held by a few respondents of one segment only has no odds ratio; it is said so, not printed as 1e9."""
    rng = np.random.default_rng(3)
    n = 400
    seg = rng.integers(0, 2, n)
    g = rng.choice(["a", "b"], n).astype(object)
    g[np.flatnonzero(seg == 1)[:3]] = "rare"  # three respondents, all in segment 2
    post = np.where(seg[:, None] == np.arange(2), 0.97, 0.03)
    out = membership_model(pd.DataFrame({"g": g}), post, ["g"])
    rare = out.query("term == 'g[rare]'").iloc[0]
    assert np.isnan(rare["estimate"]) and np.isnan(rare["odds_ratio"]) and "separates" in rare["note"]
    assert np.isfinite(out.query("term == 'g[a]'")["estimate"]).all()
