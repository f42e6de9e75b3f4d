"""A managerial reading of the segments: what each suggests, from its verdict, size, level and the tests."""

from __future__ import annotations

import math

import pandas as pd

from trustseg.report.naming import expected_sign
from trustseg.report.numbers import fmt_ci, fmt_num, fmt_pct, higher_is_of, label, text_of
from trustseg.report.results import AnalysisSettings
from trustseg.report.sentences import problems_words

_DRIVES_UP = ("drives", "drives_up")  # ``drives`` in results written before verdicts carried a direction

def _direction(verdict: str) -> int:
    """+1 when the verdict says the focal predictor drives the outcome up, -1 down, 0 otherwise."""
    return 1 if verdict in _DRIVES_UP else -1 if verdict == "drives_down" else 0

def managerial_reading(summary: pd.DataFrame, settings: AnalysisSettings, levels=None, reference=None,
                       reference_text: str = "") -> list[str]:
    """What each segment suggests, one Markdown paragraph per segment, from its verdict, size and level.

    Parameters
    ----------
    summary : DataFrame
        Rows of :func:`segment_summary`, optionally with a ``problems`` column.
    settings : AnalysisSettings
        Names the outcome and focal predictor, the margin and which way the
        outcome runs (``higher_is``: with ``worse``, the hoped-for effect of
        the focal predictor is downward and a high level is bad).
    levels : mapping, optional
        Segment -> mean outcome of its members.
    reference, reference_text
        The level above which a segment's outcome counts as high, and how to
        name it ("the scale midpoint 4").
    """
    focal, outcome = label(settings.focal), label(settings.outcome)
    hoped = expected_sign(higher_is_of(settings))
    rows = summary.to_dict("records")
    expected = [r for r in rows if _direction(str(r.get("verdict", ""))) == hoped]
    steepest = max(expected, key=lambda r: hoped * float(r["slope"]))["segment"] if expected else None
    k = len(rows)
    paragraphs = []
    for r in rows:
        seg, slope, verdict = int(r["segment"]), float(r["slope"]), str(r.get("verdict", ""))
        interval = fmt_ci(float(r["ci_low"]), float(r["ci_high"]))
        moves = "rises" if slope > 0 else "falls"
        head = f"**Segment {seg} \u2013 {r['name']}** ({fmt_pct(r['share'])} of respondents"
        level = (levels or {}).get(seg)
        high = None
        if level is not None and reference is not None and math.isfinite(float(level)):
            high = float(level) >= float(reference)
            head += f"; mean {outcome} {float(level):.2f}, {'above' if high else 'below'} {reference_text}"
        head += "): "
        if verdict == "unreliable":
            said = problems_words(text_of(r.get("problems")), one_segment=True) or "see the problems column"
            text = (f"the estimates of this segment cannot be trusted as they stand ({said}), so its {focal} slope "
                    "is not read here. Do not base decisions on this segment; the problems column of segments.csv "
                    "says what is wrong.")
        elif _direction(verdict) == hoped:
            text = f"{outcome} {moves} by about {abs(slope):.2f} points with each point of {focal}"
            if seg == steepest:
                text += ((", the strongest of the segments" if len(expected) > 1 else "")
                         + f". This is where improving {focal} is most likely to pay off; prioritise it here and "
                         f"track whether {outcome} follows.")
            else:
                text += (f", less strongly than in segment {steepest}. Improving {focal} should help here too, "
                         "with a smaller return per point.")
        elif _direction(verdict) == -hoped:
            text = (f"{outcome} {moves} by about {abs(slope):.2f} points with each point of {focal} (interval "
                    f"{interval}): here more {focal} goes with {'lower' if slope < 0 else 'higher'} {outcome}, the "
                    f"opposite of the direction hoped for, so improving {focal} is not expected to help in this "
                    "segment. Look at what sets it apart (its profile, below) before deciding how to treat it.")
        elif verdict == "negligible":
            text = (f"{outcome} moves with {focal}, but by only {fmt_num(slope)} points per point (interval "
                    f"{interval}), inside the equivalence margin \u00b1{settings.equivalence_margin:g}: a real but "
                    f"negligible effect. {focal[:1].upper() + focal[1:]} is not a lever worth pulling here.")
        elif verdict == "does_not_drive":
            if high is None:
                text = (f"{outcome} does not move with {focal}. Raising {focal} alone is unlikely to change "
                        f"their {outcome}.")
            elif high == (hoped > 0):  # the level is where it should be: high when higher is better
                text = (f"{outcome} stays {'high' if high else 'low'} whatever their {focal}. Extra spending on "
                        f"{focal} is unlikely to move their {outcome}; protect whatever keeps it there (habit, "
                        "relationships, switching costs) and avoid disrupting it.")
            else:
                text = (f"{outcome} stays {'high' if high else 'low'} whatever their {focal}. Raising {focal} "
                        "alone is unlikely to change that; other levers (price, offer, fit) would have to be "
                        "explored, or the segment given lower priority.")
        else:
            text = (f"the data cannot yet say whether {focal} moves {outcome} here (slope {fmt_num(slope)}, interval "
                    f"{interval}). Do not base decisions on this segment before more evidence is collected.")
        n = r.get("n_assigned")
        if k > 1 and n is not None and pd.notna(n) and (int(n) < 30 or float(r["share"]) < 0.05):
            text += (f" *Small segment: only {int(n)} respondent{'s' if int(n) != 1 else ''} assigned; treat it as "
                     "tentative.*")
        paragraphs.append(head + text)
    return paragraphs
