"""Plumbing shared by every stage: seeds, atomic writers, logging, the analysis data.

Every stage function reads its inputs, calls the modules that hold the
analysis logic and writes its outputs atomically, so a failed job never leaves
a half-written file in ``results/``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from trustseg.config import analysis_roles
from trustseg.equations import chain_variables
from trustseg.errors import INTERRUPTED, DataError, TrustsegError, is_os_failure, os_error_message
from trustseg.report.tables import atomic_write_text

logger = logging.getLogger("trustseg")

POSTERIOR_PREFIX = "posterior_"
#: assignments.csv's column of each respondent's probability of the set-aside group (only beside such a group)
SET_ASIDE_COLUMN = "set_aside"


def more_likely_set_aside(probability) -> np.ndarray:
    """Which respondents are more likely in the set-aside group than in any segment: counted, profiled and drawn
    apart from the segments' members (``probability``: each one's probability of the group)."""
    return np.asarray(probability, dtype=float) > 0.5


def derive_seed(seed: int, *keys: str | int) -> int:
    """A 32-bit seed for one random step, derived from the config seed.

    Strings (analysis names, stage names) are hashed with CRC-32 so the seed
    does not depend on Python's randomised ``hash``.
    """
    words = [int(seed)] + [zlib.crc32(k.encode("utf-8")) if isinstance(k, str) else int(k) for k in keys]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint32)[0])


def _write(path: Path, text: str) -> Path:
    try:
        return atomic_write_text(path, text)
    except OSError as exc:
        if exc.filename is None and exc.errno is not None:
            # A write to an open file on a full disk names no file: name it here.
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as UTF-8 CSV atomically, with ``\\n`` line ends."""
    return _write(Path(path), df.to_csv(index=False, lineterminator="\n"))


