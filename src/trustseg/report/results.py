"""Read a run's ``results/`` directory for the notebooks and the report.

The notebooks fit nothing: they call :func:`load_cleaning` and
:func:`load_analysis` and turn the numbers into tables, figures and sentences
with the helpers below.  Every sentence is computed from the tables, so the
same notebook reads correctly on any survey and any config.  The settings of
an analysis (outcome, focal predictor, confidence levels, criterion, margin,
chosen K) are read from ``results/<name>/analysis.json``, which the workflow
writes, never recovered from the tables.

Required files missing raise :class:`~trustseg.errors.TrustsegError` naming
the file; optional pieces (bootstrap, profiles, captions, ...) that a config
switched off are ``None``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import pandas as pd

from trustseg.errors import TrustsegError
from trustseg.model.diagnostics import problems_phrase
from trustseg.model.validation import INTERCEPT
from trustseg.render import join_words
from trustseg.report.naming import against_verdict, expected_sign, expected_verdict

__all__ = [
    "Figure", "CleaningResults", "AnalysisSettings", "AnalysisResults", "load_cleaning", "load_settings",
    "load_analysis", "list_analyses", "resolve_analyses", "load_run_config", "segment_names", "segment_summary",
    "verdict_sentence", "segment_sentence", "slope_comparison_sentences", "expected_verdict", "against_verdict",
    "selection_sentence", "classification_summary",
    "classification_sentence", "stability_sentence", "fmt_ci", "fmt_pct", "fmt_num",
    "profile_overview", "profile_tests", "profile_sentences", "odds_ratios", "reference_segment",
    "membership_sentences", "segment_means", "show_figure",
    "label", "analysis_question", "caution_sentence", "constructs_sentence", "profile_variables", "profile_intro",
    "managerial_reading", "segment_problems", "residual_spread_sentences", "cleaning_rule_sentences",
    "cleaning_warnings", "analysis_warnings", "run_warnings", "warnings_markdown", "warnings_html", "write_warnings",
]


CRITERIA = ("bic", "icl", "aic", "aic3", "caic", "sabic")
NOT_ANALYSES = {"cleaning", "figures", "notebooks", "logs", "report"}


# ----------------------------------------------------------------------------- containers


@dataclass
class Figure:
    """A PNG figure of the run and its caption (empty when no caption file exists)."""

    key: str
    path: Path
    caption: str = ""


@dataclass
class CleaningResults:
    """``results/cleaning/*`` and the cleaning figure."""

    results_dir: Path
    clean: pd.DataFrame
    report: pd.DataFrame
    reliability: pd.DataFrame
    n_flagged: int
    figures: dict[str, Figure] = field(default_factory=dict)

    @property
    def captions(self) -> dict[str, str]:
        return {k: f.caption for k, f in self.figures.items()}


@dataclass(frozen=True)
class AnalysisSettings:
    """``results/<name>/analysis.json``: the settings the workflow ran an analysis with, and the chosen K."""

    outcome: str
    predictors: list[str]
    focal: str
    method: str
    criterion: str
    k: int
    """Number of segments of the chosen model."""
    k_requested: int
    """The candidate K (config key ``segments``) whose fit was chosen; ``k`` is smaller if a segment was removed."""
    cov_type: str
    alpha: float
    ci_level: float
    """Confidence level of the segment intervals, ``1 - alpha``."""
    equivalence_margin: float
    membership_ci_level: float
    """Confidence level of the membership model's odds-ratio intervals (always 95%)."""
    higher_is: str = "better"
    """Which way the outcome runs: ``better`` (the focal effect is expected up) or ``worse`` (expected down)."""
    verdict_adjustment: str = "none"
    """``none`` (each segment's verdict at level alpha) or ``holm`` (Holm-adjusted over the segments)."""
    equations: tuple = ()
    """A chain's equations in order, as ``(outcome, predictors)`` pairs; empty for one outcome."""

    @property
    def is_chain(self) -> bool:
        return bool(self.equations)

    @property
    def mediators(self) -> list[str]:
        """A chain's outcomes that explain a later outcome (trust between satisfaction and repurchase)."""
        outcomes = [o for o, _ in self.equations]
        return [o for o in outcomes[:-1] if any(o in ps for _, ps in self.equations)]


@dataclass
class AnalysisResults:
    """``results/<name>/*``: the chosen segmentation, its settings and its evidence.

    ``bootstrap``, ``bootstrap_ari``, ``profiles``, ``membership`` and
    ``start_logliks`` are ``None`` when the run did not produce them
    (bootstrap switched off, no profile variables).
    """

    name: str
    path: Path
    settings: AnalysisSettings
    model_selection: pd.DataFrame
    segments: pd.DataFrame
    tests: pd.DataFrame
    assignments: pd.DataFrame
    classification: pd.DataFrame
    start_logliks: pd.DataFrame | None = None
    bootstrap: pd.DataFrame | None = None
    bootstrap_ari: pd.DataFrame | None = None
    profiles: pd.DataFrame | None = None
    membership: pd.DataFrame | None = None
    residual_spread: pd.DataFrame | None = None
    """``residual_spread.csv``: per segment and predictor, whether the residual spread changes with it."""
    effects: pd.DataFrame | None = None
    """``effects.csv`` of a chain: paths, direct, indirect and total effects per segment (None otherwise)."""
    figures: dict[str, Figure] = field(default_factory=dict)

    @property
    def captions(self) -> dict[str, str]:
        return {k: f.caption for k, f in self.figures.items()}

    @property
    def k(self) -> int:
        """Number of segments of the chosen model."""
        return self.settings.k

    @property
    def focal(self) -> str:
        """The focal predictor (whose slope gets a verdict)."""
        return self.settings.focal

    @property
    def names(self) -> dict[int, str]:
        return segment_names(self.segments)

    def figure(self, key: str) -> Figure | None:
        return self.figures.get(key)


# ----------------------------------------------------------------------------- reading


def _missing(path: Path) -> TrustsegError:
    return TrustsegError(
        f"results file '{path}' does not exist; run snakemake first (e.g. `snakemake --cores 2`) "
        "so that results/ holds this run's tables."
    )


def _read_csv(path: Path, required: bool = True, **kwargs) -> pd.DataFrame | None:
    if not path.is_file():
        if required:
            raise _missing(path)
        return None
    try:
        return pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _read_captions(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out = {}
    for key, value in data.items():
        out[key] = value.get("caption", "") if isinstance(value, dict) else str(value)
    return out


def _figures(directory: Path) -> dict[str, Figure]:
    """Every PNG in ``directory`` with its caption from ``captions_*.json``."""
    captions: dict[str, str] = {}
    if directory.is_dir():
        for file in sorted(directory.glob("captions_*.json")):
            captions.update(_read_captions(file))
    figures = {}
    for key, caption in captions.items():
        png = directory / f"{key}.png"
        if png.is_file():
            figures[key] = Figure(key, png, caption)
    if directory.is_dir():
        for png in sorted(directory.glob("*.png")):
            figures.setdefault(png.stem, Figure(png.stem, png, ""))
    return figures


def load_cleaning(results_dir: str | Path = "results") -> CleaningResults:
    """Read ``results/cleaning/`` (clean data, rule report, reliability, flagged count)."""
    root = Path(results_dir)
    base = root / "cleaning"
    clean = _read_csv(base / "clean.csv", dtype={"respondent_id": str})
    report = _read_csv(base / "report.csv")
    reliability = _read_csv(base / "reliability.csv")
    flagged_path = base / "flagged.csv"
    if not flagged_path.is_file():
        raise _missing(flagged_path)
    n_flagged = len(_read_csv(flagged_path, usecols=[0], dtype=str))
    return CleaningResults(root, clean, report, reliability, n_flagged, _figures(root / "figures"))


def load_settings(path: str | Path) -> AnalysisSettings:
    """Read one ``results/<name>/analysis.json``."""
    path = Path(path)
    if not path.is_file():
        raise _missing(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise TrustsegError(f"results file '{path}' is not valid JSON ({exc}); rerun snakemake.") from None
    names = [f.name for f in fields(AnalysisSettings)]
    data.setdefault("equations", [])  # written since chains exist; a one-outcome analysis has none
    data["equations"] = tuple((e["outcome"], tuple(e["predictors"])) for e in data["equations"])
    missing = [n for n in names if n not in data]
    if missing:
        raise TrustsegError(
            f"results file '{path}' lacks {missing}; it was written by another version, rerun snakemake."
        )
    return AnalysisSettings(**{n: data[n] for n in names})


def load_analysis(results_dir: str | Path, name: str) -> AnalysisResults:
    """Read ``results/<name>/``: settings, model selection, segments, tests, evidence, profiles, figures."""
    base = Path(results_dir) / name
    if not base.is_dir():
        raise TrustsegError(
            f"results directory '{base}' does not exist; run snakemake first, or check the analysis name "
            f"(found: {list_analyses(results_dir) or 'none'})."
        )
    return AnalysisResults(
        name=name,
        path=base,
        settings=load_settings(base / "analysis.json"),
        model_selection=_read_csv(base / "model_selection.csv"),
        segments=_read_csv(base / "segments.csv"),
        tests=_read_csv(base / "tests.csv"),
        assignments=_read_csv(base / "assignments.csv", dtype={"respondent_id": str}),
        classification=_read_csv(base / "classification.csv"),
        start_logliks=_read_csv(base / "start_logliks.csv", required=False),
        bootstrap=_read_csv(base / "bootstrap.csv", required=False),
        bootstrap_ari=_read_csv(base / "bootstrap_ari.csv", required=False),
        profiles=_read_csv(base / "profiles.csv", required=False, keep_default_na=False, na_values=[""]),
        membership=_read_csv(base / "membership.csv", required=False),
        residual_spread=_read_csv(base / "residual_spread.csv", required=False),
        effects=_read_csv(base / "effects.csv", required=False),
        figures=_figures(base / "figures"),
    )


def list_analyses(results_dir: str | Path = "results") -> list[str]:
    """Analyses found in ``results_dir`` (sub-directories holding ``segments.csv``), sorted."""
    root = Path(results_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and p.name not in NOT_ANALYSES and (p / "segments.csv").is_file())


def resolve_analyses(results_dir: str | Path = "results", analyses=None) -> list[str]:
    """The analyses a notebook shows: ``analyses`` as given (a name or a list), or all found."""
    if analyses is None:
        found = list_analyses(results_dir)
        if not found:
            raise TrustsegError(f"no analysis found in '{results_dir}' (no */segments.csv); run snakemake first.")
        return found
    if isinstance(analyses, str):
        return [analyses]
    return list(analyses)


