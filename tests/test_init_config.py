"""Drafting a config from a survey file."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from trustseg.config import validate_config
from trustseg.errors import DataError
from trustseg.survey.cleaning import clean_survey
from trustseg.survey.init_config import describe_columns, draft_config, suspected_missing_codes
from trustseg.survey.io import read_survey

REPO = Path(__file__).resolve().parents[1]
SURVEYS = REPO / "tests" / "data" / "surveys"

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir))


def test_suspected_missing_codes():
    assert suspected_missing_codes(pd.Series([1, 2, 7, -99, 99, 5])) == [-99, 99]
    assert suspected_missing_codes(pd.Series([18, 45, 99, 80])) == []  # an age of 99 is real
    assert suspected_missing_codes(pd.Series([0, 5, 10, -9])) == [-9]
    assert suspected_missing_codes(pd.Series(["a", "b"])) == []


def test_describe_columns_types_and_ranges():
    raw = pd.DataFrame({"q": [1, 5, -99], "t": ["Agree", "Strongly agree", None], "x": [0.5, 1.5, 2.0],
                        "e": [None] * 3})
    info = describe_columns(raw).set_index("column")
    assert info.loc["q", "type"] == "integer" and (info.loc["q", "low"], info.loc["q", "high"]) == (1, 5)
    assert info.loc["q", "missing_codes"] == [-99] and info.loc["q", "rating_like"]
    assert info.loc["t", "type"] == "text" and info.loc["t", "rating_like"]
    assert info.loc["x", "type"] == "decimal" and info.loc["e", "type"] == "empty"


@pytest.mark.parametrize("name,expected", [
    ("ecsi_mobi.csv", {"satisfaction": ["CUSA1", "CUSA2", "CUSA3"], "loyalty": ["CUSL1", "CUSL2", "CUSL3"]}),
    ("plspm_satisfaction_bank.csv", {"satisfaction": ["sat1", "sat2", "sat3", "sat4"],
                                     "loyalty": ["loy1", "loy2", "loy3", "loy4"]}),
    # switch_1-4 (switching costs in this survey) are drafted as a switching construct, an outcome candidate
    ("corp_rep_data.csv", {"satisfaction": ["cusa"], "loyalty": ["cusl_1", "cusl_2", "cusl_3"],
                           "switching": ["switch_1", "switch_2", "switch_3", "switch_4"]}),
])
def test_example_surveys_draft_valid_configs_that_clean(name, expected, monkeypatch):
    monkeypatch.chdir(ROOT)
    text = draft_config(f"resources/examples/{name}")
    cfg = validate_config(yaml.safe_load(text))
    assert {k: v["items"] for k, v in cfg["constructs"].items()} == expected
    (analysis,) = cfg["analyses"].values()
    assert analysis["outcome"] == "loyalty" and analysis["predictors"] == ["satisfaction"]
    assert "#   CUSA1: integer" in text or name != "ecsi_mobi.csv"
    if name == "corp_rep_data.csv":
        assert cfg["data"]["missing_codes"] == [-99]
        assert cfg["constructs"]["loyalty"]["scale"] == [1, 7]
        assert "suspected missing codes [-99]" in text
    res = clean_survey(read_survey(cfg["data"]["path"], cfg["data"]), cfg)
    assert len(res.clean) > 0


def test_chinese_survey_in_gbk_with_text_answers(tmp_path):
    text = ("编号,满意度1,满意度2,信任1,信任2,回购意愿,再次购买,性别,手机\n"
            "1,非常满意,满意,4,5,5,4,男,13812345678\n"
            "2,一般,不满意,2,3,2,2,女,+86 139 1234 5678\n"
            "3,满意,满意,4,4,4,5,女,0755-12345678\n")
    f = tmp_path / "调查.csv"
    f.write_bytes(text.encode("gbk"))
    draft = draft_config(f)
    cfg = validate_config(yaml.safe_load(draft))
    assert cfg["data"]["encoding"] == "gb18030"
    assert cfg["data"]["id_column"] == "编号"
    assert cfg["constructs"]["satisfaction"]["items"] == ["满意度1", "满意度2"]
    assert cfg["constructs"]["trust"]["items"] == ["信任1", "信任2"]
    assert cfg["constructs"]["repurchase"]["items"] == ["回购意愿", "再次购买"]
    assert cfg["data"]["value_labels"]["非常满意"] == 5
    # in the order the items and answers appear, whatever the hash seed
    assert list(cfg["data"]["value_labels"]) == ["非常满意", "一般", "满意", "不满意"]
    assert cfg["profile"] == ["性别"]
    assert "手机" in draft and "PERSONAL DATA" in draft
    analysis = cfg["analyses"]["repurchase_on_satisfaction"]
    assert analysis["predictors"] == ["satisfaction", "trust"]
    res = clean_survey(read_survey(f, cfg["data"]), cfg)
    assert res.clean["satisfaction"].tolist() == [4.5, 2.5, 4.0]
    assert "手机" in res.personal_columns


def test_qualtrics_constructs_from_question_texts(tmp_path):
    rows = [
        ["ResponseId", "Duration (in seconds)", "IPAddress", "Q1", "Q2", "Q3", "Q4"],
        ["Response ID", "Duration (in seconds)", "IP Address", "How satisfied are you with the service?",
         "How satisfied are you with the price?", "How likely are you to purchase again?", "Age"],
        ['{"ImportId":"_recordId"}', '{"ImportId":"duration"}', '{"ImportId":"ipAddress"}', '{"ImportId":"QID1"}',
         '{"ImportId":"QID2"}', '{"ImportId":"QID3"}', '{"ImportId":"QID4"}'],
    ] + [[f"R_{i}", str(100 + 10 * i), f"10.0.0.{i}", str(1 + i % 5), str(1 + (i + 1) % 5), str(1 + (i + 2) % 5),
          str(20 + i)] for i in range(12)]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    f = tmp_path / "export.csv"
    f.write_text(buffer.getvalue(), encoding="utf-8")
    cfg = validate_config(yaml.safe_load(draft_config(f)))
    assert cfg["constructs"]["satisfaction"]["items"] == ["Q1", "Q2"]
    assert cfg["constructs"]["repurchase"]["items"] == ["Q3"]
    assert cfg["data"]["id_column"] == "ResponseId"
    assert cfg["cleaning"]["speeders"]["duration_column"] == "Duration (in seconds)"


def test_fallback_when_no_construct_is_named(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("a,b,c\n1,2,3\n3,4,5\n5,5,1\n", encoding="utf-8")
    draft = draft_config(f)
    cfg = validate_config(yaml.safe_load(draft))
    # the stand-ins are called what they are, not "repurchase" or "satisfaction", and their slots say CHECK
    (analysis,) = cfg["analyses"].values()
    focal = analysis["predictors"][0]
    assert analysis["outcome"] == "outcome" and focal.endswith("_score") and "satisfaction" not in cfg["constructs"]
    assert len(cfg["constructs"]["outcome"]["items"]) == len(cfg["constructs"][focal]["items"]) == 1
    assert "CHECK: no satisfaction construct found by name" in draft and "CHECK: no outcome" in draft
    assert 'outcome: "outcome"  # CHECK' in draft


def test_no_rating_columns_is_an_error(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("name,x\nann,1000.5\nbob,2000.25\n", encoding="utf-8")
    with pytest.raises(DataError, match="no column that looks like a rating item"):
        draft_config(f)


def test_survey_file_is_not_changed(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("sat1,loy1\n1,2\n3,4\n", encoding="utf-8")
    before = f.read_bytes()
    draft_config(f)
    assert f.read_bytes() == before


def _ratings(tmp_path, columns: dict, n: int = 30, **text_columns) -> str:
    """A CSV of whole-number answers (column -> highest answer) and constant text columns; returns the draft."""
    import numpy as np

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({name: rng.integers(1, top + 1, n) for name, top in columns.items()})
    for name, value in text_columns.items():
        frame[name] = value
    f = tmp_path / "s.csv"
    frame.to_csv(f, index=False)
    return draft_config(f)


def test_intention_recommendation_switching_and_complaint_columns_are_recognised(tmp_path):
    draft = _ratings(tmp_path, {"SAT1": 7, "SAT2": 7, "INT1": 7, "INT2": 7, "likely_return": 7, "switch_provider": 7,
                                "churn": 7, "recommend_friends": 7, "NPS": 10, "WOM1": 7, "complain1": 7,
                                "price_level": 7, "INV1": 7, "employment": 5},
                     comment="I would recommend it and will likely come back")
    cfg = validate_config(yaml.safe_load(draft))
    items = {name: spec["items"] for name, spec in cfg["constructs"].items()}
    assert items == {"satisfaction": ["SAT1", "SAT2"], "recommendation": ["recommend_friends", "NPS", "WOM1"],
                     "switching": ["switch_provider", "churn"], "complaints": ["complain1"],
                     "intention": ["INT1", "INT2", "likely_return"]}
    # price and involvement items, free text and "employment" (no "loy"alty) join no construct
    used = {i for spec in items.values() for i in spec}
    assert not used & {"price_level", "INV1", "comment", "employment"}
    assert "Kept out of the outcome guess as price, value or involvement items: price_level, INV1." in draft
    # every outcome candidate is listed; the two that run the other way say so
    (analysis,) = cfg["analyses"].values()
    assert analysis["outcome"] == "intention"
    assert 'outcome: "intention"  # CHECK' in draft
    assert "#   switching: switching: the intention to switch or churn runs the other way (higher_is: worse)" in draft
    for name in ("intention", "recommendation", "complaints"):
        assert f"#   {name}: " in draft


def test_a_switching_outcome_says_higher_is_worse_in_its_slot(tmp_path):
    draft = _ratings(tmp_path, {"sat_1": 5, "sat_2": 5, "churn_risk": 5})
    cfg = validate_config(yaml.safe_load(draft))
    analysis = cfg["analyses"]["switching_on_satisfaction"]
    assert analysis["outcome"] == "switching" and analysis["higher_is"] == "worse"
    assert 'outcome: "switching"  # CHECK' in draft and "higher_is: worse  # CHECK" in draft


def test_price_and_involvement_items_never_stand_in_for_the_outcome(tmp_path):
    # the file: an involvement and a price item were drafted as "repurchase"
    draft = _ratings(tmp_path, {"sat1": 7, "sat2": 7, "involvement": 7, "price_fair": 7, "q9": 7})
    cfg = validate_config(yaml.safe_load(draft))
    assert cfg["constructs"]["outcome"]["items"] == ["q9"] and "repurchase" not in cfg["constructs"]
    with pytest.raises(DataError, match=r"involvement, price_fair, ask about price, value or involvement"):
        _ratings(tmp_path, {"sat1": 7, "sat2": 7, "involvement": 7, "price_fair": 7})


def test_question_texts_are_read_for_their_subject_before_likely(tmp_path):
    rows = [
        ["ResponseId", "Q1", "Q2", "Q3", "Q4", "Q5"],
        ["Response ID", "How satisfied are you overall?", "How likely are you to recommend us to a friend?",
         "How likely are you to pay a higher price?", "How likely are you to visit again?", "Any suggestions?"],
        ['{"ImportId":"_recordId"}'] + [f'{{"ImportId":"QID{i}"}}' for i in range(1, 6)],
    ] + [[f"R_{i}", str(1 + i % 5), str(1 + (i + 1) % 5), str(1 + (i + 2) % 5), str(1 + (i + 3) % 5),
          "I would recommend more likely times"] for i in range(12)]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    f = tmp_path / "export.csv"
    f.write_text(buffer.getvalue(), encoding="utf-8")
    cfg = validate_config(yaml.safe_load(draft_config(f)))
    items = {name: spec["items"] for name, spec in cfg["constructs"].items()}
    assert items == {"satisfaction": ["Q1"], "recommendation": ["Q2"], "intention": ["Q4"]}
    assert cfg["analyses"]["intention_on_satisfaction"]["outcome"] == "intention"


def test_the_draft_proposes_a_family_for_the_outcome_and_for_0_1_and_count_columns(tmp_path):
    import numpy as np

    rng = np.random.default_rng(4)
    n = 150
    frame = pd.DataFrame({"sat1": rng.integers(1, 8, n), "sat2": rng.integers(1, 8, n),
                          "repurchase_intent": rng.integers(1, 8, n), "renewed": rng.integers(0, 2, n),
                          "visits_per_year": rng.poisson(14, n)})
    f = tmp_path / "s.csv"
    frame.to_csv(f, index=False)
    draft = draft_config(f)
    cfg = validate_config(yaml.safe_load(draft))
    (analysis,) = cfg["analyses"].values()
    # a single rating item as the outcome: ordinal, marked for checking
    assert analysis["outcome"] == "repurchase" and analysis["family"] == "ordinal"
    assert "family: ordinal  # CHECK" in draft
    assert "#   renewed (0/1: family binomial)" in draft
    assert "#   visits_per_year (counts: family poisson)" in draft
    # a score over several items keeps the default
    several = _ratings(tmp_path, {"sat_1": 7, "sat_2": 7, "rep_1": 7, "rep_2": 7, "rep_3": 7})
    assert "family: auto  # CHECK: a score over 3 items" in several


# ----------------------------------------------------------------------------- surveys it could not read before


def _draft(tmp_path, frame: pd.DataFrame, name: str = "survey.csv") -> tuple[str, dict]:
    f = tmp_path / name
    frame.to_csv(f, index=False)
    draft = draft_config(f)
    return draft, validate_config(yaml.safe_load(draft))


def _runs(cfg: dict, frame: pd.DataFrame, tmp_path) -> None:
    """The drafted config passes every start-up check the workflow makes, the family's included: no dead end."""
    from trustseg.config import check_columns
    from trustseg.stages.families import check_outcome_families
    from trustseg.survey.checks import check_survey

    check_columns(cfg, list(frame.columns), "the survey")
    warnings = check_survey(cfg, frame, "the survey")
    check_outcome_families(cfg, frame, "the survey")
    # no warning sends the user to a family the draft did not propose
    families = {a.get("family") for a in cfg["analyses"].values()}
    assert not [w for w in warnings if "family ordinal" in w and "ordinal" not in families], warnings


