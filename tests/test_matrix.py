"""Every entry point on every source, over real HTTP against the embedded server.

The matrix is ``ENTRY_POINTS x imgframe.sources.NAMES``: each entry point either works on
a source (and gives what a full load says), or refuses up front, naming the source and the
reason, with no request sent (``REFUSALS``, built from what each source says it can do,
never from its name). ``test_the_matrix_is_complete`` fails when a source or a CLI command
is added without a place here.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import imgframe
from imgframe import sources, status
from imgframe.cli import main
from imgframe.errors import InvalidQueryError
from imgframe.frame import COLUMNS, DTYPES
from imgframe.server import ImageServer, sample_inventory

TOKEN = "matrix-secret-token-0123456789"

#: where each source lives on the embedded server
ENDPOINTS = {"nova": lambda srv: srv.endpoint, "glance": lambda srv: srv.glance_endpoint,
             "ims": lambda srv: srv.ims_endpoint}

#: CLI commands that read no images API (nothing to put in the matrix), and why
SOURCELESS_COMMANDS = {
    "serve": "runs the embedded server itself",
    "demo": "reads the embedded sample catalogue it starts",
    "notebooks": "copies the bundled notebooks; reads nothing",
}


@pytest.fixture(scope="module")
def server(module_image_server):
    return module_image_server(sample_inventory(240, seed=11), token=TOKEN, max_limit=100)


@dataclass
class Cell:
    """One cell of the matrix: a source on the embedded server."""

    srv: ImageServer
    name: str
    tmp: Path

    @property
    def source(self) -> sources.Source:
        return sources.get(self.name)

    @property
    def endpoint(self) -> str:
        return ENDPOINTS[self.name](self.srv)

    def client(self) -> imgframe.Client:
        return imgframe.Client(self.endpoint, source=self.name, token=TOKEN)

    def cli(self, *args, connect: bool = True):
        where = ["--endpoint", self.endpoint, "--source", self.name, "--token", TOKEN] \
            if connect else []
        return CliRunner().invoke(main, [args[0], *where, *args[1:]], env={},
                                  catch_exceptions=False)

    def full(self) -> pd.DataFrame:
        return self.client().load(progress=False)

    def touch(self) -> str:
        """Change one image's name on the server (a refresh or a diff has something to
        find); its id."""
        image = self.srv.images[len(self.srv.images) // 2]
        self.srv.update_image(image["id"], name=f"renamed-{os.urandom(3).hex()}")
        return image["id"]


def same_frame(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a, b = a.copy(), b.copy()
    a.attrs, b.attrs = {}, {}
    pd.testing.assert_frame_equal(a, b)


def cutoffs_of(df: pd.DataFrame) -> list:
    updated = df["updated"].dropna().sort_values()
    return [updated.iloc[0], updated.iloc[len(updated) // 2], updated.iloc[-1],
            updated.iloc[-1] + pd.Timedelta(days=1)]


# -- the entry points ---------------------------------------------------------------------


def check_load(cell: Cell) -> None:
    df = cell.full()
    assert len(df) > 100 and df["id"].is_unique
    assert list(df.columns[:len(COLUMNS)]) == COLUMNS
    assert {c: df[c].dtype for c in COLUMNS} == DTYPES
    assert df.attrs["imgframe"]["source"] == cell.name
    assert set(df["status"].dropna()) <= set(status.ORDER)


def check_iter_pages(cell: Cell) -> None:
    pages = list(cell.client().iter_pages(page_size=40))
    assert len(pages) > 1 and all(len(p) <= 40 for p in pages)
    assert sorted(pd.concat(pages)["id"]) == sorted(cell.full()["id"])


def check_refresh(cell: Cell) -> None:
    client = cell.client()
    old = client.load(progress=False)
    cell.touch()
    new = client.refresh(old)
    assert new.attrs["imgframe"]["refresh"]["mode"] == cell.source.refresh_strategy
    assert new.attrs["imgframe"]["refresh"]["changed"] >= 1
    same_frame(new, client.load(progress=False))


def check_changes_since_trend(cell: Cell) -> None:
    df = cell.full()
    cuts = cutoffs_of(df)
    trend = imgframe.changes_since_trend(cell.client(), cutoffs=cuts, workers=3)
    pd.testing.assert_frame_equal(trend, df.images.changed_since(cuts))
    words = list(cell.source.status_words)
    trend = imgframe.changes_since_trend(cell.client(), cutoffs=cuts, status=words)
    pd.testing.assert_frame_equal(trend, df.images.changed_since(cuts, status=words))


def check_load_many(cell: Cell) -> None:
    both = imgframe.load_many({"one": cell.client(), "two": cell.client()}, workers=2)
    df = cell.full()
    assert len(both) == 2 * len(df)
    assert list(both["id"]) == list(df["id"]) * 2
    assert list(both["cloud"].unique()) == ["one", "two"]


def check_report(cell: Cell) -> None:
    df = cell.full()
    page = imgframe.report(df, cell.tmp / "report.html").read_text(encoding="utf-8")
    assert f"{len(df):,} images" in page and "data-statuses=" in page


def check_snapshot_store(cell: Cell) -> None:
    store = imgframe.SnapshotStore(cell.tmp / "store")
    first = cell.full()
    store.save(first)
    changed = cell.touch()
    store.save(cell.client().refresh(store.load()))
    assert len(store.list()) == 2
    same_frame(store.load(previous=1), first)
    history = store.history("status")
    assert history.groupby("snapshot_id")["images"].sum().tolist() == [len(first)] * 2
    d = imgframe.diff(store.load(previous=1), store.load())
    assert d.loc[d["change"] == "modified", "id"].tolist() == [changed]


def check_cli_export(cell: Cell) -> None:
    out = cell.tmp / "images.csv"
    result = cell.cli("export", "--no-progress", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert list(imgframe.read_csv(out)["id"]) == list(cell.full()["id"])


def check_cli_trend(cell: Cell) -> None:
    df = cell.full()
    updated = df["updated"].dropna()
    start, end = updated.min().floor("D"), updated.max().ceil("D")
    table = cell.tmp / "trend.csv"
    result = cell.cli("trend", "--start", start.isoformat(), "--end", end.isoformat(),
                      "--freq", "M", "-o", str(cell.tmp / "trend.png"), "--csv", str(table))
    assert result.exit_code == 0, result.output
    got = pd.read_csv(table)
    cuts = imgframe.trends.trend_cutoffs(start, end, "M")
    assert got["images"].tolist() == df.images.changed_since(cuts)["images"].tolist()
    assert (cell.tmp / "trend.png").read_bytes()[:4] == b"\x89PNG"


def check_cli_report(cell: Cell) -> None:
    out = cell.tmp / "report.html"
    result = cell.cli("report", "--no-progress", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert f"{len(cell.full()):,} images" in out.read_text(encoding="utf-8")


def _two_snapshots(cell: Cell) -> tuple[Path, str]:
    store = cell.tmp / "store"
    first = cell.cli("snapshot", "--store", str(store), "--no-progress")
    assert first.exit_code == 0, first.output
    changed = cell.touch()
    again = cell.cli("snapshot", "--store", str(store), "--refresh", "--no-progress")
    assert again.exit_code == 0, again.output
    assert f"{cell.source.refresh_strategy}," in again.output
    return store, changed


def check_cli_snapshot(cell: Cell) -> None:
    store, _ = _two_snapshots(cell)
    snaps = imgframe.SnapshotStore(store)
    assert len(snaps.list()) == 2
    same_frame(snaps.load(), cell.full())


def check_cli_diff(cell: Cell) -> None:
    store, changed = _two_snapshots(cell)
    out = cell.tmp / "diff.csv"
    result = cell.cli("diff", "--store", str(store), "-o", str(out), connect=False)
    assert result.exit_code == 0, result.output
    d = imgframe.read_csv(out)
    assert d.loc[d["change"] == "modified", "id"].tolist() == [changed]


def check_cli_history(cell: Cell) -> None:
    store, _ = _two_snapshots(cell)
    table = cell.tmp / "history.csv"
    result = cell.cli("history", "--store", str(store), "-o", str(cell.tmp / "h.png"),
                      "--csv", str(table), connect=False)
    assert result.exit_code == 0, result.output
    counts = pd.read_csv(table)
    assert counts.groupby("snapshot_id")["images"].sum().tolist() == [len(cell.full())] * 2


def check_cli_dashboard(cell: Cell) -> None:
    """It loads, serves its login page over HTTP, and stops on Ctrl-C."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "imgframe.cli", "dashboard", "--endpoint", cell.endpoint,
         "--source", cell.name, "--token", TOKEN, "--port", "0", "--password", "pw-matrix"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "open:" in line:
                break
        found = re.search(r"open:\s+(\S+)", "".join(lines))
        assert found, "".join(lines)
        assert f"Serving {len(cell.full())} images" in "".join(lines)
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        # a chosen password is never echoed: log in with the form, then the page
        login = found.group(1).rstrip("/") + "/login"
        with browser.open(login, data=b"password=pw-matrix", timeout=10) as answer:
            assert answer.status == 200
            assert "data-statuses=" in answer.read().decode("utf-8")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def check_cli_usage(cell: Cell) -> None:
    """Images from the source, servers from Nova (ECS beside IMS), volumes from Cinder:
    one row per image; as a member 'unused' only where the scope allows it. A server of
    its own, with a sample cloud (the matrix's has no servers)."""
    with ImageServer(sample_inventory(120, seed=11), seed=11, token=TOKEN,
                     servers=True) as srv:
        cell = Cell(srv, cell.name, cell.tmp)
        servers = {"nova": [], "glance": ["--compute-endpoint", srv.endpoint],
                   "ims": ["--compute-endpoint", srv.ecs_endpoint,
                           "--project-id", srv.project_id]}[cell.name]
        out = cell.tmp / "usage.csv"
        result = cell.cli("usage", *servers, "--volume-endpoint", srv.volume_endpoint,
                          "--no-progress", "-o", str(out))
        assert result.exit_code == 0, result.output
        got = pd.read_csv(out, dtype=str, keep_default_na=False)
        assert got["id"].tolist() == cell.full()["id"].tolist()
    assert "in use" in set(got["verdict"])
    unused = got[got["verdict"] == "unused"]
    if cell.name == "ims":   # ECS has no cells: a private image of the project listed
        assert set(unused["visibility"]) <= {"private"}
        assert set(unused["owner"]) <= {srv.project_id}
    else:                    # a member cannot verify Nova's cells
        assert unused.empty
    assert "Scope: servers (" + ("ecs" if cell.name == "ims" else "nova") in result.output


