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
from trustseg.model._core import INTERCEPT

__all__ = [
    "Figure", "CleaningResults", "AnalysisSettings", "AnalysisResults", "load_cleaning", "load_settings",
    "load_analysis", "list_analyses", "resolve_analyses", "load_run_config", "segment_names", "segment_summary",
    "verdict_sentence", "segment_sentence", "selection_sentence", "classification_summary",
    "classification_sentence", "stability_sentence", "fmt_ci", "fmt_pct", "fmt_num",
    "profile_overview", "profile_tests", "profile_sentences", "odds_ratios", "reference_segment",
    "membership_sentences", "segment_means", "show_figure",
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
    """One row per segment: name, share, size, intercept, focal slope with interval, verdict."""
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


def segment_sentence(row: pd.Series | dict, focal: str, outcome: str = "the outcome", level: float = 0.95,
                     margin: float | None = None) -> str:
    """One plain-language sentence about one segment's focal slope (a row of :func:`segment_summary`)."""
    focal_txt = str(focal).replace("_", " ")
    outcome_txt = str(outcome).replace("_", " ")
    slope, lo, hi = float(row["slope"]), float(row["ci_low"]), float(row["ci_high"])
    conf = f"{100 * level:.0f}% CI {fmt_ci(lo, hi)}"
    head = f"In segment {int(row['segment'])} ({row['name']}, {fmt_pct(row['share'])} of respondents)"
    verdict = row.get("verdict", "")
    band = f"\u00b1{margin:g}" if margin is not None else "the equivalence margin"
    direction = "rises" if slope > 0 else "falls"
    if verdict == "drives":
        return (f"{head} {outcome_txt} {direction} {_num(abs(slope))} points per {focal_txt} point ({conf}): "
                f"{focal_txt} clearly drives {outcome_txt} here.")
    if verdict == "does_not_drive":
        tost = row.get("p_tost", float("nan"))
        tost_txt = f" (TOST {_p(float(tost))})" if tost is not None and math.isfinite(float(tost)) else ""
        return (f"{head} {outcome_txt} barely moves with {focal_txt}: the slope is {_num(slope)} points per point "
                f"({conf}), and the equivalence test{tost_txt} places it within {band}, so {focal_txt} does "
                f"not drive {outcome_txt} in this segment.")
    if hi < 0:
        return (f"{head} {outcome_txt} falls {_num(abs(slope))} points per {focal_txt} point ({conf}): a negative "
                f"association, which the verdicts do not count as {focal_txt} driving {outcome_txt}; check this "
                "segment (its size and stability) before reading anything into it.")
    return (f"{head} the slope of {outcome_txt} on {focal_txt} is {_num(slope)} points per point ({conf}); the "
            f"data can neither show that {focal_txt} drives {outcome_txt} here nor that the effect is negligible "
            f"(within {band}), so the verdict is inconclusive.")


def verdict_sentence(segments: pd.DataFrame, settings: AnalysisSettings, segment: int | None = None) -> str:
    """Plain-language verdicts, one sentence per segment (or only ``segment``), from the segment table.

    The focal predictor, outcome, confidence level and equivalence margin come from ``settings``.
    """
    summary = segment_summary(segments, settings.focal)
    if segment is not None:
        summary = summary.loc[summary["segment"] == int(segment)]
    return " ".join(segment_sentence(r, settings.focal, settings.outcome, settings.ci_level,
                                     settings.equivalence_margin) for _, r in summary.iterrows())


def selection_sentence(model_selection: pd.DataFrame, settings: AnalysisSettings) -> str:
    """How K was chosen: the model-selection table, read with the criterion and chosen K of ``settings``."""
    k, crit = settings.k, settings.criterion
    ks = sorted(int(v) for v in model_selection["k"])
    cand = f"{ks[0]}\u2013{ks[-1]}" if len(ks) > 1 and ks == list(range(ks[0], ks[-1] + 1)) else ", ".join(map(str, ks))
    text = f"Among the candidate numbers of segments ({cand}), the lowest {crit.upper()} chose K = {k}."
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
    df["level"] = df["level"].fillna("").astype(str)
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
