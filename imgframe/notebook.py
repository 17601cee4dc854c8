"""Run the shipped notebooks and write them as HTML (with the widgets' state).

::

    from imgframe.notebook import notebook_path, render_html
    render_html(notebook_path("01_explore"), "out/explore.html",
                env={"IMGFRAME_SAMPLE_IMAGES": "2000"})

Needs the ``notebook`` extra (nbclient, nbformat, nbconvert, ipykernel); they are
imported on first use so ``import imgframe`` never pays for them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["NOTEBOOKS", "execute", "notebook_path", "notebooks_dir", "render_html"]

NOTEBOOKS = ("01_explore", "02_export", "03_trends", "04_history", "05_usage")


def notebooks_dir() -> Path:
    """Where the shipped notebooks are: ``imgframe/notebooks/`` in an installed wheel (built
    from the repository's top-level ``notebooks/``, which a source checkout or an editable
    install reads directly); ``imgframe notebooks DIR`` copies them out."""
    package = Path(__file__).resolve().parent
    candidates = (package / "notebooks", package.parent / "notebooks")
    for where in candidates:
        if (where / f"{NOTEBOOKS[0]}.ipynb").is_file():
            return where
    raise FileNotFoundError(f"imgframe's notebooks were not found in {candidates[0]} "
                            f"(an install) or {candidates[1]} (a checkout); reinstall imgframe")


def notebook_path(name: str) -> Path:
    """The path of a shipped notebook by name, e.g. ``notebook_path("01_explore")``."""
    stem = name[:-6] if name.endswith(".ipynb") else name
    matches = [n for n in NOTEBOOKS if n == stem or n.split("_", 1)[1] == stem]
    if not matches:
        raise ValueError(f"unknown notebook {name!r}; choose one of {', '.join(NOTEBOOKS)}")
    return notebooks_dir() / f"{matches[0]}.ipynb"


def execute(notebook_path, *, env: dict | None = None, cwd=None, timeout: int = 600,
            kernel_name: str = "python3", store_widget_state: bool = True):
    """Execute a notebook in a fresh kernel and return the executed ``NotebookNode``.

    ``env`` is added to this process's environment for the kernel; ``cwd`` is the
    kernel's working directory (default: the notebook's folder). A failing cell raises
    ``nbclient.exceptions.CellExecutionError`` naming the cell and the error.
    """
    import nbformat
    from nbclient import NotebookClient

    notebook_path = Path(notebook_path)
    nb = nbformat.read(notebook_path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name=kernel_name,
        # the kernel listens on loopback only; its start-up warning about unencrypted
        # TCP is noise in `imgframe demo`'s output
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        resources={"metadata": {"path": str(Path(cwd) if cwd else notebook_path.parent)}},
        store_widget_state=store_widget_state)
    kernel_env = {**os.environ, **(env or {})}
    client.execute(env=kernel_env)
    return nb


def render_html(notebook_path, html_path, *, env: dict | None = None, cwd=None,
                timeout: int = 600, kernel_name: str = "python3") -> Path:
    """Execute a notebook and write it as a standalone HTML page; returns the HTML path.

    The widgets' state is stored in the page, so the explorer shows its initial view
    (its count, rows and chart) to someone without Jupyter; the widget JavaScript itself
    comes from a CDN when the page is opened.
    """
    from nbconvert import HTMLExporter

    html_path = Path(html_path)
    nb = execute(notebook_path, env=env, cwd=cwd, timeout=timeout, kernel_name=kernel_name,
                 store_widget_state=True)
    body, _ = HTMLExporter().from_notebook_node(nb)
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + OFFLINE_NOTE, body, count=1)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(body, encoding="utf-8")
    return html_path


#: what the page says about itself: nbconvert's widget renderer (and MathJax, require.js)
#: load from CDNs, so the explorer is drawn only with internet
OFFLINE_NOTE = (
    '<div class="imgframe-offline-note" style="border:1px solid #c90;background:#fff8e0;'
    'padding:.5em 1em;margin:.5em;font-family:sans-serif">This page is an executed '
    'notebook. Its text, tables and charts show offline; the explorer widget needs internet '
    '(its renderer loads from a CDN: cdn.jsdelivr.net) and is a picture of its first view. '
    'For an interactive inventory that works offline, open <code>report.html</code> '
    '(<code>imgframe report</code>).</div>')
