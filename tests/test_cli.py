"""The ``imgframe`` command, driven through click's runner and as a real subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image as mpimg
import pandas as pd
import pytest
import requests
from click.testing import CliRunner

import imgframe
from imgframe.cli import main
from imgframe.server import DEFAULT_PROJECT_ID, sample_inventory

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def server(sample_server):
    """The session's read-only sample server (conftest); ``server.token`` opens it."""
    return sample_server


def run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env or {}, catch_exceptions=False)


def test_every_command_has_help_and_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name, command in main.commands.items():
        assert command.help, name
        assert f"imgframe {name}" in readme, f"README does not show `imgframe {name}`"
        result = run(name, "--help")
        assert result.exit_code == 0
        assert "Usage:" in result.output


def test_export_writes_the_same_rows_as_load(server, tmp_path):
    out = tmp_path / "active.csv"
    result = run("export", "--endpoint", server.url, "--project-id", server.project_id,
                 "--status", "active", "--no-progress", "-o", str(out),
                 env={"OS_AUTH_TOKEN": server.token})
    assert result.exit_code == 0, result.output
    expected = imgframe.Client(server.url, server.project_id, token=server.token).load(
        status="ACTIVE", progress=False)
    assert f"Wrote {len(expected)} images to {out}" in result.output
    back = imgframe.read_csv(out)
    assert list(back["id"]) == list(expected["id"])
    assert set(back["status"].astype(str)) == {"ACTIVE"}
    assert server.token not in out.read_text(encoding="utf-8")


