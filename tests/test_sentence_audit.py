"""The sentence audit: every sentence and name the report writes is checked, rule by rule, against the numbers.

Small analyses run through the workflow's own stages (fit, segments, settings,
effects) on simulations built to trip each rule (an ordinal outcome, a focal
predictor expected to lower the outcome, inconclusive and equal-slope
segments, a trust outcome, one segment, a chain with a small indirect
effect) and on real surveys copied into the repository (switching
intention, a bank's loyalty index, an ordinal overall-satisfaction item).
:func:`audit` then reads the results as the notebooks do and lists every
sentence or name that says more than a test in ``results/`` supports, in
another unit than its family's, or against the numbers beside it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trustseg.model.families import family_class
from trustseg.report import advice, results, sentences
from trustseg.stages import fit as fit_stage
from trustseg.stages import segments as segments_stage

REPO = Path(__file__).resolve().parents[1]
SURVEYS = REPO / "tests" / "data" / "surveys"
EXAMPLES = REPO / "resources" / "examples"


# ----------------------------------------------------------------------------- running an analysis


def run_analysis(root: Path, clean: pd.DataFrame, name: str, *, k: int, outcome: str | None = None,
                 predictors=(), family: str = "gaussian", options: dict | None = None, scale=None,
                 higher_is: str = "better", expected: dict | None = None, equations=None, seed: int = 7,
                 n_init: int = 3, margin: float = 0.1) -> results.AnalysisResults:
    """Fit K segments and write the analysis's results with the workflow's stage functions; read them back."""
    clean_path = root / "cleaning" / "clean.csv"
    clean_path.parent.mkdir(parents=True, exist_ok=True)
    clean.to_csv(clean_path, index=False)
    base = root / name
    (base / "fits").mkdir(parents=True, exist_ok=True)
    focal = equations[0][1][0] if equations else predictors[0]
    outcome = equations[-1][0] if equations else outcome
    predictors = list(dict.fromkeys(p for _, ps in equations for p in ps)) if equations else list(predictors)
    fam = {"name": family, "options": options or {}}
    fit_stage.fit_k(str(clean_path), name, k, str(base / "fits" / f"k{k}.json"), outcome=outcome,
                    predictors=predictors, focal=focal, method="em", n_init=n_init, min_share=0.03, seed=seed,
                    weight_column=None, higher_is=higher_is, family=[fam] * len(equations) if equations else fam,
                    equations=equations, expected=expected)
    outputs = {key: str(base / f"{key}.csv") for key in ("segments", "tests", "assignments", "classification",
                                                         "covariance", "fitted_lines", "residual_spread")}
    outputs["summary"] = str(base / "summary.txt")
    segments_stage.segments(str(clean_path), name, str(base / "fits" / f"k{k}.json"), outputs, outcome=outcome,
                            predictors=predictors, focal=focal, cov_type="oim", alpha=0.05, equivalence_margin=margin,
                            weight_column=None, scale=scale, higher_is=higher_is, equations=equations,
                            expected=expected)
    if equations:
        segments_stage.chain_effects(str(clean_path), name, str(base / "fits" / f"k{k}.json"), outputs["segments"],
                                     str(base / "effects.csv"), equations=equations, cov_type="oim", alpha=0.05,
                                     equivalence_margin=margin, weight_column=None)
    selection = pd.DataFrame({"k_requested": [k], "k": [k], "k_fitted": [k], "loglik": [0.0], "bic": [0.0],
                              "chosen": [True]})
    selection.to_csv(base / "criteria.csv", index=False)
    selection.to_csv(base / "model_selection.csv", index=False)
    segments_stage.record_settings(
        str(base / "criteria.csv"), name, str(base / "analysis.json"), outcome=outcome, predictors=predictors,
        focal=focal, alpha=0.05, criterion="bic", equivalence_margin=margin, cov_type="oim", method="em",
        membership_ci_level=0.95, higher_is=higher_is, equations=equations,
        family=[fam] * len(equations) if equations else fam, expected=expected)
    return results.load_analysis(root, name)


# ----------------------------------------------------------------------------- the audit


UNIT_WORDS = {"outcome points": " points per", "latent outcome points": " points per",
              "log odds": " log odds per", "log odds of a higher answer": " log odds of a higher answer per",
              "log expected count": " log expected count per"}


def _member_means(run: results.AnalysisResults, clean: pd.DataFrame) -> dict[int, float]:
    data = run.assignments.merge(clean[["respondent_id", run.settings.outcome]], on="respondent_id")
    return data.groupby("segment")[run.settings.outcome].mean().to_dict()


def _comparison(run, a: int, b: int) -> str:
    pairs = run.tests.loc[run.tests["segment_a"].notna()]
    hit = pairs.loc[((pairs["segment_a"] == a) & (pairs["segment_b"] == b))
                    | ((pairs["segment_a"] == b) & (pairs["segment_b"] == a))]
    return str(hit["comparison"].iloc[0]) if len(hit) else ""


def text_problems(texts, unit: str) -> list[str]:
    """Rules 1 and 2: slopes in the family's unit (never "points" for log odds), no nonzero number shown as 0.00."""
    found = []
    for text in texts:
        if "log" in unit and re.search(r"\d points? per", text):
            found.append(f"a slope in points where the unit is {unit}: {text}")
        if re.search(r"(rises|falls) \d", text) and UNIT_WORDS[unit] not in text:
            found.append(f"a slope without its unit ({unit}): {text}")
        if re.search(r"(?<![\d.])[\u2212-]?0\.00(?!\d)", text):
            found.append(f"a number shown as 0.00: {text}")
    return found