def load_run_config(source: str | Path | None) -> dict | None:
    """The run's validated config, or ``None`` when it cannot be read (the notebooks then say less)."""
    if not source or not Path(source).is_file():
        return None
    try:
        from trustseg.config import load_config

        return load_config(source)
    except Exception:  # noqa: BLE001 - a narrative notebook must render without the config
        return None


# ----------------------------------------------------------------------------- numbers


def segment_names(segments: pd.DataFrame) -> dict[int, str]:
    """Segment number -> plain-language name."""
    if segments is None or segments.empty:
        return {}
    if "name" not in segments.columns:
        return {int(s): f"Segment {int(s)}" for s in segments["segment"].unique()}
    first = segments.groupby("segment", sort=True)["name"].first()
    return {int(s): (str(n) if isinstance(n, str) and n else f"Segment {int(s)}") for s, n in first.items()}


def segment_summary(segments: pd.DataFrame, focal: str) -> pd.DataFrame:
    """One row per segment: name, share, size, intercept, focal slope with interval, verdict.

    Also ``p_zero_adjusted`` and ``p_tost_adjusted`` when the verdicts were
    Holm-adjusted, and ``problems`` when the segment table has that column.
    For a chain (an ``equation`` column) the rows of its first equation: the
    focal predictor's first path (the chain's effects are in ``effects.csv``).
    """
    if "equation" in segments.columns and len(segments):
        segments = segments.loc[segments["equation"] == segments["equation"].iloc[0]]
    rows = []
    for seg, part in segments.groupby("segment", sort=True):
        by_term = part.set_index("term")
        slope = by_term.loc[focal] if focal in by_term.index else None
        row = {
            "segment": int(seg),
            "name": segment_names(part)[int(seg)],
            "share": float(part["share"].iloc[0]) if "share" in part else float("nan"),
            "n_assigned": int(part["n_assigned"].iloc[0]) if "n_assigned" in part else pd.NA,
            "intercept": float(by_term.loc[INTERCEPT, "estimate"]) if INTERCEPT in by_term.index else float("nan"),
            "slope": float(slope["estimate"]) if slope is not None else float("nan"),
            "ci_low": float(slope["ci_low"]) if slope is not None else float("nan"),
            "ci_high": float(slope["ci_high"]) if slope is not None else float("nan"),
            "p_value": float(slope["p_value"]) if slope is not None else float("nan"),
            "p_tost": float(slope["p_tost"]) if slope is not None and "p_tost" in slope else float("nan"),
            "verdict": str(slope["verdict"]) if slope is not None and isinstance(slope.get("verdict"), str) else "",
            "sigma": float(part["sigma"].iloc[0]) if "sigma" in part else float("nan"),
        }
        for column in ("p_zero_adjusted", "p_tost_adjusted"):
            if column in segments.columns:
                row[column] = float(slope[column]) if slope is not None else float("nan")
        if "problems" in segments.columns:
            codes = part["problems"].dropna().astype(str)
            row["problems"] = next((c for c in codes if c), "")
        rows.append(row)
    return pd.DataFrame(rows)


