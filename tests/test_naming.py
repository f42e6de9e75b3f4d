import numpy as np
import pandas as pd
import pytest

from trustseg.model.mixture import ClusterwiseRegression
from trustseg.report.naming import against_verdict, expected_verdict, name_segments, segment_levels


def _table(specs, focal="satisfaction"):
    """specs: list of (share, intercept, slope, verdict[, ci_high])."""
    rows = []
    for seg, spec in enumerate(specs, start=1):
        share, b0, b1, verdict = spec[:4]
        ci_high = spec[4] if len(spec) > 4 else b1 + 0.2
        rows.append(dict(segment=seg, share=share, term="(Intercept)", estimate=b0, std_error=0.1,
                         ci_low=b0 - 0.2, ci_high=b0 + 0.2, verdict=np.nan))
        rows.append(dict(segment=seg, share=share, term=focal, estimate=b1, std_error=0.1,
                         ci_low=b1 - 0.2, ci_high=ci_high, verdict=verdict))
    return pd.DataFrame(rows)


def test_basic_rules():
    t = _table([(0.4, 0.5, 0.9, "drives_up"), (0.35, 5.8, 0.02, "does_not_drive"),
                (0.25, 2.0, 0.0, "does_not_drive")])
    names = name_segments(t, "satisfaction", outcome_scale=(1, 7))
    assert names == {1: "Satisfaction-driven", 2: "Loyal regardless", 3: "Indifferent"}


def test_focal_name_generic_and_inconclusive():
    t = _table([(0.5, 1.0, 0.3, "inconclusive"), (0.3, 3.0, -0.05, "inconclusive"),
                (0.2, 4.0, -0.6, "drives_down", -0.2)], focal="trust_in_club")
    names = name_segments(t, "trust_in_club", outcome_scale=(1, 5))
    # an inconclusive segment is never named as if it had an answer, whatever the sign of its estimate
    assert names == {1: "Trust in club effect unclear, lower level", 2: "Trust in club effect unclear, higher level",
                     3: "Trust in club-averse"}
    t2 = _table([(1.0, 1.0, 0.8, "drives_up")], focal="trust_in_club")
    assert name_segments(t2, "trust_in_club") == {1: "Trust in club-driven"}


def test_names_unique_and_deterministic():
    t = _table([(0.4, 0.5, 0.9, "drives_up"), (0.3, 2.0, 0.6, "drives_up"), (0.3, 6.0, 0.0, "does_not_drive")])
    n1 = name_segments(t, "satisfaction", (1, 7), outcome="repurchase")
    n2 = name_segments(t.sample(frac=1, random_state=3), "satisfaction", (1, 7), outcome="repurchase")
    assert n1 == n2
    assert len(set(n1.values())) == 3
    # level at the scale midpoint (4): seg1 = 0.5 + 3.6 = 4.1, seg2 = 2 + 2.4 = 4.4
    assert n1[2] == "Satisfaction-driven, higher repurchase"
    assert n1[1] == "Satisfaction-driven, lower repurchase"
    t3 = _table([(0.3, 1.0, 0.9, "drives_up"), (0.3, 1.0, 0.9, "drives_up"), (0.4, 1.0, 0.9, "drives_up")])
    n3 = name_segments(t3, "satisfaction", (1, 7))
    assert len(set(n3.values())) == 3


def test_levels_use_predictor_means_and_relative_cut():
    t = _table([(0.5, 5.0, 0.0, "does_not_drive"), (0.5, 1.0, 0.0, "does_not_drive")])
    assert segment_levels(t, {"satisfaction": 3.0}).tolist() == [5.0, 1.0]
    names = name_segments(t, "satisfaction")  # no scale: relative to the mean level
    assert names == {1: "Loyal regardless", 2: "Indifferent"}


def test_errors():
    t = _table([(1.0, 1.0, 0.5, "drives_up")])
    with pytest.raises(ValueError, match="focal"):
        name_segments(t, "price")
    assert name_segments(t.iloc[0:0], "satisfaction") == {}


