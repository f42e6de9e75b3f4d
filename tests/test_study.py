"""Study folders: trustseg new, init-config's data path, and the snakemake command of trustseg run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from trustseg.cli import main
from trustseg.config import load_config
from trustseg.errors import ConfigError
from trustseg.sources import pipeline_dir
from trustseg.study import default_config, default_cores, study_folder, workflow_command

ROOT = Path(__file__).resolve().parent.parent
BANK = ROOT / "resources" / "examples" / "plspm_satisfaction_bank.csv"


def test_study_folder_is_the_config_s_folder_or_the_one_above_config(tmp_path):
    assert study_folder(tmp_path / "my_study" / "config.yaml") == tmp_path / "my_study"
    # Snakemake's layout, as in the repository: config/config.yaml and config/examples/bank.yaml
    assert study_folder(tmp_path / "config" / "config.yaml") == tmp_path
    assert study_folder(tmp_path / "config" / "examples" / "bank.yaml") == tmp_path
    # a folder named config far above the config does not count
    assert study_folder(tmp_path / "config" / "surveys" / "2024" / "s.yaml") == tmp_path / "config" / "surveys" / "2024"


def test_the_packaged_workflow_is_there():
    root = pipeline_dir()
    for part in ("Snakefile", "workflow/rules/common.smk", "workflow/scripts/fit_k.py", "workflow/report/workflow.rst",
                 "workflow/profiles/default/config.yaml", "profiles/default/config.yaml",
                 "notebooks/02_segments.ipynb", "config/config.yaml"):
        assert (root / part).is_file(), part


def test_package_data_ships_every_workflow_file():
    """Every file git would ship under workflow/, notebooks/ and profiles/ matches a package-data pattern."""
    import fnmatch
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "trustseg.pipeline"]
    files = [p.relative_to(ROOT).as_posix() for top in ("workflow", "notebooks")
             for p in (ROOT / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    files.append("Snakefile")
    unshipped = [f for f in files if not any(fnmatch.fnmatchcase(f, pattern) for pattern in patterns)]
    assert not unshipped, f"add a pattern for {unshipped} to [tool.setuptools.package-data] in pyproject.toml"


def _command(args, cwd, monkeypatch):
    monkeypatch.chdir(cwd)
    return workflow_command(args)


def test_run_command_adds_the_workflow_the_study_folder_and_the_cores(tmp_path, monkeypatch):
    study = tmp_path / "my_study"
    study.mkdir()
    (study / "config.yaml").write_text("seed: 1\n")
    command, folder, report = _command(["--configfile", "my_study/config.yaml"], tmp_path, monkeypatch)
    assert folder == study and report
    assert command[command.index("--snakefile") + 1] == str(pipeline_dir() / "Snakefile")
    assert command[command.index("--directory") + 1] == str(study)
    assert command[command.index("--cores") + 1] == str(default_cores())
    # config files are absolute: Snakemake runs in the study folder
    assert command[command.index("--configfile") + 1] == str(study / "config.yaml")

    # what the user says wins, and no report follows a dry run or a run of some targets
    command, folder, report = _command(["--configfile=my_study/config.yaml", "-c", "3", "-d", "elsewhere", "-n"],
                                       tmp_path, monkeypatch)
    assert folder == Path("elsewhere") and not report
    assert "--directory" not in command and command.count("-c") == 1 and "--cores" not in command
    assert f"--configfile={study / 'config.yaml'}" in command
    for args in (["--jobs", "8"], ["--profile", "workflow/profiles/slurm"], ["--executor", "cluster-generic"]):
        command, _, _ = _command(["--configfile", "my_study/config.yaml", *args], tmp_path, monkeypatch)
        assert "--cores" not in command, args
    _, _, report = _command(["results/x/segments.csv", "--configfile", "my_study/config.yaml"], tmp_path, monkeypatch)
    assert not report
    # options snakemake refuses go to it unchanged, and it says what is wrong
    assert _command(["--no-such-option"], tmp_path, monkeypatch) == (["--no-such-option"], None, False)
    _, _, report = _command(["--configfile", "my_study/config.yaml", "--unlock"], tmp_path, monkeypatch)
    assert not report


def test_run_command_finds_the_study_s_config(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="no config given"):
        _command([], tmp_path, monkeypatch)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("seed: 1\n")
    assert default_config(tmp_path) == Path("config/config.yaml")
    command, folder, _ = _command([], tmp_path, monkeypatch)  # a clone's layout: the study folder is the clone
    assert folder == tmp_path and f"--configfile={tmp_path / 'config' / 'config.yaml'}" in command
    (tmp_path / "config.yaml").write_text("seed: 1\n")
    assert default_config(tmp_path) == Path("config.yaml")


def test_new_lays_out_the_example_and_refuses_a_folder_in_use(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["new", "demo"]) == 0
    assert "trustseg run --configfile demo/config.yaml" in capsys.readouterr().out
    config = load_config("demo/config.yaml")
    assert config["data"]["path"] == "data/golf_survey.csv"
    assert (tmp_path / "demo" / "data" / "golf_survey.csv").read_bytes() == (
        ROOT / "resources" / "golf_survey.csv").read_bytes()
    # the example's analyses, as in the repository
    assert config["analyses"].keys() == load_config(ROOT / "config" / "config.yaml")["analyses"].keys()
    assert main(["new", "demo"]) == 1
    assert "not empty" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["new", "file"]) == 1


def test_new_and_init_config_write_the_data_path_relative_to_the_study_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["new", "bank_study", str(BANK)]) == 0
    drafted = yaml.safe_load((tmp_path / "bank_study" / "config.yaml").read_text())
    assert (tmp_path / "bank_study" / drafted["data"]["path"]).resolve() == BANK.resolve()
    assert main(["init-config", str(BANK), "-o", "other/config/bank.yaml"]) == 0
    drafted = yaml.safe_load((tmp_path / "other" / "config" / "bank.yaml").read_text())
    assert (tmp_path / "other" / drafted["data"]["path"]).resolve() == BANK.resolve()


def test_a_command_without_its_extra_says_what_to_install(monkeypatch, capsys, tmp_path):
    import trustseg.cli

    def missing(args):
        raise ModuleNotFoundError("No module named 'snakemake'", name="snakemake")

    monkeypatch.setattr(trustseg.cli, "_run", missing)
    monkeypatch.chdir(tmp_path)
    assert main(["run"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("trustseg: error: 'trustseg run' needs") and 'pip install "trustseg[workflow]"' in err


def test_python_m_trustseg_is_the_command():
    done = subprocess.run([sys.executable, "-m", "trustseg", "--version"], capture_output=True, text=True,
                          env={**os.environ}, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("trustseg ")
    done = subprocess.run([sys.executable, "-m", "trustseg", "run", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert "every CPU this process may use" in " ".join(done.stdout.split())
