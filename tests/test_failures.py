"""Nothing crashes: every way a run can fail ends in one plain message, never a traceback.

Each test names the failure it guards against: a wrong type, file or setting
found at start-up (before any job runs), an operating-system error or an
interrupt inside a job.  The few tests that start Snakemake use dry runs on a
small copy of the golf survey, so they take seconds.
"""

from __future__ import annotations

import copy
import errno
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from trustseg.cli import main
from trustseg.config import parse_overrides, read_config_file, validate_config
from trustseg.errors import ConfigError, DataError, TrustsegError, os_error_message
from trustseg.stages.common import analysis_data, run_stage
from trustseg.stages.fit import _check_enough_respondents
from trustseg.survey.checks import check_survey
from trustseg.survey.io import read_survey

REPO = Path(__file__).resolve().parents[1]
GOLF = REPO / "resources" / "golf_survey.csv"
ANALYSIS = "repurchase_on_satisfaction"
SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))


@pytest.fixture()
def golf_config():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["data"]["path"] = str(GOLF)
    return config


def checked(config: dict, raw: pd.DataFrame | None = None, source: str = "data file 'survey.csv'") -> None:
    """Validate ``config`` and run the start-up checks of the survey against it."""
    validated = validate_config(config)
    raw = read_survey(GOLF, validated["data"]) if raw is None else raw
    check_survey(validated, raw, source)


def one_line(message: str) -> str:
    return " ".join(message.split())


# ----------------------------------------------------------------------------- 1. text outcome or predictor


def test_text_predictor_is_refused_at_start_up_naming_analysis_and_column(golf_config):
    golf_config["analyses"][ANALYSIS]["predictors"] = ["satisfaction", "gender"]
    with pytest.raises(DataError) as err:
        checked(golf_config)
    message = one_line(str(err.value))
    assert f"analysis '{ANALYSIS}'" in message and "column 'gender'" in message
    assert f"analyses.{ANALYSIS}.predictors" in message and "'Female'" in message
    assert "bug" not in message


def test_text_outcome_is_refused_too(golf_config):
    golf_config["analyses"][ANALYSIS]["outcome"] = "membership_type"
    with pytest.raises(DataError, match=rf"analyses\.{ANALYSIS}\.outcome"):
        checked(golf_config)


def test_numeric_raw_columns_and_missing_codes_pass(golf_config):
    golf_config["analyses"][ANALYSIS]["predictors"] = ["satisfaction", "years_playing"]
    raw = read_survey(GOLF)
    raw["years_playing"] = raw["years_playing"].astype(object)
    raw.loc[0, "years_playing"] = "N/A"
    golf_config["data"]["missing_codes"] = ["N/A"]
    checked(golf_config, raw)


def test_a_fit_job_names_a_text_column_instead_of_crashing():
    clean = pd.DataFrame({"respondent_id": ["a", "b", "c"], "repurchase": [1.0, 2.0, 3.0],
                          "gender": ["Female", "Male", "Female"]})
    with pytest.raises(DataError) as err:
        analysis_data(clean, "repurchase", ["gender"], "rep")
    assert "'gender'" in str(err.value) and "analyses.rep.predictors" in str(err.value)


# ----------------------------------------------------------------------------- 3. Excel data on another sheet


@pytest.fixture()
def workbook(tmp_path):
    path = tmp_path / "golf.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"About this survey": ["Golf club members", "fielded 2024"]}).to_excel(
            writer, sheet_name="Info", index=False)
        pd.read_csv(GOLF).head(60).to_excel(writer, sheet_name="Data", index=False)
    return path


def test_columns_on_another_sheet_name_the_sheets_and_data_sheet(golf_config, workbook):
    golf_config["data"]["path"] = str(workbook)
    validated = validate_config(golf_config)
    raw = read_survey(workbook, validated["data"])
    with pytest.raises(ConfigError) as err:
        check_survey(validated, raw, f"data file '{workbook.name}'")
    message = one_line(str(err.value))
    assert "'Info'" in message and "'Data'" in message and 'data.sheet: "Data"' in message
    assert message.count("column '") == 0  # not a list of 20 "missing" columns
    golf_config["data"]["sheet"] = "Data"
    checked(golf_config, read_survey(workbook, validate_config(golf_config)["data"]))