def write_json(obj, path: str | Path) -> Path:
    """Write JSON atomically (sorted keys, so identical runs give identical files)."""
    return _write(
        Path(path), json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=_json_default) + "\n"
    )


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def read_json(path: str | Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_clean(path: str | Path) -> pd.DataFrame:
    """Read ``results/cleaning/clean.csv`` keeping respondent ids as text, exactly as written (an id "NA" too)."""
    clean = pd.read_csv(path, dtype={"respondent_id": str}, keep_default_na=True)
    if "respondent_id" in clean:
        ids = pd.read_csv(path, usecols=["respondent_id"], dtype=str, keep_default_na=False)["respondent_id"]
        clean["respondent_id"] = ids.where(ids != "", None)
    return clean


def configure_logging(log_path: str | Path | None) -> None:
    """Send the ``trustseg`` logger to the job's log file and to stderr, in sentences.

    Python warnings (from trustseg's model code or a library) go to the same
    log as one ``WARNING`` line each, without the source line Python would
    print; values logged as dicts or lists are written as plain text (see
    :func:`readable`), never as Python reprs.
    """
    # A log that cannot be written (a full disk) must not print a traceback of its own.
    logging.raiseExceptions = False
    root = logging.getLogger("trustseg")
    root.setLevel(logging.INFO)
    root.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.insert(0, logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(fmt)
        handler.addFilter(_ReadableArguments())
        root.addHandler(handler)
    warnings.showwarning = _log_warning


def readable(value) -> str:
    """A value as it reads in a log line.

    A mapping becomes ``key value, key value`` (underscores as spaces; a
    ``reason`` entry leads), a list ``a, b, c``, a float four significant
    digits and a boolean yes or no.
    """
    if isinstance(value, Mapping):
        items = dict(value)
        reason = items.pop("reason", None)
        text = ", ".join(f"{str(key).replace('_', ' ')} {readable(v)}" for key, v in items.items())
        if reason is None:
            return text
        return f"{readable(reason)} ({text})" if text else readable(reason)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(readable(v) for v in value)
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


class _ReadableArguments(logging.Filter):
    """Write dict and list arguments of a log call with :func:`readable`, not as Python reprs."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # logging passes a lone mapping argument as the args themselves (for "%(key)s" formats)
        if isinstance(args, Mapping) and "%(" not in str(record.msg):
            record.args = (readable(args),)
        elif isinstance(args, tuple) and any(isinstance(a, (Mapping, list, tuple, set, frozenset)) for a in args):
            record.args = tuple(readable(a) if isinstance(a, (Mapping, list, tuple, set, frozenset)) else a
                                for a in args)
        return True


def _log_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Log a Python warning as one sentence; a library's warning says which library and kind it is."""
    parts = Path(str(filename)).parts
    library = next((parts[i + 1] for i, part in enumerate(parts[:-1]) if part in ("site-packages", "dist-packages")),
                   None)
    origin = "" if library is None or library == "trustseg" else f" ({category.__name__} from {library})"
    logger.warning("%s%s", " ".join(str(message).split()), origin)


def run_stage(stage: Callable[..., None], log_path: str | Path | None, *,
              job_outputs: Sequence[str | Path] = (), **kwargs) -> None:
    """Run one stage as a workflow job.

    A :class:`~trustseg.errors.TrustsegError` (the user's config or data) is
    written to the log and stderr as one clear message and the job exits with
    status 1, without a Python traceback.  So is an operating-system error (a
    full disk, a permission denied, a file that vanished): the message names
    the path, or the job's outputs (``job_outputs``) when the system names
    none.  An interrupt (Ctrl-C) ends the job quietly with status 130.  Any
    other exception is a bug in trustseg: its traceback goes to the log before
    it propagates.  ``kwargs`` are passed to ``stage``.
    """
    configure_logging(log_path)
    started = time.perf_counter()
    try:
        stage(**kwargs)
    except TrustsegError as exc:
        _fail_job("%s", exc)
    except KeyboardInterrupt:
        logger.error(INTERRUPTED)
        raise SystemExit(130) from None
    except SystemExit as exc:
        if exc.code in (130, 143):  # SIGINT or SIGTERM, turned into an exit by errors.quiet_interrupts
            logger.error(INTERRUPTED)
        raise
    except Exception as exc:
        if is_os_failure(exc):
            _fail_job("%s", os_error_message(exc, [str(p) for p in job_outputs]))
        logger.error("unexpected error (a bug in trustseg; please report it):\n%s", traceback.format_exc())
        raise
    logger.info("done in %.1f s", time.perf_counter() - started)


def _fail_job(fmt: str, *args) -> None:
    logger.error(fmt, *args)
    try:
        sys.stderr.flush()
    except OSError:
        pass
    raise SystemExit(1) from None


def stem(csv_path: str | Path) -> Path:
    path = Path(csv_path)
    return path.with_suffix("") if path.suffix == ".csv" else path


def analysis_data(
    clean: pd.DataFrame, outcome: str, predictors: Sequence[str], name: str, weight_column: str | None = None,
    family_columns: Mapping[str, str] | None = None, equations: Sequence | None = None,
) -> tuple[pd.DataFrame, pd.Series | None, np.ndarray | None, pd.Series, dict | None]:
    """Predictors, outcome, weights, respondent ids and family data of one analysis.

    ``family_columns`` (:func:`trustseg.config.family_columns`) names the
    trials (binomial) or exposure (poisson) column; the last element is then
    the estimator's ``family_data`` (``{"trials": ...}`` or ``{"offset":
    log exposure}``), else None.  Respondents without a score on the outcome,
    a predictor or that column are left out of this analysis (they stay in
    the clean data); their number is logged.

    For a chain (``equations``, ``(outcome, predictors)`` pairs) the first
    element holds every variable of its equations, outcomes and mediators
    included, and the outcome is None: a chain's outcomes are columns of it.
    """
    family_columns = dict(family_columns or {})
    variables = [outcome, *predictors]
    if equations:
        variables = chain_variables(equations)
    missing_cols = [v for v in [*variables, *family_columns.values()] if v not in clean.columns]
    if missing_cols:
        raise DataError(
            f"analysis '{name}' uses {missing_cols}, which are neither constructs nor columns of the clean data. "
            f"Fix config key 'analyses.{name}'."
        )
    needed = variables + list(family_columns.values()) + ([weight_column] if weight_column else [])
    complete = clean[needed].notna().all(axis=1)
    n_left_out = int((~complete).sum())
    if n_left_out:
        logger.info("analysis %s: %d respondents without a score on %s are left out", name, n_left_out,
                    variables + list(family_columns.values()))
    data = clean.loc[complete]
    if data.empty:
        raise DataError(
            f"analysis '{name}': no respondent has scores on all of {variables}; check the constructs' items."
        )
    roles = analysis_roles({"equations": equations} if equations else {"outcome": outcome, "predictors": predictors})
    roles += [(role, [column]) for role, column in family_columns.items()]
    for role, variables_in_role in roles:
        for variable in variables_in_role:
            values = pd.to_numeric(data[variable], errors="coerce")
            if values.isna().any():
                examples = list(dict.fromkeys(data.loc[values.isna(), variable].astype(str)))[:3]
                raise DataError(
                    f"analysis '{name}' uses '{variable}' (config key 'analyses.{name}.{role}'), which holds text "
                    f"such as {examples}, not numbers; a regression needs a numeric outcome and predictors. "
                    "Use a construct or a numeric column instead (code a category as a 0/1 column in the data file)."
                )
    if equations:
        X, y = data[variables].astype(float), None
    else:
        X, y = data[list(predictors)].astype(float), data[outcome].astype(float)
    w = data[weight_column].to_numpy(dtype=float) if weight_column else None
    ids = data["respondent_id"].astype(str)
    return X, y, w, ids, family_data(data, family_columns, name, ids)


def family_data(data: pd.DataFrame, family_columns: Mapping[str, str], name: str,
                ids: pd.Series | None = None) -> dict | None:
    """The estimator's ``family_data`` from an analysis's trials or exposure column (None without one).

    Trials must be whole numbers of at least 1; an exposure must be positive
    (its log is the offset).  A :class:`DataError` names the analysis, the
    column, the config key and the first offending respondents.
    """
    out = {}
    for role, column in family_columns.items():
        values = pd.to_numeric(data[column], errors="coerce").to_numpy(dtype=float)
        if role == "trials":
            bad = ~np.isfinite(values) | (values < 1) | (values != np.round(values))
            wanted = "whole numbers of at least 1"
        else:
            bad = ~np.isfinite(values) | (values <= 0)
            wanted = "positive numbers"
        if bad.any():
            where = ids.to_numpy()[bad] if ids is not None else data.index.to_numpy()[bad]
            shown = ", ".join(f"{w} ({v:g})" for w, v in zip(where[:5], values[bad][:5]))
            raise DataError(
                f"analysis '{name}': column '{column}' (config key 'analyses.{name}.{role}') must hold {wanted}, "
                f"but {int(bad.sum())} respondent(s) do not, e.g. respondent {shown}. Fix those answers in the "
                "data file or mark them missing."
            )
        out.update({"trials": values} if role == "trials" else {"offset": np.log(values)})
    return out or None


def match_respondents(ids: pd.Series, assignments: pd.DataFrame, source: str) -> np.ndarray:
    """Row of ``assignments`` for each respondent id in ``ids``, joined on ``respondent_id``.

    An id that occurs more than once (duplicates kept by ``cleaning.flagged_action: keep``)
    is matched by its order of occurrence.  Raises :class:`DataError` unless the two
    hold exactly the same respondents, i.e. ``source`` belongs to another clean data set.
    """
    def keyed(values) -> pd.DataFrame:
        key = pd.Series(values).astype(str).reset_index(drop=True)
        return pd.DataFrame({"respondent_id": key, "occurrence": key.groupby(key).cumcount()})

    left = keyed(ids)
    right = keyed(assignments["respondent_id"]).assign(row=np.arange(len(assignments)))
    merged = left.merge(right, on=["respondent_id", "occurrence"], how="left", validate="one_to_one")
    if len(left) != len(right) or merged["row"].isna().any():
        raise DataError(
            f"{source} does not hold the respondents of this analysis ({len(right)} rows for {len(left)} respondents, "
            f"{int(merged['row'].isna().sum())} not found); it comes from another run. Delete it and rerun snakemake."
        )
    return merged["row"].to_numpy(dtype=int)


def outcome_rounding_variance(analysis: Mapping, constructs: Mapping) -> float | None:
    """Rounding variance of the outcome score: ``step**2 / (12 m)`` for the mean of ``m`` items answered in steps.

    ``step`` is the construct's (1 for whole points; 20 for answers 0, 20,
    ..., 100).  ``None`` when the outcome is not a construct whose scale
    runs in whole steps (the floor then comes from the data).
    """
    spec = constructs.get(analysis["outcome"])
    if spec is None:
        return None
    lo, hi = spec["scale"]
    step = float(spec.get("step", 1) or 1)
    if not (float(lo) / step).is_integer() or not ((float(hi) - float(lo)) / step).is_integer():
        return None
    return step ** 2 / (12.0 * len(spec["items"]))


def chosen_row(criteria_path: str | Path) -> pd.Series:
    """The row of ``criteria.csv`` marked ``chosen`` (its ``k``, ``k_requested`` and criteria)."""
    table = pd.read_csv(criteria_path)
    chosen = table.loc[table["chosen"].astype(bool)]
    if chosen.empty:
        raise DataError(f"{criteria_path} marks no number of segments as chosen.")
    return chosen.iloc[0]


def chosen_k(criteria_path: str | Path) -> int:
    """The number of segments chosen in ``criteria.csv`` (as requested in the config)."""
    return int(chosen_row(criteria_path)["k_requested"])


def chosen_fit_path(criteria_path: str | Path, analysis: str) -> str:
    """The fit file of the chosen K: ``fits/k<K>.json``, or ``fits/set_aside.json`` when a set-aside group won."""
    row = chosen_row(criteria_path)
    answers = row.get("set_aside_answers")  # text such as "1.5 2", a number when one answer, else missing
    if answers is not None and not pd.isna(answers) and str(answers).strip():
        return f"results/{analysis}/fits/set_aside.json"
    return f"results/{analysis}/fits/k{int(row['k_requested'])}.json"
