"""Sentences written from a run's numbers: verdicts, comparisons, the choice of K, stability, profiles, chains.

Every sentence states only what a table of ``results/`` supports, in the
units of the analysis's outcome family, and names the run's own variables.
"""

from __future__ import annotations

import math

import pandas as pd

from trustseg.model.diagnostics import problems_phrase
from trustseg.model.families import family_class
from trustseg.render import join_words
from trustseg.report.naming import against_verdict
from trustseg.report.numbers import (
    category_text,
    coefficient_unit,
    finite,
    fmt_ci,
    fmt_estimate,
    fmt_interval,
    fmt_p,
    fmt_pct,
    higher_is_of,
    label,
    pct_text,
    text_of,
)
from trustseg.report.results import (
    CORRECTED,
    CRITERIA,
    AnalysisSettings,
    classification_summary,
    odds_ratios,
    on_slope_basis,
    profile_tests,
    reference_segment,
    segment_names,
    segment_summary,
)


def _moves(slope: float) -> str:
    return "rises" if slope > 0 else "falls"


def slope_words(slope: float, settings: AnalysisSettings, std_error=None, only: bool = False,
                unit: str | None = None) -> str:
    """How the outcome moves with the focal predictor, in the unit of the family's coefficients.

    "repurchase rises 0.47 points per satisfaction point" for a normal
    outcome; "trust rises 0.47 latent points per satisfaction point" for a
    censored one (the score before censoring at the scale's ends); "overall
    satisfaction rises with price: 0.89 log odds of a higher answer per
    price point" for an ordinal one, never "points".
    """
    focal, outcome = label(settings.focal), label(settings.outcome)
    unit = unit or settings.slope_unit
    size = ("only " if only else "") + fmt_estimate(abs(slope), std_error)
    if unit == "outcome points":
        return f"{outcome} {_moves(slope)} {size} points per {focal} point"
    if unit == "latent outcome points":
        return f"latent {outcome} {_moves(slope)} {size} points per {focal} point (the score before censoring)"
    return f"{outcome} {_moves(slope)} with {focal}: {size} {unit} per {focal} point"


def _against_reason(settings: AnalysisSettings) -> str:
    """Why a direction is the expected one: the outcome's direction, or config key ``expected``."""
    focal, outcome = label(settings.focal), label(settings.outcome)
    way = "raise" if settings.focal_sign > 0 else "lower"
    if settings.focal in settings.expected:
        return f"{focal} is expected to {way} {outcome} (config key expected)"
    return f"higher {outcome} is {settings.higher_is}, so {focal} would be expected to {way} it"


def _basis_note(row) -> str:
    """Which slope a sentence quotes when the run corrected for measurement error (column ``slope_basis``)."""
    basis = row.get("slope_basis")
    if not isinstance(basis, str) or not basis:
        return ""
    return ", " + ("corrected for measurement error" if basis == CORRECTED
                   else "the scores' slope, not corrected for measurement error")


