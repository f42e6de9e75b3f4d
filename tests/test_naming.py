import numpy as np
import pandas as pd
import pytest

from trustseg.report.naming import name_segments, segment_levels


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
    t = _table([(0.4, 0.5, 0.9, "drives"), (0.35, 5.8, 0.02, "does_not_drive"),
                (0.25, 2.0, 0.0, "does_not_drive")])
    names = name_segments(t, "satisfaction", outcome_scale=(1, 7))
    assert names == {1: "Satisfaction-driven", 2: "Loyal regardless", 3: "Indifferent"}


def test_focal_name_generic_and_inconclusive():
    t = _table([(0.5, 1.0, 0.3, "inconclusive"), (0.3, 3.0, -0.05, "inconclusive"),
                (0.2, 4.0, -0.6, "inconclusive", -0.2)], focal="trust_in_club")
    names = name_segments(t, "trust_in_club", outcome_scale=(1, 5))
    assert names == {1: "Weakly trust in club-driven", 2: "Mixed", 3: "Negatively trust in club-driven"}
    t2 = _table([(1.0, 1.0, 0.8, "drives")], focal="trust_in_club")
    assert name_segments(t2, "trust_in_club") == {1: "Trust in club-driven"}


def test_names_unique_and_deterministic():
    t = _table([(0.4, 0.5, 0.9, "drives"), (0.3, 2.0, 0.6, "drives"), (0.3, 6.0, 0.0, "does_not_drive")])
    n1 = name_segments(t, "satisfaction", (1, 7), outcome="repurchase")
    n2 = name_segments(t.sample(frac=1, random_state=3), "satisfaction", (1, 7), outcome="repurchase")
    assert n1 == n2
    assert len(set(n1.values())) == 3
    # level at the scale midpoint (4): seg1 = 0.5 + 3.6 = 4.1, seg2 = 2 + 2.4 = 4.4
    assert n1[2] == "Satisfaction-driven, higher repurchase"
    assert n1[1] == "Satisfaction-driven, lower repurchase"
    t3 = _table([(0.3, 1.0, 0.9, "drives"), (0.3, 1.0, 0.9, "drives"), (0.4, 1.0, 0.9, "drives")])
    n3 = name_segments(t3, "satisfaction", (1, 7))
    assert len(set(n3.values())) == 3


def test_levels_use_predictor_means_and_relative_cut():
    t = _table([(0.5, 5.0, 0.0, "does_not_drive"), (0.5, 1.0, 0.0, "does_not_drive")])
    assert segment_levels(t, {"satisfaction": 3.0}).tolist() == [5.0, 1.0]
    names = name_segments(t, "satisfaction")  # no scale: relative to the mean level
    assert names == {1: "Loyal regardless", 2: "Indifferent"}


def test_errors():
    t = _table([(1.0, 1.0, 0.5, "drives")])
    with pytest.raises(ValueError, match="focal"):
        name_segments(t, "price")
    assert name_segments(t.iloc[0:0], "satisfaction") == {}


def test_three_and_four_alike_segments_get_readable_ranks():
    three = _table([(0.3, 0.5, 0.9, "drives"), (0.3, 2.0, 0.8, "drives"), (0.4, -1.0, 0.7, "drives")])
    names = name_segments(three, "satisfaction", (1, 7), outcome="loyalty")
    assert names == {1: "Satisfaction-driven, middle loyalty", 2: "Satisfaction-driven, highest loyalty",
                     3: "Satisfaction-driven, lowest loyalty"}
    four = _table([(0.25, b0, 0.9, "drives") for b0 in (0.0, 1.0, 2.0, 3.0)])
    names = name_segments(four, "satisfaction", (1, 7), outcome="loyalty")
    assert names[4] == "Satisfaction-driven, highest loyalty" and names[1] == "Satisfaction-driven, 4th highest loyalty"
    assert len(set(names.values())) == 4
