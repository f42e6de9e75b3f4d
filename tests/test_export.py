"""Exports of the segment memberships (SPSS, Stata, Excel, CSV), the tables workbook, and the run's provenance."""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest

import trustseg
from trustseg.stages import export, provenance

NAMES = {1: "Trust-building", 2: "Satisfaction-driven without trust", 3: "Loyal regardless"}


def _assignments(ids, k=3, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    post = rng.dirichlet(np.ones(k), size=len(ids))
    frame = pd.DataFrame({"respondent_id": [str(i) for i in ids], "segment": post.argmax(axis=1) + 1})
    for s in range(k):
        frame[f"posterior_{s + 1}"] = post[:, s]
    return frame


def _write_inputs(tmp_path: Path, ids, names=NAMES) -> tuple[Path, Path, pd.DataFrame]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    assignments = _assignments(ids, k=len(names))
    a_path, s_path = tmp_path / "assignments.csv", tmp_path / "segments.csv"
    assignments.to_csv(a_path, index=False)
    pd.DataFrame({"segment": [s for s in names for _ in (0, 1)], "name": [n for n in names.values() for _ in (0, 1)],
                  "term": ["intercept", "satisfaction"] * len(names)}).to_csv(s_path, index=False)
    return a_path, s_path, assignments


def _export(tmp_path: Path, ids, id_column="respondent_id", names=NAMES):
    a_path, s_path, assignments = _write_inputs(tmp_path, ids, names)
    outputs = {fmt: str(tmp_path / "export" / f"chain_segments.{fmt}") for fmt in export.EXPORT_FORMATS}
    export.export_segments(str(a_path), str(s_path), outputs, analysis="chain", id_column=id_column)
    return outputs, assignments


def test_every_format_reads_back_with_the_same_respondents_segments_and_labels(tmp_path):
    ids = [f"G{i:04d}" for i in range(1, 41)]
    outputs, assignments = _export(tmp_path, ids)
    expected_names = assignments["segment"].map(NAMES)

    sav, meta = pyreadstat.read_sav(outputs["sav"])
    dta, dta_meta = pyreadstat.read_dta(outputs["dta"])
    csv = pd.read_csv(outputs["csv"], dtype={"respondent_id": str})
    book = openpyxl.load_workbook(outputs["xlsx"])
    rows = list(book["respondents"].iter_rows(values_only=True))
    xlsx = pd.DataFrame(rows[1:], columns=rows[0])
    for frame in (sav, dta, csv, xlsx):
        assert list(frame["respondent_id"]) == ids
        assert list(frame["segment"].astype(int)) == list(assignments["segment"])
        assert list(frame["segment_name"]) == list(expected_names)
        np.testing.assert_allclose(frame[["posterior_1", "posterior_2", "posterior_3"]].to_numpy(dtype=float),
                                   assignments[["posterior_1", "posterior_2", "posterior_3"]].to_numpy())
    # the segment names are the value labels of the segment variable, in SPSS and in Stata
    assert {int(k): v for k, v in meta.variable_value_labels["segment"].items()} == NAMES
    assert {int(k): v for k, v in dta_meta.variable_value_labels["segment"].items()} == NAMES
    assert meta.column_names_to_labels["posterior_2"] == "Posterior probability of segment 2 (Satisfaction-driven " \
                                                         "without trust)"
    assert dta_meta.column_names_to_labels["segment"] == "Segment (analysis chain, 3 segments)"
    variables = dict(list(book["variables"].iter_rows(values_only=True))[1:])
    assert "respondent_id" in variables["respondent_id"] and variables["segment_name"] == "Segment name"


def test_numeric_ids_are_numbers_and_no_id_column_keys_by_the_data_row(tmp_path):
    outputs, _ = _export(tmp_path / "numeric", [101, 102, 205], id_column="member no")
    sav, meta = pyreadstat.read_sav(outputs["sav"])
    # an id column name SPSS and Stata refuse is exported as respondent_id, its label naming the source column
    assert list(sav["respondent_id"]) == [101, 102, 205]
    assert meta.column_names_to_labels["respondent_id"] == "Respondent id (column 'member no' of the survey file)"
    dta, _ = pyreadstat.read_dta(outputs["dta"])
    assert pd.api.types.is_numeric_dtype(dta["respondent_id"])
    # leading zeros stay text, so "007" merges with "007"
    outputs, _ = _export(tmp_path / "text", ["007", "8", "9"])
    assert list(pd.read_csv(outputs["csv"], dtype=str)["respondent_id"]) == ["007", "8", "9"]
    assert list(pyreadstat.read_sav(outputs["sav"])[0]["respondent_id"]) == ["007", "8", "9"]
    outputs, _ = _export(tmp_path / "rows", [1, 2, 3], id_column=None)
    assert list(pd.read_csv(outputs["csv"]).columns[:3]) == ["source_row", "segment", "segment_name"]


def test_exports_hold_only_the_key_segments_and_posteriors(tmp_path):
    outputs, _ = _export(tmp_path, ["a", "b", "c"])
    for fmt in ("csv",):
        assert list(pd.read_csv(outputs[fmt]).columns) == ["respondent_id", "segment", "segment_name", "posterior_1",
                                                           "posterior_2", "posterior_3"]
    assert list(pyreadstat.read_dta(outputs["dta"])[0].columns) == list(pd.read_csv(outputs["csv"]).columns)


def test_exports_are_byte_identical_when_written_again(tmp_path):
    first, _ = _export(tmp_path / "a", range(1, 30))
    time.sleep(1.1)  # the SPSS header and the zip members would carry the second
    second, _ = _export(tmp_path / "b", range(1, 30))
    for fmt in export.EXPORT_FORMATS:
        assert Path(first[fmt]).read_bytes() == Path(second[fmt]).read_bytes(), fmt
    assert b"01 Jan 8000:00:00" in Path(first["sav"]).read_bytes()[:200]
    with zipfile.ZipFile(first["xlsx"]) as book:
        assert {info.date_time for info in book.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert b"dcterms:modified" not in book.read("docProps/core.xml")


def test_workbook_cells_keep_types_and_text_that_looks_like_a_formula(tmp_path):
    table = pd.DataFrame({"name": ["=1+1", "plain\x07bell"], "n": [1, 2], "share": [0.5, np.nan],
                          "flag": [True, False], "big": [np.inf, 1.0]})
    path = tmp_path / "t.xlsx"
    path.write_bytes(export.workbook_bytes([("t", table)]))
    sheet = openpyxl.load_workbook(path)["t"]
    assert [c.value for c in sheet[2]] == ["=1+1", 1, 0.5, True, "inf"]
    assert sheet["A2"].data_type == "s"  # text, not a formula
    assert [c.value for c in sheet[3]] == ["plainbell", 2, None, False, 1]
    assert sheet.freeze_panes == "A2"


def test_tables_workbook_holds_every_table_after_its_contents(tmp_path):
    results = tmp_path / "results"
    tables = {}
    for key in ("cleaning/report", "trust_chain/segments", "repurchase_on_satisfaction/segments", "provenance"):
        stem = results / key
        stem.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_csv(stem.with_suffix(".csv"), index=False)
        stem.with_suffix(".md").write_text(f"Caption of {key},\non two lines.\n\n| a | b |\n")
        tables[key] = str(stem.with_suffix(".csv"))
    (results / "cleaning" / "report.csv").write_text("\n")  # a table without columns gets an empty sheet
    out = results / "tables.xlsx"
    export.tables_workbook(tables, str(out), analyses=["repurchase_on_satisfaction", "trust_chain"])
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["contents", "cleaning report", "2 segments", "1 segments", "provenance"]
    contents = list(book["contents"].iter_rows(values_only=True))
    assert contents[0] == ("sheet", "analysis", "table", "file", "caption")
    assert contents[2][:3] == ("2 segments", "trust_chain", "segments")
    assert contents[2][4] == "Caption of trust_chain/segments, on two lines."
    assert [c.value for c in book["1 segments"]["A"]] == ["a", 1, 2]
    assert book["cleaning report"].max_row == 1 and book["cleaning report"]["A1"].value is None


def test_unknown_export_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no writer for export formats"):
        export.write_respondent_files(pd.DataFrame({"a": [1]}), {"rds": str(tmp_path / "x.rds")}, column_labels={},
                                      value_labels={}, title="t")


# ---------------------------------------------------------------------------
# provenance
# ---------------------------------------------------------------------------


def test_config_digest_ignores_key_order_and_sees_every_value():
    a = {"data": {"path": "s.csv", "id_column": None}, "seed": 1}
    b = {"seed": 1, "data": {"id_column": None, "path": "s.csv"}}
    assert provenance.config_digest(a) == provenance.config_digest(b)
    assert provenance.config_digest(a) != provenance.config_digest({**a, "seed": 2})
    assert len(provenance.config_digest(a)) == 64


def test_run_provenance_names_versions_seed_and_fingerprints(tmp_path):
    data = tmp_path / "survey.csv"
    data.write_text("id,x\n1,2\n")
    record = provenance.run_provenance(seed=7, config_sha256="c" * 64, data_path=str(data))
    assert record["trustseg_version"] == trustseg.__version__
    assert record["seed"] == 7 and record["config_sha256"] == "c" * 64
    assert record["data_file"] == "survey.csv"  # the name only: a folder path can name the user
    assert record["data_sha256"] == hashlib.sha256(b"id,x\n1,2\n").hexdigest()
    assert record["libraries"]["numpy"] == np.__version__ and record["libraries"]["pandas"] == pd.__version__
    json.dumps(record)  # JSON-ready
    frame = provenance.provenance_frame(record)
    assert frame["item"].tolist()[:5] == ["trustseg version", provenance.PROVENANCE_LABELS["git_commit"],
                                          provenance.PROVENANCE_LABELS["git_uncommitted_changes"], "Python",
                                          "platform"]
    assert "numpy" in frame["item"].tolist() and str(tmp_path) not in frame.to_csv()


def test_the_commit_is_recorded_only_for_a_clone_s_own_package(tmp_path):
    # a folder outside any clone (an installed wheel, say) has no commit
    assert provenance.source_commit(tmp_path) is None
    clone = provenance.source_commit()  # the tests run from a checkout, but perhaps not from a git clone
    if clone is not None:
        assert len(clone["commit"]) == 40 and isinstance(clone["uncommitted_changes"], bool)
