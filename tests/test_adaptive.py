"""The adaptive default (``workers=None``): the controller's rule, the gate that keeps to
it, and loads over real HTTP that widen against a slow server, stay one walk against a
fast one, halve on 429/503, resume after an error in any stream, and leave no thread
after Ctrl-C, on every source.

The fault tests run with an *eager* controller (``SLOW_PAGE`` and ``RATIO`` at 0: every
page counts as slow), so several streams are open when the fault comes, whatever the
machine's speed; the slow-server tests use the real thresholds.
"""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest
import requests
from expected import same_servers

import imgframe
from imgframe.errors import APIError, ImgframeError, InvalidQueryError
from imgframe.http.transport import quota_of
from imgframe.listing import adaptive
from imgframe.listing.adaptive import BOUND, FIRST_PAGE, LONGEST_HOLD, SLOW_PAGE, Controller, Gate
from imgframe.listing.resume import ResumeState
from imgframe.server import DEFAULT_PROJECT_ID, Faults, sample_cloud, sample_inventory

TOKEN = "adaptive-token"
ADMIN = "adaptive-admin"
FAST = {"retries": 3, "backoff": 0.01, "budget": 20}
SOURCES = ("nova", "glance", "ims")
#: what each source fans out over: Nova its status streams, Glance and IMS time ranges
OPTIONS = {"nova": {"status": ["ACTIVE", "SAVING"]}, "glance": {}, "ims": {}}
PAGE = 25


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def srv(module_image_server):
    records = sample_inventory(400, seed=23)
    return module_image_server(records, token=TOKEN, admin_token=ADMIN,
                               cloud=sample_cloud(records, seed=23), max_limit=1000)


@pytest.fixture(autouse=True)
def fresh(srv):
    srv.faults = Faults()
    yield
    srv.faults = Faults()


@pytest.fixture
def eager(monkeypatch):
    """Every page counts as slow: an adaptive load opens streams from its second page."""
    monkeypatch.setattr(adaptive, "SLOW_PAGE", 0.0)
    monkeypatch.setattr(adaptive, "RATIO", 0.0)


@pytest.fixture(scope="module")
def baselines(srv, client_for):
    """Each source's one-walk frame (workers=1) on the quiet server."""
    return {s: client_for(srv, s, **FAST).load(page_size=PAGE, workers=1, progress=False,
                                               **OPTIONS[s]) for s in SOURCES}


def _load_threads() -> list[str]:
    return [t.name for t in threading.enumerate()
            if t.name.startswith(("imgframe-load", "imgframe-prefetch"))]


def _settle() -> list[str]:
    deadline = time.monotonic() + 2
    while _load_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    return _load_threads()


# --- the rule


def test_fast_pages_keep_one_stream():
    c = Controller(clock=Clock())
    for _ in range(20):
        c.page(blocked=0.01, work=0.02)
    assert c.limit == 1 and c.decisions == [] and c.peak == 1
    assert "one stream" in c.why(1)


def test_a_page_that_waits_little_against_its_read_is_not_slow():
    c = Controller(clock=Clock())
    for _ in range(10):   # waited 0.3 s, but reading took 0.2 s: the client is the cost
        c.page(blocked=0.3, work=0.2)
    assert c.limit == 1


def test_slow_pages_open_streams_one_a_page_up_to_the_bound():
    c = Controller(clock=Clock())
    limits = []
    for _ in range(20):
        c.page(blocked=1.0, work=0.01)
        limits.append(c.limit)
    assert limits[:BOUND - 1] == list(range(2, BOUND + 1))   # a 1 s first page counts
    assert max(limits) == BOUND == c.peak and limits[-1] == BOUND
    assert len(c.decisions) == BOUND - 1
    assert all("waited 1.00s" in d["why"] for d in c.decisions)
    assert f"up to {BOUND} streams" in c.why(BOUND)


