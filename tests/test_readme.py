"""The README's claims about the report, the dashboard and the notebooks stay true."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

from click.testing import CliRunner

from imgframe.cli import main
from imgframe.notebook import NOTEBOOKS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## A page for people without Jupyter", 1)[1].split("\n## ", 1)[0]


def commands() -> list[list[str]]:
    lines = re.findall(r"^\$ imgframe (.+)$", SECTION, flags=re.M)
    return [shlex.split(line.split("  #", 1)[0]) for line in lines]


def test_the_section_shows_report_dashboard_and_notebooks():
    names = [c[0] for c in commands()]
    assert {"report", "dashboard", "notebooks"} <= set(names)


def test_the_demo_report_command_runs_and_the_claims_hold(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    demo = [c for c in commands() if c[0] == "report" and "--demo" in c]
    assert demo, "the README shows a --demo report command"
    result = CliRunner().invoke(main, demo[0] + ["--no-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    written = list(tmp_path.iterdir())
    assert [p.name for p in written] == ["report.html"]          # ONE file
    page = written[0].read_text(encoding="utf-8")
    assert not re.search(r"https?://", page)                     # nothing from elsewhere
    assert "default-src 'none'" in page
    assert "3,000 sample\nimages make a file of under 1 MB" in README
    assert "--images 3000" in " ".join(demo[0])
    assert written[0].stat().st_size < 1_000_000


def test_the_dashboard_extra_exists_and_the_defaults_are_as_said():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert "dashboard" in extras and "imgframe[dashboard]" in SECTION
    dashboard = main.commands["dashboard"]
    options = {o.name: o for o in dashboard.params}
    assert options["host"].default == "127.0.0.1" and "127.0.0.1" in SECTION
    assert options["port"].default == 8050 and "http://127.0.0.1:8050/" in SECTION
    assert options["password"].envvar == "IMGFRAME_DASHBOARD_PASSWORD"
    for option in ("cloud", "endpoint", "source", "ak", "sk", "demo", "password"):
        assert option in options, option
    assert "with_usage" in options and "--usage" in SECTION
    for option in ("compute_endpoint", "volume_endpoint", "all_projects", "assume_cells_up"):
        assert option in options and f"--{option.replace('_', '-')}" in SECTION, option


def test_the_notebooks_command_copies_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "my-notebooks"
    cmd = [c for c in commands() if c[0] == "notebooks"][0]
    runner = CliRunner()
    result = runner.invoke(main, ["notebooks", str(target)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert cmd[1] == "my-notebooks/"
    assert sorted(p.name for p in target.iterdir()) == [f"{n}.ipynb" for n in NOTEBOOKS]
    (target / "01_explore.ipynb").write_text("mine")
    again = runner.invoke(main, ["notebooks", str(target)])
    assert again.exit_code == 1 and "--force" in again.output
    assert (target / "01_explore.ipynb").read_text() == "mine"
    forced = runner.invoke(main, ["notebooks", str(target), "--force"])
    assert forced.exit_code == 0
    assert (target / "01_explore.ipynb").read_text() != "mine"
