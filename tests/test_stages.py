"""Stage functions called by the workflow, run directly on small data."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_diagnostics import raw_single_item_data

from trustseg.config import validate_config
from trustseg.errors import DataError
from trustseg.report.results import load_settings
from trustseg.stages import cleaning, common, evidence
from trustseg.stages import fit as fit_stage
from trustseg.stages.segments import record_settings
from trustseg.survey.simulate import simulate_golf_survey, write_golf_survey

REPO = Path(__file__).resolve().parents[1]


def test_small_simulated_survey_plants_what_fits():
    survey, truth = simulate_golf_survey(2010, n_members=40)
    assert len(truth) == 40 and len(survey) >= 40


def test_bundled_survey_is_reproducible_byte_for_byte(tmp_path):
    survey, truth = write_golf_survey(tmp_path, seed=2010)
    assert filecmp.cmp(survey, REPO / "resources" / "golf_survey.csv", shallow=False)
    assert filecmp.cmp(truth, REPO / "resources" / "golf_survey_truth.csv", shallow=False)


def test_simulated_survey_has_the_documented_design():
    survey, truth = simulate_golf_survey(2010)
    assert len(survey) == 1206 and survey["respondent_id"].duplicated().sum() == 6
    assert len(truth) == 1200
    shares = truth["segment"].value_counts(normalize=True).sort_index()
    assert np.allclose(shares, [385 / 1200, 429 / 1200, 386 / 1200], atol=1e-9)
    assert (truth["data_quality"] == "straightliner").sum() == 24
    assert survey["comment"].str.contains("@example.com", na=False).sum() > 50
    # membership depends on demographics: full members are loyal more often
    merged = survey.drop_duplicates("respondent_id").merge(truth, on="respondent_id")
    loyal = merged.groupby("membership_type")["segment"].apply(lambda s: (s == 2).mean())
    assert loyal["Full"] > loyal["Corporate"] + 0.15


def test_simulated_survey_follows_the_trust_chain():
    # the truth holds the latent scores; in them each segment's lines are those of resources/README.md
    _, truth = simulate_golf_survey(2010)
    lines = {}
    for segment, rows in truth.groupby("segment"):
        s, trust, rep = (rows[f"{c}_latent"].to_numpy() for c in ("satisfaction", "trust", "repurchase"))
        ones = np.ones_like(s)
        trust_line = np.linalg.lstsq(np.c_[ones, s], trust, rcond=None)[0]
        rep_line = np.linalg.lstsq(np.c_[ones, s, trust], rep, rcond=None)[0]
        lines[segment] = np.r_[trust_line, rep_line]
    # trust-building: trust rises, repurchase follows trust, no direct effect of satisfaction
    assert np.allclose(lines[1][[1, 3, 4]], [0.90, 0.00, 1.10], atol=0.1)
    # loyal regardless: both flat
    assert np.allclose(lines[2][[1, 3, 4]], [0.00, 0.00, 0.00], atol=0.1)
    # satisfied without trust: trust flat, repurchase rises with satisfaction directly
    assert np.allclose(lines[3][[1, 3, 4]], [0.00, 1.00, 0.00], atol=0.15)


def test_derived_seeds_are_stable_and_distinct():
    assert common.derive_seed(2010, "a", "fit", 3) == common.derive_seed(2010, "a", "fit", 3)
    seeds = {common.derive_seed(2010, name, "fit", k) for name in ("a", "b") for k in range(1, 7)}
    assert len(seeds) == 12


def test_chunks_cover_every_replicate_once():
    chunks = [evidence.chunk_replicates(200, 7, i) for i in range(7)]
    assert [r for c in chunks for r in c] == list(range(200))
    assert max(len(c) for c in chunks) - min(len(c) for c in chunks) <= 1


def test_rounding_variance_floor():
    config = {"outcome": "rep"}
    assert common.outcome_rounding_variance(
        config, {"rep": {"items": ["a", "b", "c"], "scale": [1, 7]}}
    ) == pytest.approx(1 / 36)
    assert common.outcome_rounding_variance(config, {"rep": {"items": ["a"], "scale": [0.5, 7.5]}}) is None
    assert common.outcome_rounding_variance(config, {}) is None
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    # the floor is absolute (squared outcome units): the rounding variance of the score
    assert fit_stage.outcome_variance_floor(y, rounding_variance=1 / 36) == pytest.approx(1 / 36)
    # without a known scale the smallest gap sets the floor: h^2/12 with h = 1
    assert fit_stage.outcome_variance_floor(y) == pytest.approx(1 / 12)
    # it scales with the outcome's units, and is never below 1e-3 of var(y) for near-continuous outcomes
    assert fit_stage.outcome_variance_floor(y * 1000) == pytest.approx(1000**2 / 12)
    y_fine = np.r_[y, 1.0001]
    assert fit_stage.outcome_variance_floor(y_fine) == pytest.approx(1e-3 * y_fine.var())


@pytest.fixture()
def clean_golf(tmp_path):
    survey, _ = simulate_golf_survey(2010, n_members=300)
    survey.to_csv(tmp_path / "survey.csv", index=False)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["data"]["path"] = str(tmp_path / "survey.csv")
    config = validate_config(config)
    outputs = {name: str(tmp_path / f"{name}.csv") for name in ("clean", "flagged", "report", "reliability", "piles")}
    cleaning.clean(config, outputs)
    return config, tmp_path


def test_clean_stage_writes_every_table(clean_golf):
    config, tmp_path = clean_golf
    for name in ("clean", "flagged", "report", "reliability", "piles"):
        assert (tmp_path / f"{name}.csv").stat().st_size > 0
    for twin in ("report.md", "report.tex", "reliability.md", "reliability.tex", "piles.md", "piles.tex"):
        assert (tmp_path / twin).exists()
    clean = common.read_clean(tmp_path / "clean.csv")
    assert {"respondent_id", "satisfaction", "trust", "repurchase"} <= set(clean.columns)
    assert "comment" not in clean.columns


FIT_SETTINGS = ("outcome", "predictors", "method", "n_init", "min_share")


def fit_settings(config, name="repurchase_on_satisfaction", **changes):
    """The keyword arguments the fit_k rule passes: only the settings that change a fit."""
    analysis = config["analyses"][name]
    settings = {key: analysis[key] for key in FIT_SETTINGS}
    return (
        settings
        | {"focal": analysis["focal"] or analysis["predictors"][0], "seed": 2010, "weight_column": None}
        | changes
    )


def test_fit_stage_is_deterministic_and_records_every_start(clean_golf):
    config, tmp_path = clean_golf
    paths = []
    for run in ("a", "b"):
        out = tmp_path / f"k3_{run}.json"
        fit_stage.fit_k(str(tmp_path / "clean.csv"), "repurchase_on_satisfaction", 3, str(out),
                         rounding_variance=1 / 36, **fit_settings(config, n_init=4))
        paths.append(out)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    fit = json.loads(paths[0].read_text())
    assert fit["k_requested"] == 3 and len(fit["model"]["start_logliks"]) == 4


def test_fit_stage_refuses_too_many_segments(clean_golf):
    config, tmp_path = clean_golf
    with pytest.raises(DataError, match=r"60 segments need .* Remove 60 from config key 'analyses.x.segments'"):
        fit_stage.fit_k(str(tmp_path / "clean.csv"), "x", 60, str(tmp_path / "k60.json"), **fit_settings(config))
    assert not (tmp_path / "k60.json").exists()


def test_analysis_data_leaves_out_incomplete_respondents():
    clean = pd.DataFrame({"respondent_id": ["a", "b", "c"], "sat": [1.0, np.nan, 3.0], "rep": [2.0, 3.0, 4.0]})
    X, y, w, ids, side = common.analysis_data(clean, "rep", ["sat"], "t")
    assert ids.tolist() == ["a", "c"] and w is None and side is None and list(X.columns) == ["sat"]
    with pytest.raises(DataError, match="neither constructs nor columns"):
        common.analysis_data(clean, "loyalty", ["sat"], "t")


def test_respondents_are_matched_by_id_not_by_row():
    assignments = pd.DataFrame({"respondent_id": ["c", "a", "b"], "segment": [3, 1, 2]})
    rows = common.match_respondents(pd.Series(["a", "b", "c"]), assignments, "assignments.csv")
    assert assignments["segment"].to_numpy()[rows].tolist() == [1, 2, 3]
    # a repeated id (duplicates kept in the clean data) is matched by its order of occurrence
    repeated = pd.DataFrame({"respondent_id": ["x", "y", "x"], "segment": [1, 2, 3]})
    rows = common.match_respondents(pd.Series(["y", "x", "x"]), repeated, "assignments.csv")
    assert repeated["segment"].to_numpy()[rows].tolist() == [2, 1, 3]
    with pytest.raises(DataError, match="assignments.csv does not hold the respondents"):
        common.match_respondents(pd.Series(["a", "b", "d"]), assignments, "assignments.csv")
    with pytest.raises(DataError, match="2 rows for 3 respondents"):
        common.match_respondents(pd.Series(["a", "b", "c"]), assignments.iloc[:2], "assignments.csv")


def test_settings_record_the_chosen_k_and_both_confidence_levels(tmp_path):
    criteria = tmp_path / "criteria.csv"
    pd.DataFrame({"k_requested": [1, 2, 3], "k": [1, 2, 2], "chosen": [False, False, True]}).to_csv(
        criteria, index=False
    )
    out = tmp_path / "analysis.json"
    record_settings(
        str(criteria), "a", str(out), outcome="rep", predictors=["sat", "trust"], focal="trust", alpha=0.1,
        criterion="icl", equivalence_margin=0.2, cov_type="robust", method="cem", membership_ci_level=0.95,
    )
    settings = json.loads(out.read_text())
    assert settings["k"] == 2 and settings["k_requested"] == 3 and settings["focal"] == "trust"
    assert settings["ci_level"] == pytest.approx(0.9) and settings["membership_ci_level"] == 0.95
    # what the stage writes is what the notebooks' reader expects
    assert load_settings(out).predictors == ["sat", "trust"]
    pd.DataFrame({"k_requested": [1], "k": [1], "chosen": [False]}).to_csv(criteria, index=False)
    with pytest.raises(DataError, match="marks no number of segments as chosen"):
        record_settings(str(criteria), "a", str(out), **{key: settings[key] for key in (
            "outcome", "predictors", "focal", "alpha", "criterion", "equivalence_margin", "cov_type", "method",
            "membership_ci_level")})


def test_run_stage_turns_user_errors_into_a_clean_exit(tmp_path, capsys):
    def failing():
        raise DataError("column 'x' holds text")

    with pytest.raises(SystemExit) as exit_info:
        common.run_stage(failing, tmp_path / "job.log")
    assert exit_info.value.code == 1
    assert "column 'x' holds text" in (tmp_path / "job.log").read_text()
    assert "Traceback" not in capsys.readouterr().err


def test_profiles_keep_repeated_ids_apart(tmp_path):
    # cleaning.flagged_action: keep leaves repeated ids in the clean data; the
    # first "r0" has no outcome, so the analysis (and its assignments) holds
    # only the second, whose profile must be the one attached to it
    from trustseg.stages import profiles as profiles_stage

    rng = np.random.default_rng(0)
    n = 80
    ids = ["r0"] + [f"r{i}" for i in range(n)]
    clean = pd.DataFrame({"respondent_id": ids, "sat": rng.uniform(1, 7, n + 1), "rep": rng.uniform(1, 7, n + 1),
                          "group": ["first-r0"] + ["a" if i % 2 else "b" for i in range(n)]})
    clean.loc[0, "rep"] = np.nan
    clean.to_csv(tmp_path / "clean.csv", index=False)
    segment = np.where(np.arange(n) < n // 2, 1, 2)
    assignments = pd.DataFrame({"respondent_id": ids[1:], "segment": segment,
                                "posterior_1": (segment == 1) * 0.9 + 0.05, "posterior_2": (segment == 2) * 0.9 + 0.05})
    assignments.to_csv(tmp_path / "assignments.csv", index=False)
    outputs = {"profiles": str(tmp_path / "profiles.csv"), "membership": str(tmp_path / "membership.csv")}
    profiles_stage.profiles(str(tmp_path / "clean.csv"), str(tmp_path / "assignments.csv"), "t", outputs,
                            variables=["group"], weight_column=None, seed=1, outcome="rep", predictors=["sat"])
    table = pd.read_csv(tmp_path / "profiles.csv")
    assert "first-r0" not in set(table["level"].astype(str))
    assert table.loc[table["level"] == "a", "n"].sum() == n // 2


# ----------------------------------------------------------------------------- degenerate solutions (issue 11)

RAW = {"outcome": "repurchase", "predictors": ["satisfaction"], "weight_column": None}


@pytest.fixture()
def raw_outcome_fits(tmp_path):
    """clean.csv of a raw single-item 1-7 outcome on a 1-7 score, and its fits for K = 1..6."""
    X, y = raw_single_item_data()
    clean = pd.DataFrame({"respondent_id": [f"r{i}" for i in range(len(y))], "satisfaction": X["satisfaction"],
                          "repurchase": y})
    clean.to_csv(tmp_path / "clean.csv", index=False)
    fits = []
    for k in range(1, 7):
        fits.append(str(tmp_path / f"k{k}.json"))
        fit_stage.fit_k(str(tmp_path / "clean.csv"), "raw", k, fits[-1], focal="satisfaction", method="em", n_init=4,
                        min_share=0.03, seed=11, rounding_variance=1 / 12, **RAW)
    return tmp_path, fits


def test_degenerate_ks_are_flagged_and_not_chosen(raw_outcome_fits, caplog):
    tmp_path, fits = raw_outcome_fits
    criteria, starts = tmp_path / "criteria.csv", tmp_path / "starts.csv"
    fit_stage.select_k(str(tmp_path / "clean.csv"), "raw", fits, str(criteria), str(starts), criterion="bic",
                       **RAW)
    table = pd.read_csv(criteria, keep_default_na=False)
    by_k = table.set_index("k_requested")
    assert by_k.loc[6, "problems"].startswith("variance_floor(")
    chosen = table.loc[table["chosen"]].iloc[0]
    assert chosen["problems"] == "" and common.chosen_k(criteria) == chosen["k_requested"]
    plain_best = int(table.loc[table["bic"].idxmin(), "k_requested"])
    assert plain_best != chosen["k_requested"]
    assert chosen["choice_note"].startswith(f"K = {plain_best} had the lowest BIC, but ")
    assert f"K = {chosen['k_requested']} is the best without problems" in caplog.text
    assert "K=6: 5 of its 6 segments sit on the variance floor" in caplog.text

    # the table the notebooks read carries the problems, the note and the smallest attainable LR p-value
    lr = tmp_path / "lr_k1.json"
    common.write_json({"k_requested": 1, "statistic": 180.0, "p_value": 0.02, "p_value_min": 0.02,
                       "n_replicates": 49}, lr)
    evidence.model_selection(str(criteria), [str(lr)], "raw", str(tmp_path / "model_selection.csv"),
                             criterion="bic")
    selection = pd.read_csv(tmp_path / "model_selection.csv")
    assert selection.loc[0, "lr_p_min"] == pytest.approx(0.02) and selection.loc[0, "lr_replicates"] == 49
    assert selection["lr_p_min"].iloc[1:].isna().all()
    assert pd.isna(selection["choice_note"].iloc[-1]) and selection.columns[-1] == "choice_note"
    assert selection.loc[selection["chosen"], "choice_note"].iloc[0] == chosen["choice_note"]


def test_k_chosen_by_the_sequential_lr_test(raw_outcome_fits):
    tmp_path, fits = raw_outcome_fits
    lr_paths = []
    for k, p in ((1, 0.01), (2, 0.02), (3, 0.6), (4, 0.02), (5, 0.5)):
        lr_paths.append(str(tmp_path / f"lr_k{k}.json"))
        common.write_json({"k_requested": k, "statistic": 10.0, "p_value": p, "n_replicates": 99,
                           "p_value_min": 0.01}, lr_paths[-1])
    criteria = tmp_path / "criteria.csv"
    settings = dict(criterion="lr_test", alpha=0.05, lr_paths=lr_paths, **RAW)
    fit_stage.select_k(str(tmp_path / "clean.csv"), "raw", fits, str(criteria), str(tmp_path / "s.csv"),
                       allow_flagged=True, **settings)
    assert common.chosen_k(criteria) == 3  # the first K whose test against K + 1 is not significant
    fit_stage.select_k(str(tmp_path / "clean.csv"), "raw", fits, str(criteria), str(tmp_path / "s.csv"), **settings)
    table = pd.read_csv(criteria, keep_default_na=False)
    # K >= 2 have problems here: passed over, so the tests leave K = 1
    assert common.chosen_k(criteria) == 1
    assert "are passed over because of their problems" in table.loc[table["chosen"], "choice_note"].iloc[0]


def test_segments_of_a_degenerate_solution_are_unreliable_and_nothing_crashes(raw_outcome_fits, caplog):
    """K = 6 on a raw single-item outcome: the segments stage and the figures finish, and say what is wrong."""
    from trustseg.stages import segments as segments_stage
    from trustseg.stages.figures import segment_figures

    tmp_path, fits = raw_outcome_fits
    fit_stage.select_k(str(tmp_path / "clean.csv"), "raw", fits, str(tmp_path / "criteria.csv"),
                       str(tmp_path / "s.csv"), criterion="bic", allow_flagged=True, **RAW)
    evidence.model_selection(str(tmp_path / "criteria.csv"), [], "raw", str(tmp_path / "model_selection.csv"),
                             criterion="bic")
    keys = ("segments", "tests", "assignments", "classification", "summary", "covariance", "fitted_lines",
            "residual_spread")
    outputs = {key: str(tmp_path / ("summary.txt" if key == "summary" else f"{key}.csv")) for key in keys}
    segments_stage.segments(str(tmp_path / "clean.csv"), "raw", fits[-1], outputs, focal="satisfaction",
                            cov_type="oim", alpha=0.05, equivalence_margin=0.1, scale=[1, 7], **RAW)
    table = pd.read_csv(outputs["segments"], keep_default_na=False, na_values=[""])
    focal = table.loc[table["term"] == "satisfaction"]
    # the information is singular here, so every segment is unreliable, and the floor segments say so
    assert (focal["verdict"] == segments_stage.UNRELIABLE).all()
    # and no name reads such a segment as a finding ("Satisfaction-driven", "Loyal regardless")
    assert focal["name"].str.startswith("Unreliable segment").all(), focal["name"].tolist()
    assert focal["problems"].str.contains("singular_information").all()
    assert focal["problems"].str.contains("variance_floor").sum() >= 3
    covariance = pd.read_csv(outputs["covariance"]).set_index("parameter")
    variances = np.diag(covariance.to_numpy(dtype=float))
    assert not (variances <= 0).any()  # NaN where the pseudo-inverse gives no variance, never a negative one
    spread = pd.read_csv(outputs["residual_spread"])
    assert list(spread.columns[:6]) == ["segment", "predictor", "statistic", "df", "p_value", "spread_varies"]
    assert sorted(spread["segment"]) == list(range(1, 7))
    summary = Path(outputs["summary"]).read_text()
    assert "SINGULAR" in summary and "variance floor" in summary
    assert "every segment's satisfaction verdict is 'unreliable'" in caplog.text
    assert "unexpected error" not in caplog.text

    inputs = {key: outputs[key] for key in ("segments", "assignments", "fitted_lines")}
    inputs["model_selection"] = str(tmp_path / "model_selection.csv")
    segment_figures(str(tmp_path / "clean.csv"), "raw", inputs, str(tmp_path / "figures"), focal="satisfaction",
                    alpha=0.05, equivalence_margin=0.1, constructs={}, formats=[], seed=1, **RAW)
    assert (tmp_path / "figures" / "segment_scatter.png").stat().st_size > 0
    assert (tmp_path / "figures" / "coefficient_forest.png").stat().st_size > 0


def test_residual_spread_warning_names_the_segment(tmp_path, caplog):
    from trustseg.stages import segments as segments_stage

    rng = np.random.default_rng(2)
    x = rng.uniform(1, 7, 400)
    y = 1.5 + 0.5 * x + 0.45 * np.exp(0.4 * (x - 4.3)) * rng.standard_normal(400)
    pd.DataFrame({"respondent_id": [f"r{i}" for i in range(400)], "satisfaction": x, "repurchase": y}).to_csv(
        tmp_path / "clean.csv", index=False)
    fit_stage.fit_k(str(tmp_path / "clean.csv"), "het", 1, str(tmp_path / "k1.json"), focal="satisfaction",
                    method="em", n_init=1, min_share=0.03, seed=1, **RAW)
    keys = ("segments", "tests", "assignments", "classification", "summary", "covariance", "fitted_lines",
            "residual_spread")
    outputs = {key: str(tmp_path / ("summary.txt" if key == "summary" else f"{key}.csv")) for key in keys}
    segments_stage.segments(str(tmp_path / "clean.csv"), "het", str(tmp_path / "k1.json"), outputs,
                            focal="satisfaction", cov_type="oim", alpha=0.05, equivalence_margin=0.1, **RAW)
    spread = pd.read_csv(outputs["residual_spread"])
    assert spread["spread_varies"].tolist() == [True]
    assert "segment 1" in caplog.text and "the residual spread changes with satisfaction" in caplog.text
    assert "grows" in caplog.text
    assert "Segment 1 residual spread" in Path(outputs["summary"]).read_text()
    table = pd.read_csv(outputs["segments"], keep_default_na=False)
    assert (table["problems"] == "").all() and segments_stage.UNRELIABLE not in set(table["verdict"])
