"""A catalogue of bad and hostile inputs: each gets one clean message with the words that name its cause, and
the exit status a shell expects, from the start-up checks (``trustseg check-config``, the code path the
workflow's start-up runs too).

Each case changes a small copy of the bundled golf survey (90 rows) or its config, runs ``trustseg
check-config`` in-process and checks the exit status, the words of the message, that no traceback is printed
and that the survey file is unchanged.  ``tests/test_startup_agreement.py`` runs a selection of them through
Snakemake to show that the run stops the same way before any job.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from trustseg.cli import main

REPO = Path(__file__).resolve().parents[1]
GOLF = REPO / "resources" / "golf_survey.csv"
NAME = "repurchase_on_satisfaction"
ITEMS = ["sat_course", "sat_greens", "sat_clubhouse", "sat_value", "sat_booking_hassle"]


@dataclass
class Case:
    """A survey (text cells) and its config, as a test case changes them before check-config runs."""

    tmp: Path
    survey: pd.DataFrame
    config: dict
    data_file: Path | None = None  # set when the case writes its own data file
    config_text: str | None = None  # set when the case writes its own config text
    notes: dict = field(default_factory=dict)

    @property
    def analysis(self) -> dict:
        return self.config["analyses"][NAME]

    def cells(self, column: str, rows, value) -> None:
        self.survey.loc[list(rows), column] = value


def base_case(tmp: Path) -> Case:
    survey = pd.read_csv(GOLF, dtype=str, keep_default_na=False).iloc[:90].reset_index(drop=True)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["analyses"] = {NAME: {**config["analyses"][NAME], "segments": [1, 2, 3], "n_init": 3}}
    config["data"]["path"] = None  # the case's own file, unless the case names another
    return Case(tmp=tmp, survey=survey, config=config)


def run_check(case: Case, capsys) -> tuple[int, str, str]:
    if case.data_file is None:
        case.data_file = case.tmp / "survey.csv"
        case.survey.to_csv(case.data_file, index=False)
    if case.config["data"].get("path") is None:
        case.config["data"]["path"] = str(case.data_file)
    config_file = case.tmp / "config.yaml"
    text = case.config_text if case.config_text is not None else yaml.safe_dump(case.config, sort_keys=False,
                                                                                 allow_unicode=True)
    config_file.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    before = _digest(case.data_file)
    code = main(["check-config", str(config_file)])
    out, err = capsys.readouterr()
    assert _digest(case.data_file) == before, "the raw file was changed"
    return code, out, err


def _digest(path: Path | None) -> str | None:
    if path and not str(Path(path).resolve()).startswith(str(Path(path).parent.resolve())):
        return None  # a link out of the test's folder (/etc/passwd, /proc): not ours to fingerprint
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path and Path(path).is_file() else None
    except OSError:
        return None


def renamed(old: str, new: str) -> Callable[[Case], None]:
    def mutate(c: Case) -> None:
        c.survey = c.survey.rename(columns={old: new})
    return mutate


def dropped(column: str) -> Callable[[Case], None]:
    def mutate(c: Case) -> None:
        c.survey = c.survey.drop(columns=column)
    return mutate


def set_data(**values) -> Callable[[Case], None]:
    return lambda c: c.config["data"].update(values)


def set_analysis(**values) -> Callable[[Case], None]:
    return lambda c: c.analysis.update(values)


def set_cleaning(**values) -> Callable[[Case], None]:
    return lambda c: c.config.setdefault("cleaning", {}).update(values)


def cells(column: str, rows, value) -> Callable[[Case], None]:
    return lambda c: c.cells(column, rows, value)


def config_text(text: str | bytes) -> Callable[[Case], None]:
    def mutate(c: Case) -> None:
        c.config_text = text
    return mutate


def data_bytes(content: bytes, name: str = "survey.csv") -> Callable[[Case], None]:
    def mutate(c: Case) -> None:
        c.data_file = c.tmp / name
        c.data_file.write_bytes(content)
        c.config["data"]["path"] = str(c.data_file)
    return mutate


def both(*mutations) -> Callable[[Case], None]:
    def mutate(c: Case) -> None:
        for m in mutations:
            m(c)
    return mutate


# ----------------------------------------------------------------------------- builders of harder cases


def _fifo(c: Case) -> None:
    c.data_file = c.tmp / "pipe.csv"
    os.mkfifo(c.data_file)
    c.config["data"]["path"] = str(c.data_file)


def _link_to(target: str) -> Callable[[Case], None]:
    def mutate(c: Case) -> None:
        c.data_file = c.tmp / "survey.csv"
        c.data_file.symlink_to(target)
        c.config["data"]["path"] = str(c.data_file)
    return mutate


def _folder(c: Case) -> None:
    (c.tmp / "data").mkdir()
    c.config["data"]["path"] = str(c.tmp / "data")


def numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """The text survey with its columns of numbers as numbers (as a binary format stores them)."""
    def convert(col):
        numbers = pd.to_numeric(col.replace("", None), errors="coerce")
        return numbers if numbers.notna().sum() == (col != "").sum() else col
    return frame.apply(convert)


def _write_as(fmt: str, mutate=None) -> Callable[[Case], None]:
    """Write the (changed) survey in another format."""
    def write(c: Case) -> None:
        if mutate:
            mutate(c)
        frame = numeric(c.survey)
        path = c.tmp / {"excel": "survey.xlsx", "parquet": "survey.parquet", "stata": "survey.dta",
                        "spss": "survey.sav"}[fmt]
        if fmt == "excel":
            frame.to_excel(path, index=False)
        elif fmt == "parquet":
            frame.to_parquet(path)
        else:
            import pyreadstat

            writer = pyreadstat.write_dta if fmt == "stata" else pyreadstat.write_sav
            writer(frame, str(path))
        c.data_file = path
        c.config["data"]["path"] = str(path)
    return write


def _title_row(c: Case) -> None:
    text = "Golf club survey 2024,,,\n" + c.survey.to_csv(index=False)
    data_bytes(text.encode())(c)


def _excel_title_row(c: Case) -> None:
    path = c.tmp / "survey.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame([["Golf club survey 2024"]]).to_excel(writer, index=False, header=False)
        numeric(c.survey).to_excel(writer, index=False, startrow=2)
    c.data_file = path
    c.config["data"]["path"] = str(path)


def _excel_formulas(c: Case) -> None:
    import openpyxl

    frame = numeric(c.survey)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(frame.columns))
    column = list(frame.columns).index("rep_renew") + 1
    for i, row in enumerate(frame.itertuples(index=False), start=2):
        values = list(row)
        if i <= 13:
            values[column - 1] = f"=B{i}/100"  # a formula, saved by openpyxl without its value
        sheet.append(values)
    path = c.tmp / "survey.xlsx"
    book.save(path)
    c.data_file = path
    c.config["data"]["path"] = str(path)


def _collinear(c: Case) -> None:
    for item in ["sat_course", "sat_greens"]:
        c.survey[f"{item}_copy"] = c.survey[item]
    c.config["constructs"]["satisfaction_copy"] = {"items": ["sat_course_copy", "sat_greens_copy"], "scale": [1, 7]}
    c.config["constructs"]["satisfaction"]["items"] = ["sat_course", "sat_greens"]
    c.config["constructs"]["satisfaction"]["reverse"] = []
    c.analysis["predictors"] = ["satisfaction", "satisfaction_copy"]


def _constant_predictor(c: Case) -> None:
    c.survey["tenure"] = "5"
    c.analysis["predictors"] = ["satisfaction", "tenure"]


def _constant_outcome(c: Case) -> None:
    for item in c.config["constructs"]["repurchase"]["items"]:
        c.survey[item] = "4"
    c.config["cleaning"]["straightlining"] = {"enabled": False}


def _few_respondents(c: Case, rows=(0, 1, 3, 4, 5)) -> None:
    c.survey = c.survey.iloc[list(rows)].reset_index(drop=True)
    c.config["cleaning"]["flagged_action"] = "keep"
    c.analysis["segments"] = [1, 2, 3, 4, 5]


def _huge_config(c: Case) -> None:
    c.config_text = "data:\n  path: x.csv\n# " + "x" * (2 << 20) + "\n"


def _billion_laughs(c: Case) -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    c.config_text = "\n".join(lines) + "\n"


def _ids(values) -> Callable[[Case], None]:
    def mutate(c: Case) -> None:
        c.survey["respondent_id"] = [values(i) for i in range(len(c.survey))]
    return mutate


def _free_text_profile(c: Case) -> None:
    c.survey["comment"] = [f"remark number {i} about the greens" for i in range(len(c.survey))]
    c.config["profile"] = ["gender", "comment"]


def _no_answer_item(c: Case) -> None:
    c.survey["sat_value"] = ""


def _wide_weights(values) -> Callable[[Case], None]:
    def mutate(c: Case) -> None:
        c.survey["w"] = [values(i) for i in range(len(c.survey))]
        c.config["data"]["weight_column"] = "w"
    return mutate


def _binomial_outcome(c: Case) -> None:
    c.analysis["family"] = "binomial"


def _json_duplicate(c: Case) -> None:
    c.config_text = '{"seed": 1, "seed": 2, "data": {"path": "x.csv"}}'


# ----------------------------------------------------------------------------- the catalogue

PERSONAL = {
    "SSN": "Johnathan Smithers 123-45-6789",
    "card": "card 4111 1111 1111 1111",
    "CN id": "身份证 11010519491231002X",
    "address": "221B Baker Street",
    "email": "jo.bloggs@example.org",
    "phone": "+44 20 7946 0958",
    "name": "Alice Johnson",
}

# (id, mutation, exit status, words the message must hold)
CASES: list[tuple[str, Callable[[Case], None], int, list[str]]] = [
    # --- the config file itself
    ("tab indentation", config_text("data:\n\tpath: x.csv\n"), 1, ["not valid YAML", "line 2", "tab"]),
    ("duplicate key", config_text("seed: 1\nseed: 2\ndata:\n  path: x.csv\n"), 1,
     ["the key 'seed' is given twice", "lines 1 and 2"]),
    ("duplicate nested key", config_text("data:\n  path: x.csv\n  path: y.csv\n"), 1, ["'path' is given twice"]),
    ("duplicate JSON key", _json_duplicate, 1, ["given twice"]),
    ("huge config", _huge_config, 1, ["MiB", "a few kilobytes"]),
    ("billion laughs", _billion_laughs, 1, ["more than 100,000 values", "aliases"]),
    ("empty config", config_text(""), 1, ["is empty"]),
    ("config is a list", config_text("- a\n- b\n"), 1, ["must be a YAML mapping", "a list"]),
    ("python tag", config_text("data: !!python/object:os.system {}\n"), 1, ["never evaluated"]),
    ("unclosed bracket", config_text("analyses: [a, b\n"), 1, ["not valid YAML"]),
    ("not UTF-8", config_text("seed: 1\n# café\n".encode("latin-1")), 1, ["UTF-8"]),
    # --- config values
    ("unknown key", set_analysis(segmnts=[1, 2]), 1, ["segmnts", "Did you mean 'segments'"]),
    ("delimiter ;;", set_data(delimiter=";;"), 1, ["data.delimiter", "';;'", "one character"]),
    ("delimiter newline", set_data(delimiter="\n"), 1, ["data.delimiter", "line end"]),
    ("header_row 0", set_data(header_row=0), 1, ["data.header_row"]),
    ("header_row beyond the file", set_data(header_row=5000), 1, ["data.header_row: 5000", "has only"]),
    ("header_row on a parquet file", _write_as("parquet", set_data(header_row=2)), 1,
     ["data.header_row: 2 applies to CSV and Excel"]),
    ("item twice in a construct",
     lambda c: c.config["constructs"]["trust"]["items"].append("trust_honest"), 1, ["more than once"]),
    ("item in two constructs", lambda c: c.config["constructs"]["trust"]["items"].append("rep_renew"), 1,
     ["'rep_renew'", "also an item of construct", "measures one construct"]),
    ("scale reversed", lambda c: c.config["constructs"]["trust"].update(scale=[7, 1]), 1,
     ["constructs.trust.scale", "below the second"]),
    ("reverse not an item", lambda c: c.config["constructs"]["trust"].update(reverse=["rep_renew"]), 1,
     ["constructs.trust.reverse", "rep_renew"]),
    ("speeders half set", set_cleaning(speeders={"duration_column": "duration_seconds"}), 1, ["go together"]),
    ("unknown family", set_analysis(family="lognormal"), 1, ["lognormal", "not allowed"]),
    ("segments above 20", set_analysis(segments=[1, 25]), 1, ["segments"]),
    ("segments repeated", set_analysis(segments=[1, 2, 2]), 1, ["lists a number of segments twice"]),
    ("alpha zero", set_analysis(alpha=0), 1, ["alpha"]),
    ("focal not a predictor", set_analysis(focal="trust"), 1, ["focal", "not one of its predictors"]),
    ("analysis name with a space", lambda c: c.config["analyses"].update({"my analysis": c.analysis}), 1,
     ["analysis names may use letters"]),
    ("lr_test without replicates", both(set_analysis(criterion="lr_test"),
                                       lambda c: c.config["bootstrap"].update(lr_test_replicates=0)), 1,
     ["lr_test", "lr_test_replicates"]),
    ("profile_order of a non-profile variable", lambda c: c.config.update(profile_order={"region": ["N", "S"]}),
     1, ["profile_order", "region"]),
    ("cem with censored", set_analysis(method="cem", family="censored"), 1, ["method cem", "gaussian"]),
    ("linear spread for binomial", set_analysis(spread="linear", family="binomial"), 1, ["linear spread"]),
    ("censored raw column", set_analysis(outcome="rounds_per_month", family="censored"), 1,
     ["censored", "'rounds_per_month' is a column"]),
    ("trials without binomial", set_analysis(trials="rounds_per_month"), 1, ["trials", "binomial"]),
    ("pseudonym key under results", set_cleaning(pseudonym_key="results/key"), 1, ["under results/"]),
    # --- the data file
    ("missing file", set_data(path="no_such_survey.csv"), 1, ["no_such_survey.csv", "does not exist"]),
    ("a folder", _folder, 1, ["is a folder"]),
    ("a FIFO", _fifo, 1, ["not a regular file", "FIFO"]),
    ("/dev/zero", set_data(path="/dev/zero"), 1, ["not a regular file", "device"]),
    ("symlink to /etc/passwd", _link_to("/etc/passwd"), 1, ["system or private file", "/etc/passwd"]),
    ("symlink to /proc", _link_to("/proc/self/status"), 1, ["system or private file"]),
    ("empty file", data_bytes(b""), 1, ["is empty"]),
    ("blank lines only", data_bytes(b"\n\n  \n"), 1, ["is empty"]),
    ("binary content", data_bytes(bytes(range(256)) * 20), 1, ["NUL bytes"]),
    ("unknown extension", data_bytes(b"a,b\n1,2\n", "survey.dat"), 1, ["cannot tell the file format"]),
    ("header only", data_bytes(b"respondent_id,sat_course\n"), 1, ["no data rows"]),
    ("ragged rows", data_bytes(b"a,b,c\n1,2,3\n4,5\n6,7,8,9\n"), 1, ["do not have the 3 fields", "line 3"]),
    ("wrong delimiter", both(data_bytes(b"a;b;c\n1;2;3\n4;5;6\n"), set_data(delimiter=",")), 1,
     ["every value landed in one column", "data.delimiter: ';'"]),
    ("wrong encoding", both(data_bytes("a,b\ncafé,1\n".encode("latin-1")), set_data(encoding="utf-8")), 1,
     ["cannot be read as utf-8", "data.encoding"]),
    ("unknown encoding", set_data(encoding="klingon"), 1, ["not a known text encoding"]),
    ("corrupt workbook", data_bytes(b"PK\x03\x04 not really a workbook", "survey.xlsx"), 1,
     ["cannot be read as an Excel workbook"]),
    ("corrupt SPSS file", data_bytes(b"$FL2 broken", "survey.sav"), 1, ["cannot be read as a SPSS .sav file"]),
    ("corrupt parquet", data_bytes(b"PAR1 broken", "survey.parquet"), 1, ["cannot be read as a Parquet file"]),
    ("repeated header", renamed("comment", "gender"), 1,
     ["more than once", "'gender'"]),
    ("title row above the header", _title_row, 1, ["the rows above row 2 look like a title", "data.header_row: 2"]),
    ("padded title row", lambda c: data_bytes(("Golf club survey 2024" + "," * 20 + "\n"
                                               + c.survey.to_csv(index=False)).encode())(c), 1,
     ["row 2 of the file", "data.header_row: 2"]),
    ("title row in a workbook", _excel_title_row, 1, ["row 3 of the file", "data.header_row: 3"]),
    ("sheet out of range", both(_write_as("excel"), set_data(sheet=3)), 1, ["data.sheet 3 is out of range"]),
    ("formulas without values", _excel_formulas, 1,
     ["formulas without stored values", "rep_renew", "open and save the file in Excel", "export it as CSV"]),
    # --- columns
    ("unknown item", lambda c: c.config["constructs"]["trust"]["items"].__setitem__(0, "trust_honset"), 1,
     ["trust_honset", "Did you mean 'trust_honest'"]),
    ("unknown id column", set_data(id_column="resp_id"), 1, ["resp_id", "data.id_column"]),
    ("unknown weight column", set_data(weight_column="wt"), 1, ["'wt'", "data.weight_column"]),
    ("unknown profile variable", lambda c: c.config.update(profile=["genre"]), 1, ["genre", "profile"]),
    ("unknown predictor", set_analysis(predictors=["satisfacton"]), 1, ["satisfacton", "construct 'satisfaction'"]),
    ("name differs in case", set_analysis(outcome="Repurchase"), 1, ["case-sensitive"]),
    # --- answers
    ("text label without value_labels", cells("sat_greens", [3, 7], "Strongly agree"), 1,
     ["rating column 'sat_greens'", "'Strongly agree'", "data.value_labels"]),
    ("text abc", cells("trust_cares", [5], "abc"), 1, ["'abc'", "trust_cares"]),
    ("text TRUE", cells("rep_renew", [2], "TRUE"), 1, ["'TRUE'", "rep_renew"]),
    ("text NA", cells("rep_renew", [2, 4], "NA"), 1, ["'NA'", "data.missing_codes"]),
    ("text N/A", cells("rep_renew", [9], "N/A"), 1, ["'N/A'", "data.missing_codes"]),
    ("text inf", cells("sat_course", [1], "inf"), 1, ["'inf'", "sat_course"]),
    ("text NaN", cells("sat_course", [1], "NaN"), 1, ["'NaN'", "sat_course"]),
    ("decimal comma in an item", cells("sat_course", range(40), "4,5"), 1, ["decimal comma", "data.decimal"]),
    ("item without any answer", _no_answer_item, 1, ["sat_value", "no valid answer"]),
    ("scale too short", lambda c: c.config["constructs"]["trust"].update(scale=[1, 5]), 1,
     ["do not fit the declared scale", "constructs.trust.scale: [1, 7]"]),
    ("-99 in the items", cells("trust_honest", range(20), "-99"), 1, ["-99", "data.missing_codes"]),
    ("huge number in an item", cells("sat_course", [0], "99999999999999999999"), 1,
     ["sat_course", "more digits than a computer number holds exactly", "data rows 1"]),
    ("1e400 in an item", cells("sat_course", [2], "1e400"), 1, ["sat_course", "beyond 1.8e308", "data rows 3"]),
    # --- weights
    ("negative weight", _wide_weights(lambda i: "-1" if i == 4 else "1"), 1, ["weight column 'w'", "zero or negative",
                                                                            "data rows 5"]),
    ("zero weight", _wide_weights(lambda i: "0" if i == 4 else "1"), 1, ["zero or negative"]),
    ("NaN weight", _wide_weights(lambda i: "NaN" if i == 4 else "1.5"), 1, ["weight column 'w'", "not a number"]),
    ("text weight", _wide_weights(lambda i: "heavy" if i == 4 else "1"), 1, ["not a number", "data rows 5"]),
    ("missing weight", _wide_weights(lambda i: "" if i == 4 else "1"), 1, ["1 missing", "data rows 5"]),
    ("inf weight", _wide_weights(lambda i: "inf" if i == 4 else "1"), 1, ["weight column 'w'"]),
    ("1e300 weight among ones", _wide_weights(lambda i: "1e300" if i == 4 else "1"), 1,
     ["a ratio of 1e+300", "data rows 5"]),
    ("weights a million apart", _wide_weights(lambda i: "1e7" if i == 4 else "1"), 1, ["would outweigh"]),
    # --- profile and analysis variables
    ("forgotten -99 in a profile variable", cells("years_playing", range(0, 90, 5), "-99"), 1,
     ["'years_playing'", "-99", "data.missing_codes", "suspected_missing_codes: warn"]),
    ("forgotten 999 in a profile variable", cells("rounds_per_month", range(0, 90, 9), "999"), 1,
     ["'rounds_per_month'", "999"]),
    ("-99 among text categories", cells("age_band", range(0, 90, 7), "-99"), 1, ["'age_band'", "-99"]),
    ("huge number in a profile variable", cells("years_playing", [16], "99999999999999999999"), 1,
     ["years_playing", "more digits than a computer number holds exactly", "data rows 17"]),
    ("free text as a profile variable", _free_text_profile, 1, ["'comment'", "free text"]),
    ("text predictor", set_analysis(predictors=["gender"]), 1, ["analyses.repurchase_on_satisfaction.predictors",
                                                                "'gender'", "holds text"]),
    ("text in a raw outcome", both(cells("rounds_per_month", [3], "lots"), set_analysis(outcome="rounds_per_month")),
     1, ["rounds_per_month", "'lots'"]),
    ("text duration column", cells("duration_seconds", range(90), "5 min"), 1,
     ["cleaning.speeders.duration_column", "'5 min'", "seconds"]),
    ("duration as hh:mm:ss", cells("duration_seconds", range(0, 90, 2), "00:05:30"), 1,
     ["duration_column", "00:05:30 is 330"]),
    ("constant predictor", _constant_predictor, 1, ["'tenure'", "take one value", "5"]),
    ("constant outcome", _constant_outcome, 1, ["outcome 'repurchase'", "is 4 for every one"]),
    ("collinear predictors", _collinear, 1, ["collinear", "'satisfaction'", "'satisfaction_copy'"]),
    ("too few respondents for K", _few_respondents, 1,
     ["only 5 respondents", "2 segments need 10", "5 segments need 28", "Remove 2, 3, 4 and 5",
      "analyses.repurchase_on_satisfaction.segments"]),
    ("too few for one segment", both(lambda c: _few_respondents(c, (0, 1, 3)), set_analysis(segments=[1, 2])), 1,
     ["only 3 respondents", "even one segment"]),
    ("one respondent", lambda c: setattr(c, "survey", c.survey.iloc[:1]), 1, ["only one respondent"]),
    ("everyone flagged", set_cleaning(attention_checks=[{"item": "attention_check", "expected": 99}]), 1,
     ["all 90 respondents were flagged"]),
    ("min_answered nobody meets", lambda c: cells("trust_cares", range(90), "")(c) or c.config["constructs"][
        "trust"].update(items=["trust_cares"]), 1, ["trust_cares", "no valid answer"]),
    ("binomial family for a score", _binomial_outcome, 1, ["fits its outcome as binomial", "column 'repurchase'"]),
    ("ordinal family for a score", set_analysis(family="ordinal"), 1, ["ordinal"]),
    ("ids that are not ids", _ids(lambda i: str(i % 3)), 1, ["does not identify respondents", "3 distinct"]),
    # --- personal data in configured places: stopped, never shown
    *[(f"{kind} in a profile variable", cells("membership_type", range(0, 90, 4), value), 1,
       ["'membership_type'", "personal data", "remove them from the config"]) for kind, value in PERSONAL.items()],
    *[(f"{kind} in an item cell", cells("sat_value", [5], value), 1, ["'sat_value'", "personal data"])
      for kind, value in PERSONAL.items() if kind not in ("address",)],
    ("e-mail as the header of a used column",
     both(renamed("gender", "jo.bloggs@example.org"), lambda c: c.config.update(profile=["jo.bloggs@example.org"])),
     1,
     ["its header is withheld", "an e-mail address", "rename the column"]),
    ("phone ids with personal_data: error", both(_ids(lambda i: f"+44 20 7946 {i:04d}"),
                                                 dropped("comment"),
                                                 set_cleaning(personal_data="error")), 1,
     ["respondent ids", "phone numbers", "personal_data is error"]),
    ("unconfigured e-mails with personal_data: error",
     both(lambda c: c.survey.__setitem__("contact", "jo@example.org"), set_cleaning(personal_data="error")), 1,
     ["'contact'", "e-mail addresses", "personal_data: drop"]),
]

# inputs that pass, with what the closing line or a warning says
PASSING: list[tuple[str, Callable[[Case], None], list[str]]] = [
    ("the golf subset", lambda c: None, ["no problems found: 90 rows and 21 columns", "analyses"]),
    ("17-digit ids and a blank id", _ids(lambda i: "" if i == 7 else str(10**16 + i)), ["no problems found"]),
    ("20-digit ids", _ids(lambda i: str(10**19 + i * 7)), ["no problems found"]),
    ("phone numbers as ids", _ids(lambda i: f"+86 138 0001 {8000 + i}"), ["pseudonyms", "phone numbers"]),
    ("e-mails as ids", _ids(lambda i: f"member{i}@example.org"), ["pseudonyms", "e-mail addresses"]),
    ("-99 declared", both(cells("years_playing", range(0, 90, 5), "-99"), set_data(missing_codes=[-99])),
     ["no problems found"]),
    ("-99 kept on purpose", both(cells("years_playing", range(0, 90, 5), "-99"),
                                 set_cleaning(suspected_missing_codes="warn")), ["warning", "-99"]),
    ("weights of 1e300", _wide_weights(lambda i: f"{1 + i % 3}e300"), ["no problems found"]),
    ("title row with header_row", both(_title_row, set_data(header_row=2)), ["no problems found"]),
    ("delimiter written as tab", both(data_bytes(b""), lambda c: (
        c.data_file.write_text(c.survey.to_csv(index=False, sep="\t")), c.config["data"].update(delimiter="\\t"))),
     ["no problems found"]),
    ("unconfigured e-mail header", renamed("comment", "jo@example.org"), ["no problems found"]),
    ("Excel", _write_as("excel"), ["no problems found"]),
    ("Stata", _write_as("stata"), ["no problems found"]),
    ("SPSS", _write_as("spss"), ["no problems found"]),
    ("Parquet", _write_as("parquet"), ["no problems found"]),
]


@pytest.mark.parametrize(("mutate", "status", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_one_clean_message(tmp_path, capsys, mutate, status, words):
    case = base_case(tmp_path)
    mutate(case)
    code, out, err = run_check(case, capsys)
    assert code == status, err[-2000:]
    assert err.startswith("trustseg: error: "), err[-2000:]
    assert "Traceback" not in err + out
    message = " ".join(err.split())
    for word in words:
        assert " ".join(word.split()) in message, (word, err[-3000:])


@pytest.mark.parametrize(("mutate", "words"), [c[1:] for c in PASSING], ids=[c[0] for c in PASSING])
def test_good_input_passes_and_says_what_it_found(tmp_path, capsys, mutate, words):
    case = base_case(tmp_path)
    mutate(case)
    code, out, err = run_check(case, capsys)
    assert code == 0, err[-3000:]
    assert "Traceback" not in err + out
    for word in words:
        assert word in out + err, (word, out, err)


def test_the_catalogue_holds_at_least_100_bad_inputs():
    assert len(CASES) >= 100
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("kind", list(PERSONAL))
def test_a_refused_message_never_shows_the_personal_datum(tmp_path, capsys, kind):
    case = base_case(tmp_path)
    cells("membership_type", range(0, 90, 4), PERSONAL[kind])(case)
    code, out, err = run_check(case, capsys)
    assert code == 1
    for part in re.split(r"\s+", PERSONAL[kind]):
        if len(part) > 4:
            assert part not in err + out, part


def test_a_refused_system_file_is_never_quoted(tmp_path, capsys):
    case = base_case(tmp_path)
    _link_to("/etc/passwd")(case)
    code, out, err = run_check(case, capsys)
    first = Path("/etc/passwd").read_text().splitlines()[0]
    assert code == 1 and first not in err + out and "root:" not in err + out
    case = base_case(tmp_path / "x") if (tmp_path / "x").mkdir() is None else None
    data_bytes(b"secret;line;one\nsecret;line;two\n")(case)
    case.config["data"]["delimiter"] = ","
    code, out, err = run_check(case, capsys)
    assert code == 1 and "secret" not in err


def test_check_config_reports_what_it_found_not_a_fixed_sentence(tmp_path, capsys):
    case = base_case(tmp_path)
    case.cells("sat_course", [0], "9")  # one answer off the 1-7 scale: within the 1% allowed
    code, out, _ = run_check(case, capsys)
    assert code == 0
    assert "1 answer(s) off their scale are set to missing" in out
    assert "every answer on its scale" not in out


def test_ids_are_read_as_text_in_every_format(tmp_path):
    from trustseg.survey.io import read_survey

    ids = ["007", "12345678901234567890", "1e5", "1.50", "-0", "A-12"]
    frame = pd.DataFrame({"rid": ids, "x": np.arange(len(ids))})
    frame.to_csv(tmp_path / "s.csv", index=False)
    assert read_survey(tmp_path / "s.csv", {"id_column": "rid"})["rid"].tolist() == ids
    frame.to_excel(tmp_path / "s.xlsx", index=False)
    assert read_survey(tmp_path / "s.xlsx", {"id_column": "rid"})["rid"].tolist() == ids
    frame.to_parquet(tmp_path / "s.parquet")
    assert read_survey(tmp_path / "s.parquet", {"id_column": "rid"})["rid"].tolist() == ids
    numeric = pd.DataFrame({"rid": [10**15 + 1, 2, 3], "x": [1, 2, 3]})
    numeric.to_parquet(tmp_path / "n.parquet")
    assert read_survey(tmp_path / "n.parquet", {"id_column": "rid"})["rid"].tolist() == [str(10**15 + 1), "2", "3"]


def test_numbers_are_never_wrapped_around(tmp_path):
    from trustseg.survey.io import read_survey

    (tmp_path / "s.csv").write_text("a,b,c,d\n99999999999999999999,1e300,9223372036854775807,inf\n1,2,3,4\n")
    frame = read_survey(tmp_path / "s.csv")
    assert frame["a"].tolist() == ["99999999999999999999", "1"]  # kept exactly, as text
    assert frame.attrs["inexact_numbers"] == {"a": [1]}
    assert frame["b"].tolist() == [1e300, 2.0]
    assert frame["c"].tolist() == [9223372036854775807, 3] and frame["c"].dtype == "int64"
    assert frame["d"].tolist() == ["inf", "4"]


def test_io_error_messages_do_not_quote_the_file(tmp_path):
    from trustseg.errors import DataError
    from trustseg.survey.io import read_survey

    (tmp_path / "s.csv").write_text("password;hunter2;x\n1;2;3\n")
    with pytest.raises(DataError) as err:
        read_survey(tmp_path / "s.csv", {"delimiter": ","})
    assert "hunter2" not in str(err.value)


def test_excel_numbers_keep_their_digits(tmp_path):
    from trustseg.survey.io import read_survey

    frame = pd.DataFrame({"big": [1e20, 2.0], "ok": [1.0, 2.0], "inf": [np.inf, 1.0]})
    frame.to_parquet(tmp_path / "s.parquet")
    read = read_survey(tmp_path / "s.parquet")
    assert read["big"].tolist() == [1e20, 2.0] and read["ok"].tolist() == [1.0, 2.0]
    assert np.isinf(read["inf"].iloc[0])


def test_stdout_of_check_config_is_one_line(tmp_path, capsys):
    case = base_case(tmp_path)
    _, out, _ = run_check(case, capsys)
    assert len(io.StringIO(out).readlines()) == 1
