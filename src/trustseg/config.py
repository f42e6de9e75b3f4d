"""Load, complete and validate a trustseg configuration.

The schema (``trustseg/data/config.schema.yaml``, linked from
``workflow/schemas/``) describes every key with a default.  Validation happens
before any work starts, and each problem is reported with the dotted key that
holds it (``analyses.repurchase.segmnts``) and, for a misspelt key or column,
the closest valid names.  YAML is read with ``safe_load``: nothing in a config
is ever evaluated as code.

The same functions serve ``trustseg check-config`` and the workflow's start-up
(``workflow/rules/common.smk``), so both give the same messages:
:func:`read_config_file` (a YAML error with its line and column),
:func:`validate_config` (a value set by ``--config KEY=VALUE``, parsed by
:func:`parse_overrides`, is blamed on the override) and :func:`check_data_path`;
the survey itself is checked against the config by
:func:`trustseg.survey.checks.check_survey` (columns, sheet, numbers, ids,
respondents).
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import stat
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from trustseg.equations import chain_order_problems, chain_predictors, chain_variables, expected_problems
from trustseg.errors import ConfigError

SCHEMA_RESOURCE = "config.schema.yaml"
#: a config is a few kilobytes; a bigger file is not one (and would take long to parse and check)
MAX_CONFIG_BYTES = 1 << 20
#: values in a parsed config, anchors and aliases expanded ("billion laughs" stops here)
MAX_CONFIG_VALUES = 100_000
# Files trustseg never reads as a survey, whatever data.path says (through a symlink or not).
_SYSTEM_FOLDERS = ("/etc", "/proc", "/sys", "/dev", "/boot", "/run", "/var/log", "/var/lib", "/root")
_SECRET_FOLDERS = {".ssh", ".gnupg", ".aws", ".kube"}
_SURVEY_EXTENSIONS = {".csv", ".txt", ".tsv", ".tab", ".xlsx", ".xlsm", ".xls", ".sav", ".zsav", ".dta", ".parquet",
                      ".pq"}


@lru_cache(maxsize=1)
def _schema_text() -> str:
    return resources.files("trustseg").joinpath("data", SCHEMA_RESOURCE).read_text(encoding="utf-8")


def config_schema() -> dict:
    """Return the configuration JSON schema (a fresh copy)."""
    return yaml.safe_load(_schema_text())


def _closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    candidates = [str(c) for c in candidates]
    # "Loyalty" for "loyalty" is the likeliest slip of all: a name differing only in case comes first
    same = [c for c in candidates if c.casefold() == str(name).casefold() and c != str(name)]
    if same:
        return same[:n]
    close = difflib.get_close_matches(str(name), candidates, n=n, cutoff=0.5)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        close = [lowered[m] for m in difflib.get_close_matches(str(name).lower(), list(lowered), n=n, cutoff=0.4)]
    return close


def suggest(name: str, candidates: Iterable[str]) -> str:
    """A short "did you mean" phrase, or an empty string."""
    close = _closest(name, candidates)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def suggest_variable(name: str, constructs: Iterable[str], columns: Iterable[str]) -> str:
    """A "did you mean" phrase over construct names and data columns, saying which each is.

    For the keys that take either (``analyses.*.outcome``, ``predictors``,
    ``focal``, ``profile``); a name that differs only in case is suggested first.
    """
    constructs = [str(c) for c in constructs]
    kinds = {str(c): f"column '{c}'" for c in columns}
    kinds.update({c: f"the construct '{c}'" for c in constructs})
    close = _closest(name, list(kinds))
    if not close:
        return ""
    case = " (names are case-sensitive)" if any(c.casefold() == str(name).casefold() for c in close) else ""
    return f" Did you mean {' or '.join(kinds[c] for c in close)}?{case}"


def _dotted(path: Iterable[Any]) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "(top level)"


def _fill_defaults(instance: Any, schema: Mapping) -> Any:
    """Return ``instance`` with schema defaults filled in, recursively."""
    if isinstance(instance, dict) and schema.get("type") in ("object", None):
        props = schema.get("properties", {})
        for key, sub in props.items():
            if key not in instance and "default" in sub:
                instance[key] = copy.deepcopy(sub["default"])
            if key in instance:
                instance[key] = _fill_defaults(instance[key], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in instance:
                if key not in props:
                    instance[key] = _fill_defaults(instance[key], extra)
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        return [_fill_defaults(item, schema["items"]) for item in instance]
    return instance


def _describe(error: jsonschema.ValidationError) -> list[tuple[str, str]]:
    """``(dotted key, message)`` for each problem a schema error stands for."""
    where = _dotted(error.absolute_path)

    def below(key) -> str:
        return f"{where}.{key}" if error.absolute_path else str(key)

    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        unknown = [k for k in error.instance if k not in allowed]
        return [
            (below(key), f"unknown config key '{below(key)}'.{suggest(key, allowed)} "
                         f"Allowed keys here: {', '.join(allowed)}.")
            for key in unknown
        ]
    if error.validator == "required":
        missing = [k for k in error.validator_value if isinstance(error.instance, dict) and k not in error.instance]
        key = below(missing[0]) if missing else where
        return [(key, f"config key '{where}' is missing a required entry: {error.message}.")]
    if error.validator == "enum":
        return [(where, f"config key '{where}' is {error.instance!r}, which is not allowed; "
                        f"use one of {', '.join(map(repr, error.validator_value))}.")]
    if error.validator == "type":
        return [(where, f"config key '{where}' should be of type {error.validator_value}, but is {error.instance!r}.")]
    if "propertyNames" in error.schema_path:
        return [(below(error.instance), (
            f"config key '{where}' has a name that is not allowed ({error.instance!r}): "
            "analysis names may use letters, digits, '_' and '-' only, because they become folder names."
        ))]
    return [(where, f"config key '{where}': {error.message}.")]


def delimiter_problem(delimiter) -> str | None:
    """Why ``data.delimiter`` is no column delimiter, or None (one character; ``\\t`` and ``tab`` mean a tab)."""
    if delimiter is None or delimiter in ("\\t", "tab", "TAB"):
        return None
    if len(delimiter) != 1 or delimiter in ('"', "\n", "\r"):
        return (f"config key 'data.delimiter' is {delimiter!r}, which is not a column delimiter: a delimiter is one "
                "character, e.g. ',' or ';' or '\\t' (a tab), and not a quote or a line end. Set it to the one "
                "character between the columns, or to null to let trustseg find it.")
    return None


def _item_problems(constructs: Mapping) -> list[tuple[str, str]]:
    """An item listed twice in a construct, or in two constructs (an item measures one construct)."""
    problems = []
    owner: dict = {}
    for name, spec in constructs.items():
        dup = sorted({i for i in spec["items"] if spec["items"].count(i) > 1})
        if dup:
            problems.append((f"constructs.{name}.items",
                             f"config key 'constructs.{name}.items' lists {dup} more than once."))
        for item in dict.fromkeys(spec["items"]):
            if item in owner:
                problems.append((
                    f"constructs.{name}.items",
                    f"config key 'constructs.{name}.items' lists '{item}', which is also an item of construct "
                    f"'{owner[item]}': an item measures one construct, and counting its answers in two scores makes "
                    "them correlate by construction. Keep it in the construct it measures.",
                ))
            else:
                owner[item] = name
    return problems


def _semantic_checks(config: dict) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    constructs = config["constructs"]
    delimiter = delimiter_problem(config["data"].get("delimiter"))
    if delimiter:
        problems.append(("data.delimiter", delimiter))
    problems += _item_problems(constructs)
    for name, spec in constructs.items():
        lo, hi = spec["scale"]
        if not lo < hi:
            problems.append((
                f"constructs.{name}.scale",
                f"config key 'constructs.{name}.scale' is {spec['scale']}: the first number must be below the second.",
            ))
        for item in spec.get("reverse", []):
            if item not in spec["items"]:
                problems.append((
                    f"constructs.{name}.reverse",
                    f"config key 'constructs.{name}.reverse' names '{item}', which is not one of the construct's "
                    f"items ({', '.join(spec['items'])}).",
                ))
    for name, analysis in config["analyses"].items():
        key = f"analyses.{name}"
        form = _analysis_form_problem(analysis, key)
        if form:
            problems.append(form)
            continue
        if "equations" in analysis:
            problems += _chain_problems(analysis, key)
        else:
            problems += _single_problems(analysis, key, constructs)
        problems += expected_problems(analysis, key)
        segments = analysis["segments"]
        if len(set(segments)) != len(segments):
            problems.append((f"{key}.segments",
                             f"config key '{key}.segments' lists a number of segments twice: {segments}."))
        if analysis.get("criterion") == "lr_test" and config.get("bootstrap", {}).get("lr_test_replicates", 1) <= 0:
            problems.append((
                f"{key}.criterion",
                f"config key '{key}.criterion' is lr_test, which chooses K by the bootstrap likelihood-ratio tests, "
                "but 'bootstrap.lr_test_replicates' is 0, which switches them off. Set bootstrap.lr_test_replicates "
                "to 49 or more, or choose another criterion (e.g. bic).",
            ))
    profile = config.get("profile", [])
    for variable in config.get("profile_categorical", []) or []:
        if variable not in profile:
            problems.append((
                "profile_categorical",
                f"config key 'profile_categorical' lists '{variable}', which is not one of the profile variables "
                f"{profile}; add it to 'profile' or remove it from 'profile_categorical'." + suggest(variable, profile),
            ))
    for variable in config.get("profile_order", {}) or {}:
        if variable not in profile:
            problems.append((
                f"profile_order.{variable}",
                f"config key 'profile_order' gives an order for '{variable}', which is not one of the profile "
                f"variables {profile}; add it to 'profile' or remove it from 'profile_order'."
                + suggest(variable, profile),
            ))
    checks = config.get("cleaning", {}).get("speeders", {})
    if (checks.get("duration_column") is None) != (checks.get("min_seconds") is None):
        problems.append((
            "cleaning.speeders",
            "config keys 'cleaning.speeders.duration_column' and 'cleaning.speeders.min_seconds' go together: "
            "set both to flag speeders, or neither.",
        ))
    return problems


def _single_problems(analysis: Mapping, key: str, constructs: Mapping) -> list[tuple[str, str]]:
    """Problems of a one-equation analysis: a variable twice, a focal that is no predictor, a misplaced column."""
    problems: list[tuple[str, str]] = []
    variables = [analysis["outcome"], *analysis["predictors"]]
    if len(set(variables)) < len(variables):
        problems.append((
            key, f"config key '{key}': the outcome and predictors must be different variables, got {variables}."
        ))
    focal = analysis.get("focal")
    if focal is not None and focal not in analysis["predictors"]:
        problems.append((
            f"{key}.focal",
            f"config key '{key}.focal' is '{focal}', which is not one of its predictors {analysis['predictors']}."
            + suggest(focal, analysis["predictors"]),
        ))
    for role, column in family_columns(analysis).items():
        family = FAMILY_COLUMN_ROLES[role]
        if analysis.get("family", "auto") != family:
            problems.append((
                f"{key}.{role}",
                f"config key '{key}.{role}' names the column '{column}', which only a {family} outcome uses "
                f"({ROLE_MEANING[role]}), but '{key}.family' is {analysis.get('family', 'auto')}. "
                f"Set '{key}.family: {family}', or remove '{key}.{role}'.",
            ))
        if column in constructs:
            problems.append((
                f"{key}.{role}",
                f"config key '{key}.{role}' is '{column}', a construct (a mean of rating items); name the raw "
                f"column that holds {ROLE_MEANING[role]}.",
            ))
        elif column in variables:
            problems.append((
                f"{key}.{role}",
                f"config key '{key}.{role}' is '{column}', which is also the analysis's outcome or a predictor; "
                f"name the column that holds {ROLE_MEANING[role]}.",
            ))
    return problems


def _analysis_form_problem(analysis: Mapping, key: str) -> tuple[str, str] | None:
    """An analysis gives either outcome and predictors, or equations: a problem when it does neither or both."""
    single = [k for k in ("outcome", "predictors") if k in analysis]
    if "equations" in analysis and single:
        return (key, f"config key '{key}' gives both equations and {' and '.join(single)}: give the chain as "
                     "equations alone (its last equation's outcome is the analysis's outcome), or remove equations.")
    if "equations" not in analysis and len(single) < 2:
        missing = [k for k in ("outcome", "predictors") if k not in analysis]
        return (key, f"config key '{key}' is missing a required entry: {' and '.join(repr(m) for m in missing)} "
                     "(or give equations: a chain of regressions).")
    return None


def _chain_problems(analysis: Mapping, key: str) -> list[tuple[str, str]]:
    """Problems of a chain's equations: a repeated outcome, a cycle or mediator out of order, a misplaced focal."""
    problems = []
    equations = [(e["outcome"], list(e["predictors"])) for e in analysis["equations"]]
    for i, rule, variables in chain_order_problems(equations):
        where = f"{key}.equations[{i}]"
        outcome, predictors = equations[i]
        if rule in ("own_outcome", "repeated_predictor"):
            problem = (where, f"config key '{where}': the outcome and predictors of an equation must be "
                              f"different variables, got {outcome} ~ {predictors}.")
            if problem not in problems:  # one message for either way of repeating a variable
                problems.append(problem)
        elif rule == "repeated_outcome":
            problems.append((where, f"config key '{where}': '{outcome}' is already the outcome of an earlier "
                                    "equation; each variable is explained by one equation."))
        else:
            problems.append((where, f"config key '{where}' uses {variables}, the outcome of a later equation: list "
                                    "the equations so that each mediator is explained before it explains "
                                    "(a chain has no cycles)."))
    first_outcome, first_predictors = equations[0]
    focal = analysis.get("focal")
    if focal is not None and focal not in first_predictors:
        problems.append((f"{key}.focal", f"config key '{key}.focal' is '{focal}', which is not a predictor of the "
                                         f"first equation ({first_outcome} ~ {' + '.join(first_predictors)}); the "
                                         "focal predictor starts the chain." + suggest(focal, first_predictors)))
    for setting, allowed in (("method", "em"), ("spread", "constant")):
        if analysis.get(setting, allowed) != allowed:
            problems.append((f"{key}.{setting}", f"config key '{key}.{setting}' is {analysis[setting]}; a chain is "
                                                 f"fitted with {setting}: {allowed}. Remove the key."))
    for role in FAMILY_COLUMN_ROLES:
        if analysis.get(role):
            problems.append((f"{key}.{role}", f"config key '{key}.{role}': a chain takes no {role} column; fit "
                                              "that outcome in an analysis of its own."))
    return problems