def audit(run: results.AnalysisResults, clean: pd.DataFrame) -> list[str]:
    """Every sentence or name of ``run`` that breaks a rule, with the rule it breaks (empty: all true)."""
    s, found = run.settings, []
    summary = (results.chain_summary(run.segments, run.effects, s.focal) if run.effects is not None
               else results.segment_summary(run.segments, s.focal))
    means = _member_means(run, clean)
    texts = [sentences.verdict_sentence(run.segments, s)] if not s.is_chain else []
    texts += sentences.slope_comparison_sentences(run.tests, s, run.names)
    texts += [sentences.chain_sentence(run.effects, s, k, run.segments) for k in run.names] if s.is_chain else []
    mid = float(np.mean(list(means.values())))
    reading = advice.managerial_reading(summary, s, means, mid, "the mean", tests=run.tests)
    texts += reading
    found += text_problems(texts, s.effect_unit if s.is_chain else s.slope_unit)
    for r in summary.itertuples():
        name, verdict = str(r.name), str(r.verdict)
        # 3. an inconclusive segment is never named as if it had an answer
        if verdict == "inconclusive" and not run.settings.is_chain and (
                "unclear" not in name or any(w in name for w in ("Indifferent", "regardless", "-driven"))):
            found.append(f"segment {r.segment} is inconclusive but named {name!r}")
        # 4. a flat segment of an outcome that is not loyalty is not "Loyal regardless"
        if "Loyal regardless" in name and not re.search(r"loyal|repurchas", s.outcome, re.IGNORECASE):
            found.append(f"segment {r.segment} of outcome {s.outcome} is named {name!r}")
        # 5. a focal predictor expected to lower the outcome: its expected segments are "sensitive", never "averse"
        if s.focal_kind == "burden" and verdict in ("drives_up", "drives_down"):
            expected_way = (verdict == "drives_up") == (s.focal_sign > 0)
            if ("-sensitive" in name) != expected_way or "-averse" in name or "-driven" in name:
                found.append(f"segment {r.segment} ({verdict}, focal expected to lower) is named {name!r}")
    # 6. names agree with the numbers they summarise: "highest/higher/lower/lowest <outcome>" by the members' mean
    ranked = {}
    for k, name in run.names.items():
        match = re.search(r", (highest|higher|middle|lower|lowest|\d+(?:st|nd|rd|th) highest) ", name)
        if match:
            ranked.setdefault(name[:match.start()], []).append((k, match.group(1)))
    order = {"highest": 0, "higher": 0, "middle": 1, "lower": 2, "lowest": 3}
    for base, members in ranked.items():
        by_word = sorted(members, key=lambda m: order.get(m[1], int(re.match(r"\d+", m[1])[0]) if m[1][0].isdigit()
                                                       else 9))
        levels = [means[k] for k, _ in by_word]
        if levels != sorted(levels, reverse=True):
            found.append(f"the {base!r} segments are ranked {by_word} but their mean {s.outcome} is {levels}")
    # 7. advice comparing segments rests on a `differ` comparison of tests.csv
    for paragraph in reading:
        seg = int(re.match(r"\*\*Segment (\d+)", paragraph)[1])
        if "strongest" in paragraph:
            others = [k for k in run.names if k != seg]
            if not all(_comparison(run, seg, o) == "differ" for o in others):
                found.append(f"segment {seg} called the strongest without a differ comparison: {paragraph}")
        match = re.search(r"less strongly than segment (\d+)", paragraph)
        if match and _comparison(run, seg, int(match[1])) != "differ":
            found.append(f"segment {seg} said to respond less strongly without a test: {paragraph}")
        if s.focal_kind == "burden" and f"improving {sentences.label(s.focal)}" in paragraph:
            found.append(f"advice to improve a predictor expected to lower the outcome: {paragraph}")
    return found