def test_a_first_page_counts_alone_only_when_well_above_a_slow_page():
    c = Controller(clock=Clock())
    c.page(blocked=(SLOW_PAGE + FIRST_PAGE) / 2, work=0.01)   # the connection, perhaps
    assert c.limit == 1
    c.page(blocked=(SLOW_PAGE + FIRST_PAGE) / 2, work=0.01)   # two pages: the median rule
    assert c.limit == 2


@pytest.mark.parametrize("streams", [3, 6])
def test_the_first_verdict_opens_every_stream_the_query_has(streams):
    c = Controller(streams=streams, clock=Clock())
    c.page(blocked=1.0, work=0.01)
    assert c.limit == streams and "all " + str(streams) + " streams" in c.decisions[0]["why"]
    c.page(blocked=1.0, work=0.01)            # then one more a slow page, as before
    assert c.limit == streams + 1
    fast = Controller(streams=streams, clock=Clock())
    for _ in range(5):
        fast.page(blocked=0.01, work=0.01)
    assert fast.limit == 1


def test_an_announced_quota_caps_the_streams_and_holds_them_until_renewed():
    clock = Clock()
    c = Controller(streams=6, clock=clock)
    gate = Gate(c, clock=clock)
    gate.enter()
    gate.quota(2, 1.0)                        # two requests left, renewed in 1 s
    c.page(blocked=1.0, work=0.01)
    assert c.limit == 2                       # not the six streams: room for two only
    gate.leave()
    gate.enter()
    gate.enter()                              # the two the quota allows
    assert gate.allowance == 0
    gate.quota(1, 1.0)                        # one left, says an answer: the other
    assert gate.allowance == 0 and not gate.quota_left()   # request in flight spends it
    assert c.quota_holds == 1 and c.limit == 1 and c.ceiling == 2   # halved, as a 429
    gate.quota(0, 1.0)                        # the same hold: not halved again
    assert c.quota_holds == 1 and c.decisions[-1]["why"].startswith("the cloud's announced")
    gate.leave()
    gate.leave()
    checks = []

    def check():                              # time passes while a stream waits
        checks.append(clock.now)
        clock.now += 0.25

    started = clock.now
    gate.enter(check)                         # held until renewed, 1 s after the answer
    assert clock.now - started >= 1.0 and len(checks) >= 4
    assert gate.allowance is None and c.remaining is None   # unknown until told again
    assert "held 1 time(s) until the cloud's quota renewed" in c.why(2)
    assert c.summary()["quota_holds"] == 1


@pytest.mark.parametrize("reset", [None, LONGEST_HOLD + 1, 86_400.0])
def test_a_quota_with_no_reset_or_a_long_one_is_not_held(reset):
    # a spent quota that says no renewal time, or one longer than a Retry-After is waited
    # for: no stream waits for it (a 429 it draws goes by Retry-After and the budget, as
    # for one walk); it halves the streams once and keeps them from widening
    clock = Clock()
    c = Controller(streams=4, clock=clock)
    gate = Gate(c, clock=clock)
    c.page(blocked=1.0, work=0.01)
    assert c.limit == 4
    gate.enter()
    gate.quota(0, reset)
    assert gate.quota_left() and c.quota_holds == 0 and c.limit == 2
    gate.leave()
    looks = []
    for _ in range(3):                        # the same news on every answer: no hold,
        gate.enter(lambda: looks.append(clock.now))   # no halving again
        gate.quota(0, reset)
        gate.leave()
        c.page(blocked=1.0, work=0.01)
    assert len(looks) == 3                    # each stream passed at its first look
    assert c.limit == 2 and c.quota_holds == 0
    assert "quota had no room" not in c.why(2)


def test_a_stale_answer_does_not_end_a_quota_hold():
    clock = Clock()
    c = Controller(clock=clock)
    gate = Gate(c, clock=clock)
    gate.enter()
    gate.quota(0, 5.0)                        # spent: held 5 s
    gate.leave()
    gate.quota(3, 1.0)                        # an answer counted before: room, it says
    assert not gate.quota_left() and c.quota_holds == 1
    clock.now += 5.0
    assert gate.quota_left()


