"""Configuration: defaults, validation messages, column checks, the generated reference."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from trustseg.config import (
    check_columns,
    config_schema,
    load_config,
    required_columns,
    validate_config,
)
from trustseg.config_docs import schema_markdown
from trustseg.errors import ConfigError
from trustseg.stages.families import SINGLE_ANSWER_FAMILIES
from trustseg.survey.checks import check_survey

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
            # a key required unless another is given (outcome and predictors, or equations) has no default
            if key not in schema.get("required", []) and key not in schema.get("x-required-alternatives", {}):
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
        (lambda c: (c["analyses"]["repurchase_on_satisfaction"].update(criterion="lr_test"),
                    c.setdefault("bootstrap", {}).update(lr_test_replicates=0)), "switches them off"),
        (lambda c: c.update(profile_order={"income": ["low", "high"]}),
         "gives an order for 'income', which is not one of the profile variables"),
        (lambda c: c.update(profile_categorical=["occupation"]),
         "lists 'occupation', which is not one of the profile variables"),
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


# ----------------------------------------------------------------------------- config mistakes the data reveal


def survey_config(**analysis):
    """A loyalty-on-satisfaction config whose analysis takes the given settings."""
    return validate_config({
        "data": {"path": "survey.csv"},
        "constructs": {"satisfaction": {"items": ["sat1", "sat2", "sat3"], "scale": [1, 5]},
                       "loyalty": {"items": ["loy1", "loy2", "loy3"], "scale": [1, 5]}},
        "analyses": {"a": {"outcome": "loyalty", "predictors": ["satisfaction"], **analysis}},
    })


def answers(n=200, top=5, seed=0, **extra):
    rng = np.random.default_rng(seed)
    items = ["sat1", "sat2", "sat3", "loy1", "loy2", "loy3"]
    return pd.DataFrame({**{c: rng.integers(1, top + 1, n) for c in items}, **extra})


def test_names_differing_in_case_suggest_the_construct_not_look_alike_columns():
    config = survey_config(outcome="Loyalty")
    with pytest.raises(ConfigError) as err:
        check_columns(config, answers().columns, "data file 'survey.csv'")
    message = str(err.value)
    assert "'Loyalty' (named in config key 'analyses.a.outcome') is not in data file 'survey.csv': it is neither " \
           "a construct nor a column. Did you mean the construct 'loyalty'? (names are case-sensitive)" in message
    assert "loy1" not in message.split("Columns in the file")[0]
    with pytest.raises(ConfigError, match=r"'Satisfaction', which is not one of its predictors \['satisfaction'\]\. "
                                          r"Did you mean 'satisfaction'\?"):
        survey_config(focal="Satisfaction")


def test_profile_takes_construct_names_and_says_what_it_takes():
    config = survey_config()
    check_columns({**config, "profile": ["loyalty"]}, answers().columns, "data file 'survey.csv'")
    assert "loyalty" not in required_columns({**config, "profile": ["loyalty"]})
    with pytest.raises(ConfigError, match=r"'Satisfaction' \(named in config key 'profile'\) is not in data file "
                                          r"'survey.csv': profile takes columns of the data file or construct names "
                                          r"\(a construct's score\)\. Did you mean the construct 'satisfaction'\?"):
        check_columns({**config, "profile": ["Satisfaction"]}, answers().columns, "data file 'survey.csv'")


def test_a_scale_shorter_than_the_answers_stops_with_the_observed_range_and_the_fix():
    raw = answers(top=7)  # answered on 1-7, declared [1, 5]
    with pytest.raises(ConfigError) as err:
        check_survey(survey_config(), raw, "data file 'survey.csv'")
    message = " ".join(str(err.value).split())
    outside = int(((raw[["sat1", "sat2", "sat3"]] > 5)).sum().sum())
    rows = int((raw[["sat1", "sat2", "sat3"]] > 5).any(axis=1).sum())
    assert (f"construct 'satisfaction' is declared on the scale [1, 5] (constructs.satisfaction.scale), but its "
            f"answers in data file 'survey.csv' run from 1 to 7: {outside} of its 600 answers") in message
    assert f"from {rows} respondents, lie outside the scale" in message
    assert "set constructs.satisfaction.scale: [1, 7]" in message and "data.missing_codes" in message
    assert "construct 'loyalty'" in message


def test_missing_codes_out_of_scale_suggest_data_missing_codes():
    raw = answers()
    raw.loc[:9, "sat1"] = -99  # 10 of 600 answers, 1.7%
    with pytest.raises(ConfigError) as err:
        check_survey(survey_config(), raw, "data file 'survey.csv'")
    message = " ".join(str(err.value).split())
    assert "-99 (10 answers)" in message and "missing_codes: [-99]" in message and "scale: [" not in message
    config = survey_config()
    config["data"]["missing_codes"] = [-99]
    assert check_survey(config, raw, "data file 'survey.csv'") == []


def test_a_few_out_of_scale_answers_are_left_to_the_cleaning():
    raw = answers()
    raw.loc[:4, "sat1"] = 9  # 5 of 600 answers, below 1%
    assert check_survey(survey_config(), raw, "data file 'survey.csv'") == []
    raw.loc[:9, "sat1"] = 9  # 10 of 600: over 1%, but within a tolerance of 2%
    config = survey_config()
    with pytest.raises(ConfigError, match="cleaning.max_out_of_scale_share"):
        check_survey(config, raw, "data file 'survey.csv'")
    config["cleaning"]["max_out_of_scale_share"] = 0.02
    assert check_survey(config, raw, "data file 'survey.csv'") == []


def test_text_labels_count_as_the_numbers_they_stand_for():
    raw = answers(n=50).astype(object)
    raw.loc[:, "loy1"] = "Strongly agree"
    config = survey_config()
    config["data"]["value_labels"] = {"Strongly agree": 7}
    with pytest.raises(ConfigError, match=r"construct 'loyalty' .* run from 1 to 7: 50 of its 150 answers"):
        check_survey(config, raw, "data file 'survey.csv'")


@pytest.mark.parametrize("outcome,constructs,extra,warned", [
    ("loyalty", None, {}, None),
    ("loyalty", {"loyalty": {"items": ["loy1"], "scale": [1, 5]}}, {}, "construct 'loyalty', which has a single "
                                                                         "item ('loy1') on the scale [1, 5]"),
    ("overall", None, {"overall": [1, 2, 3, 4, 5] * 40}, "column 'overall', a single rating item with 5 distinct"),
    ("loy2", None, {}, "(an item of construct 'loyalty')"),
    ("spend", None, {"spend": np.linspace(10.5, 990.25, 200)}, None),
])
def test_a_single_item_outcome_is_warned_about(outcome, constructs, extra, warned):
    config = survey_config(outcome=outcome)
    if constructs:
        config["constructs"].update(constructs)
    warnings = check_survey(config, answers(**extra), "data file 'survey.csv'")
    if warned is None:
        assert warnings == []
    else:
        (warning,) = warnings
        assert warned in warning and "analyses.a.outcome" in warning
        assert "analyses.a.family: ordinal" in warning and "a score over several items" in warning
    # an analysis that fits the item as one rating (or as 0/1, or a count) is not warned about
    config["analyses"]["a"]["family"] = "ordinal"
    assert check_survey(config, answers(**extra), "data file 'survey.csv'", SINGLE_ANSWER_FAMILIES) == []


# ----------------------------------------------------------------------------- chains (analyses.<name>.equations)

CHAIN = [{"outcome": "trust", "predictors": ["satisfaction"]},
         {"outcome": "repurchase", "predictors": ["satisfaction", "trust"]}]


def chain_config(**analysis):
    config = yaml.safe_load((Path(__file__).parent.parent / "config" / "config.yaml").read_text())
    config["analyses"] = {"chain": {"equations": copy.deepcopy(CHAIN), **analysis}}
    return config


def test_a_chain_is_a_valid_analysis_and_names_its_columns_by_equation():
    from trustseg.config import analysis_columns, analysis_variables, required_columns

    config = validate_config(chain_config())
    assert analysis_variables(config, "chain") == ("repurchase", ["satisfaction", "trust"], "satisfaction")
    assert analysis_columns(config["analyses"]["chain"]) == ["trust", "satisfaction", "repurchase"]
    config["analyses"]["chain"]["equations"][1]["predictors"].append("tenure_years")
    assert required_columns(config)["tenure_years"] == "analyses.chain.equations[1]"


@pytest.mark.parametrize("change,message", [
    ({"outcome": "repurchase"}, r"'analyses.chain' gives both equations and outcome"),
    ({"equations": list(reversed(CHAIN))}, r"'analyses.chain.equations\[0\]' uses \['trust'\], the outcome of a "
                                           r"later equation"),
    ({"equations": CHAIN + [{"outcome": "trust", "predictors": ["repurchase"]}]},
     r"'trust' is already the outcome of an earlier equation"),
    ({"focal": "trust"}, r"'analyses.chain.focal' is 'trust', which is not a predictor of the first equation"),
    ({"method": "cem"}, r"'analyses.chain.method' is cem; a chain is fitted with method: em"),
    ({"trials": "rounds"}, r"'analyses.chain.trials': a chain takes no trials column"),
])
def test_a_chain_with_a_cycle_a_stray_focal_or_a_setting_it_cannot_take_is_refused(change, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(chain_config(**change))


def test_an_analysis_without_outcome_or_equations_says_what_it_needs():
    config = chain_config()
    config["analyses"]["chain"] = {"predictors": ["satisfaction"]}
    with pytest.raises(ConfigError, match=r"'analyses.chain' is missing a required entry: 'outcome' \(or give "
                                          r"equations"):
        validate_config(config)
