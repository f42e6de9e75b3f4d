"""The run's warnings, read first: each fact once, in plain sentences (``results/warnings.md`` and ``.html``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trustseg.model.diagnostics import parse_problem_codes
from trustseg.render import join_words
from trustseg.report.numbers import label, text_of
from trustseg.report.results import (
    list_analyses,
    load_settings,
    read_csv,
    segment_names,
    segment_problems,
    segment_summary,
)
from trustseg.report.sentences import cleaning_rule_sentences, lr_remarks, problems_words, residual_spread_sentences
from trustseg.survey.piles import pile_sentences


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
    report = read_csv(base / "report.csv")
    flagged = read_csv(base / "flagged.csv", dtype=str)
    reliability = read_csv(base / "reliability.csv", required=False)
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
    return out + reliability_warnings(reliability)


def reliability_warnings(reliability: pd.DataFrame | None) -> list[str]:
    """The reliability warnings: one for all single-item constructs together, one per other construct."""
    if reliability is None or reliability.empty or "warning" not in reliability.columns:
        return []
    rel = reliability.loc[(reliability["level"] == "construct") & reliability["warning"].notna()]
    rel = rel.loc[rel["warning"].astype(str).str.strip() != ""]
    single = rel["n_items"].astype(float) == 1 if "n_items" in rel.columns else \
        rel["warning"].astype(str).str.startswith("single-item")
    out = []
    if single.any():
        names = [label(c) for c in rel.loc[single, "construct"]]
        out.append(f"Reliability cannot be estimated for {len(names)} single-item construct"
                   f"{'s' if len(names) != 1 else ''} ({join_words(names)}): one item gives no second measurement "
                   "to check it against.")
    out += [f"Reliability of {label(r.construct)}: {str(r.warning).strip()}" for r in rel.loc[~single].itertuples()]
    return out


def _continue(sentence: str) -> str:
    """A sentence to follow "Analysis name: ": its first word in lower case unless it is a name or a symbol."""
    word = sentence.split(" ", 1)[0]
    if len(word) > 1 and word.isalpha() and word[0].isupper() and word[1:].islower():
        return sentence[:1].lower() + sentence[1:]
    return sentence

#: what each problem code of a passed-over K means, said once for every K that has it: (what, so what)
_PROBLEM_MEANING = {
    "variance_floor": ("segments on the variance floor", ""),
    "one_answer": ("segments that are (nearly) one answer value of the outcome", ", a pile of the scale rather "
                   "than a regression"),
    "two_ends": ("segments spread over both ends of the outcome scale", " rather than along a line"),
    "separation": ("segments whose answers are perfectly predicted (separation)", ", so coefficients run to infinity"),
    "singular_information": ("a singular observed information", ", so standard errors cannot be trusted"),
}


def passed_over_sentence(ms: pd.DataFrame, settings) -> str:
    """Why the criterion's preferred K were passed over, each problem said once with the K that have it.

    "K = 3 and 2 had a lower BIC than the chosen K = 1, but their solutions have segments on the variance floor
    in K = 3 (1 of 3 segments) and K = 2 (1 of 2), and a singular observed information in K = 3 and 2, so
    standard errors cannot be trusted. K = 1 is the best without problems."  Empty when no K was passed over
    (then the table's own note is used).
    """
    crit = settings.criterion
    if crit == "lr_test" or crit not in ms.columns or "problems" not in ms.columns:
        return ""
    chosen = ms.loc[ms["k_requested"] == settings.k_requested]
    if chosen.empty or text_of(chosen["problems"].iloc[0]):
        return ""
    better = ms.loc[(ms[crit] < float(chosen[crit].iloc[0])) & (ms["problems"].map(text_of) != "")]
    if better.empty:
        return ""
    better = better.sort_values(crit)
    ks = [int(k) for k in better["k"]]
    by_code: dict[str, list[str]] = {}
    for k, text in zip(ks, better["problems"]):
        for code, n in parse_problem_codes(text).items():
            by_code.setdefault(code, []).append(f"{k} ({n} of {k} segments)" if code != "singular_information"
                                                else str(k))
    parts = []
    for code, which in by_code.items():
        what, so = _PROBLEM_MEANING.get(code, (code.replace("_", " "), ""))
        parts.append(f"{what} in K = {join_words(which)}{so}")
    return (f"K = {join_words([str(k) for k in ks])} had a lower {crit.upper()} than the chosen K = {settings.k}, but "
            f"{'their solutions have' if len(ks) > 1 else 'its solution has'} {join_words(parts)}. K = {settings.k} "
            "is the best without problems.")


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
    ms = read_csv(base / "model_selection.csv")
    segments = read_csv(base / "segments.csv")
    spread = read_csv(base / "residual_spread.csv", required=False)
    names = segment_names(segments)
    head = f"Analysis {name}: "
    out = []
    chosen = ms.loc[ms["k_requested"] == settings.k_requested] if "k_requested" in ms.columns else ms.iloc[0:0]
    row = chosen.iloc[0] if len(chosen) else None
    if row is not None:
        note, passed = text_of(row.get("choice_note")), passed_over_sentence(ms, settings)
        if text_of(row.get("set_aside_group")):  # the note says what the group beat; K passed over are said apart
            out.append(head + _continue(note.rstrip(".")) + f" ({name}/set_aside_fits.csv; docs/spurious.md).")
            note = passed
        if note and (settings.criterion != "lr_test" or "passed over" in note or text_of(row.get("problems"))):
            out.append(head + _continue(passed or note))
        if "converged" in row and pd.notna(row["converged"]) and not bool(row["converged"]):
            out.append(head + f"the chosen fit (K = {settings.k}) did not converge; its estimates are not a "
                       "maximum of the likelihood.")
        set_aside = text_of(row.get("set_aside"))
        if set_aside:
            out.append(head + f"at K = {settings.k}, {set_aside}; the solution reported is the best one without a "
                       "spurious segment (docs/spurious.md).")
        if "optimum_replicated" in row and pd.notna(row["optimum_replicated"]) and not bool(row["optimum_replicated"]):
            out.append(head + f"the chosen solution (K = {settings.k}) was found by only one of the two independent "
                       "seed streams of starts, so another seed might give another solution.")
    if "lr_p_value" in ms.columns and ms["lr_p_value"].notna().any():
        remarks = lr_remarks(ms.loc[ms["lr_p_value"].notna()], settings).strip()
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
                out.append(head + f"segment {seg} ({names.get(seg, '')}): {problems_words(own, one_segment=True)}, "
                           f"so its {focal} verdict is 'unreliable' and its estimates cannot be read as they stand.")
    elif row is not None and text_of(row.get("problems")):
        out.append(head + f"the chosen solution (K = {settings.k}) has problems: "
                   f"{problems_words(text_of(row.get('problems')), settings.k)}.")
    verdicts = segment_summary(segments, settings.focal)
    for r in verdicts.itertuples():
        if r.verdict == "unreliable" and not problems.get(int(r.segment)):
            out.append(head + f"segment {int(r.segment)} ({r.name}): its {focal} verdict is 'unreliable'.")
    out += [head + _continue(s) for s in residual_spread_sentences(spread, names)]
    out += [head + s for s in measurement_error_sentences(segments, names)]
    return out


DRIVES = ("drives_up", "drives_down")


def measurement_error_sentences(segments: pd.DataFrame, names) -> list[str]:
    """Where correcting for measurement error changes a verdict, or could not be done (issue 27).

    Reads the ``latent_*`` columns of ``segments.csv`` (none: nothing to
    say): a slope whose verdict says it drives for the scores but not for the
    constructs, or the other way round, and a segment whose slopes could not
    be corrected (its scores vary too little within it for their error).
    """
    if "latent_verdict" not in segments.columns:
        return []
    # the scores' verdict: observed_verdict where the verdict column reads the corrected slopes (slope_basis)
    observed = "observed_verdict" if "observed_verdict" in segments.columns else "verdict"
    rows = segments.loc[segments[observed].fillna("").astype(str).isin(VERDICTS_READ)]
    out, refused = [], set()
    for r in rows.assign(verdict=rows[observed]).itertuples():
        seg, latent = int(r.segment), text_of(r.latent_verdict)
        where = f"segment {seg} ({names.get(seg, '')})"
        what = (f"the path {label(r.term)} → {label(r.equation)}" if "equation" in segments.columns
                else f"the {label(r.term)} slope")
        if not latent:
            refused.add(where)
        elif (r.verdict in DRIVES) != (latent in DRIVES):
            out.append(f"{where}: {what} is '{r.verdict}' for the scores but '{latent}' for the constructs "
                       "corrected for measurement error (latent_* columns of segments.csv and effects.csv); the "
                       "scores' error biases the first.")
    out += [f"{where}: the scores vary too little within the segment for their measurement error, so its slopes "
            "are not corrected (latent_* columns empty)." for where in sorted(refused)]
    return out


VERDICTS_READ = ("drives_up", "drives_down", "negligible", "does_not_drive", "inconclusive")

def pile_warnings(results_dir: str | Path, names) -> list[str]:
    """The coarse answers (``results/cleaning/piles.csv``) on each analysis's outcome and focal predictor, once
    per variable: where a mixture can make a segment of a pile of one answer value."""
    piles = read_csv(Path(results_dir) / "cleaning" / "piles.csv", required=False)
    if piles is None or piles.empty:
        return []
    roles: dict[str, list[str]] = {}
    for name in names:
        settings = load_settings(Path(results_dir) / name / "analysis.json")
        for variable, role in ((settings.outcome, "outcome"), (settings.focal, "focal predictor")):
            roles.setdefault(variable, []).append(f"the {role} of {name}")
    out = []
    for variable, uses in roles.items():
        sentences = pile_sentences(piles, [variable])
        if sentences:
            out.append(f"Coarse answers on {label(variable)} ({join_words(uses)}): {join_words(sentences)}. A "
                       "segment made of such a pile is set aside as spurious (docs/spurious.md); "
                       "results/cleaning/piles.csv lists every pile.")
    return out


def run_warnings(results_dir: str | Path = "results", analyses=None) -> list[str]:
    """Everything a reader of the run should know first, in plain sentences.

    The cleaning's warnings (:func:`cleaning_warnings`), the coarse answers
    on the analyses' outcomes and focal predictors (:func:`pile_warnings`),
    then each analysis's (:func:`analysis_warnings`); ``analyses`` is a name, a list (``[]`` for
    the cleaning only) or None for every analysis found in ``results_dir``.
    An empty list means there is nothing to warn about.
    """
    names = list_analyses(results_dir) if analyses is None else (
        [analyses] if isinstance(analyses, str) else list(analyses))
    out = cleaning_warnings(results_dir) + pile_warnings(results_dir, names)
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

#: where the warnings' own block begins and ends in warnings.html: the report's landing page takes only the block
BLOCK_BEGIN, BLOCK_END = "<!-- begin warnings -->", "<!-- end warnings -->"

_PAGE_STYLE = """body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 48em;
  margin: 2em auto; padding: 0 1em; line-height: 1.45; color: #222; }
