"""client.load(workers=N): concurrent streams (Nova statuses, Glance/IMS created_at ranges)
give exactly the workers=1 frame, and no thread outlives a load."""

from __future__ import annotations

import datetime as dt
import threading
import time
from unittest import mock

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from imgframe.client import MAX_WORKERS
from imgframe.errors import APIError, ImgframeError, InvalidQueryError
from imgframe.listing import adaptive
from imgframe.listing.ranges import cut_points, iso, partition, within
from imgframe.pages import Page
from imgframe.server import Faults, ImageServer, sample_inventory
from imgframe.sources.base import Stream

TOKEN = "streams-token"
FAST = {"retries": 2, "backoff": 0.01, "budget": 5}
T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def catalogue(n: int, seed: int, seconds: list[int], hidden_share: float) -> list[dict]:
    """``n`` records whose created_at fall on the given seconds after T0 (many ties)."""
    records = sample_inventory(n, seed=seed)
    for k, rec in enumerate(records):
        created = T0 + dt.timedelta(seconds=seconds[k % len(seconds)])
        rec["created_at"] = created
        rec["updated_at"] = created + dt.timedelta(seconds=k % 7)
        rec["os_hidden"] = (k * 7919 + seed) % 100 < hidden_share * 100
    return records


@pytest.fixture(scope="module")
def srv(module_image_server):
    seconds = [0, 0, 0, 5, 5, 9, 30, 30, 30, 30, 31, 60, 61, 61, 90, 300, 300, 301]
    return module_image_server(catalogue(300, 3, seconds, 0.2), token=TOKEN)


@pytest.fixture(autouse=True)
def fresh(srv):
    srv.faults = Faults()
    yield
    srv.faults = Faults()


# --- pure parts


def test_cut_points_and_ranges_cover_the_line():
    assert cut_points(100, 0, 4) == [75, 50, 25]
    assert cut_points(3, 0, 8) == [2, 1]
    assert cut_points(5, 5, 4) == []
    ranges = partition(Stream((("limit", "9"),)), 0, [75, 25])
    assert [(r.lo, r.hi) for r in ranges] == [(75, None), (25, 75), (None, 25)]
    assert ranges[1].stream.params[-1] == ("created_at", f"lt:{iso(75)}")
    # every whole second lands in exactly one range: [lo, hi)
    for t in range(-5, 120):
        hits = [r for r in ranges if (r.lo is None or t >= r.lo) and (r.hi is None or t < r.hi)]
        assert len(hits) == 1


def test_within_drops_older_and_says_stop():
    page = Page([{"id": "a", "created_at": iso(50)}, {"id": "b", "created_at": iso(49)}],
                next_href="/v2/images?marker=b")
    kept, past = within(page, 50)
    assert [i["id"] for i in kept.items] == ["a"] and past and kept.next_href is None
    assert within(page, 49) == (page, False)


# --- validation


@pytest.mark.parametrize("bad", [0, MAX_WORKERS + 1, 2.0, True, "4", "auto"])
def test_workers_validated_before_any_request(srv, bad, client_for):
    srv.stats.reset()
    with pytest.raises(InvalidQueryError, match="workers"):
        client_for(srv, "glance", **FAST).load(workers=bad, progress=False)
    assert srv.stats.requests == 0


# --- equality with one walk


@pytest.mark.parametrize("source,options", [
    ("glance", {}), ("glance", {"hidden": False}), ("glance", {"status": "SAVING"}),
    ("ims", {}), ("ims", {"status": ["ACTIVE", "SAVING"]}),
    ("nova", {"status": ["SAVING", "UNKNOWN"]}),
])
@pytest.mark.parametrize("workers", [2, 4, 7])
def test_concurrent_equals_one_walk(srv, source, options, workers, client_for):
    c = client_for(srv, source, **FAST)
    one = c.load(page_size=13, progress=False, **options)
    many = c.load(page_size=13, progress=False, workers=workers, **options)
    pd.testing.assert_frame_equal(many, one)
    meta = many.attrs["imgframe"]
    assert meta["workers"] == workers and meta["duplicates_dropped"] == 0
    assert sum(p["images"] for p in meta["partitions"]) == len(one)
    assert sum(p["pages"] for p in meta["partitions"]) == meta["pages"]
    if source != "nova" and not options:   # the whole inventory: more than a page
        assert len(meta["partitions"]) > len({p["stream"] for p in meta["partitions"]})


@settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(n=st.integers(0, 120), seed=st.integers(0, 10_000),
       seconds=st.lists(st.integers(0, 40), min_size=1, max_size=12),
       hidden=st.sampled_from([0.0, 0.3]), page_size=st.integers(3, 30),
       workers=st.sampled_from([None, 2, 3, 4, 6]), source=st.sampled_from(["glance", "ims"]),
       max_items=st.one_of(st.none(), st.integers(1, 60)))
def test_property_concurrent_equals_one_walk(n, seed, seconds, hidden, page_size, workers,
                                              source, max_items, client_for):
    """workers=None: the adaptive default, eager (every page counts as slow), so it
    opens streams on this fast server."""
    with ImageServer(catalogue(n, seed, seconds, hidden), token=TOKEN) as s:
        c = client_for(s, source, **FAST)
        one = c.load(page_size=page_size, max_items=max_items, workers=1, progress=False)
        with mock.patch.multiple(adaptive, SLOW_PAGE=0.0, RATIO=0.0):
            many = c.load(page_size=page_size, max_items=max_items, workers=workers,
                          progress=False)
        listed = len(c.load(page_size=200, progress=False)) if max_items else 0
    pd.testing.assert_frame_equal(many, one, check_index_type=False)
    if max_items is not None and listed > max_items:
        assert many.attrs["imgframe"]["truncated"] and one.attrs["imgframe"]["truncated"]


def test_changes_during_the_load_never_list_an_image_twice(image_server, client_for):
    srv = image_server(catalogue(300, 5, list(range(0, 200, 3)), 0.2), token=TOKEN)
    _changes_during_the_load(srv, client_for)


def _changes_during_the_load(srv, client_for):
    c = client_for(srv, "glance", **FAST)
    before = c.load(page_size=7, progress=False)
    calls = {"n": 0}
    lock = threading.Lock()
    added, removed = [], []

    def change(response, *args, **kwargs):   # requests' public response hook
        with lock:
            calls["n"] += 1
            k = calls["n"]
        if k == 6:   # mid-load: one created now, one updated, one deleted
            rec = dict(sample_inventory(1, seed=99)[0], id="zz-new-image")
            rec.pop("created_at", None)
            rec.pop("updated_at", None)
            added.append(srv.add_image(rec)["id"])
            srv.update_image(before["id"].iloc[40], name="renamed")
            removed.append(srv.remove_image(before["id"].iloc[100])["id"])
        return response

    c.session.hooks["response"].append(change)
    df = c.load(page_size=7, progress=False, workers=4)
    assert df["id"].is_unique
    assert added and removed
    assert set(df["id"]) - set(added) <= set(before["id"])
    assert set(before["id"]) - set(df["id"]) <= set(removed)


# --- stop rules


def test_marker_means_one_walk(srv, client_for):
    c = client_for(srv, "glance", **FAST)
    first = c.load(page_size=10, progress=False, hidden=False)
    marker = first["id"].iloc[20]
    one = c.load(page_size=10, progress=False, hidden=False, marker=marker)
    many = c.load(page_size=10, progress=False, hidden=False, marker=marker, workers=4)
    pd.testing.assert_frame_equal(many, one)
    assert many.attrs["imgframe"]["workers"] == 1
    assert "marker" in many.attrs["imgframe"]["workers_note"]


def test_a_fault_in_one_stream_gives_the_merged_partial(srv, client_for):
    c = client_for(srv, "glance", **(FAST | {"retries": 0}))
    baseline = _baseline(c)
    srv.faults = Faults(schedule={k: 500 for k in range(9, 200, 3)})
    srv.stats.reset()
    with pytest.raises(APIError) as info:
        c.load(page_size=5, progress=False, workers=4)
    exc = info.value
    assert exc.status == 500                 # a scheduled fault ended it (retries=0) ...
    assert srv.stats.requests >= 9           # ... the first of which is images request 9
    assert exc.resume_marker is None and "workers=4" in str(exc)
    assert "resume=exc.resume" in str(exc) and exc.resume is not None
    assert exc.partial is not None and exc.partial.attrs["imgframe"]["partial"]
    assert exc.partial["id"].is_unique
    srv.faults = Faults()
    full = c.load(page_size=5, progress=False)
    assert 0 < len(exc.partial) < len(full) and set(exc.partial["id"]) <= set(full["id"])
    _settled(baseline, c)


