"""Tests for trustseg.report.figures: files, sizes, captions, greyscale safety, edge cases."""

from __future__ import annotations

import struct
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

from trustseg.report import figures as F
from trustseg.report.figures import kit

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


def _flow(rules=("duplicate_id", "speeders"), dropped=(3, 12), kept=2):
    """report.csv and flagged.csv of a cleaning: respondents dropped by each rule (one by both), some kept."""
    n_read = 100
    flagged = [{"respondent_id": f"d{i}", "rules": rules[0], "action": "dropped"} for i in range(dropped[0] - 1)]
    flagged.append({"respondent_id": "both", "rules": "; ".join(rules), "action": "dropped"})
    flagged += [{"respondent_id": f"s{i}", "rules": rules[1], "action": "dropped"} for i in range(dropped[1] - 1)]
    flagged += [{"respondent_id": f"k{i}", "rules": "straightlining", "action": "kept"} for i in range(kept)]
    n_clean = n_read - (dropped[0] + dropped[1] - 1)
    report = pd.DataFrame([
        ("input", n_read, None, "read", ""),
        ("personal_data", 100, 100, "dropped columns", "email (e-mail addresses)"),
        ("missing_codes", 8, 11, "set to missing", "codes [-99]"),
        (rules[0], dropped[0], None, "flagged (first row kept)", ""),
        ("straightlining", kept, None, f"flagged: 0 dropped, {kept} kept", ""),
        (rules[1], dropped[1], None, "flagged", ""),
        ("flagged", dropped[0] + dropped[1] - 1 + kept, None, "dropped", ""),
        ("construct_score:trust", 2, None, "score missing", ""),
        ("clean", n_clean, None, "written", ""),
    ], columns=["rule", "rows_affected", "cells_affected", "action", "detail"])
    return report, pd.DataFrame(flagged)


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


def test_segment_scatter_caption_of_a_censored_fit_reads_as_a_sentence(tmp_path, survey):
    # the bank and ECSI runs read "each segment's expected score, censored at the ends of the scale from its
    # censored regression", as if the scale's ends came from the regression
    data, lines = survey
    rec = F.segment_scatter(data, lines, NAMES, X_LABEL, Y_LABEL, tmp_path / "c", formats=(), family="censored",
                            y_scale=(1, 7))
    assert "each segment's expected score, censored at the ends of the scale, from its censored regression" in \
        rec.caption


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
    rep, flagged = _flow()
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    a = F.participant_flow(rep, flagged, tmp_path / "a", formats=("pdf", "svg"))
    b = F.participant_flow(rep, flagged, tmp_path / "b", formats=("pdf", "svg"))
    for first, second in zip(a.paths, b.paths):
        assert first.read_bytes() == second.read_bytes(), first.name
    pdf, svg = a.paths[1].read_bytes(), a.paths[2].read_text()
    assert b"CreationDate" not in pdf and "<dc:date>" not in svg
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14 22:13:20 UTC
    c = F.participant_flow(rep, flagged, tmp_path / "c", formats=("pdf", "svg"))
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


def test_information_criteria_marks_flagged_k(tmp_path):
    # K = 4 has the lowest BIC but sits on the variance floor, so K = 3 was chosen: the figure must show why
    ms = pd.DataFrame({"k": [1, 2, 3, 4], "bic": [910.0, 870, 850, 840], "chosen": [False, False, True, False],
                       "problems": ["", "", "", "variance_floor(2 segments)"]})
    rec = F.information_criteria(ms, tmp_path / "icf")
    check_record(rec)
    assert "Grey bands mark K = 4" in rec.caption and "problems column" in rec.caption
    plain = F.information_criteria(ms.assign(problems=""), tmp_path / "icn")
    assert "Grey bands" not in plain.caption


def test_information_criteria_single_k(tmp_path):
    ms = pd.DataFrame({"k": [1], "bic": [500.0], "chosen": [True]})
    rec = F.information_criteria(ms, tmp_path / "ic1", relative=False)
    check_record(rec)
    assert "K = 1\u20131" in rec.caption and "chosen K = 1" in rec.caption


