"""Notebook execution helpers: parameter injection and publishing executed copies."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from trustseg.report import results as tr
from trustseg.report import warnings_report as tw
from trustseg.report.notebooks import (
    INJECTED_ID,
    INJECTED_TAG,
    clear_outputs,
    inject_parameters,
    publish_notebooks,
    stable_cell_ids,
)

REPO = Path(__file__).resolve().parents[1]


def _notebook():
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('RESULTS_DIR = "results"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), params, nbformat.v4.new_code_cell("print(RESULTS_DIR)")]
    return nb


def test_parameters_are_injected_after_the_parameters_cell_once():
    nb = inject_parameters(_notebook(), {"RESULTS_DIR": "out", "ANALYSES": ["a b", "中文"]})
    again = inject_parameters(nb, {"RESULTS_DIR": "other"})
    assert [INJECTED_TAG in c.metadata.get("tags", []) for c in again.cells] == [False, False, True, False]
    assert "RESULTS_DIR = 'other'" in again.cells[2].source
    assert "['a b', '中文']" in nb.cells[2].source


def test_clear_outputs():
    nb = _notebook()
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="x")]
    nb.cells[2].execution_count = 3
    cleared = clear_outputs(nb)
    assert cleared.cells[2].outputs == [] and cleared.cells[2].execution_count is None
    assert nb.cells[2].outputs  # the input is not modified


def test_publish_keeps_outputs_and_drops_the_injected_cell(tmp_path):
    templates, executed = tmp_path / "notebooks", tmp_path / "executed"
    templates.mkdir(), executed.mkdir()
    nbformat.write(_notebook(), str(templates / "a.ipynb"))
    run = inject_parameters(_notebook(), {"RESULTS_DIR": "results"})
    run.cells[-1].outputs = [nbformat.v4.new_output("stream", text="results\n")]
    nbformat.write(run, str(executed / "a.ipynb"))
    nbformat.write(run, str(executed / "not_a_template.ipynb"))
    assert publish_notebooks(executed, templates) == [templates / "a.ipynb"]
    published = nbformat.read(str(templates / "a.ipynb"), as_version=4)
    assert len(published.cells) == 3 and published.cells[-1].outputs[0]["text"] == "results\n"
    assert not (templates / "not_a_template.ipynb").exists()


def test_committed_notebooks_are_executed_and_fit_nothing():
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert any("parameters" in c.metadata.get("tags", []) for c in code), path
        assert all(c.execution_count is not None for c in code if c.source.strip()), f"{path.name} was not executed"
        assert sum(bool(c.outputs) for c in code) >= 3, f"{path.name} carries no outputs"
        assert not any(o.get("output_type") == "error" for c in code for o in c.outputs), path
        source = "\n".join(c.source for c in code)
        assert ".fit(" not in source and "ClusterwiseRegression" not in source, path


def test_notebooks_use_existing_helpers_and_read_settings_from_the_run():
    """Every report helper a notebook calls exists, and the analysis settings come from analysis.json."""
    from trustseg.report import advice, numbers, sentences

    modules = {"tr": tr, "ts": sentences, "ta": advice, "tw": tw, "tn": numbers}
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        used = set(re.findall(r"\b(tr|ts|ta|tw|tn)\.(\w+)", source))
        assert used, path
        assert not [(alias, name) for alias, name in used if not hasattr(modules[alias], name)], path
        # settings of an analysis are read from run.settings, not from the config file
        assert not re.search(r"\[\"analyses\"\]|get\(\"analyses\"\)", source), path


def test_cell_ids_are_fixed_so_two_runs_give_the_same_notebook():
    template = _notebook()
    first = inject_parameters(template, {"RESULTS_DIR": "out"})
    second = inject_parameters(template, {"RESULTS_DIR": "out"})
    assert first.cells[2].id == INJECTED_ID
    assert nbformat.writes(first) == nbformat.writes(second)


def test_cells_without_a_valid_unique_id_get_one_from_their_position():
    """An nbformat 4.4 template (no ids) or repeated ids: fixed ids, never nbformat's random ones."""
    old = nbformat.v4.new_notebook(nbformat_minor=4)
    old.cells = [nbformat.v4.new_markdown_cell("# Title"), nbformat.v4.new_code_cell("x = 1")]
    for cell in old.cells:
        del cell["id"]
    nb = inject_parameters(nbformat.reads(nbformat.writes(old), as_version=4), {"A": 1})
    assert nb.nbformat_minor == 5
    assert [c.id for c in nb.cells] == [INJECTED_ID, "cell-1", "cell-2"]
    nbformat.validate(nb)
    repeated = _notebook()
    repeated.cells[0].id = repeated.cells[2].id = "cell-2"
    repeated.cells[1].id = "not valid!"
    assert [c.id for c in stable_cell_ids(repeated).cells] == ["cell-2", "cell-1", "cell-2-1"]