def fmt_pct(x: float, digits: int = 0) -> str:
    return "n/a" if x is None or not math.isfinite(float(x)) else f"{100 * float(x):.{digits}f}%"


def fmt_num(x: float, digits: int = 2) -> str:
    """A number with a typographic minus sign (and no ``-0.00``)."""
    if x is None or not math.isfinite(float(x)):
        return "n/a"
    text = f"{float(x):.{digits}f}"
    if text.lstrip("-").strip("0.") == "":
        text = text.lstrip("-")
    return text.replace("-", "\u2212")


_num = fmt_num


def fmt_ci(low: float, high: float, digits: int = 2) -> str:
    """``0.87–1.01``, or ``−0.03 to 0.07`` when a bound is negative."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    sep = "\u2013" if low >= 0 and high >= 0 else " to "
    return f"{_num(low, digits)}{sep}{_num(high, digits)}"


def _p(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _moves(slope: float) -> str:
    return "rises" if slope > 0 else "falls"


def segment_sentence(row: pd.Series | dict, focal: str, outcome: str = "the outcome", level: float = 0.95,
                     margin: float | None = None, higher_is: str = "better") -> str:
    """One plain-language sentence about one segment's focal slope (a row of :func:`segment_summary`).

    ``higher_is`` (``better`` or ``worse``) says which direction of the
    effect is the expected one; a segment driven the other way is said to
    run against it, never called an anomaly.  With Holm-adjusted verdicts
    (columns ``p_zero_adjusted``, ``p_tost_adjusted``) the sentence quotes
    the adjusted p-values.
    """
    focal_txt = str(focal).replace("_", " ")
    outcome_txt = str(outcome).replace("_", " ")
    slope, lo, hi = float(row["slope"]), float(row["ci_low"]), float(row["ci_high"])
    conf = f"{100 * level:.0f}% CI {fmt_ci(lo, hi)}"
    head = f"In segment {int(row['segment'])} ({row['name']}, {fmt_pct(row['share'])} of respondents)"
    verdict = row.get("verdict", "")
    band = f"\u00b1{margin:g}" if margin is not None else "the equivalence margin"
    adjusted = _finite(row.get("p_tost_adjusted"))
    tost = adjusted if adjusted is not None else _finite(row.get("p_tost"))
    tost_txt = f" (TOST{', Holm-adjusted' if adjusted is not None else ''} {_p(tost)})" if tost is not None else ""
    if verdict in ("drives_up", "drives_down"):
        way = "up" if verdict == "drives_up" else "down"
        text = (f"{head} {outcome_txt} {_moves(slope)} {_num(abs(slope))} points per {focal_txt} point ({conf}): "
                f"{focal_txt} drives {outcome_txt} {way} here")
        if verdict == against_verdict(higher_is):
            expected = "up" if expected_verdict(higher_is) == "drives_up" else "down"
            text += (f", against the expected direction (higher {outcome_txt} is {higher_is}, so {focal_txt} "
                     f"would be expected to drive it {expected})")
        return text + "."
    if verdict == "negligible":
        return (f"{head} {outcome_txt} {_moves(slope)} only {_num(abs(slope))} points per {focal_txt} point "
                f"({conf}): the slope differs from zero, but the equivalence test{tost_txt} places it within {band}, "
                f"so {focal_txt} has a real but negligible effect on {outcome_txt} in this segment.")
    if verdict == "does_not_drive":
        return (f"{head} {outcome_txt} barely moves with {focal_txt}: the slope is {_num(slope)} points per point "
                f"({conf}), and the equivalence test{tost_txt} places it within {band}, so {focal_txt} does "
                f"not drive {outcome_txt} in this segment.")
    if verdict == "unreliable":
        problems = str(row.get("problems") or "").strip()
        said = f" ({problems.replace(';', ', ')})" if problems and problems.lower() != "nan" else ""
        return (f"{head} the estimates cannot be trusted: the segment has problems{said}, listed in the problems "
                f"column of segments.csv, so no verdict is given on whether {focal_txt} drives {outcome_txt} here "
                f"(slope {_num(slope)}, {conf}, shown for completeness only).")
    text = (f"{head} the slope of {outcome_txt} on {focal_txt} is {_num(slope)} points per point ({conf}); the "
            f"data can neither show that {focal_txt} drives {outcome_txt} here nor that the effect is negligible "
            f"(within {band}), so the verdict is inconclusive")
    if _finite(row.get("p_zero_adjusted")) is not None and (lo > 0 or hi < 0):
        text += (" (the interval excludes zero, but the test does not hold after the Holm adjustment for testing "
                 "several segments)")
    return text + "."


def _finite(value) -> float | None:
    """``value`` as a float when it is a finite number, else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def verdict_sentence(segments: pd.DataFrame, settings: AnalysisSettings, segment: int | None = None) -> str:
    """Plain-language verdicts, one sentence per segment (or only ``segment``), from the segment table.

    The focal predictor, outcome, confidence level, equivalence margin and
    the direction the outcome runs (``higher_is``) come from ``settings``.
    """
    summary = segment_summary(segments, settings.focal)
    if segment is not None:
        summary = summary.loc[summary["segment"] == int(segment)]
    return " ".join(segment_sentence(r, settings.focal, settings.outcome, settings.ci_level,
                                     settings.equivalence_margin, settings.higher_is)
                    for _, r in summary.iterrows())


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
                   f"{int(o['df'])} df, {_p(p)}; {found}.")

    def label(seg: int) -> str:
        return f"{seg} ({names[seg]})" if names.get(seg) else str(seg)

    for _, r in tests.loc[tests["segment_a"].notna()].iterrows():
        a, b = int(r["segment_a"]), int(r["segment_b"])
        pair = f"Segments {label(a)} and {label(b)}"
        diff = f"difference {_num(float(r['difference']))}"
        holm = f"Holm {_p(float(r['p_holm']))}" if _finite(r.get("p_holm")) is not None else "Holm p = n/a"
        tost = _finite(r.get("p_tost_holm"))
        tost_txt = f"equivalence test Holm {_p(tost)}" if tost is not None else "no equivalence test"
        comparison = r.get("comparison", "")
        if comparison == "alike":
            detectable = " (detectably, but by less than the margin)" if _finite(r.get("p_holm")) is not None and \
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
        text += (f" For K = {k}, {int(row['n_best_starts'])}{n_starts} starts reached the best solution "
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
            text += _lr_remarks(lr, settings)
    return text


def _lr_remarks(lr: pd.DataFrame, settings: AnalysisSettings) -> str:
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


def classification_summary(classification: pd.DataFrame) -> dict[str, float]:
    """The summary measures of ``classification.csv`` (n, k, entropy_r2, classification_error, ...)."""
    rows = classification.loc[classification["table"] == "summary"]
    return {str(m): float(v) for m, v in zip(rows["measure"], rows["value"])}


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


# ----------------------------------------------------------------------------- profiles and membership


def profile_overview(profiles: pd.DataFrame | None) -> pd.DataFrame | None:
    """Wide profile table: one row per variable (and category), one column per segment plus ``overall``.

    Categorical rows hold percentages of the segment in the category; numeric
    rows the segment mean.  ``p_value`` and the effect size of the variable's
    test repeat on each of its rows.
    """
    if profiles is None or profiles.empty:
        return None
    df = profiles.copy()
    df["level"] = df["level"].astype(object).fillna("").astype(str)
    categorical = df["kind"].astype(str) == "categorical"
    df.loc[categorical, "value"] = 100 * df.loc[categorical, "value"].astype(float)
    df.loc[categorical, "overall"] = 100 * df.loc[categorical, "overall"].astype(float)
    df["unit"] = categorical.map({True: "%", False: "mean"})
    wide = df.pivot_table(index=["variable", "level", "unit"], columns="segment", values="value", sort=False)
    wide.columns = [f"segment {int(c)}" for c in wide.columns]
    info = df.groupby(["variable", "level", "unit"], sort=False)[["overall", "p_value", "effect_size"]].first()
    out = wide.join(info).reset_index()
    return out


def profile_tests(profiles: pd.DataFrame | None) -> pd.DataFrame | None:
    """One row per profile variable: its test of differences between segments and the effect size."""
    if profiles is None or profiles.empty:
        return None
    cols = [c for c in ("variable", "kind", "test", "statistic", "df", "p_value", "effect_size", "effect_measure",
                        "n_missing") if c in profiles.columns]
    return profiles.groupby("variable", sort=False)[cols[1:]].first().reset_index()


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
                f"{t['variable']} ({_p(p)}, {t['effect_measure']} {float(t['effect_size']):.2f}): "
                f"'{top['level']}' is most over-represented in segment {s} ({names.get(s, '')}): "
                f"{fmt_pct(top['value'])} against {fmt_pct(top['overall'])} overall."
            )
        else:
            hi = rows.loc[rows["value"].astype(float).idxmax()]
            lo = rows.loc[rows["value"].astype(float).idxmin()]
            effect = (f", {t['effect_measure']} {float(t['effect_size']):.2f}"
                      if pd.notna(t.get("effect_size")) and str(t.get("effect_measure", "")) not in ("", "nan") else "")
            out.append(
                f"{t['variable']} ({_p(p)}{effect}): highest in segment {int(hi['segment'])} "
                f"({names.get(int(hi['segment']), '')}, mean {float(hi['value']):.2f}), lowest in segment "
                f"{int(lo['segment'])} ({names.get(int(lo['segment']), '')}, mean {float(lo['value']):.2f}); "
                f"overall {float(hi['overall']):.2f}."
            )
    return out


