"""Property tests: any walk of the embedded server by next links equals Glance's filtered
list, whatever the page size, filters or changes-since cutoff."""

import datetime as dt

import pytest
import requests
from expected import default_listing
from hypothesis import given, settings
from hypothesis import strategies as st

from imgframe.server import GLANCE_STATUSES, sample_inventory

NOT_LISTED = {"killed", "deleted", "pending_delete"}
STATUSES = [s for s, _ in GLANCE_STATUSES]
UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def srv(module_image_server):
    server = module_image_server(sample_inventory(250, seed=21), max_limit=40)
    with requests.Session() as server.session:
        yield server


def expected(srv, statuses=None, since=None, min_ram=None):
    out = [r for r in srv.images if r["status"] not in NOT_LISTED and default_listing(r)
           and (statuses is None or r["status"] in statuses)
           and (since is None or (r["updated_at"] is not None and r["updated_at"] >= since))
           and (min_ram is None or r["min_ram"] == min_ram)]
    out.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
    return [r["id"] for r in out]


def walk(srv, params):
    got, pages = [], 0
    body = srv.session.get(f"{srv.endpoint}/images/detail", params=params, timeout=10).json()
    while True:
        pages += 1
        got += [i["id"] for i in body["images"]]
        links = body.get("images_links")
        if not links:
            return got, pages
        body = srv.session.get(links[0]["href"], timeout=10).json()


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(limit=st.integers(8, 60),
       statuses=st.none() | st.sets(st.sampled_from(STATUSES), min_size=1),
       min_ram=st.none() | st.sampled_from([0, 512, 1024, 2048, 4096]))
def test_walk_equals_filtered_list(srv, limit, statuses, min_ram):
    params = {"limit": limit}
    if statuses is not None:
        params["status"] = "in:" + ",".join(sorted(statuses))
    if min_ram is not None:
        params["minRam"] = min_ram
    got, pages = walk(srv, params)
    want = expected(srv, statuses, None, min_ram)
    if limit <= 40:
        assert got == want
        assert pages == len(want) // limit + 1    # an exact multiple ends on an empty page
    else:                                         # beyond max_limit: one page, no next link
        assert (got, pages) == (want[:limit], 1)


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(when=st.datetimes(min_value=dt.datetime(2024, 9, 1), max_value=dt.datetime(2026, 12, 1)),
       offset=st.integers(-12, 12), form=st.sampled_from(["Z", "offset", "naive", "date"]))
def test_changes_since_any_form(srv, when, offset, form):
    when = when.replace(microsecond=0)
    if form == "Z":
        text, cutoff = when.strftime("%Y-%m-%dT%H:%M:%SZ"), when.replace(tzinfo=UTC)
    elif form == "offset":
        tz = dt.timezone(dt.timedelta(hours=offset))
        text, cutoff = when.replace(tzinfo=tz).isoformat(), when.replace(tzinfo=tz)
    elif form == "naive":
        text, cutoff = when.isoformat(), when.replace(tzinfo=UTC)
    else:
        text = when.date().isoformat()
        cutoff = dt.datetime.combine(when.date(), dt.time(), tzinfo=UTC)
    got, _ = walk(srv, {"changes-since": text, "limit": 40})
    assert got == expected(srv, since=cutoff)