def test_export_with_a_bad_token_is_one_clear_line(server, tmp_path):
    result = CliRunner().invoke(main, ["export", "--endpoint", server.url, "--project-id",
                                       server.project_id, "--token", "wrong-token-abc",
                                       "-o", str(tmp_path / "x.csv")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert "wrong-token-abc" not in result.output
    assert "token" in result.output.lower()
    assert not (tmp_path / "x.csv").exists()


def test_export_rejects_bad_input_before_sending(server, tmp_path):
    server.stats.reset()
    result = CliRunner().invoke(main, ["export", "--endpoint", server.url, "--project-id",
                                       server.project_id, "--token", server.token,
                                       "--changes-since", "last tuesday",
                                       "-o", str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    assert "--changes-since" in result.output and "last tuesday" in result.output
    assert server.stats.requests == 0

    result = CliRunner().invoke(main, ["export", "--endpoint", server.url, "--token", server.token,
                                       "--status", "DELETED", "-o", str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    assert "DELETED" in result.output


def test_export_workers_loads_glance_ranges_concurrently(server, tmp_path):
    out = tmp_path / "glance.csv"
    glance = f"{server.url}/image"
    result = run("export", "--endpoint", glance, "--source", "glance", "--workers", "4",
                 "--page-size", "50", "--no-progress", "-o", str(out),
                 env={"OS_AUTH_TOKEN": server.token})
    assert result.exit_code == 0, result.output
    expected = imgframe.Client(glance, source="glance", token=server.token).load(page_size=50,
                                                                          progress=False)
    assert list(imgframe.read_csv(out)["id"]) == list(expected["id"])

    server.stats.reset()
    for bad in ("0", "33"):
        result = CliRunner().invoke(main, ["export", "--endpoint", glance, "--source", "glance",
                                           "--token", server.token, "--workers", bad,
                                           "-o", str(tmp_path / "x.csv")])
        assert result.exit_code == 2 and "--workers" in result.output and bad in result.output
    assert server.stats.requests == 0 and not (tmp_path / "x.csv").exists()


def test_export_needs_credentials(tmp_path):
    result = CliRunner().invoke(main, ["export", "--endpoint", "http://127.0.0.1:9",
                                       "-o", str(tmp_path / "x.csv")], env={"OS_AUTH_TOKEN": ""})
    assert result.exit_code == 2
    assert "--token" in result.output


def test_trend_writes_png_and_csv(server, tmp_path):
    png, csv = tmp_path / "trend.png", tmp_path / "trend.csv"
    result = run("trend", "--endpoint", server.endpoint, "--token", server.token,
                 "--start", "2025-01-01", "--end", "2025-12-31", "--freq", "M",
                 "-o", str(png), "--csv", str(csv))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(csv)
    assert list(table.columns[:2]) == ["cutoff", "images"]
    assert len(table) == 12
    assert table["images"].is_monotonic_decreasing
    image = mpimg.imread(png)
    assert image.shape[0] > 200 and image.shape[1] > 300
    assert image[..., :3].std() > 0.01  # not a blank canvas


@pytest.mark.slow
def test_demo_writes_csv_charts_and_notebook(tmp_path):
    out = tmp_path / "demo"
    result = run("demo", "--images", "600", "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    for name in ("inventory.csv", "status.png", "changes.png", "trend.png", "01_explore.html"):
        assert (out / name).exists(), name
        assert str(out / name) in result.output
    # every HTML page the demo writes works offline, or says on the page what it needs
    notebook_html = (out / "01_explore.html").read_text()
    assert "imgframe-offline-note" in notebook_html and "needs internet" in notebook_html
    df = imgframe.read_csv(out / "inventory.csv")
    listed = sum(1 for r in sample_inventory(600, seed=0)     # Glance's default listing
                 if r["status"] not in ("killed", "deleted", "pending_delete")
                 and not r["os_hidden"] and (r["owner"] == DEFAULT_PROJECT_ID
                                             or r["visibility"] in ("public", "shared")))
    assert len(df) == listed
    assert re.search(rf"Loaded {listed} images in", result.output)
    for status, count in df.images.status_counts().items():
        assert f"{status} {count}" in result.output
    html = (out / "01_explore.html").read_text(encoding="utf-8")
    assert "application/vnd.jupyter.widget-state+json" in html
    for name in ("status.png", "changes.png", "trend.png", "history.png"):
        assert mpimg.imread(out / name)[..., :3].std() > 0.01

    # inventory over time: two complete snapshots, and a diff of exactly the changes made
    for name in ("inventory", "diff.csv", "history.png"):
        assert str(out / name) in result.output, name
    store = imgframe.SnapshotStore(out / "inventory")
    listing = store.list()
    assert len(listing) == 2 and listing["complete"].all()
    first, second = store.load(previous=1), store.load()
    assert len(first) == listed and len(second) == listed - 2 + 2
    with open(out / "diff.csv", encoding="utf-8", newline="") as fh:
        assert fh.read() == imgframe.to_csv(imgframe.diff(first, second))
    d = pd.read_csv(out / "diff.csv", dtype=str, keep_default_na=False)
    changes = dict(zip(d["id"], d["change"], strict=True))
    ids = df["id"].tolist()
    assert changes == {**{i: "modified" for i in ids[:3]}, **{i: "removed" for i in ids[3:5]},
                       "demo-added-0": "added", "demo-added-1": "added"}
    changed = {i: set(json.loads(c)) for i, c in zip(d["id"], d["changed"], strict=True)}
    assert changed[ids[0]] == {"name", "updated"}
    assert {"status", "updated"} <= changed[ids[1]]
    assert changed[ids[2]] == {"metadata", "updated"}
    assert "added 2, removed 2, modified 3" in result.output


def test_serve_prints_a_working_url():
    proc = subprocess.Popen(
        [sys.executable, "-m", "imgframe.cli", "serve", "--images", "50", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        endpoint = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and endpoint is None:
            line = proc.stdout.readline()
            if not line:
                break
            match = re.search(r"endpoint:\s+(\S+)", line)
            if match:
                endpoint = match.group(1)
        assert endpoint, proc.stderr.read() if proc.poll() is not None else "no endpoint line"
        body = requests.get(f"{endpoint}/images", params={"limit": 5}, timeout=10).json()
        assert len(body["images"]) == 5
        assert body["images_links"][0]["rel"] == "next"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


def test_export_refuses_conflicting_sources_and_unknown_formats(server, tmp_path):
    result = CliRunner().invoke(main, ["export", "--endpoint", server.url, "--token", server.token,
                                       "--cloud", "mycloud", "-o", str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    assert "not both" in result.output
    server.stats.reset()
    result = CliRunner().invoke(main, ["export", "--endpoint", server.url, "--token", server.token,
                                       "-o", str(tmp_path / "x.xlsx")])
    assert result.exit_code == 2
    assert ".csv or .parquet" in result.output and "x.xlsx" in result.output
    assert server.stats.requests == 0 and not (tmp_path / "x.xlsx").exists()


def test_export_parquet_round_trip(server, tmp_path):
    from imgframe.export import read_parquet

    out = tmp_path / "all.parquet"
    result = run("export", "--endpoint", server.endpoint, "--token", server.token, "--no-progress",
                 "-o", str(out))
    assert result.exit_code == 0, result.output
    back = read_parquet(out)
    expected = imgframe.Client(server.endpoint, token=server.token).load(progress=False)
    assert list(back["id"]) == list(expected["id"])
    assert back.dtypes.equals(expected.dtypes)


def test_snapshot_refresh_diff_history(image_server, tmp_path):
    server = image_server(sample_inventory(400, seed=3), token="cli-secret-token-0123456789")
    store = tmp_path / "inv"
    env = {"OS_AUTH_TOKEN": server.token}
    result = run("snapshot", "--store", str(store), "--endpoint", server.url, "--project-id",
                 server.project_id, "--no-progress", env=env)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Saved snapshot ")
    victim = server.images[5]              # one image renamed (the test's own server)
    server.update_image(victim["id"], name="renamed by the cli test")
    result = run("snapshot", "--store", str(store), "--refresh", "--no-progress", env=env)
    assert result.exit_code == 0, result.output
    assert "refreshed" in result.output and "changes" in result.output
    out = tmp_path / "diff.csv"
    result = run("diff", "--store", str(store), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert ": added 0, removed 0, modified 1" in result.output
    assert f"Wrote 1 rows to {out}" in result.output
    back = pd.read_csv(out)
    assert back["id"].tolist() == [victim["id"]] and back["change"].tolist() == ["modified"]
    assert "renamed by the cli test" in out.read_text(encoding="utf-8")
    png = tmp_path / "history.png"
    result = run("history", "--store", str(store), "-o", str(png), "--changes",
                 str(tmp_path / "changes.png"))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("2 snapshots; chart written to")
    assert mpimg.imread(png).shape[0] > 100


def test_snapshot_commands_fail_in_one_clear_line(server, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (["diff", "--store", str(empty)], ["history", "--store", str(empty)],
                 ["snapshot", "--store", str(empty), "--refresh"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, (args, result.output)
        assert result.output.startswith("Error: ") and "has no snapshots" in result.output
        assert len(result.output.strip().splitlines()) == 1
    store = tmp_path / "two"
    env = {"OS_AUTH_TOKEN": server.token}
    for status in ("ACTIVE", "SAVING"):
        assert run("snapshot", "--store", str(store), "--endpoint", server.url,
                   "--project-id", server.project_id, "--status", status, "--no-progress",
                   env=env).exit_code == 0
    ids = imgframe.SnapshotStore(store).list()["id"].tolist()
    result = CliRunner().invoke(main, ["diff", "--store", str(store), *ids])
    assert result.exit_code == 1 and "not listed by the same query" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(main, ["diff", "--store", str(store)])
    assert result.exit_code == 1 and "only one snapshot of this query" in result.output
    result = CliRunner().invoke(main, ["diff", "--store", str(store), "nope", ids[0]])
    assert result.exit_code == 1 and "no snapshot 'nope'" in result.output


def test_snapshot_demo(tmp_path):
    result = run("snapshot", "--store", str(tmp_path), "--demo", "50", "--no-progress")
    assert result.exit_code == 0, result.output
    assert imgframe.SnapshotStore(tmp_path).list()["rows"].tolist() == [
        len(imgframe.SnapshotStore(tmp_path).load())]


def test_source_choices_are_the_sources():
    """``--source`` spells the names out (imgframe.sources imports pandas, ``--help`` must
    not): every source imgframe has, and "auto"."""
    from imgframe import sources
    from imgframe.cli import options

    assert options.SOURCE_CHOICES == (*sources.NAMES, "auto")


def test_serve_prints_every_api_endpoint(monkeypatch):
    import types

    import imgframe.cli.serve_cmds as cli

    def stop(_seconds):                       # the serve loop's sleep: press Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "time", types.SimpleNamespace(sleep=stop))
    result = CliRunner().invoke(main, ["serve", "--images", "30", "--port", "0"])
    assert result.exit_code == 0, result.output
    urls = dict(re.findall(r"^  (\w+(?: \w+)?): +(\S+)$", result.output, re.M))
    root = urls["root"]
    assert urls["compute endpoint"] == f"{root}/v2.1/{urls['project id']}"
    assert urls["glance endpoint"] == f"{root}/image"
    assert urls["ims endpoint"] == f"{root}/ims"
    assert urls["keystone endpoint"] == f"{root}/identity/v3"
    assert result.output.rstrip().endswith("stopped")
