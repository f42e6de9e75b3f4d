"""The workflow is cluster-ready: every job runs as a separately submitted process.

Snakemake's generic cluster executor (snakemake-executor-plugin-cluster-generic)
hands each job script to a submit command, as it would to sbatch or qsub.  Here
the submit command is tests/data/cluster/submit.sh, which starts the job as a
detached background process and returns a job id at once; the status command
tests/data/cluster/status.sh reports running/success/failed from the job's
recorded exit status.  So a job only works if everything it needs reaches it
through its inputs, params and the shared file system: nothing may rely on
state in the Snakemake process that built the DAG.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from trustseg.survey.simulate import simulate_golf_survey

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = Path(__file__).resolve().parent / "data" / "cluster"
ANALYSIS = "repurchase_on_satisfaction"
SEGMENTS = [1, 2, 3]
BOOTSTRAP_CHUNKS = 2

pytestmark = pytest.mark.workflow


def tiny_config(data_path: str) -> dict:
    """A small but complete config for the simulated golf-club survey."""
    return {
        "data": {"path": data_path, "id_column": "respondent_id"},
        "constructs": {
            "satisfaction": {
                "items": ["sat_course", "sat_greens", "sat_clubhouse", "sat_value", "sat_booking_hassle"],
                "scale": [1, 7],
                "reverse": ["sat_booking_hassle"],
            },
            "trust": {"items": ["trust_honest", "trust_reliable", "trust_cares"], "scale": [1, 7]},
            "repurchase": {"items": ["rep_renew", "rep_play_again", "rep_recommend"], "scale": [1, 7]},
        },
        "cleaning": {
            "flagged_action": "drop",
            "straightlining": {"enabled": True, "min_items": 8},
            "speeders": {"duration_column": "duration_seconds", "min_seconds": 120},
            "attention_checks": [{"item": "attention_check", "expected": 5}],
        },
        "profile": ["gender", "membership_type"],
        "analyses": {
            ANALYSIS: {
                "outcome": "repurchase",
                "predictors": ["satisfaction"],
                "segments": SEGMENTS,
                "criterion": "bic",
                "n_init": 3,
            }
        },
        "bootstrap": {"replicates": 4, "chunks": BOOTSTRAP_CHUNKS, "n_init": 3, "lr_test_replicates": 3},
        "report": {"notebooks": False, "figure_formats": []},
        "seed": 2010,
    }


@pytest.mark.skipif(
    importlib.util.find_spec("snakemake_executor_plugin_cluster_generic") is None,
    reason="snakemake-executor-plugin-cluster-generic is not installed (pip install -e '.[dev]')",
)
def test_workflow_runs_as_separately_submitted_cluster_jobs(tmp_path):
    survey, _truth = simulate_golf_survey(seed=7, n_members=300)
    survey.to_csv(tmp_path / "survey.csv", index=False)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config("survey.csv")), encoding="utf-8")
    jobdir = tmp_path / "cluster-jobs"

    submit = f"bash {shlex.quote(str(CLUSTER / 'submit.sh'))} {shlex.quote(str(jobdir))}"
    status = f"bash {shlex.quote(str(CLUSTER / 'status.sh'))} {shlex.quote(str(jobdir))}"
    # The job scripts call this interpreter's snakemake; keep its bin/ first on PATH too.
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    env.pop("SNAKEMAKE_PROFILE", None)
    command = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(tmp_path),
        "--configfile", str(tmp_path / "config.yaml"),
        "--workflow-profile", "none",
        "--executor", "cluster-generic",
        "--cluster-generic-submit-cmd", submit,
        "--cluster-generic-status-cmd", status,
        "--jobs", "4",
        "--latency-wait", "10",
        "--max-status-checks-per-second", "5",
        "--seconds-between-status-checks", "1",
    ]  # fmt: skip
    started = time.monotonic()
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.monotonic() - started

    job_outputs = "\n".join(
        f"--- {out.name}\n{out.read_text(encoding='utf-8', errors='replace')[-2000:]}"
        for out in sorted(jobdir.glob("*.out"))
    )
    assert run.returncode == 0, (
        f"snakemake exited {run.returncode} after {elapsed:.0f} s\n"
        f"stderr:\n{run.stderr[-6000:]}\njob outputs:\n{job_outputs[-6000:]}"
    )

    results = tmp_path / "results" / ANALYSIS
    for name in ["model_selection.csv", "segments.csv", "assignments.csv", "bootstrap.csv",
                 "figures/segment_scatter.png"]:  # fmt: skip
        assert (results / name).is_file(), f"missing results/{ANALYSIS}/{name}"

    # One submission per job, each a separate process that finished with status 0.
    submissions = [line.split() for line in (jobdir / "submissions.log").read_text().splitlines()]
    rules = Counter(fields[1] for fields in submissions)
    assert rules["fit_k"] == len(SEGMENTS), rules
    assert rules["bootstrap_chunk"] == BOOTSTRAP_CHUNKS, rules
    assert rules["clean_survey"] == 1, rules
    assert sum(rules.values()) >= len(SEGMENTS) + BOOTSTRAP_CHUNKS + 1, rules
    ids = [fields[0] for fields in submissions]
    pids = {(jobdir / f"{job_id}.pid").read_text().strip() for job_id in ids}
    assert len(pids) == len(ids), "every submitted job should be its own process"
    assert all((jobdir / f"{job_id}.exit").read_text().strip() == "0" for job_id in ids)
    assert "Submitted job" in run.stderr and "external jobid" in run.stderr