def test_answers_on_a_grid_of_steps_make_an_ordinal_outcome_that_runs(tmp_path):
    """Items answered 0, 20, ..., 100 are rating items; the one-item outcome's ordinal family accepts them."""
    rng = np.random.default_rng(6)
    n = 200
    q = rng.normal(0, 1, n)

    def grid(z):
        return (np.clip(np.round(2.5 + 1.2 * z + rng.normal(0, 0.5, n)), 0, 5) * 20).astype(int)

    frame = pd.DataFrame({"quality_1": grid(q), "quality_2": grid(q), "quality_3": grid(q), "overall": grid(0.6 * q)})
    draft, cfg = _draft(tmp_path, frame)
    assert cfg["constructs"]["quality"]["items"] == ["quality_1", "quality_2", "quality_3"]
    assert cfg["constructs"]["outcome"]["items"] == ["overall"]
    assert cfg["constructs"]["outcome"]["scale"] == [0, 100] and cfg["constructs"]["outcome"]["step"] == 20
    (analysis,) = cfg["analyses"].values()
    assert analysis["family"] == "ordinal" and analysis["predictors"] == ["quality"]
    _runs(cfg, frame, tmp_path)


def test_yes_no_items_and_an_eleven_point_scale_with_labelled_ends(tmp_path):
    rng = np.random.default_rng(7)
    n = 240
    attributes = rng.random((n, 3)) < 0.5
    like = np.clip(np.round(attributes.sum(axis=1) * 2 - 3 + rng.normal(0, 1.2, n)), -5, 5).astype(int)
    like[:2] = [-5, 5]  # both labelled ends are answered
    labelled = {-5: "I hate it!-5", 5: "I love it!+5"}
    frame = pd.DataFrame({"yummy": np.where(attributes[:, 0], "Yes", "No"),
                          "convenient": np.where(attributes[:, 1], "Yes", "No"),
                          "tasty": np.where(attributes[:, 2], "Yes", "No"),
                          "Like": [labelled.get(v, f"{v:+d}" if v else "0") for v in like]})
    draft, cfg = _draft(tmp_path, frame)
    assert cfg["data"]["value_labels"]["I hate it!-5"] == -5 and cfg["data"]["value_labels"]["Yes"] == 1
    assert cfg["constructs"]["outcome"] == {**cfg["constructs"]["outcome"], "items": ["Like"], "scale": [-5, 5]}
    (analysis,) = cfg["analyses"].values()
    focal = analysis["predictors"][0]
    assert cfg["constructs"][focal]["scale"] == [0, 1] and analysis["family"] == "ordinal"
    _runs(cfg, frame, tmp_path)


