"""Plain-language names for the segments.

A segment's name says in words what its regression says in numbers: whether
the focal predictor (say satisfaction) drives the outcome (say repurchase) in
the expected direction or against it, and, when it does not, whether the
outcome is nonetheless high or low.  Which direction is expected depends on
the outcome: up for repurchase (``higher_is="better"``), down for switching,
complaints or churn (``higher_is="worse"``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from trustseg.model.validation import INTERCEPT

__all__ = ["name_segments", "segment_levels", "expected_verdict", "against_verdict", "expected_sign", "HIGHER_IS",
           "INTERCEPT"]


HIGH_CUT = 0.6
HIGHER_IS = ("better", "worse")


def expected_sign(higher_is: str = "better") -> int:
    """The sign of the focal effect in the expected direction: +1 when higher is better, -1 when worse."""
    _check_higher_is(higher_is)
    return 1 if higher_is == "better" else -1


def expected_verdict(higher_is: str = "better") -> str:
    """The verdict of a segment driven in the expected direction: ``drives_up`` (better) or ``drives_down`` (worse)."""
    _check_higher_is(higher_is)
    return "drives_up" if higher_is == "better" else "drives_down"


def against_verdict(higher_is: str = "better") -> str:
    """The verdict of a segment driven against the expected direction (the other of ``drives_up``/``drives_down``)."""
    _check_higher_is(higher_is)
    return "drives_down" if higher_is == "better" else "drives_up"


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
                  high_cut: float = HIGH_CUT, higher_is: str = "better") -> dict[int, str]:
    """Name every segment from its focal verdict, the direction the outcome runs and the level of its outcome.

    Parameters
    ----------
    segments : DataFrame
        The segment table (``results/<analysis>/segments.csv`` layout):
        columns ``segment, share, term, estimate`` and ``verdict`` (filled on
        the focal-term rows: ``drives_up``, ``drives_down``, ``negligible``,
        ``does_not_drive``, ``inconclusive`` or ``unreliable``); the
        intercept term is ``"(Intercept)"``.
    focal : str
        Name of the focal predictor (a ``term`` of the table).  It is used in
        the names, with underscores turned into spaces.
    outcome_scale : (float, float), optional
        Lowest and highest possible outcome, e.g. ``(1, 7)``.
    predictor_means : mapping, optional
        Means of the predictors, for the segment level (see
        :func:`segment_levels`).
    outcome : str, optional
        Name of the outcome, used in the names of flat segments when higher
        is worse and to tell apart two segments that would otherwise get the
        same name.
    high_cut : float, default 0.6
        Where the "upper part of the scale" starts, as a share of the range.
    higher_is : {"better", "worse"}, default "better"
        Which way the outcome runs: with ``"worse"`` (switching, complaints,
        churn) the expected effect of the focal predictor is down.

    Returns
    -------
    dict of int to str
        Segment number -> name, in segment order.

    Notes
    -----
    Rules, applied to each segment's focal row (``Focal`` is the capitalised
    focal name, ``focal`` the lower-case one, ``Outcome`` the capitalised
    outcome name or "Outcome"); the *expected* verdict is ``drives_up``
    when higher is better and ``drives_down`` when it is worse:

    1. the expected verdict -> ``"{Focal}-driven"`` (e.g.
       "Satisfaction-driven" for repurchase rising, or for switching
       falling, with satisfaction).
    2. the other of ``drives_up``/``drives_down`` (the outcome moves against
       the expected direction) -> ``"{Focal}-averse"``.
    3. ``does_not_drive`` (the slope is shown to be flat) or ``negligible``
       (it differs from zero, but by less than the equivalence margin: no
       effect of relevant size) -> by the level of the outcome: when higher
       is better ``"Loyal regardless"`` when the level is high,
       ``"Indifferent"`` otherwise; when higher is worse ``"High {outcome}
       regardless"`` / ``"Low {outcome} regardless"``.  The level is the
       predicted outcome at the mean predictors (:func:`segment_levels`).
       It is high when it lies at or above ``low + high_cut * (high - low)``
       of ``outcome_scale``; without a scale, when it is at or above the
       share-weighted mean level of all segments.
    4. ``unreliable`` (the segments stage found the estimates cannot be
       trusted; see its ``problems`` column) -> ``"Unreliable segment, high
       {outcome}"`` or ``"..., low {outcome}"`` by the same level.
    5. ``inconclusive`` (or missing): a slope estimate in the expected
       direction -> ``"Weakly {focal}-driven"``; otherwise ``"Mixed"``.

    Names are made unique deterministically: when several segments share a
    name, the one with the highest level gets the qualifier "higher
    {outcome}" (or "higher level") and the one with the lowest "lower
    {outcome}" when there are two; three get "highest/middle/lowest {outcome}"
    and more "highest, 2nd highest, ... {outcome}", ranked from the highest
    level (ties by segment number).  If names still
    coincide, ``"(segment k)"`` is appended.
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
    names = {seg: _base_name(focal_rows[focal_rows["segment"] == seg], focal, levels.get(seg, np.nan) >= cut,
                             higher_is, outcome_txt)
             for seg in seg_ids}
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