def segment_sentence(row: pd.Series | dict, settings: AnalysisSettings) -> str:
    """One plain-language sentence about one segment's focal slope (a row of :func:`segment_summary`).

    Read in the unit of the analysis's outcome family, against the focal
    predictor's expected direction (``settings.higher_is`` and
    ``settings.expected``); a segment moved the other way is said to run
    against it, never called an anomaly.  With Holm-adjusted verdicts
    (columns ``p_zero_adjusted``, ``p_tost_adjusted``) the sentence quotes
    the adjusted p-values.  An inconclusive segment is said to be one.
    """
    focal, outcome = label(settings.focal), label(settings.outcome)
    slope, lo, hi = float(row["slope"]), float(row["ci_low"]), float(row["ci_high"])
    se = row.get("std_error")
    conf = f"{pct_text(settings.ci_level)} CI {fmt_interval(lo, hi, se)}{_basis_note(row)}"
    head = f"In segment {int(row['segment'])} ({row['name']}, {fmt_pct(row['share'])} of respondents)"
    verdict = row.get("verdict", "")
    band = f"\u00b1{settings.equivalence_margin:g} {settings.slope_unit} per {focal} point"
    adjusted = finite(row.get("p_tost_adjusted"))
    tost = adjusted if adjusted is not None else finite(row.get("p_tost"))
    tost_txt = f" (TOST{', Holm-adjusted' if adjusted is not None else ''} {fmt_p(tost)})" if tost is not None else ""
    if verdict in ("drives_up", "drives_down"):
        way = "up" if verdict == "drives_up" else "down"
        text = f"{head} {slope_words(slope, settings, se)} ({conf}): {focal} drives {outcome} {way} here"
        if verdict == against_verdict(settings.higher_is, settings.expected, settings.focal):
            text += f", against the expected direction ({_against_reason(settings)})"
        return text + "."
    if verdict == "negligible":
        return (f"{head} {slope_words(slope, settings, se, only=True)} ({conf}): the slope differs from zero, but the "
                f"equivalence test{tost_txt} places it within {band}, so {focal} has a real but negligible effect "
                f"on {outcome} in this segment.")
    if verdict == "does_not_drive":
        return (f"{head} {outcome} barely moves with {focal}: the slope is {fmt_estimate(slope, se)} "
                f"{settings.slope_unit} per {focal} point ({conf}), and the equivalence test{tost_txt} places it "
                f"within {band}, so {focal} does not drive {outcome} in this segment.")
    if verdict == "unreliable":
        problems = str(row.get("problems") or "").strip()
        said = f" ({problems.replace(';', ', ')})" if problems and problems.lower() != "nan" else ""
        return (f"{head} the estimates cannot be trusted: the segment has problems{said}, listed in the problems "
                f"column of segments.csv, so no verdict is given on whether {focal} drives {outcome} here "
                f"(slope {fmt_estimate(slope, se)}, {conf}, shown for completeness only).")
    text = (f"{head} the slope of {outcome} on {focal} is {fmt_estimate(slope, se)} {settings.slope_unit} per "
            f"{focal} point ({conf}); the data can neither show that {focal} drives {outcome} here nor that the "
            f"effect is negligible (within {band}), so the verdict is inconclusive")
    if finite(row.get("p_zero_adjusted")) is not None and (lo > 0 or hi < 0):
        text += (" (the interval excludes zero, but the test does not hold after the Holm adjustment for testing "
                 "several segments)")
    return text + "."


def verdict_sentence(segments: pd.DataFrame, settings: AnalysisSettings, segment: int | None = None) -> str:
    """Plain-language verdicts, one sentence per segment (or only ``segment``), from the segment table.

    The focal predictor, outcome, family, confidence level, equivalence
    margin and the expected direction come from ``settings``.
    """
    summary = segment_summary(segments, settings.focal)
    if segment is not None:
        summary = summary.loc[summary["segment"] == int(segment)]
    return " ".join(segment_sentence(r, settings) for _, r in summary.iterrows())


