"""refresh(client, old) over real HTTP equals a fresh load, whatever changed in between."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imgframe
from imgframe.refresh import listing_options, load_options
from imgframe.server import ImageServer

QUERIES = [
    {},
    {"status": "SAVING"},
    {"status": ["ACTIVE", "UNKNOWN"]},
    {"name": "shared-name"},
    {"min_disk": 10},
    {"changes_since": "2026-06-01T00:00:00Z"},
]

change = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(["active", "queued", "saving", "deactivated"]),
              st.sampled_from(["shared-name", "other"]), st.integers(0, 10_000)),
    st.tuples(st.just("update"), st.integers(0, 10_000),
              st.sampled_from(["active", "saving", "deactivated", None]),
              st.sampled_from([None, 0, 10, 20])),
    st.tuples(st.just("rename"), st.integers(0, 10_000),
              st.sampled_from(["shared-name", "renamed", "ü, \"odd\"\nname"])),
    st.tuples(st.just("delete"), st.integers(0, 10_000)),
)


def apply(srv: ImageServer, step: tuple, n: int) -> None:
    ids = [r["id"] for r in srv.images]
    kind = step[0]
    if kind == "add":
        _, status, name, k = step
        created = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=k)
        srv.add_image({"id": f"added-{n}-{k}", "name": name, "status": status,
                       "created_at": created, "min_ram": 0, "min_disk": 10, "size": k,
                       "properties": {"k": [k, str(k)]}})
    elif not ids:
        return
    elif kind == "update":
        _, k, status, disk = step
        fields = {"properties": {"touched": k}}
        if status:
            fields["status"] = status
        if disk is not None:
            fields["min_disk"] = disk
        srv.update_image(ids[k % len(ids)], **fields)
    elif kind == "rename":
        srv.update_image(ids[step[1] % len(ids)], name=step[2])
    else:
        srv.remove_image(ids[step[1] % len(ids)])


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(query=st.sampled_from(QUERIES), size=st.integers(0, 40), seed=st.integers(0, 50),
       steps=st.lists(change, max_size=12), page_size=st.sampled_from([7, 1000]))
def test_refresh_equals_a_fresh_load(query, size, seed, steps, page_size):
    with ImageServer(size, seed=seed, max_limit=25) as srv:
        for i in range(size // 4):              # a few images sharing the filtered name
            if srv.images:
                srv.update_image(srv.images[(i * 7) % len(srv.images)]["id"],
                                 name="shared-name", updated_at=srv.images[0]["created_at"])
        client = imgframe.Client(srv.url, srv.project_id)
        old = client.load(**query, page_size=page_size, progress=False)
        for n, step in enumerate(steps):
            apply(srv, step, n)
        new = client.refresh(old)
        fresh = client.load(**query, page_size=page_size, progress=False)
        mode = new.attrs["imgframe"]["refresh"]["mode"]
        assert mode == ("changes" if len(old) else "full")
        pd.testing.assert_frame_equal(new, fresh, check_dtype=True)
        assert new.attrs["imgframe"]["queries"] == fresh.attrs["imgframe"]["queries"]
        assert imgframe.diff(fresh, new).empty
        d = imgframe.diff(old, new)
        expected_removed = set(old["id"]) - set(fresh["id"])
        assert set(d[d["change"] == "removed"]["id"]) == expected_removed
        assert set(d[d["change"] == "added"]["id"]) == set(fresh["id"]) - set(old["id"])


@pytest.fixture()
def srv():
    with ImageServer(120, seed=8) as server:
        yield server


def test_refresh_fetches_changes_and_the_list_view(srv):
    client = imgframe.Client(srv.url, srv.project_id)
    old = client.load(progress=False)
    srv.update_image(old["id"].iloc[10], name="renamed")
    srv.remove_image(old["id"].iloc[20])
    srv.stats.reset()
    new = client.refresh(old)
    info = new.attrs["imgframe"]["refresh"]
    assert info["mode"] == "changes"
    assert [f["purpose"] for f in info["fetches"]] == ["changed", "listing"]
    assert info["removed"] == 1 and info["added"] == 0
    assert info["since"] == f"{old['updated'].max():%Y-%m-%dT%H:%M:%SZ}"
    paths = srv.stats.paths
    assert any("/images/detail?" in p and "changes-since=" in p for p in paths)
    assert any("/images?" in p and "changes-since" not in p for p in paths)
    assert len(new) == len(old) - 1
    pd.testing.assert_frame_equal(new, client.load(progress=False))


def test_a_change_in_the_same_second_is_not_missed(srv):
    client = imgframe.Client(srv.url, srv.project_id)
    old = client.load(progress=False)
    newest = old["updated"].max().to_pydatetime()
    target = old["id"].iloc[-1]
    srv.update_image(target, name="same second", updated_at=newest)
    new = client.refresh(old)
    assert new.set_index("id").loc[target, "name"] == "same second"


def test_refresh_of_a_stored_snapshot(srv, tmp_path):
    client = imgframe.Client(srv.url, srv.project_id)
    store = imgframe.SnapshotStore(tmp_path)
    store.save(client.load(status="ACTIVE", progress=False))
    srv.update_image(srv.images[3]["id"], status="deactivated")
    new = imgframe.refresh(client, store.load())
    pd.testing.assert_frame_equal(new, client.load(status="ACTIVE", progress=False))
    assert "snapshot_id" not in new.attrs["imgframe"]


def test_incomplete_old_is_refused(srv):
    client = imgframe.Client(srv.url, srv.project_id)
    short = client.load(max_items=5, progress=False)
    assert short.attrs["imgframe"]["truncated"]
    with pytest.raises(imgframe.IncompleteSnapshotError, match="truncated"):
        client.refresh(short)
    with pytest.raises(imgframe.IncompleteSnapshotError, match="no attrs"):
        client.refresh(pd.DataFrame({"id": ["a"]}))


def test_another_endpoint_is_refused(srv):
    old = imgframe.Client(srv.url, srv.project_id).load(progress=False)
    with ImageServer(3) as other:
        with pytest.raises(imgframe.InvalidQueryError, match="client"):
            imgframe.Client(other.url, other.project_id).refresh(old)


def test_list_view_and_max_items_queries_load_in_full(srv):
    client = imgframe.Client(srv.url, srv.project_id)
    for query in ({"detail": False}, {"max_items": 10_000}):
        old = client.load(progress=False, **query)
        srv.remove_image(srv.images[0]["id"])
        new = client.refresh(old)
        assert new.attrs["imgframe"]["refresh"]["mode"] == "full"
        pd.testing.assert_frame_equal(new, client.load(progress=False, **query))


def test_the_listing_per_source():
    assert listing_options("nova") == {"detail": False}
    assert listing_options("glance") == listing_options("ims") == {"detail": True}
    assert load_options({"detail": True, "queries": [
        {"status": "active", "name": "eq:a:b", "minDisk": "10", "limit": "50",
         "changes-since": "2026-01-01T00:00:00Z"}]}) == {
        "detail": True, "page_size": 50, "status": ["ACTIVE"], "name": "a:b",
        "min_disk": 10, "changes_since": "2026-01-01T00:00:00Z"}