def odds_ratios(membership: pd.DataFrame | None) -> pd.DataFrame | None:
    """Membership logit as odds ratios (intercepts left out), one row per segment and term."""
    if membership is None or membership.empty:
        return None
    df = membership.loc[membership["term"] != INTERCEPT]
    cols = [c for c in ("segment", "term", "odds_ratio", "or_ci_low", "or_ci_high", "p_value") if c in df.columns]
    return df[cols].reset_index(drop=True)


def reference_segment(membership: pd.DataFrame | None, segments: pd.DataFrame) -> int | None:
    """The baseline segment of the membership logit (the one without rows)."""
    if membership is None or membership.empty:
        return None
    left = sorted(set(int(s) for s in segments["segment"].unique()) - set(int(s) for s in membership["segment"]))
    return left[0] if left else None


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


# ----------------------------------------------------------------------------- descriptive segment means


def segment_means(assignments: pd.DataFrame, clean: pd.DataFrame, columns) -> pd.DataFrame:
    """Mean of ``columns`` of the clean data among each segment's modal members (descriptive, no fitting)."""
    cols = [c for c in dict.fromkeys(columns) if c in clean.columns]
    data = assignments[["respondent_id", "segment"]].merge(clean[["respondent_id", *cols]], on="respondent_id",
                                                           how="left")
    out = data.groupby("segment")[cols].mean()
    out.insert(0, "n", data.groupby("segment").size())
    return out.reset_index()