def slope_comparison_sentences(tests: pd.DataFrame, settings: AnalysisSettings,
                               names: dict[int, str] | None = None) -> list[str]:
    """The tests of the focal slopes across segments (``tests.csv``) in words, one sentence per test.

    The Wald test of equal slopes first, then every pair by its
    ``comparison``: ``differ`` (Holm p < alpha), ``alike`` (the equivalence
    test shows the difference within +-margin) or ``not_shown_to_differ``.
    A difference that is not significant is never read as sameness: the
    sentence says the slopes are not shown to differ, and not shown to be
    alike either.
    """
    if tests is None or tests.empty:
        return []
    names = names or {}
    focal_txt = str(settings.focal).replace("_", " ")
    if settings.is_chain:  # a chain's slopes are tested on the focal predictor's path in its first equation
        focal_txt = f"{focal_txt} \u2192 {str(settings.equations[0][0]).replace('_', ' ')}"
    band = f"\u00b1{settings.equivalence_margin:g}"
    out = []
    overall = tests.loc[tests["segment_a"].isna()]
    if not overall.empty and pd.notna(overall["p_value"].iloc[0]):
        o = overall.iloc[0]
        p = float(o["p_value"])
        found = ("the slopes differ between segments" if p < settings.alpha
                 else "the slopes are not shown to differ between segments (which does not show that they are equal)")
        out.append(f"Equal {focal_txt} slopes in all segments: Wald chi-square = {float(o['statistic']):.1f} on "
                   f"{int(o['df'])} df, {fmt_p(p)}; {found}.")

    def label(seg: int) -> str:
        return f"{seg} ({names[seg]})" if names.get(seg) else str(seg)

    for _, r in tests.loc[tests["segment_a"].notna()].iterrows():
        a, b = int(r["segment_a"]), int(r["segment_b"])
        pair = f"Segments {label(a)} and {label(b)}"
        diff = f"difference {fmt_estimate(float(r['difference']), r.get('std_error'))}"
        holm = f"Holm {fmt_p(float(r['p_holm']))}" if finite(r.get("p_holm")) is not None else "Holm p = n/a"
        tost = finite(r.get("p_tost_holm"))
        tost_txt = f"equivalence test Holm {fmt_p(tost)}" if tost is not None else "no equivalence test"
        comparison = r.get("comparison", "")
        if comparison == "alike":
            detectable = " (detectably, but by less than the margin)" if finite(r.get("p_holm")) is not None and \
                float(r["p_holm"]) < settings.alpha else ""
            out.append(f"{pair} have {focal_txt} slopes shown to be alike: they differ{detectable} by less than "
                       f"{band} ({diff}, {tost_txt}).")
        elif comparison == "differ":
            out.append(f"{pair} differ in their {focal_txt} slope ({diff}, {holm}).")
        else:
            out.append(f"{pair} are not shown to differ in their {focal_txt} slope ({diff}, {holm}), nor shown to "
                       f"be alike within {band} ({tost_txt}): the data cannot tell whether their slopes differ.")
    return out

def selection_sentence(model_selection: pd.DataFrame, settings: AnalysisSettings) -> str:
    """How K was chosen: the model-selection table, read with the criterion and chosen K of ``settings``."""
    k, crit = settings.k, settings.criterion
    ks = sorted(int(v) for v in model_selection["k"])
    cand = f"{ks[0]}\u2013{ks[-1]}" if len(ks) > 1 and ks == list(range(ks[0], ks[-1] + 1)) else ", ".join(map(str, ks))
    if crit == "lr_test":
        text = (f"Among the candidate numbers of segments ({cand}), sequential parametric bootstrap likelihood-ratio "
                f"tests chose K = {k}.")
    else:
        text = f"Among the candidate numbers of segments ({cand}), the lowest {crit.upper()} chose K = {k}."
    chosen_row = model_selection.loc[model_selection["k_requested"] == settings.k_requested]
    note = chosen_row["choice_note"].iloc[0] if "choice_note" in chosen_row.columns and len(chosen_row) else ""
    if isinstance(note, str) and note:
        if crit != "lr_test" and not note.startswith(f"K = {settings.k_requested} has the lowest"):
            text = f"Among the candidate numbers of segments ({cand}), K = {k} was chosen."
        text += f" {note}"
    others = [c for c in CRITERIA if c in model_selection.columns and c != crit and model_selection[c].notna().any()]
    if others:
        prefs = {c: int(model_selection.loc[model_selection[c].idxmin(), "k"]) for c in others}
        agree = [c.upper() for c, v in prefs.items() if v == k]
        disagree = [f"{c.upper()} K = {v}" for c, v in prefs.items() if v != k]
        if agree:
            text += f" {', '.join(agree)} agree{'s' if len(agree) == 1 else ''}"
            text += f"; {', '.join(disagree)}." if disagree else "."
        elif disagree:
            text += f" The other criteria prefer: {', '.join(disagree)}."
    row = model_selection.loc[model_selection["k_requested"] == settings.k_requested].iloc[0]
    if "n_best_starts" in row and pd.notna(row["n_best_starts"]):
        n_starts = f" of {int(row['n_starts'])}" if "n_starts" in row and pd.notna(row["n_starts"]) else ""
        plain = " without the set-aside group" if text_of(row.get("set_aside_group")) else ""
        text += (f" For K = {k}{plain}, {int(row['n_best_starts'])}{n_starts} starts reached the best solution "
                 f"(log-likelihood {float(row['loglik']):.1f}).")
        if "optimum_replicated" in row and not bool(row["optimum_replicated"]):
            text += (" That solution was not found by both independent seed streams of starts, so another seed "
                     "might give another solution.")
        if "converged" in row and not bool(row["converged"]):
            text += " Warning: the fit did not converge; its estimates are not a maximum of the likelihood."
    if "lr_p_value" in model_selection.columns:
        lr = model_selection.loc[model_selection["lr_p_value"].notna()]
        if not lr.empty:
            parts = []
            for _, r in lr.sort_values("k").iterrows():
                reps = (
                    f", {int(r['lr_replicates'])} replicates"
                    if "lr_replicates" in r and pd.notna(r["lr_replicates"])
                    else ""
                )
                parts.append(f"K = {int(r['k'])} vs {int(r['k']) + 1}: p = {float(r['lr_p_value']):.3f}{reps}")
            text += " Parametric bootstrap likelihood-ratio tests: " + "; ".join(parts) + "."
            text += lr_remarks(lr, settings)
    return text

