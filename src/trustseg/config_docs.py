"""The configuration reference (``config/README.md``): one table row per schema key, generated from the schema."""

from __future__ import annotations

from collections.abc import Mapping

import yaml

from trustseg.config import config_schema


def _schema_rows(schema: Mapping, prefix: str = "") -> list[tuple[str, str, str, str]]:
    rows = []
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        kind = sub.get("type", "")
        kind = " or ".join(kind) if isinstance(kind, list) else kind
        if "enum" in sub:
            kind = " / ".join(map(str, sub["enum"]))
        alternatives = schema.get("x-required-alternatives", {})
        default = "(required)" if key in schema.get("required", []) else (
            f"(required, or {alternatives[key]})" if key in alternatives else
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
