"""Tests for trustseg.report.figures: files, sizes, captions, greyscale safety, edge cases."""

from __future__ import annotations

import struct
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

from trustseg.report import figures as F

NAMES = {1: "Satisfaction-driven", 2: "Loyal regardless", 3: "Indifferent"}
X_LABEL = "Satisfaction (mean of items, 1-7 scale)"
Y_LABEL = "Repurchase intention (mean of items, 1-7 scale)"


def png_size(path) -> tuple[int, int]:
    """Width and height from the PNG header (no PIL needed)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    return struct.unpack(">II", head[16:24])


def check_record(rec: F.Figure, formats=("pdf",)) -> None:
    assert isinstance(rec, F.Figure)
    assert [p.suffix for p in rec.paths] == [".png"] + [f".{f}" for f in formats]
    for p in rec.paths:
        assert p.stat().st_size > 2000, p
    w, h = png_size(rec.png)
    assert 500 <= w <= 2500 and 300 <= h <= 2500, (w, h)
    assert rec.png.read_bytes()[:4] == b"\x89PNG"
    if "pdf" in formats:
        assert rec.paths[formats.index("pdf") + 1].read_bytes()[:5] == b"%PDF-"
    # Atomic writing: nothing but the figure files in the directory.
    leftovers = [p.name for p in rec.png.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert len(rec.caption) > 80


@pytest.fixture(scope="module")
def survey():
    rng = np.random.default_rng(3)
    n = 90
    seg = rng.choice([1, 2, 3], n)
    x = np.round(rng.uniform(1, 7, n))
    coef = {1: (0.5, 0.9), 2: (5.5, 0.1), 3: (2.5, 0.05)}
    y = np.array([coef[s][0] + coef[s][1] * v for s, v in zip(seg, x)]) + rng.normal(0, 0.4, n)
    data = pd.DataFrame({"x": x, "y": y, "segment": seg})
    return data, line_grid(coef, band=0.3)


def line_grid(coef, band=None):
    """Fitted lines on a grid, in the form the figures stage passes (``segment, x, fit, lower, upper``)."""
    xs = np.linspace(1, 7, 5)
    rows = []
    for seg, (b0, b1) in coef.items():
        fit = b0 + b1 * xs
        half = np.nan if band is None else band
        rows.append(pd.DataFrame({"segment": seg, "x": xs, "fit": fit, "lower": fit - half, "upper": fit + half}))
    return pd.concat(rows, ignore_index=True)


# ---------------------------------------------------------------- styles


def test_segment_styles_are_greyscale_distinct():
    styles = F.segment_styles(range(1, 7))
    lum = [0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] for c in (s["color"] for s in styles.values())]
    assert all(b - a > 0.05 for a, b in zip(lum, lum[1:])), "lightness must rise monotonically"
    assert len({s["marker"] for s in styles.values()}) == 6
    assert len({str(s["linestyle"]) for s in styles.values()}) == 6
    # The same segment gets the same style whatever the others are called.
    assert F.segment_styles([3, 1, 2])[1] == F.segment_styles([1, 2, 3])[1]


def test_no_global_rcparams_change(tmp_path, survey):
    before = dict(matplotlib.rcParams)
    F.segment_scatter(*survey, NAMES, X_LABEL, Y_LABEL, tmp_path / "s")
    after = dict(matplotlib.rcParams)
    assert {k for k in before if before[k] != after[k]} == set()


# ---------------------------------------------------------------- 1 scatter


def test_segment_scatter(tmp_path, survey):
    data, lines = survey
    rec = F.segment_scatter(data, lines, NAMES, X_LABEL, Y_LABEL, tmp_path / "scatter", formats=("pdf", "svg"))
    check_record(rec, ("pdf", "svg"))
    assert X_LABEL in rec.caption and Y_LABEL in rec.caption  # units
    assert "\u00b10.1" in rec.caption and "seed 0" in rec.caption  # jitter documented
    assert "95% confidence" in rec.caption
    assert "90 respondents" in rec.caption
    assert "<svg" in rec.paths[2].read_text()


def test_segment_scatter_is_deterministic(tmp_path, survey):
    data, lines = survey
    a = F.segment_scatter(data, lines, NAMES, X_LABEL, Y_LABEL, tmp_path / "a", seed=7)
    b = F.segment_scatter(data, lines, NAMES, X_LABEL, Y_LABEL, tmp_path / "b", seed=7)
    c = F.segment_scatter(data, lines, NAMES, X_LABEL, Y_LABEL, tmp_path / "c", seed=8)
    assert a.png.read_bytes() == b.png.read_bytes()
    assert a.png.read_bytes() != c.png.read_bytes()  # the seed moves the jittered points
    assert "confidence intervals" in a.caption


def test_vector_files_are_reproducible_to_the_byte(tmp_path, monkeypatch):
    """PDF and SVG carry no write date and no random ids; SOURCE_DATE_EPOCH, when set, is the date."""
    rep = pd.DataFrame({"rule": ["duplicate_id", "speeder"], "rows_affected": [3, 12]})
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    a = F.cleaning_summary(rep, tmp_path / "a", formats=("pdf", "svg"))
    b = F.cleaning_summary(rep, tmp_path / "b", formats=("pdf", "svg"))
    for first, second in zip(a.paths, b.paths):
        assert first.read_bytes() == second.read_bytes(), first.name
    pdf, svg = a.paths[1].read_bytes(), a.paths[2].read_text()
    assert b"CreationDate" not in pdf and "<dc:date>" not in svg
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14 22:13:20 UTC
    c = F.cleaning_summary(rep, tmp_path / "c", formats=("pdf", "svg"))
    assert b"/CreationDate (D:20231114221320Z)" in c.paths[1].read_bytes()
    assert "<dc:date>2023-11-14T22:13:20+00:00</dc:date>" in c.paths[2].read_text()


def test_segment_scatter_tiny_segment_no_band_and_missing(tmp_path):
    data = pd.DataFrame({"x": [1.0, 2, 3, 4, np.nan, 5], "y": [2.0, 3, 4, 5, 1, 6],
                         "segment": [1, 1, 1, 1, 2, 2]})  # segment 2 has one usable point
    lines = line_grid({1: (1.0, 1.0), 2: (3.0, 0.0)})  # no interval: bounds missing
    rec = F.segment_scatter(data, lines, {1: "A", 2: "B"}, X_LABEL, Y_LABEL, tmp_path / "tiny", jitter=0)
    check_record(rec)
    assert "no confidence band" in rec.caption
    assert "not jittered" in rec.caption
    assert "1 respondent(s) with a missing value" in rec.caption


def test_segment_scatter_rejects_bad_input(tmp_path, survey):
    data, lines = survey
    with pytest.raises(ValueError, match="segment"):
        F.segment_scatter(data.drop(columns="segment"), lines, NAMES, X_LABEL, Y_LABEL, tmp_path / "x")
    with pytest.raises(ValueError, match="format"):
        F.segment_scatter(data, lines, NAMES, X_LABEL, Y_LABEL, tmp_path / "x", formats=("jpg",))
    # Straight lines as intercept and slope are not drawn: the stage passes the fitted grid.
    with pytest.raises(ValueError, match="lines lacks column"):
        F.segment_scatter(data, pd.DataFrame({"segment": [1], "intercept": [0.5], "slope": [0.9]}),
                          NAMES, X_LABEL, Y_LABEL, tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- 2 criteria


def test_information_criteria(tmp_path):
    ms = pd.DataFrame({"k": [1, 2, 3, 4], "aic": [900.0, 850, 820, 819], "bic": [910.0, 870, 850, 860],
                       "sabic": [905.0, 860, 835, 838], "icl": [910.0, 880, 870, 890],
                       "chosen": [False, False, True, False]})
    rec = F.information_criteria(ms, tmp_path / "ic")
    check_record(rec)
    assert "chosen K = 3" in rec.caption
    assert "lower is better" in rec.caption and "log-likelihood" in rec.caption
    assert "BIC" in rec.caption and "ICL" in rec.caption


def test_information_criteria_single_k(tmp_path):
    ms = pd.DataFrame({"k": [1], "bic": [500.0], "chosen": [True]})
    rec = F.information_criteria(ms, tmp_path / "ic1", relative=False)
    check_record(rec)
    assert "K = 1\u20131" in rec.caption and "chosen K = 1" in rec.caption


# ---------------------------------------------------------------- 3 posterior


def test_posterior_certainty_array_and_dataframe(tmp_path):
    rng = np.random.default_rng(0)
    post = rng.dirichlet([0.5, 0.5, 0.5], 120)
    rec = F.posterior_certainty(post, NAMES, tmp_path / "post")
    check_record(rec)
    assert "120 respondents" in rec.caption and "0.33 = 1/K" in rec.caption
    assert f"{post.max(axis=1).mean():.2f}." in rec.caption
    frame = pd.DataFrame(post, columns=["posterior_1", "posterior_2", "posterior_3"])
    frame.insert(0, "respondent_id", range(120))
    frame.insert(1, "segment", post.argmax(axis=1) + 1)
    rec2 = F.posterior_certainty(frame, NAMES, tmp_path / "post2")
    assert rec2.caption == rec.caption


def test_posterior_certainty_k1_and_empty_segment(tmp_path):
    rec = F.posterior_certainty(np.ones((10, 1)), {1: "Everyone"}, tmp_path / "k1")
    check_record(rec)
    assert "K = 1" in rec.caption
    # Segment 3 gets nobody: still one panel, no crash.
    post = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [np.nan, np.nan, np.nan]])
    rec = F.posterior_certainty(post, NAMES, tmp_path / "empty3")
    check_record(rec)
    assert "2 respondents" in rec.caption


# ---------------------------------------------------------------- 4 forest


def _estimates(with_boot=True):
    est = pd.DataFrame({"segment": [1, 1, 2, 2, 3, 3], "term": ["intercept", "satisfaction"] * 3,
                        "estimate": [0.5, 0.9, 5.5, 0.1, 2.5, 0.05],
                        "ci_low": [0.1, 0.7, 5.0, -0.05, 1.9, -0.12],
                        "ci_high": [0.9, 1.1, 6.0, 0.25, 3.1, 0.22]})
    if with_boot:
        est["boot_ci_low"] = [0.0, 0.65, 4.9, -0.08, np.nan, np.nan]
        est["boot_ci_high"] = [1.0, 1.15, 6.1, 0.3, np.nan, np.nan]
    return est


def test_coefficient_forest(tmp_path):
    rec = F.coefficient_forest(_estimates(), NAMES, tmp_path / "forest", equivalence_margin=0.1)
    check_record(rec)
    assert "bootstrap percentile" in rec.caption
    assert "\u00b10.1 for satisfaction" in rec.caption
    assert "outcome scale points" in rec.caption  # units
    assert "2 interval(s) could not be estimated" in rec.caption


def test_coefficient_forest_without_boot_and_nan_model_ci(tmp_path):
    est = _estimates(with_boot=False)
    est.loc[5, ["ci_low", "ci_high"]] = np.nan
    rec = F.coefficient_forest(est.iloc[[1, 3, 5]], NAMES, tmp_path / "forest1")
    check_record(rec)
    assert "bootstrap" not in rec.caption and "shaded band" not in rec.caption
    assert "1 interval(s)" in rec.caption


# ---------------------------------------------------------------- 5 bootstrap


def test_bootstrap_stability(tmp_path):
    ari = np.r_[np.linspace(0.6, 1.0, 49), np.nan]
    rep = pd.DataFrame({"segment": [1, 2, 3], "reappearance": [0.97, 0.85, np.nan]})
    rec = F.bootstrap_stability(ari, rep, NAMES, tmp_path / "boot")
    check_record(rec)
    assert "49 bootstrap replicates" in rec.caption
    assert "1 replicate(s) failed" in rec.caption
    assert "(0.80)" in rec.caption  # median ARI
    assert "0\u20131" in rec.caption


def test_bootstrap_stability_no_replicates(tmp_path):
    rec = F.bootstrap_stability([], pd.DataFrame({"segment": [1], "reappearance": [np.nan]}),
                                {1: "All"}, tmp_path / "boot0")
    check_record(rec)
    assert "0 bootstrap replicates" in rec.caption


# ---------------------------------------------------------------- 6 profiles


def test_profile_heatmap(tmp_path):
    prof = pd.DataFrame({"variable": ["gender"] * 4 + ["age"] * 2,
                         "level": ["f", "f", "m", "m", None, None],
                         "segment": [1, 2, 1, 2, 1, 2], "value": [0.4, 0.6, 0.6, 0.4, 44.0, 51.5]})
    rec = F.profile_heatmap(prof, {1: "A", 2: "B"}, tmp_path / "prof", formats=("svg",))
    check_record(rec, ("svg",))
    svg = rec.paths[1].read_text()
    assert "percentage" in rec.caption and "mean" in rec.caption
    assert "<svg" in svg


def test_profile_heatmap_empty_and_constant_rows(tmp_path):
    empty = pd.DataFrame(columns=["variable", "level", "segment", "value"])
    rec = F.profile_heatmap(empty, NAMES, tmp_path / "empty")
    check_record(rec)
    assert "no profile variables" in rec.caption
    const = pd.DataFrame({"variable": ["x", "x", "y", "y"], "level": [None] * 4,
                          "segment": [1, 2, 1, 2], "value": [1.0, 1.0, np.nan, np.nan]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_record(F.profile_heatmap(const, NAMES, tmp_path / "const"))


# ---------------------------------------------------------------- 7 cleaning


def test_cleaning_summary(tmp_path):
    # Dollar signs must print literally, not switch on mathtext.
    rep = pd.DataFrame({"rule": ["duplicate_id", "tip $x^^y$ bonus", "out of range"],
                        "rows_affected": [3, 0, 12]})
    rec = F.cleaning_summary(rep, tmp_path / "clean")
    check_record(rec)
    assert "3 cleaning rules" in rec.caption and "total 15" in rec.caption
    assert "number of respondent rows" in rec.caption
    rec0 = F.cleaning_summary(rep.iloc[:0], tmp_path / "clean0")
    check_record(rec0)
    assert "no cleaning rules" in rec0.caption


# ---------------------------------------------------------------- CJK


def test_cjk_labels_do_not_crash_or_flood(tmp_path):
    est = _estimates(with_boot=False)
    est["term"] = est["term"].map({"intercept": "截距", "satisfaction": "满意度 satisfaction"})
    names = {1: "满意驱动型", 2: "忠诚型", 3: "冷漠型"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = F.coefficient_forest(est, names, tmp_path / "cjk")
        rec2 = F.cleaning_summary(pd.DataFrame({"rule": ["重复 ID"], "rows_affected": [2]}),
                                  tmp_path / "cjk2")
    check_record(rec)
    check_record(rec2)
    assert "满意度 satisfaction" in rec.caption
    glyph = [w for w in caught if "missing from font" in str(w.message)]
    assert glyph == []  # per-glyph warnings are collapsed
    summary = [w for w in caught if "CJK font" in str(w.message)]
    if F.cjk_font() is None:
        assert len(summary) == 2  # one per figure, not one per character
        assert "fonts-noto-cjk" in str(summary[0].message)
    else:
        assert summary == []
