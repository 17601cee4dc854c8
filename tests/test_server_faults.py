"""imgframe.server fault injection, stats, remove_image and lifecycle, over real HTTP."""

import json
import threading
import time

import pandas as pd
import pytest
import requests
from expected import default_listing

from imgframe.http.transport import quota_of
from imgframe.server import Faults, ImageServer, sample_inventory

NOT_LISTED = {"killed", "deleted", "pending_delete"}


@pytest.fixture(scope="module")
def inventory():
    return sample_inventory(120, seed=7)


@pytest.fixture
def srv(inventory, image_server):
    return image_server(inventory)


def listed_ids(records):
    out = [r for r in records if r["status"] not in NOT_LISTED and default_listing(r)]
    out.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
    return [r["id"] for r in out]


def get(url, **params):
    return requests.get(url, params=params, timeout=10)


def test_faults_off_by_default(srv):
    assert srv.faults == Faults()
    assert all(get(f"{srv.endpoint}/images", limit=3).status_code == 200 for _ in range(20))


def test_latency(srv):
    srv.faults = Faults(latency=0.25)
    start = time.perf_counter()
    assert get(f"{srv.endpoint}/images", limit=1).status_code == 200
    assert time.perf_counter() - start >= 0.25
    start = time.perf_counter()
    assert get(f"{srv.url}/v2.1").status_code == 200          # not an images request
    assert time.perf_counter() - start < 0.25


def test_schedule_every_action(srv, inventory):
    srv.faults = Faults(schedule={1: 500, 2: 502, 3: 503, 4: 504, 5: 429, 6: "truncate",
                                  7: "not_json", 8: "no_images"}, retry_after="7")
    url = f"{srv.endpoint}/images/detail"
    full = get(url, limit=10)           # request 1: 500
    assert full.status_code == 500
    assert full.json()["computeFault"]["code"] == 500
    for status in (502, 503, 504):
        r = get(url, limit=10)
        assert r.status_code == status
        assert r.headers["Content-Type"].startswith("text/html")
    r = get(url, limit=10)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "7"
    assert r.json()["overLimit"]["code"] == 429
    truncated = get(url, limit=10)                               # 6
    assert truncated.status_code == 200
    assert int(truncated.headers["Content-Length"]) == len(truncated.content)
    with pytest.raises(ValueError):
        truncated.json()
    r = get(url, limit=10)                                       # 7
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        r.json()
    r = get(url, limit=10)                                       # 8
    assert r.status_code == 200 and "images" not in r.json()
    good = get(url, limit=10)                                    # 9: back to normal
    assert good.status_code == 200
    assert [i["id"] for i in good.json()["images"]] == listed_ids(inventory)[:10]
    assert good.content.startswith(truncated.content)
    assert len(truncated.content) == len(good.content) // 2


def test_retry_after_http_date(srv):
    when = "Wed, 21 Oct 2026 07:28:00 GMT"
    srv.faults = Faults(schedule={1: 429}, retry_after=when)
    r = get(f"{srv.endpoint}/images")
    assert (r.status_code, r.headers["Retry-After"]) == (429, when)


def test_error_rate_is_seeded_and_uses_given_statuses(srv):
    def run():
        srv.faults = Faults(error_rate=0.5, error_statuses=(502, 503), seed=11)
        return [get(f"{srv.endpoint}/images", limit=1).status_code for _ in range(40)]

    first, second = run(), run()
    assert first == second
    assert set(first) == {200, 502, 503}
    srv.faults = Faults(error_rate=1.0, error_statuses=(503,))
    assert {get(f"{srv.endpoint}/images").status_code for _ in range(5)} == {503}


def test_invalid_fault_settings_are_refused():
    with pytest.raises(ValueError):
        Faults(schedule={1: 418})
    with pytest.raises(ValueError):
        Faults(error_rate=2)
    for bad in (0, -1.5, True, "5", float("inf"), float("nan")):
        with pytest.raises(ValueError, match=r"^rate_limit must be a positive number of "
                                             r"requests per second .*, got "):
            Faults(rate_limit=bad)
    for bad in (0, 1.5, None):
        with pytest.raises(ValueError, match=rf"^burst must be an integer >= 1 .*got {bad}$"):
            Faults(rate_limit=1, burst=bad)