def test_information_criteria_names_the_rule_and_keeps_small_differences_readable(tmp_path, layouts):
    # The bank survey's criteria (K = 1-4, censored fits): ICL's entropy term puts it 127-257 above its minimum
    # while AIC, AIC3, BIC and SABIC differ by 0-30, so on a linear axis their minima could not be read.
    ms = pd.DataFrame({"k": [1, 2, 3, 4], "aic": [910.31, 884.30, 882.15, 884.37],
                       "aic3": [913.31, 891.30, 893.15, 899.37], "bic": [920.88, 908.95, 920.88, 937.19],
                       "sabic": [911.37, 886.76, 886.01, 889.64], "icl": [920.88, 1047.53, 1097.40, 1178.12],
                       "chosen": [False, True, False, False], "choice_note": ["", "", "", ""]})
    rec = F.information_criteria(ms, tmp_path / "ic", formats=(), criterion="aic3")
    assert layouts[-1]["yscale"] == ["symlog"]
    check_layout(layouts[-1])
    # the criterion that chose K is drawn although it is not among the default criteria, and named
    assert "AIC3" in rec.caption.split(")")[0] and "It was chosen by the lowest AIC3." in rec.caption
    assert "chosen K = 2, lowest AIC3" in " ".join(text for text, _ in layouts[-1]["texts"]).replace("\n", " ")
    assert "linear from 0 to 10 and logarithmic above" in rec.caption
    # the notebooks take a figure's first sentence as its alt text: no abbreviation's full stop cuts it short
    # (it read "Information criteria (AIC, BIC, Sample-size adj")
    assert rec.caption.split(". ")[0].endswith("K = 1\u20134 (SABIC: the sample-size adjusted BIC)")
    # small differences only: a plain linear axis, and the caption says nothing of a logarithmic one
    small = pd.DataFrame({"k": [1, 2, 3], "bic": [910.0, 903.0, 908.0], "chosen": [False, True, False]})
    rec = F.information_criteria(small, tmp_path / "ic_small", formats=(), criterion="bic")
    assert layouts[-1]["yscale"] == ["linear"] and "logarithmic" not in rec.caption
    # K chosen by the likelihood-ratio tests: the rule and the selection's own note
    note = "K = 1 vs 2: p = 0.010; K = 2 vs 3: p = 0.300, so K = 2."
    rec = F.information_criteria(small.assign(choice_note=["", note, ""]), tmp_path / "ic_lr", formats=(),
                                 criterion="lr_test")
    assert "chosen by sequential parametric bootstrap likelihood-ratio tests" in rec.caption
    assert rec.caption.endswith(note)


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
    assert "in outcome points" in rec.caption  # units
    assert "2 interval(s) could not be estimated" in rec.caption


def test_coefficient_forest_without_boot_and_nan_model_ci(tmp_path):
    est = _estimates(with_boot=False)
    est.loc[5, ["ci_low", "ci_high"]] = np.nan
    rec = F.coefficient_forest(est.iloc[[1, 3, 5]], NAMES, tmp_path / "forest1")
    check_record(rec)
    assert "bootstrap" not in rec.caption and "shaded band" not in rec.caption
    assert "1 interval(s)" in rec.caption


def test_coefficient_forest_speaks_of_intercepts_off_the_scale_and_rarely_found_segments(tmp_path):
    # The ECSI mobile-phone survey (censored, K = 2, 50 refits): both intercepts lie off the 1-10 scale, and
    # segment 2 (6 respondents) was found again in 22% of the refits, its bootstrap slope interval crossing zero.
    est = pd.DataFrame({"segment": [1, 1, 2, 2], "term": ["(Intercept)", "satisfaction"] * 2,
                        "estimate": [-2.55, 1.39, 29.04, -2.84], "ci_low": [-3.93, 1.20, 14.59, -4.56],
                        "ci_high": [-1.17, 1.58, 43.49, -1.12], "boot_ci_low": [-6.48, 1.05, -2.38, -3.11],
                        "boot_ci_high": [0.11, 1.94, 31.62, 1.31], "reappearance": [0.88, 0.88, 0.22, 0.22]})
    names = {1: "Satisfaction-driven", 2: "Satisfaction-averse"}
    rec = F.coefficient_forest(est, names, tmp_path / "f", equivalence_margin=0.1, formats=(),
                               outcome_scale=(1, 10), predictor_scale=(1, 10))
    assert "The intercepts of segments 1 and 2 lie outside the outcome's 1\u201310 scale." in rec.caption
    assert ("Segment 2 was found again in only 22% of the bootstrap refits" in rec.caption
            and "not the sampling spread of its coefficients" in rec.caption)
    assert "Segment 1 was found" not in rec.caption
    # the table's "(Intercept)" is an intercept in words: "coefficients ((Intercept), satisfaction)" read badly
    assert "coefficients (intercept, satisfaction)" in rec.caption
    one = F.coefficient_forest(est.assign(estimate=[2.0, 1.39, 29.04, -2.84], reappearance=0.9), names,
                               tmp_path / "g", formats=(), outcome_scale=(1, 10))
    assert "The intercept of segment 2 lies outside" in one.caption and "found again" not in one.caption


