"""Tests for trustseg.report.tables (CSV/Markdown/LaTeX writers) and the shared renderer in trustseg.render."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from trustseg.render import MixtureSummary, escape_latex, latex_table, markdown_table
from trustseg.report.tables import (
    atomic_write_text,
    format_number,
    format_p,
    to_latex,
    to_markdown,
    write_table,
)


@pytest.fixture
def segments() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "segment": [1, 2, 3],
            "name": ["Satisfaction-driven", "忠诚客户 loyal", "Indifferent"],
            "estimate": [0.812345678, -0.00004, np.nan],
            "ci_low": [0.61, -0.2, np.nan],
            "p_value": [2e-7, 0.04234, 0.9999],
            "chosen": [True, False, False],
        }
    )


# ---------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("p", "expected"),
    [(0.0, "<.001"), (0.00099, "<.001"), (0.001, ".001"), (0.0423, ".042"), (0.5, ".500"),
     (0.99996, ">.999"), (1.0, ">.999"), (np.nan, ""), (None, "")],
)
def test_format_p(p, expected):
    assert format_p(p) == expected


def test_format_p_digits_and_range():
    assert format_p(0.00004, digits=4) == "<.0001"
    with pytest.raises(ValueError):
        format_p(1.5)


def test_format_number():
    assert format_number(0.123456, 2) == "0.12"
    assert format_number(-0.0004, 3) == "0.000"  # no "-0.000"
    assert format_number(np.int64(12)) == "12"
    assert format_number(np.nan) == "" and format_number(pd.NA) == ""
    assert format_number(True) == "yes"


def test_escape_latex_all_specials_single_pass():
    raw = r"a_b 50% & #1 $5 {x} ~y ^z \w"
    assert escape_latex(raw) == (
        r"a\_b 50\% \& \#1 \$5 \{x\} \textasciitilde{}y \textasciicircum{}z \textbackslash{}w"
    )
    # Non-ASCII and Chinese are left alone.
    assert escape_latex("满意度 Zufriedenheit ü") == "满意度 Zufriedenheit ü"


# ---------------------------------------------------------------- markdown


def test_markdown_alignment_and_rounding(segments):
    md = to_markdown(segments, digits={"estimate": 2}, column_labels={"estimate": "Slope (b)"})
    lines = md.strip("\n").split("\n")
    assert lines[0].split("|")[3].strip() == "Slope (b)"
    rule = [c for c in lines[1].split("|")[1:-1]]
    # segment, estimate, ci_low, p_value are numeric -> right; name, chosen -> left
    assert [c.endswith(":") for c in rule] == [True, False, True, True, True, False]
    assert [c.startswith(":") for c in rule] == [False, True, False, False, False, True]
    assert "0.81 " in md and "0.812" not in md  # per-column digits
    assert "<.001" in md and ".042" in md
    # All rows have the same display width (CJK counts double), so columns line up.
    import unicodedata

    def width(s):
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)

    assert len({width(line) for line in lines}) == 1
    # Numbers are right-aligned inside their padded cell.
    assert lines[2].split("|")[1] == "       1 "


def test_verdict_p_values_are_formatted_as_p_values():
    verdicts = pd.DataFrame({"segment": [1, 2], "verdict": ["drives_down", "negligible"],
                             "p_zero": [2e-9, 0.0312], "p_zero_adjusted": [4e-9, 0.0624],
                             "p_tost": [0.9, 0.0004], "p_tost_holm": [0.99, 0.0008]})
    md = to_markdown(verdicts)
    assert md.count("<.001") == 4 and ".031" in md and ".062" in md and ".900" in md
    assert "drives_down" in md and "0.031" not in md


def test_markdown_escapes_pipes():
    md = to_markdown(pd.DataFrame({"rule": ["a|b"], "n": [1]}))
    assert r"a\|b" in md
    assert all(line.count("|") - line.count(r"\|") == 3 for line in md.strip().split("\n"))


# ---------------------------------------------------------------- latex


def test_latex_booktabs_structure(segments):
    tex = to_latex(segments, caption="Segments: 95% CI & p_value", label="tab:segments",
                   column_labels={"ci_low": "CI_low (95%)"})
    assert tex.startswith(r"\begin{table}")
    for token in (r"\toprule", r"\midrule", r"\bottomrule", r"\label{tab:segments}",
                  r"\begin{tabular}{rlrrrl}"):
        assert token in tex
    assert r"\caption{Segments: 95\% CI \& p\_value}" in tex
    assert r"CI\_low (95\%)" in tex
    assert "p\\_value" in tex  # unlabelled column names escaped
    assert r"\textless{}.001" in tex
    assert "忠诚客户 loyal" in tex
    assert "$-$0.200" in tex  # typographic minus
    # Every body row has as many cells as columns.
    body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().split("\n")
    assert len(body) == 3
    assert all(row.count(" & ") == 5 and row.endswith(r"\\") for row in body)


def test_latex_rejects_bad_label(segments):
    with pytest.raises(ValueError):
        to_latex(segments, "c", "tab:bad label")


# ---------------------------------------------------------------- shared renderer


def test_markdown_table_unpadded_layout():
    md = markdown_table(["a", "b|c"], [["1", "x"], ["22", "y\nz"]], [True, False], padded=False)
    assert md == "| a | b\\|c |\n|---:|:---|\n| 1 | x |\n| 22 | y z |\n"


def test_latex_table_float_header_and_minus():
    tex = latex_table(["n", "name"], [["-2", "a<b"], ["3", "-x"]], "rl", caption="C_1", label="tab:t",
                      numbers=[True, False])
    assert tex == (
        "\\begin{table}[htbp]\n\\centering\n\\caption{C\\_1}\n\\label{tab:t}\n\\begin{tabular}{rl}\n"
        "\\toprule\nn & name \\\\\n\\midrule\n$-$2 & a\\textless{}b \\\\\n3 & -x \\\\\n"
        "\\bottomrule\n\\end{tabular}\n\\end{table}\n"
    )


def test_latex_table_without_header_has_no_midrule():
    tex = latex_table(None, [["Outcome", "loy_alty"]], "ll")
    assert tex == "\\begin{tabular}{ll}\n\\toprule\nOutcome & loy\\_alty \\\\\n\\bottomrule\n\\end{tabular}\n"


def test_summary_uses_the_shared_writers():
    frame = pd.DataFrame({"term": ["x^2", "a|b"], "estimate": [-0.5, 1e-5]})
    summary = MixtureSummary("Fit", [("Outcome", "y~z"), ("Method", "EM")], [("Coefficients", frame)])
    md = summary.as_markdown()
    assert md.endswith("| term | estimate |\n|---:|---:|\n| x^2 | -0.5000 |\n| a\\|b | 1.000e-05 |")
    tex = summary.as_latex()
    # One escaping for the summary and the result tables: \textasciitilde{}, not \~{}.
    assert "Outcome & y\\textasciitilde{}z \\\\" in tex and "x\\textasciicircum{}2" in tex
    assert tex.startswith("% Fit\n\\begin{tabular}{ll}\n\\toprule\nOutcome")
    assert "\\caption{Coefficients}\n\\begin{tabular}{rr}" in tex and "-0.5000" in tex  # no $-$ in the summary


# ---------------------------------------------------------------- write_table


def test_write_table_three_files(tmp_path, segments):
    paths = write_table(segments, tmp_path / "sub" / "segments", "Segment estimates",
                        column_labels={"estimate": "Estimate"})
    assert [p.name for p in paths] == ["segments.csv", "segments.md", "segments.tex"]
    assert all(p.stat().st_size > 0 for p in paths)
    # CSV: full precision and unchanged names -- a data contract.
    back = pd.read_csv(paths[0])
    assert list(back.columns) == list(segments.columns)
    assert back["estimate"].iloc[0] == segments["estimate"].iloc[0]
    assert back["p_value"].iloc[0] == 2e-7
    assert back["name"].iloc[1] == "忠诚客户 loyal"
    md = paths[1].read_text(encoding="utf-8")
    assert md.startswith("Segment estimates\n\n| segment")
    assert "Estimate" in md and "0.812 " in md
    tex = paths[2].read_text(encoding="utf-8")
    assert r"\label{tab:segments}" in tex and r"\caption{Segment estimates}" in tex


def test_write_table_dotted_stem_and_named_index(tmp_path):
    df = pd.DataFrame({"loglik": [-1.5, -1.25]}, index=pd.Index([1, 2], name="k"))
    paths = write_table(df, tmp_path / "fit.k2", "Fits", label="tab:fits")
    assert paths[0].name == "fit.k2.csv"
    assert paths[0].read_text().splitlines()[0] == "k,loglik"


def test_write_table_is_atomic_no_temp_files(tmp_path, segments):
    write_table(segments, tmp_path / "a", "A")
    write_table(segments, tmp_path / "a", "A again")  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "a.md", "a.tex"]
    assert (tmp_path / "a.md").read_text().startswith("A again")


def test_write_table_failure_leaves_nothing(tmp_path, segments):
    with pytest.raises(ValueError):
        write_table(segments, tmp_path / "b", "B", digits={"no_such_column": 2})
    with pytest.raises(ValueError):
        write_table(segments, tmp_path / "b", "  ")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_cleans_up_on_error(tmp_path, monkeypatch):
    target = tmp_path / "x.txt"
    target.write_text("old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]
