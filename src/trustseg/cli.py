"""The ``trustseg`` command.

Subcommands
-----------
``trustseg init-config SURVEY_FILE [-o config/<name>.yaml] [--force] [--sheet S] [--encoding E] [--delimiter D]``
    Inspect a survey file and write a draft config (from a workbook's fullest sheet unless ``--sheet`` is given).
``trustseg check-config CONFIG_FILE``
    Run the workflow's start-up checks (:func:`trustseg.stages.startup.check_inputs`): the config, the data
    file and everything a job would check in it; print warnings, such as an outcome that is a single rating
    item, as ``trustseg: warning: <message>``, and end with what was found.
``trustseg simulate [--out resources] [--seed 2010]``
    Write the bundled simulated golf-club survey.
``trustseg config-docs [-o config/README.md]``
    Write the configuration reference generated from the schema.
``trustseg publish-notebooks EXECUTED_DIR [--to notebooks]``
    Copy executed notebooks (with outputs) over the templates in ``notebooks/``.
``trustseg new FOLDER [SURVEY_FILE] [--force]``
    Lay out a study folder: ``FOLDER/config.yaml`` drafted from the survey file, or, without one, the bundled
    golf-club example (its simulated survey in ``FOLDER/data/`` and the example's config).
``trustseg pseudonyms CONFIG_FILE [-o FILE]``
    List each respondent id with the keyed pseudonym that replaces it in ``results/`` (when the ids hold
    personal data), to merge the results back into the survey file.
``trustseg run [--configfile FILE ...] [SNAKEMAKE OPTIONS ...]``
    Read the config files with trustseg's own reader first (so a YAML mistake is
    reported with its file, line and column, as for the default config), then run
    the workflow shipped with trustseg in the study folder of the config (the
    folder that holds it; the one above a ``config/`` folder) on every CPU the
    process may use, and write the HTML report; other options go to ``snakemake``.

A :class:`~trustseg.errors.TrustsegError`, or an operating-system error (a full
disk, a permission denied), is printed as ``trustseg: error: <message>`` on
stderr with exit status 1, without a traceback; so is a command that needs a
package of an extra the install lacks (``pip install "trustseg[workflow]"``).
Ctrl-C ends with the line ``trustseg: interrupted; nothing half-written is kept ...`` and status 130,
SIGTERM with status 143 (``trustseg run`` returns Snakemake's, which the workflow sets the same way).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trustseg import __version__
from trustseg.errors import INTERRUPTED, DataError, TrustsegError, is_os_failure, os_error_message

__all__ = ["main", "build_parser"]

# Modules of the optional extras (pyproject.toml), and the extra that brings each.
OPTIONAL_MODULES = {
    **dict.fromkeys(["snakemake", "yaml", "jsonschema", "matplotlib", "jinja2", "nbformat", "nbclient", "nbconvert",
                     "ipykernel"], "workflow"),
    **dict.fromkeys(["openpyxl", "pyreadstat", "pyarrow"], "formats"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``trustseg`` command."""
    parser = argparse.ArgumentParser(
        prog="trustseg",
        description="Clusterwise regression of repurchase and trust on satisfaction: survey segmentation.",
    )
    parser.add_argument("--version", action="version", version=f"trustseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    init = sub.add_parser("init-config", help="inspect a survey file and write a draft config")
    init.add_argument("survey_file", metavar="SURVEY_FILE",
                      help="the raw survey file (csv, tsv, xlsx, sav, dta, parquet)")
    init.add_argument("-o", "--output", default=None,
                      help="where to write the draft (default config/<survey file name>.yaml)")
    init.add_argument("--force", action="store_true", help="overwrite an existing config file")
    init.add_argument("--sheet", default=None,
                      help="Excel sheet name or 0-based index (default: the sheet with the most data)")
    init.add_argument("--encoding", default=None, help="text encoding of a CSV/TSV file (default: detect)")
    init.add_argument("--delimiter", default=None, help="column delimiter of a text file (default: sniff)")

    sim = sub.add_parser("simulate", help="write the bundled simulated golf-club survey")
    sim.add_argument("--out", default="resources", help="output folder (default resources)")
    sim.add_argument("--seed", type=int, default=2010, help="random seed (default 2010)")

    docs = sub.add_parser("config-docs", help="write the configuration reference generated from the schema")
    docs.add_argument("-o", "--output", default="config/README.md", help="where to write it (default config/README.md)")

    publish = sub.add_parser("publish-notebooks",
                             help="copy executed notebooks (with outputs) over the templates in notebooks/")
    publish.add_argument("executed_dir", metavar="EXECUTED_DIR", help="e.g. results/notebooks")
    publish.add_argument("--to", default="notebooks", help="template folder (default notebooks)")

    new = sub.add_parser("new", help="lay out a study folder: a config drafted from a survey file, or the example",
                         description="Make FOLDER with a config.yaml drafted from SURVEY_FILE (its data.path "
                                     "relative to FOLDER; check the lines marked CHECK), or, without SURVEY_FILE, "
                                     "the bundled golf-club example: its simulated survey in FOLDER/data/ and the "
                                     "example's config. Then: trustseg run --configfile FOLDER/config.yaml")
    new.add_argument("folder", metavar="FOLDER", help="the study folder to make (new, or empty)")
    new.add_argument("survey_file", metavar="SURVEY_FILE", nargs="?", default=None,
                     help="the raw survey file (csv, tsv, xlsx, sav, dta, parquet); default: the bundled example")
    new.add_argument("--force", action="store_true", help="write into FOLDER even if it is not empty")

    run = sub.add_parser(
        "run", help="check the config, run the workflow in the study's folder and write the report",
        description="Read every --configfile with trustseg's reader (a YAML mistake is reported with its line and "
                    "column), then run the workflow shipped with trustseg with snakemake, in the study folder: the "
                    "folder holding the (first) config file, or the folder above it when that is named config/ "
                    "(config/config.yaml). results/, logs/ and results/report.html go there, and data.path is read "
                    "from there. Without --configfile: config.yaml, else config/config.yaml, in the current folder. "
                    "Other options go to snakemake unchanged (--directory DIR sets the folder yourself, -n is a dry "
                    "run), e.g. 'trustseg run --configfile my_study/config.yaml'.")
    run.add_argument("snakemake_args", nargs=argparse.REMAINDER, metavar="SNAKEMAKE OPTIONS",
                     help=f"passed on to snakemake. Cores: --cores N; default every CPU this process may use "
                          f"({_cpu_count()} here), unless --jobs, --profile or --executor is given. The report is "
                          "written after a run of the whole workflow (not after -n or with targets).")

    pseudo = sub.add_parser(
        "pseudonyms", help="list each respondent id with the pseudonym that replaces it in results/",
        description="For a survey whose respondent ids hold personal data (phone numbers, e-mails, names), results/ "
                    "carries keyed pseudonyms instead. This writes source row, id and pseudonym of every row, to "
                    "merge the results back into the survey file. The list holds the personal ids: keep it private.")
    pseudo.add_argument("config_file", metavar="CONFIG_FILE", help="the YAML config of the run")
    pseudo.add_argument("-o", "--output", default="-", help="CSV file to write (default: standard output); never "
                                                            "under results/")

    check = sub.add_parser("check-config",
                           help="validate a config and check it against the data file (columns, answer scales)")
    check.add_argument("config_file", metavar="CONFIG_FILE", help="the YAML config to check")
    return parser


def _cpu_count() -> int:
    from trustseg.study import default_cores

    return default_cores()


def _init_config(args) -> int:
    from trustseg.survey.init_config import draft_config

    data_cfg = {}
    if args.sheet is not None:
        data_cfg["sheet"] = int(args.sheet) if args.sheet.isdigit() else args.sheet
    if args.encoding is not None:
        data_cfg["encoding"] = args.encoding
    if args.delimiter is not None:
        data_cfg["delimiter"] = "\t" if args.delimiter in ("\\t", "tab") else args.delimiter
    out = Path(args.output) if args.output else Path("config") / f"{Path(args.survey_file).stem}.yaml"
    if out.exists() and not args.force:
        raise DataError(f"{out}: already exists; choose another file with -o, or pass --force to overwrite it.")
    if out.resolve() == Path(args.survey_file).resolve():
        raise DataError(f"{out}: is the survey file itself; choose another output file with -o.")
    if "sheet" not in data_cfg:
        sheet = _choose_sheet(args.survey_file, data_cfg)
        if sheet is not None:
            data_cfg["sheet"] = sheet
    text = _draft_for(out, args.survey_file, data_cfg, draft_config)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DataError(
            f"{out}: cannot write the draft config ({exc.strerror}); choose another file with -o."
        ) from None
    print(f"trustseg: wrote a draft config to {out}; check the lines marked CHECK before running.")
    return 0


def _draft_for(config_path: Path, survey_file, data_cfg: dict, draft_config) -> str:
    """The draft config for ``config_path``, its data.path relative to the study folder the config will run in."""
    import contextlib
    import os

    from trustseg.study import study_folder

    folder = study_folder(config_path)
    survey = os.path.relpath(os.path.abspath(survey_file), folder)
    if not folder.is_dir():  # the draft reads the survey from the study folder: make it first
        folder.mkdir(parents=True, exist_ok=True)
    with contextlib.chdir(folder):
        return draft_config(survey, data_cfg)


def _choose_sheet(survey_file, data_cfg: dict):
    """For a workbook of several sheets, the sheet with the most data (announced), else None."""
    from trustseg.survey.io import detect_format, excel_sheet_sizes

    if detect_format(survey_file, data_cfg.get("format", "auto") or "auto") != "excel":
        return None
    sizes = excel_sheet_sizes(survey_file)
    if len(sizes) < 2:
        return None
    chosen = max(sizes, key=lambda name: sizes[name][0] * sizes[name][1])
    listed = ", ".join(f"{name!r} ({rows} rows x {cols} columns)" for name, (rows, cols) in sizes.items())
    print(f"trustseg: the workbook has {len(sizes)} sheets: {listed}; drafting from {chosen!r}, the one with the most "
          "data (data.sheet in the draft). Pass --sheet NAME to choose another.")
    return chosen


def _simulate(args) -> int:
    from trustseg.survey.simulate import write_golf_survey

    written = write_golf_survey(args.out, args.seed)
    files = ", ".join(str(p) for p in written) if isinstance(written, (tuple, list)) else str(written or args.out)
    print(f"trustseg: wrote the simulated golf-club survey (seed {args.seed}): {files}")
    return 0


def _config_docs(args) -> int:
    from trustseg.config_docs import schema_markdown
    from trustseg.report.tables import atomic_write_text

    atomic_write_text(Path(args.output), schema_markdown())
    print(f"trustseg: wrote the configuration reference to {args.output}")
    return 0


def _publish_notebooks(args) -> int:
    from trustseg.report.notebooks import publish_notebooks

    written = publish_notebooks(args.executed_dir, args.to)
    if not written:
        raise DataError(
            f"no executed notebook in '{args.executed_dir}' matches a template in '{args.to}'; run snakemake first."
        )
    print("trustseg: updated " + ", ".join(str(p) for p in written))
    return 0


def _check_config(args) -> int:
    from trustseg.config import load_config
    from trustseg.stages.startup import check_inputs

    config = load_config(args.config_file)
    found = check_inputs(config, f"config key 'data.path' in config file '{args.config_file}'")
    for warning in found.warnings:
        print(f"trustseg: warning: {warning}", file=sys.stderr)
    for note in found.notes:
        print(f"trustseg: note: {note}", file=sys.stderr)
    print(f"trustseg: {args.config_file}: no problems found: {found.summary()}")
    return 0


def _pseudonyms(args) -> int:
    import pandas as pd

    from trustseg.config import check_data_path, load_config
    from trustseg.survey.io import read_survey
    from trustseg.survey.privacy import pseudonym_key, pseudonyms, resolve_pseudonym_key

    config = load_config(args.config_file)
    column = config["data"]["id_column"]
    if not column:
        raise DataError(f"{args.config_file}: data.id_column is null, so respondents are numbered 1..n (their row "
                        "in the file) and no pseudonyms are made.")
    key_file = resolve_pseudonym_key(config)
    if not Path(key_file).exists():
        raise DataError(f"{key_file}: no pseudonym key there; a run makes one when the ids hold personal data "
                        "(cleaning.pseudonym_key names the file).")
    raw = read_survey(check_data_path(config["data"]["path"]), config["data"])
    ids = raw[column]
    # the file's id beside the respondent_id that results/ carries for it
    table = pd.DataFrame({"source_row": range(1, len(raw) + 1), "id_in_file": ids,
                          "respondent_id": pseudonyms(ids, pseudonym_key(key_file, create=False))})
    if args.output == "-":
        sys.stdout.write(table.to_csv(index=False, lineterminator="\n"))
        return 0
    out = Path(args.output)
    if out.resolve().is_relative_to(Path("results").resolve()):
        raise DataError(f"{out}: is under results/, which must hold no personal data; write the list elsewhere.")
    out.write_text(table.to_csv(index=False, lineterminator="\n"), encoding="utf-8")
    print(f"trustseg: wrote {len(table)} ids and their pseudonyms to {out}; it holds personal data: keep it private.")
    return 0


def _in_study_folder(command):
    """``command`` run in the study folder of ``args.config_file`` (the config named by its absolute path).

    ``data.path`` is read from the study folder, as ``trustseg run`` reads it
    (:func:`trustseg.study.study_folder`), wherever the command is started.
    """

    def in_folder(args) -> int:
        import contextlib
        import os

        from trustseg.study import study_folder

        folder = study_folder(args.config_file)
        if not folder.is_dir() or folder.resolve() == Path.cwd().resolve():
            return command(args)  # in the study folder already, or a config that is not there (the command says so)
        args.config_file = os.path.abspath(args.config_file)
        if getattr(args, "output", "-") != "-":  # a file named on the command line, from where it was started
            args.output = os.path.abspath(args.output)
        with contextlib.chdir(folder):
            return command(args)

    return in_folder


def config_files_in(snakemake_args) -> list[str]:
    """The files given with ``--configfile``/``--configfiles`` (space- or ``=``-separated) in snakemake options."""
    files, taking = [], False
    for arg in snakemake_args:
        if arg.startswith("--configfile=") or arg.startswith("--configfiles="):
            files.append(arg.split("=", 1)[1])
            taking = False
        elif arg in ("--configfile", "--configfiles"):
            taking = True
        elif taking and not arg.startswith("-"):
            files.append(arg)
        else:
            taking = False
    return files


def _run(args) -> int:
    import shutil

    from trustseg.config import read_config_file
    from trustseg.study import REPORT, default_config, workflow_command

    snakemake_args = list(args.snakemake_args)
    if snakemake_args[:1] == ["--"]:
        snakemake_args = snakemake_args[1:]
    # Snakemake parses --configfile itself, before the workflow starts, and says only "not valid JSON or YAML":
    # read the files first so the user learns the file, line and column, as for the default config.
    given = config_files_in(snakemake_args)
    for path in given or [default_config()]:
        read_config_file(path)
    snakemake = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or shutil.which("snakemake")
    if snakemake is None:
        raise DataError("the 'snakemake' command is not installed in this environment; install trustseg's workflow "
                        "with 'pip install \"trustseg[workflow]\"' (in a clone: pip install -e \".[all]\").")
    command, folder, report = workflow_command(snakemake_args)
    if folder is not None:
        print(f"trustseg: running the workflow in {folder} (results/, logs/ and the report go there)",
              file=sys.stderr)
    status = run_interruptibly([snakemake, *command])
    if status == 0 and report:
        status = run_interruptibly([snakemake, *command, "--report", REPORT])
        if status == 0:
            print(f"trustseg: done; the report is {folder / REPORT}", file=sys.stderr)
    return status


def run_interruptibly(command: list[str]) -> int:
    """Run ``command`` and return its exit status, as a shell would: 128 + N when a signal N ended it.

    Ctrl-C reaches the child from the terminal (it shares the process
    group), so this process only waits for it to finish its own clean-up;
    a SIGTERM sent to this process alone is passed on to the child.
    """
    import signal
    import subprocess

    child = subprocess.Popen(command)

    def on_signal(signum, frame):
        if signum == signal.SIGTERM and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        status = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - status if status < 0 else status


def _new(args) -> int:
    """Lay out a study folder: a drafted config, or the bundled example with its survey."""
    folder = Path(args.folder)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder}: is a file; choose a new folder name.")
    if folder.is_dir() and any(folder.iterdir()) and not args.force:
        raise DataError(f"{folder}: exists and is not empty; choose a new folder, or pass --force to write into it.")
    config = folder / "config.yaml"
    if args.survey_file is None:
        _write_example(folder, config)
        what = "the bundled golf-club example (a simulated survey in data/ and its config)"
    else:
        from trustseg.survey.init_config import draft_config

        folder.mkdir(parents=True, exist_ok=True)
        config.write_text(_draft_for(config, args.survey_file, {}, draft_config), encoding="utf-8")
        what = f"a draft config for {args.survey_file}; check the lines marked CHECK in {config}"
    print(f"trustseg: made the study folder {folder} with {what}. Run it with\n"
          f"  trustseg run --configfile {config}")
    return 0