# ----------------------------------------------------------------------------- display


def show_figure(figure: Figure | None, width: int | None = 720) -> None:
    """Display a PNG and its caption in a notebook (nothing when the figure does not exist)."""
    from IPython.display import Image, Markdown, display

    if figure is None or not Path(figure.path).is_file():
        return
    alt = figure.caption.split(". ")[0] if figure.caption else figure.key.replace("_", " ")
    display(Image(filename=str(figure.path), width=width, alt=alt))
    if figure.caption:
        display(Markdown(f"*Figure: {figure.caption}*"))


# ----------------------------------------------------------------------------- the run's own words
#
# Every sentence below that names a construct, an outcome, a predictor or a
# profile variable takes the name from the run (its settings or config), never
# from the bundled example, so the notebooks read correctly on any survey.


def label(name) -> str:
    """A variable name as words: ``service_quality`` -> ``service quality``."""
    return str(name).replace("_", " ").strip()


def _higher_is(settings) -> str:
    """``better`` or ``worse``: which way the outcome runs (``better`` for results written without the key)."""
    return getattr(settings, "higher_is", None) or "better"


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
    if _higher_is(settings) == "worse":
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


def profile_variables(config: dict | None, profiles: pd.DataFrame | None = None) -> list[str]:
    """The run's profile variables: config key ``profile``, or the variables of ``profiles.csv``."""
    if config is not None and config.get("profile") is not None:
        return [str(v) for v in config["profile"]]
    if profiles is None or profiles.empty:
        return []
    return [str(v) for v in dict.fromkeys(profiles["variable"])]


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
    hoped = expected_sign(_higher_is(settings))
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
            said = _problems_words(_text(r.get("problems")), one_segment=True) or "see the problems column"
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


