"""Which family each analysis fits (config key analyses.<name>.family), and the start-up check against the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trustseg.config import validate_config
from trustseg.errors import ConfigError, DataError
from trustseg.stages.families import SCORE_FAMILY, analysis_family, check_outcome_families
from trustseg.stages.segments import fitted_lines


def config_with(outcome="loyalty", family=None, constructs=None, **analysis_keys):
    analysis = {"outcome": outcome, "predictors": ["satisfaction"], **analysis_keys}
    if family:
        analysis["family"] = family
    return validate_config({
        "data": {"path": "survey.csv"},
        "constructs": {"satisfaction": {"items": ["sat1", "sat2", "sat3"], "scale": [1, 5]},
                       "loyalty": {"items": ["loy1", "loy2"], "scale": [1, 5]},
                       "renew": {"items": ["renew1"], "scale": [1, 5]}, **(constructs or {})},
        "analyses": {"a": analysis},
    })


def survey(n=120, seed=0, **extra):
    rng = np.random.default_rng(seed)
    columns = {c: rng.integers(1, 6, n) for c in ["sat1", "sat2", "sat3", "loy1", "loy2", "renew1"]}
    return pd.DataFrame({"respondent_id": np.arange(1, n + 1), **columns, **extra})


def test_auto_fits_a_multi_item_score_with_the_score_family_and_anything_else_as_gaussian():
    config = config_with()
    assert config["analyses"]["a"]["family"] == "auto"
    family, options = analysis_family("a", config["analyses"]["a"], config["constructs"])
    assert family == SCORE_FAMILY
    assert options == ({"lower": 1.0, "upper": 5.0} if SCORE_FAMILY == "censored" else {})
    single = config_with(outcome="renew")
    assert analysis_family("a", single["analyses"]["a"], single["constructs"]) == ("gaussian", {})


def test_family_settings_come_from_the_outcome_construct_scale():
    config = config_with(family="censored")
    assert analysis_family("a", config["analyses"]["a"], config["constructs"]) == (
        "censored", {"lower": 1.0, "upper": 5.0})
    config = config_with(outcome="renew", family="ordinal")
    assert analysis_family("a", config["analyses"]["a"], config["constructs"]) == (
        "ordinal", {"categories": [1.0, 2.0, 3.0, 4.0, 5.0]})


def test_a_family_the_config_rules_out_names_the_analysis_and_the_fix():
    config = config_with(outcome="visits", family="censored")
    with pytest.raises(ConfigError, match=r"analysis 'a' fits a censored outcome .*'visits' is a column"):
        analysis_family("a", config["analyses"]["a"], config["constructs"])
    wide = config_with(outcome="nps", family="ordinal", constructs={"nps": {"items": ["nps1"], "scale": [1, 100]}})
    with pytest.raises(ConfigError, match=r"scale \[1, 100\].*2 to 11 whole points"):
        analysis_family("a", wide["analyses"]["a"], wide["constructs"])


@pytest.mark.parametrize("outcome,family,values,expected", [
    ("renewed", "binomial", [0, 1, 2] * 40, r"analysis 'a' fits its outcome as binomial .*column 'renewed'.*2 "),
    ("visits", "poisson", [-1, 0, 3] * 40, r"column 'visits'.*whole numbers >= 0, found: -1"),
    ("spend", "ordinal", list(np.linspace(0, 400, 120)), r"column 'spend': an ordinal outcome with 120 distinct"),
])
def test_a_wrong_family_for_the_data_stops_at_start_up(outcome, family, values, expected):
    config = config_with(outcome=outcome, family=family)
    with pytest.raises(DataError, match=expected):
        check_outcome_families(config, survey(**{outcome: values}), "data file 'survey.csv'")


def test_a_matching_family_passes_and_an_ordinal_score_of_two_items_does_not():
    config = config_with(outcome="renewed", family="binomial")
    check_outcome_families(config, survey(renewed=[0, 1] * 60), "data file 'survey.csv'")
    # the mean of two items has half points, which are not answers of the item scale
    config = config_with(outcome="loyalty", family="ordinal")
    with pytest.raises(DataError, match=r"column 'loyalty'"):
        check_outcome_families(config, survey(), "data file 'survey.csv'")


def test_lines_of_a_family_with_a_link_are_drawn_on_the_outcome_scale():
    from trustseg.model.mixture import ClusterwiseRegression

    rng = np.random.default_rng(1)
    x = rng.uniform(1, 7, 400)
    y = (rng.random(400) < 1 / (1 + np.exp(-(-3 + 0.8 * x)))).astype(float)
    X, y = pd.DataFrame({"satisfaction": x}), pd.Series(y, name="renewed")
    model = ClusterwiseRegression(n_segments=1, family="binomial", n_init=1).fit(X, y)
    lines = fitted_lines(model.inference(X, y), X, "satisfaction")
    assert lines["fit"].between(0, 1).all() and lines["fit"].is_monotonic_increasing
    assert np.allclose(lines["fit"], 1 / (1 + np.exp(-lines["eta"])))
    assert (lines["lower"] <= lines["fit"]).all() and (lines["fit"] <= lines["upper"]).all()


def test_a_linear_spread_is_only_for_normal_families():
    config = config_with(outcome="renew", family="ordinal")
    config["analyses"]["a"]["spread"] = "linear"
    with pytest.raises(ConfigError, match=r"analyses.a.spread: linear.*its family is ordinal"):
        analysis_family("a", config["analyses"]["a"], config["constructs"])
    config = config_with(family="censored")
    config["analyses"]["a"]["spread"] = "linear"
    assert analysis_family("a", config["analyses"]["a"], config["constructs"])[0] == "censored"


def test_method_cem_takes_the_gaussian_family_and_refuses_another():
    config = config_with()
    config["analyses"]["a"]["method"] = "cem"
    # cem is clusterwise regression of a normal outcome: auto gives it gaussian, not the score default
    assert analysis_family("a", config["analyses"]["a"], config["constructs"]) == ("gaussian", {})
    config["analyses"]["a"]["family"] = "censored"
    with pytest.raises(ConfigError, match=r"method cem \(analyses.a.method\) is for the gaussian family"):
        analysis_family("a", config["analyses"]["a"], config["constructs"])


# ----------------------------------------------------------------------------- trials and exposure


def test_trials_and_exposure_belong_to_their_family_and_name_a_raw_column():
    assert config_with(outcome="won", family="binomial", trials="played")["analyses"]["a"]["trials"] == "played"
    assert config_with(outcome="visits", family="poisson", exposure="months")["analyses"]["a"]["exposure"] == "months"
    with pytest.raises(ConfigError, match=r"'analyses.a.trials' names the column 'played'.*only a binomial outcome "
                                          r"uses.*Set 'analyses.a.family: binomial'"):
        config_with(outcome="won", trials="played")
    with pytest.raises(ConfigError, match=r"'analyses.a.exposure'.*only a poisson outcome uses"):
        config_with(outcome="won", family="binomial", exposure="months")
    with pytest.raises(ConfigError, match=r"'analyses.a.trials' is 'satisfaction', a construct"):
        config_with(outcome="won", family="binomial", trials="satisfaction")
    with pytest.raises(ConfigError, match=r"'analyses.a.trials' is 'won', which is also the analysis's outcome"):
        config_with(outcome="won", family="binomial", trials="won")


def test_a_trials_or_exposure_column_is_required_of_the_data():
    from trustseg.config import check_columns, required_columns

    config = config_with(outcome="won", family="binomial", trials="played")
    assert required_columns(config)["played"] == "analyses.a.trials"
    with pytest.raises(ConfigError, match=r"'played'.*analyses.a.trials"):
        check_columns(config, list(survey(won=[0] * 120).columns), "data file 'survey.csv'")


def test_analysis_data_carries_trials_and_log_exposure_and_leaves_out_rows_without_them():
    from trustseg.stages.common import analysis_data

    clean = pd.DataFrame({"respondent_id": ["a", "b", "c", "d"], "sat": [1.0, 2.0, 3.0, 4.0],
                          "won": [1.0, 2.0, 0.0, 3.0], "played": [2.0, np.nan, 4.0, 3.0],
                          "months": [1.0, 2.0, np.e, 0.5]})
    X, y, w, ids, side = analysis_data(clean, "won", ["sat"], "t", family_columns={"trials": "played"})
    assert ids.tolist() == ["a", "c", "d"] and side["trials"].tolist() == [2.0, 4.0, 3.0]
    *_, side = analysis_data(clean, "won", ["sat"], "t", family_columns={"exposure": "months"})
    assert np.allclose(side["offset"], np.log([1.0, 2.0, np.e, 0.5]))
    assert analysis_data(clean, "won", ["sat"], "t")[4] is None
    bad = clean.assign(played=[2.0, 1.5, 0.0, 3.0])
    with pytest.raises(DataError, match=r"column 'played' \(config key 'analyses.t.trials'\) must hold whole "
                                        r"numbers of at least 1.*2 respondent\(s\).*respondent b \(1.5\), c \(0\)"):
        analysis_data(bad, "won", ["sat"], "t", family_columns={"trials": "played"})
    with pytest.raises(DataError, match=r"'analyses.t.exposure'\) must hold positive numbers.*respondent a \(-1\)"):
        analysis_data(clean.assign(months=[-1.0, 1, 1, 1]), "won", ["sat"], "t", family_columns={"exposure": "months"})


def test_successes_beyond_their_trials_or_a_zero_exposure_stop_at_start_up():
    played = np.tile([3, 4], 60)
    config = config_with(outcome="won", family="binomial", trials="played")
    check_outcome_families(config, survey(won=np.tile([1, 4], 60), played=played), "data file 'survey.csv'")
    with pytest.raises(DataError, match=r"analysis 'a' fits its outcome as binomial.*'won'.*between 0 and the "
                                        r"trials, found: 4"):
        check_outcome_families(config, survey(won=np.tile([4, 2], 60), played=played), "data file 'survey.csv'")
    config = config_with(outcome="visits", family="poisson", exposure="months")
    with pytest.raises(DataError, match=r"'months' \(config key 'analyses.a.exposure'\) must hold positive numbers"
                                        r".*respondent 1 \(0\)"):
        check_outcome_families(config, survey(visits=[1] * 120, months=[0] + [2] * 119), "data file 'survey.csv'")


def test_an_item_answered_in_steps_is_an_ordinal_outcome_with_those_categories():
    """Answers 0, 20, ..., 100 (constructs.<name>.step: 20): six categories, and a rounding variance of 20² / 12."""
    from trustseg.stages.common import outcome_rounding_variance
    from trustseg.stages.families import analysis_family

    constructs = {"overall": {"items": ["q1"], "scale": [0, 100], "step": 20}}
    family, settings = analysis_family("a", {"outcome": "overall", "family": "ordinal"}, constructs)
    assert family == "ordinal" and settings["categories"] == [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    assert outcome_rounding_variance({"outcome": "overall"}, constructs) == pytest.approx(400 / 12)
    with pytest.raises(ConfigError, match=r"constructs.overall.step"):
        analysis_family("a", {"outcome": "overall", "family": "ordinal"},
                        {"overall": {"items": ["q1"], "scale": [0, 100], "step": 1}})