# ----------------------------------------------------------------------------- text from the run, never the example

#: words of the bundled golf example and its default constructs and profile, which no notebook may hard-code
GOLF_WORDS = re.compile(r"\w*(?:golf|\bclub|satisf|repurchas|\btrust\b|loyal|indifferent|membership.type|age.band|"
                        r"intention|income)\w*", re.IGNORECASE)


def _fixed_text(nb) -> list[tuple[str, str]]:
    """``(cell id, text)`` for every text a notebook shows whatever the run: Markdown and code string literals."""
    import ast

    out = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            out.append((cell.id, cell.source))
        elif cell.cell_type == "code":
            out += [(cell.id, node.value) for node in ast.walk(ast.parse(cell.source))
                    if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    return out


def test_notebooks_hard_code_no_construct_outcome_or_profile_of_the_example():
    """Every sentence naming a construct, an outcome or a profile variable comes from the run's results or config."""
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        found = [(cell, GOLF_WORDS.search(text)[0]) for cell, text in _fixed_text(nb) if GOLF_WORDS.search(text)]
        assert not found, (path.name, found)


def test_the_scan_finds_a_hard_coded_construct():
    nb = _notebook()
    nb.cells.append(nbformat.v4.new_code_cell('say(f"Does satisfaction drive {outcome}?")'))
    nb.cells.append(nbformat.v4.new_markdown_cell("Profiles: age band and so on."))
    assert [GOLF_WORDS.search(t)[0] for _, t in _fixed_text(nb) if GOLF_WORDS.search(t)] == ["satisfaction", "age band"]


def test_every_notebook_opens_with_the_runs_warnings():
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        first = next(i for i, c in enumerate(code) if "tw.run_warnings(" in c.source)
        # right after the parameters and the imports, before any table
        assert first <= 2 and "tw.warnings_markdown(" in code[first].source, path.name
        assert code[first].id == "read-first", path.name


def _write(path, df):
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)