def test_token_ttl(inventory, image_server):
    srv = image_server(inventory, token="secret", faults=Faults(token_ttl=2))
    headers = {"X-Auth-Token": "secret"}
    codes = [requests.get(f"{srv.endpoint}/images", headers=headers, timeout=10).status_code
             for _ in range(3)]
    assert codes == [200, 200, 401]
    fresh = {"X-Auth-Token": srv.issue_token()}
    codes = [requests.get(f"{srv.endpoint}/images", headers=fresh, timeout=10).status_code
             for _ in range(3)]
    assert codes == [200, 200, 401]


def test_loop_next_points_back(srv, inventory):
    srv.faults = Faults(loop_next=3)
    expected = listed_ids(inventory)
    url = f"{srv.endpoint}/images"
    pages, href = [], None
    body = get(url, limit=5).json()
    for _ in range(3):
        pages.append([i["id"] for i in body["images"]])
        href = body["images_links"][0]["href"]
        body = requests.get(href, timeout=10).json()
    assert pages == [expected[0:5], expected[5:10], expected[10:15]]
    assert href.endswith(f"marker={expected[4]}")          # page 3 -> page 2 again
    assert [i["id"] for i in body["images"]] == expected[5:10]


def test_remove_image_makes_it_vanish(srv, inventory):
    expected = listed_ids(inventory)
    victim = expected[4]
    first = get(f"{srv.endpoint}/images", limit=5).json()
    assert first["images"][-1]["id"] == victim
    removed = srv.remove_image(victim)
    assert removed["id"] == victim
    href = first["images_links"][0]["href"]
    r = requests.get(href, timeout=10)
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == (
        f"HTTP 400 Bad Request: No image found with ID {victim}")
    assert get(f"{srv.endpoint}/images/{victim}").status_code == 404
    everything = [i["id"] for i in get(f"{srv.endpoint}/images").json()["images"]]
    assert everything == [i for i in expected if i != victim]
    assert victim not in {r["id"] for r in srv.images}
    assert len(srv.images) == len(inventory) - 1
    with pytest.raises(KeyError):
        srv.remove_image(victim)


def test_deleted_marker_is_400(srv, inventory):
    deleted = next(r for r in inventory if r["status"] == "deleted")
    r = get(f"{srv.endpoint}/images", marker=deleted["id"])
    assert r.status_code == 400


def test_stats_counts_paths_and_concurrency(srv):
    srv.stats.reset()
    srv.faults = Faults(latency=0.8)      # long enough for all four to overlap, even under load
    barrier = threading.Barrier(4)
    codes = []

    def worker(k):
        barrier.wait()
        codes.append(get(f"{srv.endpoint}/images", limit=k + 1).status_code)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 4
    assert srv.stats.requests == 4
    assert srv.stats.max_in_flight == 4
    assert sorted(srv.stats.paths) == [f"/v2.1/{srv.project_id}/images?limit={k}"
                                       for k in (1, 2, 3, 4)]
    srv.faults = Faults()
    get(f"{srv.endpoint}/images", limit=1)
    get(f"{srv.endpoint}/images", limit=1)
    assert srv.stats.max_in_flight == 4 and srv.stats.requests == 6
    srv.stats.reset()
    assert (srv.stats.requests, srv.stats.max_in_flight, srv.stats.paths) == (0, 0, [])
    get(f"{srv.endpoint}/images", limit=1)
    assert srv.stats.max_in_flight == 1


def test_faults_can_be_mutated_while_running(srv):
    get(f"{srv.endpoint}/images", limit=1)  # request 1 of the server's own Faults object
    srv.faults.schedule = {3: 503}
    codes = [get(f"{srv.endpoint}/images", limit=1).status_code for _ in range(3)]
    assert codes == [200, 503, 200]
    srv.faults = Faults(schedule={1: 502})  # a new object counts from 1 again
    assert get(f"{srv.endpoint}/images", limit=1).status_code == 502


