"""The shared fixtures of tests/conftest.py do what they promise (run in a pytest of their
own, over a copy of conftest.py)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

INNER = '''
import pytest
import requests

from imgframe.server import Faults

seen = {}


def test_the_factory_starts_servers(image_server):
    a = image_server(5, token="x")
    b = image_server([dict(r, name="renamed") for r in a.images])
    seen["urls"] = (a.url, b.url)
    assert requests.get(f"{b.endpoint}/images", timeout=5).json()["images"][0]["name"] == \\
        "renamed"


def test_and_stops_them_after_the_test():
    for url in seen["urls"]:
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=2)


def test_sample_server_changed_by_a_fault(sample_server):
    sample_server.faults = Faults(latency=0.01)


def test_sample_server_changed_by_an_image(sample_server):
    sample_server.remove_image(sample_server.images[0]["id"])


def test_sample_server_left_alone(sample_server, source, client_for):
    df = client_for(sample_server, source).load(progress=False)
    assert sample_server.faults == Faults() and len(df) > 0
'''


@pytest.mark.slow
def test_image_server_stops_and_sample_server_refuses_changes(tmp_path):
    shutil.copy(HERE / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_inner.py").write_text(INNER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "--rootdir", str(tmp_path), "-c", os.devnull, "-W", "error", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = result.stdout
    assert "7 passed, 2 errors" in out, out        # the two changes fail at teardown
    # once a teardown error (the short summary repeats it, whole where CI=true)
    assert out.count("\nthe test changed the shared sample_server") == 2, out
    assert "its faults" in out and "its images" in out