def _base_name(row: pd.DataFrame, focal: str, high: bool, higher_is: str, outcome: str) -> str:
    """A segment's name from its focal row (rules 1-5 of :func:`name_segments`)."""
    verdict = ""
    est = np.nan
    if not row.empty:
        r = row.iloc[0]
        verdict = "" if "verdict" not in row.columns or pd.isna(r["verdict"]) else str(r["verdict"])
        est = float(r["estimate"])
    focal_lc = _pretty(focal).lower()
    sign = 1 if higher_is == "better" else -1
    if verdict == expected_verdict(higher_is):
        return f"{_pretty(focal)}-driven"
    if verdict == against_verdict(higher_is):
        return f"{_pretty(focal)}-averse"
    if verdict in ("does_not_drive", "negligible"):
        if higher_is == "better":
            return "Loyal regardless" if high else "Indifferent"
        return f"{'High' if high else 'Low'} {outcome or 'outcome'} regardless"
    if verdict == "unreliable":
        return f"Unreliable segment, {'high' if high else 'low'} {outcome or 'outcome'}"
    if np.isfinite(est) and sign * est > 0:
        return f"Weakly {focal_lc}-driven"
    return "Mixed"


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


def name_chain_segments(effects: pd.DataFrame, focal: str, outcome: str, mediators: list[str],
                        levels: Mapping[int, float], mediator_levels: Mapping[int, float] | None = None,
                        cut: float | None = None, mediator_cut: float | None = None,
                        higher_is: str = "better", unreliable: set | None = None) -> dict[int, str]:
    """Name every segment of a chain (focal → mediators → outcome) from its effects' verdicts.

    ``effects`` is :func:`trustseg.model.effects.chain_effects` (``segment,
    kind, path, verdict``); ``levels`` the expected final outcome of each
    segment at the mean predictors, ``mediator_levels`` that of the first
    mediator; a level counts as high at or above ``cut`` (``mediator_cut``).

    Rules, in order (``Focal``, ``Mediator``, ``Outcome`` are the names):

    1. an indirect effect with the expected verdict (the focal predictor
       moves the outcome through a mediator) -> ``"{Mediator}-building"``
       (e.g. "Trust-building");
    2. else the direct effect with the expected verdict -> ``"{Focal}-driven
       without {mediator}"`` (e.g. "Satisfaction-driven without trust");
    3. else the total effect against the expected direction ->
       ``"{Focal}-averse"``;
    4. else, the focal predictor driving neither: a high mediator ->
       ``"{Mediator} regardless"`` ("Trust regardless": trusting whatever
       their satisfaction), a high outcome -> ``"High {outcome}
       regardless"`` ("Loyal regardless" when the outcome is loyalty-like,
       higher being better: see below), otherwise ``"Indifferent"``.

    Segments in ``unreliable`` are named ``"Unreliable segment"``.  When
    higher is better the high-outcome name is "Loyal regardless", the word
    the single-equation names use.  Names are made unique by level as in
    :func:`name_segments`.
    """
    _check_higher_is(higher_is)
    expected = expected_verdict(higher_is)
    against = against_verdict(higher_is)
    mediator = mediators[0] if mediators else ""
    names = {}
    for segment, rows in effects.groupby("segment", sort=True):
        segment = int(segment)
        verdict = {(r.kind, r.path): str(r.verdict) for r in rows.itertuples()}
        indirect = [v for (kind, _), v in verdict.items() if kind == "indirect"]
        direct = [v for (kind, _), v in verdict.items() if kind == "direct"]
        total = [v for (kind, _), v in verdict.items() if kind == "total"]
        if unreliable and segment in unreliable:
            names[segment] = "Unreliable segment"
        elif expected in indirect:
            names[segment] = f"{_pretty(mediator)}-building" if mediator else f"{_pretty(focal)}-driven"
        elif expected in direct:
            names[segment] = (f"{_pretty(focal)}-driven without {_pretty(mediator).lower()}" if mediator
                              else f"{_pretty(focal)}-driven")
        elif against in total:
            names[segment] = f"{_pretty(focal)}-averse"
        elif mediator and mediator_levels is not None and mediator_cut is not None \
                and mediator_levels.get(segment, -np.inf) >= mediator_cut \
                and not (cut is not None and levels.get(segment, -np.inf) >= cut):
            names[segment] = f"{_pretty(mediator)} regardless"
        elif cut is not None and levels.get(segment, -np.inf) >= cut:
            names[segment] = "Loyal regardless" if higher_is == "better" else f"High {outcome} regardless"
        else:
            names[segment] = "Indifferent" if higher_is == "better" else f"Low {outcome} regardless"
    return _unique_names(names, pd.Series(levels, dtype=float), outcome.replace("_", " ") or "level")
