"""SnapshotStore: exact round trips, atomic writes, two writers, in-place readers, retention."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import imgframe
from imgframe import history_plots


@pytest.fixture(scope="module")
def server(module_image_server):
    return module_image_server(80, seed=5)


@pytest.fixture()
def loaded(server):
    """A real load plus columns the newer sources add: tags (lists, NA), booleans with NA."""
    df = imgframe.Client(server.url, server.project_id).load(progress=False)
    n = len(df)
    tags = np.empty(n, dtype=object)
    tags[:] = [None if i % 3 == 0 else [] if i % 3 == 1 else ["a", "b, c", "ü"] for i in range(n)]
    df["tags"] = tags
    df["protected"] = pd.array([None if i % 4 == 0 else bool(i % 2) for i in range(n)],
                               dtype="boolean")
    df.at[1, "metadata"] = {"nested": {"list": [1, "x", None]}, "n": 1.5}
    df.at[2, "metadata"] = None
    df.loc[3, "name"] = None
    return df


def test_round_trip_is_exact(tmp_path, loaded):
    store = imgframe.SnapshotStore(tmp_path)
    sid = store.save(loaded)
    back = store.load()
    pd.testing.assert_frame_equal(back, loaded, check_dtype=True)
    assert back["tags"].iloc[2] == ["a", "b, c", "ü"] and back["tags"].iloc[0] is None
    assert back["metadata"].iloc[1] == {"nested": {"list": [1, "x", None]}, "n": 1.5}
    info = back.attrs["imgframe"]
    assert info["snapshot_id"] == sid
    assert info["endpoint"] == loaded.attrs["imgframe"]["endpoint"]
    assert info["queries"] == loaded.attrs["imgframe"]["queries"]


def test_metadata_values_come_back_exactly(tmp_path, loaded):
    # rows are decoded with msgspec, and with json where msgspec refuses (NaN): the values
    # are json's either way
    odd = [{"big": 2**70, "small": -2**64, "f": 0.1, "e": 1e300, "t": "\u00fc\U0001d11e\n"},
           {"nan": float("nan"), "inf": float("inf"), "k": [True, None, {"x": ""}]}, {}]
    for row, value in enumerate(odd, start=4):
        loaded.at[row, "metadata"] = value
    imgframe.SnapshotStore(tmp_path).save(loaded)
    back = imgframe.SnapshotStore(tmp_path).load()["metadata"]
    assert back.iloc[4] == odd[0] and type(back.iloc[4]["big"]) is int
    assert json.dumps(back.iloc[5], sort_keys=True) == json.dumps(odd[1], sort_keys=True)  # NaN
    assert back.iloc[6] == {} and back.iloc[2] is None
    assert back.drop(index=[4, 5]).tolist() == loaded["metadata"].drop(index=[4, 5]).tolist()


def test_a_read_pauses_the_collector_and_restores_it(tmp_path, loaded):
    import gc

    big = pd.concat([loaded] * 20, ignore_index=True)   # a dict per row: > 700 allocations
    big["id"] = big["id"] + "-" + pd.Series(big.index.astype(str), dtype=big["id"].dtype)
    big.attrs = loaded.attrs
    imgframe.SnapshotStore(tmp_path).save(big)
    store = imgframe.SnapshotStore(tmp_path)
    passes = []
    gc.collect()   # the allocation counts start from zero: finding the file allocates little
    gc.callbacks.append(lambda phase, info: phase == "start" and passes.append(info))
    try:
        assert gc.isenabled()
        back = store.load()
    finally:
        gc.callbacks.pop()
    assert len(back) == len(big) > 700 and back["metadata"].tolist() == big["metadata"].tolist()
    # none while rows are decoded (8 at this size without the pause); one may run as the
    # pause ends, over what the read made
    assert len(passes) <= 1 and gc.isenabled()


def test_attrs_stay_token_free(tmp_path, loaded):
    loaded.attrs["imgframe"] = dict(loaded.attrs["imgframe"], token="s3cret",
                                    endpoint="https://u:pw@h/v2.1/p")
    store = imgframe.SnapshotStore(tmp_path)
    store.save(loaded)
    raw = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b"s3cret" not in raw and b"pw@" not in raw


def test_list_and_load_at(tmp_path, loaded):
    store = imgframe.SnapshotStore(tmp_path)
    ids = []
    for when in ("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"):
        frame = loaded.iloc[: 10 + len(ids)].copy()
        frame.attrs = copy.deepcopy(loaded.attrs)
        frame.attrs["imgframe"]["loaded_at"] = when
        ids.append(store.save(frame))
    listing = store.list()
    assert listing.columns.tolist() == ["id", "taken_at", "source", "endpoint", "project",
                                        "query", "rows", "complete"]
    assert listing["id"].tolist() == ids and listing["rows"].tolist() == [10, 11, 12]
    assert listing["complete"].all() and (listing["source"] == "nova").all()
    assert len(store.load()) == 12
    assert store.load(at="2026-01-02T12:00:00Z").attrs["imgframe"]["snapshot_id"] == ids[1]
    assert len(store.load(previous=1)) == 11
    assert len(store.load(id=ids[0])) == 10
    with pytest.raises(imgframe.ImgframeError, match="at or before 2025-01-01"):
        store.load(at="2025-01-01")
    with pytest.raises(imgframe.ImgframeError, match="no snapshot 'nope'"):
        store.load(id="nope")


def test_empty_store_says_so(tmp_path):
    with pytest.raises(imgframe.ImgframeError, match="has no snapshots"):
        imgframe.SnapshotStore(tmp_path / "none").load()
    assert imgframe.SnapshotStore(tmp_path / "none").list().empty


def test_several_queries_share_a_store(tmp_path, server, loaded):
    client = imgframe.Client(server.url, server.project_id)
    store = imgframe.SnapshotStore(tmp_path)
    store.save(loaded)
    active = client.load(status="ACTIVE", progress=False)
    store.save(active)
    assert store.list()["query"].nunique() == 2
    assert len(store.list(query=active)) == 1
    pd.testing.assert_frame_equal(store.load(query=loaded), loaded)
    assert store.load().attrs["imgframe"]["queries"][0]["status"] == "active"


def test_history_and_changes(tmp_path, server):
    client = imgframe.Client(server.url, server.project_id)
    store = imgframe.SnapshotStore(tmp_path)
    first = client.load(progress=False)
    store.save(first)
    victim = first["id"].iloc[-1]
    server.update_image(first["id"].iloc[1], name="renamed in test_history")
    removed = server.remove_image(victim)
    try:
        store.save(client.refresh(store.load()))
        hist = store.history("status")
        assert hist.columns.tolist() == ["taken_at", "snapshot_id", "status", "images"]
        per = hist.groupby("snapshot_id", sort=False)["images"].sum().tolist()
        assert per == [len(first), len(first) - 1]
        assert store.history(None)["images"].tolist() == per
        changes = store.changes()
        assert changes[["added", "removed", "modified"]].values.tolist() == [[0, 1, 1]]
        ax = history_plots.history_plot(hist)
        assert ax.get_legend() is not None
        assert history_plots.changes_plot(changes) is not None
        assert history_plots.history_plot(store.history(None)) is not None
    finally:
        server.add_image(dict(removed, id=victim + "-back"))


def test_prune(tmp_path, loaded):
    store = imgframe.SnapshotStore(tmp_path)
    times = ["2026-03-02T01:00:00Z", "2026-03-02T05:00:00Z", "2026-03-03T01:00:00Z",
             "2026-03-10T01:00:00Z", "2026-03-10T02:00:00Z"]
    ids = []
    for t in times:
        frame = loaded.copy()
        frame.attrs = copy.deepcopy(loaded.attrs)
        frame.attrs["imgframe"]["loaded_at"] = t
        ids.append(store.save(frame))
    assert store.prune(per="day") == [ids[0], ids[3]]
    assert store.list()["id"].tolist() == [ids[1], ids[2], ids[4]]
    assert store.prune(per="week") == [ids[1]]
    assert store.prune(keep_last=1) == [ids[2]]
    assert store.list()["id"].tolist() == [ids[4]]
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == [f"{ids[4]}.parquet"]
    with pytest.raises(imgframe.InvalidQueryError, match="per="):
        store.prune(per="month")


def test_readable_in_place_by_duckdb_polars_and_pandas(tmp_path, loaded):
    duckdb = pytest.importorskip("duckdb")
    pl = pytest.importorskip("polars")
    store = imgframe.SnapshotStore(tmp_path)
    store.save(loaded)
    store.save(loaded.iloc[:20].copy().__finalize__(loaded))
    glob = str(tmp_path / "snapshots" / "*.parquet")
    rows = duckdb.sql(f"SELECT snapshot_id, snapshot_taken_at, count(*) AS n, "
                      f"count(DISTINCT status) AS s, max(len(tags)) AS t "
                      f"FROM read_parquet('{glob}', union_by_name=true) "
                      f"GROUP BY ALL ORDER BY n").fetchall()
    assert [r[2] for r in rows] == [20, len(loaded)] and rows[0][4] == 3
    meta = duckdb.sql(f"SELECT json_extract_string(metadata, '$.nested.list[1]') "
                      f"FROM read_parquet('{glob}') WHERE id = '{loaded['id'].iloc[1]}'"
                      ).fetchall()
    assert meta == [("x",), ("x",)]
    frame = pl.read_parquet(glob)
    assert frame.height == 20 + len(loaded)
    assert frame.schema["tags"] == pl.List(pl.String)
    raw = pd.read_parquet(tmp_path / "snapshots")
    assert len(raw) == 20 + len(loaded)
    assert json.loads(raw["metadata"].dropna().iloc[0]) is not None


def test_write_interrupted_midway_leaves_no_snapshot(tmp_path, loaded, monkeypatch):
    import pyarrow.parquet as pq

    store = imgframe.SnapshotStore(tmp_path)
    first = store.save(loaded)
    real = pq.write_table

    def half_then_fail(table, where, **kw):
        real(table.slice(0, len(table) // 2), where, **kw)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        store.save(loaded)
    monkeypatch.undo()
    assert store.list()["id"].tolist() == [first]
    assert [p.name for p in (tmp_path / "snapshots").iterdir()] == [f"{first}.parquet"]
    assert list((tmp_path / "tmp").iterdir()) == []
    pd.testing.assert_frame_equal(store.load(), loaded)


def test_killed_writer_leaves_store_readable(tmp_path, loaded):
    store = imgframe.SnapshotStore(tmp_path)
    first = store.save(loaded)
    script = textwrap.dedent(f"""
        import os, pyarrow.parquet as pq, pandas as pd, imgframe
        store = imgframe.SnapshotStore({str(tmp_path)!r})
        df = store.load()
        real = pq.write_table
        def die(table, where, **kw):
            real(table.slice(0, 5), where, **kw)
            os._exit(9)                       # killed mid-write: no cleanup at all
        pq.write_table = die
        store.save(df)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == 9, proc.stderr.decode()[-500:]
    assert store.list()["id"].tolist() == [first]
    assert len(list((tmp_path / "snapshots").glob("*.parquet"))) == 1
    second = store.save(loaded)                   # the store still takes new snapshots
    assert store.list()["id"].tolist() == [first, second]


