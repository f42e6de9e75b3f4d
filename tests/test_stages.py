"""Stage functions called by the workflow, run directly on small data."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import trustseg.stages.cleaning
import trustseg.stages.common
import trustseg.stages.evidence
import trustseg.stages.fit
from trustseg import stages
from trustseg.config import validate_config
from trustseg.errors import DataError
from trustseg.survey.simulate import simulate_golf_survey, write_golf_survey

REPO = Path(__file__).resolve().parents[1]


def test_bundled_survey_is_reproducible_byte_for_byte(tmp_path):
    survey, truth = write_golf_survey(tmp_path, seed=2010)
    assert filecmp.cmp(survey, REPO / "resources" / "golf_survey.csv", shallow=False)
    assert filecmp.cmp(truth, REPO / "resources" / "golf_survey_truth.csv", shallow=False)


def test_simulated_survey_has_the_documented_design():
    survey, truth = simulate_golf_survey(2010)
    assert len(survey) == 1206 and survey["respondent_id"].duplicated().sum() == 6
    assert len(truth) == 1200
    shares = truth["segment"].value_counts(normalize=True).sort_index()
    assert np.allclose(shares, [0.335, 0.4325, 0.2325], atol=1e-9)
    assert (truth["data_quality"] == "straightliner").sum() == 24
    assert survey["comment"].str.contains("@example.com", na=False).sum() > 50
    # membership depends on demographics: full members are loyal more often
    merged = survey.drop_duplicates("respondent_id").merge(truth, on="respondent_id")
    loyal = merged.groupby("membership_type")["segment"].apply(lambda s: (s == 2).mean())
    assert loyal["Full"] > loyal["Corporate"] + 0.15


def test_derived_seeds_are_stable_and_distinct():
    assert stages.common.derive_seed(2010, "a", "fit", 3) == stages.common.derive_seed(2010, "a", "fit", 3)
    seeds = {stages.common.derive_seed(2010, name, "fit", k) for name in ("a", "b") for k in range(1, 7)}
    assert len(seeds) == 12


def test_chunks_cover_every_replicate_once():
    chunks = [stages.evidence.chunk_replicates(200, 7, i) for i in range(7)]
    assert [r for c in chunks for r in c] == list(range(200))
    assert max(len(c) for c in chunks) - min(len(c) for c in chunks) <= 1


def test_rounding_variance_floor():
    config = {"outcome": "rep"}
    assert stages.common.outcome_rounding_variance(config, {"rep": {"items": ["a", "b", "c"], "scale": [1, 7]}}) == pytest.approx(1 / 36)
    assert stages.common.outcome_rounding_variance(config, {"rep": {"items": ["a"], "scale": [0.5, 7.5]}}) is None
    assert stages.common.outcome_rounding_variance(config, {}) is None
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert stages.common.outcome_variance_floor(y, rounding_variance=1 / 36) == pytest.approx((1 / 36) / 2.0)
    # without a known scale the smallest gap sets the floor: h^2/12 with h = 1
    assert stages.common.outcome_variance_floor(y) == pytest.approx((1 / 12) / 2.0)
    # the floor is scale-free, and never below 1e-3 of var(y) for near-continuous outcomes
    assert stages.common.outcome_variance_floor(y * 1000) == pytest.approx((1 / 12) / 2.0)
    assert stages.common.outcome_variance_floor(np.r_[y, 1.0001]) == pytest.approx(1e-3)


@pytest.fixture()
def clean_golf(tmp_path):
    survey, _ = simulate_golf_survey(2010, n_members=300)
    survey.to_csv(tmp_path / "survey.csv", index=False)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["data"]["path"] = str(tmp_path / "survey.csv")
    config = validate_config(config)
    outputs = {name: str(tmp_path / f"{name}.csv") for name in ("clean", "flagged", "report", "reliability")}
    stages.cleaning.clean(config, outputs)
    return config, tmp_path


def test_clean_stage_writes_every_table(clean_golf):
    config, tmp_path = clean_golf
    for name in ("clean", "flagged", "report", "reliability"):
        assert (tmp_path / f"{name}.csv").stat().st_size > 0
    for twin in ("report.md", "report.tex", "reliability.md", "reliability.tex"):
        assert (tmp_path / twin).exists()
    clean = stages.common.read_clean(tmp_path / "clean.csv")
    assert {"respondent_id", "satisfaction", "trust", "repurchase"} <= set(clean.columns)
    assert "comment" not in clean.columns


def test_fit_stage_is_deterministic_and_records_every_start(clean_golf):
    config, tmp_path = clean_golf
    analysis = config["analyses"]["repurchase_on_satisfaction"] | {"n_init": 4}
    paths = []
    for run in ("a", "b"):
        out = tmp_path / f"k3_{run}.json"
        stages.fit.fit_k(str(tmp_path / "clean.csv"), "repurchase_on_satisfaction", analysis, 3, 2010, None, str(out), 1 / 36)
        paths.append(out)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    fit = json.loads(paths[0].read_text())
    assert fit["k_requested"] == 3 and len(fit["model"]["start_logliks"]) == 4


def test_fit_stage_refuses_too_many_segments(clean_golf):
    config, tmp_path = clean_golf
    analysis = config["analyses"]["repurchase_on_satisfaction"]
    with pytest.raises(DataError, match=r"60 segments need .* Remove 60 from config key 'analyses.x.segments'"):
        stages.fit.fit_k(str(tmp_path / "clean.csv"), "x", analysis, 60, 2010, None, str(tmp_path / "k60.json"))
    assert not (tmp_path / "k60.json").exists()


def test_analysis_data_leaves_out_incomplete_respondents():
    clean = pd.DataFrame({"respondent_id": ["a", "b", "c"], "sat": [1.0, np.nan, 3.0], "rep": [2.0, 3.0, 4.0]})
    X, y, w, ids = stages.common.analysis_data(clean, {"outcome": "rep", "predictors": ["sat"]}, "t")
    assert ids.tolist() == ["a", "c"] and w is None and list(X.columns) == ["sat"]
    with pytest.raises(DataError, match="neither constructs nor columns"):
        stages.common.analysis_data(clean, {"outcome": "loyalty", "predictors": ["sat"]}, "t")


def test_run_stage_turns_user_errors_into_a_clean_exit(tmp_path, capsys):
    def failing():
        raise DataError("column 'x' holds text")

    with pytest.raises(SystemExit) as exit_info:
        stages.common.run_stage(failing, tmp_path / "job.log")
    assert exit_info.value.code == 1
    assert "column 'x' holds text" in (tmp_path / "job.log").read_text()
    assert "Traceback" not in capsys.readouterr().err