def segment_problems(segments: pd.DataFrame | None) -> dict[int, str]:
    """Segment -> its ``problems`` codes (empty when none, or when the table has no such column)."""
    if segments is None or segments.empty or "problems" not in segments.columns:
        return {}
    first = segments.groupby("segment", sort=True)["problems"].first()
    return {int(s): (str(p) if isinstance(p, str) else "") for s, p in first.items()}


def _problems_words(codes: str, k: int | None = None, one_segment: bool = False) -> str:
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
            parts.append(f"{how} with {what} ({_p(float(r.p_value))})")
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


def _flag_counts(flagged: pd.DataFrame | None, action: str) -> dict[str, int]:
    """Rule -> number of flagged respondents with ``action`` (``dropped``/``kept``) in ``flagged.csv``."""
    if flagged is None or flagged.empty or "rules" not in flagged.columns or "action" not in flagged.columns:
        return {}
    rules = flagged.loc[flagged["action"].astype(str) == action, "rules"].dropna().astype(str)
    return rules.str.split("; ").explode().value_counts(sort=False).sort_index().astype(int).to_dict()


def _rows(report: pd.DataFrame, rule: str) -> int | None:
    hit = report.loc[report["rule"] == rule, "rows_affected"]
    return int(hit.iloc[0]) if len(hit) and pd.notna(hit.iloc[0]) else None


def cleaning_warnings(results_dir: str | Path = "results") -> list[str]:
    """What the cleaning cost or flagged, in plain sentences (``results/cleaning/``).

    Respondents dropped (by rule), flagged respondents kept (with the rule's
    reason, e.g. straight-liners on a block without reverse-keyed items),
    answers set to missing, construct scores left missing, and reliability
    warnings.  Personal-data columns are not listed (their names can be
    personal).
    """
    base = Path(results_dir) / "cleaning"
    report = _read_csv(base / "report.csv")
    flagged = _read_csv(base / "flagged.csv", dtype=str)
    reliability = _read_csv(base / "reliability.csv", required=False)
    out = []
    if not flagged.empty and "action" not in flagged.columns:
        # written before flagged.csv said each row's fate: every flagged row had the same one, which the summary
        # row says (or, without it, the count: the rows read but not in clean.csv were dropped)
        summary = report.loc[report["rule"] == "flagged", "action"].astype(str)
        n_read, n_clean = _rows(report, "input"), _rows(report, "clean")
        dropped_all = (summary.iloc[0].startswith("dropped") if len(summary)
                       else n_read is not None and n_clean is not None and n_read - n_clean >= len(flagged))
        flagged = flagged.assign(action="dropped" if dropped_all else "kept")
    fates = flagged["action"].astype(str) if "action" in flagged.columns else pd.Series(dtype=str)
    n_dropped, n_kept = int((fates == "dropped").sum()), int((fates == "kept").sum())
    dropped, kept = _flag_counts(flagged, "dropped"), _flag_counts(flagged, "kept")
    n_read = _rows(report, "input")
    of = f" of {n_read:,}" if n_read else ""
    if n_dropped:
        by = "; ".join(f"{rule} {n:,}" for rule, n in dropped.items())
        out.append(f"The cleaning dropped {n_dropped:,}{of} respondents ({by}; one respondent can be flagged by "
                   "several rules). They are in no analysis; results/cleaning/flagged.csv lists them with the reason.")
    if n_kept:
        by = "; ".join(f"{rule} {n:,}" for rule, n in kept.items())
        out.append(f"{n_kept:,} respondent{'s were' if n_kept != 1 else ' was'} flagged by the cleaning but kept in "
                   f"the analyses ({by}); results/cleaning/flagged.csv lists them with the reason.")
        reasons = dict(cleaning_rule_sentences(report))
        for rule in kept:
            if rule in reasons:
                out.append(f"Flagged but kept, {rule}: {reasons[rule]}")
    for r in report.itertuples():
        rule = str(r.rule)
        cells = getattr(r, "cells_affected", None)
        if "set to missing" in str(r.action) and cells is not None and pd.notna(cells) and int(cells) > 0:
            detail = f": {r.detail}" if pd.notna(r.detail) and str(r.detail).strip() else ""
            out.append(f"{int(cells):,} answer{'s' if int(cells) != 1 else ''} set to missing by the {rule} rule"
                       f"{detail}.")
        if rule.startswith("construct_score:") and pd.notna(r.rows_affected) and int(r.rows_affected) > 0:
            n, construct = int(r.rows_affected), label(rule.split(":", 1)[1])
            out.append(f"{n:,} respondent{'s have' if n != 1 else ' has'} no {construct} score (too few of its items "
                       f"answered) and {'are' if n != 1 else 'is'} left out of any analysis that uses it.")
    if reliability is not None and not reliability.empty and "warning" in reliability.columns:
        rel = reliability.loc[(reliability["level"] == "construct") & reliability["warning"].notna()]
        for r in rel.itertuples():
            if str(r.warning).strip():
                out.append(f"Reliability of {label(r.construct)}: {str(r.warning).strip()}")
    return out


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _continue(sentence: str) -> str:
    """A sentence to follow "Analysis name: ": its first word in lower case unless it is a name or a symbol."""
    word = sentence.split(" ", 1)[0]
    if len(word) > 1 and word.isalpha() and word[0].isupper() and word[1:].islower():
        return sentence[:1].lower() + sentence[1:]
    return sentence


