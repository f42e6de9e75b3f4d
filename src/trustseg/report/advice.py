"""A managerial reading of the segments: what each suggests, from its verdict, size, level and the tests.

Advice that compares segments ("the strongest", "less strongly than") is
given only where ``tests.csv`` shows the two slopes ``differ``; otherwise the
paragraph says that the slopes are not shown to differ.  What the reader is
told to do follows the focal predictor's kind (:mod:`trustseg.direction`):
a lever (satisfaction) is improved, a burden (price, waiting time, privacy
concern) reduced.
"""

from __future__ import annotations

import math

import pandas as pd

from trustseg.direction import good_sign
from trustseg.report.numbers import fmt_estimate, fmt_interval, fmt_p, fmt_pct, label, text_of
from trustseg.report.results import AnalysisSettings
from trustseg.report.sentences import problems_words, slope_words

_DRIVES_UP = ("drives", "drives_up")  # ``drives`` in results written before verdicts carried a direction


def _direction(verdict: str) -> int:
    """+1 when the verdict says the focal predictor drives the outcome up, -1 down, 0 otherwise."""
    return 1 if verdict in _DRIVES_UP else -1 if verdict == "drives_down" else 0


def pair_comparison(tests: pd.DataFrame | None, a: int, b: int) -> pd.Series | None:
    """The row of ``tests.csv`` comparing the focal slopes of segments ``a`` and ``b`` (None when there is none)."""
    if tests is None or tests.empty or "segment_a" not in tests.columns:
        return None
    pairs = tests.loc[tests["segment_a"].notna()]
    hit = pairs.loc[((pairs["segment_a"] == a) & (pairs["segment_b"] == b))
                    | ((pairs["segment_a"] == b) & (pairs["segment_b"] == a))]
    return hit.iloc[0] if len(hit) else None


def _shown_to_differ(tests, a: int, b: int) -> bool:
    row = pair_comparison(tests, a, b)
    return row is not None and str(row.get("comparison", "")) == "differ"


def _not_shown(tests, a: int, b: int) -> str:
    """"not shown to differ from segment b's (Holm p = ...)", quoting the test when there is one."""
    row = pair_comparison(tests, a, b)
    p = row.get("p_holm") if row is not None else None
    said = f" (Holm {fmt_p(float(p))})" if p is not None and pd.notna(p) else " (no test compares them)"
    return f"its slope is not shown to differ from segment {b}'s{said}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _act(settings: AnalysisSettings) -> str:
    """What a manager would do with the focal predictor: improve a lever, reduce a burden."""
    focal = label(settings.focal)
    return f"improving {focal}" if settings.focal_kind == "lever" else f"reducing {focal}"


def _expected_text(r: dict, settings: AnalysisSettings, expected: list[dict], tests, unit: str) -> str:
    """A segment moved in the expected direction: how much, and how it compares, only as far as the tests show."""
    seg, act = int(r["segment"]), _act(settings)
    text = slope_words(float(r["slope"]), settings, r.get("std_error"), unit=unit)
    others = [int(o["segment"]) for o in expected if int(o["segment"]) != seg]
    if not others:
        return text + f". {_cap(act)} is expected to pay off here; track whether the outcome follows."
    if settings.is_chain or tests is None:
        return (text + f". {_cap(act)} should pay off here; no test compares this effect between "
                "segments, so which segment responds more is not known.")
    sign = settings.focal_sign
    steeper = [o for o in others if sign * float(next(x for x in expected if int(x["segment"]) == o)["slope"])
               > sign * float(r["slope"])]
    if not steeper and all(_shown_to_differ(tests, seg, o) for o in others):
        return (text + f", shown to be the strongest of the segments (tests.csv: it differs from "
                f"{'each of ' if len(others) > 1 else ''}segment{'s' if len(others) > 1 else ''} "
                f"{', '.join(map(str, others))}). This is where {act} is most likely to pay off; prioritise it here "
                "and track whether the outcome follows.")
    if steeper and _shown_to_differ(tests, seg, steeper[0]):
        return (text + f", shown to respond less strongly than segment {steeper[0]} (tests.csv: differ). "
                f"{_cap(act)} should help here too, with a smaller return per point.")
    compare = steeper[0] if steeper else others[0]
    return (text + f"; {_not_shown(tests, seg, compare)}, so the data do not say which of the two responds more. "
            f"{_cap(act)} should help in both.")