def lr_remarks(lr: pd.DataFrame, settings: AnalysisSettings) -> str:
    """What the LR tests add to the choice: p-values at their floor, and where they disagree with the criterion."""
    alpha, k = settings.alpha, settings.k_requested
    text = ""
    if "lr_p_min" in lr.columns:
        at_floor = lr.loc[lr["lr_p_min"].notna() & (lr["lr_p_value"] <= lr["lr_p_min"] * (1 + 1e-9))]
        for p_min, rows in at_floor.sort_values("k").groupby("lr_p_min", sort=True):
            pairs = [f"{int(k)} vs {int(k) + 1}" for k in rows["k"]]
            which = ", ".join(pairs[:-1]) + f" and {pairs[-1]}" if len(pairs) > 1 else pairs[0]
            reps = round(1 / float(p_min)) - 1
            text += (f" For K = {which}, p = {float(p_min):.3f} is the smallest {reps} replicates can give: the "
                     f"observed statistic beat every replicate, and the true p-value may be smaller.")
        too_few = lr.loc[lr["lr_p_min"].notna() & (lr["lr_p_min"] >= alpha)]
        if not too_few.empty:
            text += (f" With {int(too_few['lr_replicates'].min())} replicates no p-value can fall below alpha = "
                     f"{alpha:g}, so these tests cannot reject fewer segments; raise bootstrap.lr_test_replicates "
                     "(49 or more).")
    if settings.criterion == "lr_test":
        return text
    crit = settings.criterion.upper()
    flagged = (lr["problems"].astype(object).fillna("").astype(str) != "") if "problems" in lr.columns else False
    tested = lr.loc[~flagged].sort_values("k") if isinstance(flagged, pd.Series) else lr.sort_values("k")
    if "lr_p_min" in tested.columns:
        # a test whose smallest attainable p is not below alpha has no power to disagree with anything
        tested = tested.loc[~(tested["lr_p_min"] >= alpha)]
    stops = tested.loc[(tested["lr_p_value"] >= alpha) & (tested["k_requested"] < k)]
    own = lr.loc[lr["k_requested"] == k]
    if not stops.empty:
        r = stops.iloc[0]
        text += (f" The criterion and the test disagree: {crit} keeps K = {settings.k}, but the test of "
                 f"K = {int(r['k'])} against {int(r['k']) + 1} is not significant (p = {float(r['lr_p_value']):.3f}"
                 f" \u2265 {alpha:g}), so sequential testing would stop at K = {int(r['k'])}.")
    elif not own.empty and float(own["lr_p_value"].iloc[0]) < alpha:
        p = float(own["lr_p_value"].iloc[0])
        text += (f" The criterion and the test disagree: {crit} keeps K = {settings.k}, but K = {k} against "
                 f"{k + 1} has p = {p:.3f} < {alpha:g}, so the test prefers more segments (criterion: lr_test "
                 "chooses by the test).")
    return text

def classification_sentence(classification: pd.DataFrame) -> str:
    s = classification_summary(classification)
    if int(s.get("k", 1)) <= 1:
        return "With a single segment every respondent belongs to it; classification quality does not apply."
    e = s.get("entropy_r2", float("nan"))
    quality = "clear" if e >= 0.8 else "fair" if e >= 0.6 else "fuzzy"
    return (f"Classification is {quality}: entropy R\u00b2 = {e:.2f} (1 = every respondent certainly in one segment), "
            f"the average largest posterior probability is {s.get('mean_max_posterior', float('nan')):.2f}, and an "
            f"estimated {fmt_pct(s.get('classification_error', float('nan')))} of respondents would be assigned to "
            "the wrong segment by their modal probability.")