#: entry point -> its check (each runs on every source)
ENTRY_POINTS = {
    "load": check_load,
    "iter_pages": check_iter_pages,
    "refresh": check_refresh,
    "changes_since_trend": check_changes_since_trend,
    "load_many": check_load_many,
    "report": check_report,
    "SnapshotStore": check_snapshot_store,
    "cli export": check_cli_export,
    "cli trend": check_cli_trend,
    "cli report": check_cli_report,
    "cli snapshot": check_cli_snapshot,
    "cli diff": check_cli_diff,
    "cli history": check_cli_history,
    "cli dashboard": check_cli_dashboard,
    "cli usage": check_cli_usage,
}


@pytest.mark.parametrize("name", sources.NAMES)
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_entry_point_works_on_source(entry, name, server, tmp_path):
    ENTRY_POINTS[entry](Cell(server, name, tmp_path))


# -- what a source cannot do: refused up front, naming the source and the reason ------------


def refusals() -> list:
    """``(source, what, call(cell), words the error must hold)`` from each source's
    capabilities: no list view, a status word it lacks, a filter it cannot apply."""
    out = []
    for name in sources.NAMES:
        source = sources.get(name)
        if not source.list_view:
            out += [
                (name, "load(detail=False)", lambda c: c.client().load(detail=False), "view"),
                (name, "iter_pages(detail=False)",
                 lambda c: list(c.client().iter_pages(detail=False)), "view"),
                (name, "cli export --list",
                 lambda c: c.cli("export", "--list", "-o", str(c.tmp / "x.csv")), "view"),
            ]
        for word in status.LISTED:
            if word in source.status_words:
                continue
            out += [
                (name, f"load(status={word})", lambda c, w=word: c.client().load(status=w),
                 word),
                (name, f"changes_since_trend(status={word})",
                 lambda c, w=word: imgframe.changes_since_trend(
                     c.client(), cutoffs=["2026-01-01"], status=w), word),
                (name, f"cli trend --status {word}",
                 lambda c, w=word: c.cli("trend", "--status", w, "--start", "2026-01-01",
                                         "--end", "2026-02-01",
                                         "-o", str(c.tmp / "t.png")), word),
            ]
        for option, value in (("visibility", "public"), ("owner", "someone"),
                              ("tag", "x"), ("hidden", True)):
            if option not in source.filters:
                out.append((name, f"load({option}=...)",
                            lambda c, o=option, v=value: c.client().load(**{o: v}), option))
    return out