def test_file_moved_but_not_listed_is_adopted(tmp_path, loaded):
    import shutil

    store = imgframe.SnapshotStore(tmp_path)
    sid = store.save(loaded)
    manifest = (tmp_path / "manifest.json").read_text()
    shutil.copy(tmp_path / "snapshots" / f"{sid}.parquet", tmp_path / "copy.parquet")
    other = store.save(loaded)
    # simulate a crash after the move, before the manifest: restore the old manifest
    (tmp_path / "manifest.json").write_text(manifest)
    assert store.list()["id"].tolist() == [sid]
    third = store.save(loaded)
    assert set(store.list()["id"]) == {sid, other, third}


WRITER = """
import sys, imgframe
store = imgframe.SnapshotStore(sys.argv[1])
df = store.load(id=sys.argv[2])
for _ in range(int(sys.argv[3])):
    store.save(df)
"""


def test_two_writer_processes_both_land(tmp_path, loaded):
    store = imgframe.SnapshotStore(tmp_path)
    seed = store.save(loaded.iloc[:5].copy().__finalize__(loaded))
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), seed, "6"])
             for _ in range(2)]
    assert [p.wait(timeout=180) for p in procs] == [0, 0]
    listing = store.list()
    assert len(listing) == 13 and listing["id"].is_unique
    assert len(list((tmp_path / "snapshots").glob("*.parquet"))) == 13