def _render_report_caption(figure: str, replicates: int, equations) -> str:
    """A figure's caption in the HTML report (workflow/report/<figure>.rst), rendered as Snakemake renders it."""
    from types import SimpleNamespace

    from jinja2 import Environment

    analysis = {"focal": None, "outcome": "loyalty", "predictors": ["sat"], "equivalence_margin": 0.1,
                "criterion": "lr_test" if replicates == 0 else "bic",
                "equations": [{"outcome": o, "predictors": p} for o, p in equations] if equations else []}
    snakemake = SimpleNamespace(config={"analyses": {"a": analysis}, "bootstrap": {"replicates": replicates}},
                                wildcards=SimpleNamespace(analysis="a"))
    template = (REPO / "workflow" / "report" / f"{figure}.rst").read_text(encoding="utf-8")
    return Environment(trim_blocks=True, lstrip_blocks=True).from_string(template).render(snakemake=snakemake)


CHAIN = [["trust", ["sat"]], ["loyalty", ["sat", "trust"]]]


@pytest.mark.parametrize("replicates,equations", [(0, None), (50, None), (50, CHAIN), (0, CHAIN)])
def test_report_captions_of_the_figures_say_what_this_run_drew(replicates, equations):
    """The report's captions promised dashed bootstrap intervals in a run without a bootstrap, one banded focal
    slope in a chain (whose every path is banded) and a fitted line with its band in a chain's scatter (which
    draws each segment's total-effect line, without a band)."""
    forest = _render_report_caption("coefficient_forest", replicates, equations)
    scatter = _render_report_caption("segment_scatter", replicates, equations)
    assert ("dashed" in forest) == (replicates > 0)
    if equations:
        assert "Path coefficients of the chain ending in loyalty" in forest and "every path's slope" in forest
        assert "total-effect line" in scatter and "no band" in scatter and "confidence band" not in scatter
        effects = _render_report_caption("effects_forest", replicates, equations)
        assert ("dashed" in effects) == (replicates > 0)
    else:
        assert "Regression coefficients of loyalty" in forest and "the sat slope" in forest
        assert "fitted line and pointwise confidence band" in scatter
    assert "flagged respondents kept" in _render_report_caption("participant_flow", replicates, equations)
    # the rule that chose K in words, not the config's value ("criterion bic")
    criteria = _render_report_caption("information_criteria", replicates, equations)
    assert ("(lowest BIC)" in criteria) == (replicates > 0) and "criterion bic" not in criteria
    assert ("likelihood-ratio tests" in criteria) == (replicates == 0)


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


def test_profile_heatmap_caption_speaks_of_this_table_and_its_tests(tmp_path):
    # The bank survey profiles gender only: its caption spoke of numeric variables and means it did not have,
    # and gave no test, although a 58% against 62% split is shaded as if it differed (chi-square p = 0.474).
    prof = pd.DataFrame({"variable": ["gender"] * 4, "kind": "categorical", "level": ["female", "female", "male",
                         "male"], "segment": [1, 2, 1, 2], "value": [0.576, 0.620, 0.424, 0.380],
                         "test": "chi-square", "p_value": 0.4736})
    rec = F.profile_heatmap(prof, {1: "A", 2: "B"}, tmp_path / "prof", formats=())
    assert "mean" not in rec.caption and "numeric" not in rec.caption
    assert rec.caption.endswith("Shading is no test; each variable's test of a difference between the segments "
                                "(profiles.csv): gender chi-square p = 0.474.")
    ages = pd.DataFrame({"variable": "age", "level": None, "segment": [1, 2], "value": [3.35, 3.33]})
    means_only = F.profile_heatmap(ages, {1: "A", 2: "B"}, tmp_path / "ages", formats=())
    assert "percentage" not in means_only.caption and "segment mean" in means_only.caption
    assert "test" not in means_only.caption  # no tests in the table, none claimed


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


