"""Planted personal data in every column kind and every file format: none of it leaves the input.

For each format trustseg reads (CSV, Excel, SPSS .sav, Stata .dta, Parquet, a Qualtrics export) a piece of
the golf survey gets respondent ids that are phone numbers, e-mail addresses and names, an unconfigured
free-text column holding every kind of personal datum trustseg knows, and (where the format allows such a
name) an unconfigured column whose header is an e-mail address.  Snakemake runs the start-up and the
cleaning job, whose outputs are all that later stages read; every byte under ``results/``, ``logs/`` and
``.snakemake/`` and Snakemake's output is searched for every planted value, and the ids in ``clean.csv``
must be the keyed pseudonyms of the planted ones.  Configured columns (a profile variable, an item cell)
holding personal data stop the run at start-up: searched the same way, in each format, the refusal shows
none of it.  The whole workflow with its notebooks and HTML report runs once, on CSV, in
``tests/test_privacy.py::test_full_workflow_notebooks_and_report_leak_nothing``, with personal ids and a
personal header too.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from trustseg.cli import main

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[1]
GOLF = REPO / "resources" / "golf_survey.csv"
SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))
FORMATS = ["csv", "excel", "spss", "stata", "parquet", "qualtrics"]
HEADER = "jo.bloggs@example.org"  # a column named with an e-mail address
FREE_TEXT = ["Johnathan Smithers 123-45-6789", "card 4111 1111 1111 1111 exp 09/27", "身份证 11010519491231002X",
             "I live at 221B Baker Street", "Hauptstraße 5, Berlin", "write to ann.lee@fairway.example.com",
             "call +44 20 7946 0958", "my IP is 198.51.100.23", "Alice Johnson says hi"]
NEEDLES = ["Smithers", "123-45-6789", "4111 1111", "11010519491231002X", "Baker Street", "Hauptstraße",
           "ann.lee", "fairway.example", "7946 0958", "198.51.100", "Alice Johnson", "jo.bloggs", "example.org"]


def _planted(n: int = 120) -> tuple[pd.DataFrame, dict]:
    raw = pd.read_csv(GOLF, dtype=str, keep_default_na=False).iloc[:n].reset_index(drop=True)
    # each original id gets one personal id, so the survey's repeated ids stay repeated
    kinds = [lambda i: f"+86 138 {i:04d} {8000 + i:04d}", lambda i: f"member.{i}@fairway.example.com",
             lambda i: f"Alice Johnson {i}"]
    mapping = {old: kinds[i % 3](i) for i, old in enumerate(dict.fromkeys(raw["respondent_id"]))}
    raw["respondent_id"] = raw["respondent_id"].map(mapping)
    raw["remarks"] = [FREE_TEXT[i % len(FREE_TEXT)] if i % 3 == 0 else "nice greens" for i in range(n)]
    raw = raw.drop(columns="comment")
    return raw, mapping


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    def convert(col):
        numbers = pd.to_numeric(col.replace("", None), errors="coerce")
        return numbers if numbers.notna().sum() == (col != "").sum() else col
    return frame.apply(convert)


def _write(raw: pd.DataFrame, fmt: str, folder: Path, header: bool = True) -> Path:
    raw = raw.copy()
    if header and fmt not in ("spss", "stata"):  # their variable names cannot hold an "@"
        raw[HEADER] = ["x"] * len(raw)
    if fmt == "csv":
        path = folder / "survey.csv"
        raw.to_csv(path, index=False)
    elif fmt == "qualtrics":
        path = folder / "survey.csv"
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(raw.columns)
        writer.writerow([f"Question {c}, reply to {NEEDLES[6]}@x.org" for c in raw.columns])
        writer.writerow([f'{{"ImportId":"QID{i}"}}' for i in range(raw.shape[1])])
        writer.writerows(raw.itertuples(index=False))
        path.write_text(buffer.getvalue(), encoding="utf-8")
    elif fmt == "excel":
        path = folder / "survey.xlsx"
        _numeric(raw).to_excel(path, index=False)
    elif fmt == "parquet":
        path = folder / "survey.parquet"
        _numeric(raw).to_parquet(path)
    else:
        import pyreadstat

        path = folder / ("survey.sav" if fmt == "spss" else "survey.dta")
        (pyreadstat.write_sav if fmt == "spss" else pyreadstat.write_dta)(_numeric(raw), str(path))
    return path


def _config(path: Path, folder: Path, **changes) -> Path:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["data"]["path"] = path.name
    config["analyses"] = {"repurchase_on_satisfaction": {**config["analyses"]["repurchase_on_satisfaction"],
                                                         "segments": [1, 2], "n_init": 2}}
    for key, value in changes.items():
        config[key] = value
    file = folder / "config.yaml"
    file.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return file


def _snakemake(folder: Path, *targets: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SNAKEMAKE, *targets, "--snakefile", str(REPO / "Snakefile"), "--directory", str(folder), "--cores", "2",
         "--configfile", str(folder / "config.yaml")],
        capture_output=True, text=True, cwd=folder, timeout=600, env={**os.environ, "PYTHONHASHSEED": "0"})


def _written(folder: Path, run: subprocess.CompletedProcess) -> dict[str, bytes]:
    files = {str(p.relative_to(folder)): p.read_bytes() for top in ("results", "logs", ".snakemake")
             for p in (folder / top).rglob("*") if p.is_file()}
    files["snakemake output"] = (run.stdout + run.stderr).encode("utf-8")
    return files


def _leaks(files: dict[str, bytes], needles) -> list:
    return sorted({(n, where) for n in needles for where, data in files.items() if n.encode("utf-8") in data})


@pytest.mark.parametrize("fmt", FORMATS)
def test_personal_data_in_ids_headers_and_free_text_never_leave_the_input(tmp_path, fmt):
    raw, mapping = _planted()
    path = _write(raw, fmt, tmp_path)
    _config(path, tmp_path)
    run = _snakemake(tmp_path, "results/cleaning/clean.csv")
    assert run.returncode == 0, run.stderr[-3000:]
    files = _written(tmp_path, run)
    assert "results/cleaning/clean.csv" in files and "logs/cleaning/clean_survey.log" in files
    needles = [*NEEDLES, *mapping.values(), "+86 138", "@fairway"]
    assert not _leaks(files, needles)
    # the ids are the keyed pseudonyms of the planted ones, with the key beside the config, not in results/
    key = bytes.fromhex((tmp_path / "pseudonym.key").read_text().strip())
    clean = pd.read_csv(tmp_path / "results" / "cleaning" / "clean.csv", dtype={"respondent_id": str})
    pseudonyms = {hmac.new(key, v.encode(), hashlib.sha256).hexdigest()[:20] for v in mapping.values()}
    assert set(clean["respondent_id"]) <= pseudonyms and len(set(clean["respondent_id"])) > 50
    report = pd.read_csv(tmp_path / "results" / "cleaning" / "report.csv").set_index("rule")
    assert "replaced by keyed pseudonyms" in report.loc["personal_ids", "action"]
    detail = report.loc["personal_data", "detail"]
    assert "remarks (" in detail
    if fmt not in ("spss", "stata"):
        assert "its header is withheld" in detail


@pytest.mark.parametrize("fmt", FORMATS)
def test_personal_data_in_configured_columns_stop_the_start_up_without_showing_it(tmp_path, capsys, monkeypatch,
                                                                                  fmt):
    monkeypatch.chdir(tmp_path)  # data.path is relative to the folder a run starts in
    raw, _ = _planted()
    raw["membership_type"] = [FREE_TEXT[i % len(FREE_TEXT)] if i % 10 == 0 else v
                              for i, v in enumerate(raw["membership_type"])]
    path = _write(raw, fmt, tmp_path, header=False)
    config = _config(path, tmp_path)
    assert main(["check-config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "'membership_type'" in err and "personal data" in err
    assert not _leaks({"check-config": err.encode()}, NEEDLES)
    # an item cell, on the cheapest format to change
    if fmt == "csv":
        raw["sat_value"] = raw["sat_value"].where(raw.index != 5, FREE_TEXT[0])
        raw["membership_type"] = "Full"
        _write(raw, fmt, tmp_path, header=False)
        run = _snakemake(tmp_path)
        assert run.returncode == 1 and "'sat_value'" in run.stderr and "personal data" in run.stderr
        assert not (tmp_path / "results").exists()
        assert not _leaks(_written(tmp_path, run), NEEDLES)