def test_a_construct_is_taken_whole_from_its_stem_and_a_reversed_item_is_flagged(tmp_path):
    """Privacy concern -> trust -> intention: the whole privacy-concern construct stands in, expected to lower."""
    rng = np.random.default_rng(9)
    n = 300
    pc = rng.normal(0, 1, n)
    trust = -0.6 * pc + rng.normal(0, 0.8, n)

    def items(z, k):
        return [np.clip(np.round(4 + 1.2 * z + rng.normal(0, 0.6, n)), 1, 7).astype(int) for _ in range(k)]

    frame = pd.DataFrame({**{f"privacy_concern_{i + 1}": v for i, v in enumerate(items(pc, 3))},
                          **{f"trust_{i + 1}": v for i, v in enumerate(items(trust, 3))},
                          **{f"intention_use_{i + 1}": v for i, v in enumerate(items(0.7 * trust, 2))}})
    frame["trust_3"] = 8 - frame["trust_3"]
    draft, cfg = _draft(tmp_path, frame)
    assert cfg["constructs"]["privacy_concern"]["items"] == [f"privacy_concern_{i}" for i in (1, 2, 3)]
    assert cfg["constructs"]["trust"]["reverse"] == ["trust_3"] and "reverse-keyed?" in draft
    (analysis,) = cfg["analyses"].values()
    assert analysis["predictors"] == ["privacy_concern", "trust"] and analysis["outcome"] == "intention"
    assert analysis["expected"] == {"privacy_concern": "lowers"} and analysis["higher_is"] == "better"
    _runs(cfg, frame, tmp_path)


