"""The wheel carries what imgframe needs at run time: notebooks and the report's assets."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from imgframe.notebook import NOTEBOOKS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_ships_the_notebooks_and_assets(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "-w", str(tmp_path),
                    "--no-deps", "-q"], check=True,
                   capture_output=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("imgframe-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in NOTEBOOKS:
        assert f"imgframe/notebooks/{name}.ipynb" in names
    for name in ("report.js", "report.css"):
        assert f"imgframe/report_assets/{name}" in names
    assert "imgframe/dashboard.py" in names


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
