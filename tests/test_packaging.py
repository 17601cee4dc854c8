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
