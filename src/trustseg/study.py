"""A study folder, and the Snakemake command that runs the packaged workflow in it.

A researcher keeps one folder per survey: its config, and the ``results/``,
``logs/`` and report that a run writes.  :func:`study_folder` says which
folder a config belongs to; :func:`workflow_command` turns the options of
``trustseg run`` into the ``snakemake`` command that runs the workflow shipped
with the package (:func:`trustseg.sources.pipeline_dir`) there.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from trustseg.errors import ConfigError
from trustseg.sources import pipeline_dir

# Where `trustseg run` looks for a config when none is given: a study folder's, then a clone's.
DEFAULT_CONFIGS = ("config.yaml", "config/config.yaml")
REPORT = "results/report.html"
# Snakemake options that do something else than run the workflow: after them no report is written.
NOT_A_RUN = ("dryrun", "touch", "report", "draft_notebook", "edit_notebook", "lint", "generate_unit_tests",
             "containerize", "export_cwl", "list_rules", "list_target_rules", "dag", "rulegraph", "filegraph",
             "d3dag", "summary", "detailed_summary", "archive", "cleanup_metadata", "cleanup_shadow", "unlock",
             "list_changes", "list_input_changes", "list_params_changes", "delete_all_output",
             "delete_temp_output", "print_compilation", "conda_cleanup_envs", "conda_create_envs_only")


def study_folder(config_file: str | Path) -> Path:
    """The folder a config's run works in: where ``results/`` and ``logs/`` go and ``data.path`` is read from.

    The folder holding the config file; but a config in a folder named
    ``config``, or one level below it (Snakemake's layout, as in the trustseg
    repository: ``config/config.yaml``, ``config/examples/bank.yaml``),
    belongs to the folder that holds that ``config/``.
    """
    folder = Path(os.path.abspath(config_file)).parent
    for parent in (folder, folder.parent):
        if parent.name == "config":
            return parent.parent
    return folder


def default_cores() -> int:
    """The CPUs this process may run on (all of the machine's, unless it is limited to fewer)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_config(folder: str | Path = ".") -> Path:
    """The config of the study in ``folder``: its ``config.yaml``, or ``config/config.yaml`` (a clone's)."""
    for name in DEFAULT_CONFIGS:
        if (Path(folder) / name).is_file():
            return Path(name)
    raise ConfigError(
        f"no config given, and neither {' nor '.join(DEFAULT_CONFIGS)} is in '{Path(folder).resolve()}'. Pass one "
        "with --configfile FILE; draft one with 'trustseg new FOLDER SURVEY_FILE' or "
        "'trustseg init-config SURVEY_FILE -o FOLDER/config.yaml'."
    )


def _parsed(snakemake_args: Sequence[str]):
    """Snakemake's own reading of its options, or None when it rejects them (it will say why when run)."""
    import contextlib
    import io

    from snakemake.cli import get_argument_parser

    try:
        with contextlib.redirect_stderr(io.StringIO()):  # snakemake prints the usage itself when run
            return get_argument_parser().parse_args(list(snakemake_args))
    except SystemExit:
        return None


def _absolute_configfiles(args: list[str], files: list[Path]) -> list[str]:
    """``args`` with each config file (``--configfile F``, ``--configfile=F``) as an absolute path."""
    absolute = []
    for arg in args:
        option, equals, value = arg.partition("=")
        if equals and option in ("--configfile", "--configfiles"):
            absolute.append(f"{option}={os.path.abspath(value)}")
        elif not arg.startswith("-") and Path(arg) in files:
            absolute.append(os.path.abspath(arg))
        else:
            absolute.append(arg)
    return absolute


def workflow_command(snakemake_args: Sequence[str]) -> tuple[list[str], Path | None, bool]:
    """The snakemake options for ``trustseg run``, the study folder, and whether a report is due after the run.

    Added unless given: ``--configfile`` (:func:`default_config`),
    ``--snakefile`` (the packaged workflow), ``--directory`` (the study folder
    of the first config file) and ``--cores`` (:func:`default_cores`; not
    when ``--jobs``, a ``--profile`` or an ``--executor`` is given).  Config
    files are passed as absolute paths, which do not depend on the folder
    Snakemake runs in.  A report is due after a run of the whole workflow (no
    targets, no dry run or other mode).
    """
    args = list(snakemake_args)
    options = _parsed(args)
    if options is None:
        return args, None, False
    added = []
    if options.configfile:
        files = [Path(f) for f in options.configfile]
        args = _absolute_configfiles(args, files)
    else:
        files = [default_config()]
        added.append(f"--configfile={os.path.abspath(files[0])}")
    if options.snakefile is None:
        added += ["--snakefile", str(pipeline_dir() / "Snakefile")]
    folder = Path(options.directory) if options.directory else study_folder(files[0])
    if not options.directory:
        added += ["--directory", str(folder)]
    if options.cores is None and options.jobs is None and not options.profile and not options.executor:
        added += ["--cores", str(default_cores())]
    report = not options.targets and not any(getattr(options, mode, None) for mode in NOT_A_RUN)
    return added + args, folder, report