# ----------------------------------------------------------------------------- simulations built to trip each rule


def _clean(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame({"respondent_id": [f"r{i}" for i in range(n)], **columns})


def test_the_audit_catches_what_it_is_for(tmp_path):
    """The audit fails on planted breaches: a log-odds slope in points, a wrong rank, advice without a test."""
    rng = np.random.default_rng(3)
    n = 400
    x = rng.uniform(1, 7, n)
    seg = rng.random(n) < 0.5
    y = np.where(seg, 1.0 + 0.8 * x, 2.0 + 0.8 * x) + rng.normal(0, 0.4, n)
    clean = _clean(satisfaction=x, loyalty=y)
    run = run_analysis(tmp_path, clean, "twins", outcome="loyalty", predictors=["satisfaction"], k=2)
    assert audit(run, clean) == []
    planted = run.segments.copy()
    names = {1: "Satisfaction-driven, lower loyalty", 2: "Satisfaction-driven, higher loyalty"}
    means = _member_means(run, clean)
    if means[1] > means[2]:
        names = {1: names[2], 2: names[1]}
    planted["name"] = planted["segment"].map({1: names[2], 2: names[1]})  # the ranks swapped
    assert any("ranked" in f for f in audit(_replace(run, segments=planted), clean))
    # the sentences the issue found: a log-odds slope in points, an effect printed as zero
    assert text_problems(["overall satisfaction rises 0.89 points per price perception point"],
                         "log odds of a higher answer")
    assert text_problems(["the indirect effect is \u22120.00 (95% CI 0.00 to 0.00)"], "outcome points")
    # advice that ranks segments whose slopes are not shown to differ
    planted = run.tests.assign(comparison="not_shown_to_differ")
    strong = advice.managerial_reading(results.segment_summary(run.segments, "satisfaction"), run.settings,
                                       tests=run.tests.assign(comparison="differ"))
    if any("strongest" in p for p in strong):
        import trustseg.report.advice as module

        original = module.managerial_reading
        try:
            module.managerial_reading = lambda *a, **k: strong
            assert any("without a differ comparison" in f for f in audit(_replace(run, tests=planted), clean))
        finally:
            module.managerial_reading = original


def _replace(run, **changes):
    import dataclasses

    return dataclasses.replace(run, **changes)


def _settings(run, **changes):
    import dataclasses

    return dataclasses.replace(run.settings, **changes)


def test_an_ordinal_outcome_is_read_in_log_odds(tmp_path):
    rng = np.random.default_rng(11)
    n = 500
    x = rng.uniform(1, 7, n)
    seg = rng.random(n) < 0.5
    latent = np.where(seg, 0.9 * (x - 4), 0.0 * x) + rng.logistic(0, 1, n)
    y = (np.digitize(latent, [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]) + 1).astype(float)
    clean = _clean(price_perception=x, overall_satisfaction=y)
    run = run_analysis(tmp_path, clean, "ordinal", outcome="overall_satisfaction", predictors=["price_perception"],
                       k=2, family="ordinal", options={"categories": [float(v) for v in range(1, 8)]},
                       scale=[1, 7], n_init=2)
    assert run.settings.family == ("ordinal",) and run.settings.slope_unit == family_class("ordinal").coefficient_unit
    text = sentences.verdict_sentence(run.segments, run.settings)
    assert "log odds of a higher answer per price perception point" in text and " points per" not in text
    assert audit(run, clean) == []
    assert "ordinal" in (tmp_path / "ordinal" / "analysis.json").read_text()


def test_a_focal_predictor_expected_to_lower_the_outcome(tmp_path):
    """Privacy concern lowers trust: the falling segment is the expected one, named and advised as such."""
    rng = np.random.default_rng(5)
    n = 600
    x = rng.uniform(1, 7, n)
    seg = rng.random(n) < 0.55
    y = np.where(seg, 7.0 - 0.8 * x, 2.5 + 0.6 * x) + rng.normal(0, 0.45, n)
    clean = _clean(privacy_concern=x, trust=np.clip(y, 1, 7))
    run = run_analysis(tmp_path, clean, "privacy", outcome="trust", predictors=["privacy_concern"], k=2,
                       expected={"privacy_concern": "lowers"}, scale=[1, 7])
    names = run.names
    assert names[1] == "Privacy concern-sensitive" and names[2] == "Privacy concern-tolerant"
    text = sentences.verdict_sentence(run.segments, run.settings)
    first, second = text.split(". In segment 2")
    assert "against the expected direction" not in first
    assert "against the expected direction (privacy concern is expected to lower trust" in second
    reading = advice.managerial_reading(results.segment_summary(run.segments, "privacy_concern"), run.settings,
                                        tests=run.tests)
    assert "reducing privacy concern" in reading[0].lower() and "improving privacy" not in " ".join(reading).lower()
    assert audit(run, clean) == []


def test_inconclusive_and_equal_slope_segments(tmp_path):
    """Two segments with the same slope are never ranked by it; a noisy, small segment is never given an answer."""
    rng = np.random.default_rng(8)
    n = 900
    x = rng.uniform(1, 7, n)
    u = rng.random(n)
    y = np.where(u < 0.42, 0.5 + 0.7 * x, np.where(u < 0.84, 2.8 + 0.7 * x, 4.0 + 0.12 * x))
    y = y + np.where(u < 0.84, rng.normal(0, 0.3, n), rng.normal(0, 1.6, n))
    clean = _clean(satisfaction=x, repurchase=y)
    run = run_analysis(tmp_path, clean, "alike", outcome="repurchase", predictors=["satisfaction"], k=3, n_init=4)
    summary = results.segment_summary(run.segments, "satisfaction")
    driven = summary.loc[summary["verdict"] == "drives_up", "segment"].tolist()
    assert len(driven) == 2 and _comparison(run, *driven) != "differ"
    reading = advice.managerial_reading(summary, run.settings, tests=run.tests)
    assert not any("strongest" in p or "less strongly" in p for p in reading)
    assert any("not shown to differ" in p for p in reading)
    assert audit(run, clean) == []
    # the third segment's verdict: whatever it is, its name matches it
    third = summary.loc[~summary["segment"].isin(driven)].iloc[0]
    if third["verdict"] == "inconclusive":
        assert third["name"].startswith("Satisfaction effect unclear")


def test_a_flat_trust_segment_is_high_trust_not_loyalty(tmp_path):
    rng = np.random.default_rng(13)
    n = 600
    x = rng.uniform(1, 7, n)
    seg = rng.random(n) < 0.5
    y = np.where(seg, 0.6 + 0.8 * x, 6.2 + 0.0 * x) + rng.normal(0, 0.3, n)
    clean = _clean(satisfaction=x, trust=y)
    run = run_analysis(tmp_path, clean, "trusting", outcome="trust", predictors=["satisfaction"], k=2, scale=[1, 7])
    assert set(run.names.values()) == {"Satisfaction-driven", "High trust regardless"}
    assert audit(run, clean) == []


def test_one_segment_claims_no_comparison_and_no_profile_test(tmp_path):
    rng = np.random.default_rng(17)
    n = 300
    x = rng.uniform(1, 7, n)
    clean = _clean(satisfaction=x, loyalty=1.0 + 0.7 * x + rng.normal(0, 0.5, n))
    run = run_analysis(tmp_path, clean, "single", outcome="loyalty", predictors=["satisfaction"], k=1)
    reading = advice.managerial_reading(results.segment_summary(run.segments, "satisfaction"), run.settings,
                                        tests=run.tests)
    assert len(reading) == 1 and "strongest" not in reading[0] and "expected to pay off here" in reading[0]
    profiles = pd.DataFrame({"variable": ["gender", "gender"], "kind": ["categorical"] * 2, "level": ["f", "m"],
                             "segment": [1, 1], "value": [0.5, 0.5], "overall": [0.5, 0.5], "p_value": [np.nan] * 2})
    said = sentences.profile_differences(profiles, run.names)
    assert "no profile variable was tested" in said and "p \u2265" not in said
    assert audit(run, clean) == []


def test_a_chain_prints_small_effects_with_their_own_decimals(tmp_path):
    """A tiny indirect effect reads as the number it is, never "0.00 (0.00 to 0.00)"; one unit everywhere."""
    rng = np.random.default_rng(21)
    n = 600
    x = rng.uniform(1, 7, n)
    seg = rng.random(n) < 0.5
    m = np.where(seg, 1.0 + 0.8 * x, 4.0 + 0.01 * x) + rng.normal(0, 0.3, n)
    y = np.where(seg, 0.5 + 0.2 * x + 0.6 * m, 1.0 + 0.7 * x + 0.03 * m) + rng.normal(0, 0.3, n)
    clean = _clean(satisfaction=x, trust=m, repurchase=y)
    equations = [("trust", ["satisfaction"]), ("repurchase", ["satisfaction", "trust"])]
    run = run_analysis(tmp_path, clean, "chain", equations=equations, k=2, n_init=3)
    text = " ".join(sentences.chain_sentence(run.effects, run.settings, k, run.segments) for k in run.names)
    assert "0.00 " not in text and "outcome points per satisfaction point" in text
    summary = (tmp_path / "chain" / "summary.txt").read_text()
    assert "system" not in summary and "coefficients and effects in outcome points" in summary
    assert audit(run, clean) == []


# ----------------------------------------------------------------------------- real surveys


def _score(frame: pd.DataFrame, items) -> pd.Series:
    return frame[list(items)].mean(axis=1)


def test_switching_intention_runs_the_other_way_on_the_real_survey(tmp_path):
    raw = pd.read_csv(SURVEYS / "switching.csv")
    keep = raw[["INT1", "INT2"]].le(5).all(axis=1)  # a handful of 6s lie off the 1-5 scale
    raw = raw.loc[keep].reset_index(drop=True)
    clean = _clean(satisfaction=_score(raw, ["SAT1", "SAT2", "SAT3"]),
                   switching_intention=_score(raw, ["INT1", "INT2"]))
    run = run_analysis(tmp_path, clean, "switching", outcome="switching_intention", predictors=["satisfaction"], k=2,
                       family="censored", options={"lower": 1.0, "upper": 5.0}, scale=[1, 5], higher_is="worse")
    assert run.settings.slope_unit == "latent outcome points"
    assert audit(run, clean) == []
    assert "Loyal regardless" not in " ".join(run.names.values())


def test_the_bank_survey_names_agree_with_its_loyalty_means(tmp_path):
    raw = pd.read_csv(EXAMPLES / "plspm_satisfaction_bank.csv")
    clean = _clean(satisfaction=_score(raw, [f"sat{i}" for i in range(1, 5)]),
                   loyalty=_score(raw, [f"loy{i}" for i in range(1, 5)]))
    run = run_analysis(tmp_path, clean, "bank", outcome="loyalty", predictors=["satisfaction"], k=3,
                       family="censored", options={"lower": 0.0, "upper": 10.0}, scale=[0, 10], n_init=4)
    assert audit(run, clean) == []


def test_an_ordinal_overall_satisfaction_item_of_a_real_survey(tmp_path):
    raw = pd.read_csv(SURVEYS / "customer_satisfaction.csv").iloc[:600]
    clean = _clean(pricing=_score(raw, ["q2", "q3", "q4"]), overall_satisfaction=raw["q1"].astype(float))
    run = run_analysis(tmp_path, clean, "overall", outcome="overall_satisfaction", predictors=["pricing"], k=2,
                       family="ordinal", options={"categories": [float(v) for v in range(1, 11)]}, scale=[1, 10],
                       n_init=2)
    text = sentences.verdict_sentence(run.segments, run.settings)
    assert "log odds of a higher answer" in text and not re.search(r"\d points? per", text)
    assert audit(run, clean) == []


@pytest.mark.parametrize("example, items", [
    ("corp_rep_data", {"satisfaction": ["cusa"], "loyalty": ["cusl_1", "cusl_2", "cusl_3"]}),
])
def test_a_real_survey_with_missing_codes(tmp_path, example, items):
    raw = pd.read_csv(EXAMPLES / f"{example}.csv").replace(-99, np.nan)
    clean = _clean(**{name: _score(raw, cols) for name, cols in items.items()}).dropna().reset_index(drop=True)
    run = run_analysis(tmp_path, clean, example, outcome="loyalty", predictors=["satisfaction"], k=2,
                       family="censored", options={"lower": 1.0, "upper": 7.0}, scale=[1, 7])
    assert audit(run, clean) == []