def _write_example(folder: Path, config: Path) -> None:
    """The golf-club example in ``folder``: ``data/golf_survey.csv`` (simulated) and the example's config."""
    import yaml

    from trustseg.sources import pipeline_dir
    from trustseg.survey.simulate import write_golf_survey

    write_golf_survey(str(folder / "data"), 2010)
    text = (pipeline_dir() / "config" / "config.yaml").read_text(encoding="utf-8")
    path_line = f"  path: {yaml.safe_load(text)['data']['path']}"
    if path_line not in text:
        raise DataError(f"the example config names its data file in an unexpected way; expected '{path_line}'.")
    config.write_text(text.replace(path_line, "  path: data/golf_survey.csv", 1), encoding="utf-8")


def main(argv=None) -> int:
    """Run the ``trustseg`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 on success, 1 on a user error, 2 on bad arguments.
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["run"] and argv[1:] not in (["-h"], ["--help"]):
            # argparse cannot pass on options it does not know (REMAINDER stops at the first '-x'): take them all
            args = argparse.Namespace(command="run", snakemake_args=argv[1:])
        else:
            args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return int(exc.code or 0)
    try:
        commands = {"init-config": _init_config, "simulate": _simulate, "config-docs": _config_docs,
                    "check-config": _in_study_folder(_check_config), "publish-notebooks": _publish_notebooks,
                    "run": _run, "new": _new, "pseudonyms": _in_study_folder(_pseudonyms)}
        return commands[args.command](args)
    except TrustsegError as exc:
        print(f"trustseg: error: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        extra = OPTIONAL_MODULES.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        package = {"yaml": "PyYAML"}.get(exc.name, exc.name)
        print(f"trustseg: error: 'trustseg {args.command}' needs the package '{package}', which the core install "
              f"leaves out; install it with pip install \"trustseg[{extra}]\" (in a clone: pip install -e \".[all]\").",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"trustseg: {INTERRUPTED}", file=sys.stderr)
        return 130
    except OSError as exc:
        if not is_os_failure(exc):
            raise
        print(f"trustseg: error: {os_error_message(exc)}", file=sys.stderr)
        return 1