.trustseg-warnings li { margin-bottom: 0.5em; }"""


def warnings_html(warnings, about: str = "for this run") -> str:
    """The warnings as an HTML page that reads well on its own, its block marked for the report's landing page.

    ASCII only (other characters as character references), so it reads the
    same in any viewer and in the report.
    """
    from html import escape

    warnings = list(warnings)
    lines = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>Read first: the warnings of this run</title>", f"<style>\n{_PAGE_STYLE}\n</style>", "</head>",
             "<body>", BLOCK_BEGIN, '<div class="trustseg-warnings">', "<h2>Read first</h2>"]
    if not warnings:
        lines.append(f"<p>No warnings {escape(about)}.</p>")
    else:
        n = len(warnings)
        lines.append(f"<p>{n} warning{'s' if n != 1 else ''} {escape(about)} (they also open each notebook):</p>")
        lines += ["<ul>", *(f"<li>{escape(w)}</li>" for w in warnings), "</ul>"]
    lines += ["</div>", BLOCK_END, "</body>", "</html>"]
    return "\n".join(lines).encode("ascii", "xmlcharrefreplace").decode("ascii") + "\n"


def write_warnings(results_dir: str | Path, analyses, out_md: str | Path, out_html: str | Path) -> None:
    """Write :func:`run_warnings` as ``results/warnings.md`` and ``results/warnings.html`` (the report's first page)."""
    from trustseg.report.tables import atomic_write_text

    warnings = run_warnings(results_dir, analyses)
    atomic_write_text(Path(out_md), "# Warnings of this run\n\n" + warnings_markdown(warnings) + "\n")
    atomic_write_text(Path(out_html), warnings_html(warnings))
