"""Reading every supported survey format, and refusing bad files clearly."""

from __future__ import annotations

import csv
import hashlib
import io
import os

import pandas as pd
import pyreadstat
import pytest

from trustseg.errors import ConfigError, DataError
from trustseg.survey.io import decode_text, read_survey, value_label_order

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "resources", "examples")


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest(), os.stat(path).st_mtime_ns


def test_utf8_csv_numbers_text_and_missing(tmp_path):
    f = _write(tmp_path / "s.csv", "id,sat 1,gender\n1,5,male\n2,,female\n3,7,\n")
    df = read_survey(f, {})
    assert list(df.columns) == ["id", "sat 1", "gender"]
    assert df["id"].tolist() == [1, 2, 3]
    assert df["sat 1"].isna().tolist() == [False, True, False]
    assert df["gender"].iloc[0] == "male" and pd.isna(df["gender"].iloc[2])
    assert df.attrs["format"] == "csv" and df.attrs["source"] == str(f)


def test_bom_is_not_part_of_first_column(tmp_path):
    f = _write(tmp_path / "s.csv", "\ufeffid,q1\n1,3\n2,4\n")
    df = read_survey(f)
    assert list(df.columns) == ["id", "q1"]
    assert df.attrs["encoding"] == "utf-8-sig"


def test_gbk_csv_with_chinese_names_and_labels(tmp_path):
    text = "编号,满意度1,满意度2,性别\n1,非常满意,满意,男\n2,一般,不满意,女\n"
    f = _write(tmp_path / "cn.csv", text, "gbk")
    df = read_survey(f, {"encoding": "auto"})
    assert list(df.columns) == ["编号", "满意度1", "满意度2", "性别"]
    assert df["满意度1"].tolist() == ["非常满意", "一般"]
    assert df.attrs["encoding"] == "gb18030"


def test_latin1_csv(tmp_path):
    f = _write(tmp_path / "de.csv", "Stadt;Zufriedenheit;Bemerkung\nMünchen;5;schön\nKöln;3;naïve Überraschung\n",
               "latin-1")
    df = read_survey(f)
    assert df["Stadt"].tolist() == ["München", "Köln"]
    assert df["Bemerkung"].iloc[1] == "naïve Überraschung"
    assert df.attrs["encoding"] == "latin-1" and df.attrs["delimiter"] == ";"


def test_explicit_encoding_and_unreadable_bytes(tmp_path):
    f = _write(tmp_path / "cn.csv", "q,满意\n1,2\n", "gbk")
    assert list(read_survey(f, {"encoding": "gbk"}).columns) == ["q", "满意"]
    with pytest.raises(DataError, match="cannot be read as utf-8.*data.encoding"):
        read_survey(f, {"encoding": "utf-8"})
    with pytest.raises(ConfigError, match="not a known text encoding"):
        read_survey(f, {"encoding": "klingon"})


def test_binary_content_is_refused(tmp_path):
    f = tmp_path / "s.csv"
    f.write_bytes(b"a,b\n\x00\x01\x02,\x00\n")
    with pytest.raises(DataError, match="NUL bytes"):
        read_survey(f)


def test_decode_prefers_chinese_only_for_common_characters():
    assert decode_text("满意".encode("gbk"))[1] == "gb18030"
    assert decode_text("Müller".encode("latin-1"))[1] == "latin-1"


def test_tsv_and_sniffed_tab(tmp_path):
    f = _write(tmp_path / "s.tsv", "id\tq 1\tq2\n1\t3\t4\n2\t5\t6\n")
    df = read_survey(f)
    assert list(df.columns) == ["id", "q 1", "q2"] and df["q2"].tolist() == [4, 6]
    g = _write(tmp_path / "s.txt", "id\tq1\n1\t3\n")
    assert list(read_survey(g).columns) == ["id", "q1"]


def test_quoted_delimiters_and_pipes(tmp_path):
    f = _write(tmp_path / "s.csv", 'id|comment|q1\n1|"a|b"|3\n2|c|4\n')
    df = read_survey(f)
    assert df["comment"].tolist() == ["a|b", "c"]


def test_wrong_delimiter_everything_in_one_column(tmp_path):
    f = _write(tmp_path / "s.csv", "id;q1;q2\n1;3;4\n2;5;6\n")
    with pytest.raises(DataError, match=r"one column.*data.delimiter: ';'"):
        read_survey(f, {"delimiter": ","})