def test_init_config_drafts_from_the_sheet_with_the_data(workbook, tmp_path, capsys):
    out = tmp_path / "draft.yaml"
    assert main(["init-config", str(workbook), "-o", str(out)]) == 0
    assert "'Data'" in capsys.readouterr().out
    draft = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert draft["data"]["sheet"] == "Data"
    assert "sat_course" in draft["constructs"]["satisfaction"]["items"]


# ----------------------------------------------------------------------------- 4. bad YAML


BAD_YAML = {
    "syntax": ("data:\n  path: [survey.csv\n", r"line 3, column 1.*flow sequence that starts at line 2"),
    "tab": ("data:\n\tpath: survey.csv\n", r"(?s)line 2, column 1.*tab characters"),
    "python tag": ("data: !!python/object/apply:os.system ['echo hacked']\n", r"(?s)line 1, column 7.*never evaluated"),
    "empty": ("# nothing but a comment\n", r"is empty"),
    "list": ("- data\n- constructs\n", r"mapping of keys.*a list"),
}


@pytest.mark.parametrize("case", list(BAD_YAML))
def test_bad_yaml_is_named_with_file_line_and_fix(tmp_path, case, capsys):
    text, needle = BAD_YAML[case]
    path = tmp_path / "my.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=needle) as err:
        read_config_file(path)
    assert str(path) in str(err.value)
    assert main(["check-config", str(path)]) == 1
    assert capsys.readouterr().err == f"trustseg: error: {err.value}\n"


def test_json_config_indented_with_tabs_is_read(tmp_path):
    path = tmp_path / "my.json"
    path.write_text('{\n\t"seed": 7\n}\n', encoding="utf-8")
    assert read_config_file(path) == {"seed": 7}


# ----------------------------------------------------------------------------- 5. ids, folders, commas, one respondent


def test_one_repeated_id_names_the_id_column_and_the_ids(golf_config):
    raw = read_survey(GOLF)
    raw["respondent_id"] = "G0001"
    with pytest.raises(DataError) as err:
        checked(golf_config, raw)
    message = one_line(str(err.value))
    assert "data.id_column 'respondent_id'" in message and f"'G0001' ({len(raw)} rows)" in message
    assert "collect more data" not in message and "segments" not in message


def test_a_few_repeated_ids_are_left_to_the_duplicates_rule(golf_config):
    raw = read_survey(GOLF)
    raw.loc[1:5, "respondent_id"] = raw.loc[0, "respondent_id"]
    checked(golf_config, raw)


