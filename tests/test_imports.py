"""Every module imports on its own in a fresh interpreter, whichever comes first.

``import imgframe`` registers ``df.images`` as pandas finishes loading (imgframe/__init__.py),
which can be in the middle of any imgframe module's own import: a module the accessor needs
by name, imported half-way, would fail there (it did for query.py)."""

import pkgutil
import subprocess
import sys

import pytest

import imgframe

MODULES = sorted(m.name for m in pkgutil.walk_packages(imgframe.__path__, "imgframe.")
                 if not m.name.endswith("__main__"))


@pytest.mark.slow
def test_every_module_imports_first_in_a_fresh_interpreter():
    script = ("import importlib, sys\n"
              "importlib.import_module(sys.argv[1])\n"
              "import pandas as pd\n"
              "assert 'images' in pd.DataFrame._accessors, 'df.images is not registered'\n")
    failed = {}
    for name in MODULES:
        done = subprocess.run([sys.executable, "-c", script, name], capture_output=True,
                              text=True, timeout=120)
        if done.returncode:
            failed[name] = done.stderr.strip().splitlines()[-1]
    assert failed == {}
    assert "imgframe.query" in MODULES and "imgframe.accessor" in MODULES
