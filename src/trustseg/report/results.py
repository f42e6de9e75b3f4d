"""Read a run's ``results/`` directory for the notebooks and the report.

The notebooks fit nothing: they call :func:`load_cleaning` and
:func:`load_analysis` and turn the numbers into tables, figures and
sentences (:mod:`trustseg.report.sentences`, :mod:`trustseg.report.advice`,
:mod:`trustseg.report.warnings_report`).  The settings of an analysis
(outcome, focal predictor, family, confidence levels, criterion, margin,
chosen K) are read from ``results/<name>/analysis.json``, which the
workflow writes, never recovered from the tables.

Required files missing raise :class:`~trustseg.errors.TrustsegError` naming
the file; optional pieces (bootstrap, profiles, captions, ...) that a config
switched off are ``None``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import pandas as pd

from trustseg.direction import expected_sign, predictor_kind
from trustseg.errors import TrustsegError
from trustseg.model.validation import INTERCEPT
from trustseg.report.numbers import category_text, coefficient_unit, effect_unit

CRITERIA = ("bic", "icl", "aic", "aic3", "caic", "sabic")

NOT_ANALYSES = {"cleaning", "figures", "notebooks", "logs", "report"}

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
    family: tuple = ("gaussian",)
    """The outcome family of each equation (one for a single outcome): its coefficients' unit and curves."""
    expected: Mapping = field(default_factory=dict)
    """Config key ``expected``: the direction each listed predictor is expected to move the outcome."""

    def __post_init__(self):
        family = (self.family,) if isinstance(self.family, str) else tuple(self.family)
        object.__setattr__(self, "family", family)
        object.__setattr__(self, "expected", dict(self.expected or {}))

    @property
    def is_chain(self) -> bool:
        return bool(self.equations)

    @property
    def focal_sign(self) -> int:
        """+1 when the focal predictor is expected to raise the outcome, -1 when to lower it."""
        return expected_sign(self.focal, self.higher_is, self.expected)

    @property
    def focal_kind(self) -> str:
        """``lever`` (expected to move the outcome the good way) or ``burden`` (price, privacy concern)."""
        return predictor_kind(self.focal, self.higher_is, self.expected)

    @property
    def slope_unit(self) -> str:
        """The unit of the focal slope: the coefficient unit of its (first) equation's family."""
        return coefficient_unit(self.family[:1])

    @property
    def effect_unit(self) -> str:
        """The unit of a chain's effects on its last outcome (a product of paths), or of the focal slope."""
        return effect_unit(self.family)

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

def _missing(path: Path) -> TrustsegError:
    return TrustsegError(
        f"results file '{path}' does not exist; run snakemake first (e.g. `snakemake --cores 2`) "
        "so that results/ holds this run's tables."
    )

def read_csv(path: Path, required: bool = True, **kwargs) -> pd.DataFrame | None:
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
    clean = read_csv(base / "clean.csv", dtype={"respondent_id": str})
    report = read_csv(base / "report.csv")
    reliability = read_csv(base / "reliability.csv")
    flagged_path = base / "flagged.csv"
    if not flagged_path.is_file():
        raise _missing(flagged_path)
    n_flagged = len(read_csv(flagged_path, usecols=[0], dtype=str))
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
    data.setdefault("expected", {})  # no expected direction declared: every predictor moves the outcome the good way
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
        model_selection=read_csv(base / "model_selection.csv"),
        segments=read_csv(base / "segments.csv"),
        tests=read_csv(base / "tests.csv"),
        assignments=read_csv(base / "assignments.csv", dtype={"respondent_id": str}),
        classification=read_csv(base / "classification.csv"),
        start_logliks=read_csv(base / "start_logliks.csv", required=False),
        bootstrap=read_csv(base / "bootstrap.csv", required=False),
        bootstrap_ari=read_csv(base / "bootstrap_ari.csv", required=False),
        profiles=read_csv(base / "profiles.csv", required=False, keep_default_na=False, na_values=[""]),
        membership=read_csv(base / "membership.csv", required=False),
        residual_spread=read_csv(base / "residual_spread.csv", required=False),
        effects=read_csv(base / "effects.csv", required=False),
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

