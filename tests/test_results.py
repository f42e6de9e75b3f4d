"""trustseg.report.results: reading a results/ directory for the notebooks."""

from __future__ import annotations

import dataclasses
import json
import re

import pandas as pd
import pytest

from trustseg.errors import TrustsegError
from trustseg.report import advice as ta
from trustseg.report import numbers as tn
from trustseg.report import results as tr
from trustseg.report import sentences as ts
from trustseg.report import warnings_report as tw

NAME = "repurchase_on_satisfaction"


def _segments() -> pd.DataFrame:
    rows = []
    spec = [  # segment, name, share, intercept, slope, se, verdict, p_tost
        (1, "Satisfaction-driven", 0.34, 0.0, 0.94, 0.035, "drives_up", 1.0),
        (2, "Loyal regardless", 0.44, 5.5, 0.01, 0.02, "does_not_drive", 0.001),
        (3, "Indifferent", 0.22, 2.6, 0.05, 0.05, "inconclusive", 0.2),
    ]
    for seg, name, share, a, b, se, verdict, tost in spec:
        rows.append(dict(segment=seg, name=name, share=share, term="(Intercept)", estimate=a, std_error=0.1, z=a / 0.1,
                         p_value=0.5, ci_low=a - 1.96 * 0.1, ci_high=a + 1.96 * 0.1, p_zero=None, p_tost=None,
                         verdict=None, sigma=0.4, n_assigned=int(share * 100)))
        rows.append(dict(segment=seg, name=name, share=share, term="satisfaction", estimate=b, std_error=se, z=b / se,
                         p_value=0.01, ci_low=b - 1.96 * se, ci_high=b + 1.96 * se, p_zero=0.01, p_tost=tost,
                         verdict=verdict, sigma=0.4, n_assigned=int(share * 100)))
    return pd.DataFrame(rows)