def test_participant_flow_counts_respondents_and_keeps_other_changes_off_the_flow(tmp_path, layouts):
    rep, flagged = _flow()
    rec = F.participant_flow(rep, flagged, tmp_path / "flow")
    check_record(rec)
    check_layout(layouts[-1])
    # one respondent excluded by both rules is counted once, at the first: 100 - 3 - 11 = 86
    assert "of the 100 respondents" in rec.caption and "3 were excluded by duplicate id" in rec.caption
    assert "11 were excluded by speeders" in rec.caption and "leaving 86 in the clean data set" in rec.caption
    texts = " ".join(text for text, _ in layouts[-1]["texts"])
    assert "Survey file: 100" in texts and "Clean data set: 86" in texts and "97 remain" in texts
    # a dropped column and answers set to missing are not respondents: beside the flow, never on it
    assert "personal data: 1 column dropped" in texts.replace("\n", " ")
    assert "11 answers set to missing" in texts.replace("\n", " ")
    assert "flagged but kept, straightlining: 2" in texts.replace("\n", " ")
    # kept respondents are not changed ones (the bank survey's 3 straight-liners were listed as "Kept, with
    # changes"), and the caption counts them as the figure does
    assert "Changes and flags that exclude nobody:" in texts and "with changes" not in texts
    assert "leaving 86 in the clean data set (kept although flagged: 2 by straightlining)." in rec.caption
    assert "rows affected" not in rec.caption and "row actions" not in rec.caption
    # dollar signs print literally, and a cleaning that excluded nobody says so
    rep0 = pd.DataFrame([("input", 5, None, "read", ""), ("tip $x^^y$", 0, None, "flagged", ""),
                         ("clean", 5, None, "written", "")],
                        columns=["rule", "rows_affected", "cells_affected", "action", "detail"])
    rec0 = F.participant_flow(rep0, pd.DataFrame(columns=["respondent_id", "rules", "action"]), tmp_path / "flow0")
    check_record(rec0)
    assert "none was excluded, leaving 5" in rec0.caption


# ---------------------------------------------------------------- CJK


def test_cjk_labels_do_not_crash_or_flood(tmp_path):
    est = _estimates(with_boot=False)
    est["term"] = est["term"].map({"intercept": "截距", "satisfaction": "满意度 satisfaction"})
    names = {1: "满意驱动型", 2: "忠诚型", 3: "冷漠型"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = F.coefficient_forest(est, names, tmp_path / "cjk")
        rep, flagged = _flow(rules=("重复 ID", "speeders"))
        rec2 = F.participant_flow(rep, flagged, tmp_path / "cjk2")
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


# ---------------------------------------------------------------- layout on any data set
#
# Every figure is drawn for data built here with 2-6 segments, one or two
# predictors and short or long names, and its layout is checked from the
# renderer's window extents: no two texts (legend entries, titles, labels,
# tick labels, annotations) overlap, no text leaves the figure, no legend
# covers a plotting area, and the outcome axis stays on the outcome's scale.

import re  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.text import Annotation, Text  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHORT = {"outcome": "rep", "focal": "sat", "other": "trust", "segment": "Seg"}
LONG = {"outcome": "intention to renew the membership and play again next season",
        "focal": "overall satisfaction with the golf club, its course and its facilities",
        "other": "trust in the honesty and reliability of the club's management and staff",
        "segment": "Satisfaction-driven members with the lowest repurchase intention of all"}


@pytest.fixture
def layouts(monkeypatch):
    """The texts of every figure drawn in the test, with their window extents, taken just before saving."""
    recorded = []
    save = kit.save

    def measured_save(fig, stem, formats, caption):
        recorded.append(_layout(fig))
        return save(fig, stem, formats, caption)

    monkeypatch.setattr(kit, "save", measured_save)
    return recorded


def _layout(fig) -> dict:
    with kit.rendering():
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
    renderer = canvas.get_renderer()
    # Tick labels outside an axis's view are not drawn (their positions are stale): leave them out.
    undrawn = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            span = hi - lo
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                # an axes drawn without its axis (a path diagram) draws no tick label either
                if not ax.axison or not lo - 1e-9 * span <= tick.get_loc() <= hi + 1e-9 * span:
                    undrawn |= {id(tick.label1), id(tick.label2)}
    texts = [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and id(t) not in undrawn and t.figure is fig]
    legends = [leg.get_window_extent(renderer) for leg in fig.legends]
    legends += [ax.get_legend().get_window_extent(renderer) for ax in fig.axes if ax.get_legend()]
    return {"texts": texts, "legends": legends, "axes": [ax.get_window_extent(renderer) for ax in fig.axes],
            "figure": fig.bbox, "fig": fig,
            # the figure is cleared once saved: keep what the tests read of its axes
            "ylim": [ax.get_ylim() for ax in fig.axes], "yticks": [list(ax.get_yticks()) for ax in fig.axes],
            "yscale": [ax.get_yscale() for ax in fig.axes],
            "arrow_caps": [a.arrow_patch.get_capstyle() for a in fig.findobj(Annotation)
                           if a.arrow_patch is not None and a.arrow_patch.get_linestyle() not in ("solid", "-")]}


def _overlap(a, b, tolerance=0.5) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance) and (min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance)


