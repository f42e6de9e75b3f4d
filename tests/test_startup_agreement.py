"""check-config and the run agree: every input the run rejects, check-config rejects first, with the same message.

Each input below once passed ``trustseg check-config`` and then stopped the run 5-40 s later inside a job, or
gave a traceback (issue 24).  Here each is given to ``trustseg check-config`` and to a real ``snakemake
--cores 2`` run (no dry run: jobs would start if the start-up let them): both stop with status 1 and the same
message, and the run has written nothing under ``results/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_bad_inputs import CASES, base_case, run_check

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))

AGREEMENT = [
    "text label without value_labels", "text TRUE", "text N/A", "text inf",
    "negative weight", "text weight", "item without any answer",
    "too few respondents for K", "formulas without values", "SSN in an item cell", "name in a profile variable",
    "phone in a profile variable", "constant outcome", "constant predictor", "collinear predictors",
    "forgotten -99 in a profile variable", "delimiter ;;", "a FIFO", "title row in a workbook",
    "duplicate key", "item in two constructs", "huge config", "text duration column",
]


@pytest.mark.parametrize("name", AGREEMENT)
def test_the_run_stops_at_start_up_with_the_check_config_message(tmp_path, capsys, name):
    mutate = {case[0]: case[1] for case in CASES}[name]
    case = base_case(tmp_path)
    mutate(case)
    code, _, err = run_check(case, capsys)
    assert code == 1 and err.startswith("trustseg: error: ")
    run = subprocess.run(
        [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "2",
         "--configfile", str(tmp_path / "config.yaml")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, env={**os.environ, "PYTHONHASHSEED": "0"})
    assert run.returncode == 1, run.stderr[-3000:]
    # the same words; check-config names the config file as given, the run relative to its folder
    assert err.strip().replace(f"{tmp_path}/config.yaml", "config.yaml") in run.stderr, (err, run.stderr[-3000:])
    assert "Traceback" not in run.stderr and "Error in rule" not in run.stderr
    assert not (tmp_path / "results").exists()


def test_the_agreement_covers_the_inputs_issue_24_found_late():
    names = {case[0] for case in CASES}
    assert set(AGREEMENT) <= names