def stability_sentence(bootstrap: pd.DataFrame | None, bootstrap_ari: pd.DataFrame | None,
                       names: dict[int, str] | None = None) -> str:
    """Bootstrap stability in words; says so when the bootstrap was not run."""
    if bootstrap is None or bootstrap.empty:
        return "The bootstrap was switched off for this run (bootstrap.replicates: 0), so stability is not assessed."
    names = names or {}
    text = ""
    if bootstrap_ari is not None and not bootstrap_ari.empty and pd.notna(bootstrap_ari["median"].iloc[0]):
        a = bootstrap_ari.iloc[0]
        text += (f"Over {int(a['n_replicates'])} bootstrap refits the partition agreed with the full-sample one with "
                 f"a median adjusted Rand index of {a['median']:.2f} (5th percentile {a['p05']:.2f}). ")
    reap = bootstrap.groupby("segment")["reappearance"].first()
    parts = [f"segment {int(s)} ({names.get(int(s), '')}) {fmt_pct(r)}" if names.get(int(s)) else
             f"segment {int(s)} {fmt_pct(r)}" for s, r in reap.items()]
    text += "Each segment reappeared in this share of refits: " + "; ".join(parts) + "."
    return text

def profile_sentences(profiles: pd.DataFrame | None, names: dict[int, str], alpha: float = 0.05) -> list[str]:
    """Where the segments differ: for each variable with p < alpha, the segment most above the overall figure."""
    if profiles is None or profiles.empty:
        return []
    out = []
    tests = profile_tests(profiles)
    for _, t in tests.iterrows():
        p = float(t["p_value"]) if pd.notna(t["p_value"]) else float("nan")
        rows = profiles.loc[profiles["variable"] == t["variable"]].copy()
        if not (math.isfinite(p) and p < alpha):
            continue
        rows["gap"] = rows["value"].astype(float) - rows["overall"].astype(float)
        if str(t["kind"]) == "categorical":
            top = rows.loc[rows["gap"].idxmax()]
            s = int(top["segment"])
            out.append(
                f"{t['variable']} ({fmt_p(p)}, {t['effect_measure']} {float(t['effect_size']):.2f}): "
                f"'{category_text(top['level'])}' is most over-represented in segment {s} ({names.get(s, '')}): "
                f"{fmt_pct(top['value'])} against {fmt_pct(top['overall'])} overall."
            )
        else:
            hi = rows.loc[rows["value"].astype(float).idxmax()]
            lo = rows.loc[rows["value"].astype(float).idxmin()]
            effect = (f", {t['effect_measure']} {float(t['effect_size']):.2f}"
                      if pd.notna(t.get("effect_size")) and str(t.get("effect_measure", "")) not in ("", "nan") else "")
            out.append(
                f"{t['variable']} ({fmt_p(p)}{effect}): highest in segment {int(hi['segment'])} "
                f"({names.get(int(hi['segment']), '')}, mean {float(hi['value']):.2f}), lowest in segment "
                f"{int(lo['segment'])} ({names.get(int(lo['segment']), '')}, mean {float(lo['value']):.2f}); "
                f"overall {float(hi['overall']):.2f}."
            )
    return out

def membership_sentences(membership: pd.DataFrame | None, segments: pd.DataFrame, level: float) -> list[str]:
    """Odds ratios whose interval excludes 1, in words (associations, not causes).

    ``level`` is the confidence level of the membership model's intervals
    (``AnalysisSettings.membership_ci_level``), not the analysis's ``1 - alpha``.
    """
    table = odds_ratios(membership)
    if table is None or table.empty:
        return []
    names = segment_names(segments)
    ref = reference_segment(membership, segments)
    ref_txt = f"segment {ref} ({names.get(ref, '')})" if ref is not None else "the reference segment"
    out = []
    for _, r in table.iterrows():
        lo, hi, orr = float(r["or_ci_low"]), float(r["or_ci_high"]), float(r["odds_ratio"])
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 1 <= hi:
            continue
        s = int(r["segment"])
        direction = "higher" if orr > 1 else "lower"
        out.append(
            f"{r['term']}: {orr:.2f} times the odds of being in segment {s} ({names.get(s, '')}) rather than "
            f"{ref_txt} ({100 * level:.0f}% CI {fmt_ci(lo, hi)}), i.e. {direction} odds, other profile variables "
            "held equal."
        )
    return out

