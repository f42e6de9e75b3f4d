"""The trustseg command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from trustseg.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
BANK = ROOT / "resources" / "examples" / "plspm_satisfaction_bank.csv"


def test_init_config_default_output(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["init-config", str(BANK)]) == 0
    out = tmp_path / "config" / "plspm_satisfaction_bank.yaml"
    cfg = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert cfg["constructs"]["satisfaction"]["items"] == ["sat1", "sat2", "sat3", "sat4"]
    assert "wrote a draft config" in capsys.readouterr().out


def test_init_config_refuses_to_overwrite(tmp_path, capsys):
    target = tmp_path / "my.yaml"
    target.write_text("keep me", encoding="utf-8")
    assert main(["init-config", str(BANK), "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("trustseg: error:") and "--force" in err
    assert target.read_text(encoding="utf-8") == "keep me"
    assert main(["init-config", str(BANK), "-o", str(target), "--force"]) == 0
    assert "constructs:" in target.read_text(encoding="utf-8")


def test_user_errors_print_one_line_without_traceback(tmp_path, capsys):
    assert main(["init-config", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "x.yaml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("trustseg: error:") and "does not exist" in err and "Traceback" not in err
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    assert main(["init-config", str(empty), "-o", str(tmp_path / "y.yaml")]) == 1
    assert "empty" in capsys.readouterr().err


def test_bad_arguments_exit_2(capsys):
    assert main(["no-such-command"]) == 2
    assert main([]) == 2


def test_simulate_passes_folder_and_seed(tmp_path, monkeypatch, capsys):
    calls = []

    def fake(out_dir, seed):
        calls.append((out_dir, seed))
        return (Path(out_dir) / "golf_survey.csv", Path(out_dir) / "golf_survey_truth.csv")

    import trustseg.survey.simulate

    monkeypatch.setattr(trustseg.survey.simulate, "write_golf_survey", fake)
    assert main(["simulate", "--out", str(tmp_path), "--seed", "7"]) == 0
    assert calls == [(str(tmp_path), 7)]
    assert "golf_survey.csv" in capsys.readouterr().out


def test_console_script_runs_simulate(tmp_path):
    # the real entry point, end to end, in a fresh interpreter
    code = "import sys; from trustseg.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", code, "simulate", "--out", str(tmp_path / "res")],
                          capture_output=True, text=True, env={**os.environ}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "res" / "golf_survey.csv").exists()


def test_module_docstring_lists_every_command():
    import argparse

    import trustseg.cli

    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    documented = {line.split()[1] for line in trustseg.cli.__doc__.splitlines() if line.startswith("``trustseg ")}
    assert documented == set(subparsers.choices)


BAD_YAML_CASES = {
    "tab": "data:\n  path: x.csv\n\tbad: 1\n",
    "syntax": "data: [unclosed\n",
    "python tag": "data: !!python/object/apply:os.system ['echo hi']\n",
    "empty": "",
    "list": "- a\n- b\n",
}


def test_run_reports_a_bad_configfile_as_check_config_does(tmp_path, monkeypatch, capsys):
    # Snakemake reads --configfile before the workflow starts and names neither file nor line;
    # 'trustseg run' reads it first and must say what 'trustseg check-config' says.
    monkeypatch.chdir(ROOT)
    for case, text in BAD_YAML_CASES.items():
        bad = tmp_path / f"{case.replace(' ', '_')}.yaml"
        bad.write_text(text, encoding="utf-8")
        assert main(["check-config", str(bad)]) == 1, case
        checked = capsys.readouterr().err
        assert main(["run", "--cores", "1", "--configfile", str(bad), "-n"]) == 1, case
        run = capsys.readouterr().err
        assert run == checked, case
        assert run.startswith("trustseg: error:") and str(bad) in run and "Traceback" not in run
    assert main(["run", f"--configfile={tmp_path / 'tab.yaml'}"]) == 1
    assert "line 3, column 1" in capsys.readouterr().err


def test_run_without_a_config_says_how_to_get_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "-n"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("trustseg: error: no config given") and "--configfile" in err and "trustseg new" in err


def test_config_files_in_snakemake_options():
    from trustseg.cli import config_files_in

    assert config_files_in(["--cores", "2", "--configfile", "a.yaml", "b.yaml", "-n"]) == ["a.yaml", "b.yaml"]
    assert config_files_in(["--configfile=c.yaml", "--config", "seed=1"]) == ["c.yaml"]
    assert config_files_in(["--cores", "2"]) == []


def test_check_config_reads_the_answers_stops_on_a_wrong_scale_and_warns_of_a_single_item_outcome(tmp_path, capsys):
    rows = ["id,sat1,sat2,rep1"] + [f"{i},{1 + i % 7},{1 + (i + 3) % 7},{1 + (i * 5) % 7}" for i in range(60)]
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = {"data": {"path": str(tmp_path / "s.csv"), "id_column": "id"},
              "constructs": {"satisfaction": {"items": ["sat1", "sat2"], "scale": [1, 5]}},
              "analyses": {"a": {"outcome": "rep1", "predictors": ["satisfaction"]}}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("trustseg: error: the answers of 1 construct(s) do not fit the declared scale")
    assert "constructs.satisfaction.scale: [1, 7]" in err and "Traceback" not in err
    config["constructs"]["satisfaction"]["scale"] = [1, 7]
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["check-config", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("trustseg: warning: analysis 'a' explains the column 'rep1', a single rating item")
    assert "no problems found: 60 rows and 4 columns" in captured.out and "1 warning above" in captured.out
