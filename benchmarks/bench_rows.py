"""Helpers the side-by-side benchmarks share: the measuring process's memory, their CSV rows, the code measured."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd


def rss_mib() -> float:
    """The resident memory of this process, MiB."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024


def save_rows(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


def load_rows(path: Path) -> list[dict]:
    return pd.read_csv(path).to_dict("records") if path.exists() else []


def code_version(root: Path) -> str:
    """The checkout's commit, with "+dirty" when src/ has changes not committed: the code a row measured."""
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "src"], capture_output=True,
                           text=True).stdout.strip()
    return commit + ("+dirty" if dirty else "")


def versus_cells(ours, theirs) -> str:
    """The Markdown cells a side-by-side row compares on: seconds of each, their ratio, log-likelihood of each, the
    difference (ours minus theirs); ``ours`` and ``theirs`` are rows with ``seconds`` and ``loglik``."""
    return (f"{ours.seconds:.1f} | {theirs.seconds:.1f} | {theirs.seconds / ours.seconds:.1f}× | {ours.loglik:,.2f} | "
            f"{theirs.loglik:,.2f} | {ours.loglik - theirs.loglik:+.2f}")