def segment_names(segments: pd.DataFrame) -> dict[int, str]:
    """Segment number -> plain-language name."""
    if segments is None or segments.empty:
        return {}
    if "name" not in segments.columns:
        return {int(s): f"Segment {int(s)}" for s in segments["segment"].unique()}
    first = segments.groupby("segment", sort=True)["name"].first()
    return {int(s): (str(n) if isinstance(n, str) and n else f"Segment {int(s)}") for s, n in first.items()}

#: a row read on the constructs' slopes, corrected for measurement error (column ``slope_basis``, issue 27)
CORRECTED = "corrected"
#: the numbers a row on the corrected basis takes from ``latent_<column>`` (NaN where there is none: the p-values
#: and bootstrap intervals of the scores' slopes do not belong to the corrected ones)
_BASIS_COLUMNS = ("estimate", "std_error", "ci_low", "ci_high", "p_value", "p_zero", "p_tost", "p_zero_adjusted",
                  "p_tost_adjusted", "boot_ci_low", "boot_ci_high")


def on_slope_basis(table: pd.DataFrame | None) -> pd.DataFrame | None:
    """``segments.csv`` or ``effects.csv`` with each row's numbers those its verdict read.

    The segments stage chooses the basis (column ``slope_basis``,
    :func:`trustseg.stages.measurement.choose_slope_basis`); here a
    ``corrected`` row's estimate, standard error and interval become its
    ``latent_*`` ones, so the sentences, summaries and figures show the
    numbers the verdict rests on.  A table without the column (measurement
    error ignored) is returned as it is.
    """
    if table is None or "slope_basis" not in table.columns:
        return table
    out = table.copy()
    corrected = (out["slope_basis"] == CORRECTED).to_numpy()
    for column in _BASIS_COLUMNS:
        if column in out.columns:
            latent = f"latent_{column}"
            out.loc[corrected, column] = out.loc[corrected, latent] if latent in out.columns else float("nan")
    return out


def basis_words(basis: str | None) -> str:
    """How a figure or sentence says which slopes it reads: the constructs' (corrected) or the scores'."""
    return "corrected for measurement error" if basis == CORRECTED else "scores' slopes"


def segment_summary(segments: pd.DataFrame, focal: str) -> pd.DataFrame:
    """One row per segment: name, share, size, intercept, focal slope with interval, verdict.

    Also ``p_zero_adjusted`` and ``p_tost_adjusted`` when the verdicts were
    Holm-adjusted, and ``problems`` when the segment table has that column.
    For a chain (an ``equation`` column) the rows of its first equation: the
    focal predictor's first path (the chain's effects are in ``effects.csv``).
    """
    if "equation" in segments.columns and len(segments):
        segments = segments.loc[segments["equation"] == segments["equation"].iloc[0]]
    segments = on_slope_basis(segments)
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
            "std_error": float(slope["std_error"]) if slope is not None and "std_error" in slope else float("nan"),
            "ci_low": float(slope["ci_low"]) if slope is not None else float("nan"),
            "ci_high": float(slope["ci_high"]) if slope is not None else float("nan"),
            "p_value": float(slope["p_value"]) if slope is not None else float("nan"),
            "p_tost": float(slope["p_tost"]) if slope is not None and "p_tost" in slope else float("nan"),
            "verdict": str(slope["verdict"]) if slope is not None and isinstance(slope.get("verdict"), str) else "",
            "sigma": float(part["sigma"].iloc[0]) if "sigma" in part else float("nan"),
        }
        if "slope_basis" in segments.columns:
            row["slope_basis"] = str(slope["slope_basis"]) if slope is not None else ""
        for column in ("p_zero_adjusted", "p_tost_adjusted"):
            if column in segments.columns:
                row[column] = float(slope[column]) if slope is not None else float("nan")
        if "problems" in segments.columns:
            codes = part["problems"].dropna().astype(str)
            row["problems"] = next((c for c in codes if c), "")
        rows.append(row)
    return pd.DataFrame(rows)