def test_stop_closes_idle_keepalive_connections(inventory):
    srv = ImageServer(inventory).start()
    session = requests.Session()
    assert session.get(f"{srv.endpoint}/images", params={"limit": 1}).status_code == 200
    start = time.perf_counter()
    srv.stop()
    assert time.perf_counter() - start < 2
    assert not srv._thread.is_alive()
    with pytest.raises(requests.ConnectionError):
        session.get(f"{srv.endpoint}/images", params={"limit": 1}, timeout=2)
    session.close()
    srv.stop()                              # idempotent


def test_concurrent_paging_is_consistent(inventory, image_server):
    expected = listed_ids(inventory)
    srv = image_server(inventory, faults=Faults(latency=0.01))
    results = []

    def walk():
        got, url = [], f"{srv.endpoint}/images/detail?limit=9"
        with requests.Session() as s:
            while url:
                body = s.get(url, timeout=10).json()
                got += [i["id"] for i in body["images"]]
                url = (body.get("images_links") or [{}])[0].get("href")
        results.append(got)

    threads = [threading.Thread(target=walk) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 6
    assert srv.stats.max_in_flight > 1


def test_delete_route_removes_like_nova(srv, inventory):
    victim = listed_ids(inventory)[0]
    url = f"{srv.endpoint}/images/{victim}"
    r = requests.delete(url, timeout=10)
    assert (r.status_code, r.content) == (204, b"")
    assert get(url).status_code == 404
    assert requests.delete(url, timeout=10).status_code == 404
    assert victim not in [i["id"] for i in get(f"{srv.endpoint}/images").json()["images"]]
    assert requests.delete(f"{srv.endpoint}/images/detail", timeout=10).status_code == 405
    assert requests.post(f"{srv.endpoint}/images", timeout=10).status_code == 405


def test_sequential_client_is_never_counted_twice(srv):
    srv.stats.reset()
    for _ in range(40):                   # a new connection (and server thread) each time
        assert get(f"{srv.endpoint}/images", limit=1).status_code == 200
    assert (srv.stats.requests, srv.stats.max_in_flight, srv.stats.in_flight) == (40, 1, 0)


def test_warm_renders_ahead_without_changing_answers(inventory, image_server):
    cold = image_server(inventory)
    warm = image_server(inventory)
    assert warm.warm(("detail", "list")) == 2 * len(inventory)
    for path in ("images/detail?limit=7", "images?limit=7", "images/detail"):
        a = get(f"{cold.endpoint}/{path}").json()
        b = get(f"{warm.endpoint}/{path}").json()
        assert a == json.loads(json.dumps(b).replace(str(warm.port), str(cold.port)))


def test_rate_limit_is_a_token_bucket():
    faults = Faults(rate_limit=2, burst=2)
    assert [faults.throttle(now=10.0) for _ in range(3)] == [None, None, 1]
    assert faults.throttle(now=10.2) == 1             # 0.4 of a token: 0.3 s to go, said 1
    assert faults.throttle(now=10.5) is None          # a token a half second
    assert faults.throttle(now=10.5) == 1
    assert [faults.throttle(now=60.0) for _ in range(3)] == [None, None, 1]   # burst: 2
    slow = Faults(rate_limit=0.25)
    assert (slow.throttle(now=0.0), slow.throttle(now=0.0)) == (None, 4)   # whole seconds
    assert slow.throttle(now=3.5) == 1 and slow.throttle(now=4.0) is None
    assert Faults().throttle() is None


RATE_LIMITED = {   # each API's own 429: (where, check of the body)
    "nova": ("{endpoint}/images/detail",
             lambda r: r.json()["overLimit"]["code"] == 429),
    "glance": ("{glance_endpoint}/v2/images",
               lambda r: r.json()["code"] == "429 Too Many Requests"),
    "ims": ("{ims_endpoint}/v2/cloudimages",
            lambda r: r.json()["error_code"] == "APIGW.0308"),
}


def _three_gets(srv, source):
    """``(url, session, answers)``: three quick GETs of ``source``'s images listing."""
    where, _ = RATE_LIMITED[source]
    url = where.format(endpoint=srv.endpoint, glance_endpoint=srv.glance_endpoint,
                       ims_endpoint=srv.ims_endpoint)
    s = requests.Session()
    s.headers["Accept"] = "application/json"
    return url, s, [s.get(url, params={"limit": 5}, timeout=10) for _ in range(3)]


def test_rate_limit_answers_429_with_retry_after(inventory, image_server, source):
    srv = image_server(inventory, faults=Faults(rate_limit=1, burst=2))
    _, body_ok = RATE_LIMITED[source]
    url, session, answers = _three_gets(srv, source)
    with session as s:
        assert [r.status_code for r in answers] == [200, 200, 429]
        refused = answers[2]
        assert refused.headers["Retry-After"] == "1"   # a token a second: under 1 s to go
        assert body_ok(refused)
        time.sleep(int(refused.headers["Retry-After"]))
        assert s.get(url, params={"limit": 5}, timeout=10).status_code == 200
    assert srv.stats.requests == 4
    assert srv.stats.throttled == 1
    assert srv.stats.statuses == {200: 3, 429: 1}
    assert requests.get(f"{srv.url}/v2.1", timeout=10).status_code == 200   # not limited
    assert srv.stats.requests == 4


def test_rate_headers_announce_the_quota_on_every_answer(inventory, image_server, source):
    srv = image_server(inventory, faults=Faults(rate_limit=1, burst=2, rate_headers=True))
    url, session, answers = _three_gets(srv, source)
    session.close()
    said = [(r.status_code, r.headers["RateLimit-Limit"], r.headers["RateLimit-Remaining"],
             r.headers["RateLimit-Reset"]) for r in answers]
    assert said == [(200, "2", "1", "1"), (200, "2", "0", "2"), (429, "2", "0", "2")]
    assert quota_of(answers[1].headers) == (0, 2.0)
    quiet = image_server(inventory, faults=Faults(rate_limit=1, burst=2))
    plain = requests.get(url.replace(str(srv.port), str(quiet.port)), timeout=10)
    assert plain.status_code == 200 and "RateLimit-Remaining" not in plain.headers


def test_rate_limit_covers_servers_and_volumes(image_server):
    srv = image_server(40, servers=10, faults=Faults(rate_limit=0.5, burst=1))
    codes = [requests.get(url, timeout=10).status_code
             for url in (f"{srv.endpoint}/servers/detail", f"{srv.endpoint}/servers/detail",
                         f"{srv.volume_endpoint}/volumes/detail")]
    assert codes == [200, 429, 429]
    assert srv.stats.throttled == 2


def test_rate_limited_load_gives_the_same_frame(image_server, client_for, source):
    """The default load (adaptive) against a server that refuses more than 2 requests a
    second, each page 0.2 s: it honours Retry-After and ends with the unlimited frame."""
    srv = image_server(sample_inventory(80, seed=3), token="t")
    options = {"page_size": 8}
    if source == "nova":   # a status fan-out: three streams the load may open at once
        options["status"] = ["ACTIVE", "SAVING"]
    client = client_for(srv, source)
    expected = client.load(progress=False, **options)
    srv.faults = Faults(latency=0.2, rate_limit=2, burst=2)
    srv.stats.reset()
    got = client.load(progress=False, **options)
    pd.testing.assert_frame_equal(got, expected)
    assert len(got) > 2 * 8
    # more pages than 2 a second allow: some were refused, each retried after Retry-After
    assert srv.stats.throttled >= 1
    assert got.attrs["imgframe"]["retries"] == srv.stats.throttled
    assert srv.stats.statuses[200] == srv.stats.requests - srv.stats.throttled
