"""Configuration: defaults, validation messages, column checks, the generated reference."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from trustseg.config import (
    check_columns,
    config_schema,
    load_config,
    required_columns,
    schema_markdown,
    validate_config,
)
from trustseg.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def golf():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_bundled_and_example_configs_are_valid():
    for path in [REPO / "config" / "config.yaml", *sorted((REPO / "config" / "examples").glob("*.yaml"))]:
        config = load_config(path)
        assert config["analyses"], path


def test_defaults_are_filled_everywhere(golf):
    del golf["bootstrap"]
    config = validate_config(golf)
    assert config["bootstrap"] == {"replicates": 200, "chunks": 4, "n_init": 3, "lr_test_replicates": 49}
    analysis = config["analyses"]["repurchase_on_satisfaction"]
    assert analysis["method"] == "em" and analysis["cov_type"] == "oim" and analysis["alpha"] == 0.05
    assert config["constructs"]["trust"]["reverse"] == [] and config["constructs"]["trust"]["min_answered"] == 0.5
    assert config["report"]["notebooks"] is True
    # the input is not modified
    assert "bootstrap" not in golf


def test_every_schema_key_has_a_description_and_optional_keys_a_default():
    def walk(schema, path):
        for key, sub in schema.get("properties", {}).items():
            assert sub.get("description"), f"{path}{key} has no description"
            if key not in schema.get("required", []):
                assert "default" in sub, f"{path}{key} has no default"
            walk(sub, f"{path}{key}.")
            for nested in (sub.get("additionalProperties"), sub.get("items")):
                if isinstance(nested, dict):
                    walk(nested, f"{path}{key}.*.")

    walk(config_schema(), "")


def test_mistyped_key_is_named_with_a_suggestion(golf):
    golf["analyses"]["repurchase_on_satisfaction"]["n_inti"] = 5
    with pytest.raises(ConfigError) as err:
        validate_config(golf, source="config file 'x.yaml'")
    message = str(err.value)
    assert "analyses.repurchase_on_satisfaction.n_inti" in message
    assert "Did you mean 'n_init'" in message
    assert "x.yaml" in message


def test_unknown_top_level_key(golf):
    golf["seeds"] = 3
    with pytest.raises(ConfigError, match=r"unknown config key 'seeds'. Did you mean 'seed'"):
        validate_config(golf)


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda c: c["analyses"]["repurchase_on_satisfaction"].update(criterion="bic2"),
         "'bic2', which is not allowed"),
        (lambda c: c["analyses"]["repurchase_on_satisfaction"].update(n_init="many"),
         "n_init' should be of type integer"),
        (lambda c: c["constructs"]["trust"].update(scale=[7, 1]), "must be below the second"),
        (lambda c: c["constructs"]["trust"].update(reverse=["rep_renew"]), "not one of the construct's items"),
        (lambda c: c["analyses"]["repurchase_on_satisfaction"].update(focal="trust"), "not one of its predictors"),
        (lambda c: c["analyses"]["repurchase_on_satisfaction"].update(segments=[1, 2, 2]), "twice"),
        (lambda c: c["cleaning"]["speeders"].update(min_seconds=None), "go together"),
        (lambda c: c.update(analyses={"bad name": c["analyses"]["repurchase_on_satisfaction"]}), "folder names"),
        (lambda c: c.pop("constructs"), "'constructs' is a required property"),
    ],
)
def test_invalid_values_are_explained(golf, mutate, needle):
    mutate(golf)
    with pytest.raises(ConfigError) as err:
        validate_config(golf)
    assert needle in str(err.value)


def test_yaml_is_never_evaluated(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("data: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_missing_config_file_says_how_to_start(tmp_path):
    with pytest.raises(ConfigError, match="init-config"):
        load_config(tmp_path / "nope.yaml")


def test_check_columns_lists_closest_names(golf):
    config = validate_config(golf)
    columns = [c for c in required_columns(config) if c != "trust_honest"] + ["trust_honset_q"]
    with pytest.raises(ConfigError) as err:
        check_columns(config, columns, "data file 'survey.csv'")
    message = str(err.value)
    assert "'trust_honest'" in message and "constructs.trust.items" in message
    assert "trust_honset_q" in message and "survey.csv" in message


def test_chinese_column_names_are_accepted():
    config = {
        "data": {"path": "问卷.csv"},
        "constructs": {"满意度": {"items": ["满意 1", "满意 2"], "scale": [1, 5]},
                       "回购": {"items": ["再次购买"], "scale": [1, 5]}},
        "analyses": {"repurchase": {"outcome": "回购", "predictors": ["满意度"]}},
    }
    validated = validate_config(config)
    check_columns(validated, ["满意 1", "满意 2", "再次购买"], "问卷.csv")


def test_configuration_reference_is_up_to_date():
    assert (REPO / "config" / "README.md").read_text(encoding="utf-8") == schema_markdown(), (
        "config/README.md is stale: run 'trustseg config-docs'"
    )


def test_workflow_schema_is_the_package_schema():
    workflow_schema = REPO / "workflow" / "schemas" / "config.schema.yaml"
    assert yaml.safe_load(workflow_schema.read_text()) == config_schema()


def test_validate_does_not_share_state_between_calls(golf):
    first = validate_config(copy.deepcopy(golf))
    first["cleaning"]["attention_checks"].append({"item": "x", "expected": 1})
    second = validate_config(copy.deepcopy(golf))
    assert len(second["cleaning"]["attention_checks"]) == 1