def analysis_question(settings: AnalysisSettings) -> str:
    """The question an analysis answers, in the names of its outcome and predictors."""
    focal, outcome = label(settings.focal), label(settings.outcome)
    if settings.is_chain:
        mediators = join_words([label(m) for m in settings.mediators]) or "the other outcomes"
        return (f"In which segments does {focal} turn into {mediators}, and {mediators} into {outcome}? In each "
                f"segment {focal}'s effect on {outcome} splits into a direct part and an indirect part that runs "
                f"through {mediators} (the product of the paths), and the total is their sum.")
    text = (f"Does {focal} drive {outcome} for every respondent, or only in some segments, while in others "
            f"{outcome} stays where it is whatever {focal} does?")
    others = [label(p) for p in settings.predictors if p != settings.focal]
    if others:
        text += (f" The model also holds {join_words(others)}, so each segment's {focal} slope is read with "
                 f"{'that predictor' if len(others) == 1 else 'those predictors'} held fixed.")
    if higher_is_of(settings) == "worse":
        text += (f" Higher {outcome} is worse here (higher_is: worse), so the effect hoped for is that {outcome} "
                 f"falls as {focal} rises.")
    return text

def caution_sentence(settings: AnalysisSettings) -> str:
    """What a segment's line does and does not say, in the analysis's own names."""
    focal, outcome = label(settings.focal), label(settings.outcome)
    return (f"Each segment's line describes how {outcome} and {focal} go together within a group of respondents of "
            f"one cross-sectional survey, not what would happen to {outcome} if {focal} were changed.")

def constructs_sentence(reliability: pd.DataFrame | None, config: dict | None = None) -> str:
    """The constructs the run scored, with their items and scales (from the config when it can be read)."""
    specs = (config or {}).get("constructs") or {}
    rel = reliability if reliability is not None and not reliability.empty else None
    names = (list(dict.fromkeys(rel.loc[rel["level"] == "construct", "construct"].astype(str)))
             if rel is not None else list(specs))
    if not names:
        return "This run scores no construct."
    parts = []
    for name in names:
        spec = specs.get(name) or {}
        items = list(spec.get("items") or [])
        if not items and rel is not None:
            n_items = rel.loc[(rel["construct"] == name) & (rel["level"] == "construct"), "n_items"]
            count = int(n_items.iloc[0]) if len(n_items) and pd.notna(n_items.iloc[0]) else 0
        else:
            count = len(items)
        if count == 1 and items:
            bits = [f"one item, {items[0]}"]
        else:
            bits = [f"{count} item{'s' if count != 1 else ''}"] if count else []
        scale = spec.get("scale")
        if scale:
            bits.append(f"{float(scale[0]):g}\u2013{float(scale[1]):g} scale")
        parts.append(f"{label(name)} ({', '.join(bits)})" if bits else label(name))
    return f"This run scores {len(names)} construct{'s' if len(names) != 1 else ''}: {join_words(parts)}."

def profile_intro(variables, settings: AnalysisSettings | None = None) -> str:
    """What the profile section describes the segments by, in the run's names."""
    lead = (f"The segments differ in how {label(settings.outcome)} goes with {label(settings.focal)}. "
            if settings is not None else "")
    variables = list(variables or [])
    if not variables:
        return (lead + "No profile variables are configured for this run (config key profile), so the segments "
                "cannot be described by who their members are.")
    noun = "variable" if len(variables) == 1 else "variables"
    return lead + f"They are described here by the profile {noun} {join_words(label(v) for v in variables)}."