def test_three_and_four_alike_segments_get_readable_ranks():
    three = _table([(0.3, 0.5, 0.9, "drives_up"), (0.3, 2.0, 0.8, "drives_up"), (0.4, -1.0, 0.7, "drives_up")])
    names = name_segments(three, "satisfaction", (1, 7), outcome="loyalty")
    assert names == {1: "Satisfaction-driven, middle loyalty", 2: "Satisfaction-driven, highest loyalty",
                     3: "Satisfaction-driven, lowest loyalty"}
    four = _table([(0.25, b0, 0.9, "drives_up") for b0 in (0.0, 1.0, 2.0, 3.0)])
    names = name_segments(four, "satisfaction", (1, 7), outcome="loyalty")
    assert names[4] == "Satisfaction-driven, highest loyalty" and names[1] == "Satisfaction-driven, 4th highest loyalty"
    assert len(set(names.values())) == 4


def test_names_follow_the_direction_the_outcome_runs():
    assert expected_verdict("worse") == "drives_down" == against_verdict("better")
    # switching: higher is worse, so satisfaction is expected to drive it down
    t = _table([(0.3, 6.5, -0.65, "drives_down"), (0.2, 1.0, 0.4, "drives_up"),
                (0.2, 5.8, 0.01, "does_not_drive"), (0.1, 1.5, 0.05, "negligible"),
                (0.1, 1.2, -0.2, "inconclusive"), (0.1, 6.0, 0.0, "unreliable")])
    names = name_segments(t, "satisfaction", (1, 7), outcome="switching", higher_is="worse")
    assert names == {1: "Satisfaction-driven", 2: "Satisfaction-averse", 3: "High switching regardless",
                     4: "Low switching regardless", 5: "Satisfaction effect unclear, low switching",
                     6: "Unreliable segment, high switching"}
    # the same slopes when higher is better: the falling segment runs against the expected direction
    better = name_segments(t, "satisfaction", (1, 7), outcome="repurchase")
    assert better[1] == "Satisfaction-averse" and better[2] == "Satisfaction-driven"
    assert better[3] == "Loyal regardless" and better[5] == "Satisfaction effect unclear, low repurchase"
    # a flat segment of a trust outcome is high trust, not loyalty
    trust = name_segments(t, "satisfaction", (1, 7), outcome="trust")
    assert trust[3] == "High trust regardless" and trust[4] == "Low trust regardless"
    assert not any("unusual" in n or "counter" in n.lower() for n in {**names, **better}.values())
    with pytest.raises(ValueError, match="higher_is"):
        name_segments(t, "satisfaction", higher_is="lower")


def test_a_segment_whose_switching_falls_with_satisfaction_is_satisfaction_driven():
    from trustseg.report import results as tr
    from trustseg.report import sentences as ts
    from trustseg.stages.segments import segment_table

    rng = np.random.default_rng(41)
    n = 1500
    x = rng.uniform(1, 7, n)
    driven = rng.random(n) < 0.5
    y = np.where(driven, 6.5 - 0.65 * x, 6.0) + rng.normal(0, 0.3, n)
    X, y = pd.DataFrame({"satisfaction": x}), pd.Series(y, name="switching")
    model = ClusterwiseRegression(n_segments=2, n_init=3, random_state=0, focal_direction=-1).fit(X, y)
    inference = model.inference(X, y)
    assert list(inference.verdicts["verdict"]) == ["drives_down", "does_not_drive"]
    table = segment_table(inference, "satisfaction", "switching", {1: 750, 2: 750}, scale=(1, 7),
                          higher_is="worse")
    names = table.groupby("segment")["name"].first().to_dict()
    assert names == {1: "Satisfaction-driven", 2: "High switching regardless"}
    settings = tr.AnalysisSettings(
        outcome="switching", predictors=["satisfaction"], focal="satisfaction", method="em", criterion="bic",
        k=2, k_requested=2, cov_type="oim", alpha=0.05, ci_level=0.95, equivalence_margin=0.1,
        membership_ci_level=0.95, higher_is="worse")
    text = ts.verdict_sentence(table, settings, segment=1)
    assert "switching falls 0.6" in text and "satisfaction drives switching down here." in text
    assert "against the expected direction" not in text


