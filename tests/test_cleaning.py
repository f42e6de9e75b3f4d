"""Cleaning rules, scoring and the accounting of every respondent."""

from __future__ import annotations

import copy
import os

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trustseg.errors import ConfigError, DataError
from trustseg.survey.cleaning import FLAG_COLUMNS, REPORT_COLUMNS, clean_survey, detect_personal_columns
from trustseg.survey.io import identifiers, read_survey

ROOT = os.path.join(os.path.dirname(__file__), os.pardir)


def config(constructs=None, **sections):
    """A small config; keyword sections (data, cleaning, profile) override parts."""
    cfg = {
        "data": {"path": "survey.csv", "id_column": None, "missing_codes": []},
        "constructs": constructs or {"sat": {"items": ["s1", "s2"], "scale": [1, 5]},
                                     "rep": {"items": ["r1", "r2"], "scale": [1, 5]}},
        "cleaning": {},
        "profile": [],
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


def survey(**columns):
    return pd.DataFrame(columns)


BASE = dict(s1=[1, 2, 3, 4], s2=[2, 3, 4, 5], r1=[1, 3, 5, 2], r2=[2, 2, 4, 1])


def rule(result, name):
    return result.report.set_index("rule").loc[name]


def accounted(result, n, keep=False):
    """Every input row is in clean or flagged, in both exactly when flagged says it was kept (all, with keep)."""
    in_clean = list(result.clean.index)
    flagged = result.flagged
    assert flagged["source_row"].is_unique and set(flagged["action"]) <= {"dropped", "kept"}
    dropped = set(flagged.loc[flagged["action"] == "dropped", "source_row"])
    kept = set(flagged.loc[flagged["action"] == "kept", "source_row"])
    assert sorted(in_clean) == sorted(set(range(1, n + 1)) - dropped)
    assert kept <= set(in_clean)
    if keep:
        assert not dropped


def test_layout_of_clean_report_and_flagged():
    raw = survey(id=[11, 12, 13, 14], **BASE, w=[1.0, 2.0, 0.5, 1.0], gender=["m", "f", "f", "m"], junk=[0, 0, 0, 0])
    res = clean_survey(raw, config(data={"id_column": "id", "weight_column": "w"}, profile=["gender"]))
    assert list(res.clean.columns) == ["respondent_id", "s1", "s2", "r1", "r2", "sat", "rep", "w", "gender"]
    assert res.clean["respondent_id"].tolist() == ["11", "12", "13", "14"]  # ids are text
    assert res.clean.index.name == "source_row"
    assert res.clean["sat"].tolist() == [1.5, 2.5, 3.5, 4.5]
    assert list(res.report.columns) == REPORT_COLUMNS
    for name in ["input", "personal_data", "missing_codes", "value_labels", "out_of_scale", "reverse_keyed",
                 "duplicate_id", "straightlining", "speeders", "attention_check", "flagged",
                 "construct_score:sat", "construct_score:rep", "clean"]:
        assert name in set(res.report["rule"]), name
    assert list(res.flagged.columns[:5]) == ["respondent_id", "source_row", "rules", "detail", "action"]
    assert res.flagged.empty
    accounted(res, 4)


def test_raw_table_is_not_modified():
    raw = survey(**BASE)
    raw.loc[0, "s1"] = -99
    before = raw.copy()
    clean_survey(raw, config(data={"missing_codes": [-99]}))
    pd.testing.assert_frame_equal(raw, before)


def test_missing_codes_numeric_and_text():
    raw = survey(s1=[1, -99, 3, "N/A"], s2=["2", "99", "4", "5"], r1=[1, 3, 5, 2], r2=[2, 2, 4, 1])
    res = clean_survey(raw, config(data={"missing_codes": [-99, 99, "N/A"]}))
    assert res.clean["s1"].isna().tolist() == [False, True, False, True]
    assert res.clean["s2"].isna().tolist() == [False, True, False, False]
    row = rule(res, "missing_codes")
    assert (row["rows_affected"], row["cells_affected"]) == (2, 3)


def test_out_of_scale_answers_become_missing():
    raw = survey(s1=[1, 9, 3, 0], s2=[2, 3, 4, 5], r1=[1, 3, 5, 2], r2=[2, 2, 4, 1])
    res = clean_survey(raw, config())
    assert res.clean["s1"].isna().tolist() == [False, True, False, True]
    row = rule(res, "out_of_scale")
    assert (row["rows_affected"], row["cells_affected"]) == (2, 2)
    assert "s1: 2 outside [1, 5]" in row["detail"]
    # the score uses the remaining item
    assert res.clean["sat"].tolist() == [1.5, 3.0, 3.5, 5.0]


def test_reverse_keyed_items():
    cons = {"sat": {"items": ["s1", "s2"], "scale": [1, 7], "reverse": ["s2"]}}
    res = clean_survey(survey(s1=[1, 7, 4], s2=[7, 1, 4]), config(cons))
    assert res.clean["s2"].tolist() == [1.0, 7.0, 4.0]
    assert res.clean["sat"].tolist() == [1.0, 7.0, 4.0]
    assert rule(res, "reverse_keyed")["cells_affected"] == 3


def test_reverse_item_must_belong_to_the_construct():
    cons = {"sat": {"items": ["s1", "s2"], "scale": [1, 7], "reverse": ["s3"]}}
    with pytest.raises(ConfigError, match="reverse"):
        clean_survey(survey(s1=[1], s2=[2], s3=[3]), config(cons))


def test_text_labels_through_config_and_file_labels_config_wins():
    raw = survey(s1=["Strongly agree", "agree ", "Disagree", "3"], s2=["非常满意", "满意", "一般", "不满意"],
                 r1=[1, 3, 5, 2], r2=[2, 2, 4, 1])
    raw.attrs["value_labels"] = {"s1": {5: "Strongly agree", 4: "Agree", 2: "Disagree"}, "s2": {5: "非常满意"}}
    labels = {"非常满意": 5, "满意": 4, "一般": 3, "不满意": 2, "Disagree": 1}
    res = clean_survey(raw, config(data={"value_labels": labels}))
    assert res.clean["s1"].tolist() == [5.0, 4.0, 1.0, 3.0]  # "Disagree" -> 1 from the config, not 2 from the file
    assert res.clean["s2"].tolist() == [5.0, 4.0, 3.0, 2.0]
    assert rule(res, "value_labels")["cells_affected"] == 7


def test_text_in_rating_column_names_column_rows_and_fix():
    raw = survey(s1=[1, "five", 3, "lots"], s2=[2, 3, 4, 5], r1=[1, 3, 5, 2], r2=[2, 2, 4, 1])
    with pytest.raises(DataError) as err:
        clean_survey(raw, config())
    msg = str(err.value)
    assert "'s1'" in msg and "2 text answer" in msg and "[2, 4]" in msg
    assert "missing_codes" in msg and "value_labels" in msg


def test_config_column_missing_lists_closest_names():
    raw = survey(**{"satisfaction 1": [1, 2], "s2": [1, 2], "r1": [1, 2], "r2": [1, 2]})
    with pytest.raises(ConfigError) as err:
        clean_survey(raw, config({"sat": {"items": ["satisfaction1", "s2"], "scale": [1, 5]},
                                  "rep": {"items": ["r1", "r2"], "scale": [1, 5]}}))
    assert "constructs.sat.items" in str(err.value) and "'satisfaction 1'" in str(err.value)


def test_item_without_any_answer():
    raw = survey(s1=[-99, -99, None], s2=[2, 3, 4], r1=[1, 3, 5], r2=[2, 2, 4])
    with pytest.raises(DataError, match=r"item 's1' has no valid answer.*1 empty, 2 missing codes"):
        clean_survey(raw, config(data={"missing_codes": [-99]}))


def test_construct_without_valid_respondents():
    cons = {"sat": {"items": ["s1", "s2"], "scale": [1, 5], "min_answered": 1.0},
            "rep": {"items": ["r1"], "scale": [1, 5]}}
    raw = survey(s1=[1, None, 3], s2=[None, 2, None], r1=[1, 2, 3])
    with pytest.raises(DataError, match="construct 'sat' has no valid respondents"):
        clean_survey(raw, config(cons))


def test_min_answered_and_missing_scores_are_reported():
    cons = {"sat": {"items": ["s1", "s2", "s3", "s4"], "scale": [1, 5], "min_answered": 0.75}}
    raw = survey(s1=[1, 2, 3], s2=[1, None, 3], s3=[1, None, None], s4=[5, 2, 3])
    res = clean_survey(raw, config(cons))
    assert res.clean["sat"].isna().tolist() == [False, True, False]
    assert res.clean["sat"].iloc[2] == 3.0
    assert rule(res, "construct_score:sat")["rows_affected"] == 1


def test_duplicate_ids_keep_first_and_flag_the_rest():
    raw = survey(id=["a", "b", "a", "c", "a"], s1=[1, 2, 3, 4, 5], s2=[1, 2, 3, 4, 5],
                 r1=[1, 2, 3, 4, 5], r2=[1, 2, 3, 4, 5])
    res = clean_survey(raw, config(data={"id_column": "id"}))
    assert res.clean["respondent_id"].tolist() == ["a", "b", "c"]
    assert res.flagged["source_row"].tolist() == [3, 5]
    assert set(res.flagged["rules"]) == {"duplicate_id"}
    assert "first seen in source row 1" in res.flagged["detail"].iloc[0]
    assert rule(res, "duplicate_id")["rows_affected"] == 2
    accounted(res, 5)
    off = clean_survey(raw, config(data={"id_column": "id"}, cleaning={"duplicates": False}))
    assert len(off.clean) == 5


def test_missing_id_is_flagged_not_lost():
    raw = survey(id=[1.0, None, 3.0], s1=[1, 2, 3], s2=[1, 2, 3], r1=[1, 2, 3], r2=[3, 2, 1])
    res = clean_survey(raw, config(data={"id_column": "id"}))
    assert res.clean["respondent_id"].tolist() == ["1", "3"]  # ids are text, without a decimal point
    assert res.flagged["rules"].tolist() == ["missing_id"]
    accounted(res, 3)


def test_straightlining_needs_min_items():
    raw = survey(s1=[3, 3, 2, 4], s2=[3, 3, 3, 4], r1=[3, 3, 4, None], r2=[3, None, 5, 4])
    res = clean_survey(raw, config(cleaning={"straightlining": {"min_items": 4}}))
    assert res.flagged["source_row"].tolist() == [1]
    assert "all 4 answered rating items are 3" in res.flagged["detail"].iloc[0]
    res3 = clean_survey(raw, config(cleaning={"straightlining": {"min_items": 3}}))
    assert res3.flagged["source_row"].tolist() == [1, 2, 4]
    off = clean_survey(raw, config(cleaning={"straightlining": {"enabled": False, "min_items": 3}}))
    assert off.flagged.empty and rule(off, "straightlining")["action"] == "skipped"


def test_straightlining_looks_at_answers_before_reverse_keying():
    cons = {"sat": {"items": ["s1", "s2"], "scale": [1, 5], "reverse": ["s2"]}}
    res = clean_survey(survey(s1=[2, 1], s2=[2, 5]), config(cons, cleaning={"straightlining": {"min_items": 2}}))
    assert res.flagged["source_row"].tolist() == [1]


def test_speeders():
    raw = survey(**BASE, secs=[30, 300, None, 59])
    res = clean_survey(raw, config(cleaning={"speeders": {"duration_column": "secs", "min_seconds": 60}}))
    assert res.flagged["source_row"].tolist() == [1, 4]
    assert "secs = 30 s < 60 s" in res.flagged["detail"].iloc[0]
    # the duration shows in the detail; the raw column, not used by the clean data, is not carried
    assert "secs" not in res.flagged.columns
    # Qualtrics' duration column is found when only the threshold is set
    raw2 = survey(**BASE, **{"Duration (in seconds)": [30, 300, 400, 500]})
    auto = clean_survey(raw2, config(cleaning={"speeders": {"min_seconds": 60}}))
    assert auto.flagged["source_row"].tolist() == [1]
    skipped = clean_survey(survey(**BASE), config(cleaning={"speeders": {"min_seconds": 60}}))
    assert rule(skipped, "speeders")["action"] == "skipped"


def test_attention_checks_numbers_and_text():
    raw = survey(**BASE, attn=[4, 3, None, 4], attn2=["blue", "Blue ", "red", "blue"])
    checks = [{"item": "attn", "expected": 4}, {"item": "attn2", "expected": "blue"}]
    res = clean_survey(raw, config(cleaning={"attention_checks": checks}))
    assert res.flagged["source_row"].tolist() == [2, 3]
    assert res.flagged["rules"].tolist() == ["attention_check:attn", "attention_check:attn; attention_check:attn2"]
    assert rule(res, "attention_check:attn")["rows_affected"] == 2


def test_flagged_action_keep_keeps_and_lists():
    raw = survey(id=[1, 1, 2, 3], **BASE)
    res = clean_survey(raw, config(data={"id_column": "id"}, cleaning={"flagged_action": "keep"}))
    assert len(res.clean) == 4 and res.flagged["source_row"].tolist() == [2]
    accounted(res, 4, keep=True)


def test_everyone_flagged_is_an_error_not_an_empty_result():
    raw = survey(id=[1, 1], s1=[1, 2], s2=[1, 2], r1=[1, 2], r2=[1, 2], attn=[0, 0])
    with pytest.raises(DataError, match="all 2 respondents were flagged"):
        clean_survey(raw, config(cleaning={"attention_checks": [{"item": "attn", "expected": 1}]}))


def test_weights_are_validated():
    good = clean_survey(survey(**BASE, w=[1, 2, 3, 4]), config(data={"weight_column": "w"}))
    assert good.clean["w"].tolist() == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(DataError, match=r"weight column 'w' has .*1 missing \(data rows 4\); 1 zero or negative "
                                        r"\(data rows 2\)"):
        clean_survey(survey(**BASE, w=[1, 0, 3, None]), config(data={"weight_column": "w"}))
    with pytest.raises(DataError, match=r"runs from 1 to 1e\+300.*data rows 4\)"):
        clean_survey(survey(**BASE, w=[1, 2, 3, 1e300]), config(data={"weight_column": "w"}))
    huge = clean_survey(survey(**BASE, w=[1e300, 2e300, 3e300, 1e300]), config(data={"weight_column": "w"}))
    assert huge.clean["w"].tolist() == [1e300, 2e300, 3e300, 1e300]


def test_personal_data_by_name_and_content_is_dropped():
    raw = survey(**BASE, **{
        "E-mail": ["a@x.org", None, "c@y.com", "d@z.de"],
        "contact": ["ann@example.com", "bob@example.org", "", "carl@example.net"],
        "tel": ["x", "y", "z", "w"],
        "note": ["+49 30 1234567", "030-1234567", "(555) 123-4567", "0171 2345678"],
        "IPAddress": ["1.2.3.4", "5.6.7.8", "9.9.9.9", "1.1.1.1"],
        "src": ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"],
        "LocationLatitude": [1.0, 2.0, 3.0, 4.0], "LocationLongitude": [1.0, 2.0, 3.0, 4.0],
        "RecipientLastName": ["A", "B", "C", "D"], "姓名": ["张", "李", "王", "赵"],
        "StartDate": ["2024-01-05 10:00:00"] * 4, "comment": ["nice", "ok", "meh", "fine"],
        "private": [1, 2, 3, 4],
    })
    cleaning = {"personal_data_columns": ["private"], "attention_checks": [{"item": "s2", "expected": 2}]}
    res = clean_survey(raw, config(data={"id_column": None}, cleaning=cleaning))
    expected = {"E-mail", "contact", "tel", "note", "IPAddress", "src", "LocationLatitude", "LocationLongitude",
                "RecipientLastName", "姓名", "private"}
    assert set(res.personal_columns) == expected
    assert not expected & set(res.clean.columns)
    assert not expected & set(res.flagged.columns)
    assert len(res.flagged) == 3
    # unconfigured columns stay behind even when they are not personal data
    assert list(res.flagged.columns) == [*FLAG_COLUMNS, *res.clean.columns[1:]]
    assert not {"StartDate", "comment"} & set(res.personal_columns)
    row = rule(res, "personal_data")
    assert row["action"] == "dropped columns" and "E-mail" in row["detail"]


def test_personal_data_error_mode():
    raw = survey(**BASE, email=["a@b.cd"] * 4)
    with pytest.raises(DataError, match=r"personal data in column\(s\) 'email'.*personal_data: drop"):
        clean_survey(raw, config(cleaning={"personal_data": "error"}))


def test_ids_holding_personal_data_are_replaced_by_keyed_pseudonyms_or_refused():
    import hashlib
    import hmac

    raw = survey(**BASE, mail=["a@b.cd", "b@b.cd", "c@b.cd", "a@b.cd"])
    key = bytes(range(32))
    res = clean_survey(raw, config(data={"id_column": "mail"}), pseudonym_key=key)
    expected = [hmac.new(key, v.encode(), hashlib.sha256).hexdigest()[:20] for v in ["a@b.cd", "b@b.cd", "c@b.cd"]]
    assert res.clean["respondent_id"].tolist() == expected
    assert res.flagged["respondent_id"].tolist() == [expected[0]]  # the repeat of a@b.cd, still a duplicate
    assert not any("@" in str(v) for frame in (res.clean, res.flagged, res.report) for v in frame.to_numpy().ravel())
    assert "replaced by keyed pseudonyms" in rule(res, "personal_ids")["action"]
    with pytest.raises(DataError, match="no pseudonym key"):
        clean_survey(raw, config(data={"id_column": "mail"}))
    with pytest.raises(DataError, match=r"ids in column 'mail' .*e-mail addresses.*personal_data is error") as err:
        clean_survey(raw, config(data={"id_column": "mail"}, cleaning={"personal_data": "error"}), pseudonym_key=key)
    assert "b.cd" not in str(err.value)


def test_configured_columns_are_not_judged_by_name():
    raw = survey(**BASE, region_name=["n", "s", "n", "s"])
    res = clean_survey(raw, config(profile=["region_name"]))
    assert "region_name" in res.clean.columns and res.personal_columns == []


def test_detect_personal_columns_ignores_dates_and_ids():
    raw = survey(date=["2024-01-05", "2024-02-05"], when=["05/01/2024", "06/01/2024"], id=[1234567, 7654321])
    assert detect_personal_columns(raw) == {}


def test_odd_column_names_work_everywhere():
    cons = {"满意度": {"items": ["满意 1", "sat-2 (%)"], "scale": [1, 5]},
            "re purchase": {"items": ["回购?"], "scale": [1, 5]}}
    raw = survey(**{"编号": ["x1", "x2", "x1"], "满意 1": [1, 2, 3], "sat-2 (%)": [2, 3, 4], "回购?": [5, 4, 3],
                    "性别": ["男", "女", "男"]})
    res = clean_survey(raw, config(cons, data={"id_column": "编号"}, profile=["性别"]))
    assert list(res.clean.columns) == ["respondent_id", "满意 1", "sat-2 (%)", "回购?", "满意度", "re purchase", "性别"]
    assert res.flagged["rules"].tolist() == ["duplicate_id"]


def test_construct_name_clashing_with_a_column():
    cons = {"s1": {"items": ["s1", "s2"], "scale": [1, 5]}}
    with pytest.raises(ConfigError, match="clash"):
        clean_survey(survey(s1=[1], s2=[2]), config(cons))


def test_profile_codes_get_their_file_labels():
    raw = survey(**BASE, gender=[1, 2, 2, -99], age=[30, 40, -99, 50])
    raw.attrs["value_labels"] = {"gender": {1: "male", 2: "female"}}
    res = clean_survey(raw, config(data={"missing_codes": [-99]}, profile=["gender", "age"]))
    assert res.clean["gender"].tolist()[:3] == ["male", "female", "female"] and pd.isna(res.clean["gender"].iloc[3])
    assert res.clean["age"].isna().tolist() == [False, False, True, False]


# ----------------------------------------------------------------------------- the real example surveys


@pytest.mark.parametrize("name,n,items", [("ecsi_mobi", 250, 6), ("bank", 250, 8), ("corp_rep", 344, 6)])
def test_example_surveys_clean_sensibly(name, n, items, monkeypatch):
    monkeypatch.chdir(ROOT)
    with open(f"config/examples/{name}.yaml", encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    raw = read_survey(cfg["data"]["path"], cfg["data"])
    res = clean_survey(raw, cfg)
    accounted(res, n)
    assert len(res.clean) >= 0.9 * n
    assert list(res.clean.columns[:1 + items]) == ["respondent_id"] + [
        i for spec in cfg["constructs"].values() for i in spec["items"]]
    for cname, spec in cfg["constructs"].items():
        lo, hi = spec["scale"]
        scores = res.clean[cname].dropna()
        assert scores.between(lo, hi).all() and len(scores) >= 0.95 * len(res.clean)
    assert set(cfg["profile"]) <= set(res.clean.columns)
    assert res.personal_columns == []
    if name == "corp_rep":
        assert rule(res, "missing_codes")["cells_affected"] > 0
        assert not (res.clean[["age", "education", "occupation"]] == -99).any().any()


# ----------------------------------------------------------------------------- property-based


@st.composite
def tables(draw):
    n = draw(st.integers(1, 25))
    k = draw(st.integers(1, 4))
    answer = st.one_of(st.none(), st.integers(-99, 9), st.sampled_from([1, 2, 3, 4, 5, 99, "N/A", "agree"]))
    data = {f"q{j}": draw(st.lists(answer, min_size=n, max_size=n)) for j in range(2 * k)}
    # guarantee every item one valid answer: that is what valid input means here
    for j in range(2 * k):
        data[f"q{j}"][draw(st.integers(0, n - 1))] = draw(st.integers(1, 5))
    ids = draw(st.lists(st.integers(1, max(1, n // 2 + 1)), min_size=n, max_size=n))
    if draw(st.booleans()):
        ids = [f"R_{i}" for i in ids]  # ids are text or numbers, as in the file
    secs = draw(st.lists(st.one_of(st.none(), st.floats(0, 1000)), min_size=n, max_size=n))
    raw = pd.DataFrame({"rid": ids, "secs": secs, **{c: pd.Series(v, dtype=object) for c, v in data.items()}})
    cfg = config(
        {"a": {"items": [f"q{j}" for j in range(k)], "scale": [1, 5], "reverse": draw(st.sampled_from([[], ["q0"]])),
               "min_answered": draw(st.sampled_from([0.25, 0.5, 1.0]))},
         "b": {"items": [f"q{j}" for j in range(k, 2 * k)], "scale": [1, 5]}},
        data={"id_column": draw(st.sampled_from([None, "rid"])), "missing_codes": [-99, 99, "N/A"],
              "value_labels": {"agree": 4}},
        cleaning={"flagged_action": draw(st.sampled_from(["drop", "keep"])),
                  "straightlining": {"min_items": draw(st.integers(2, 8))},
                  "speeders": draw(st.sampled_from([{}, {"duration_column": "secs", "min_seconds": 100}]))},
    )
    return raw, cfg


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_property_never_crashes_never_loses_a_respondent(case):
    raw, cfg = case
    before = raw.copy()
    try:
        res = clean_survey(raw, copy.deepcopy(cfg))
    except DataError as exc:
        # the only refusals for such tables: nobody left, or a construct nobody scored
        assert "were flagged" in str(exc) or "no valid respondents" in str(exc)
        return
    n = len(raw)
    accounted(res, n, keep=cfg["cleaning"]["flagged_action"] == "keep")
    if cfg["data"]["id_column"] is not None:
        kept = res.clean["respondent_id"]
        assert kept.is_unique or cfg["cleaning"]["flagged_action"] == "keep"
        assert kept.tolist() == identifiers(raw["rid"]).iloc[res.clean.index - 1].tolist()
    assert res.report["rows_affected"].between(0, n).all()
    for name, spec in cfg["constructs"].items():
        lo, hi = spec["scale"]
        assert res.clean[name].dropna().between(lo, hi).all()
        assert res.clean[spec["items"]].stack().dropna().between(lo, hi).all()
    pd.testing.assert_frame_equal(raw, before)


def test_free_text_with_an_embedded_email_is_personal_data():
    from trustseg.survey.cleaning import detect_personal_columns

    raw = pd.DataFrame({
        "comment": ["Great greens", "", "Fees went up. Please contact me: member0042@example.com", "Bunkers need work"],
        "sat1": [5, 6, 7, 4],
    })
    found = detect_personal_columns(raw)
    assert list(found) == ["comment"]
    assert "e-mail" in found["comment"]


# ----------------------------------------------------------------------------- personal data at any share

PERSONAL_VALUES = [
    "jo.bloggs@example.co.uk", "reach me: ann+golf@example.org",
    "+44 20 7946 0958", "020 7946 0958", "call 07700 900461 after six",  # UK
    "+1 (415) 555-0132", "(415) 555-0132", "415-555-0132 is my cell",  # US
    "+49 30 12345678", "Handy: 0151 23456789", "+49 (0)30 1234567", "030/1234567",  # German
    "13812345678", "我的电话138 1234 5678", "+86 139 1234 5678",  # Chinese mobile
    "+33 6 12 34 56 78", "appelez le 01 23 45 67 89", "06.12.34.56.78",  # French
    "10.0.0.7", "logged in from 192.168.1.20", "2001:db8::8a2e:370:7334", "fe80::1",  # IPv4, IPv6
]


@pytest.mark.parametrize("value", PERSONAL_VALUES)
def test_personal_data_found_in_one_answer_of_many(value):
    answers = ["Lovely greens", "unknown", "", None, "Fees up 10% since 2023-01-05", "3 rounds a month"] * 33
    raw = survey(remarks=[*answers, value])
    found = detect_personal_columns(raw)
    assert list(found) == ["remarks"]
    assert value not in found["remarks"] and "1 " in found["remarks"]  # the report counts, never quotes


def test_ordinary_answers_are_not_personal_data():
    raw = survey(text=["2024-01-05 10:00:00", "05/01/2024 10:30", "12:30:45", "30000-60000", "£30,000-£60,000",
                       "0.123456789", "version 1.2.3.4.5", "the 2019-2020 season", "rounds 12345678",
                       "I paid 1 234 567 yen", "Note:: ok", "45-60 per round", "MAC 00:1A:2B:3C:4D:5E", "7 of 10"])
    assert detect_personal_columns(raw) == {}


def test_phone_in_a_configured_column_is_refused_without_showing_it():
    raw = survey(**BASE, region=["north", "south", "ring +44 20 7946 0958", "north"])
    with pytest.raises(ConfigError, match=r"'region'.*phone numbers.*remove them from the config") as err:
        clean_survey(raw, config(profile=["region"]))
    assert "7946" not in str(err.value)


def test_ids_are_not_read_as_phone_numbers():
    raw = survey(pid=["0012345678", "0012345679", "0012345680", "0012345681"], **BASE)
    res = clean_survey(raw, config(data={"id_column": "pid"}))
    assert res.clean["respondent_id"].tolist() == raw["pid"].tolist() and res.personal_columns == []


def test_flagged_carries_only_the_clean_columns():
    raw = survey(id=[1, 1, 2, 3], **BASE, gender=["m", "f", "f", "m"], secs=[10, 300, 300, 300],
                 origin=["unknown", "10.0.0.1", "unknown", "unknown"], remarks=["ok", "fine", "", "good"])
    cleaning = {"speeders": {"duration_column": "secs", "min_seconds": 60}}
    res = clean_survey(raw, config(data={"id_column": "id"}, cleaning=cleaning, profile=["gender"]))
    assert res.flagged["rules"].tolist() == ["speeders", "duplicate_id"]
    assert list(res.flagged.columns) == [*FLAG_COLUMNS, *res.clean.columns[1:]]
    assert res.personal_columns == ["origin"]
    assert "origin (1 of its 4 values look like IP addresses)" in rule(res, "personal_data")["detail"]


def test_a_raw_column_an_analysis_uses_is_carried_into_the_clean_data():
    cfg = config(analyses={"rep_on_years": {"outcome": "rep", "predictors": ["sat", "years"]}},
                 data={"missing_codes": [-99]})
    result = clean_survey(survey(**BASE, years=[3, -99, 12, 7], note=["a", "b", "c", "d"]), cfg)
    assert result.clean["years"].tolist()[0] == 3.0 and np.isnan(result.clean["years"].tolist()[1])
    assert "note" not in result.clean.columns and "note" not in result.flagged.columns
    # the workflow passes only the variables, so other analysis settings do not rerun the cleaning
    slim = config(analysis_variables=["rep", "sat", "years"], data={"missing_codes": [-99]})
    assert clean_survey(survey(**BASE, years=[3, -99, 12, 7]), slim).clean.equals(result.clean)


def test_text_or_decimal_commas_in_a_raw_analysis_column_are_named():
    cfg = config(analyses={"a": {"outcome": "rep", "predictors": ["years"]}})
    with pytest.raises(DataError, match=r"column 'years' \(an analysis variable\).*data.value_labels"):
        clean_survey(survey(**BASE, years=["3", "many", "12", "7"]), cfg)
    with pytest.raises(DataError, match=r"decimal comma.*data.decimal: \",\""):
        clean_survey(survey(**BASE, years=["3,5", "4,5", "12", "7"]), cfg)


# ----------------------------------------------------------------------------- straight-lining: flag or drop

BATTERY = [f"q{i}" for i in range(1, 11)]


def battery(rows, reverse=()):
    """A 10-item 1-10 battery as one construct (rows: one list of answers each), and its config."""
    raw = pd.DataFrame(rows, columns=BATTERY)
    cons = {"sat": {"items": BATTERY[:8], "scale": [1, 10], "reverse": list(reverse)},
            "rep": {"items": BATTERY[8:], "scale": [1, 10]}}
    return raw, cons


def test_straightliners_on_a_block_without_reverse_items_are_flagged_and_kept():
    rows = [[10] * 10, [10] * 10, [1] * 10, [5] * 10, list(range(1, 11)), [3, 4] * 5]
    raw, cons = battery(rows)
    res = clean_survey(raw, config(cons))
    # the happiest (and unhappiest) customers stay in the analysis, listed with the reason
    assert len(res.clean) == 6
    assert res.flagged["source_row"].tolist() == [1, 2, 3, 4]
    assert set(res.flagged["action"]) == {"kept"}
    assert "not evidence of careless answering: kept" in res.flagged["detail"].iloc[0]
    row = rule(res, "straightlining")
    assert row["rows_affected"] == 4 and row["action"] == "flagged: 0 dropped, 4 kept"
    assert "2 gave the scale maximum and 1 the scale minimum everywhere" in row["detail"]
    assert "the block has no reverse-keyed items, so this is not evidence of careless answering" in row["detail"]
    assert rule(res, "straightlining:scale_maximum")["rows_affected"] == 2
    assert rule(res, "straightlining:scale_minimum")["rows_affected"] == 1
    assert rule(res, "flagged")["action"] == "kept in clean (listed in flagged.csv)"
    accounted(res, 6)


def test_straightliners_who_answered_a_reverse_keyed_item_are_dropped():
    rows = [[10] * 10, [7] * 9 + [None], [6] * 10, [2, 8] * 5]
    raw, cons = battery(rows, reverse=["q10"])
    cons = {"sat": {"items": BATTERY, "scale": [1, 10], "reverse": ["q10"]}}
    res = clean_survey(raw, config(cons))
    # row 2 skipped the reverse-keyed item: nothing contradicts its answers, so it is kept
    assert dict(zip(res.flagged["source_row"], res.flagged["action"])) == {1: "dropped", 2: "kept", 3: "dropped"}
    assert sorted(res.clean.index) == [2, 4]
    row = rule(res, "straightlining")
    assert row["action"] == "flagged: 2 dropped, 1 kept"
    assert "reverse-keyed items (q10)" in row["detail"]
    assert "1 who skipped every reverse-keyed item are kept" in row["detail"]
    assert rule(res, "straightlining:scale_maximum")["action"] == "flagged: 1 dropped, 0 kept"
    assert rule(res, "flagged")["action"] == "2 dropped from clean, 1 kept (all listed in flagged.csv)"
    accounted(res, 4)


@pytest.mark.parametrize("action,flagged_action,reverse,dropped", [
    ("auto", "drop", ["q10"], True),
    ("auto", "keep", ["q10"], False),   # flagged_action: keep keeps what auto would drop
    ("auto", "drop", [], False),
    ("flag", "drop", ["q10"], False),   # flag never drops
    ("drop", "keep", [], True),         # drop always drops
    ("drop", "drop", [], True),
])
def test_straightlining_action_and_flagged_action(action, flagged_action, reverse, dropped):
    cons = {"sat": {"items": BATTERY, "scale": [1, 10], "reverse": reverse}}
    raw = pd.DataFrame([[10] * 10, list(range(1, 11)), [4, 5] * 5], columns=BATTERY)
    cleaning = {"flagged_action": flagged_action, "straightlining": {"action": action}}
    res = clean_survey(raw, config(cons, cleaning=cleaning))
    assert res.flagged["action"].tolist() == ["dropped" if dropped else "kept"]
    assert (1 not in res.clean.index) == dropped
    assert f"cleaning.straightlining.action: {action}" in rule(res, "straightlining")["detail"]


def test_a_kept_straightliner_flagged_by_another_rule_is_dropped():
    raw, cons = battery([[10] * 10, [10] * 10, list(range(1, 11))])
    raw["secs"] = [30, 400, 400]
    res = clean_survey(raw, config(cons, cleaning={"speeders": {"duration_column": "secs", "min_seconds": 60}}))
    assert dict(zip(res.flagged["source_row"], res.flagged["action"])) == {1: "dropped", 2: "kept"}
    assert res.flagged["rules"].tolist() == ["straightlining; speeders", "straightlining"]
    accounted(res, 3)


def test_a_construct_name_in_profile_profiles_its_score():
    from trustseg.model.profiles import profile_table

    # rep scores 1.0, 1.5, ..., 4.5: a score with many values, profiled as a number
    raw = survey(s1=[1, 2, 3, 4, 5, 1, 2, 3], s2=[2, 3, 4, 5, 5, 1, 2, 3], r1=[1, 1, 2, 2, 3, 3, 4, 4],
                 r2=[1, 2, 2, 3, 3, 4, 4, 5], gender=["m", "f", "f", "m", "f", "m", "f", "m"])
    res = clean_survey(raw, config(profile=["gender", "rep"]))
    assert list(res.clean.columns) == ["respondent_id", "s1", "s2", "r1", "r2", "sat", "rep", "gender"]
    segment = np.array([1, 1, 1, 1, 2, 2, 2, 2])
    table = profile_table(res.clean.reset_index(drop=True), segment, ["gender", "rep"])
    rep = table[table["variable"] == "rep"]
    assert set(rep["kind"]) == {"numeric"}
    assert rep.loc[rep["segment"].astype(str) == "1", "value"].iloc[0] == pytest.approx((1 + 1.5 + 2 + 2.5) / 4)
