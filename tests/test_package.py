"""trustseg as a package: its API, its version and citation, and a wheel run in a folder of its own.

``test_the_wheel_runs_the_workflow_in_a_fresh_folder`` (marked ``package``)
builds the wheel, installs it into a fresh virtual environment outside the
repository (first the core, then the workflow extra), drafts a config for a
copy of the golf survey in an empty folder and runs the workflow there with
small settings from a third folder.  It takes three to five minutes on two
cores, so the normal test run leaves it out (``addopts`` in pyproject.toml);
``pytest -m package`` runs it, and so does CI, as a step of its own (.ci/run).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import openpyxl
import pandas as pd
import pyreadstat
import pytest
import yaml

import trustseg

ROOT = Path(__file__).resolve().parent.parent
API = ["ClusterwiseRegression", "ChainRegression", "select_segments", "profile_table", "membership_model",
       "bootstrap_replicates", "lr_test"]
# what the core install leaves to the extras
NOT_CORE = ["matplotlib", "snakemake", "yaml", "jsonschema", "nbformat", "nbconvert", "pyreadstat", "openpyxl"]


def test_the_api_is_importable_from_trustseg():
    from trustseg.model import bootstrap, chain, membership, mixture, profiles, selection

    homes = {"ClusterwiseRegression": mixture, "ChainRegression": chain, "select_segments": selection,
             "profile_table": profiles, "membership_model": membership, "bootstrap_replicates": bootstrap,
             "lr_test": bootstrap}
    for name in API:
        assert getattr(trustseg, name) is getattr(homes[name], name), name
        assert name in trustseg.__all__
    with pytest.raises(AttributeError):
        trustseg.no_such_thing  # noqa: B018


def test_the_api_imports_no_workflow_library():
    code = (f"import sys; from trustseg import {', '.join(API)}; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({NOT_CORE!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_core_dependencies_are_what_the_model_layer_imports():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {re.split(r"[<>=!~ ]", d)[0] for d in project["dependencies"]}
    assert core == {"numpy", "scipy", "pandas", "statsmodels", "scikit-learn", "threadpoolctl"}
    imported = set()
    for path in (ROOT / "src" / "trustseg" / "model").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    module_of = {"sklearn": "scikit-learn"}
    third_party = {module_of.get(m, m) for m in imported} - set(sys.stdlib_module_names) - {"trustseg", "__future__"}
    assert third_party <= core, third_party - core
    assert {"workflow", "formats", "all", "dev"} <= set(project["optional-dependencies"])


def test_the_version_is_written_once():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "trustseg.__version__"}
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["version"] == trustseg.__version__
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d\d-\d\d)", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert releases[0] == (trustseg.__version__, citation["date-released"])
    assert trustseg.__version__ not in (ROOT / "README.md").read_text(encoding="utf-8")


def test_citation_cff_is_valid():
    schema = json.loads((ROOT / "tests" / "data" / "citation_cff_1.2.0.schema.json").read_text())
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).validate(citation)
    assert citation["license"] == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]


def test_the_licence_is_the_gpl_3():
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:3] == ["GNU", "GENERAL", "PUBLIC"] and "Version 3, 29 June 2007" in text


# ---------------------------------------------------------------------------
# the wheel, in a fresh virtual environment and a folder of its own
# ---------------------------------------------------------------------------

SMALL = {"segments": [1, 2], "n_init": 2}


def _run(command, cwd, timeout=900, env=None):
    done = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=env)
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


def _source_copy(target: Path) -> Path:
    """The files a wheel is built from, copied (links kept), so the build leaves the checkout untouched."""
    target.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")
    for part in ("pyproject.toml", "README.md", "LICENSE", "Snakefile", "profiles", "workflow", "notebooks", "config",
                 "src"):
        source = ROOT / part
        if source.is_symlink() or source.is_file():
            shutil.copy2(source, target / part, follow_symlinks=False)
        else:
            shutil.copytree(source, target / part, symlinks=True, ignore=ignore)
    return target


@pytest.mark.package
@pytest.mark.workflow  # so that `-m "not workflow"` leaves it out too
def test_the_wheel_runs_the_workflow_in_a_fresh_folder(tmp_path):
    source = _source_copy(tmp_path / "source")
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", tmp_path / "dist", source],
         cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("trustseg-*.whl"))
    assert wheel.name.startswith(f"trustseg-{trustseg.__version__}-")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    python, pip = venv / "bin" / "python", [venv / "bin" / "python", "-m", "pip", "install", "--quiet"]
    constraints = ["--constraint", ROOT / "constraints.txt"]
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"

    # the core: the API works, and no workflow library came with it
    _run([*pip, *constraints, wheel], cwd=tmp_path, env=env)
    code = (f"import importlib.util, trustseg; from trustseg import {', '.join(API)}; "
            f"print([m for m in {NOT_CORE!r} if importlib.util.find_spec(m)])")
    assert _run([python, "-c", code], cwd=tmp_path, env=env).stdout.strip() == "[]"
    missing = subprocess.run([venv / "bin" / "trustseg", "run"], cwd=tmp_path, capture_output=True, text=True,
                             env=env, timeout=120)
    assert missing.returncode == 1 and 'pip install "trustseg[workflow]"' in missing.stderr

    # the workflow, in an empty folder, run from a third one
    _run([*pip, *constraints, f"{wheel}[workflow]"], cwd=tmp_path, env=env)
    survey = tmp_path / "surveys" / "golf.csv"
    survey.parent.mkdir()
    shutil.copy(ROOT / "resources" / "golf_survey.csv", survey)
    study, elsewhere = tmp_path / "study", tmp_path / "elsewhere"
    study.mkdir()
    elsewhere.mkdir()
    trustseg_command = venv / "bin" / "trustseg"
    _run([trustseg_command, "init-config", survey, "-o", study / "config.yaml"], cwd=elsewhere, env=env)
    config = yaml.safe_load((study / "config.yaml").read_text(encoding="utf-8"))
    assert config["data"]["path"] == "../surveys/golf.csv"
    for analysis in config["analyses"].values():
        analysis.update(SMALL)
    config["bootstrap"] = {"replicates": 2, "chunks": 1, "n_init": 1, "lr_test_replicates": 2}
    config["report"] = {"notebooks": True, "figure_formats": []}
    (study / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    run = _run([trustseg_command, "run", "--configfile", "../study/config.yaml", "--cores", "2"], cwd=elsewhere,
               env={**env, "PYTHONHASHSEED": "0"})
    assert f"running the workflow in {study}" in run.stderr

    assert not any(elsewhere.iterdir()), list(elsewhere.iterdir())  # nothing in the folder it was started from
    results = study / "results"
    assert (study / "logs").is_dir() and (results / "report.html").stat().st_size > 100_000
    name = next(iter(config["analyses"]))
    settings = json.loads((results / name / "analysis.json").read_text())
    assert settings["provenance"]["trustseg_version"] == trustseg.__version__
    assert settings["provenance"]["git_commit"] is None  # an installed package, not a clone
    for notebook in ("01_data_and_cleaning", "02_segments", "03_profiles_and_managerial_reading"):
        assert (results / "notebooks" / f"{notebook}.html").stat().st_size > 0
    assignments = pd.read_csv(results / name / "assignments.csv", dtype={"respondent_id": str})
    exported, meta = pyreadstat.read_sav(results / name / "export" / f"{name}_segments.sav")
    assert list(exported["respondent_id"]) == list(assignments["respondent_id"])
    assert list(exported["segment"].astype(int)) == list(assignments["segment"])
    assert set(meta.variable_value_labels["segment"].values()) == set(exported["segment_name"])
    for fmt in ("dta", "xlsx", "csv"):
        assert (results / name / "export" / f"{name}_segments.{fmt}").stat().st_size > 0
    sheets = openpyxl.load_workbook(results / "tables.xlsx").sheetnames
    assert sheets[:4] == ["contents", "provenance", "cleaning report", "cleaning reliability"]
    assert "1 segments" in sheets


def test_constraints_pin_only_what_the_install_pulls_in():
    """Every pinned package is installed here (CI's fresh `.[all,dev]` install), and every dependency is pinned."""
    from importlib import metadata

    pinned = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pinned[re.sub(r"[-_.]+", "-", name).lower()] = version
    not_installed = []
    for name in pinned:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            not_installed.append(name)
    assert not not_installed, f"constraints.txt pins packages the install does not pull in: {not_installed}"
    requirements = metadata.requires("trustseg") or []
    names = {re.sub(r"[-_.]+", "-", re.split(r"[<>=!~ ;\[]", r)[0]).lower() for r in requirements}
    assert names - {"trustseg"} <= set(pinned), (names - {"trustseg"}) - set(pinned)
