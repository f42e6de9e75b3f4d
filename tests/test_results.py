"""trustseg.report.results: reading a results/ directory for the notebooks."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from trustseg.errors import TrustsegError
from trustseg.report import results as tr

NAME = "repurchase_on_satisfaction"


def _segments() -> pd.DataFrame:
    rows = []
    spec = [  # segment, name, share, intercept, slope, se, verdict, p_tost
        (1, "Satisfaction-driven", 0.34, 0.0, 0.94, 0.035, "drives", 1.0),
        (2, "Loyal regardless", 0.44, 5.5, 0.01, 0.02, "does_not_drive", 0.001),
        (3, "Indifferent", 0.22, 2.6, 0.05, 0.05, "inconclusive", 0.2),
    ]
    for seg, name, share, a, b, se, verdict, tost in spec:
        rows.append(dict(segment=seg, name=name, share=share, term="(Intercept)", estimate=a, std_error=0.1, z=a / 0.1,
                         p_value=0.5, ci_low=a - 1.96 * 0.1, ci_high=a + 1.96 * 0.1, p_positive=None, p_tost=None,
                         verdict=None, sigma=0.4, n_assigned=int(share * 100)))
        rows.append(dict(segment=seg, name=name, share=share, term="satisfaction", estimate=b, std_error=se, z=b / se,
                         p_value=0.01, ci_low=b - 1.96 * se, ci_high=b + 1.96 * se, p_positive=0.01, p_tost=tost,
                         verdict=verdict, sigma=0.4, n_assigned=int(share * 100)))
    return pd.DataFrame(rows)


SETTINGS = {
    "analysis": NAME, "outcome": "repurchase", "predictors": ["satisfaction"], "focal": "satisfaction",
    "method": "em", "criterion": "bic", "k": 3, "k_requested": 3, "cov_type": "oim", "alpha": 0.05,
    "ci_level": 0.95, "equivalence_margin": 0.1, "membership_ci_level": 0.95,
}


def _write(path, df):
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)


@pytest.fixture
def results_dir(tmp_path):
    root = tmp_path / "results"
    ids = [f"R{i:03d}" for i in range(1, 11)]
    clean = pd.DataFrame({"respondent_id": ["007"] + ids[1:], "satisfaction": range(10), "repurchase": range(10)})
    _write(root / "cleaning" / "clean.csv", clean)
    _write(root / "cleaning" / "report.csv", pd.DataFrame(
        {"rule": ["input", "speeders", "clean"], "rows_affected": [12, 2, 10], "cells_affected": [None, None, None],
         "action": ["read", "flagged", "written"], "detail": ["", "", ""]}))
    _write(root / "cleaning" / "flagged.csv", pd.DataFrame({"respondent_id": ["X1", "X2"], "rules": ["speeders"] * 2}))
    _write(root / "cleaning" / "reliability.csv", pd.DataFrame(
        {"construct": ["satisfaction"], "level": ["construct"], "item": [None], "n_items": [3], "n": [10],
         "alpha": [0.9], "omega": [0.91], "item_total_r": [None], "alpha_if_deleted": [None], "warning": [None]}))
    (root / "figures").mkdir(parents=True)
    (root / "figures" / "cleaning_summary.png").write_bytes(b"\x89PNG fake")
    (root / "figures" / "captions_cleaning.json").write_text(json.dumps(
        {"cleaning_summary": {"caption": "Rows affected by each rule.", "files": []}}))

    base = root / NAME
    base.mkdir(parents=True)
    (base / "analysis.json").write_text(json.dumps(SETTINGS))
    _write(base / "model_selection.csv", pd.DataFrame(
        {"k_requested": [1, 2, 3, 4], "k": [1, 2, 3, 4], "k_fitted": [1, 2, 3, 4],
         "loglik": [-300.0, -250.0, -220.0, -219.0], "n_params": [3, 7, 11, 15],
         "bic": [610.0, 530.0, 500.0, 520.0], "aic": [606.0, 514.0, 462.0, 461.0], "icl": [610.0, 560.0, 540.0, 580.0],
         "n_best_starts": [10, 8, 6, 2], "chosen": [False, False, True, False],
         "lr_p_value": [0.02, 0.02, 0.4, None], "lr_replicates": [49, 49, 49, None]}))
    _write(base / "segments.csv", _segments())
    _write(base / "tests.csv", pd.DataFrame(
        {"test": ["equal satisfaction slope in all segments (Wald)"], "segment_a": [None], "segment_b": [None],
         "difference": [None], "std_error": [None], "statistic": [40.0], "df": [2.0], "p_value": [1e-9],
         "p_holm": [None]}))
    _write(base / "assignments.csv", pd.DataFrame(
        {"respondent_id": ["007"] + ids[1:], "segment": [1, 1, 1, 2, 2, 2, 2, 3, 3, 3],
         "posterior_1": [0.9] * 10, "posterior_2": [0.05] * 10, "posterior_3": [0.05] * 10}))
    _write(base / "classification.csv", pd.DataFrame(
        {"table": ["summary"] * 4, "modal_segment": [None] * 4, "segment": [None] * 4,
         "measure": ["n", "k", "entropy_r2", "classification_error"], "value": [10.0, 3.0, 0.85, 0.08],
         "note": [""] * 4}))
    (base / "figures").mkdir(parents=True)
    (base / "figures" / "segment_scatter.png").write_bytes(b"\x89PNG fake")
    (base / "figures" / "captions_segments.json").write_text(json.dumps(
        {"segment_scatter": {"caption": "Repurchase against satisfaction.", "files": []},
         "information_criteria": {"caption": "Criteria (no PNG written).", "files": []}}))
    return root


def test_load_cleaning(results_dir):
    c = tr.load_cleaning(results_dir)
    assert len(c.clean) == 10 and c.n_flagged == 2
    assert c.clean["respondent_id"].iloc[0] == "007"  # ids stay text
    assert c.figures["cleaning_summary"].caption == "Rows affected by each rule."
    assert c.captions == {"cleaning_summary": "Rows affected by each rule."}


def test_load_analysis_required_and_optional(results_dir):
    a = tr.load_analysis(results_dir, NAME)
    assert a.k == 3 and a.focal == "satisfaction"
    assert a.settings == tr.AnalysisSettings(**{k: v for k, v in SETTINGS.items() if k != "analysis"})
    assert a.names == {1: "Satisfaction-driven", 2: "Loyal regardless", 3: "Indifferent"}
    assert a.bootstrap is None and a.bootstrap_ari is None and a.profiles is None and a.membership is None
    assert a.start_logliks is None
    assert set(a.figures) == {"segment_scatter"}  # a caption without its PNG is no figure
    assert a.assignments["respondent_id"].iloc[0] == "007"
    assert tr.list_analyses(results_dir) == [NAME]
    assert tr.resolve_analyses(results_dir, None) == [NAME]
    assert tr.resolve_analyses(results_dir, "x") == ["x"]


@pytest.mark.parametrize("missing", ["analysis.json", "segments.csv", "model_selection.csv", "tests.csv",
                                     "assignments.csv", "classification.csv"])
def test_missing_required_analysis_file(results_dir, missing):
    (results_dir / NAME / missing).unlink()
    with pytest.raises(TrustsegError, match="run snakemake first") as err:
        tr.load_analysis(results_dir, NAME)
    assert missing in str(err.value)


@pytest.mark.parametrize("missing", ["clean.csv", "report.csv", "flagged.csv", "reliability.csv"])
def test_missing_required_cleaning_file(results_dir, missing):
    (results_dir / "cleaning" / missing).unlink()
    with pytest.raises(TrustsegError, match="run snakemake first") as err:
        tr.load_cleaning(results_dir)
    assert missing in str(err.value)


def test_settings_from_another_version_are_refused(results_dir):
    (results_dir / NAME / "analysis.json").write_text(json.dumps({k: v for k, v in SETTINGS.items() if k != "focal"}))
    with pytest.raises(TrustsegError, match=r"lacks \['focal'\].*rerun snakemake"):
        tr.load_analysis(results_dir, NAME)
    (results_dir / NAME / "analysis.json").write_text("{")
    with pytest.raises(TrustsegError, match="not valid JSON"):
        tr.load_analysis(results_dir, NAME)


def test_missing_analysis_and_empty_results(results_dir, tmp_path):
    with pytest.raises(TrustsegError, match="run snakemake first"):
        tr.load_analysis(results_dir, "nope")
    with pytest.raises(TrustsegError, match="run snakemake first"):
        tr.resolve_analyses(tmp_path / "empty", None)


def test_selection_sentence_names_the_configured_criterion(results_dir):
    a = tr.load_analysis(results_dir, NAME)
    text = tr.selection_sentence(a.model_selection, a.settings)
    assert "the lowest BIC chose K = 3" in text and "AIC K = 4" in text and "6 starts reached the best solution" in text
    # the criterion is the configured one, not guessed from the table (BIC's minimum is at K = 3 too)
    icl = dataclasses.replace(a.settings, criterion="icl")
    text = tr.selection_sentence(a.model_selection, icl)
    assert "the lowest ICL chose K = 3" in text and "BIC agrees" in text


def test_verdict_sentences_come_from_the_numbers(results_dir):
    a = tr.load_analysis(results_dir, NAME)
    seg, settings = a.segments, a.settings
    text = tr.verdict_sentence(seg, settings)
    assert "In segment 1 (Satisfaction-driven, 34% of respondents) repurchase rises 0.94 points" in text
    assert "95% CI 0.87\u20131.01" in text
    assert "does not drive" in text and "\u00b10.1" in text and "inconclusive" in text
    changed = seg.assign(estimate=seg["estimate"].where(seg["term"] != "satisfaction", seg["estimate"] / 2))
    assert "rises 0.47 points" in tr.verdict_sentence(changed, settings, segment=1)
    assert tr.verdict_sentence(seg, settings, segment=2).count("In segment") == 1


def test_levels_and_margin_are_read_from_the_settings(results_dir):
    (results_dir / NAME / "analysis.json").write_text(json.dumps(
        SETTINGS | {"alpha": 0.1, "ci_level": 0.9, "equivalence_margin": 0.25}))
    a = tr.load_analysis(results_dir, NAME)
    # the table's intervals look like 95% ones; the sentence says what the run used
    text = tr.verdict_sentence(a.segments, a.settings)
    assert "90% CI" in text and "95% CI" not in text and "\u00b10.25" in text
    # the membership model keeps its own 95% level, whatever the analysis's alpha
    membership = pd.DataFrame({"segment": [2], "term": ["age"], "odds_ratio": [2.0], "or_ci_low": [1.5],
                               "or_ci_high": [2.5], "p_value": [0.001]})
    found = tr.membership_sentences(membership, a.segments, a.settings.membership_ci_level)
    assert len(found) == 1 and "(95% CI 1.50\u20132.50)" in found[0]


def test_segment_summary_and_names(results_dir):
    seg = tr.load_analysis(results_dir, NAME).segments
    s = tr.segment_summary(seg, "satisfaction")
    assert list(s["segment"]) == [1, 2, 3]
    assert list(s["verdict"]) == ["drives", "does_not_drive", "inconclusive"]
    assert s.loc[0, "slope"] == pytest.approx(0.94)
    assert tr.segment_names(seg.drop(columns="name")) == {1: "Segment 1", 2: "Segment 2", 3: "Segment 3"}


def test_one_segment_and_no_bootstrap(results_dir):
    seg = _segments().query("segment == 1").assign(share=1.0)
    settings = tr.AnalysisSettings(
        **{k: v for k, v in SETTINGS.items() if k != "analysis"} | {"k": 1, "k_requested": 1}
    )
    assert "In segment 1" in tr.verdict_sentence(seg, settings)
    cls = pd.DataFrame({"table": ["summary"] * 2, "measure": ["n", "k"], "value": [10.0, 1.0]})
    assert "single segment" in tr.classification_sentence(cls)
    assert "switched off" in tr.stability_sentence(None, None)


def test_profiles_membership_helpers():
    profiles = pd.DataFrame({
        "variable": ["club"] * 4 + ["age"] * 2, "kind": ["categorical"] * 4 + ["numeric"] * 2,
        "level": ["A", "A", "B", "B", None, None], "segment": [1, 2, 1, 2, 1, 2],
        "value": [0.8, 0.2, 0.2, 0.8, 40.0, 50.0], "overall": [0.5, 0.5, 0.5, 0.5, 45.0, 45.0],
        "test": ["chi-square"] * 4 + ["ANOVA"] * 2, "statistic": [9.0] * 4 + [5.0] * 2, "df": [1.0] * 6,
        "p_value": [0.001] * 4 + [0.2] * 2, "effect_size": [0.3] * 4 + [0.01] * 2,
        "effect_measure": ["Cramer's V"] * 4 + ["eta squared"] * 2,
    })
    wide = tr.profile_overview(profiles)
    assert list(wide.columns[:5]) == ["variable", "level", "unit", "segment 1", "segment 2"]
    assert wide.loc[0, "segment 1"] == pytest.approx(80.0)
    text = tr.profile_sentences(profiles, {1: "Driven", 2: "Loyal"})
    assert len(text) == 1 and "'A' is most over-represented in segment 1 (Driven): 80%" in text[0]
    assert tr.profile_overview(None) is None and tr.profile_sentences(None, {}) == []

    membership = pd.DataFrame({
        "segment": [2, 2, 2], "term": ["(Intercept)", "club[B]", "age"], "estimate": [0.1, 1.5, 0.01],
        "odds_ratio": [1.1, 4.5, 1.01], "or_ci_low": [0.5, 2.0, 0.9], "or_ci_high": [2.0, 9.0, 1.1],
        "p_value": [0.8, 0.001, 0.6],
    })
    seg = _segments().query("segment < 3")
    assert list(tr.odds_ratios(membership)["term"]) == ["club[B]", "age"]
    assert tr.reference_segment(membership, seg) == 1
    found = tr.membership_sentences(membership, seg, 0.95)
    assert len(found) == 1 and found[0].startswith("club[B]: 4.50 times the odds of being in segment 2 (Loyal")
    assert tr.membership_sentences(None, seg, 0.95) == []


def test_segment_means(results_dir):
    a = tr.load_analysis(results_dir, NAME)
    c = tr.load_cleaning(results_dir)
    m = tr.segment_means(a.assignments, c.clean, ["repurchase", "nope"])
    assert list(m.columns) == ["segment", "n", "repurchase"]
    assert list(m["n"]) == [3, 4, 3]
    assert m.loc[0, "repurchase"] == pytest.approx(1.0)


def test_negative_slope_and_number_format():
    seg = _segments().query("segment == 3").copy()
    focal = seg["term"] == "satisfaction"
    seg.loc[focal, ["estimate", "ci_low", "ci_high"]] = [-1.76, -1.96, -1.56]
    settings = tr.AnalysisSettings(**{k: v for k, v in SETTINGS.items() if k != "analysis"} | {"outcome": "loyalty"})
    text = tr.verdict_sentence(seg, settings)
    assert "loyalty falls 1.76 points" in text and "\u22121.96 to \u22121.56" in text and "negative association" in text
    assert tr.fmt_num(-0.001) == "0.00" and tr.fmt_num(float("nan")) == "n/a"
