"""Load, complete and validate a trustseg configuration.

The schema (``trustseg/data/config.schema.yaml``, linked from
``workflow/schemas/``) describes every key with a default.  Validation happens
before any work starts, and each problem is reported with the dotted key that
holds it (``analyses.repurchase.segmnts``) and, for a misspelt key or column,
the closest valid names.  YAML is read with ``safe_load``: nothing in a config
is ever evaluated as code.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from trustseg.errors import ConfigError

SCHEMA_RESOURCE = "config.schema.yaml"


@lru_cache(maxsize=1)
def _schema_text() -> str:
    return resources.files("trustseg").joinpath("data", SCHEMA_RESOURCE).read_text(encoding="utf-8")


def config_schema() -> dict:
    """Return the configuration JSON schema (a fresh copy)."""
    return yaml.safe_load(_schema_text())


def _closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    candidates = [str(c) for c in candidates]
    close = difflib.get_close_matches(str(name), candidates, n=n, cutoff=0.5)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        close = [lowered[m] for m in difflib.get_close_matches(str(name).lower(), list(lowered), n=n, cutoff=0.4)]
    return close


def suggest(name: str, candidates: Iterable[str]) -> str:
    """A short "did you mean" phrase, or an empty string."""
    close = _closest(name, candidates)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


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


def _describe(error: jsonschema.ValidationError) -> str:
    where = _dotted(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        unknown = [k for k in error.instance if k not in allowed]
        lines = []
        for key in unknown:
            key_path = f"{where}.{key}" if error.absolute_path else str(key)
            lines.append(
                f"unknown config key '{key_path}'.{suggest(key, allowed)} "
                f"Allowed keys here: {', '.join(allowed)}."
            )
        return "\n".join(lines)
    if error.validator == "required":
        return f"config key '{where}' is missing a required entry: {error.message}."
    if error.validator == "enum":
        return (
            f"config key '{where}' is {error.instance!r}, which is not allowed; "
            f"use one of {', '.join(map(repr, error.validator_value))}."
        )
    if error.validator == "type":
        return f"config key '{where}' should be of type {error.validator_value}, but is {error.instance!r}."
    if "propertyNames" in error.schema_path:
        return (
            f"config key '{where}' has a name that is not allowed ({error.instance!r}): "
            "analysis names may use letters, digits, '_' and '-' only, because they become folder names."
        )
    return f"config key '{where}': {error.message}."


def _semantic_checks(config: dict) -> list[str]:
    problems: list[str] = []
    constructs = config["constructs"]
    for name, spec in constructs.items():
        lo, hi = spec["scale"]
        if not lo < hi:
            problems.append(
                f"config key 'constructs.{name}.scale' is {spec['scale']}: the first number must be below the second."
            )
        dup = sorted({i for i in spec["items"] if spec["items"].count(i) > 1})
        if dup:
            problems.append(f"config key 'constructs.{name}.items' lists {dup} more than once.")
        for item in spec.get("reverse", []):
            if item not in spec["items"]:
                problems.append(
                    f"config key 'constructs.{name}.reverse' names '{item}', which is not one of the construct's items "
                    f"({', '.join(spec['items'])})."
                )
    for name, analysis in config["analyses"].items():
        key = f"analyses.{name}"
        variables = [analysis["outcome"], *analysis["predictors"]]
        if len(set(variables)) < len(variables):
            problems.append(
                f"config key '{key}': the outcome and predictors must be different variables, got {variables}."
            )
        focal = analysis.get("focal")
        if focal is not None and focal not in analysis["predictors"]:
            problems.append(
                f"config key '{key}.focal' is '{focal}', which is not one of its predictors {analysis['predictors']}."
            )
        segments = analysis["segments"]
        if len(set(segments)) != len(segments):
            problems.append(f"config key '{key}.segments' lists a number of segments twice: {segments}.")
    checks = config.get("cleaning", {}).get("speeders", {})
    if (checks.get("duration_column") is None) != (checks.get("min_seconds") is None):
        problems.append(
            "config keys 'cleaning.speeders.duration_column' and 'cleaning.speeders.min_seconds' go together: "
            "set both to flag speeders, or neither."
        )
    return problems


def validate_config(config: Mapping, source: str = "the configuration") -> dict:
    """Validate a configuration and return a copy with every default filled in.

    Parameters
    ----------
    config : mapping
        The configuration as parsed from YAML.
    source : str
        Where it came from, used in error messages (e.g. a file name).

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
    problems = [_describe(e) for e in errors]
    if not problems:
        problems = _semantic_checks(instance)
    if problems:
        raise ConfigError(f"{source} is not valid:\n  - " + "\n  - ".join(problems))
    return instance


