"""Property: over real HTTP, any page size / server cap / status filter / max_items lists every
image exactly once, in the server's order, whatever the server's max_limit."""

from unittest import mock

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgframe.client import Client
from imgframe.listing import adaptive
from imgframe.server import Faults


@pytest.fixture(scope="module")
def server(module_image_server):
    srv = module_image_server(97, seed=11)
    r = requests.get(f"{srv.endpoint}/images/detail", timeout=10)  # no limit: all
    srv.reference = [(i["id"], i["status"]) for i in r.json()["images"]]
    return srv


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(page_size=st.integers(4, 120), max_limit=st.integers(4, 120),
       status=st.sampled_from([None, "ACTIVE", "SAVING", "UNKNOWN", ("SAVING", "ACTIVE")]),
       max_items=st.one_of(st.none(), st.integers(1, 120)), eager=st.booleans())
def test_every_image_exactly_once(server, page_size, max_limit, status, max_items, eager):
    """With the adaptive default; ``eager``: every page counts as slow, so the status
    streams run at once even on this fast server."""
    server.faults = Faults()
    server.max_limit = max_limit
    slow, ratio = (0.0, 0.0) if eager else (adaptive.SLOW_PAGE, adaptive.RATIO)
    try:
        c = Client(server.url, server.project_id, retries=1, backoff=0.01)
        with mock.patch.multiple(adaptive, SLOW_PAGE=slow, RATIO=ratio):
            df = c.load(status=status, page_size=page_size, max_items=max_items,
                        progress=False)
    finally:
        server.max_limit = 1000
    wanted = {"SAVING", "ACTIVE"} if isinstance(status, tuple) else {status}
    expected = [i for i, s in server.reference if status is None or s in wanted]
    if max_items is not None:
        if len(expected) > max_items:
            assert df.attrs["imgframe"]["truncated"]
        expected = expected[:max_items]
    assert df["id"].tolist() == expected
    assert df.attrs["imgframe"]["duplicates_dropped"] == 0