def analysis_warnings(results_dir: str | Path, name: str) -> list[str]:
    """The warnings of one analysis, each starting with its name.

    How K was chosen when a better-criterion K was passed over
    (``choice_note``), a chosen fit that did not converge or was found by one
    seed stream only, bootstrap LR p-values at their floor or at odds with the
    criterion, segments with problems (verdict ``unreliable``), and segments
    whose residual spread changes with a predictor.  Columns and files an
    older run did not write add nothing.
    """
    base = Path(results_dir) / name
    settings = load_settings(base / "analysis.json")
    ms = _read_csv(base / "model_selection.csv")
    segments = _read_csv(base / "segments.csv")
    spread = _read_csv(base / "residual_spread.csv", required=False)
    names = segment_names(segments)
    head = f"Analysis {name}: "
    out = []
    chosen = ms.loc[ms["k_requested"] == settings.k_requested] if "k_requested" in ms.columns else ms.iloc[0:0]
    row = chosen.iloc[0] if len(chosen) else None
    if row is not None:
        note = _text(row.get("choice_note"))
        if note and (settings.criterion != "lr_test" or "passed over" in note or _text(row.get("problems"))):
            out.append(head + _continue(note))
        if "converged" in row and pd.notna(row["converged"]) and not bool(row["converged"]):
            out.append(head + f"the chosen fit (K = {settings.k}) did not converge; its estimates are not a "
                       "maximum of the likelihood.")
        if "optimum_replicated" in row and pd.notna(row["optimum_replicated"]) and not bool(row["optimum_replicated"]):
            out.append(head + f"the chosen solution (K = {settings.k}) was found by only one of the two independent "
                       "seed streams of starts, so another seed might give another solution.")
    if "lr_p_value" in ms.columns and ms["lr_p_value"].notna().any():
        remarks = _lr_remarks(ms.loc[ms["lr_p_value"].notna()], settings).strip()
        if remarks:
            out.append(head + _continue(remarks))
    focal = label(settings.focal)
    problems = segment_problems(segments)
    if problems:
        if any("singular_information" in p for p in problems.values()):
            out.append(head + "the observed information of the chosen solution is singular, so its standard errors "
                       f"cannot be trusted and every segment's {focal} verdict is 'unreliable'.")
        for seg, codes in problems.items():
            own = ";".join(c for c in codes.split(";") if c and not c.startswith("singular_information"))
            if own:
                out.append(head + f"segment {seg} ({names.get(seg, '')}): {_problems_words(own, one_segment=True)}, "
                           f"so its {focal} verdict is 'unreliable' and its estimates cannot be read as they stand.")
    elif row is not None and _text(row.get("problems")):
        out.append(head + f"the chosen solution (K = {settings.k}) has problems: "
                   f"{_problems_words(_text(row.get('problems')), settings.k)}.")
    verdicts = segment_summary(segments, settings.focal)
    for r in verdicts.itertuples():
        if r.verdict == "unreliable" and not problems.get(int(r.segment)):
            out.append(head + f"segment {int(r.segment)} ({r.name}): its {focal} verdict is 'unreliable'.")
    out += [head + _continue(s) for s in residual_spread_sentences(spread, names)]
    return out


def run_warnings(results_dir: str | Path = "results", analyses=None) -> list[str]:
    """Everything a reader of the run should know first, in plain sentences.

    The cleaning's warnings (:func:`cleaning_warnings`), then each analysis's
    (:func:`analysis_warnings`); ``analyses`` is a name, a list (``[]`` for
    the cleaning only) or None for every analysis found in ``results_dir``.
    An empty list means there is nothing to warn about.
    """
    names = list_analyses(results_dir) if analyses is None else (
        [analyses] if isinstance(analyses, str) else list(analyses))
    out = cleaning_warnings(results_dir)
    for name in names:
        out += analysis_warnings(results_dir, name)
    return out