def test_history_by_a_list_column(tmp_path, loaded):
    store = imgframe.SnapshotStore(tmp_path)
    store.save(loaded)
    hist = store.history("tags")
    assert hist["images"].sum() == len(loaded)
    assert set(hist["tags"].dropna()) == {"[]", '["a", "b, c", "\\u00fc"]'}
    with pytest.raises(imgframe.InvalidQueryError, match="by="):
        store.history("nope")


def test_a_glance_load_round_trips_exactly(tmp_path, image_server):
    """Every column Glance fills: tags (lists, empty lists), protected/hidden (booleans,
    NA where a row lacks them), checksums, metadata dicts."""
    srv = image_server(60, seed=9)
    srv.update_image(srv.images[0]["id"], tags=[], protected=True, os_hidden=True)
    srv.update_image(srv.images[1]["id"], tags=["ü, \"x\"", "b"])
    df = imgframe.Client(srv.glance_endpoint, source="glance", token="t").load(
        progress=False)
    df.loc[2, "protected"] = pd.NA          # what a Glance without the field would give
    df.loc[3, "hidden"] = pd.NA
    store = imgframe.SnapshotStore(tmp_path)
    store.save(df)
    back = store.load()
    pd.testing.assert_frame_equal(back, df)
    for a, b in zip(back["tags"], df["tags"], strict=True):
        assert type(a) is list and a == b
    assert back["hidden"].isna().sum() == 1 and back["hidden"].any()
    assert back.attrs["imgframe"]["load_options"] == df.attrs["imgframe"]["load_options"]