def classification_summary(classification: pd.DataFrame) -> dict[str, float]:
    """The summary measures of ``classification.csv`` (n, k, entropy_r2, classification_error, ...)."""
    rows = classification.loc[classification["table"] == "summary"]
    return {str(m): float(v) for m, v in zip(rows["measure"], rows["value"])}

def profile_overview(profiles: pd.DataFrame | None) -> pd.DataFrame | None:
    """Wide profile table: one row per variable (and category), one column per segment plus ``overall``.

    Categorical rows hold percentages of the segment in the category; numeric
    rows the segment mean.  ``p_value`` and the effect size of the variable's
    test repeat on each of its rows.
    """
    if profiles is None or profiles.empty:
        return None
    df = profiles.copy()
    df["level"] = df["level"].map(category_text)
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

def segment_means(assignments: pd.DataFrame, clean: pd.DataFrame, columns) -> pd.DataFrame:
    """Mean of ``columns`` of the clean data among each segment's modal members (descriptive, no fitting)."""
    cols = [c for c in dict.fromkeys(columns) if c in clean.columns]
    data = assignments[["respondent_id", "segment"]].merge(clean[["respondent_id", *cols]], on="respondent_id",
                                                           how="left")
    out = data.groupby("segment")[cols].mean()
    out.insert(0, "n", data.groupby("segment").size())
    return out.reset_index()

def show_figure(figure: Figure | None, width: int | None = 720) -> None:
    """Display a PNG and its caption in a notebook (nothing when the figure does not exist)."""
    from IPython.display import Image, Markdown, display

    if figure is None or not Path(figure.path).is_file():
        return
    alt = figure.caption.split(". ")[0] if figure.caption else figure.key.replace("_", " ")
    display(Image(filename=str(figure.path), width=width, alt=alt))
    if figure.caption:
        display(Markdown(f"*Figure: {figure.caption}*"))

def profile_variables(config: dict | None, profiles: pd.DataFrame | None = None) -> list[str]:
    """The run's profile variables: config key ``profile``, or the variables of ``profiles.csv``."""
    if config is not None and config.get("profile") is not None:
        return [str(v) for v in config["profile"]]
    if profiles is None or profiles.empty:
        return []
    return [str(v) for v in dict.fromkeys(profiles["variable"])]

def segment_problems(segments: pd.DataFrame | None) -> dict[int, str]:
    """Segment -> its ``problems`` codes (empty when none, or when the table has no such column)."""
    if segments is None or segments.empty or "problems" not in segments.columns:
        return {}
    first = segments.groupby("segment", sort=True)["problems"].first()
    return {int(s): (str(p) if isinstance(p, str) else "") for s, p in first.items()}

def chain_effects_summary(effects: pd.DataFrame) -> pd.DataFrame:
    """One row per segment and effect (direct, indirect, total): estimate, both intervals and the verdict."""
    rows = on_slope_basis(effects.loc[effects["kind"].isin(["direct", "indirect", "total"])])
    cols = [c for c in ("segment", "name", "kind", "path", "estimate", "ci_low", "ci_high", "boot_ci_low",
                        "boot_ci_high", "verdict", "slope_basis") if c in rows.columns]
    return rows[cols].reset_index(drop=True)

def chain_summary(segments: pd.DataFrame, effects: pd.DataFrame, focal: str) -> pd.DataFrame:
    """:func:`segment_summary` of a chain with each segment's slope and verdict those of its total effect."""
    summary = segment_summary(segments, focal)
    total = on_slope_basis(effects.loc[effects["kind"] == "total"]).set_index("segment")
    pairs = [("slope", "estimate"), ("ci_low", "ci_low"), ("ci_high", "ci_high"), ("p_value", "p_zero"),
             ("p_tost", "p_tost"), ("verdict", "verdict")]
    for column, source in pairs + ([("slope_basis", "slope_basis")] if "slope_basis" in total.columns else []):
        summary[column] = summary["segment"].map(total[source])
    return summary