def check_layout(layout) -> None:
    texts = layout["texts"]
    for i, (text_a, box_a) in enumerate(texts):
        page = layout["figure"]
        assert (box_a.x0 >= page.x0 - 1 and box_a.y0 >= page.y0 - 1 and box_a.x1 <= page.x1 + 1
                and box_a.y1 <= page.y1 + 1), f"{text_a!r} leaves the figure"
        for text_b, box_b in texts[i + 1:]:
            assert not _overlap(box_a, box_b), f"{text_a!r} overlaps {text_b!r}"
    for legend in layout["legends"]:
        for axes in layout["axes"]:
            assert not _overlap(legend, axes), "a legend covers a plotting area"


def _names(k, words):
    return {s: (f"{words['segment']} {s}" if s % 2 else f"Loyal regardless {s}") for s in range(1, k + 1)}


def _case_data(k: int, two_predictors: bool, rng):
    """Respondents on a 1-5 scale with one-item outcome, and fitted lines that leave the scale for segment 1."""
    n = 40 * k
    seg = np.repeat(np.arange(1, k + 1), 40)
    x = np.round(rng.uniform(1, 5, n) * 3) / 3  # mean of three 1-5 items
    coef = {s: (-0.6 + 1.1 * (s - 1), 1.25 - 0.25 * (s - 1)) for s in range(1, k + 1)}
    y = np.clip(np.round([coef[s][0] + coef[s][1] * v + rng.normal(0, 0.5) for s, v in zip(seg, x)]), 1, 5)
    xs = np.linspace(1, 5, 30)
    grid = pd.concat([pd.DataFrame({"segment": s, "x": xs, "fit": b0 + b1 * xs, "lower": b0 + b1 * xs - 0.4,
                                    "upper": b0 + b1 * xs + 0.4}) for s, (b0, b1) in coef.items()])
    return pd.DataFrame({"x": x, "y": y, "segment": seg}), grid, coef


CASES = [(2, False, SHORT), (3, True, LONG), (4, True, SHORT), (5, False, LONG), (6, True, LONG), (6, False, SHORT)]


@pytest.mark.parametrize("k,two_predictors,words", CASES,
                         ids=[f"K{k}-{'2pred' if t else '1pred'}-{'long' if w is LONG else 'short'}"
                              for k, t, w in CASES])