@pytest.mark.parametrize("name, what, call, reason", refusals(),
                         ids=[f"{n}-{w}" for n, w, _, _ in refusals()])
def test_what_a_source_cannot_do_is_refused_up_front(name, what, call, reason, server,
                                                     tmp_path):
    cell = Cell(server, name, tmp_path)
    server.stats.reset()
    try:
        result = call(cell)
    except InvalidQueryError as exc:
        message = str(exc)
    else:   # a CLI command: its one-line error, and a failing exit code
        assert result.exit_code != 0, result.output
        message = result.output
    named = re.sub(r" \(.*\)$", "", cell.source.title)   # "Huawei IMS (cloudimages)"
    assert named in message, message
    assert reason in message, message
    assert server.stats.requests == 0


# -- the matrix itself -----------------------------------------------------------------------


def test_the_matrix_is_complete():
    """A new source or CLI command cannot be added without a place in the matrix."""
    assert set(ENDPOINTS) == set(sources.NAMES)
    commands = set(main.commands)
    in_matrix = {e.removeprefix("cli ") for e in ENTRY_POINTS if e.startswith("cli ")}
    assert commands == in_matrix | set(SOURCELESS_COMMANDS), (
        "put each command in ENTRY_POINTS (or, if it reads no images API, in "
        "SOURCELESS_COMMANDS with the reason)")
    assert not in_matrix & set(SOURCELESS_COMMANDS)
    public = {"load", "iter_pages", "refresh", "changes_since_trend", "load_many", "report",
              "SnapshotStore"}
    assert public <= set(ENTRY_POINTS)
