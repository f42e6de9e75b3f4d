"""Notebook execution helpers: parameter injection and publishing executed copies."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from trustseg.report import results as tr
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
    """Every ``tr.<name>`` a notebook calls exists, and the analysis settings come from analysis.json."""
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        used = set(re.findall(r"\btr\.(\w+)", source))
        assert used, path
        assert not [name for name in used if not hasattr(tr, name)], path
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
