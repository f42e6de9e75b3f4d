"""Plain-language names for the segments.

A segment's name says in words what its regression says in numbers: whether
the focal predictor (say satisfaction) drives the outcome (say repurchase) in
the expected direction or against it, and, when it does not, whether the
outcome is nonetheless high or low.  Which direction is expected depends on
the outcome (up for repurchase, ``higher_is="better"``; down for switching,
complaints or churn, ``higher_is="worse"``) and on the focal predictor
(config key ``expected``: price or privacy concern are expected to lower
repurchase or trust); see :mod:`trustseg.direction`.  An inconclusive
segment is never named as if its verdict were an answer.

Rules of the single-equation names (:func:`name_segments`)
----------------------------------------------------------
A *lever* is a focal predictor expected to move the outcome the good way
(satisfaction), a *burden* one expected to move it the bad way (price,
privacy concern, waiting time).  Rules, applied to each segment's focal
row (``Focal`` is the capitalised focal name):

1. moved in the expected direction -> ``"{Focal}-driven"`` (a lever) or
   ``"{Focal}-sensitive"`` (a burden).
2. moved against it -> ``"{Focal}-averse"`` (a lever) or
   ``"{Focal}-tolerant"`` (a burden).
3. ``does_not_drive`` (shown flat) or ``negligible`` (shown too small to
   matter) -> by the level of the outcome: ``"Loyal regardless"`` /
   ``"Indifferent"`` when higher is better and the outcome is loyalty or
   repurchase (or not named), otherwise ``"High {outcome} regardless"`` /
   ``"Low {outcome} regardless"`` (a flat trust segment is "High trust
   regardless").  The level is high at or above ``low + high_cut *
   (high - low)`` of ``outcome_scale``; without a scale, at or above the
   share-weighted mean level.
4. ``unreliable`` -> ``"Unreliable segment, high {outcome}"`` or
   ``"..., low {outcome}"``.
5. ``inconclusive`` (or missing) -> ``"{Focal} effect unclear, high
   {outcome}"`` (or ``low``; without an outcome name only ``"{Focal}
   effect unclear"``): the data show neither an effect nor its absence,
   and the name says so instead of guessing, while the level of the
   outcome is a fact.

Names are made unique deterministically by level: two segments with
the same name get "higher/lower {outcome}", three "highest/middle/lowest
{outcome}", more "highest, 2nd highest, ..."; then ``"(segment k)"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from trustseg.direction import expected_sign, predictor_kind
from trustseg.model.validation import INTERCEPT

__all__ = ["name_segments", "name_chain_segments", "segment_levels", "expected_verdict", "against_verdict",
           "HIGHER_IS", "INTERCEPT"]


HIGH_CUT = 0.6
HIGHER_IS = ("better", "worse")


def expected_verdict(higher_is: str = "better", expected: Mapping | None = None, focal: str | None = None) -> str:
    """The verdict of a segment moved in the focal predictor's expected direction: ``drives_up`` or ``drives_down``.

    Up when higher is better, down when worse, unless config key ``expected``
    says otherwise for the focal predictor (:func:`trustseg.direction.expected_sign`).
    """
    _check_higher_is(higher_is)
    return "drives_up" if expected_sign(focal, higher_is, expected) > 0 else "drives_down"


def against_verdict(higher_is: str = "better", expected: Mapping | None = None, focal: str | None = None) -> str:
    """The verdict of a segment moved against the expected direction (the other of ``drives_up``/``drives_down``)."""
    return "drives_down" if expected_verdict(higher_is, expected, focal) == "drives_up" else "drives_up"


def _check_higher_is(higher_is: str) -> None:
    if higher_is not in HIGHER_IS:
        raise ValueError(f"higher_is must be one of {HIGHER_IS}, not {higher_is!r}")


def _pretty(name: str) -> str:
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else text


def segment_levels(segments: pd.DataFrame, predictor_means: Mapping[str, float] | None = None,
                   outcome_scale: tuple[float, float] | None = None) -> pd.Series:
    """Predicted outcome of each segment at the mean of the predictors.

    Parameters
    ----------
    segments : DataFrame
        Segment table with columns ``segment, term, estimate``; the intercept
        term is ``"(Intercept)"``.  If it has a column ``level`` (one value per
        segment) that value is used as is.
    predictor_means : mapping of str to float, optional
        Mean of every predictor.  A predictor missing from the mapping, or all
        of them when it is ``None``, is set to the midpoint of
        ``outcome_scale`` (predictors and outcome on the same rating scale,
        as with satisfaction and repurchase); without a scale to 0, i.e. the
        intercept alone.

    Returns
    -------
    Series
        Indexed by segment number.
    """
    if "level" in segments.columns and segments["level"].notna().any():
        return segments.groupby("segment")["level"].first().astype(float)
    mid = None if outcome_scale is None else (float(outcome_scale[0]) + float(outcome_scale[1])) / 2
    means = dict(predictor_means or {})
    levels = {}
    for seg, rows in segments.groupby("segment", sort=True):
        total = 0.0
        for term, est in zip(rows["term"], rows["estimate"]):
            if not np.isfinite(est):
                continue
            if term == INTERCEPT:
                total += float(est)
            elif term in means:
                total += float(est) * float(means[term])
            elif mid is not None:
                total += float(est) * mid
        levels[int(seg)] = total
    return pd.Series(levels, dtype=float).rename_axis("segment")


def name_segments(segments: pd.DataFrame, focal: str, outcome_scale: tuple[float, float] | None = None, *,
                  predictor_means: Mapping[str, float] | None = None, outcome: str | None = None,
                  high_cut: float = HIGH_CUT, higher_is: str = "better",
                  expected: Mapping[str, str] | None = None) -> dict[int, str]:
    """Name every segment from its focal verdict, the expected direction and the level of its outcome.

    Parameters
    ----------
    segments : DataFrame
        The segment table (``results/<analysis>/segments.csv`` layout):
        columns ``segment, share, term, estimate`` and ``verdict`` (filled on
        the focal-term rows: ``drives_up``, ``drives_down``, ``negligible``,
        ``does_not_drive``, ``inconclusive`` or ``unreliable``); the
        intercept term is ``"(Intercept)"``.  A column ``level`` (one value
        per segment, e.g. the mean outcome of the segment's members) is the
        level the names and their qualifiers rank by.
    focal : str
        Name of the focal predictor (a ``term`` of the table).  It is used in
        the names, with underscores turned into spaces.
    outcome_scale : (float, float), optional
        Lowest and highest possible outcome, e.g. ``(1, 7)``.
    predictor_means : mapping, optional
        Means of the predictors, for the segment level when the table has no
        ``level`` column (see :func:`segment_levels`).
    outcome : str, optional
        Name of the outcome, used in the names of flat segments and to tell
        apart two segments that would otherwise get the same name.
    high_cut : float, default 0.6
        Where the "upper part of the scale" starts, as a share of the range.
    higher_is : {"better", "worse"}, default "better"
        Which way the outcome runs (switching, complaints, churn: worse).
    expected : mapping, optional
        Config key ``expected``: ``{predictor: "raises" | "lowers"}``; the
        focal predictor's entry, or else the good way for the outcome, is
        the expected direction (:mod:`trustseg.direction`).

    Returns
    -------
    dict of int to str
        Segment number -> name, in segment order.

    Notes
    -----
    The rules are in the module docstring ("Rules of the single-equation names").
    """
    required = {"segment", "term", "estimate"}
    missing = required - set(segments.columns)
    if missing:
        raise ValueError(f"segments table lacks columns {sorted(missing)}")
    if segments.empty:
        return {}
    focal = str(focal)
    focal_rows = segments[segments["term"] == focal]
    seg_ids = sorted(int(s) for s in segments["segment"].unique())
    if focal_rows.empty:
        raise ValueError(f"focal predictor {focal!r} is not a term of the segments table")
    _check_higher_is(higher_is)
    levels = segment_levels(segments, predictor_means, outcome_scale)
    cut = _high_cut(segments, levels, outcome_scale, high_cut)
    outcome_txt = outcome.replace("_", " ").strip() if outcome else ""
    sign, kind = expected_sign(focal, higher_is, expected), predictor_kind(focal, higher_is, expected)
    names = {}
    for seg in seg_ids:
        row = focal_rows[focal_rows["segment"] == seg]
        verdict = "" if row.empty or "verdict" not in row.columns or pd.isna(row["verdict"].iloc[0]) \
            else str(row["verdict"].iloc[0])
        names[seg] = _base_name(verdict, focal, bool(levels.get(seg, np.nan) >= cut), higher_is, outcome_txt, sign,
                                kind)
    return _unique_names(names, levels, outcome_txt or "level")


def _high_cut(segments: pd.DataFrame, levels: pd.Series, outcome_scale, high_cut: float) -> float:
    """The level from which a segment's outcome counts as high.

    On a known scale: ``high_cut`` of the way up.  Without one: the
    share-weighted mean level of all segments.
    """
    if outcome_scale is not None:
        lo, hi = float(outcome_scale[0]), float(outcome_scale[1])
        return lo + high_cut * (hi - lo)
    shares = (segments.groupby("segment")["share"].first().astype(float)
              if "share" in segments.columns else pd.Series(1.0, index=levels.index))
    shares = shares.reindex(levels.index).fillna(0.0)
    return float(np.average(levels, weights=shares)) if shares.sum() > 0 else float(levels.mean())


#: outcomes whose flat, high segment is "Loyal regardless" (the word of the golf study): coming back, staying
LOYALTY_LIKE = re.compile(r"loyal|repurchas|rebuy|buy.?again|renew|retent|retain|revisit|return|come.?back|"
                          r"忠诚|回购|复购|再购", re.IGNORECASE)


def flat_name(high: bool, higher_is: str, outcome: str) -> str:
    """The name of a segment whose outcome does not move with the focal predictor, by its level."""
    if higher_is == "better" and (not outcome or LOYALTY_LIKE.search(outcome)):
        return "Loyal regardless" if high else "Indifferent"
    return f"{'High' if high else 'Low'} {outcome or 'outcome'} regardless"


def moved_name(focal: str, expected_way: bool, kind: str) -> str:
    """A segment moved by the focal predictor: as expected (driven, sensitive) or against it (averse, tolerant)."""
    if kind == "lever":
        return f"{_pretty(focal)}-{'driven' if expected_way else 'averse'}"
    return f"{_pretty(focal)}-{'sensitive' if expected_way else 'tolerant'}"


def unclear_name(focal: str, high: bool | None = None, outcome: str = "") -> str:
    """An inconclusive segment: neither an effect nor its absence is shown, and the name claims neither.

    With a named outcome and a known level, the level its members have ("Satisfaction effect unclear, high
    repurchase"): a fact of the data, where the effect is not one.
    """
    level = f", {'high' if high else 'low'} {outcome}" if outcome and high is not None else ""
    return f"{_pretty(focal)} effect unclear{level}"


def _base_name(verdict: str, focal: str, high: bool, higher_is: str, outcome: str, sign: int, kind: str) -> str:
    """A segment's name from its focal verdict (rules 1-5 of :func:`name_segments`)."""
    if verdict in ("drives_up", "drives_down"):
        return moved_name(focal, (verdict == "drives_up") == (sign > 0), kind)
    if verdict in ("does_not_drive", "negligible"):
        return flat_name(high, higher_is, outcome)
    if verdict == "unreliable":
        return f"Unreliable segment, {'high' if high else 'low'} {outcome or 'outcome'}"
    return unclear_name(focal, high, outcome)


def _ordinal(rank: int) -> str:
    return {2: "2nd", 3: "3rd"}.get(rank, f"{rank}th")


def _unique_names(names: dict[int, str], levels: pd.Series, what: str) -> dict[int, str]:
    """Tell apart segments with the same name by their level, then by number."""
    names = dict(names)
    groups: dict[str, list[int]] = {}
    for seg in names:
        groups.setdefault(names[seg], []).append(seg)
    for base, members in groups.items():
        if len(members) < 2:
            continue
        if re.search(r"\b(high|low)\b", base, re.IGNORECASE):
            # the name already says the level against the scale: a rank word beside it could contradict it
            continue
        ranked = sorted(members, key=lambda s: (-levels.get(s, -np.inf), s))
        m = len(ranked)
        for r, seg in enumerate(ranked, start=1):
            if m == 2:
                names[seg] = f"{base}, {'higher' if r == 1 else 'lower'} {what}"
            elif m == 3:
                names[seg] = f"{base}, {('highest', 'middle', 'lowest')[r - 1]} {what}"
            else:
                # ordinal words stay readable where "2 of 4" would not
                names[seg] = f"{base}, {_ordinal(r)} highest {what}" if r > 1 else f"{base}, highest {what}"
    seen: dict[str, int] = {}
    for seg in names:
        seen[names[seg]] = seen.get(names[seg], 0) + 1
    for seg in names:
        if seen[names[seg]] > 1:
            names[seg] = f"{names[seg]} (segment {seg})"
    return names


def _direct_suffix(mediator: str, indirect_verdicts: list[str]) -> str:
    """What a direct-effect name adds about the mediator: its absence only where the indirect effect shows it."""
    if not mediator:
        return ""
    if indirect_verdicts and set(indirect_verdicts) <= {"does_not_drive", "negligible"}:
        return f" without {_pretty(mediator).lower()}"
    return " directly"


def name_chain_segments(effects: pd.DataFrame, focal: str, outcome: str, mediators: list[str],
                        levels: Mapping[int, float], mediator_levels: Mapping[int, float] | None = None,
                        cut: float | None = None, mediator_cut: float | None = None,
                        higher_is: str = "better", unreliable: set | None = None,
                        expected: Mapping[str, str] | None = None) -> dict[int, str]:
    """Name every segment of a chain (focal → mediators → outcome) from its effects' verdicts.

    ``effects`` is :func:`trustseg.model.effects.chain_effects` (``segment,
    kind, path, verdict``); ``levels`` the level of the final outcome of each
    segment (the mean of its members), ``mediator_levels`` that of the first
    mediator; a level counts as high at or above ``cut`` (``mediator_cut``).
    The expected direction of the focal predictor's effects on the final
    outcome comes from ``higher_is`` and ``expected`` (:mod:`trustseg.direction`).

    Rules, in order (``Focal``, ``Mediator`` are the names):

    1. an indirect effect in the expected direction -> ``"{Mediator}-building"``
       (e.g. "Trust-building") for a lever, ``"{Mediator}-eroding"`` for a
       burden (privacy concern lowering intention through trust);
    2. else the direct effect in the expected direction -> ``"{Focal}-driven
       without {mediator}"`` when the indirect effect is shown flat
       (``does_not_drive`` or ``negligible``), ``"{Focal}-driven directly"``
       when it is not (inconclusive, unreliable or against): the name claims
       no absence the data do not show (``-sensitive`` for a burden);
    3. else the total effect against it -> ``"{Focal}-averse"``
       (``-tolerant`` for a burden);
    4. else a total effect shown flat (``does_not_drive`` or ``negligible``):
       a high mediator with an outcome that is not high -> ``"{Mediator}
       regardless"``, otherwise by the outcome's level as
       :func:`name_segments` names a flat segment;
    5. else (nothing shown either way) -> ``"{Focal} effect unclear, high
       {outcome}"`` (or ``low``).

    Segments in ``unreliable`` are named ``"Unreliable segment"``.  Names are
    made unique by level as in :func:`name_segments`.
    """
    _check_higher_is(higher_is)
    sign, kind = expected_sign(focal, higher_is, expected), predictor_kind(focal, higher_is, expected)
    wanted = "drives_up" if sign > 0 else "drives_down"
    against = "drives_down" if sign > 0 else "drives_up"
    mediator = mediators[0] if mediators else ""
    names = {}
    for segment, rows in effects.groupby("segment", sort=True):
        segment = int(segment)
        verdicts = {kind_: [str(v) for v in part["verdict"]] for kind_, part in rows.groupby("kind")}
        high = cut is not None and levels.get(segment, -np.inf) >= cut
        if unreliable and segment in unreliable:
            names[segment] = "Unreliable segment"
        elif wanted in verdicts.get("indirect", []):
            names[segment] = (f"{_pretty(mediator)}-{'building' if kind == 'lever' else 'eroding'}" if mediator
                              else moved_name(focal, True, kind))
        elif wanted in verdicts.get("direct", []):
            names[segment] = moved_name(focal, True, kind) + _direct_suffix(mediator, verdicts.get("indirect", []))
        elif against in verdicts.get("total", []):
            names[segment] = moved_name(focal, False, kind)
        elif set(verdicts.get("total", [])) & {"does_not_drive", "negligible"}:
            mediator_high = (mediator and mediator_levels is not None and mediator_cut is not None
                             and mediator_levels.get(segment, -np.inf) >= mediator_cut)
            names[segment] = (f"{_pretty(mediator)} regardless" if mediator_high and not high
                              else flat_name(high, higher_is, outcome.replace("_", " ")))
        else:
            names[segment] = unclear_name(focal, high if cut is not None else None, outcome.replace("_", " "))
    return _unique_names(names, pd.Series(levels, dtype=float), outcome.replace("_", " ") or "level")
