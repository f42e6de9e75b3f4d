"""Where the workflow's files are, and which source files of the package a module runs.

:func:`pipeline_dir` is the workflow shipped with the package (the
repository's Snakefile, ``workflow/``, ``notebooks/``, ``config/``), found
the same way in an editable install and in a wheel.

A workflow rule lists as inputs the package files its stage module imports,
directly or through other trustseg modules, so that editing a file reruns
exactly the rules that run it (a figure caption reruns the figures, not the
fits).  The imports are read from the source with :mod:`ast`, without
importing anything; imports inside functions count too.
"""

from __future__ import annotations

import ast
from functools import cache
from importlib import resources
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def pipeline_dir() -> Path:
    """The folder holding the workflow's ``Snakefile``, with ``workflow/``, ``notebooks/`` and ``config/`` beside it.

    In a clone (an editable install) that is the clone's top level, whose
    files ``trustseg.pipeline`` links to; in an installed wheel, the copies
    inside the package.  The path is resolved, so the workflow sees the same
    folder whichever way it is started.
    """
    return Path(str(resources.files("trustseg.pipeline") / "Snakefile")).resolve().parent


def _module_file(module: str, root: Path) -> Path | None:
    """The file of ``trustseg.a.b``: ``a/b.py`` or ``a/b/__init__.py`` under ``root``."""
    parts = module.split(".")[1:]
    base = root.joinpath(*parts) if parts else root
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(path: Path) -> set[str]:
    """Every ``trustseg...`` module a file imports (``from trustseg.x import y`` may name a submodule y)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "trustseg")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "trustseg":
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@cache
def _closure(module: str, root: Path, leave_out: frozenset = frozenset()) -> tuple[Path, ...]:
    seen: dict[str, Path] = {}
    pending = [module]
    while pending:
        name = pending.pop()
        if name in seen or name in leave_out:
            continue
        path = _module_file(name, root)
        if path is None:  # a name imported from a module, not a module
            continue
        seen[name] = path
        # importing a.b.c runs the __init__ of a and a.b first
        parts = name.split(".")
        pending += [".".join(parts[:i]) for i in range(1, len(parts))]
        pending += sorted(_imported_modules(path))
    return tuple(sorted(seen.values()))


def module_sources(*modules: str, root: str | Path | None = None, leave_out=()) -> list[str]:
    """Source files (as strings, sorted) that importing ``modules`` runs.

    Parameters
    ----------
    modules : str
        Dotted module names, e.g. ``"trustseg.stages.fit"``.
    root : path, optional
        The package directory (default: this installed package's).
    leave_out : iterable of str
        Modules (dotted names) whose code the caller never runs although it
        imports them, with what only they import: the chain's estimator for
        a single-equation analysis, so that editing it refits no single
        equation.
    """
    base = Path(root).resolve() if root is not None else PACKAGE_DIR
    files: set[Path] = set()
    for module in modules:
        if _module_file(module, base) is None:
            raise ValueError(f"no module {module!r} under {base}")
        files.update(_closure(module, base, frozenset(leave_out)))
    return sorted(str(f) for f in files)
