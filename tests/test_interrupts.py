"""An interrupted run ends as a shell program does, with real processes and real signals.

Ctrl-C in a terminal sends SIGINT to every process of the foreground group (``trustseg run``, Snakemake and
its jobs); a batch system or ``kill`` sends SIGTERM.  Each test starts a run in a session of its own, waits
until a fit job is running, sends the signal, and checks the exit status (130 for SIGINT, 143 for SIGTERM),
that the last line says ``interrupted; nothing half-written is kept`` and that no temporary file is left
under ``results/``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from trustseg.survey.simulate import simulate_golf_survey

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))
TRUSTSEG = shutil.which("trustseg") or str(Path(sys.executable).with_name("trustseg"))
LINE = "trustseg: interrupted; nothing half-written is kept"


def _project(tmp_path: Path) -> Path:
    """A folder to run in: the workflow (linked), a 300-member golf survey and a config with slow fits."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Snakefile", tmp_path / "Snakefile")
    for part in ("workflow", "src", "profiles"):
        (tmp_path / part).symlink_to(REPO / part)
    survey, _ = simulate_golf_survey(2010, n_members=300)
    survey.to_csv(tmp_path / "survey.csv", index=False)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["data"]["path"] = "survey.csv"
    config["analyses"] = {"repurchase_on_satisfaction": {**config["analyses"]["repurchase_on_satisfaction"],
                                                         "segments": [2, 3, 4, 5], "n_init": 60}}
    config["report"] = {"notebooks": False, "figure_formats": []}
    (tmp_path / "my.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return tmp_path


def _interrupt(command: list[str], folder: Path, sig: int, group: bool = True) -> tuple[int, str]:
    """Run ``command``, wait until a fit job has started, send ``sig`` (to the whole group, as a terminal does)."""
    log = open(folder / "output.txt", "w")
    process = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                               env={**os.environ, "PYTHONHASHSEED": "0"})
    deadline = time.time() + 240
    fits = folder / "logs" / "repurchase_on_satisfaction"
    while time.time() < deadline and process.poll() is None:
        if fits.is_dir() and any(p.name.startswith("fit_k") for p in fits.iterdir()):
            break
        time.sleep(0.2)
    time.sleep(1.0)  # the job is past its imports
    assert process.poll() is None, (folder / "output.txt").read_text()[-3000:]
    if group:
        os.killpg(process.pid, sig)
    else:
        process.send_signal(sig)
    try:
        status = process.wait(timeout=240)
    except subprocess.TimeoutExpired:
        # Snakemake's own shutdown has hung once in CI under a full test load (not reproduced alone or under
        # load): end that run, and let the caller try a fresh one (_interrupted_run)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        status = None
    log.close()
    return status, (folder / "output.txt").read_text(encoding="utf-8")


def _interrupted_run(command: list[str], tmp_path: Path, sig: int, group: bool = True) -> tuple[int, str, Path]:
    """:func:`_interrupt` in a fresh project, a second time if Snakemake's shutdown hung the first time."""
    for attempt in range(2):
        folder = _project(tmp_path / f"attempt{attempt}")
        code, output = _interrupt(command, folder, sig, group)
        if code is not None:
            return code, output, folder
    raise AssertionError(f"the run did not end within 240 s of the signal, twice:\n{output[-3000:]}")


def _no_half_written(folder: Path) -> None:
    left = [p for p in (folder / "results").rglob("*") if p.is_file() and (".tmp" in p.name or p.name.startswith("."))]
    assert not left, left


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_snakemake_ends_an_interrupted_run_with_the_shell_status(tmp_path, sig, status):
    code, output, folder = _interrupted_run([SNAKEMAKE, "--cores", "2", "--configfile", "my.yaml"], tmp_path, sig)
    assert code == status, output[-3000:]
    assert output.strip().splitlines()[-1].startswith(LINE), output[-3000:]
    assert "KeyboardInterrupt" not in output and "Traceback" not in output
    _no_half_written(folder)


def test_trustseg_run_passes_a_sigterm_on_and_returns_143(tmp_path):
    code, output, folder = _interrupted_run([TRUSTSEG, "run", "--cores", "2", "--configfile", "my.yaml"], tmp_path,
                                            signal.SIGTERM, group=False)
    assert code == 143, output[-3000:]
    assert output.strip().splitlines()[-1].startswith(LINE)
    _no_half_written(folder)