def analysis_roles(analysis: Mapping) -> list[tuple[str, list[str]]]:
    """The analysis's variables by the config key that names them: ``outcome`` and ``predictors``, or
    ``equations[i]`` (its outcome and predictors) for each equation of a chain."""
    if analysis.get("equations"):
        return [(f"equations[{i}]", [o, *ps]) for i, (o, ps) in enumerate(analysis_equations(analysis))]
    return [("outcome", [analysis["outcome"]]), ("predictors", list(analysis["predictors"]))]


def analysis_equations(analysis: Mapping) -> list[tuple[str, list[str]]]:
    """The analysis's regressions as ``(outcome, predictors)`` pairs: its equations, or its one outcome."""
    if analysis.get("equations"):
        # as the config gives them (mappings), or already as pairs
        return [(e["outcome"], list(e["predictors"])) if isinstance(e, Mapping) else (e[0], list(e[1]))
                for e in analysis["equations"]]
    return [(analysis["outcome"], list(analysis["predictors"]))]


def validate_config(config: Mapping, source: str = "the configuration",
                    overrides: Mapping[str, str] | None = None) -> dict:
    """Validate a configuration and return a copy with every default filled in.

    Parameters
    ----------
    config : mapping
        The configuration as parsed from YAML (with any command-line overrides merged in).
    source : str
        Where it came from, used in error messages (e.g. a file name).
    overrides : mapping, optional
        ``{dotted key: how it was given}`` for the values set on the command
        line (see :func:`parse_overrides`); a problem with one of those keys is
        blamed on the override, not on ``source``.

    Raises
    ------
    ConfigError
        Listing every problem found, each naming its key.
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"{source} must be a YAML mapping of keys to values, got {type(config).__name__}.")
    schema = config_schema()
    instance = _fill_defaults(copy.deepcopy(dict(config)), schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    problems = [problem for e in errors for problem in _describe(e)]
    if not problems:
        problems = _semantic_checks(instance)
    if problems:
        raise ConfigError(_problem_report(problems, source, overrides or {}))
    return instance


def _overlapping(key: str, other: str) -> bool:
    """Whether two dotted keys name the same value or one holds the other."""
    def holds(outer: str, inner: str) -> bool:
        return inner == outer or inner.startswith((outer + ".", outer + "["))

    return holds(key, other) or holds(other, key)


def _problem_report(problems: list[tuple[str, str]], source: str, overrides: Mapping[str, str]) -> str:
    lines, blamed = [], []
    for key, message in problems:
        given = [how for path, how in overrides.items() if _overlapping(key, path)]
        if given:
            blamed.append(key)
            message += f" This value is set on the command line by {' and '.join(dict.fromkeys(given))}."
        lines.append(message)
    if blamed and len(blamed) == len(problems):
        shown = " ".join(dict.fromkeys(how for path, how in overrides.items()
                                       if any(_overlapping(k, path) for k in blamed)))
        head = f"the command-line override {shown} is not valid"
    elif overrides:
        shown = " ".join(dict.fromkeys(overrides.values()))
        head = f"{source}, with the command-line override(s) {shown}, is not valid"
    else:
        head = f"{source} is not valid"
    return f"{head}:\n  - " + "\n  - ".join(lines)


def parse_overrides(entries) -> tuple[dict, dict[str, str]]:
    """Parse Snakemake ``--config KEY=VALUE`` arguments as trustseg reads a config file.

    Each value is read as YAML (``seed=7`` is a number, ``'bootstrap={replicates: 0}'``
    a mapping of numbers), unlike Snakemake's own parser, which reads values
    inside a mapping as text.

    Returns
    -------
    (values, given) : tuple of dict
        The overrides, to merge over the config file, and ``{dotted key: "--config KEY=VALUE"}``
        for each value they set (for :func:`validate_config`'s ``overrides``).
    """
    values: dict = {}
    given: dict[str, str] = {}
    for entry in entries or []:
        key, sep, text = str(entry).partition("=")
        if not sep:
            raise ConfigError(f"--config {entry}: write overrides as KEY=VALUE, e.g. --config seed=7.")
        value = _override_value(text)
        values[key] = value
        for path in _leaf_keys(key, value):
            given[path] = f"--config {entry}"
    return values, given


def _override_value(text: str):
    if text == "":
        return None
    for number in (int, float):  # as Snakemake reads them: 1e3 is a number, which YAML 1.1 reads as text
        try:
            return number(text)
        except ValueError:
            pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _leaf_keys(prefix: str, value) -> list[str]:
    if isinstance(value, Mapping) and value:
        return [path for k, v in value.items() for path in _leaf_keys(f"{prefix}.{k}", v)]
    return [prefix]


def _yaml_problem(path: Path, exc: yaml.YAMLError, text: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context and context_mark is not None and (mark is None or context_mark.line != mark.line):
        context += f" that starts at line {context_mark.line + 1}, column {context_mark.column + 1}"
    message = f"config file '{path}' is not valid YAML{where}: {problem}" + (f" ({context})" if context else "") + "."
    if mark is not None:
        lines = text.splitlines()
        if 0 <= mark.line < len(lines):
            message += f"\n  {mark.line + 1} | {lines[mark.line].replace(chr(9), '<TAB>')}"
    if "'\\t'" in problem or "\t" in problem:
        message += "\nYAML does not allow tab characters for indentation: indent with spaces."
    elif "python/" in problem or "constructor for the tag" in problem:
        message += ("\nA trustseg config holds plain values only: tags such as !!python/object are never "
                    "evaluated. Remove the tag and write the value itself.")
    return message


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key '{key}' is given twice in one mapping, at lines {seen[key]} and {line} "
                                    "(YAML would silently keep only the last); remove one of them",
                        key_node.start_mark)
                seen[key] = line
            except TypeError:  # an unhashable key: the schema names it
                continue
        return super().construct_mapping(node, deep=deep)


def _unique_json_keys(pairs):
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"repeated keys {repeated}")
    return dict(pairs)


def _count_values(value, limit: int) -> int:
    """How many values a parsed config holds (stops counting at ``limit``, so shared aliases cannot blow up)."""
    count, stack = 0, [value]
    while stack and count <= limit:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def data_path_problem(path, what: str = "the survey file") -> str | None:
    """Why ``path`` cannot be read as a survey file (missing, a folder, not a regular file, a system file), or None.

    A FIFO or a device (``/dev/zero``) could hang or never end; a file in a
    system folder (``/etc``, ``/proc``, ...) or a secrets folder (``~/.ssh``),
    also reached through a symlink, is no survey.  The sentence quotes none of
    the file's content.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        return f"{what} does not exist."
    except OSError as exc:
        return f"{what} cannot be opened ({exc.strerror})."
    if stat.S_ISDIR(info.st_mode):
        return f"is a folder, not {what}."
    if not stat.S_ISREG(info.st_mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else "a device" if stat.S_ISCHR(info.st_mode)
                or stat.S_ISBLK(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else "a special file")
        return f"is not a regular file but {kind}, so it is not {what}."
    real = os.path.realpath(path)
    if any(real == top or real.startswith(top + os.sep) for top in _SYSTEM_FOLDERS) or (
            set(Path(real).parts) & _SECRET_FOLDERS):
        shown = f" (it leads to '{real}')" if real != str(path.absolute()) else ""
        return f"is a system or private file{shown}, not {what}; trustseg does not read it."
    return None


def read_config_file(path: str | Path) -> dict:
    """Parse a YAML config file into a mapping, without validating it.

    Raises
    ------
    ConfigError
        The file does not exist, is a folder, is not UTF-8, is not valid YAML
        (with the line and column), gives a key twice, is empty, is not a
        mapping of keys, or is far too big for a config.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file '{path}' is a folder, not a YAML file. Give the path of the config file.")
    if not path.is_file():
        problem = data_path_problem(path, "a config file") if path.exists() else None
        raise ConfigError(
            f"config file '{path}' {problem} Give the path of the config file." if problem else
            f"config file '{path}' does not exist. Copy config/config.yaml to start one, "
            "or run 'trustseg init-config YOUR_SURVEY_FILE' to draft one from your data."
        )
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config file '{path}' is {size / (1 << 20):.1f} MiB; a trustseg config is a few kilobytes of keys "
            "(see config/config.yaml). Check that --configfile names the config, not a data file."
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"config file '{path}' is not UTF-8 text (byte {exc.start}, line {line}); save it as UTF-8."
        ) from None
    try:
        parsed = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        try:  # JSON is a config format too, and may be indented with tabs, which YAML refuses
            parsed = json.loads(text, object_pairs_hook=_unique_json_keys)
        except ValueError:
            raise ConfigError(_yaml_problem(path, exc, text)) from None
    if parsed is None:
        raise ConfigError(
            f"config file '{path}' is empty: it holds no keys. Copy config/config.yaml to start one, "
            "or run 'trustseg init-config YOUR_SURVEY_FILE' to draft one from your data."
        )
    if _count_values(parsed, MAX_CONFIG_VALUES) > MAX_CONFIG_VALUES:
        raise ConfigError(
            f"config file '{path}' holds more than {MAX_CONFIG_VALUES:,} values once its YAML aliases (*name) are "
            "expanded; a trustseg config holds a few hundred. Write the values out instead of nesting aliases."
        )
    if not isinstance(parsed, dict):
        kinds = {list: "a list (lines starting with '- ')", str: "a single text"}
        kind = kinds.get(type(parsed), type(parsed).__name__)
        raise ConfigError(
            f"config file '{path}' must be a YAML mapping of keys to values (data:, constructs:, analyses:, ...) "
            f"at the top level, but it is {kind}. See config/config.yaml for the layout."
        )
    return parsed


def load_config(path: str | Path) -> dict:
    """Read a YAML config file, validate it and fill in defaults."""
    return validate_config(read_config_file(path), source=f"config file '{path}'")


def check_data_path(path: str | Path, where: str = "config key 'data.path'") -> Path:
    """The survey file named by ``data.path``; a ConfigError when it is missing or a folder."""
    path = Path(path)
    if path.is_dir():
        try:
            inside = sorted(p.name for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        except OSError:
            inside = []
        surveys = [n for n in inside if Path(n).suffix.lower() in _SURVEY_EXTENSIONS]
        example = path / (surveys[0] if surveys else "survey.csv")
        holds = f" It holds {', '.join(surveys[:5])}{' ...' if len(surveys) > 5 else ''}." if surveys else ""
        raise ConfigError(
            f"data file '{path}' ({where}) is a folder, not a survey file.{holds} Set data.path to the file "
            f"itself, e.g. '{example}'."
        )
    if not path.exists():
        raise ConfigError(
            f"data file '{path}' ({where}) does not exist. Check the path; "
            "it is relative to the directory you run snakemake from."
        )
    problem = data_path_problem(path)
    if problem:
        raise ConfigError(f"data file '{path}' ({where}) {problem} Set data.path to the survey file itself.")
    return path


def analysis_variables(config: Mapping, name: str) -> tuple[str, list[str], str]:
    """Outcome, predictors and focal predictor of analysis ``name``.

    For a chain: its last outcome, every predictor of its equations (the
    mediators among them; first equation's first), and the focal predictor
    (default: the first equation's first predictor).
    """
    equations = analysis_equations(config["analyses"][name])
    focal = config["analyses"][name].get("focal") or equations[0][1][0]
    return equations[-1][0], chain_predictors(equations), focal


#: config keys of an analysis that name a column of per-respondent data for its family, and the family
FAMILY_COLUMN_ROLES = {"trials": "binomial", "exposure": "poisson"}
ROLE_MEANING = {
    "trials": "each respondent's number of trials, out of which the outcome counts successes",
    "exposure": "each respondent's exposure (time, visits, ...) over which the outcome counts events",
}


def family_columns(analysis: Mapping) -> dict[str, str]:
    """``{"trials" | "exposure": column}`` of an analysis: the columns its family reads besides the outcome."""
    return {role: analysis[role] for role in FAMILY_COLUMN_ROLES if analysis.get(role)}


def analysis_columns(analysis: Mapping) -> list[str]:
    """Every variable an analysis reads: outcomes, predictors, then its trials or exposure column."""
    return [*chain_variables(analysis_equations(analysis)), *family_columns(analysis).values()]


def required_columns(config: Mapping) -> dict[str, str]:
    """Every raw-data column the config names, mapped to the key that names it.

    Works on a validated config and on a partial one (missing sections name no columns).
    """
    data = config.get("data") or {}
    needed: dict[str, str] = {}
    for key in ("id_column", "weight_column"):
        if data.get(key):
            needed[data[key]] = f"data.{key}"
    constructs = config.get("constructs") or {}
    for name, spec in constructs.items():
        for item in spec["items"]:
            needed.setdefault(item, f"constructs.{name}.items")
    for variable in config.get("profile") or []:
        if variable not in constructs:  # a construct name in profile means its score, made by the cleaning
            needed.setdefault(variable, "profile")
    cleaning = config.get("cleaning") or {}
    duration = (cleaning.get("speeders") or {}).get("duration_column")
    if duration:
        needed.setdefault(duration, "cleaning.speeders.duration_column")
    for i, check in enumerate(cleaning.get("attention_checks") or []):
        needed.setdefault(check["item"], f"cleaning.attention_checks[{i}].item")
    for column in cleaning.get("personal_data_columns") or []:
        needed.setdefault(column, "cleaning.personal_data_columns")
    for name, analysis in (config.get("analyses") or {}).items():
        roles = analysis_roles(analysis) + [(role, [column]) for role, column in family_columns(analysis).items()]
        for role, variables in roles:
            for variable in variables:
                if variable not in constructs:
                    needed.setdefault(variable, f"analyses.{name}.{role}")
    return needed


def check_columns(config: Mapping, columns: Iterable[str], source: str, hint: str | None = None,
                  withheld: Mapping[str, str] | None = None) -> None:
    """Check that every column the config names exists in the data.

    ``hint``, when given, replaces the closing advice (e.g. to pick another
    sheet of a workbook, when the columns are there).  ``withheld`` maps the
    columns whose header holds personal data to how messages name them: such
    a header is never listed nor suggested.

    Raises
    ------
    ConfigError
        Naming each missing column, the config key that names it and the
        closest column names in the file (the fix belongs in the config).
    """
    withheld = dict(withheld or {})
    columns = [str(c) for c in columns]
    available = set(columns)
    shown = [withheld.get(c, c) for c in columns]
    columns = [c for c in columns if c not in withheld]
    constructs = list(config.get("constructs") or {})
    problems = []
    for column, key in required_columns(config).items():
        if column in available:
            continue
        if key == "profile" or key.startswith("analyses."):
            # these keys take a construct name or a column: suggest both, and say which is which
            what = ("profile takes columns of the data file or construct names (a construct's score)"
                    if key == "profile" else "it is neither a construct nor a column")
            problems.append(f"'{column}' (named in config key '{key}') is not in {source}: {what}."
                            + suggest_variable(column, constructs, columns))
        else:
            problems.append(
                f"column '{column}' (named in config key '{key}') is not in {source}.{suggest(column, columns)}"
            )
    if problems:
        listing = ", ".join(shown[:40]) + (" ..." if len(shown) > 40 else "")
        raise ConfigError(
            "\n  - ".join([f"the config names {len(problems)} column(s) the data file lacks:", *problems])
            + f"\nColumns in the file: {listing}\n"
            + (hint or "Fix the names in the config (they are case-sensitive).")
        )