def test_ragged_rows_name_the_lines(tmp_path):
    f = _write(tmp_path / "s.csv", "id,q1,q2\n1,3,4\n2,5\n3,1,2,9\n")
    with pytest.raises(DataError, match=r"2 row\(s\).*line 3 has 2.*line 4 has 4"):
        read_survey(f)


@pytest.mark.parametrize("content", ["", "   \n\n"])
def test_empty_file(tmp_path, content):
    f = _write(tmp_path / "s.csv", content)
    with pytest.raises(DataError, match="empty"):
        read_survey(f)


def test_header_without_rows(tmp_path):
    with pytest.raises(DataError, match="no data rows"):
        read_survey(_write(tmp_path / "s.csv", "id,q1\n"))


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_survey(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="file format"):
        read_survey(_write(tmp_path / "s.dat", "a,b\n1,2\n"))


def test_zero_padded_ids_stay_text_and_blank_headers_named(tmp_path):
    f = _write(tmp_path / "s.csv", "id,,q1,,unnamed_2\n007,x,3,4,5\n010,y,5,6,7\n")
    df = read_survey(f)
    assert df["id"].tolist() == ["007", "010"]
    assert list(df.columns) == ["id", "unnamed_2_2", "q1", "unnamed_4", "unnamed_2"]
    assert df.attrs["renamed_columns"] == {"unnamed_2_2": "", "unnamed_4": ""}


def test_repeated_header_is_refused_with_its_column_numbers(tmp_path):
    f = _write(tmp_path / "s.csv", "id,sat_course,q2,sat_course ,q3,q2\n1,3,4,5,6,7\n2,5,6,7,1,2\n")
    with pytest.raises(DataError) as err:
        read_survey(f)
    message = str(err.value)
    assert "s.csv" in message and "more than once" in message
    assert "'sat_course'" in message and "columns 2 (B) and 4 (D)" in message
    assert "'q2' in columns 3 (C) and 6 (F)" in message
    assert "sat_course_2" not in message and "Rename" in message


def test_repeated_header_in_a_workbook_is_refused(tmp_path):
    f = tmp_path / "s.xlsx"
    pd.DataFrame([[1, 3, 4], [2, 5, 6]], columns=["id", "q1", "q1"]).to_excel(f, index=False)
    with pytest.raises(DataError, match=r"'q1' in columns 2 \(B\) and 3 \(C\)"):
        read_survey(f)


def test_decimal_commas_are_noticed_and_read_when_set(tmp_path):
    f = _write(tmp_path / "s.csv", "id;score;label\n1;4,5;a,b\n2;3;c\n3;-0,25;d\n")
    df = read_survey(f)
    assert df.attrs["delimiter"] == ";"
    assert df.attrs["decimal_comma_columns"] == {"score": "4,5"}
    df = read_survey(f, {"decimal": ","})
    assert df["score"].tolist() == [4.5, 3.0, -0.25]
    assert df["label"].tolist() == ["a,b", "c", "d"] and df.attrs["decimal_comma_columns"] == {}


def test_qualtrics_export(tmp_path):
    rows = [
        ["StartDate", "Duration (in seconds)", "ResponseId", "Q1_1", "Q1_2", "Q2"],
        ["Start Date", "Duration (in seconds)", "Response ID", "How satisfied are you? - Service",
         "How satisfied are you? - Price", "Would you buy again?"],
        ['{"ImportId":"startDate","timeZone":"America/Denver"}', '{"ImportId":"duration"}', '{"ImportId":"_recordId"}',
         '{"ImportId":"QID1_1"}', '{"ImportId":"QID1_2"}', '{"ImportId":"QID2"}'],
        ["2024-01-05 10:00:00", "300", "R_1", "5", "4", "Strongly agree"],
        ["2024-01-05 11:00:00", "41", "R_2", "3", "", "Agree"],
    ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    text = buffer.getvalue()
    df = read_survey(_write(tmp_path / "qualtrics.csv", text))
    assert df.attrs["format"] == "qualtrics"
    assert len(df) == 2 and df["ResponseId"].tolist() == ["R_1", "R_2"]
    assert df["Duration (in seconds)"].tolist() == [300, 41]
    assert df.attrs["question_text"]["Q1_1"] == "How satisfied are you? - Service"
    assert df.attrs["import_ids"]["Q2"] == "QID2"


def test_excel_sheets(tmp_path):
    f = tmp_path / "s.xlsx"
    with pd.ExcelWriter(f) as writer:
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="notes", index=False)
        pd.DataFrame({"id": [1, 2], "满意 1": [5, None], "gender": ["m", "f"]}).to_excel(
            writer, sheet_name="data", index=False)
    df = read_survey(f, {"sheet": "data"})
    assert list(df.columns) == ["id", "满意 1", "gender"]
    assert df["id"].tolist() == [1, 2] and pd.isna(df["满意 1"].iloc[1])
    assert list(read_survey(f, {"sheet": 1}).columns) == ["id", "满意 1", "gender"]
    with pytest.raises(DataError, match=r"no sheet 'survey'.*\['notes', 'data'\]"):
        read_survey(f, {"sheet": "survey"})
    with pytest.raises(DataError, match="out of range"):
        read_survey(f, {"sheet": 5})