def _md_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\`*[]<>" else c for c in str(text))


def warnings_markdown(warnings, about: str = "for this run") -> str:
    """The "Read first" block of a notebook or ``results/warnings.md``: the warnings as a Markdown list."""
    warnings = list(warnings)
    if not warnings:
        return f"**Read first.** No warnings {about}."
    n = len(warnings)
    return (f"**Read first: {n} warning{'s' if n != 1 else ''} {about}.**\n\n"
            + "\n".join(f"* {_md_escape(w)}" for w in warnings))


def warnings_html(warnings, about: str = "for this run") -> str:
    """The warnings as an HTML fragment (ASCII only, so it reads the same in any viewer and in the report)."""
    from html import escape

    warnings = list(warnings)
    lines = ['<meta charset="utf-8">', '<div class="trustseg-warnings">', "<h2>Read first</h2>"]
    if not warnings:
        lines.append(f"<p>No warnings {escape(about)}.</p>")
    else:
        n = len(warnings)
        lines.append(f"<p>{n} warning{'s' if n != 1 else ''} {escape(about)} (they also open each notebook):</p>")
        lines += ["<ul>", *(f"<li>{escape(w)}</li>" for w in warnings), "</ul>"]
    lines.append("</div>")
    return "\n".join(lines).encode("ascii", "xmlcharrefreplace").decode("ascii") + "\n"


def write_warnings(results_dir: str | Path, analyses, out_md: str | Path, out_html: str | Path) -> None:
    """Write :func:`run_warnings` as ``results/warnings.md`` and ``results/warnings.html`` (the report's first page)."""
    from trustseg.report.tables import atomic_write_text

    warnings = run_warnings(results_dir, analyses)
    atomic_write_text(Path(out_md), "# Warnings of this run\n\n" + warnings_markdown(warnings) + "\n")
    atomic_write_text(Path(out_html), warnings_html(warnings))


# ----------------------------------------------------------------------------- chains


def equations_words(settings: AnalysisSettings) -> str:
    """A chain's equations in words: "trust on satisfaction and repurchase on satisfaction and trust"."""
    return join_words([f"{label(o)} on {join_words([label(p) for p in ps])}" for o, ps in settings.equations])


def chain_effects_summary(effects: pd.DataFrame) -> pd.DataFrame:
    """One row per segment and effect (direct, indirect, total): estimate, both intervals and the verdict."""
    rows = effects.loc[effects["kind"].isin(["direct", "indirect", "total"])]
    cols = [c for c in ("segment", "name", "kind", "path", "estimate", "ci_low", "ci_high", "boot_ci_low",
                        "boot_ci_high", "verdict") if c in rows.columns]
    return rows[cols].reset_index(drop=True)


_EFFECT_WORDS = {
    "drives_up": "shown positive",
    "drives_down": "shown negative",
    "negligible": "shown non-zero but within the equivalence margin",
    "does_not_drive": "shown to lie within the equivalence margin",
    "inconclusive": "not shown either way",
    "unreliable": "unreliable (the segment has problems)",
}


def _effect_text(row, level: float) -> str:
    boot = ""
    if "boot_ci_low" in row.index and pd.notna(row["boot_ci_low"]):
        boot = f"; bootstrap {fmt_ci(row['boot_ci_low'], row['boot_ci_high'])}"
    return (f"{fmt_num(row['estimate'])} ({_pct_text(level)} CI {fmt_ci(row['ci_low'], row['ci_high'])}{boot}), "
            f"{_EFFECT_WORDS.get(str(row['verdict']), str(row['verdict']))}")


def _pct_text(level: float) -> str:
    return f"{100 * level:.0f}%"


def chain_sentence(effects: pd.DataFrame, settings: AnalysisSettings, segment: int,
                   segments: pd.DataFrame | None = None) -> str:
    """What one segment's chain says, from its direct, indirect and total effects.

    Read on the linear-predictor scale of the equations (outcome points per
    predictor point for scores).
    """
    rows = effects.loc[effects["segment"] == segment].set_index("kind", drop=False)
    focal, outcome = label(settings.focal), label(settings.outcome)
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
                     + _effect_text(indirect.loc[r.Index], settings.ci_level))
    if "direct" in rows.index:
        parts.append(f"the direct effect is {_effect_text(rows.loc['direct'], settings.ci_level)}")
    if "total" in rows.index:
        total = rows.loc["total"]
        verdict = str(total["verdict"])
        moves = ("rises" if total["estimate"] > 0 else "falls")
        parts.append(f"in total {outcome} {moves} {fmt_num(abs(total['estimate']))} points per {focal} point "
                     f"({_pct_text(settings.ci_level)} CI {fmt_ci(total['ci_low'], total['ci_high'])}), "
                     + _EFFECT_WORDS.get(verdict, verdict))
    return parts[0] + ": " + "; ".join(parts[1:]) + "."


def chain_summary(segments: pd.DataFrame, effects: pd.DataFrame, focal: str) -> pd.DataFrame:
    """:func:`segment_summary` of a chain with each segment's slope and verdict those of its total effect."""
    summary = segment_summary(segments, focal)
    total = effects.loc[effects["kind"] == "total"].set_index("segment")
    for column, source in (("slope", "estimate"), ("ci_low", "ci_low"), ("ci_high", "ci_high"),
                           ("p_value", "p_zero"), ("p_tost", "p_tost"), ("verdict", "verdict")):
        summary[column] = summary["segment"].map(total[source])
    return summary