def problems_words(codes: str, k: int | None = None, one_segment: bool = False) -> str:
    """Problem codes in words (:func:`trustseg.model.diagnostics.problems_phrase`), or the codes as they are."""
    if not codes:
        return ""
    return problems_phrase(codes, k, one_segment=one_segment) or codes.replace("_", " ")

def residual_spread_sentences(spread: pd.DataFrame | None, names: dict[int, str] | None = None) -> list[str]:
    """One sentence per segment whose residual spread changes with a predictor (``residual_spread.csv``)."""
    if spread is None or spread.empty or "spread_varies" not in spread.columns:
        return []
    names = names or {}
    varies = spread.loc[spread["spread_varies"].astype(str).str.lower().isin(["true", "1", "1.0"])]
    out = []
    for seg, rows in varies.groupby("segment", sort=True):
        single = rows.loc[~rows["predictor"].astype(str).str.startswith("(")]
        rows = single if not single.empty else rows
        parts = []
        for r in rows.itertuples():
            slope = float(getattr(r, "variance_slope", float("nan")))
            how = "grows" if slope > 0 else "shrinks" if slope < 0 else "changes"
            what = "all predictors together" if str(r.predictor).startswith("(") else label(r.predictor)
            parts.append(f"{how} with {what} ({fmt_p(float(r.p_value))})")
        name = names.get(int(seg))
        out.append(f"Segment {int(seg)}{f' ({name})' if name else ''}: the residual spread {join_words(parts)}, but "
                   "the model assumes it constant within a segment, so the segment's slope interval and verdict "
                   "may be too confident.")
    return out

def cleaning_rule_sentences(report: pd.DataFrame) -> list[tuple[str, str]]:
    """``(rule, sentence)`` for every cleaning rule that changed or flagged something: what, how many, and why."""
    out = []
    for r in report.itertuples():
        rule = str(r.rule)
        rows = float(r.rows_affected) if pd.notna(r.rows_affected) else 0.0
        if rule in ("input", "clean", "flagged") or rule.startswith("construct_score") or rows <= 0:
            continue
        cells = getattr(r, "cells_affected", None)
        count = f"{int(rows):,} respondent row{'s' if int(rows) != 1 else ''}"
        if cells is not None and pd.notna(cells) and int(cells) and int(cells) != int(rows):
            count += f", {int(cells):,} answers"
        detail = str(r.detail) if pd.notna(r.detail) and str(r.detail).strip() else ""
        out.append((rule, f"{count}; {r.action}" + (f" ({detail})." if detail else ".")))
    return out

def equations_words(settings: AnalysisSettings) -> str:
    """A chain's equations in words: "trust on satisfaction and repurchase on satisfaction and trust"."""
    return join_words([f"{label(o)} on {join_words([label(p) for p in ps])}" for o, ps in settings.equations])

_EFFECT_WORDS = {
    "drives_up": "shown positive",
    "drives_down": "shown negative",
    "negligible": "shown non-zero but within the equivalence margin",
    "does_not_drive": "shown to lie within the equivalence margin",
    "inconclusive": "not shown either way",
    "unreliable": "unreliable (the segment has problems)",
}

def _effect_text(row, level: float, unit: str) -> str:
    se = row.get("std_error")
    boot = ""
    if "boot_ci_low" in row.index and pd.notna(row["boot_ci_low"]):
        boot = f"; bootstrap {fmt_interval(row['boot_ci_low'], row['boot_ci_high'], se)}"
    return (f"{fmt_estimate(row['estimate'], se)} {unit} ({pct_text(level)} CI "
            f"{fmt_interval(row['ci_low'], row['ci_high'], se)}{boot}{_basis_note(row)}), "
            f"{_EFFECT_WORDS.get(str(row['verdict']), str(row['verdict']))}")