def test_every_figure_is_laid_out_without_collisions(tmp_path, layouts, k, two_predictors, words):
    rng = np.random.default_rng(k)
    names = _names(k, words)
    data, grid, coef = _case_data(k, two_predictors, rng)
    held = {words["other"]: 3.41} if two_predictors else None
    x_label = f"{words['focal']} (mean of 3 items, 1-5 scale)"
    y_label = f"{words['outcome']} (one item: rep_renew, 1-5 scale)"
    scatter = F.segment_scatter(data, grid, names, x_label, y_label, tmp_path / "scatter", formats=(),
                                x_scale=(1, 5), y_scale=(1, 5), held_at_mean=held)
    ks = np.arange(1, k + 2)
    F.information_criteria(pd.DataFrame({"k": ks, "aic": 900 - 10 * ks, "bic": 910 - 8 * ks + (ks - k) ** 2,
                                         "sabic": 905 - 9 * ks, "icl": 915 - 5 * ks, "chosen": ks == k}),
                           tmp_path / "ic", formats=())
    F.posterior_certainty(rng.dirichlet(np.full(k, 0.4), 50 * k), names, tmp_path / "post", formats=())
    terms = ["(Intercept)", words["focal"]] + ([words["other"]] if two_predictors else [])
    est = pd.DataFrame([{"segment": s, "term": t, "estimate": b, "ci_low": b - 0.3, "ci_high": b + 0.3,
                         "boot_ci_low": b - 0.4 if s < k else np.nan, "boot_ci_high": b + 0.4 if s < k else np.nan}
                        for s, (b0, b1) in coef.items() for t, b in zip(terms, [b0, b1, 0.05])])
    forest = F.coefficient_forest(est, names, tmp_path / "forest", equivalence_margin=0.1, focal_term=words["focal"],
                                  formats=(), outcome_scale=(1, 5), predictor_scale=(1, 5))
    F.bootstrap_stability(rng.uniform(0.4, 1.0, 30),
                          pd.DataFrame({"segment": range(1, k + 1), "reappearance": np.linspace(1.0, 0.3, k)}),
                          names, tmp_path / "boot", formats=())
    levels = ["<30k", "30-60k", "60-100k", ">100k"] if words is SHORT else [
        "Less than $30,000 a year before tax", "$30,000 to $59,999 a year before tax", "$60,000 or more"]
    prof = pd.DataFrame([{"variable": "income" if words is SHORT else "household income band of the member",
                          "level": lv, "segment": s, "value": 1 / len(levels)} for lv in levels for s in names]
                        + [{"variable": "age", "level": None, "segment": s, "value": 40.0 + s} for s in names])
    F.profile_heatmap(prof, names, tmp_path / "prof", formats=())
    rep, flagged = _flow(rules=("duplicate_id", "straight-lining across every rating block of the questionnaire"))
    F.participant_flow(rep, flagged, tmp_path / "clean", formats=())
    assert len(layouts) == 7
    for layout in layouts:
        check_layout(layout)
    # The outcome axis spans the 1-5 scale, no more than a small margin beyond, with ticks on the scale only.
    lo, hi = layouts[0]["ylim"][0]
    assert 1 - 0.35 <= lo < 1 and 5 < hi <= 5 + 0.35, (lo, hi)
    assert all(1 <= t <= 5 for t in layouts[0]["yticks"][0] if lo <= t <= hi)
    # Segment 1's line runs from -0.6 + 1.25 = 0.65 to 5.65, beyond the scale at both ends: cut off, and said so.
    assert re.search(r"fitted lines? of segments? 1\b[^.]*would pass beyond the 1\u20135 scale", scatter.caption)
    assert "cut off at the scale's end" in scatter.caption
    assert "one item: rep_renew" in scatter.caption and "mean of 1 items" not in scatter.caption
    if two_predictors:
        assert f"{words['other']} at its mean (3.41)" in scatter.caption
    else:
        assert "held" not in scatter.caption and "at its mean" not in scatter.caption
    assert "outside the outcome's 1\u20135 scale" in forest.caption  # segment 1's intercept, -0.6
    assert "outside the predictor's 1\u20135 scale" in forest.caption


def test_check_layout_notices_overlapping_text(tmp_path, layouts):
    """The layout check can fail: two texts drawn on top of each other are caught."""
    rep, flagged = _flow()
    F.participant_flow(rep, flagged, tmp_path / "a", formats=())
    fig = layouts[0]["fig"]
    fig.clear()
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, "first label", transform=ax.transAxes)
    ax.text(0.52, 0.5, "second label", transform=ax.transAxes)
    layout = _layout(fig)
    with pytest.raises(AssertionError, match="overlaps"):
        check_layout(layout)


def test_scatter_without_a_scale_fits_the_data_and_says_nothing_of_one(tmp_path):
    data, grid, _ = _case_data(2, False, np.random.default_rng(0))
    rec = F.segment_scatter(data, grid, None, "x (as in the data)", "y (as in the data)", tmp_path / "s", formats=())
    assert "scale" not in rec.caption.replace("scale points", "")
    with pytest.raises(ValueError, match="y_scale"):
        F.segment_scatter(data, grid, None, "x", "y", tmp_path / "t", y_scale=(5, 1))


def test_wrap_breaks_at_spaces_and_hyphens_and_inside_long_words():
    assert kit.wrap("Satisfaction-driven, lowest loyalty", 14) == "Satisfaction-\ndriven, lowest\nloyalty"
    assert kit.wrap("n\u00a0=\u00a0230 segment", 7) == "n\u00a0=\u00a0230\nsegment"
    assert all(kit.display_width(line) <= 8 for line in kit.wrap("满意驱动型忠诚客户群体", 8).split("\n"))
    assert kit.wrap("abcdefghij", 4) == "abcd\nefgh\nij"


