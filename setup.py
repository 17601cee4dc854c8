"""The one build hook: the notebooks in the repository's ``notebooks/`` ship in the wheel
as ``imgframe/notebooks/`` (one copy in the repository; ``imgframe notebooks DIR`` copies
them out of an install). Everything else is in pyproject.toml."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


class BuildPyWithNotebooks(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return        # an editable install reads them from the checkout (notebook.py)
        target = Path(self.build_lib, "imgframe", "notebooks")
        self.mkpath(str(target))
        for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
            self.copy_file(str(notebook), str(target / notebook.name))


setup(cmdclass={"build_py": BuildPyWithNotebooks})
