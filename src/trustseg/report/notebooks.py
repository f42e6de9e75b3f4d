"""Execute the narrative notebooks on a run's results.

The notebooks in ``notebooks/`` are templates: a cell tagged ``parameters``
holds defaults (the bundled example).  :func:`execute_notebook` injects the
run's parameters right after it (as papermill does, without the dependency),
runs every cell with a fresh kernel in the project directory, and writes the
executed ``.ipynb`` and a self-contained ``.html``.

The same results give the same files, byte for byte: every cell has a fixed
id (the injected cell ``injected-parameters``, nbformat would draw a random
one), and no execution times are recorded.
"""

from __future__ import annotations

import copy
import html
import logging
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

import nbformat

from trustseg.report.tables import atomic_write_text

logger = logging.getLogger("trustseg")

INJECTED_TAG = "injected-parameters"
INJECTED_ID = INJECTED_TAG  # a fixed cell id (nbformat's own is random): two runs give the same notebook
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # nbformat 4.5


def inject_parameters(notebook: nbformat.NotebookNode, parameters: Mapping) -> nbformat.NotebookNode:
    """Return a copy with a cell assigning ``parameters`` after the ``parameters`` cell."""
    nb = copy.deepcopy(notebook)
    nb.cells = [c for c in nb.cells if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
    lines = ["# Parameters injected by the trustseg workflow"]
    lines += [f"{key} = {value!r}" for key, value in parameters.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines), id=INJECTED_ID)
    cell.metadata["tags"] = [INJECTED_TAG]
    position = next(
        (i + 1 for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])), 0
    )
    nb.cells.insert(position, cell)
    return stable_cell_ids(nb)


def stable_cell_ids(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Give every cell a fixed, unique id, in place, and return the notebook (as nbformat 4.5).

    A valid id the notebook already has is kept, so the template's cells keep
    theirs; a missing, invalid or repeated one (an nbformat 4.4 template, a
    hand-edited file) becomes ``cell-<position>``, where nbformat would draw
    a random one.
    """
    notebook.nbformat_minor = max(int(notebook.get("nbformat_minor", 0)), 5)
    taken = {c.get("id") for c in notebook.cells}
    seen = set()
    for position, cell in enumerate(notebook.cells):
        cell_id = cell.get("id")
        if not (isinstance(cell_id, str) and _CELL_ID.match(cell_id)) or cell_id in seen:
            cell_id, n = f"cell-{position}", 0
            while cell_id in taken or cell_id in seen:
                n += 1
                cell_id = f"cell-{position}-{n}"
            cell["id"] = cell_id
        seen.add(cell_id)
    return notebook


def clear_outputs(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = copy.deepcopy(notebook)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


# What the kernel process writes to its stderr that says nothing about the notebook: ipykernel's
# note that it talks over TCP without encryption (it listens on this machine only) and debugpy's
# note on frozen modules (its lines start with a time stamp such as "0.00s - ").
_KERNEL_NOISE = (
    re.compile(r"Kernel is running over TCP without encryption"),
    re.compile(r"^\s*\d+\.\d+s - "),
)


def kernel_messages(text: str) -> str:
    """The kernel's stderr without the known noise (see ``_KERNEL_NOISE``) and blank lines."""
    lines = [line.rstrip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line.strip() and not any(p.search(line) for p in _KERNEL_NOISE))


def execute_notebook(template: str | Path, out_ipynb: str | Path, out_html: str | Path | None,
                     parameters: Mapping, workdir: str | Path = ".", timeout: int = 600) -> None:
    """Execute ``template`` with ``parameters`` and write the notebook and its HTML.

    The kernel's own output (not the cells') is caught: known noise is
    dropped, anything else (a kernel that fails to start or dies) goes to the
    log as a warning, so a job's log holds what matters and nothing else.
    """
    from nbclient import NotebookClient

    nb = clear_outputs(nbformat.read(str(template), as_version=4))
    nb = inject_parameters(nb, parameters)
    # no per-cell timestamps: the same results give the same notebook
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(workdir)}})
    with tempfile.TemporaryFile() as kernel_output:
        try:
            # the keyword arguments reach the kernel's Popen
            client.execute(stdout=kernel_output, stderr=kernel_output)
        finally:
            kernel_output.seek(0)
            said = kernel_messages(kernel_output.read().decode("utf-8", errors="replace"))
            if said:
                logger.warning("the notebook kernel of %s wrote:\n%s", Path(template).name, said)
    atomic_write_text(Path(out_ipynb), nbformat.writes(nb) + "\n")
    if out_html is not None:
        atomic_write_text(Path(out_html), reader_html(nb))


#: the HTML's own style: wide tables scroll inside the page (never cut off), long cells wrap
READER_CSS = """
.jp-RenderedHTMLCommon table, .jp-OutputArea-output table {
  display: block; max-width: 100%; overflow-x: auto; font-size: 0.85em;
}
.jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th { white-space: normal; overflow-wrap: anywhere; max-width: 28em; }
.jp-OutputArea-output img { max-width: 100%; height: auto; }
"""


def reader_html(notebook: nbformat.NotebookNode) -> str:
    """The executed notebook as a reader's HTML page: prose, tables and figures, without the code.

    Code cells and their prompts are left out (the ``.ipynb`` keeps them),
    images are embedded, and wide tables scroll within the page instead of
    being cut off at its edge.
    """
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    exporter.embed_images = True
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(notebook)
    body = _figure_alt_texts(body, notebook)
    return body.replace("</head>", f"<style>{READER_CSS}</style>\n</head>", 1)


def _figure_alt_texts(body: str, notebook: nbformat.NotebookNode) -> str:
    """Give each embedded figure the alt text its output carries (``show_figure`` sets it from the caption).

    nbconvert's lab template ignores an image output's ``alt`` metadata and
    labels every image "No description has been provided for this image";
    the images are matched to their outputs by their base64 data.
    """
    alts = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get("image/png")
            alt = (output.get("metadata", {}).get("image/png") or {}).get("alt")
            if data and alt:
                alts["".join(str(data).split())] = str(alt)

    def with_alt(match: re.Match) -> str:
        tag = match.group(0)
        src = re.search(r'src="data:image/png;base64,([^"]+)"', tag)
        alt = alts.get("".join(src.group(1).split())) if src else None
        if alt is None:
            return tag
        attribute = 'alt="' + html.escape(alt, quote=True) + '"'
        if re.search(r'\balt="[^"]*"', tag):
            return re.sub(r'\balt="[^"]*"', lambda _: attribute, tag, count=1)
        return tag.replace("<img", f"<img {attribute}", 1)

    return re.sub(r"<img\b[^>]*>", with_alt, body) if alts else body


def publish_notebooks(executed_dir: str | Path, target_dir: str | Path = "notebooks") -> list[Path]:
    """Copy executed notebooks back over the templates, outputs kept, injected cell removed.

    This is how the copies in ``notebooks/`` come to carry the outputs of the
    bundled example: run the workflow on ``config/config.yaml``, then
    ``trustseg publish-notebooks results/notebooks``.  Only notebooks that
    already exist in ``target_dir`` are replaced.
    """
    written = []
    for template in sorted(Path(target_dir).glob("*.ipynb")):
        executed = Path(executed_dir) / template.name
        if not executed.is_file():
            continue
        nb = nbformat.read(str(executed), as_version=4)
        nb.cells = [c for c in nb.cells if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
        atomic_write_text(template, nbformat.writes(nb) + "\n")
        written.append(template)
    return written
