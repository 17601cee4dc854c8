"""The shipped notebooks run top to bottom (embedded server) and are committed clean."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from imgframe.notebook import (
    NOTEBOOKS,
    execute,
    notebook_path,
    notebooks_dir,
    render_html,
)

pytestmark = pytest.mark.slow


def kernel_env(**extra: str) -> dict:
    """Variables for the kernel: no configured cloud, a small sample catalogue."""
    env = {"IMGFRAME_SAMPLE_IMAGES": "1500", "IMGFRAME_SEED": "3"}
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def no_cloud(monkeypatch):
    """The notebooks must take the embedded-server path whatever this machine has."""
    for name in list(os.environ):
        if name.startswith(("OS_", "IMGFRAME_")):
            monkeypatch.delenv(name)
    monkeypatch.delenv("MPLBACKEND", raising=False)   # let the kernel use its inline backend


def test_shipped_notebooks_are_found():
    assert [notebook_path(n).name for n in NOTEBOOKS] == [f"{n}.ipynb" for n in NOTEBOOKS]
    assert notebook_path("explore") == notebook_path("01_explore.ipynb")
    # one copy, in the checkout's top-level notebooks/ (the wheel gets it: test_packaging)
    assert notebooks_dir() == Path(__file__).resolve().parents[1] / "notebooks"
    with pytest.raises(ValueError, match="01_explore"):
        notebook_path("nope")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_without_outputs(name):
    nb = nbformat.read(notebook_path(name), as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook with no code"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert "widgets" not in nb.metadata
    # a cloud when configured, else the embedded server: the same first cells everywhere
    assert 'os.environ.get("OS_CLOUD"' in code[0].source
    assert "ImageServer" in code[1].source


def errors_in(nb) -> list[str]:
    return [f"{o.get('ename')}: {o.get('evalue')}" for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, tmp_path):
    # CellExecutionError (raised by nbclient on any failing cell) fails the test
    nb = execute(notebook_path(name), env=kernel_env(), cwd=tmp_path, timeout=300)
    assert errors_in(nb) == []
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = json.dumps(outputs)
    assert "embedded server" in text
    if name == "01_explore":
        assert "application/vnd.jupyter.widget-view+json" in text
        assert "images from glance" in text       # the Glance section read Glance
        assert "community" in text and "visibility" in text
        assert "west" in text and "east" in text     # load_many over two sources
    if name == "02_export":
        assert (tmp_path / "inventory.csv").is_file() and (tmp_path / "ubuntu.csv").is_file()
    if name == "03_trends":
        assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
    if name == "04_history":
        assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
        assert (tmp_path / "diff.csv").is_file()
        assert "refused:" in text and "new-image-0" in text
    if name == "05_usage":
        assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2
        assert "Scope complete" in text and "Scope incomplete" in text
        assert "unknown" in text and "unused" in text and "servers whose image" in text
        assert (tmp_path / "usage.csv").is_file()


def test_render_html_keeps_the_widget_state(tmp_path):
    html_path = render_html(notebook_path("01_explore"), tmp_path / "out" / "explore.html",
                            env=kernel_env(), cwd=tmp_path, timeout=300)
    assert html_path == tmp_path / "out" / "explore.html"
    html = html_path.read_text(encoding="utf-8")
    assert "application/vnd.jupyter.widget-state+json" in html
    assert "application/vnd.jupyter.widget-view+json" in html
    state_start = html.index('<script type="application/vnd.jupyter.widget-state+json">')
    state = json.loads(html[html.index(">", state_start) + 1:
                            html.index("</script>", state_start)])
    values = [m["state"].get("value") for m in state["state"].values()]
    assert any(isinstance(v, str) and " of " in v and "images" in v for v in values)
    assert "Traceback" not in html


def test_execute_reports_a_failing_cell(tmp_path):
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1/0")])
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        execute(path, cwd=tmp_path, timeout=60)
    with pytest.raises(CellExecutionError):
        render_html(path, tmp_path / "bad.html", timeout=60)
    assert not (tmp_path / "bad.html").exists()


def outputs_text(nb) -> str:
    return json.dumps([o for c in nb.cells if c.cell_type == "code" for o in c.outputs])


def test_notebook_uses_a_configured_endpoint(tmp_path, image_server):
    """IMGFRAME_ENDPOINT/PROJECT_ID and OS_AUTH_TOKEN, as the top cell names them."""
    srv = image_server(700, seed=5, token="nb-secret-token")
    env = {"IMGFRAME_ENDPOINT": srv.url, "IMGFRAME_PROJECT_ID": srv.project_id,
           "OS_AUTH_TOKEN": "nb-secret-token"}
    nb = execute(notebook_path("02_export"), env=env, cwd=tmp_path, timeout=300)
    listed = len(imgframe_client(srv, token="nb-secret-token").load(progress=False))
    text = outputs_text(nb)
    assert "embedded server" not in text
    assert f"{listed:,} images, " in text
    assert "nb-secret-token" not in text


def test_notebook_uses_os_cloud(tmp_path, monkeypatch, image_server):
    """OS_CLOUD names a cloud in clouds.yaml: keystone password auth, then the catalogue."""
    srv = image_server(600, seed=6, users={"carol": "pw-carol"})
    (tmp_path / "clouds.yaml").write_text(f"""
clouds:
  nbcloud:
    auth:
      auth_url: {srv.auth_url}
      username: carol
      password: pw-carol
      project_id: {srv.project_id}
      user_domain_id: default
    region_name: RegionOne
    identity_api_version: 3
""")
    env = {"OS_CLOUD": "nbcloud", "OS_CLIENT_CONFIG_FILE": str(tmp_path / "clouds.yaml")}
    nb = execute(notebook_path("01_explore"), env=env, cwd=tmp_path, timeout=300)
    listed = len(imgframe_client(srv, token=srv.issue_token()).load(progress=False))
    text = outputs_text(nb)
    assert "embedded server" not in text and "pw-carol" not in text
    assert f"{listed:,} images" in text
    assert "application/vnd.jupyter.widget-view+json" in text


def imgframe_client(srv, token):
    import imgframe

    return imgframe.Client(srv.url, srv.project_id, token=token)