SETTINGS = {
    "analysis": NAME, "outcome": "repurchase", "predictors": ["satisfaction"], "focal": "satisfaction",
    "method": "em", "criterion": "bic", "k": 3, "k_requested": 3, "cov_type": "oim", "alpha": 0.05,
    "ci_level": 0.95, "equivalence_margin": 0.1, "membership_ci_level": 0.95, "higher_is": "better",
    "verdict_adjustment": "none", "family": ["gaussian"],
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
    text = ts.selection_sentence(a.model_selection, a.settings)
    assert "the lowest BIC chose K = 3" in text and "AIC K = 4" in text and "6 starts reached the best solution" in text
    # the criterion is the configured one, not guessed from the table (BIC's minimum is at K = 3 too)
    icl = dataclasses.replace(a.settings, criterion="icl")
    text = ts.selection_sentence(a.model_selection, icl)
    assert "the lowest ICL chose K = 3" in text and "BIC agrees" in text


def test_verdict_sentences_come_from_the_numbers(results_dir):
    a = tr.load_analysis(results_dir, NAME)
    seg, settings = a.segments, a.settings
    text = ts.verdict_sentence(seg, settings)
    assert "In segment 1 (Satisfaction-driven, 34% of respondents) repurchase rises 0.94 points" in text
    assert "satisfaction drives repurchase up here." in text
    assert "95% CI 0.87\u20131.01" in text
    assert "does not drive" in text and "\u00b10.1" in text and "inconclusive" in text
    changed = seg.assign(estimate=seg["estimate"].where(seg["term"] != "satisfaction", seg["estimate"] / 2))
    assert "rises 0.47 points" in ts.verdict_sentence(changed, settings, segment=1)
    assert ts.verdict_sentence(seg, settings, segment=2).count("In segment") == 1


def test_levels_and_margin_are_read_from_the_settings(results_dir):
    (results_dir / NAME / "analysis.json").write_text(json.dumps(
        SETTINGS | {"alpha": 0.1, "ci_level": 0.9, "equivalence_margin": 0.25}))
    a = tr.load_analysis(results_dir, NAME)
    # the table's intervals look like 95% ones; the sentence says what the run used
    text = ts.verdict_sentence(a.segments, a.settings)
    assert "90% CI" in text and "95% CI" not in text and "\u00b10.25" in text
    # the membership model keeps its own 95% level, whatever the analysis's alpha
    membership = pd.DataFrame({"segment": [2], "term": ["age"], "odds_ratio": [2.0], "or_ci_low": [1.5],
                               "or_ci_high": [2.5], "p_value": [0.001]})
    found = ts.membership_sentences(membership, a.segments, a.settings.membership_ci_level)
    assert len(found) == 1 and "(95% CI 1.50\u20132.50)" in found[0]


def test_segment_summary_and_names(results_dir):
    seg = tr.load_analysis(results_dir, NAME).segments
    s = tr.segment_summary(seg, "satisfaction")
    assert list(s["segment"]) == [1, 2, 3]
    assert list(s["verdict"]) == ["drives_up", "does_not_drive", "inconclusive"]
    assert s.loc[0, "slope"] == pytest.approx(0.94)
    assert tr.segment_names(seg.drop(columns="name")) == {1: "Segment 1", 2: "Segment 2", 3: "Segment 3"}


def test_one_segment_and_no_bootstrap(results_dir):
    seg = _segments().query("segment == 1").assign(share=1.0)
    settings = tr.AnalysisSettings(
        **{k: v for k, v in SETTINGS.items() if k != "analysis"} | {"k": 1, "k_requested": 1}
    )
    assert "In segment 1" in ts.verdict_sentence(seg, settings)
    cls = pd.DataFrame({"table": ["summary"] * 2, "measure": ["n", "k"], "value": [10.0, 1.0]})
    assert "single segment" in ts.classification_sentence(cls)
    assert "switched off" in ts.stability_sentence(None, None)


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
    text = ts.profile_sentences(profiles, {1: "Driven", 2: "Loyal"})
    assert len(text) == 1 and "'A' is most over-represented in segment 1 (Driven): 80%" in text[0]
    assert tr.profile_overview(None) is None and ts.profile_sentences(None, {}) == []

    membership = pd.DataFrame({
        "segment": [2, 2, 2], "term": ["(Intercept)", "club[B]", "age"], "estimate": [0.1, 1.5, 0.01],
        "odds_ratio": [1.1, 4.5, 1.01], "or_ci_low": [0.5, 2.0, 0.9], "or_ci_high": [2.0, 9.0, 1.1],
        "p_value": [0.8, 0.001, 0.6],
    })
    seg = _segments().query("segment < 3")
    assert list(tr.odds_ratios(membership)["term"]) == ["club[B]", "age"]
    assert tr.reference_segment(membership, seg) == 1
    found = ts.membership_sentences(membership, seg, 0.95)
    assert len(found) == 1 and found[0].startswith("club[B]: 4.50 times the odds of being in segment 2 (Loyal")
    assert ts.membership_sentences(None, seg, 0.95) == []


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
    seg.loc[focal, ["estimate", "ci_low", "ci_high", "verdict"]] = [-1.76, -1.96, -1.56, "drives_down"]
    settings = tr.AnalysisSettings(**{k: v for k, v in SETTINGS.items() if k != "analysis"} | {"outcome": "loyalty"})
    text = ts.verdict_sentence(seg, settings)
    assert "loyalty falls 1.76 points" in text and "\u22121.96 to \u22121.56" in text
    assert "satisfaction drives loyalty down here, against the expected direction" in text
    # an outcome where higher is worse: falling is the expected direction, and no anomaly is suggested
    switching = dataclasses.replace(settings, outcome="switching", higher_is="worse")
    text = ts.verdict_sentence(seg, switching)
    assert text.endswith("switching falls 1.76 points per satisfaction point (95% CI \u22121.96 to \u22121.56): "
                         "satisfaction drives switching down here.")
    assert not any(word in text for word in ("unusual", "counter", "check this"))
    assert tn.fmt_num(-0.001) == "0.00" and tn.fmt_num(float("nan")) == "n/a"


def test_negligible_unreliable_and_adjusted_sentences():
    row = {"segment": 1, "name": "Loyal regardless", "share": 0.5, "slope": 0.05, "ci_low": 0.04, "ci_high": 0.06,
           "p_tost": 1e-6, "verdict": "negligible"}
    settings = tr.AnalysisSettings(**{k: v for k, v in SETTINGS.items() if k != "analysis"})
    text = ts.segment_sentence(row, settings)
    assert "rises only 0.05 points" in text and "real but negligible effect" in text and "\u00b10.1" in text
    assert "drives repurchase" not in text
    unreliable = row | {"verdict": "unreliable", "problems": "variance_floor;point_mass_high"}
    text = ts.segment_sentence(unreliable, settings)
    assert "cannot be trusted" in text and "problems column of segments.csv" in text
    assert "variance_floor, point_mass_high" in text and "no verdict" in text
    # a Holm-adjusted run: an interval that excludes zero can still be inconclusive, and the sentence says why
    adjusted = row | {"verdict": "inconclusive", "slope": 0.21, "ci_low": 0.01, "ci_high": 0.41,
                      "p_zero_adjusted": 0.07, "p_tost_adjusted": 0.9}
    text = ts.segment_sentence(adjusted, settings)
    assert "verdict is inconclusive" in text and "Holm adjustment" in text


def test_summary_carries_adjusted_p_values_and_problems():
    seg = _segments().assign(p_zero_adjusted=0.02, p_tost_adjusted=0.5, problems="")
    seg.loc[seg["segment"] == 3, "problems"] = "variance_floor"
    s = tr.segment_summary(seg, "satisfaction")
    assert list(s["problems"]) == ["", "", "variance_floor"]
    assert s["p_zero_adjusted"].tolist() == [0.02] * 3
    assert "p_zero_adjusted" not in tr.segment_summary(_segments(), "satisfaction")


def test_a_non_significant_difference_is_not_read_as_sameness():
    tests = pd.DataFrame({
        "test": ["equal satisfaction slope in all segments (Wald)"] + ["satisfaction slope difference"] * 3,
        "segment_a": [None, 1, 1, 2], "segment_b": [None, 2, 3, 3], "difference": [None, 0.40, 0.93, 0.01],
        "std_error": [None, 0.2, 0.04, 0.01], "statistic": [12.0, 2.0, 23.0, 1.0], "df": [2.0, None, None, None],
        "p_value": [0.002, 0.045, 1e-9, 0.32], "p_holm": [None, 0.08, 3e-9, 0.32],
        "p_tost": [None, 0.93, 1.0, 1e-8], "p_tost_holm": [None, 0.93, 1.0, 3e-8],
        "comparison": ["differ", "not_shown_to_differ", "differ", "alike"],
    })
    settings = tr.AnalysisSettings(**{k: v for k, v in SETTINGS.items() if k != "analysis"})
    text = ts.slope_comparison_sentences(tests, settings, {1: "Satisfaction-driven", 2: "Loyal regardless"})
    assert len(text) == 4 and text[0].startswith("Equal satisfaction slopes in all segments") and "differ" in text[0]
    assert text[1].startswith("Segments 1 (Satisfaction-driven) and 2 (Loyal regardless) are not shown to differ")
    assert "difference 0.40, Holm p = 0.080" in text[1] and "data cannot tell" in text[1]
    assert text[2] == "Segments 1 (Satisfaction-driven) and 3 differ in their satisfaction slope (difference 0.93, " \
                      "Holm p < 0.001)."
    assert "shown to be alike" in text[3] and "\u00b10.1" in text[3]
    for sentence in text:
        assert not any(p in sentence for p in ("told apart", "lies in their level", "the same slope"))
    wald = tests.iloc[[0]].assign(p_value=0.3, comparison="not_shown_to_differ")
    assert "are not shown to differ between segments" in ts.slope_comparison_sentences(wald, settings)[0]
    # a chain's tests are on the focal predictor's path in the first equation, and the sentences name that path
    chain = dataclasses.replace(settings, equations=(("trust", ("satisfaction",)),
                                                     ("repurchase", ("satisfaction", "trust"))))
    text = ts.slope_comparison_sentences(tests, chain)
    assert text[0].startswith("Equal satisfaction \u2192 trust slopes in all segments")
    assert "differ in their satisfaction \u2192 trust slope" in text[2]


def test_the_direction_and_adjustment_reach_the_notebooks_through_analysis_json(tmp_path):
    from trustseg.stages.segments import record_settings

    criteria = tmp_path / "criteria.csv"
    pd.DataFrame({"k_requested": [2], "k": [2], "chosen": [True]}).to_csv(criteria, index=False)
    out = tmp_path / "analysis.json"
    record_settings(str(criteria), "churn", str(out), outcome="switching", predictors=["satisfaction"],
                    focal="satisfaction", alpha=0.05, criterion="bic", equivalence_margin=0.1, cov_type="oim",
                    method="em", membership_ci_level=0.95, higher_is="worse", verdict_adjustment="holm")
    settings = tr.load_settings(out)
    assert settings.higher_is == "worse" and settings.verdict_adjustment == "holm"


# ----------------------------------------------------------------------------- the run's own words and warnings

#: words of the bundled golf example (and of its default constructs) that no text about another survey may hold
GOLF_WORDS = re.compile(r"\w*(?:golf|\bclub|satisf|repurchas|\btrust\b|loyal|indifferent|membership.type|age.band|"
                        r"intention|income)\w*", re.IGNORECASE)
CHURN = {  # an analysis of another survey: switching (higher is worse) on service quality
    "outcome": "switching", "predictors": ["service_quality", "price_fairness"], "focal": "service_quality",
    "method": "em", "criterion": "bic", "k": 4, "k_requested": 4, "cov_type": "oim", "alpha": 0.05,
    "ci_level": 0.95, "equivalence_margin": 0.1, "membership_ci_level": 0.95, "higher_is": "worse",
    "verdict_adjustment": "none", "family": ["gaussian"],
}


def _churn_settings(**changes) -> tr.AnalysisSettings:
    names = {f.name for f in dataclasses.fields(tr.AnalysisSettings)}
    return tr.AnalysisSettings(**{k: v for k, v in (CHURN | changes).items() if k in names})


def _churn_summary() -> pd.DataFrame:
    """Four segments of the switching analysis, one per kind of verdict a manager must read differently."""
    return pd.DataFrame({
        "segment": [1, 2, 3, 4], "name": ["Quality-driven", "Quality-averse", "Flat high", "Odd"],
        "share": [0.4, 0.3, 0.2, 0.1], "n_assigned": [400, 300, 200, 100],
        "slope": [-0.65, 0.5, 0.01, 0.0], "ci_low": [-0.73, 0.3, -0.04, -0.1], "ci_high": [-0.57, 0.7, 0.05, 0.1],
        "verdict": ["drives_down", "drives_up", "does_not_drive", "unreliable"],
        "problems": ["", "", "", "variance_floor"],
    })


def test_sentences_name_the_runs_own_variables_never_the_golf_example():
    settings = _churn_settings()
    question = ts.analysis_question(settings)
    assert question.startswith("Does service quality drive switching for every respondent")
    assert "price fairness" in question and "higher_is: worse" in question
    caution = ts.caution_sentence(settings)
    assert "how switching and service quality go together" in caution
    reliability = pd.DataFrame({"construct": ["service_quality", "switching"], "level": ["construct"] * 2,
                                "n_items": [4, 1]})
    config = {"constructs": {"service_quality": {"items": ["sq1", "sq2", "sq3", "sq4"], "scale": [1, 5]},
                             "switching": {"items": ["sw_intent"], "scale": [1, 10]}}, "profile": ["region"]}
    constructs = ts.constructs_sentence(reliability, config)
    assert constructs == ("This run scores 2 constructs: service quality (4 items, 1\u20135 scale) and switching "
                          "(one item, sw_intent, 1\u201310 scale).")
    assert ts.constructs_sentence(reliability) == ("This run scores 2 constructs: service quality (4 items) and "
                                                   "switching (1 item).")
    variables = tr.profile_variables(config)
    assert variables == ["region"]
    profiles = ts.profile_intro(variables, settings)
    assert profiles == ("The segments differ in how switching goes with service quality. They are described here by "
                        "the profile variable region.")
    from_table = tr.profile_variables(None, pd.DataFrame({"variable": ["region", "region", "tenure"]}))
    assert from_table == ["region", "tenure"]
    assert "No profile variables" in ts.profile_intro([], settings)
    reading = ta.managerial_reading(_churn_summary(), settings, {1: 3.5, 2: 2.0, 3: 4.2, 4: 1.0}, 3.0,
                                    "the scale midpoint 3")
    spread = ts.residual_spread_sentences(pd.DataFrame({
        "segment": [1], "predictor": ["service_quality"], "statistic": [9.0], "df": [1], "p_value": [0.003],
        "spread_varies": [True], "variance_slope": [0.2]}), {1: "Quality-driven"})
    for text in [question, caution, constructs, profiles, *reading, *spread]:
        assert not GOLF_WORDS.search(text), text


def test_managerial_reading_follows_the_verdict_and_which_way_the_outcome_runs():
    worse = ta.managerial_reading(_churn_summary(), _churn_settings(), {1: 3.5, 2: 2.0, 3: 4.2, 4: 1.0}, 3.0,
                                  "the scale midpoint 3")
    assert len(worse) == 4
    # higher switching is worse: the segment driven down is the one to invest in, the one driven up runs against it
    assert worse[0].startswith("**Segment 1 \u2013 Quality-driven** (40% of respondents; mean switching 3.50, above")
    assert "switching falls 0.65 points per service quality point" in worse[0]
    # the only segment moved as expected: nothing to compare it with, so no "strongest" claim
    assert "expected to pay off here" in worse[0] and "strongest" not in worse[0]
    assert "the opposite of the direction expected" in worse[1] and "counter-intuitive" not in worse[1]
    assert "unusual answers" not in worse[1]
    # a high level of an outcome that is worse is not to be protected
    assert "stays high whatever their service quality" in worse[2] and "other levers" in worse[2]
    assert "cannot be trusted" in worse[3] and "variance floor" in worse[3] and "pay off" not in worse[3]
    better = ta.managerial_reading(_churn_summary(), _churn_settings(higher_is="better"),
                                   {1: 3.5, 2: 2.0, 3: 4.2, 4: 1.0}, 3.0, "the scale midpoint 3")
    assert "pay off" in better[1] and "opposite of the direction expected" in better[0]
    assert "protect whatever keeps it there" in better[2]
    negligible = _churn_summary().iloc[[0]].assign(verdict="negligible", slope=0.05, ci_low=0.02, ci_high=0.08)
    text = ta.managerial_reading(negligible, _churn_settings())[0]
    assert "real but negligible" in text and "\u00b10.1" in text and "mean switching" not in text


def _write_run(root, *, report_rows, flagged, model_selection, segments, spread=None, settings=None):
    _write(root / "cleaning" / "report.csv", pd.DataFrame(
        report_rows, columns=["rule", "rows_affected", "cells_affected", "action", "detail"]))
    _write(root / "cleaning" / "flagged.csv", flagged)
    _write(root / "cleaning" / "reliability.csv", pd.DataFrame(
        {"construct": ["service_quality"], "level": ["construct"], "item": [None], "n_items": [4], "n": [300],
         "alpha": [0.62], "omega": [0.64], "item_total_r": [None], "alpha_if_deleted": [None],
         "warning": ["alpha 0.62 is below 0.7" if spread is not None else None]}))
    base = root / "churn"
    base.mkdir(parents=True, exist_ok=True)
    (base / "analysis.json").write_text(json.dumps(settings or CHURN))
    _write(base / "model_selection.csv", model_selection)
    _write(base / "segments.csv", segments)
    if spread is not None:
        _write(base / "residual_spread.csv", spread)


def _churn_segments(problems=("", "", "")) -> pd.DataFrame:
    rows = []
    for seg, verdict, slope, trouble in zip([1, 2, 3], ["drives_down", "does_not_drive", "unreliable"],
                                            [-0.6, 0.0, 0.3], problems):
        for term, estimate in (("(Intercept)", 3.0), ("service_quality", slope)):
            rows.append(dict(segment=seg, name=f"Group {seg}", share=0.3, term=term, estimate=estimate,
                             ci_low=estimate - 0.1, ci_high=estimate + 0.1, p_value=0.01, p_tost=0.5,
                             verdict=verdict if term == "service_quality" else None, sigma=0.4, n_assigned=100,
                             problems=trouble))
    return pd.DataFrame(rows)


def test_run_warnings_is_empty_for_a_run_without_anything_to_report(tmp_path):
    root = tmp_path / "results"
    _write_run(
        root,
        report_rows=[["input", 300, None, "read", ""], ["straightlining", 0, None, "flagged: 0 dropped, 0 kept", ""],
                     ["out_of_scale", 0, 0, "set to missing", ""], ["flagged", 0, None, "kept in clean", ""],
                     ["construct_score:switching", 0, None, "scored", ""], ["clean", 300, None, "written", ""]],
        flagged=pd.DataFrame(columns=["respondent_id", "source_row", "rules", "detail", "action"]),
        model_selection=pd.DataFrame({"k_requested": [1, 2, 3], "k": [1, 2, 3], "bic": [900.0, 800.0, 850.0],
                                      "chosen": [False, True, False], "problems": [None, None, None],
                                      "choice_note": [None, None, None], "lr_p_value": [0.001, 0.3, None],
                                      "lr_p_min": [0.0005, 0.0005, None], "lr_replicates": [1999, 1999, None]}),
        segments=_churn_segments().query("segment < 3").assign(verdict=lambda d: d["verdict"].replace(
            "unreliable", "does_not_drive")),
        settings=CHURN | {"k": 2, "k_requested": 2},
    )
    assert tw.run_warnings(root) == []
    assert tw.warnings_markdown([]) == "**Read first.** No warnings for this run."
    assert "No warnings for this run" in tw.warnings_html([])


def test_run_warnings_gathers_the_cleaning_losses_and_the_problems_of_the_chosen_solution(tmp_path):
    root = tmp_path / "results"
    flagged = pd.DataFrame({"respondent_id": ["a", "b", "c", "d"], "source_row": [1, 2, 3, 4],
                            "rules": ["speeders", "speeders; straightlining", "straightlining", "straightlining"],
                            "detail": [""] * 4, "action": ["dropped", "dropped", "kept", "kept"]})
    straight = ("same answer to every one of the 8 rating items; 2 gave the scale maximum; the block has no "
                "reverse-keyed items, so this is not evidence of careless answering and the respondents are kept")
    _write_run(
        root,
        report_rows=[["input", 300, None, "read", ""],
                     ["out_of_scale", 7, 9, "set to missing", "sq2: 9 outside [1, 5]"],
                     ["straightlining", 3, None, "flagged: 1 dropped, 2 kept", straight],
                     ["speeders", 2, None, "flagged", "'duration' under 60 seconds"],
                     ["flagged", 4, None, "2 dropped from clean, 2 kept", ""],
                     ["construct_score:switching", 5, None, "score missing", ""], ["clean", 298, None, "written", ""]],
        flagged=flagged,
        model_selection=pd.DataFrame({
            "k_requested": [1, 2, 3, 4], "k": [1, 2, 3, 4], "bic": [900.0, 800.0, 850.0, 700.0],
            "chosen": [False, False, True, False],
            "problems": [None, None, "variance_floor(1 segment)", "variance_floor(3 segments)"],
            "choice_note": [None, None, "K = 4 had the lowest BIC, but 3 of its 4 segments sit on the variance floor; "
                            "K = 3 is the best without problems.", None],
            "converged": [True, True, True, True], "optimum_replicated": [True, True, False, True],
            "lr_p_value": [0.02, 0.02, 0.3, None], "lr_p_min": [0.02, 0.02, 0.02, None],
            "lr_replicates": [49, 49, 49, None]}),
        segments=_churn_segments(("", "", "variance_floor")),
        spread=pd.DataFrame({"segment": [1, 2, 3], "predictor": ["service_quality"] * 3, "statistic": [9.0, 0.1, 0.2],
                             "df": [1, 1, 1], "p_value": [0.003, 0.7, 0.6], "spread_varies": [True, False, False],
                             "variance_slope": [-0.2, 0.0, 0.01]}),
        settings=CHURN | {"k": 3, "k_requested": 3},
    )
    warnings = tw.run_warnings(root)
    text = "\n".join(warnings)
    assert warnings[0].startswith("The cleaning dropped 2 of 300 respondents (speeders 2; straightlining 1;")
    assert "2 respondents were flagged by the cleaning but kept in the analyses (straightlining 2)" in text
    assert f"Flagged but kept, straightlining: 3 respondent rows; flagged: 1 dropped, 2 kept ({straight})." in text
    assert "9 answers set to missing by the out_of_scale rule: sq2: 9 outside [1, 5]." in text
    assert "5 respondents have no switching score" in text
    assert "Reliability of service quality: alpha 0.62 is below 0.7" in text
    assert "Analysis churn: K = 4 had the lowest BIC, but 3 of its 4 segments sit on the variance floor" in text
    assert "Analysis churn: the chosen solution (K = 3) was found by only one of the two independent seed" in text
    assert "the smallest 49 replicates can give" in text  # the LR p-values at their floor
    assert ("Analysis churn: segment 3 (Group 3): it sits on the variance floor, so its service quality verdict is "
            "'unreliable'") in text
    assert ("Analysis churn: segment 1 (Group 1): the residual spread shrinks with service quality (p = 0.003), "
            "but the model assumes it constant") in text
    assert "segment 2 (Group 2)" not in text
    assert not GOLF_WORDS.search(text)
    # the cleaning alone (notebook 1), and an older flagged.csv without its action column
    assert tw.run_warnings(root, analyses=[]) == [w for w in warnings if not w.startswith("Analysis")]
    _write(root / "cleaning" / "flagged.csv", flagged.drop(columns="action"))  # written before rows had a fate
    assert tw.cleaning_warnings(root)[0].startswith("4 respondents were flagged by the cleaning but kept")

    markdown = tw.warnings_markdown(warnings, about="for this run")
    assert markdown.startswith(f"**Read first: {len(warnings)} warnings for this run.**\n\n* The cleaning dropped")
    assert r"sq2: 9 outside \[1, 5\]" in markdown  # no Markdown link from the scale
    html = tw.warnings_html(warnings + ["a <b> & \u2265 c"])
    assert html.isascii() and "<li>a &lt;b&gt; &amp; &#8805; c</li>" in html
    out_md, out_html = tmp_path / "warnings.md", tmp_path / "warnings.html"
    tw.write_warnings(root, ["churn"], out_md, out_html)
    assert out_md.read_text(encoding="utf-8").count("\n* ") == len(warnings)
    assert out_html.read_text(encoding="ascii").count("<li>") == len(warnings)


def test_a_singular_information_is_said_once_and_residual_spread_is_optional(tmp_path):
    root = tmp_path / "results"
    _write_run(
        root,
        report_rows=[["input", 300, None, "read", ""], ["clean", 300, None, "written", ""]],
        flagged=pd.DataFrame(columns=["respondent_id", "source_row", "rules", "detail", "action"]),
        model_selection=pd.DataFrame({"k_requested": [2, 3], "k": [2, 3], "bic": [800.0, 700.0],
                                      "chosen": [False, True], "problems": [None, "singular_information"]}),
        segments=_churn_segments(["singular_information"] * 3).assign(verdict=lambda d: d["verdict"].where(
            d["verdict"].isna(), "unreliable")),
        settings=CHURN | {"k": 3, "k_requested": 3},
    )
    warnings = tw.run_warnings(root)
    assert len(warnings) == 1 and "observed information of the chosen solution is singular" in warnings[0]
    assert "every segment's service quality verdict is 'unreliable'" in warnings[0]
    assert ts.residual_spread_sentences(None) == []


def test_cleaning_warnings_of_a_run_written_before_flagged_rows_had_a_fate(results_dir):
    # no summary row and no action column: the rows read but not kept in clean.csv were dropped
    assert tw.cleaning_warnings(results_dir) == [
        "The cleaning dropped 2 of 12 respondents (speeders 2; one respondent can be flagged by several rules). They "
        "are in no analysis; results/cleaning/flagged.csv lists them with the reason."]


def test_cleaning_rule_sentences_say_what_each_rule_did_and_why():
    report = pd.DataFrame({
        "rule": ["input", "personal_data", "straightlining", "speeders", "flagged", "construct_score:x", "clean"],
        "rows_affected": [100, 0, 5, 2, 7, 1, 98], "cells_affected": [None, 0, None, None, None, None, None],
        "action": ["read", "dropped columns", "flagged: 0 dropped, 5 kept", "flagged", "kept", "score missing",
                   "written"],
        "detail": ["", "", "no reverse-keyed items, so they are kept", None, "", "", ""],
    })
    assert ts.cleaning_rule_sentences(report) == [
        ("straightlining", "5 respondent rows; flagged: 0 dropped, 5 kept (no reverse-keyed items, so they are kept)."),
        ("speeders", "2 respondent rows; flagged."),
    ]


def test_a_mixed_family_chain_reads_its_effects_in_the_last_outcomes_unit():
    """Paths keep each equation's unit; the effects on the last outcome (products of paths) have one unit."""
    base = {k: v for k, v in SETTINGS.items() if k != "analysis"}
    settings = tr.AnalysisSettings(**base | {
        "outcome": "loyalty", "equations": (("trust", ["satisfaction"]), ("loyalty", ["satisfaction", "trust"])),
        "family": ("gaussian", "censored")})
    assert settings.effect_unit == "latent outcome points"
    sentence = ts.family_sentence(settings)
    assert "paths are in each equation's own units (outcome points, latent outcome points)" in sentence
    assert "effects on loyalty in latent outcome points per satisfaction point" in sentence
    same = tr.AnalysisSettings(**base | {"equations": (("trust", ["satisfaction"]),
                                                        ("repurchase", ["satisfaction", "trust"])),
                                         "family": ("censored", "censored")})
    assert "paths and effects are in latent outcome points" in ts.family_sentence(same)


def test_a_chosen_set_aside_group_is_a_warning_that_names_it_and_where_its_fits_are(tmp_path):
    root = tmp_path / "results"
    note = ("K = 2 with a set-aside group has the lowest BIC (780.0, against 800.0 for K = 2 without one): "
            "75 respondents (25%) at the answer 4, whose answers depend on no predictor, were set aside as a group "
            "of their own.")
    _write_run(
        root,
        report_rows=[["input", 300, None, "read", ""], ["clean", 300, None, "written", ""]],
        flagged=pd.DataFrame(columns=["respondent_id", "source_row", "rules", "detail", "action"]),
        model_selection=pd.DataFrame({"k_requested": [1, 2], "k": [1, 2], "bic": [900.0, 800.0],
                                      "chosen": [False, True], "problems": [None, None],
                                      "choice_note": [None, note], "set_aside_answers": [None, "4"],
                                      "set_aside_group": [None, note.split(": ", 1)[1].rstrip(".")]}),
        segments=_churn_segments().query("segment < 3").assign(verdict=lambda d: d["verdict"].replace(
            "unreliable", "does_not_drive")),
        settings=CHURN | {"k": 2, "k_requested": 2},
    )
    assert tw.run_warnings(root) == [
        "Analysis churn: K = 2 with a set-aside group has the lowest BIC (780.0, against 800.0 for K = 2 without "
        "one): 75 respondents (25%) at the answer 4, whose answers depend on no predictor, were set aside as a "
        "group of their own (churn/set_aside_fits.csv; docs/spurious.md)."]


def test_the_selection_sentence_says_whose_starts_it_counts_beside_a_set_aside_group():
    table = pd.DataFrame({"k_requested": [1, 2], "k": [1, 2], "bic": [900.0, 800.0], "loglik": [-440.0, -380.0],
                          "n_starts": [20, 20], "n_best_starts": [20, 9], "chosen": [False, True],
                          "choice_note": ["", "K = 2 with a set-aside group has the lowest BIC (780.0, ...): ..."],
                          "set_aside_group": ["", "75 respondents (25%) at the answer 4, ..."]})
    text = ts.selection_sentence(table, _churn_settings(k=2, k_requested=2, criterion="bic"))
    assert "K = 2 was chosen. K = 2 with a set-aside group has the lowest BIC" in text
    assert "For K = 2 without the set-aside group, 9 of 20 starts reached the best solution" in text