def load_config(path: str | Path) -> dict:
    """Read a YAML config file, validate it and fill in defaults."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"config file '{path}' does not exist. Copy config/config.yaml to start one, "
            "or run 'trustseg init-config YOUR_SURVEY_FILE' to draft one from your data."
        )
    try:
        parsed = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"config file '{path}' is not valid YAML{where}: {getattr(exc, 'problem', exc)}.") from None
    return validate_config(parsed or {}, source=f"config file '{path}'")


def analysis_variables(config: Mapping, name: str) -> tuple[str, list[str], str]:
    """Outcome, predictors and focal predictor of analysis ``name``."""
    analysis = config["analyses"][name]
    focal = analysis.get("focal") or analysis["predictors"][0]
    return analysis["outcome"], list(analysis["predictors"]), focal


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
        for variable in [analysis["outcome"], *analysis["predictors"]]:
            if variable not in constructs:
                needed.setdefault(variable, f"analyses.{name}")
    return needed


def check_columns(config: Mapping, columns: Iterable[str], source: str) -> None:
    """Check that every column the config names exists in the data.

    Raises
    ------
    ConfigError
        Naming each missing column, the config key that names it and the
        closest column names in the file (the fix belongs in the config).
    """
    columns = [str(c) for c in columns]
    available = set(columns)
    problems = []
    for column, key in required_columns(config).items():
        if column not in available:
            problems.append(
                f"column '{column}' (named in config key '{key}') is not in {source}.{suggest(column, columns)}"
            )
    if problems:
        listing = ", ".join(columns[:40]) + (" ..." if len(columns) > 40 else "")
        raise ConfigError(
            "\n  - ".join([f"the config names {len(problems)} column(s) the data file lacks:", *problems])
            + f"\nColumns in the file: {listing}\nFix the names in the config (they are case-sensitive)."
        )


def _schema_rows(schema: Mapping, prefix: str = "") -> list[tuple[str, str, str, str]]:
    rows = []
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        kind = sub.get("type", "")
        kind = " or ".join(kind) if isinstance(kind, list) else kind
        if "enum" in sub:
            kind = " / ".join(map(str, sub["enum"]))
        default = "(required)" if key in schema.get("required", []) else (
            json_default(sub["default"]) if "default" in sub else ""
        )
        rows.append((path, kind, default, " ".join(str(sub.get("description", "")).split())))
        rows += _schema_rows(sub, f"{path}.")
        extra = sub.get("additionalProperties")
        if isinstance(extra, dict) and "properties" in extra:
            rows += _schema_rows(extra, f"{path}.<name>.")
        items = sub.get("items")
        if isinstance(items, dict) and "properties" in items:
            rows += _schema_rows(items, f"{path}[].")
    return rows


def json_default(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True)
    return "`" + text.strip().removesuffix("...").strip() + "`"


def schema_markdown() -> str:
    """The configuration reference (``config/README.md``), generated from the schema."""
    schema = config_schema()
    lines = [
        "# Configuration reference",
        "",
        "Generated from `workflow/schemas/config.schema.yaml` by `trustseg config-docs`; do not edit by hand.",
        "A config is validated against the schema before anything runs: an unknown or mistyped key stops the",
        "run with a message that names it. Start from `config/config.yaml` (the bundled golf example) or draft",
        "one from your survey with `trustseg init-config YOUR_FILE`. Examples for three real surveys are in",
        "`config/examples/`.",
        "",
        "| key | type | default | description |",
        "|---|---|---|---|",
    ]
    for path, kind, default, description in _schema_rows(schema):
        lines.append(f"| `{path}` | {kind} | {default} | {description.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
