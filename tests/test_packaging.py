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


@pytest.mark.slow
def test_the_wheel_carries_the_license_and_names_the_three_sources(tmp_path):
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "-w", str(tmp_path),
                    "--no-deps", "-q"], check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("imgframe-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        (licensed,) = [n for n in zf.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        assert zf.read(licensed).decode("utf-8") == license_text
        meta = zf.read(licensed.split("/")[0] + "/METADATA").decode("utf-8")
    headers = dict(line.split(": ", 1) for line in meta.split("\n\n", 1)[0].splitlines()
                   if ": " in line)
    assert headers["License-Expression"] == "Apache-2.0"
    for source in ("Nova", "Glance v2", "Huawei IMS"):
        assert source in headers["Summary"], source


def test_the_demo_output_is_ignored_by_git():
    ignored = subprocess.run(["git", "check-ignore", "-q", "imgframe-demo/inventory.csv"],
                             cwd=ROOT, capture_output=True)
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert ignored.returncode == 0
