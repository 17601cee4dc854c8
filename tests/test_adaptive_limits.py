"""The adaptive default (``workers=None``) under a cloud's limits, over real HTTP: every
429 the server sends a load is one its controller hears (probes included), and once the
controller is down to one stream at a time no request passes its gate (a page read ahead
by one stream while another is on the wire).

A cloud that announces its quota (``RateLimit-*`` headers) is never sent a request the
quota has no room for: the load widens as far as the quota allows and draws no 429. A
quota spent for longer than a ``Retry-After`` is waited for, or with no renewal time, is
not waited for.

Run with an *eager* controller (every page counts as slow), so the load widens from its
first page whatever the machine's speed.
"""

from __future__ import annotations

import time

import pandas as pd
import pytest

from imgframe.listing import adaptive
from imgframe.server import Faults, sample_inventory

TOKEN = "limits-token"
FAST = {"retries": 5, "backoff": 0.01, "budget": 60}


@pytest.fixture
def eager(monkeypatch):
    monkeypatch.setattr(adaptive, "SLOW_PAGE", 0.0)
    monkeypatch.setattr(adaptive, "FIRST_PAGE", 0.0)
    monkeypatch.setattr(adaptive, "RATIO", 0.0)


def _limited(image_server, client_for, source, **faults):
    """The default load against 12 requests a second (burst 3), pages of 0.1 s: one walk
    stays under it, widening (more streams, probes of their oldest items) meets it. Nova's
    three status streams are as long as each other. ``(server, frame)``, the frame checked
    equal to one walk's."""
    records = [dict(r, status=("active", "queued", "saving")[i % 3])
               for i, r in enumerate(sample_inventory(240, seed=5))]
    srv = image_server(records, token=TOKEN)
    options = {"page_size": 6}
    if source == "nova":
        options["status"] = ["ACTIVE", "SAVING"]
    client = client_for(srv, source, **FAST)
    expected = client.load(workers=1, progress=False, **options)
    srv.faults = Faults(latency=0.1, rate_limit=12, burst=3, **faults)
    srv.stats.reset()
    got = client.load(progress=False, **options)
    pd.testing.assert_frame_equal(got, expected)
    return srv, got


def test_every_429_is_heard(image_server, client_for, source, eager):
    srv, got = _limited(image_server, client_for, source)
    assert srv.stats.throttled >= 1
    assert got.attrs["imgframe"]["concurrency"]["throttled"] == srv.stats.throttled


def test_an_announced_quota_draws_no_429(image_server, client_for, source, eager):
    # the same limit, but the gateway says what is left on every answer
    srv, got = _limited(image_server, client_for, source, rate_headers=True)
    info = got.attrs["imgframe"]["concurrency"]
    assert srv.stats.throttled == 0 and info["throttled"] == 0
    assert info["peak"] >= 2                  # it widened where the quota had room
    assert info["quota_holds"] >= 1 and "quota renewed" in got.attrs["imgframe"][
        "workers_note"]


class _Daily(Faults):
    """Answers that all say the quota is spent until a far reset (or say no reset), and
    never refuse: a gateway reporting a policy it does not enforce here."""

    reset: str | None = "86400"

    def quota_headers(self, now=None):
        said = [("RateLimit-Remaining", "0")]
        return said + ([("RateLimit-Reset", self.reset)] if self.reset else [])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("reset", ["86400", None])
def test_a_quota_spent_for_a_day_or_for_no_said_time_holds_no_stream(
        image_server, client_for, source, eager, reset):
    records = [dict(r, status=("active", "queued", "saving")[i % 3])
               for i, r in enumerate(sample_inventory(90, seed=3))]
    srv = image_server(records, token=TOKEN)
    client = client_for(srv, source, **FAST)
    options = {"page_size": 9, **({"status": ["ACTIVE", "SAVING"]} if source == "nova"
                                  else {})}
    expected = client.load(workers=1, progress=False, **options)
    srv.faults = _Daily(latency=0.05)
    srv.faults.reset = reset
    started = time.monotonic()
    got = client.load(progress=False, **options)
    pd.testing.assert_frame_equal(got, expected)
    assert time.monotonic() - started < 30        # not held for the day (nor one second
    info = got.attrs["imgframe"]["concurrency"]   # a page for a reset not said)
    assert info["quota_holds"] == 0 and info["quota_remaining"] == 0
    assert "quota had no room for more" in got.attrs["imgframe"]["workers_note"]


class _Arrivals(Faults):
    """Faults that note, as each images request arrives, how many are in flight."""

    def throttle(self, now=None):
        self.arrivals.append((time.monotonic(), self.stats.in_flight))
        return super().throttle(now)


def test_one_stream_at_a_time_after_a_throttle(image_server, client_for, eager):
    # Nova's status=SAVING is two streams (queued, saving), so the load opens two at most;
    # a 429 at two halves it to one for good (never again as many as when throttled)
    records = [dict(r, status=("queued", "saving")[i % 2])
               for i, r in enumerate(sample_inventory(120, seed=8))]
    srv = image_server(records, token=TOKEN)
    client = client_for(srv, "nova", **FAST)
    options = {"page_size": 3, "status": "SAVING"}
    expected = client.load(workers=1, progress=False, **options)
    faults = _Arrivals(latency=0.03, schedule={8: 429}, retry_after="1")
    faults.arrivals, faults.stats = [], srv.stats
    srv.faults = faults
    got = client.load(progress=False, **options)
    pd.testing.assert_frame_equal(got, expected)
    info = got.attrs["imgframe"]["concurrency"]
    assert (info["most_at_once"], info["throttled"]) == (2, 1)
    assert info["decisions"][-1]["streams"] == 1
    # the 8th request's arrival (then its 0.03 s) is when the 429 went out; a Retry-After
    # later every request finds itself alone on the server
    later = [n for t, n in faults.arrivals if t > faults.arrivals[7][0] + 1.1]
    assert len(later) >= 5
    assert set(later) == {1}
