"""The wheel carries what imgframe needs at run time: notebooks and the report's assets.

The notebooks live once in the repository, in the top-level ``notebooks/``; the build
(setup.py's build_py hook) copies them into the wheel as ``imgframe/notebooks/``.
"""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from imgframe.notebook import NOTEBOOKS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "-w", str(out),
                    "--no-deps", "-q"], check=True, capture_output=True, cwd=out)
    (built,) = out.glob("imgframe-*.whl")
    return built


def test_one_copy_of_the_notebooks_in_the_repository():
    assert sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb")) == list(NOTEBOOKS)
    assert not list((ROOT / "imgframe").rglob("*.ipynb"))


@pytest.mark.slow
def test_the_wheel_ships_the_notebooks_and_assets(wheel):
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    for name in NOTEBOOKS:
        shipped = archive.read(f"imgframe/notebooks/{name}.ipynb")
        assert shipped == (ROOT / "notebooks" / f"{name}.ipynb").read_bytes()
    for name in ("report.js", "report.css"):
        assert f"imgframe/report_assets/{name}" in names
    assert "imgframe/dashboard.py" in names
    assert not [n for n in names if n.startswith("notebooks/")]   # inside the package only


@pytest.mark.slow
def test_imgframe_notebooks_copies_them_out_of_the_installed_wheel(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}        # the wheel's imgframe, not this tree
    where = subprocess.run(
        [sys.executable, "-c", "import imgframe.notebook as n; print(n.notebooks_dir())"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where) == site / "imgframe" / "notebooks"
    result = subprocess.run([sys.executable, "-m", "imgframe.cli", "notebooks", "copied"],
                            env=env, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    copied = sorted(p.name for p in (tmp_path / "copied").glob("*.ipynb"))
    assert copied == [f"{name}.ipynb" for name in NOTEBOOKS]
    for name in copied:
        assert (tmp_path / "copied" / name).read_bytes() == (ROOT / "notebooks" / name).read_bytes()
