"""refresh(client, old) over real HTTP equals a fresh load, whatever changed in between."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imgframe
from imgframe import sources
from imgframe.errors import InvalidQueryError
from imgframe.refresh import _member, load_options
from imgframe.server import ImageServer

QUERIES = {
    "nova": [
        {},
        {"status": "SAVING"},
        {"status": ["ACTIVE", "UNKNOWN"]},
        {"name": "shared-name"},
        {"min_disk": 10},
        {"changes_since": "2026-06-01T00:00:00Z"},
    ],
    "glance": [
        {},
        {"hidden": True},
        {"hidden": False, "status": ["ACTIVE", "SAVING"]},
        {"visibility": "public"},
        {"tag": "lts"},
        {"tag": ["lts", "gpu"], "visibility": "all"},
        {"owner": "p-other", "name": "shared-name"},
        {"changes_since": "2026-06-01T00:00:00Z"},
    ],
    "ims": [
        {},
        {"status": "SAVING"},
        {"visibility": "private"},
        {"tag": "lts"},
        {"hidden": False, "min_disk": 10},
    ],
}
#: the modes a refresh of a non-empty frame takes, per source
MODES = {"nova": "changes", "glance": "full", "ims": "full"}

change = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(["active", "queued", "saving", "deactivated"]),
              st.sampled_from(["shared-name", "other"]), st.integers(0, 10_000)),
    st.tuples(st.just("update"), st.integers(0, 10_000),
              st.sampled_from(["active", "saving", "deactivated", None]),
              st.sampled_from([None, 0, 10, 20])),
    st.tuples(st.just("rename"), st.integers(0, 10_000),
              st.sampled_from(["shared-name", "renamed", "ü, \"odd\"\nname"])),
    st.tuples(st.just("delete"), st.integers(0, 10_000)),
    st.tuples(st.just("glance"), st.integers(0, 10_000),
              st.sampled_from([{"os_hidden": True}, {"os_hidden": False},
                               {"tags": []}, {"tags": ["lts", "gpu"]}, {"tags": ["lts"]},
                               {"visibility": "public"}, {"visibility": "community"},
                               {"protected": True}, {"owner": "p-other"}])),
)


def apply(srv: ImageServer, step: tuple, n: int) -> None:
    ids = [r["id"] for r in srv.images]
    kind = step[0]
    if kind == "add":
        _, status, name, k = step
        created = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=k)
        srv.add_image({"id": f"added-{n}-{k}", "name": name, "status": status,
                       "created_at": created, "min_ram": 0, "min_disk": 10, "size": k,
                       "visibility": ("public", "private")[k % 2], "owner": srv.project_id,
                       "protected": False, "os_hidden": k % 5 == 0,
                       "tags": ["lts"] if k % 3 else [],
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
    elif kind == "glance":
        srv.update_image(ids[step[1] % len(ids)], **step[2])
    else:
        srv.remove_image(ids[step[1] % len(ids)])


def make_client(srv: ImageServer, source: str) -> imgframe.Client:
    if source == "glance":
        return imgframe.Client(srv.glance_endpoint, source="glance", token="t")
    if source == "ims":
        return imgframe.Client(srv.ims_endpoint, srv.project_id, source="ims", token="t")
    return imgframe.Client(srv.url, srv.project_id)


@pytest.mark.parametrize("source", ["nova", "glance", "ims"])
def test_refresh_equals_a_fresh_load(source):
    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
    @given(query=st.sampled_from(QUERIES[source]), size=st.integers(0, 40),
           seed=st.integers(0, 50), steps=st.lists(change, max_size=12),
           page_size=st.sampled_from([7, 1000]))
    def check(query, size, seed, steps, page_size):
        with ImageServer(size, seed=seed, max_limit=25) as srv:
            for i in range(size // 4):              # a few images sharing the filtered name
                if srv.images:
                    rec = srv.images[(i * 7) % len(srv.images)]
                    srv.update_image(rec["id"], name="shared-name",
                                     owner="p-other" if i % 2 else rec["owner"],
                                     updated_at=srv.images[0]["created_at"])
            client = make_client(srv, source)
            old = client.load(**query, page_size=page_size, progress=False)
            for n, step in enumerate(steps):
                apply(srv, step, n)
            new = client.refresh(old)
            fresh = client.load(**query, page_size=page_size, progress=False)
            mode = new.attrs["imgframe"]["refresh"]["mode"]
            assert mode == (MODES[source] if len(old) else "full")
            pd.testing.assert_frame_equal(new, fresh, check_dtype=True)
            for a, b in zip(new["tags"], fresh["tags"], strict=True):
                assert type(a) is type(b) and (a is pd.NA or a == b)
            mine, theirs = new.attrs["imgframe"], fresh.attrs["imgframe"]
            assert mine["queries"] == theirs["queries"]
            assert mine["load_options"] == theirs["load_options"]
            assert mine["filters"] == theirs["filters"]
            assert imgframe.diff(fresh, new).empty
            d = imgframe.diff(old, new)
            expected_removed = set(old["id"]) - set(fresh["id"])
            assert set(d[d["change"] == "removed"]["id"]) == expected_removed
            assert set(d[d["change"] == "added"]["id"]) == set(fresh["id"]) - set(old["id"])
            again = client.refresh(new)               # a refreshed frame refreshes too
            pd.testing.assert_frame_equal(again, fresh)

    check()


@pytest.fixture()
def srv(image_server):
    return image_server(120, seed=8)


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


def test_another_endpoint_is_refused(srv, image_server):
    old = imgframe.Client(srv.url, srv.project_id).load(progress=False)
    other = image_server(3)
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


def test_a_query_recorded_only_as_parameters_is_read_by_its_source():
    # imgframe 0.1's Nova frames (no "source", no "load_options"): Nova reads them
    assert load_options({"queries": [{"minRam": "512"}]}) == {"detail": True, "min_ram": 512}
    with pytest.raises(InvalidQueryError, match=r"no load_options \(the Glance v2 image API\)"):
        load_options({"source": "glance", "queries": [{"status": "active"}]})


def test_the_listing_and_the_refresh_strategy_per_source():
    nova, glance, ims = (sources.get(name) for name in ("nova", "glance", "ims"))
    assert nova.listing_options() == {"detail": False} and nova.refresh_strategy == "changes"
    assert glance.listing_options() == ims.listing_options() == {"detail": True}
    assert glance.refresh_strategy == ims.refresh_strategy == "full"
    assert load_options({"detail": True, "queries": [
        {"status": "active", "name": "eq:a:b", "minDisk": "10", "limit": "50",
         "changes-since": "2026-01-01T00:00:00Z"}]}) == {
        "detail": True, "page_size": 50, "status": ["ACTIVE"], "name": "a:b",
        "min_disk": 10, "changes_since": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize("source", ["glance", "ims"])
def test_glance_and_ims_refresh_is_one_full_listing_counting_changes(srv, source):
    client = make_client(srv, source)
    old = client.load(page_size=50, progress=False)
    srv.update_image(old["id"].iloc[3], name="renamed", tags=["fresh"])
    srv.remove_image(old["id"].iloc[9])
    srv.add_image({"id": "brand-new", "name": "new", "status": "active",
                   "visibility": "public", "tags": []})
    new = client.refresh(old)
    fresh = client.load(page_size=50, progress=False)
    pd.testing.assert_frame_equal(new, fresh)
    info = new.attrs["imgframe"]["refresh"]
    assert info["mode"] == "full" and "no list view" in info["reason"]
    assert [f["purpose"] for f in info["fetches"]] == ["full"]
    assert new.attrs["imgframe"]["requests"] == fresh.attrs["imgframe"]["requests"]
    assert info["added"] == 1 and info["removed"] == 1
    assert info["changed"] < 10 and info["kept"] == len(new) - info["changed"]
    assert info["since"] == f"{old['updated'].max():%Y-%m-%dT%H:%M:%SZ}"


def test_glance_filters_round_trip_through_a_store(srv, tmp_path):
    client = make_client(srv, "glance")
    query = {"visibility": "public", "hidden": False, "owner": srv.images[0]["owner"],
             "tag": ["lts"], "status": ["ACTIVE"]}
    store = imgframe.SnapshotStore(tmp_path)
    first = client.load(**query, progress=False)
    assert len(first)
    store.save(first)
    srv.update_image(first["id"].iloc[0], tags=["lts", "more"], protected=True)
    srv.update_image(first["id"].iloc[1], tags=[])             # leaves the query
    old = store.load()
    assert load_options(old.attrs["imgframe"]) == {**query, "detail": True,
                                                    "page_size": 1000}
    new = client.refresh(old)
    fresh = client.load(**query, progress=False)
    pd.testing.assert_frame_equal(new, fresh)
    assert new.attrs["imgframe"]["load_options"] == fresh.attrs["imgframe"]["load_options"]
    store.save(new)
    d = imgframe.diff(store.load(previous=1), store.load())
    assert set(d["change"]) == {"modified", "removed"}


_IDS = st.lists(st.text("ab\u00e9\U0001d11e-", max_size=4), max_size=15)
try:
    import pyarrow as pa
except ImportError:   # a core install: Python string storage only
    pa = None
_ARROW = st.sampled_from([None]) if pa is None else \
    st.sampled_from([None, "string", "large_string"])


@settings(max_examples=200, deadline=None)
@given(_IDS, _IDS, _ARROW, _ARROW)
def test_membership_of_ids_is_set_membership(ids, of, ids_arrow, of_arrow):
    # refresh matches ids with Arrow's hash set when both columns hold Arrow strings (of
    # either width: Parquet gives large_string back), else by hashing their Python strings
    def column(values, arrow):
        if arrow is None:
            return pd.Series(values, dtype=pd.StringDtype("python"))
        return pd.Series(pd.arrays.ArrowStringArray(pa.array(values, type=getattr(pa, arrow)())))
    got = _member(column(ids, ids_arrow), column(of, of_arrow))
    assert got.dtype == bool and got.tolist() == [i in set(of) for i in ids]