def test_direction_hints_follow_the_wording_of_the_real_surveys(tmp_path):
    """Switching intention runs the other way (the file says switching); switching costs do not; an overall
    rating, never a price item, stands in for the outcome of a survey that names nothing."""
    switching = pd.read_csv(SURVEYS / "switching.csv")
    draft, cfg = _draft(tmp_path, switching, "switching.csv")
    (analysis,) = cfg["analyses"].values()
    assert analysis["outcome"] == "intention" and analysis["higher_is"] == "worse"
    corp = pd.read_csv(REPO / "resources" / "examples" / "corp_rep_data.csv")
    draft, cfg = _draft(tmp_path, corp, "corp_rep_data.csv")
    (analysis,) = cfg["analyses"].values()
    assert analysis["outcome"] == "loyalty" and analysis["higher_is"] == "better"
    assert "higher_is: worse  # CHECK" not in draft
    satisfaction = pd.read_csv(SURVEYS / "customer_satisfaction.csv")
    draft, cfg = _draft(tmp_path, satisfaction, "customer_satisfaction.csv")
    assert cfg["constructs"]["outcome"]["items"] == ["q1"]  # overall satisfaction, not q2 (pricing)
    (analysis,) = cfg["analyses"].values()
    assert analysis["family"] == "ordinal"
    _runs(cfg, satisfaction, tmp_path)