def test_a_predictor_expected_to_lower_the_outcome_is_read_the_other_way():
    """Privacy concern is expected to lower trust: falling trust is the expected direction, and it is named so."""
    t = _table([(0.4, 6.0, -0.7, "drives_down"), (0.3, 2.0, 0.5, "drives_up"), (0.3, 4.0, 0.0, "does_not_drive")],
               focal="privacy_concern")
    names = name_segments(t, "privacy_concern", (1, 7), outcome="trust", expected={"privacy_concern": "lowers"})
    assert names == {1: "Privacy concern-sensitive", 2: "Privacy concern-tolerant", 3: "Low trust regardless"}
    assert expected_verdict("better", {"privacy_concern": "lowers"}, "privacy_concern") == "drives_down"
    # without the declaration the same segments read as a lever would
    plain = name_segments(t, "privacy_concern", (1, 7), outcome="trust")
    assert plain[1] == "Privacy concern-averse" and plain[2] == "Privacy concern-driven"


def test_names_rank_by_the_level_given_with_the_table():
    """With a level column (the members' mean outcome), the qualifiers agree with the numbers shown beside them."""
    t = _table([(0.3, 0.5, 0.9, "drives_up"), (0.3, 2.0, 0.8, "drives_up"), (0.4, -1.0, 0.7, "drives_up")])
    t["level"] = t["segment"].map({1: 7.30, 2: 7.18, 3: 5.0})
    names = name_segments(t, "satisfaction", (0, 10), outcome="loyalty")
    assert names == {1: "Satisfaction-driven, highest loyalty", 2: "Satisfaction-driven, middle loyalty",
                     3: "Satisfaction-driven, lowest loyalty"}


def test_an_expected_direction_names_a_predictor_and_says_raises_or_lowers():
    import yaml

    from trustseg.config import validate_config
    from trustseg.errors import ConfigError

    cfg = yaml.safe_load((__import__("pathlib").Path(__file__).parents[1] / "config" / "config.yaml").read_text())
    cfg["analyses"]["trust_on_satisfaction"]["expected"] = {"price": "lowers"}
    with pytest.raises(ConfigError, match=r"expected' gives a direction for 'price', which is not a predictor"):
        validate_config(cfg, source="the config")
    cfg["analyses"]["trust_on_satisfaction"]["expected"] = {"satisfaction": "down"}
    with pytest.raises(ConfigError, match=r"use one of 'raises', 'lowers'"):
        validate_config(cfg, source="the config")
    cfg["analyses"]["trust_on_satisfaction"]["expected"] = {"satisfaction": "lowers"}
    assert validate_config(cfg, source="the config")["analyses"]["trust_on_satisfaction"]["expected"] == {
        "satisfaction": "lowers"}


def _chain_effects(verdicts_by_segment):
    """verdicts_by_segment: {segment: {kind: verdict}} for the kinds indirect, direct, total."""
    rows = [dict(segment=seg, kind=kind, path="satisfaction → repurchase", verdict=verdict)
            for seg, verdicts in verdicts_by_segment.items() for kind, verdict in verdicts.items()]
    return pd.DataFrame(rows)


def test_a_chain_name_claims_no_mediator_absence_that_the_indirect_effect_does_not_show():
    """'without trust' only where the indirect effect is shown flat; an unclear or contrary one is not absent."""
    from trustseg.report.naming import name_chain_segments

    effects = _chain_effects({
        1: dict(indirect="drives_up", direct="inconclusive", total="drives_up"),
        2: dict(indirect="negligible", direct="drives_up", total="drives_up"),
        3: dict(indirect="inconclusive", direct="drives_up", total="drives_up"),
        4: dict(indirect="drives_down", direct="drives_up", total="drives_up"),
    })
    names = name_chain_segments(effects, "satisfaction", "repurchase", ["trust"],
                                levels={1: 5.0, 2: 5.0, 3: 4.0, 4: 3.0}, cut=4.5)
    assert names[1] == "Trust-building"
    assert names[2] == "Satisfaction-driven without trust"
    # 3 and 4 share the name and are told apart by their level
    assert all(names[s].startswith("Satisfaction-driven directly") for s in (3, 4)), names
    assert "without" not in names[3] + names[4]