def chain_sentence(effects: pd.DataFrame, settings: AnalysisSettings, segment: int,
                   segments: pd.DataFrame | None = None) -> str:
    """What one segment's chain says, from its direct, indirect and total effects.

    In the unit of the chain's effects on its last outcome
    (``settings.effect_unit``), with decimals chosen from each effect's
    standard error, so a small indirect effect never reads "0.00 (0.00 to 0.00)".
    """
    effects = on_slope_basis(effects)
    rows = effects.loc[effects["segment"] == segment].set_index("kind", drop=False)
    focal, outcome = label(settings.focal), label(settings.outcome)
    unit = f"{settings.effect_unit} per {focal} point"
    name = str(rows["name"].iloc[0]) if "name" in rows.columns else f"Segment {segment}"
    share = ""
    if segments is not None and "share" in segments.columns:
        share_value = segments.loc[segments["segment"] == segment, "share"]
        if len(share_value):
            share = f", {fmt_pct(float(share_value.iloc[0]))} of respondents"
    parts = [f"In segment {segment} ({name}{share})"]
    indirect = effects.loc[(effects["segment"] == segment) & (effects["kind"] == "indirect")]
    for r in indirect.itertuples():
        mediators = r.path.split(" → ")[1:-1]
        through = join_words([label(m) for m in mediators])
        parts.append(f"the part of {focal}'s effect on {outcome} that runs through {through} is "
                     + _effect_text(indirect.loc[r.Index], settings.ci_level, unit))
    if "direct" in rows.index:
        parts.append(f"the direct effect is {_effect_text(rows.loc['direct'], settings.ci_level, unit)}")
    if "total" in rows.index:
        parts.append(f"the total effect is {_effect_text(rows.loc['total'], settings.ci_level, unit)}")
    return parts[0] + ": " + "; ".join(parts[1:]) + "."


def residual_spread_untested(settings: AnalysisSettings) -> str:
    """Why an analysis has no residual-spread test, in the terms of its own family (never another's)."""
    if settings.is_chain:
        return ("No residual-spread test for this analysis: the test is for one outcome, and this analysis is a chain "
                "of equations (each equation's residual SD per segment is in segments.csv).")
    family = settings.family[-1]
    text = (f"No residual-spread test for this analysis: the test reads the residuals of a normal regression line, "
            f"and this analysis fits its outcome with the {family} family.")
    if getattr(family_class(family), "varies_spread", False):
        text += (" To see whether the spread changes with a predictor, fit it too (`spread: linear`, "
                 "docs/spread.md) and compare the two fits.")
    return text


def profile_differences(profiles: pd.DataFrame | None, names: dict[int, str], alpha: float = 0.05) -> str:
    """Where the segments differ by their profile, as a Markdown paragraph: only what a test that ran supports.

    With one segment, or where no test could run (every p-value missing),
    it says that nothing was tested instead of "no variable differs".
    """
    if profiles is None or profiles.empty:
        return ("No profile variables are configured for this run (config key `profile`), so the segments cannot be "
                "described by who their members are.")
    tested = profile_tests(profiles)
    ran = tested["p_value"].notna() if "p_value" in tested.columns else pd.Series(False, index=tested.index)
    if len(names) < 2:
        return "With a single segment there is nothing to compare, so no profile variable was tested."
    if not ran.any():
        return "No profile variable could be tested for differences between the segments (see the table's notes)."
    found = profile_sentences(profiles, names, alpha)
    if found:
        return f"Where the segments differ (p < {alpha:g}):\n\n" + "\n".join(f"* {t}" for t in found)
    untested = [str(v) for v, r in zip(tested["variable"], ran) if not r]
    return (f"No tested profile variable differs detectably between the segments (all p \u2265 {alpha:g}): the "
            "segments are not shown to differ on these characteristics (which does not show that they are alike)"
            + (f"; not tested: {', '.join(label(v) for v in untested)}." if untested else "."))


def family_sentence(settings: AnalysisSettings) -> str:
    """Which outcome family the analysis fits, and the unit its slopes are read in."""
    if settings.is_chain:
        each = join_words([f"{label(o)} as {f}" for (o, _), f in zip(settings.equations, settings.family)])
        paths, effects = coefficient_unit(settings.family), settings.effect_unit
        if paths == effects:
            return f"Its equations fit {each}; paths and effects are in {effects} per predictor point."
        return (f"Its equations fit {each}; paths are in {paths} per predictor point, and the effects on "
                f"{label(settings.equations[-1][0])} in {effects} per {label(settings.focal)} point.")
    return (f"Its outcome is fitted with the {settings.family[-1]} family, so its slopes are in "
            f"{settings.slope_unit} per predictor point.")