def _switching_run(root: Path) -> None:
    """A small results directory of another survey: switching (higher is worse) on service quality, by region.

    It carries the columns and files the workflow now writes: flagged rows with
    their fate, segments with ``problems`` and an ``unreliable`` verdict, LR
    p-values at their floor, a choice note and a residual-spread failure.
    """
    import dataclasses
    import json

    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 60
    ids = [f"S{i:03d}" for i in range(n)]
    segment = np.repeat([1, 2, 3], n // 3)
    quality = rng.integers(1, 6, n).astype(float)
    switching = np.where(segment == 1, 5.5 - 0.8 * quality, np.where(segment == 2, 2.0, 1.0))
    clean = pd.DataFrame({"respondent_id": ids, "sq1": quality, "sw1": switching.round(), "service_quality": quality,
                          "switching": switching, "region": rng.choice(["North", "South"], n)})
    _write(root / "cleaning" / "clean.csv", clean)
    _write(root / "cleaning" / "report.csv", pd.DataFrame({
        "rule": ["input", "personal_data", "out_of_scale", "straightlining", "flagged", "construct_score:switching",
                 "clean"],
        "rows_affected": [62, 0, 3, 2, 2, 0, 60], "cells_affected": [None, 0, 3, None, None, None, None],
        "action": ["read", "dropped columns", "set to missing", "flagged: 0 dropped, 2 kept",
                   "kept in clean (listed in flagged.csv)", "scored", "written"],
        "detail": ["62 rows", "none found", "sq1: 3 outside [1, 5]",
                   "same answer to every item; the block has no reverse-keyed items, so this is not evidence of "
                   "careless answering and the respondents are kept", "", "mean of the answered items", ""]}))
    _write(root / "cleaning" / "flagged.csv", pd.DataFrame({
        "respondent_id": ids[:2], "source_row": [1, 2], "rules": ["straightlining"] * 2, "detail": [""] * 2,
        "action": ["kept"] * 2}))
    _write(root / "cleaning" / "reliability.csv", pd.DataFrame({
        "construct": ["service_quality", "service_quality", "switching"], "level": ["construct", "item", "construct"],
        "item": [None, "sq1", None], "n_items": [1, None, 1], "n": [60, 60, 60], "alpha": [None, None, None],
        "omega": [None, None, None], "item_total_r": [None, None, None], "alpha_if_deleted": [None, None, None],
        "warning": [None, None, None]}))
    base = root / "churn"
    base.mkdir(parents=True)
    settings = {"outcome": "switching", "predictors": ["service_quality"], "focal": "service_quality",
                "method": "em", "criterion": "bic", "k": 3, "k_requested": 3, "cov_type": "oim", "alpha": 0.05,
                "ci_level": 0.95, "equivalence_margin": 0.1, "membership_ci_level": 0.95, "higher_is": "worse",
                "verdict_adjustment": "none", "equations": [], "family": ["gaussian"], "expected": {}}
    (base / "analysis.json").write_text(json.dumps(
        {f.name: settings[f.name] for f in dataclasses.fields(tr.AnalysisSettings)}))
    _write(base / "model_selection.csv", pd.DataFrame({
        "k_requested": [1, 2, 3, 4], "k": [1, 2, 3, 4], "k_fitted": [1, 2, 3, 4],
        "loglik": [-120.0, -90.0, -60.0, -50.0], "n_params": [3, 7, 11, 15], "bic": [252.0, 209.0, 165.0, 160.0],
        "aic": [246.0, 194.0, 142.0, 130.0], "icl": [252.0, 215.0, 170.0, 180.0], "n_starts": [5] * 4,
        "n_best_starts": [5, 4, 3, 1], "optimum_replicated": [True] * 4, "converged": [True] * 4,
        "problems": [None, None, "variance_floor(1 segment)", "variance_floor(2 segments)"],
        "choice_note": [None, None, "K = 4 had the lowest BIC, but 2 of its 4 segments sit on the variance floor; "
                        "K = 3 is the best without problems.", None],
        "lr_p_value": [0.02, 0.02, 0.02, None], "lr_p_min": [0.02, 0.02, 0.02, None],
        "lr_replicates": [49, 49, 49, None], "chosen": [False, False, True, False]}))
    rows = []
    for seg, name, share, a, b, verdict, problems in [
            (1, "Service-quality-driven", 0.34, 5.5, -0.8, "drives_down", ""),
            (2, "Stays regardless", 0.33, 2.0, 0.0, "does_not_drive", ""),
            (3, "Unreliable segment", 0.33, 1.0, 0.0, "unreliable", "variance_floor")]:
        for term, estimate in (("(Intercept)", a), ("service_quality", b)):
            rows.append(dict(segment=seg, name=name, share=share, term=term, estimate=estimate, std_error=0.05,
                             z=estimate / 0.05, p_value=0.01, ci_low=estimate - 0.1, ci_high=estimate + 0.1,
                             p_zero=0.01, p_tost=0.01 if b == 0 else 1.0,
                             verdict=verdict if term == "service_quality" else None, sigma=0.3, n_assigned=20,
                             problems=problems))
    segments = pd.DataFrame(rows)
    _write(base / "segments.csv", segments)
    _write(base / "tests.csv", pd.DataFrame({
        "test": ["Wald", "pair", "pair", "pair"], "segment_a": [None, 1, 1, 2], "segment_b": [None, 2, 3, 3],
        "difference": [None, -0.8, -0.8, 0.0], "std_error": [None, 0.07, 0.07, 0.07],
        "statistic": [130.0, None, None, None],
        "df": [2.0, None, None, None], "p_value": [1e-9, 1e-9, 1e-9, 1.0], "p_holm": [None, 2e-9, 2e-9, 1.0],
        "p_tost": [None, 1.0, 1.0, 0.3], "p_tost_holm": [None, 1.0, 1.0, 0.3],
        "comparison": ["differ", "differ", "differ", "not_shown_to_differ"]}))
    _write(base / "assignments.csv", pd.DataFrame({
        "respondent_id": ids, "segment": segment,
        **{f"posterior_{k}": (segment == k) * 0.9 + 0.05 for k in (1, 2, 3)}}))
    _write(base / "classification.csv", pd.DataFrame({
        "table": ["summary"] * 4 + ["average_posterior"] * 9, "modal_segment": [None] * 4 + [1, 1, 1, 2, 2, 2, 3, 3, 3],
        "segment": [None] * 4 + [1, 2, 3] * 3, "measure": ["n", "k", "entropy_r2", "classification_error"] + [None] * 9,
        "value": [60.0, 3.0, 0.9, 0.05] + [0.9, 0.05, 0.05, 0.05, 0.9, 0.05, 0.05, 0.05, 0.9]}))
    profiles = []
    for seg in (1, 2, 3):
        for level, share in (("North", 0.3 + 0.2 * (seg == 1)), ("South", 0.7 - 0.2 * (seg == 1))):
            profiles.append(dict(variable="region", kind="categorical", level=level, segment=seg, value=share,
                                 overall=0.5, test="chi-square", statistic=6.0, df=2.0, p_value=0.01,
                                 effect_size=0.3, effect_measure="Cramer's V", n_missing=0))
    _write(base / "profiles.csv", pd.DataFrame(profiles))
    _write(base / "membership.csv", pd.DataFrame({
        "segment": [2, 2, 3, 3], "term": ["(Intercept)", "region[South]"] * 2, "estimate": [0.1, 1.2, 0.0, 0.1],
        "odds_ratio": [1.1, 3.3, 1.0, 1.1], "or_ci_low": [0.5, 1.5, 0.4, 0.5], "or_ci_high": [2.0, 7.0, 2.5, 2.4],
        "p_value": [0.8, 0.004, 0.99, 0.8], "note": [""] * 4}))
    _write(base / "residual_spread.csv", pd.DataFrame({
        "segment": [1, 2, 3], "predictor": ["service_quality"] * 3, "statistic": [8.0, 0.2, 0.1], "df": [1, 1, 1],
        "p_value": [0.005, 0.6, 0.7], "spread_varies": [True, False, False], "variance_slope": [0.3, 0.0, 0.0],
        "n_effective": [20.0, 20.0, 20.0]}))
    (root.parent / "config.yaml").write_text(
        "data: {path: survey.csv, id_column: respondent_id}\n"
        "constructs:\n  service_quality: {items: [sq1], scale: [1, 5]}\n  switching: {items: [sw1], scale: [1, 7]}\n"
        "profile: [region]\n"
        "analyses:\n  churn: {outcome: switching, predictors: [service_quality], higher_is: worse}\n",
        encoding="utf-8")


def test_notebooks_on_another_survey_speak_of_its_variables_and_carry_its_warnings(tmp_path):
    """The three notebooks executed on a small hand-built run of another survey: no error, its names, its warnings."""
    from trustseg.report.notebooks import execute_notebook

    _switching_run(tmp_path / "results")
    shown = {}
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        out = tmp_path / path.name
        execute_notebook(path, out, None, {"RESULTS_DIR": "results", "ANALYSES": None, "CONFIG_SOURCE": "config.yaml"},
                         workdir=tmp_path)
        nb = nbformat.read(str(out), as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.get("output_type") == "error"], path.name
        texts = [o.get("data", {}).get("text/markdown") or o.get("data", {}).get("text/plain") or o.get("text", "")
                 for o in outputs]
        shown[path.stem] = "\n".join(texts)
        assert not GOLF_WORDS.search(shown[path.stem]), (path.name, GOLF_WORDS.search(shown[path.stem]))
    cleaning, segments, profiles = shown.values()
    assert "**Read first: 3 warnings about the cleaning.**" in cleaning
    assert "2 respondents were flagged by the cleaning but kept in the analyses (straightlining 2)" in cleaning
    assert "not evidence of careless answering" in cleaning
    assert "service quality (one item, sq1, 1\u20135 scale) and switching (one item, sw1, 1\u20137 scale)" in cleaning
    for text in (segments, profiles):
        assert "Read first:" in text and "K = 4 had the lowest BIC" in text and "variance floor" in text
        assert "the residual spread grows with service quality" in text
    assert "Does service quality drive switching for every respondent" in segments
    assert "variance_floor(1 segment)" in segments and "residual_spread" not in segments.split("Read first")[0]
    assert "how switching and service quality go together" in segments
    assert "described here by the profile variable region" in profiles
    assert "switching falls 0.80 points per service quality point" in profiles
    assert "cannot be trusted" in profiles


def test_report_captions_name_the_runs_own_variables(tmp_path):
    """Every caption of the HTML report, rendered as Snakemake renders it, for a config of another survey."""
    from types import SimpleNamespace

    from docutils.core import publish_parts
    from jinja2 import Environment

    from trustseg.config import load_config

    _switching_run(tmp_path / "results")  # also writes the config
    config = load_config(tmp_path / "config.yaml")
    config["analyses"]["churn"]["predictors"] = ["service_quality", "price_fairness"]
    snakemake = SimpleNamespace(config=config, wildcards=SimpleNamespace(analysis="churn", notebook="02_segments"))
    warnings_html = tmp_path / "warnings.html"
    warnings_html.write_text(tw.warnings_html(tw.run_warnings(tmp_path / "results")), encoding="ascii")
    files = [SimpleNamespace(path=warnings_html)]
    env = Environment(trim_blocks=True, lstrip_blocks=True)  # as snakemake.report renders captions
    rendered = {}
    for path in sorted((REPO / "workflow" / "report").glob("*.rst")):
        text = env.from_string(path.read_text(encoding="utf-8") + "\n\n.. _0. Read first: #\n").render(
            snakemake=snakemake, categories={}, files=files)
        html = publish_parts(text, writer="html", settings_overrides={"report_level": 2, "halt_level": 2})["body"]
        rendered[path.stem] = html
        assert not GOLF_WORDS.search(html), (path.name, GOLF_WORDS.search(html))
    assert "of switching on service quality, price fairness" in rendered["segments"]
    assert "higher switching is worse" in rendered["workflow"].lower()
    assert "service quality slope" in rendered["coefficient_forest"]
    assert "<tt class=\"docutils literal\">region</tt>" in rendered["profiles"]
    # the landing page opens with the run's warnings
    assert rendered["workflow"].index("K = 4 had the lowest BIC") < rendered["workflow"].index("Clusterwise regression")


def test_reader_html_keeps_each_figures_alt_text(tmp_path):
    """nbconvert's lab template drops an image output's alt metadata ("No description has been provided for this
    image" on every figure of the bank and ECSI runs): the reader's HTML gives each figure the alt text
    show_figure set from its caption."""
    import base64

    import nbformat

    from trustseg.report.notebooks import reader_html

    def png(colour: int) -> str:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(1, 1))
        fig.patch.set_facecolor(str(colour / 10))
        path = tmp_path / f"{colour}.png"
        fig.savefig(path)
        return base64.b64encode(path.read_bytes()).decode()

    outputs = [nbformat.v4.new_output("display_data", data={"image/png": png(c), "text/plain": "<Image>"},
                                      metadata={"image/png": {"alt": alt, "width": 720}})
               for c, alt in ((2, "Information criteria (AIC, BIC) against K = 1\u20134"),
                              (7, "Loyalty's \"scatter\""))]
    cell = nbformat.v4.new_code_cell("show()", outputs=outputs)
    html = reader_html(nbformat.v4.new_notebook(cells=[cell]))
    assert 'alt="Information criteria (AIC, BIC) against K = 1\u20134"' in html
    assert 'alt="Loyalty&#x27;s &quot;scatter&quot;"' in html
    assert "No description has been provided" not in html