# ---------------------------------------------------------------- the figure stage on the real surveys


def _example_run(example: str, tmp_path: Path) -> dict:
    """Clean one shared example survey and fit it quickly (K = 1..3, two starts): the stage's input files."""
    from trustseg.config import analysis_variables, validate_config
    from trustseg.model.bootstrap import bootstrap_replicates, summarise_bootstrap
    from trustseg.model.selection import select_segments
    from trustseg.stages.common import analysis_data, write_csv
    from trustseg.stages.segments import fitted_lines, segment_table
    from trustseg.survey.cleaning import clean_survey
    from trustseg.survey.io import read_survey

    config = validate_config(yaml.safe_load((REPO / "config" / "examples" / f"{example}.yaml").read_text()))
    config["data"]["path"] = str(REPO / config["data"]["path"])
    clean = clean_survey(read_survey(config["data"]["path"], config["data"]), config).clean
    name = next(iter(config["analyses"]))
    outcome, predictors, focal = analysis_variables(config, name)
    X, y, _, ids, _ = analysis_data(clean, outcome, predictors, name)
    table, models = select_segments(X, y, k_range=range(1, 4), n_init=2, random_state=0, return_models=True)
    model = models[3]
    inference = model.inference(X, y, alpha=0.05, equivalence_margin=0.1)
    posteriors = model.predict_proba(X, y)
    labels = posteriors.argmax(axis=1) + 1
    segments = segment_table(inference, focal, outcome, pd.Series(labels).value_counts().to_dict(),
                             config["constructs"][outcome]["scale"])
    paths = {key: tmp_path / f"{key}.csv" for key in
             ("clean", "segments", "assignments", "fitted_lines", "model_selection", "bootstrap", "replicates")}
    write_csv(clean, paths["clean"])
    write_csv(segments, paths["segments"])
    assignments = pd.DataFrame({"respondent_id": ids.to_numpy(), "segment": labels})
    for j in range(posteriors.shape[1]):
        assignments[f"posterior_{j + 1}"] = posteriors[:, j]
    write_csv(assignments, paths["assignments"])
    write_csv(fitted_lines(inference, X, focal), paths["fitted_lines"])
    write_csv(table, paths["model_selection"])
    replicates = bootstrap_replicates(X, y, model, range(3), seed=0, n_init=1)
    write_csv(replicates, paths["replicates"])
    write_csv(summarise_bootstrap(replicates, segments, alpha=0.05), paths["bootstrap"])
    return {"config": config, "name": name, "outcome": outcome, "predictors": predictors, "focal": focal,
            "paths": {k: str(v) for k, v in paths.items()}}


@pytest.mark.filterwarnings("ignore:the observed information is not positive definite")  # two starts only
@pytest.mark.parametrize("example", ["ecsi_mobi", "bank", "corp_rep"])
def test_figure_stage_draws_the_shared_example_surveys(example, tmp_path, layouts):
    from trustseg.stages import figures as stage
    from trustseg.stages.profiles import profiles

    run = _example_run(example, tmp_path)
    config, paths = run["config"], run["paths"]
    out = tmp_path / "figures"
    stage.segment_figures(
        paths["clean"], run["name"], paths, str(out), outcome=run["outcome"], predictors=run["predictors"],
        focal=run["focal"], alpha=0.05, equivalence_margin=0.1,
        constructs={v: config["constructs"][v] for v in (run["focal"], run["outcome"])},
        weight_column=None, formats=(), seed=1)
    stage.bootstrap_figure(paths["segments"], paths["bootstrap"], paths["replicates"],
                           str(out / "bootstrap_stability"), ())
    profiles(paths["clean"], paths["assignments"], run["name"],
             {"profiles": str(tmp_path / "profiles.csv"), "membership": str(tmp_path / "membership.csv")},
             variables=config["profile"], weight_column=None, seed=1, outcome=run["outcome"],
             predictors=run["predictors"], profile_order=config["profile_order"], data_path=config["data"]["path"])
    stage.profile_figure(paths["segments"], str(tmp_path / "profiles.csv"), str(out / "profile_heatmap"), ())
    assert len(layouts) == 6
    for layout in layouts:
        check_layout(layout)
    captions = {**yaml.safe_load((out / "captions_segments.json").read_text())}
    scatter = captions["segment_scatter"]["caption"]
    assert "mean of 1 items" not in scatter
    lo, hi = config["constructs"][run["outcome"]]["scale"]
    ylim = layouts[0]["ylim"][0]
    assert lo - 0.2 * (hi - lo) < ylim[0] < lo and hi < ylim[1] < hi + 0.2 * (hi - lo), ylim
    if example == "corp_rep":  # satisfaction is the single item cusa
        assert re.search(r"Satisfaction \(one item: cusa, 1-7 scale\)", scatter)


