"""What computed a run: trustseg's version and commit, Python and library versions, seed, config and data.

A published analysis must be able to say what produced it.  Every
``results/<analysis>/analysis.json`` carries :func:`run_provenance` under
``provenance``, and ``results/provenance.csv`` (a table of the HTML report)
lists the same items.  Nothing in it changes from one run to the next of the
same code, data, config and seed (no date, no host or user name, no absolute
path), so reruns stay byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import pandas as pd

import trustseg
from trustseg.report.tables import write_table
from trustseg.sources import PACKAGE_DIR

# The libraries whose versions can change a number, a figure or a file of the run.
LIBRARIES = ("numpy", "scipy", "pandas", "scikit-learn", "statsmodels", "matplotlib", "snakemake", "pyreadstat",
             "openpyxl", "pyarrow")
# The parts of a clone whose edits change results (a changed README does not make a run "dirty").
CODE_PATHS = ("src", "workflow", "Snakefile", "notebooks")


def config_digest(config: Mapping) -> str:
    """SHA-256 of the validated config (defaults filled in, ``--config`` overrides applied), key order ignored."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def library_versions(names=LIBRARIES) -> dict[str, str | None]:
    """Installed version of each library (None when it is not installed)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _git(*args: str, cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def source_commit(package_dir: str | Path = PACKAGE_DIR) -> dict | None:
    """The commit of the clone whose ``src/trustseg`` is running, and whether its code has uncommitted edits.

    None for an installed trustseg (a wheel), even inside someone else's git
    repository: the package folder must be the clone's own ``src/trustseg``.
    """
    package_dir = Path(package_dir).resolve()
    top = _git("rev-parse", "--show-toplevel", cwd=package_dir)
    if top is None or (Path(top) / "src" / "trustseg").resolve() != package_dir:
        return None
    commit = _git("rev-parse", "HEAD", cwd=Path(top))
    if commit is None:
        return None
    changes = _git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS, cwd=Path(top))
    return {"commit": commit, "uncommitted_changes": bool(changes)}


def run_provenance(*, seed: int | None = None, config_sha256: str | None = None,
                   data_path: str | Path | None = None) -> dict:
    """What computed this run, as a JSON-ready dict (see the module docstring)."""
    clone = source_commit()
    return {
        "trustseg_version": trustseg.__version__,
        "git_commit": clone["commit"] if clone else None,
        "git_uncommitted_changes": clone["uncommitted_changes"] if clone else None,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "libraries": library_versions(),
        "seed": seed,
        "config_sha256": config_sha256,
        # the file's name only: a folder path can name the user
        "data_file": Path(data_path).name if data_path else None,
        "data_sha256": file_digest(data_path) if data_path else None,
    }


# What each item of the provenance is, in the table's words and order (the libraries follow the platform).
PROVENANCE_LABELS = {
    "trustseg_version": "trustseg version",
    "git_commit": "git commit of the trustseg clone (empty for an installed package)",
    "git_uncommitted_changes": "uncommitted edits to the clone's code",
    "python": "Python",
    "platform": "platform",
    "libraries": None,
    "seed": "seed (config key seed)",
    "config_sha256": "SHA-256 of the config (defaults and --config overrides included)",
    "data_file": "data file",
    "data_sha256": "SHA-256 of the data file",
}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def provenance_frame(provenance: Mapping) -> pd.DataFrame:
    """The provenance as a two-column table (item, value), a row per installed library."""
    rows = []
    for key, label in PROVENANCE_LABELS.items():
        if key == "libraries":
            rows += [(name, version) for name, version in provenance[key].items() if version is not None]
        else:
            rows.append((label, _text(provenance[key])))
    return pd.DataFrame(rows, columns=["item", "value"])


def record_provenance(data_path: str, output: str, *, seed: int, config_sha256: str) -> None:
    """Write ``results/provenance.csv`` (and ``.md``, ``.tex``): what computed this run."""
    provenance = run_provenance(seed=seed, config_sha256=config_sha256, data_path=data_path)
    write_table(provenance_frame(provenance), Path(output).with_suffix(""),
                caption="What computed this run: versions, commit, seed, and fingerprints of the config and data.")