def test_a_folder_as_data_path_is_called_a_folder(golf_config, tmp_path, capsys):
    (tmp_path / "survey.csv").write_text("a\n1\n", encoding="utf-8")
    golf_config["data"]["path"] = str(tmp_path)
    config = tmp_path / "my.yaml"
    config.write_text(yaml.safe_dump(golf_config), encoding="utf-8")
    assert main(["check-config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "is a folder" in err and "does not exist" not in err and "survey.csv" in err


def test_decimal_commas_suggest_data_decimal(golf_config, tmp_path):
    frame = pd.read_csv(GOLF).head(50)
    frame = frame.dropna(subset=["sat_value"])
    original = frame["sat_value"].copy()
    frame["sat_value"] = [f"{int(v)},5" for v in original]
    path = tmp_path / "survey.csv"
    frame.to_csv(path, sep=";", index=False)
    golf_config["data"]["path"] = str(path)
    with pytest.raises(DataError) as err:
        checked(golf_config, read_survey(path))
    message = one_line(str(err.value))
    assert "'sat_value'" in message and "decimal comma" in message and 'data.decimal: ","' in message
    assert "value_labels" not in message and ": 5}" not in message
    golf_config["data"]["decimal"] = ","
    raw = read_survey(path, validate_config(golf_config)["data"])
    assert raw["sat_value"].tolist() == (original + 0.5).tolist()
    checked(golf_config, raw)


def test_one_respondent_is_named_at_start_up(golf_config):
    with pytest.raises(DataError, match="only one respondent"):
        checked(golf_config, read_survey(GOLF).head(1))


def test_fit_messages_say_what_is_short(tmp_path):
    clean = str(tmp_path / "cleaning" / "clean.csv")
    with pytest.raises(DataError) as err:
        _check_enough_respondents(1, 1, 1, "rep", clean)
    assert "only one respondent" in str(err.value) and "Remove 1" not in str(err.value)
    assert "report.csv" in str(err.value)
    with pytest.raises(DataError) as err:
        _check_enough_respondents(3, 1, 1, "rep", clean)
    assert "even one segment" in str(err.value) and "Remove 1" not in str(err.value)
    with pytest.raises(DataError, match=r"Remove 3 from config key 'analyses\.rep\.segments'"):
        _check_enough_respondents(10, 3, 1, "rep", clean)
    _check_enough_respondents(10, 1, 1, "rep", clean)


def test_an_override_is_blamed_not_the_config_file(golf_config):
    values, given = parse_overrides(["seed=abc", "bootstrap={replicates: 0}"])
    assert values == {"seed": "abc", "bootstrap": {"replicates": 0}}  # read as YAML, unlike Snakemake
    config = copy.deepcopy(golf_config)
    config.update(values)
    with pytest.raises(ConfigError) as err:
        validate_config(config, source="config file 'config/my.yaml'", overrides=given)
    message = str(err.value)
    assert message.startswith("the command-line override --config seed=abc is not valid")
    assert "config file" not in message
    # a problem in the file itself is still the file's, also with overrides given
    config["analyses"][ANALYSIS]["segmnts"] = [1, 2]
    with pytest.raises(ConfigError) as err:
        validate_config(config, source="config file 'config/my.yaml'", overrides=given)
    lines = str(err.value).splitlines()
    assert "config file 'config/my.yaml'" in lines[0]
    assert any("segmnts" in line and "--config" not in line for line in lines)
    assert any("'seed'" in line and "set on the command line by --config seed=abc" in line for line in lines)


# ----------------------------------------------------------------------------- 6. operating-system errors


@pytest.mark.parametrize(("code", "needle"), [
    (errno.ENOSPC, "the disk is full"),
    (errno.EACCES, "permission denied for 'results/x.csv'"),
    (errno.ENOENT, "'results/x.csv' was not found"),
])
def test_os_errors_read_as_plain_sentences(code, needle):
    message = os_error_message(OSError(code, os.strerror(code), "results/x.csv"))
    assert needle in message and "results/x.csv" in message and "bug" not in message


def _fill_the_disk():
    with open("/dev/full", "w") as handle:  # every write fails with ENOSPC, naming no file
        handle.write("x" * 10_000)
        handle.flush()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_in_a_job_is_one_line_naming_its_outputs(tmp_path, capsys):
    log = tmp_path / "logs" / "job.log"
    with pytest.raises(SystemExit) as stop:
        run_stage(_fill_the_disk, log, job_outputs=["results/rep/fits/k2.json"])
    assert stop.value.code == 1
    text = log.read_text(encoding="utf-8")
    assert "'results/rep/fits/k2.json'" in text and "disk is full" in text
    assert "Traceback" not in text and "bug in trustseg" not in text
    assert "Traceback" not in capsys.readouterr().err


def test_cli_reports_a_permission_error_without_traceback(monkeypatch, capsys):
    import trustseg.config

    def denied(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(trustseg.config, "read_config_file", denied)
    assert main(["check-config", "config/secret.yaml"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("trustseg: error: permission denied for 'config/secret.yaml'")
    assert "Traceback" not in err


def test_a_bug_is_still_reported_as_a_bug(tmp_path):
    def broken():
        raise ZeroDivisionError("oops")

    with pytest.raises(ZeroDivisionError):
        run_stage(broken, tmp_path / "job.log")
    assert "a bug in trustseg" in (tmp_path / "job.log").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- 7. interrupts


def test_an_interrupted_stage_exits_130_with_one_line(tmp_path, capsys):
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as stop:
        run_stage(interrupted, tmp_path / "job.log")
    assert stop.value.code == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    logging.getLogger("trustseg").handlers.clear()


def test_ctrl_c_in_a_job_script_prints_no_traceback(tmp_path):
    """SIGINT to a job that is busy (here: importing, then sleeping) ends it quietly with status 130."""
    script = tmp_path / "job.py"
    script.write_text(
        "from trustseg.errors import quiet_interrupts\n"
        "quiet_interrupts()\n"
        "from trustseg.stages.common import run_stage\n"
        "import sys, time\n"
        "def stage():\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
        f"run_stage(stage, {str(tmp_path / 'job.log')!r})\n",
        encoding="utf-8",
    )
    job = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert job.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    job.send_signal(signal.SIGINT)
    _, err = job.communicate(timeout=60)
    assert job.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "interrupted" in (tmp_path / "job.log").read_text(encoding="utf-8")


def test_the_unlock_step_is_documented():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    troubleshooting = readme[readme.index("## Troubleshooting"):]
    assert "snakemake --unlock" in troubleshooting and "Directory cannot be locked" in troubleshooting
    profile = (REPO / "workflow" / "profiles" / "default" / "config.yaml").read_text(encoding="utf-8")
    assert "snakemake --unlock" in profile


# ----------------------------------------------------------------------------- start-up through Snakemake


@pytest.fixture()
def workdir(tmp_path, golf_config):
    pd.read_csv(GOLF).head(80).to_csv(tmp_path / "survey.csv", index=False)
    golf_config["data"]["path"] = "survey.csv"
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(golf_config), encoding="utf-8")
    return tmp_path


def dry_run(workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "1",
               "--dry-run", "--quiet", *extra]
    return subprocess.run(command, capture_output=True, text=True, cwd=workdir, timeout=300)


@pytest.mark.workflow
def test_snakemake_start_up_stops_on_a_text_predictor_and_an_override(workdir, golf_config):
    golf_config["analyses"][ANALYSIS]["predictors"] = ["gender"]
    (workdir / "text.yaml").write_text(yaml.safe_dump(golf_config), encoding="utf-8")
    done = dry_run(workdir, "--configfile", "text.yaml")
    assert done.returncode == 1
    assert f"analyses.{ANALYSIS}.predictors" in done.stderr and "'gender'" in done.stderr
    assert "Traceback" not in done.stderr
    done = dry_run(workdir, "--config", "seed=abc")
    assert done.returncode == 1
    assert "trustseg: error: the command-line override --config seed=abc is not valid" in done.stderr


@pytest.mark.workflow
def test_snakemake_start_up_stops_on_a_wrong_scale_and_warns_of_a_single_item_outcome(workdir, golf_config):
    golf_config["constructs"]["trust"]["scale"] = [1, 5]  # answered on 1-7
    (workdir / "scale.yaml").write_text(yaml.safe_dump(golf_config), encoding="utf-8")
    done = dry_run(workdir, "--configfile", "scale.yaml")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "trustseg: error: the answers of 1 construct(s) do not fit the declared scale" in done.stderr
    assert "constructs.trust.scale: [1, 7]" in done.stderr
    golf_config["constructs"]["trust"]["scale"] = [1, 7]
    golf_config["analyses"][ANALYSIS]["outcome"] = "rep_renew"
    (workdir / "item.yaml").write_text(yaml.safe_dump(golf_config), encoding="utf-8")
    done = dry_run(workdir, "--configfile", "item.yaml")
    assert done.returncode == 0, done.stderr
    assert f"trustseg: warning: analysis '{ANALYSIS}' explains the column 'rep_renew'" in done.stderr


@pytest.mark.workflow
def test_snakemake_gives_the_check_config_message_for_a_bad_default_config(workdir, capsys):
    config = workdir / "config" / "config.yaml"
    config.write_text("data:\n\tpath: survey.csv\n", encoding="utf-8")
    done = dry_run(workdir)
    assert done.returncode == 1
    assert main(["check-config", str(config)]) == 1
    expected = capsys.readouterr().err.replace(str(config), "config/config.yaml")
    assert expected in done.stderr
    assert "line 2, column 1" in done.stderr and "Traceback" not in done.stderr


def test_trustseg_errors_are_one_class():
    assert issubclass(ConfigError, TrustsegError) and issubclass(DataError, TrustsegError)