# ---------------------------------------------------------------- a chain's figures on the ECSI survey


def _ecsi_chain_effects() -> pd.DataFrame:
    """effects.csv of the chain satisfaction -> trust -> loyalty on the ECSI survey (K = 2, 50 refits), rounded."""
    rows = [
        (1, "path", "satisfaction → trust", 0.784, 0.063, 0.660, 0.907, "drives_up"),
        (1, "path", "satisfaction → loyalty", 1.365, 0.136, 1.099, 1.631, "drives_up"),
        (1, "path", "trust → loyalty", 0.103, 0.110, -0.112, 0.317, "inconclusive"),
        (1, "direct", "satisfaction → loyalty", 1.365, 0.136, 1.099, 1.631, "drives_up"),
        (1, "indirect", "satisfaction → trust → loyalty", 0.080, 0.086, -0.087, 0.248, "inconclusive"),
        (1, "total", "satisfaction → loyalty", 1.445, 0.105, 1.239, 1.652, "drives_up"),
        (2, "path", "satisfaction → trust", -0.073, 0.382, -0.822, 0.677, "inconclusive"),
        (2, "path", "satisfaction → loyalty", -0.637, 0.403, -1.426, 0.152, "inconclusive"),
        (2, "path", "trust → loyalty", -0.798, 0.242, -1.271, -0.324, "drives_down"),
        (2, "direct", "satisfaction → loyalty", -0.637, 0.403, -1.426, 0.152, "inconclusive"),
        (2, "indirect", "satisfaction → trust → loyalty", 0.058, 0.308, -0.546, 0.662, "inconclusive"),
        (2, "total", "satisfaction → loyalty", -0.579, 0.489, -1.538, 0.380, "inconclusive"),
    ]
    return pd.DataFrame(rows, columns=["segment", "kind", "path", "estimate", "std_error", "ci_low", "ci_high",
                                       "verdict"])


def test_path_styles_look_as_the_legend_names_them():
    """On the ECSI chain, inconclusive paths (2 on, 2 off) looked like the dashed 'shown negligible' ones, though
    the legend calls them dotted: every 'dotted' style is dots, every 'dashed' one dashes, and no two verdicts
    that mean different things share a look."""
    from trustseg.report.figures.chains import PATH_STYLE_WORDS, PATH_STYLES

    looks = {}
    for verdict, words in PATH_STYLE_WORDS.items():
        width, dash, grey = PATH_STYLES[verdict]
        on = None if dash == "solid" else dash[1][0]
        if "dotted" in words:
            assert on is not None and on <= width, (verdict, dash)  # a dot: no longer than the line is wide
        elif "dashed" in words:
            assert on is not None and on >= 3, (verdict, dash)
        else:
            assert "solid" in words or "dash-dot" in words
        looks[verdict] = (round(width), dash, grey)
    assert len(set(looks.values())) == len(looks)


def test_chain_figures_of_the_ecsi_survey_are_laid_out_without_collisions(tmp_path, layouts):
    effects = _ecsi_chain_effects()
    names = {1: "Satisfaction-driven without trust", 2: "Satisfaction effect unclear, high loyalty"}
    diagram = F.path_diagram(effects, names, tmp_path / "paths", formats=())
    forest = F.effects_forest(effects, names, tmp_path / "effects", equivalence_margin=0.1, formats=())
    for layout in layouts:
        check_layout(layout)
    texts = " ".join(text for text, _ in layouts[0]["texts"])
    assert "−0.80\n[−1.27, −0.32]" in texts and "total 1.45 [1.24, 1.65] (drives up)" in texts
    assert "thin dotted: inconclusive" in diagram.caption and "shown negligible" in diagram.caption
    # dotted and dashed arrows with butt caps: an arrow's default round caps drew the thick dotted "drives down"
    # path (ECSI segment 2, trust -> loyalty) as thick dashes
    assert len(layouts[0]["arrow_caps"]) == 4 and set(layouts[0]["arrow_caps"]) == {"butt"}
    assert "(±0.1)" in forest.caption
