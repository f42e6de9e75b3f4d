"""Time the full default workflow on simulated golf surveys of growing size.

    $PY benchmarks/scale_run.py [--n 10000 50000 200000] [--cores 2] [--timeout MIN] [--keep]
                                [--config KEY=VALUE ...]

For each N: simulate the golf-club survey with ``simulate_golf_survey(2010,
n_members=N)`` (N members plus the simulator's 6 duplicate submissions and its
planted bad answering), write it to ``resources/golf_survey.csv`` of a scratch
copy of ``config/``, and run the whole default workflow there (the bundled
``config/config.yaml`` unchanged: K = 1..6 with 20 starts, 49-replicate LR
tests, 200 bootstrap refits in 4 jobs, profiles, PNG + PDF figures, the three
notebooks) with ``snakemake --cores CORES`` under ``/usr/bin/time -v``.  The
workflow, package and notebooks are copied into the scratch directory first,
so a commit landing during a long run cannot mix two versions of the code.
``--config`` is passed on to Snakemake (trustseg reads each value as YAML),
e.g. ``--config 'bootstrap={lr_test_replicates: 0}'`` to time a run without the
likelihood-ratio tests.

Prints, per N: wall time of the Snakemake run (simulation excluded), the peak
resident memory of the largest single process (GNU time's "Maximum resident set
size": the largest of Snakemake and every job it ran, not their sum), the K
each analysis chose (those that got that far), and per rule the number of jobs
and the seconds their stage functions took (the ``done in`` lines of logs/; a
job's Python start-up and imports, about 2 s, are not in them). A run still
going after --timeout minutes is stopped (SIGTERM to Snakemake, which stops its
jobs, so the peak memory is still reported; the wall time includes that minute
at most), and the progress lines of its unfinished bootstrap and LR-test jobs
are shown (replicates done, seconds so far, the job's own estimate of the
seconds left). A Markdown summary table follows. The scratch directories are
removed unless --keep (failed or stopped runs are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from trustseg.survey.simulate import simulate_golf_survey  # noqa: E402

SNAKEMAKE = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"
DONE = re.compile(r"INFO done in ([0-9.]+) s")
PROGRESS = re.compile(r"INFO ((?:LR test K=\d+ vs \d+|bootstrap \(K=\d+\))): (\d+)/(\d+) done \(\d+%\), "
                      r"([0-9.]+)s elapsed, about ([0-9.]+)s left")
CODE = ("Snakefile", "workflow", "src", "notebooks")


def rule_of(log: Path) -> str:
    """The rule a log belongs to: logs/<analysis>/fit_k3.log -> fit_k, logs/notebooks/02_x.log -> notebook."""
    if log.parent.name == "notebooks":
        return "notebook"
    return re.sub(r"(k|chunk)\d+$", r"\1", log.stem)


def job_seconds(workdir: Path) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = defaultdict(list)
    for log in sorted((workdir / "logs").rglob("*.log")):
        done = DONE.findall(log.read_text(encoding="utf-8", errors="replace"))
        if done:
            seconds[rule_of(log)].append(float(done[-1]))
    return dict(seconds)


def unfinished(workdir: Path) -> list[str]:
    """The last progress line of every job that has not logged 'done in'."""
    lines = []
    for log in sorted((workdir / "logs").rglob("*.log")):
        text = log.read_text(encoding="utf-8", errors="replace")
        progress = PROGRESS.findall(text)
        if not DONE.search(text) and progress:
            what, done, total, elapsed, left = progress[-1]
            lines.append(f"{log.stem}: {what} {done}/{total} replicates after {elapsed} s, about {left} s left")
    return lines


def git_state() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "--no-optional-locks", "-C", str(REPO), "status", "--porcelain", "--", *CODE],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"commit {head}" + (" + uncommitted changes to the code" if dirty else "")


def stop(process: subprocess.Popen) -> int:
    """Stop a run at the timeout so that GNU time still reports the peak memory of what ran.

    SIGTERM goes to Snakemake (time's child), which stops its jobs and exits;
    time then prints its report.  Signalling the whole session would kill time
    too, and the peak memory of a stopped run would be lost.  Whatever is left
    after a minute gets SIGTERM as a group (the session started in run()).
    """
    try:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    except OSError:
        children = []
    for child in children:
        try:
            os.kill(int(child), signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        return process.wait(timeout=60 if children else 0)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)  # time, snakemake, its jobs
        return process.wait()


def run(n: int, cores: int, keep: bool, timeout: float | None, config: list[str]) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"scale{n}_"))
    code = workdir / "code"
    for part in CODE:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, code / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            code.mkdir(exist_ok=True)
            shutil.copy2(source, code / part)
    shutil.copytree(REPO / "config", workdir / "config")
    (workdir / "resources").mkdir()
    started = time.perf_counter()
    survey, _ = simulate_golf_survey(2010, n_members=n)
    survey.to_csv(workdir / "resources" / "golf_survey.csv", index=False)
    simulated = time.perf_counter() - started
    command = ["/usr/bin/time", "-v", SNAKEMAKE, "--snakefile", str(code / "Snakefile"),
               "--directory", str(workdir), "--cores", str(cores)]
    if config:
        command += ["--config", *config]
    started = time.perf_counter()
    stopped = False
    with open(workdir / "run.log", "w") as out, open(workdir / "time.log", "w") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=workdir, start_new_session=True)
        try:
            status = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stopped = True
            progress = unfinished(workdir)
            status = stop(process)
    wall = time.perf_counter() - started
    timing = (workdir / "time.log").read_text(errors="replace")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", timing)
    result = {"n": n, "rows": len(survey), "status": status, "wall_s": round(wall, 1), "stopped": stopped,
              "unfinished": progress if stopped else [],
              "peak_mib": round(int(peak.group(1)) / 1024) if peak else None, "simulate_s": round(simulated, 1),
              "jobs": len(re.findall(r"Finished jobid: \d+ \(Rule: (?!all\))", timing)),
              "rules": job_seconds(workdir), "workdir": str(workdir)}
    settings = sorted((workdir / "results").glob("*/analysis.json"))
    # every analysis chooses its own K (the default run has three); known once its select_k ran
    result["k"] = ", ".join(f"{path.parent.name} {json.loads(path.read_text())['k']}" for path in settings) or None
    if status != 0:
        if not stopped:
            print(timing[-4000:], file=sys.stderr)
        keep = True
    if not keep:
        shutil.rmtree(workdir)
    return result


def show(result: dict) -> None:
    state = "STOPPED at the timeout" if result["stopped"] else "FAILED" if result["status"] else "ok"
    print(f"\nN = {result['n']:,} ({result['rows']:,} rows), {state}: "
          f"{result['wall_s']:.1f} s wall, largest single process {result['peak_mib']} MiB, "
          f"{result['jobs']} jobs, chosen K = {result['k']} (simulation {result['simulate_s']} s, not counted)"
          + (f"; kept in {result['workdir']}" if Path(result["workdir"]).exists() else ""))
    print("| rule | jobs | stage seconds (sum) | slowest job |")
    print("|---|---:|---:|---:|")
    rules = sorted(result["rules"].items(), key=lambda item: -sum(item[1]))
    for rule, seconds in rules:
        print(f"| {rule} | {len(seconds)} | {sum(seconds):.1f} | {max(seconds):.1f} |")
    for line in result["unfinished"]:
        print(f"unfinished: {line}")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 50_000, 200_000], help="members to simulate")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--timeout", type=float, help="stop a run after this many minutes")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directories")
    parser.add_argument("--config", nargs="+", default=[], metavar="KEY=VALUE", help="passed to snakemake")
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {args.cores} cores, {git_state()}, snakemake {SNAKEMAKE}"
          + (f", --config {' '.join(args.config)}" if args.config else ""))
    results = []
    for n in args.n:
        results.append(run(n, args.cores, args.keep, args.timeout and args.timeout * 60, args.config))
        show(results[-1])
    print("\n| respondents | wall time | s per 10,000 | largest single process | jobs | chosen K |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in results:
        wall = f"> {r['wall_s']:.0f} s (stopped)" if r["stopped"] else f"{r['wall_s']:.1f} s"
        print(f"| {r['n']:,} | {wall} | {r['wall_s'] / r['n'] * 1e4:.1f} | {r['peak_mib']} MiB "
              f"| {r['jobs']} | {r['k']} |")
    if any(r["status"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