def _client_threads() -> int:
    """threading.active_count() less the in-process server's handler threads (one per
    kept-alive connection, which come and go with the server's keep-alive, not the load)."""
    return threading.active_count() - sum(
        "process_request_thread" in t.name for t in threading.enumerate())


def _baseline(c) -> int:
    """The count after a warm-up load (tqdm's monitor thread stays for good)."""
    c.load(page_size=50, progress=False, workers=4)
    return _client_threads()


def _settled(baseline, c):
    """No load thread is left, and the count is back to the baseline."""
    assert not [t for t in threading.enumerate() if t.name.startswith("imgframe-load")]
    assert _client_threads() == baseline, [t.name for t in threading.enumerate()]


@pytest.mark.parametrize("where", ["worker", "main"])
def test_keyboard_interrupt_leaves_no_thread(srv, monkeypatch, where, client_for):
    c = client_for(srv, "glance", **FAST)
    baseline = _baseline(c)
    calls = {"n": 0}
    lock = threading.Lock()

    def slow(response, *args, **kwargs):   # requests' public response hook
        with lock:
            calls["n"] += 1
            k = calls["n"]
        if where == "worker" and k == 8:
            raise KeyboardInterrupt
        time.sleep(0.01)
        return response

    c.session.hooks["response"].append(slow)
    if where == "main":
        import imgframe.listing.concurrent as mod

        real_wait = mod.wait

        def interrupted_wait(*a, **kw):
            time.sleep(0.05)
            raise KeyboardInterrupt

        monkeypatch.setattr(mod, "wait", interrupted_wait)
    with pytest.raises(KeyboardInterrupt):
        c.load(page_size=3, progress=False, workers=4)
    if where == "main":
        monkeypatch.setattr(mod, "wait", real_wait)
    _settled(baseline, c)
    sent = calls["n"]
    time.sleep(0.2)
    assert calls["n"] == sent   # nothing still requesting


def test_errors_are_imgframe_errors_with_partial_for_ims(srv, client_for):
    c = client_for(srv, "ims", **(FAST | {"retries": 0}))
    srv.faults = Faults(schedule={7: 503})
    with pytest.raises(ImgframeError) as info:
        c.load(page_size=9, progress=False, workers=3)
    assert info.value.resume_marker is None


@pytest.mark.parametrize("source,options", [
    ("glance", {"max_items": 50}), ("ims", {"max_items": 7}),
    ("nova", {"status": ["SAVING", "UNKNOWN"], "max_items": 5}),
])
def test_max_items_truncates_after_the_merge(srv, source, options, client_for):
    c = client_for(srv, source, **FAST)
    one = c.load(page_size=6, progress=False, **options)
    many = c.load(page_size=6, progress=False, workers=4, **options)
    pd.testing.assert_frame_equal(many, one)
    assert many.attrs["imgframe"]["truncated"] and len(many) == options["max_items"]


def test_no_ascending_sort_means_one_walk_per_stream(srv, monkeypatch, client_for):
    import imgframe.listing.ranges

    real = imgframe.listing.ranges.probe_params

    def refused(stream, oldest):   # a server that refuses the ascending sort: a 400
        params = real(stream, oldest)
        return [(k, "bogus" if k == "sort_key" else v) for k, v in params]

    monkeypatch.setattr(imgframe.listing.ranges, "probe_params", refused)
    c = client_for(srv, "ims", **FAST)
    many = c.load(page_size=20, progress=False, workers=4)
    pd.testing.assert_frame_equal(many, c.load(page_size=20, progress=False))
    meta = many.attrs["imgframe"]
    assert len(meta["partitions"]) == 1 and "one walk" in meta["workers_note"]


def test_on_page_counts_every_image(srv, client_for):
    seen = []
    df = client_for(srv, "glance", **FAST).load(page_size=11, workers=4, progress=False,
                                                on_page=seen.append)
    assert seen and seen[-1].items == len(df)
    assert [p.items for p in seen] == sorted(p.items for p in seen)
    assert seen[-1].pages == df.attrs["imgframe"]["pages"]
    assert 0 < seen[-1].requests <= df.attrs["imgframe"]["requests"]