def _flat_text(r: dict, settings: AnalysisSettings, high: bool | None) -> str:
    focal, outcome = label(settings.focal), label(settings.outcome)
    if high is None:
        return f"{outcome} does not move with {focal}. {_cap(_act(settings))} alone is unlikely to change it."
    if high == (good_sign(settings.higher_is) > 0):  # the level is where it should be: high when higher is better
        return (f"{outcome} stays {'high' if high else 'low'} whatever their {focal}. Extra spending on {focal} is "
                f"unlikely to move their {outcome}; protect whatever keeps it there (habit, relationships, switching "
                "costs) and avoid disrupting it.")
    return (f"{outcome} stays {'high' if high else 'low'} whatever their {focal}. {_cap(_act(settings))} alone is "
            "unlikely to change that; other levers (offer, fit, service) would have to be explored, or the segment "
            "given lower priority.")


def _segment_text(r: dict, settings: AnalysisSettings, expected: list[dict], tests, unit: str,
                  high: bool | None) -> str:
    """The advice for one segment from its verdict."""
    focal = label(settings.focal)
    slope, verdict = float(r["slope"]), str(r.get("verdict", ""))
    interval = fmt_interval(float(r["ci_low"]), float(r["ci_high"]), r.get("std_error"))
    if verdict == "unreliable":
        said = problems_words(text_of(r.get("problems")), one_segment=True) or "see the problems column"
        return (f"the estimates of this segment cannot be trusted as they stand ({said}), so its {focal} slope is not "
                "read here. Do not base decisions on this segment; the problems column of segments.csv says what "
                "is wrong.")
    if _direction(verdict) == settings.focal_sign:
        return _expected_text(r, settings, expected, tests, unit)
    if _direction(verdict) == -settings.focal_sign:
        return (f"{slope_words(slope, settings, r.get('std_error'), unit=unit)} (interval {interval}), the opposite "
                f"of the direction expected, so {_act(settings)} is not expected to help in this segment. Look at "
                "what sets it apart (its profile, below) before deciding how to treat it.")
    if verdict == "negligible":
        return (f"{slope_words(slope, settings, r.get('std_error'), only=True, unit=unit)} (interval {interval}), "
                f"inside the equivalence margin \u00b1{settings.equivalence_margin:g}: a real but negligible effect. "
                f"{focal[:1].upper() + focal[1:]} is not a lever worth pulling here.")
    if verdict == "does_not_drive":
        return _flat_text(r, settings, high)
    return (f"the data cannot say whether {focal} moves {label(settings.outcome)} here (slope "
            f"{fmt_estimate(slope, r.get('std_error'))} {unit} per {focal} point, interval {interval}): the verdict "
            "is inconclusive. Do not base decisions on this segment before more evidence is collected.")


def managerial_reading(summary: pd.DataFrame, settings: AnalysisSettings, levels=None, reference=None,
                       reference_text: str = "", tests: pd.DataFrame | None = None) -> list[str]:
    """What each segment suggests, one Markdown paragraph per segment, from its verdict, size and level.

    Parameters
    ----------
    summary : DataFrame
        Rows of :func:`~trustseg.report.results.segment_summary` (or
        ``chain_summary``: a chain's segments are read by their total effect),
        optionally with a ``problems`` column.
    settings : AnalysisSettings
        The outcome and focal predictor, their family (the unit of the
        slopes), the margin, which way the outcome runs (``higher_is``: a
        high level is good or bad) and the focal predictor's expected
        direction.
    levels : mapping, optional
        Segment -> mean outcome of its members.
    reference, reference_text
        The level above which a segment's outcome counts as high, and how to
        name it ("the scale midpoint 4").
    tests : DataFrame, optional
        ``tests.csv``: the pairwise comparisons of the focal slopes.  Without
        it (or for a chain, whose total effects no test compares) no segment
        is said to respond more strongly than another.
    """
    outcome = label(settings.outcome)
    unit = settings.effect_unit if settings.is_chain else settings.slope_unit
    rows = summary.to_dict("records")
    expected = [r for r in rows if _direction(str(r.get("verdict", ""))) == settings.focal_sign]
    paragraphs = []
    for r in rows:
        seg = int(r["segment"])
        head = f"**Segment {seg} \u2013 {r['name']}** ({fmt_pct(r['share'])} of respondents"
        level = (levels or {}).get(seg)
        high = None
        if level is not None and reference is not None and math.isfinite(float(level)):
            high = float(level) >= float(reference)
            head += f"; mean {outcome} {float(level):.2f}, {'above' if high else 'below'} {reference_text}"
        text = _segment_text(r, settings, expected, tests, unit, high)
        n = r.get("n_assigned")
        if len(rows) > 1 and n is not None and pd.notna(n) and (int(n) < 30 or float(r["share"]) < 0.05):
            text += (f" *Small segment: only {int(n)} respondent{'s' if int(n) != 1 else ''} assigned; treat it as "
                     "tentative.*")
        paragraphs.append(head + "): " + text)
    return paragraphs