def test_spss_value_labels_and_question_texts(tmp_path):
    f = tmp_path / "s.sav"
    df = pd.DataFrame({"q1": [1.0, 5.0, 3.0], "gender": [1.0, 2.0, 1.0]})
    pyreadstat.write_sav(df, str(f), column_labels=["How satisfied?", "Gender"],
                         variable_value_labels={"q1": {1.0: "Very dissatisfied", 5.0: "Very satisfied"},
                                                "gender": {1.0: "male", 2.0: "female"}})
    before = _digest(f)
    out = read_survey(f)
    assert out["q1"].tolist() == [1, 5, 3]
    assert out.attrs["value_labels"]["gender"] == {1: "male", 2: "female"}
    assert out.attrs["question_text"]["q1"] == "How satisfied?"
    assert out.attrs["format"] == "spss"
    assert _digest(f) == before


def test_stata_value_labels(tmp_path):
    f = tmp_path / "s.dta"
    pyreadstat.write_dta(pd.DataFrame({"sat": [1, 2, 2], "region": [1, 2, 3]}), str(f),
                         variable_value_labels={"region": {1: "north", 2: "south", 3: "east"}})
    out = read_survey(f)
    assert out.attrs["value_labels"]["region"][3] == "east"
    assert out["sat"].tolist() == [1, 2, 2]


def test_value_label_order_follows_the_codes(tmp_path):
    sav = tmp_path / "s.sav"
    # Codes, not the order the labels were written in nor the alphabet, give the order.
    pyreadstat.write_sav(pd.DataFrame({"income": [3.0, 1.0, 2.0], "q1": [1.0, 2.0, 3.0]}), str(sav),
                         variable_value_labels={"income": {3.0: ">100k", 1.0: "Low", 2.0: "Medium", 4.0: "Low"}})
    before = _digest(sav)
    assert value_label_order(sav) == {"income": ["Low", "Medium", ">100k"]}
    assert _digest(sav) == before
    dta = tmp_path / "s.dta"
    pyreadstat.write_dta(pd.DataFrame({"region": [1, 2, 3]}), str(dta),
                         variable_value_labels={"region": {2: "south", 1: "north", 3: "east"}})
    assert value_label_order(dta) == {"region": ["north", "south", "east"]}
    assert value_label_order(_write(tmp_path / "s.csv", "a\n1\n")) == {}  # a CSV has no value labels
    with pytest.raises(DataError, match="cannot be read as a SPSS"):
        value_label_order(_write(tmp_path / "bad.sav", "not spss"))


def test_parquet(tmp_path):
    f = tmp_path / "s.parquet"
    pd.DataFrame({"id": ["a", "b"], "q 1": [1.0, None]}).to_parquet(f)
    out = read_survey(f)
    assert list(out.columns) == ["id", "q 1"] and out["id"].tolist() == ["a", "b"]


def test_format_overrides_extension(tmp_path):
    f = _write(tmp_path / "s.dat", "a\tb\n1\t2\n")
    assert list(read_survey(f, {"format": "tsv"}).columns) == ["a", "b"]
    with pytest.raises(ConfigError, match="not a known format"):
        read_survey(f, {"format": "sas"})


def test_raw_file_is_never_changed(tmp_path):
    f = _write(tmp_path / "s.csv", "id,q1\n1,3\n2,-99\n")
    os.chmod(f, 0o444)  # reading must work on a read-only file
    before = _digest(f)
    read_survey(f)
    assert _digest(f) == before


@pytest.mark.parametrize("name,shape", [("ecsi_mobi.csv", (250, 24)), ("plspm_satisfaction_bank.csv", (250, 28)),
                                        ("corp_rep_data.csv", (344, 50))])
def test_example_surveys(name, shape):
    df = read_survey(os.path.join(EXAMPLES, name))
    assert df.shape == shape
