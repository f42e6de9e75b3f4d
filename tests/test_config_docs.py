"""The configuration reference (config/README.md) is the schema, whole: no description cut short."""

from __future__ import annotations

from pathlib import Path

from trustseg.config import config_schema
from trustseg.config_docs import schema_markdown

REPO = Path(__file__).resolve().parents[1]
#: the JSON-schema words a node of the config schema may use; anything else is text that YAML read as a key
SCHEMA_WORDS = {"description", "type", "enum", "default", "minimum", "maximum", "exclusiveMinimum", "properties",
                "additionalProperties", "items", "required", "x-required-alternatives", "minItems", "maxItems",
                "uniqueItems", "oneOf", "anyOf", "minLength", "pattern", "propertyNames", "minProperties", "not",
                "$schema", "title", "exclusiveMaximum", "const", "if", "then", "else", "allOf"}


def _stray_keys(node, path="$") -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in SCHEMA_WORDS and not path.endswith((".properties", ".x-required-alternatives")):
                found.append(f"{path}.{key}")
            found += _stray_keys(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _stray_keys(value, f"{path}[{i}]")
    return found


def test_no_description_is_cut_at_a_comma():
    """A description written in a YAML flow mapping is cut at its first comma, the rest turned into stray keys."""
    assert _stray_keys(config_schema()) == []
    seed = next(line for line in schema_markdown().splitlines() if line.startswith("| `seed` |"))
    assert "the same seed, data and config give identical tables." in seed


def test_the_committed_reference_is_the_schema():
    assert (REPO / "config" / "README.md").read_text(encoding="utf-8") == schema_markdown()