def test_the_retry_of_a_429_that_says_the_quota_is_spent_does_not_halve_again():
    clock = Clock()
    c = Controller(streams=8, clock=clock)
    gate = Gate(c, clock=clock)
    c.page(blocked=1.0, work=0.01)
    assert c.limit == 8
    c.throttled(1.0)                          # a 429, Retry-After 1 s: halved to 4
    clock.now += 1.2                          # its retry comes back: 0 left, renewed in 2 s
    gate.quota(0, 2.0)
    assert c.limit == 4 and c.throttles == 1 and c.quota_holds == 1
    clock.now += 5.0                          # much later, spent again: a new signal
    gate.quota(0, 2.0)
    assert c.limit == 2 and c.quota_holds == 2


def test_one_stream_kept_by_the_quota_says_so():
    clock = Clock()
    c = Controller(streams=3, clock=clock)
    gate = Gate(c, clock=clock)
    gate.enter()
    gate.quota(1, 1.0)
    gate.leave()
    c.page(blocked=1.0, work=0.01)
    assert c.limit == 1 and "the cloud's announced quota had no room for more" in c.why(1)
    assert "not the server's bottleneck" not in c.why(1)


@pytest.mark.parametrize("headers", [
    {"RateLimit-Remaining": "0", "RateLimit-Reset": "inf"},
    {"RateLimit-Remaining": "0", "RateLimit-Reset": "nan"},
    {"RateLimit-Remaining": "0", "RateLimit-Reset": "-5"},
    {"RateLimit-Remaining": "0", "RateLimit-Reset": "soon"},
    {"RateLimit-Remaining": "9" * 5000},
    {"RateLimit-Remaining": "-3", "RateLimit-Reset": "1"},
    {"RateLimit": "garbage;;;=,=;r=;t=x", "X-RateLimit-Remaining": "2"},
    {"RateLimit": '"a";r=x;t=1', "RateLimit-Remaining": "4", "RateLimit-Reset": "1e400"},
    {"X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "1796478783285"},
])
def test_quota_headers_never_raise_and_give_a_sane_quota(headers):
    quota = quota_of(headers, now=1_796_478_780.0)
    assert quota is None or (quota[0] >= 0 and (quota[1] is None or 0 <= quota[1] < 1e6))


def test_quota_headers_read_as_announced():
    now = 1_796_478_780.0
    assert quota_of({"X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "1796478783285"},
                    now=now) == (1, pytest.approx(3.285))     # an epoch in milliseconds
    assert quota_of({"RateLimit": '"a";r=x;t=1', "RateLimit-Remaining": "4"}) == (4, None)
    assert quota_of({"RateLimit": "garbage;;;=,=;r=;t=x", "X-RateLimit-Remaining": "2",
                     "X-RateLimit-Reset": "3"}) == (2, 3.0)
    assert quota_of({"RateLimit-Remaining": "0", "RateLimit-Reset": "inf"}) == (0, None)


def test_a_throttle_halves_once_per_burst_and_sets_a_ceiling():
    clock = Clock()
    c = Controller(clock=clock)
    for _ in range(6):
        c.page(blocked=1.0, work=0.01)
    assert c.limit == 7
    c.throttled(2.0, 503)
    assert c.limit == 3 and c.ceiling == 7 and c.not_before == clock.now + 2.0
    c.throttled(2.0, 503)                     # the same burst: no second halving
    c.throttled(None, 429)
    assert c.limit == 3 and c.throttles == 3
    clock.now += 2.5                          # the pause is over: a new signal halves
    c.throttled(1.0, 503)
    assert c.limit == 1 and c.ceiling == 3
    clock.now += 1.5
    for _ in range(30):                       # one more per round trip, below the ceiling
        c.page(blocked=1.0, work=0.01)
    assert c.limit == 2 and c.peak == 7
    assert [d["streams"] for d in c.decisions][-3:] == [3, 1, 2]
    assert "halved" in c.decisions[-2]["why"] and "throttled 4 time(s)" in c.why(7)


def test_a_429_halves_for_the_rest_of_the_load():
    # a rate limit: the pace that drew it was too fast and no slower one is known to be
    # fast enough, so the load never widens again (a 503 lets it, test above)
    clock = Clock()
    c = Controller(clock=clock)
    for _ in range(6):
        c.page(blocked=1.0, work=0.01)
    c.throttled(1.0, 429)
    assert c.limit == 3 and c.ceiling == 4
    clock.now += 2.0
    for _ in range(60):
        c.page(blocked=1.0, work=0.01)
    assert c.limit == 3
    clock.now += 2.0
    c.throttled(1.0, 503)                     # a later 503 halves; it grows back below 3
    assert c.limit == 1
    for _ in range(60):
        c.page(blocked=1.0, work=0.01)
    assert c.limit == 2 and c.ceiling == 3
    assert [d["streams"] for d in c.decisions][-3:] == [3, 1, 2]
    assert "rest of the load" in c.decisions[-3]["why"]


def test_pinned_never_moves_but_pauses():
    clock = Clock()
    c = Controller(pinned=4, clock=clock)
    for _ in range(10):
        c.page(blocked=5.0, work=0.0)
    c.throttled(3.0)
    assert c.limit == 4 and c.decisions == [] and c.not_before == clock.now + 3.0
    assert c.summary()["mode"] == "pinned" and c.why(4) == "workers=4 pinned"


def test_the_gate_keeps_to_the_limit_and_the_pause():
    c = Controller(pinned=2)
    gate = Gate(c)
    inside, most, lock = [0], [0], threading.Lock()

    def stream():
        for _ in range(5):
            gate.enter()
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.005)
            with lock:
                inside[0] -= 1
            gate.leave()

    threads = [threading.Thread(target=stream) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert most[0] == 2 and gate.inside == 0
    c.throttled(0.3)                          # Retry-After: 0.3 s
    started = time.monotonic()
    gate.enter()
    assert time.monotonic() - started >= 0.25
    gate.leave()

    def stop():
        raise KeyboardInterrupt

    c.throttled(5.0)
    with pytest.raises(KeyboardInterrupt):    # a waiting stream still sees a stop
        gate.enter(stop)


# --- against the embedded server


@pytest.mark.parametrize("source", SOURCES)
def test_a_fast_server_stays_one_walk(srv, source, client_for, baselines):
    df = client_for(srv, source, **FAST).load(page_size=PAGE, progress=False,
                                              **OPTIONS[source])
    pd.testing.assert_frame_equal(df, baselines[source])
    meta = df.attrs["imgframe"]
    assert meta["concurrency"]["mode"] == "adaptive" and meta["concurrency"]["peak"] == 1
    assert meta["workers"] == 1 and meta["workers_note"].startswith("adaptive: ")


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES)
def test_a_slow_server_gets_more_streams_and_the_same_frame(srv, source, client_for,
                                                            baselines):
    srv.faults = Faults(latency=adaptive.SLOW_PAGE + 0.1)
    started = time.monotonic()
    df = client_for(srv, source, **FAST).load(page_size=PAGE, progress=False,
                                              **OPTIONS[source])
    took = time.monotonic() - started
    pd.testing.assert_frame_equal(df, baselines[source])
    meta = df.attrs["imgframe"]
    info = meta["concurrency"]
    assert info["peak"] > 1 and meta["workers"] > 1 and info["decisions"]
    assert info["page_wait"] >= adaptive.SLOW_PAGE
    assert "streams at once" in meta["workers_note"]
    assert meta["duplicates_dropped"] == 0
    # fewer round trips than pages, one after the other: the streams overlapped
    assert took < meta["pages"] * (adaptive.SLOW_PAGE + 0.1)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("workers", [None, 4, 1])
def test_an_error_in_any_stream_resumes_to_the_same_frame(srv, source, workers, eager,
                                                          client_for, baselines):
    c = client_for(srv, source, **(FAST | {"retries": 0}))
    srv.faults = Faults(schedule={k: 500 for k in range(6, 400, 4)})
    with pytest.raises(APIError) as info:
        c.load(page_size=PAGE, progress=False, workers=workers, **OPTIONS[source])
    exc = info.value
    assert isinstance(exc.resume, ResumeState) and exc.status == 500
    partial = exc.partial
    if partial is not None:
        assert partial["id"].is_unique
        assert set(partial["id"]) <= set(baselines[source]["id"])
    assert "token" not in repr(exc.resume).lower() or TOKEN not in repr(exc.resume)
    srv.faults = Faults()
    srv.stats.reset()
    done = c.load(resume=exc.resume, progress=False, workers=workers)
    pd.testing.assert_frame_equal(done, baselines[source])
    assert done.attrs["imgframe"]["duplicates_dropped"] == 0
    assert _settle() == []


@pytest.mark.parametrize("source", SOURCES)
def test_resume_refusals_come_before_any_request(srv, source, eager, client_for,
                                                 image_server):
    c = client_for(srv, source, **(FAST | {"retries": 0}))
    srv.faults = Faults(schedule={4: 500})
    with pytest.raises(ImgframeError) as info:
        c.load(page_size=PAGE, progress=False, **OPTIONS[source])
    state = info.value.resume
    srv.faults = Faults()
    other = image_server(20, seed=2, token=TOKEN)
    bad = [
        (c, {"resume": "from-here"}, "ResumeState"),
        (c, {"resume": state, "name": "not-the-same-query"}, "name not as in the stopped"),
        (c, {"resume": state, "columns": ["name"]}, "columns not as in the stopped"),
        (client_for(other, source, **FAST), {"resume": state}, "a state of a load from"),
    ]
    for client, options, said in bad:
        srv.stats.reset()
        other.stats.reset()
        with pytest.raises(InvalidQueryError) as refused:
            client.load(progress=False, **options)
        assert refused.value.parameter == "resume"
        assert said in str(refused.value) and "\n" not in str(refused.value)
        assert srv.stats.requests == 0 and other.stats.requests == 0


@pytest.mark.parametrize("source", SOURCES)
def test_a_throttled_load_halves_waits_and_completes(srv, source, eager, client_for,
                                                     baselines):
    srv.faults = Faults(schedule={5: 429, 6: 429, 7: 429, 12: 503}, retry_after="1")
    df = client_for(srv, source, **FAST).load(page_size=PAGE, progress=False,
                                              **OPTIONS[source])
    pd.testing.assert_frame_equal(df, baselines[source])
    info = df.attrs["imgframe"]["concurrency"]
    assert info["throttled"] >= 1 and df.attrs["imgframe"]["retries"] >= 1
    decisions = info["decisions"]
    halved = [k for k, d in enumerate(decisions) if "halved" in d["why"]]
    assert halved, decisions
    before = decisions[halved[0] - 1]["streams"] if halved[0] else 1
    # the first throttle is a 429 (a rate limit): never more streams than it halved to,
    # for the rest of the load (the 503 after it halves again and may grow back to that)
    assert all(d["streams"] < before for d in decisions[halved[0]:])
    assert "429" in decisions[halved[0]]["why"]
    assert all(d["streams"] <= decisions[halved[0]]["streams"]
               for d in decisions[halved[0]:])


@pytest.mark.parametrize("source", SOURCES)
def test_ctrl_c_stops_every_stream_and_leaves_no_thread(srv, source, eager, client_for):
    pages = []

    def interrupt(progress):
        pages.append(progress)
        if len(pages) == 4:
            raise KeyboardInterrupt

    srv.faults = Faults(latency=0.02)
    with pytest.raises(KeyboardInterrupt):
        client_for(srv, source, **FAST).load(page_size=PAGE, progress=False,
                                             on_page=interrupt, **OPTIONS[source])
    assert _settle() == []
    sent = srv.stats.requests
    time.sleep(0.2)
    assert srv.stats.requests == sent         # nothing more was sent after the interrupt


@pytest.mark.parametrize("source", SOURCES)
def test_a_vanished_marker_in_one_stream_loses_nothing(srv, source, eager, client_for,
                                                       baselines, image_server):
    s = image_server(200, seed=31, token=TOKEN)
    c = client_for(s, source, **FAST)
    options = {"status": ["ACTIVE", "SAVING", "UNKNOWN"]} if source == "nova" else {}
    before = c.load(page_size=20, workers=1, progress=False, **options)
    removed = []

    def remove_once(response, *args, **kwargs):
        if not removed and "marker=" in response.url:
            marker = response.url.split("marker=")[1].split("&")[0]
            if marker in s.catalog.position:
                s.remove_image(marker)
                removed.append(marker)
        return response

    c.session.hooks["response"].append(remove_once)
    df = c.load(page_size=20, progress=False, **options)
    assert removed and df["id"].is_unique
    # every image but the one removed mid-load, in the API's order; the removed one
    # may have been listed before it vanished
    expected = before[before["id"] != removed[0]]["id"].tolist()
    assert [i for i in df["id"] if i != removed[0]] == expected


@pytest.mark.parametrize("source", ["nova", "glance"])
def test_token_expiry_mid_load_reauthenticates_every_stream(source, eager, image_server):
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    s = image_server(300, seed=8, users={"alice": "pw-alice"})
    auth = v3.Password(auth_url=s.auth_url, username="alice", password="pw-alice",
                       project_id=s.project_id, user_domain_id="default")
    endpoint = s.endpoint if source == "nova" else s.glance_endpoint
    c = imgframe.Client(endpoint, source=source, session=session.Session(auth=auth),
                        retries=2, backoff=0.01)
    token = s.issue_token()
    if source == "nova":
        n = len(requests.get(f"{s.endpoint}/images", headers={"X-Auth-Token": token})
                .json()["images"])
    else:
        n = len(c.load(page_size=1000, workers=1, progress=False))
    # a token good for a few more requests than the streams at once (BOUND, and a probe):
    # with 3, nine streams could spend a fresh token before one's own retry used it
    s.faults = Faults(token_ttl=BOUND + 4)
    df = c.load(page_size=20, progress=False)
    assert df["id"].is_unique and len(df) == n
    meta = df.attrs["imgframe"]
    assert meta["reauths"] >= 1
    if source == "glance":
        assert meta["concurrency"]["peak"] > 1


# --- servers and volumes: the same default


def test_servers_and_volumes_widen_and_resume(srv, eager):
    since = pd.Timestamp.now(tz="UTC").floor("s")
    one = imgframe.load_servers(srv.endpoint, token=ADMIN, all_projects=True, page_size=10,
                                workers=1, progress=False, **FAST)
    srv.faults = Faults(latency=0.01)
    df = imgframe.load_servers(srv.endpoint, token=ADMIN, all_projects=True, page_size=10,
                               progress=False, **FAST)
    same_servers(df, one, since)
    assert df.attrs["imgframe"]["concurrency"]["mode"] == "adaptive"
    assert df.attrs["imgframe"]["workers"] == 2   # the listing and its changes-since one
    srv.faults = Faults(schedule={k: 500 for k in range(5, 400, 3)})
    with pytest.raises(APIError) as info:
        imgframe.load_servers(srv.endpoint, token=ADMIN, all_projects=True, page_size=10,
                              progress=False, **(FAST | {"retries": 0}))
    srv.faults = Faults()
    resumed = imgframe.load_servers(srv.endpoint, token=ADMIN, all_projects=True,
                                    page_size=10, progress=False, resume=info.value.resume,
                                    **FAST)
    same_servers(resumed, one, since)
    volume_url = srv.volume_endpoint
    vols_one = imgframe.load_volumes(volume_url, token=ADMIN, page_size=7, workers=1,
                                     progress=False, **FAST)
    vols = imgframe.load_volumes(volume_url, token=ADMIN, page_size=7, progress=False,
                                 **FAST)
    pd.testing.assert_frame_equal(vols, vols_one)
    with pytest.raises(InvalidQueryError, match="workers"):
        imgframe.load_volumes(volume_url, token=ADMIN, workers=0)
    with pytest.raises(InvalidQueryError, match="resume"):
        imgframe.load_servers(srv.endpoint, token=ADMIN, resume="here")
    assert DEFAULT_PROJECT_ID in srv.endpoint
