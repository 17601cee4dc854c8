"""End to end over real HTTP against imgframe.server: paging, filters, faults, auth, secrecy."""

import concurrent.futures
import io
import json
import logging
import socket
import threading
import time
import warnings

import pandas as pd
import pytest
import requests
import urllib3

import imgframe.client as client_mod
import imgframe.listing.settings as settings
from imgframe.client import Client, ForeignNextLinkWarning, load
from imgframe.errors import (
    APIError,
    AuthError,
    ImgframeError,
    InvalidQueryError,
    MalformedResponseError,
    NotFoundError,
    PaginationError,
    TransportError,
)
from imgframe.frame import COLUMNS, DTYPES, FrameBuilder
from imgframe.server import Faults

TOKEN = "tok-SECRET-0123456789"
FAST = {"retries": 3, "backoff": 0.01, "budget": 5.0, "timeout": (2, 10)}


def _answer(response, status: int, body: bytes, **headers) -> None:
    """Make a received response answer ``status`` with ``body`` instead: a test's fault,
    put in through the session's public response hook (``client.session.hooks``)."""
    response.raw.read(decode_content=True)
    response.raw.release_conn()
    response.raw = urllib3.HTTPResponse(body=io.BytesIO(body), status=status,
                                        preload_content=False)
    response.status_code = status
    for name in ("Content-Encoding", "Content-Length"):
        response.headers.pop(name, None)
    response.headers.update(headers)


def _rewrite_pages(c, change) -> None:
    """Change each page's JSON (``change(url, data)``) as it arrives, on the wire side."""
    def hook(response, *args, **kwargs):
        if response.status_code == 200:
            data = json.loads(response.raw.read(decode_content=True))
            response.raw.release_conn()
            change(response.url, data)
            _answer(response, 200, json.dumps(data).encode())
        return response

    c.session.hooks["response"].append(hook)


@pytest.fixture(scope="module")
def srv(module_image_server):
    return module_image_server(700, seed=3, token=TOKEN)


@pytest.fixture(autouse=True)
def fresh(srv):
    srv.faults = Faults()
    srv.stats.reset()
    yield
    srv.faults = Faults()


@pytest.fixture
def client(srv):
    return Client(srv.url, srv.project_id, token=TOKEN, **FAST)


def raw_list(srv, path="images/detail", **params):
    """What the server lists, fetched in one response (no limit: Nova returns all)."""
    r = requests.get(f"{srv.endpoint}/{path}", params=params,
                     headers={"X-Auth-Token": TOKEN}, timeout=10)
    r.raise_for_status()
    return r.json()["images"]


def test_load_everything_in_server_order(client, srv):
    df = client.load(page_size=100, progress=False)
    sent = srv.stats.requests
    raw = raw_list(srv)
    assert df["id"].tolist() == [i["id"] for i in raw]
    assert list(df.columns) == COLUMNS and dict(df.dtypes) == DTYPES
    assert df["id"].is_unique
    assert set(df["status"].dropna()) <= {"ACTIVE", "SAVING", "UNKNOWN"}
    assert df["created"].is_monotonic_decreasing
    attrs = df.attrs["imgframe"]
    assert attrs["endpoint"] == srv.endpoint and attrs["project_id"] == srv.project_id
    assert attrs["api_version"] == "v2.1" and attrs["detail"] is True
    assert attrs["queries"] == [{"limit": "100"}]
    assert attrs["pages"] == -(-len(raw) // 100) and attrs["requests"] == sent
    assert attrs["retries"] == 0 and attrs["truncated"] is False
    assert attrs["foreign_next_links"] == [] and attrs["duplicates_dropped"] == 0
    assert pd.Timestamp(attrs["loaded_at"]).tzinfo is not None
    # every request went to the configured endpoint with limit=page_size
    assert all(p.startswith(f"/v2.1/{srv.project_id}/images/detail?")
               for p in srv.stats.paths[:sent])
    assert all("limit=100" in p for p in srv.stats.paths[:sent])


def test_exact_multiple_of_page_size(client, srv):
    n = len(raw_list(srv))
    size = next(d for d in range(min(n // 2, 1000), 1, -1) if n % d == 0)
    srv.stats.reset()
    df = client.load(page_size=size, progress=False)
    assert len(df) == n and df["id"].is_unique
    # n/size full pages, each followed; the last request gets an empty page
    assert srv.stats.requests == n // size + 1 and df.attrs["imgframe"]["pages"] == n // size


def test_limit_above_server_max_is_still_complete(image_server):
    small = image_server(260, seed=5, max_limit=40)
    c = Client(small.url, small.project_id, **FAST)
    df = c.load(page_size=100, progress=False)
    sent = small.stats.requests
    raw = requests.get(f"{small.endpoint}/images/detail", timeout=10).json()["images"]
    assert df["id"].tolist() == [i["id"] for i in raw]
    # the server gave 100-item pages without next links; full pages are followed
    assert sent == -(-len(raw) // 100) + (len(raw) % 100 == 0)
    assert all("images_links" not in requests.get(
        f"{small.endpoint}/images", params={"limit": 100}, timeout=10).json() for _ in [0])


@pytest.mark.parametrize("version", ["v2", "v2.1"])
def test_both_url_versions(srv, version):
    srv.faults = Faults()
    c = Client(f"{srv.url}/{version}/{srv.project_id}", token=TOKEN, **FAST)
    assert c.api_version == version
    df = c.load(detail=False, page_size=300, progress=False)
    assert len(df) == len(raw_list(srv))
    assert all(h.startswith(f"{srv.url}/{version}/{srv.project_id}/images/")
               for h in df["link_self"])
    assert df["status"].isna().all() and df["created"].isna().all()
    c2 = Client(srv.url, srv.project_id, token=TOKEN, api_version=version, **FAST)
    assert c2.endpoint == c.endpoint


def test_status_saving_merges_queued_and_saving_in_nova_order(client, srv):
    df = client.load(status="saving", page_size=7, progress=False)
    raw = [i for i in raw_list(srv) if i["status"] == "SAVING"]
    assert df["id"].tolist() == [i["id"] for i in raw]
    assert set(df["progress"]) == {25, 50}  # both Glance words came back
    queries = df.attrs["imgframe"]["queries"]
    assert [q["status"] for q in queries] == ["queued", "saving"]
    assert (df["status"] == "SAVING").all()
    keys = list(zip(df["created"], df["id"], strict=True))
    assert keys == sorted(keys, reverse=True)


def test_status_list_and_index_mode_pins_status(client, srv):
    df = client.load(status=["UNKNOWN", "active"], detail=False, page_size=50, progress=False)
    raw = raw_list(srv)
    want = {i["id"]: i["status"] for i in raw if i["status"] in ("UNKNOWN", "ACTIVE")}
    assert dict(zip(df["id"], df["status"], strict=True)) == want
    assert [q["status"] for q in df.attrs["imgframe"]["queries"]] == [
        "deactivated", "importing", "uploading", "active"]


def test_filters_are_sent_as_nova_expects(client, srv):
    raw = raw_list(srv)
    newest = max(i["updated"] or i["created"] for i in raw)
    cutoff = pd.Timestamp(newest) - pd.Timedelta(days=20)
    df = client.load(changes_since=cutoff.tz_convert("Europe/Berlin"), progress=False)
    assert set(df["id"]) == {i["id"] for i in raw
                             if i["updated"] and pd.Timestamp(i["updated"]) >= cutoff}
    assert df.attrs["imgframe"]["queries"][0]["changes-since"] == \
        cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")
    ram = raw[0]["minRam"]
    df = client.load(min_ram=ram, progress=False)
    assert set(df["id"]) == {i["id"] for i in raw if i["minRam"] == ram}
    name = raw[5]["name"]
    df = client.load(name=name, progress=False)
    assert set(df["name"]) == {name}


def test_name_with_colon_is_sent_as_eq(image_server):
    s = image_server([{**rec, "name": "team:web"} if k == 0 else rec
                      for k, rec in enumerate(__import__("imgframe.server", fromlist=["x"])
                                              .sample_inventory(30, seed=1))])
    c = Client(s.url, s.project_id, **FAST)
    df = c.load(name="team:web", progress=False)
    assert df["name"].tolist() == ["team:web"]
    assert "name=eq%3Ateam%3Aweb" in s.stats.paths[0] or "name=eq:team:web" in s.stats.paths[0]


def test_max_items_truncation_is_recorded(client, srv):
    df = client.load(page_size=30, max_items=45, progress=False)
    assert len(df) == 45 and df.attrs["imgframe"]["truncated"] is True
    assert srv.stats.requests == 2
    n = len(raw_list(srv))
    df = client.load(page_size=1000, max_items=n + 1, progress=False)
    assert len(df) == n and df.attrs["imgframe"]["truncated"] is False
    df = client.load(status="SAVING", page_size=1000, max_items=3, progress=False)
    assert len(df) == 3 and df.attrs["imgframe"]["truncated"] is True


def test_iter_pages_yields_typed_frames(client, srv):
    frames = list(client.iter_pages(page_size=250))
    assert [len(f) for f in frames][:2] == [250, 250]
    assert all(dict(f.dtypes) == DTYPES for f in frames)
    assert pd.concat(frames)["id"].tolist() == [i["id"] for i in raw_list(srv)]
    assert frames[-1].attrs["imgframe"]["pages"] == len(frames)


def test_marker_resumes(client, srv):
    raw = raw_list(srv)
    df = client.load(marker=raw[99]["id"], page_size=1000, progress=False)
    assert df["id"].tolist() == [i["id"] for i in raw[100:]]
    assert df.attrs["imgframe"]["queries"][0]["marker"] == raw[99]["id"]


def test_invalid_query_sends_nothing(client, srv):
    for kwargs in ({"status": "DELETED"}, {"changes_since": "last tuesday"},
                   {"min_ram": -1}, {"page_size": 5000}, {"max_items": 0}):
        with pytest.raises(InvalidQueryError):
            client.load(progress=False, **kwargs)
    assert srv.stats.requests == 0


# --- faults -------------------------------------------------------------------------------

def test_retries_then_success(client, srv):
    srv.faults = Faults(schedule={1: 503, 2: 502, 3: 429, 5: 504, 6: 500}, retry_after="0")
    df = client.load(page_size=200, progress=False)
    assert len(df) == len(raw_list(srv))
    attrs = df.attrs["imgframe"]
    assert attrs["retries"] == 5 and attrs["requests"] == attrs["pages"] + 5 + 0


def test_retry_after_is_honoured(client, srv):
    srv.faults = Faults(schedule={1: 429}, retry_after="1")
    t0 = time.monotonic()
    df = client.load(page_size=1000, progress=False)
    assert time.monotonic() - t0 >= 0.9 and df.attrs["imgframe"]["retries"] == 1


def test_retry_after_as_http_date(client, srv):
    from email.utils import formatdate

    srv.faults = Faults(schedule={1: 429}, retry_after=formatdate(time.time() + 2, usegmt=True))
    t0 = time.monotonic()
    df = client.load(page_size=1000, progress=False)
    assert 0.5 <= time.monotonic() - t0 < 8 and df.attrs["imgframe"]["retries"] == 1


def test_retry_after_beyond_budget_gives_up_at_once(srv):
    srv.faults = Faults(schedule={1: 429}, retry_after="120")
    c = Client(srv.url, srv.project_id, token=TOKEN, retries=5, backoff=0.01, budget=3)
    t0 = time.monotonic()
    with pytest.raises(APIError) as info:
        c.load(progress=False)
    assert time.monotonic() - t0 < 5 and info.value.status == 429
    assert "rate limited" in str(info.value)


def test_budget_exhausted_is_an_api_error_with_partial(client, srv):
    srv.faults = Faults(schedule={3: 503, 4: 503, 5: 503, 6: 503, 7: 503})
    t0 = time.monotonic()
    with pytest.raises(APIError) as info:
        client.load(page_size=100, progress=False)
    err = info.value
    assert time.monotonic() - t0 < 5
    assert err.status == 503 and srv.stats.requests == 2 + 4  # 1 try + 3 retries
    assert len(err.partial) == 200 and dict(err.partial.dtypes) == DTYPES
    assert err.resume_marker == err.partial["id"].iloc[-1]
    assert srv.endpoint in err.url
    srv.faults = Faults()
    rest = client.load(page_size=100, marker=err.resume_marker, progress=False)
    assert pd.concat([err.partial, rest])["id"].tolist() == [i["id"] for i in raw_list(srv)]


def test_500_is_retried_only_a_few_times(client, srv):
    srv.faults = Faults(error_rate=1.0, error_statuses=(500,))
    with pytest.raises(APIError) as info:
        client.load(progress=False)
    assert info.value.status == 500 and srv.stats.requests == 3


def test_connection_refused_is_a_transport_error():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    c = Client(f"http://127.0.0.1:{port}", "p", token=TOKEN, **FAST)
    t0 = time.monotonic()
    with pytest.raises(TransportError) as info:
        c.load(progress=False)
    assert time.monotonic() - t0 < 5
    assert f"127.0.0.1:{port}" in str(info.value) and info.value.partial is not None
    assert TOKEN not in str(info.value)


def test_read_timeout_is_a_transport_error(srv):
    srv.faults = Faults(latency=1.0)
    c = Client(srv.url, srv.project_id, token=TOKEN, retries=1, backoff=0.01, budget=5,
               timeout=(2, 0.2))
    with pytest.raises(TransportError, match="timed out|Read timed out|could not reach"):
        c.load(progress=False)
    srv.faults = Faults()


@pytest.mark.parametrize("action", ["truncate", "not_json", "no_images"])
def test_malformed_body_retried_then_success(client, srv, action):
    srv.faults = Faults(schedule={2: action})
    df = client.load(page_size=300, progress=False)
    assert len(df) == len(raw_list(srv)) and df.attrs["imgframe"]["retries"] == 1


@pytest.mark.parametrize("action", ["truncate", "not_json", "no_images"])
def test_malformed_body_gives_up(client, srv, action):
    srv.faults = Faults(schedule={k: action for k in range(2, 10)})
    with pytest.raises(MalformedResponseError) as info:
        client.load(page_size=300, progress=False)
    assert not isinstance(info.value, KeyError)
    assert len(info.value.partial) == 300 and info.value.resume_marker
    assert srv.stats.requests == 1 + 3


def test_not_found_explains(srv):
    c = Client(f"{srv.url}/nope", srv.project_id, token=TOKEN, **FAST)
    with pytest.raises(NotFoundError, match="may not offer the compute images API"):
        c.load(progress=False)
    c = Client(srv.url, srv.project_id, token=TOKEN, microversion="2.35", **FAST)
    assert len(c.load(max_items=5, progress=False)) == 5


# --- paging hazards -----------------------------------------------------------------------

class Listener:
    """A foreign host that must receive nothing: counts connections and bytes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.received = b""
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.settimeout(0.5)
            try:
                self.received += conn.recv(65536)
            except OSError:
                pass
            conn.close()

    def close(self):
        self._stop = True
        self.thread.join(2)
        self.sock.close()


def test_foreign_next_link_is_noted_warned_once_and_not_followed(image_server):
    listener = Listener()
    try:
        prefix = f"https://127.0.0.1:{listener.port}"
        s = image_server(120, seed=2, token=TOKEN, link_prefix=prefix)
        c = Client(s.url, s.project_id, token=TOKEN, **FAST)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            df = c.load(page_size=25, progress=False)
        sent = s.stats.requests
        foreign = [w for w in caught if issubclass(w.category, ForeignNextLinkWarning)]
        assert len(foreign) == 1 and TOKEN not in str(foreign[0].message)
        assert f"127.0.0.1:{listener.port}" in str(foreign[0].message)
        assert df.attrs["imgframe"]["foreign_next_links"] == [prefix]
        assert len(df) == len(requests.get(f"{s.endpoint}/images",
                                           headers={"X-Auth-Token": TOKEN}).json()["images"])
        assert sent == df.attrs["imgframe"]["requests"] > 1
        time.sleep(0.2)
    finally:
        listener.close()
    assert listener.connections == 0 and listener.received == b""


def test_repeating_next_link_raises_pagination_error(client, srv):
    srv.faults = Faults(loop_next=3)
    with pytest.raises(PaginationError, match="repeats marker") as info:
        client.load(page_size=50, progress=False)
    err = info.value
    assert srv.stats.requests == 3
    raw = raw_list(srv)
    assert err.partial["id"].tolist() == [i["id"] for i in raw[:150]]
    assert err.resume_marker == raw[149]["id"]


def test_vanished_marker_recovers_with_earlier_ids(srv, image_server):
    s = image_server(90, seed=4, token=TOKEN)
    c = Client(s.url, s.project_id, token=TOKEN, **FAST)
    before = [i["id"] for i in requests.get(f"{s.endpoint}/images",
                                            headers={"X-Auth-Token": TOKEN}).json()["images"]]
    got = []
    for k, page in enumerate(c.iter_pages(page_size=20, detail=False)):
        got += page["id"].tolist()
        if k == 0:  # the marker (last id) and the one before it vanish
            s.remove_image(got[-1])
            s.remove_image(got[-2])
    assert got == before  # the ones listed stay; none listed twice; none missed
    assert page.attrs["imgframe"]["marker_recoveries"] == 1
    assert any("No image found" in p or "marker=" in p for p in s.stats.paths)


def test_vanished_marker_in_load(srv, image_server):
    """Remove the marker image while load() is between pages (via a server-side hook)."""
    s = image_server(60, seed=6, token=TOKEN)
    ids = [i["id"] for i in requests.get(f"{s.endpoint}/images",
                                         headers={"X-Auth-Token": TOKEN}).json()["images"]]
    c = Client(s.url, s.project_id, token=TOKEN, **FAST)

    def remove_after_page_one(response, *args, **kwargs):
        if "marker=" not in response.url and ids[19] in s.catalog.position:
            s.remove_image(ids[19])
        return response

    c.session.hooks["response"].append(remove_after_page_one)
    df = c.load(page_size=20, detail=False, progress=False)
    assert df["id"].tolist() == ids and df.attrs["imgframe"]["marker_recoveries"] == 1


# --- auth and secrecy ---------------------------------------------------------------------

def test_expired_static_token_is_an_auth_error(srv):
    srv.faults = Faults(token_ttl=2)
    token = srv.issue_token()
    c = Client(srv.url, srv.project_id, token=token, **FAST)
    with pytest.raises(AuthError) as info:
        c.load(page_size=100, progress=False)
    err = info.value
    assert "invalid or expired" in str(err) and err.status == 401
    assert len(err.partial) == 200 and err.resume_marker == err.partial["id"].iloc[-1]
    for text in (str(err), repr(err), repr(err.partial.attrs), err.url):
        assert token not in text
    srv.faults = Faults()


def test_wrong_token(srv):
    c = Client(srv.url, srv.project_id, token="nope-" + TOKEN[::-1], **FAST)
    with pytest.raises(AuthError, match="invalid or expired"):
        c.load(progress=False)


@pytest.fixture(scope="module")
def keystone_srv(module_image_server):
    return module_image_server(330, seed=8, users={"alice": "pw-alice"})


def ksa_session(s):
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    auth = v3.Password(auth_url=s.auth_url, username="alice", password="pw-alice",
                       project_id=s.project_id, user_domain_id="default")
    return session.Session(auth=auth)


def test_keystone_session_reauthenticates_and_continues(keystone_srv):
    s = keystone_srv
    s.faults = Faults(token_ttl=3)
    s.stats.reset()
    sess = ksa_session(s)
    c = Client(s.endpoint, session=sess, retries=2, backoff=0.01)
    assert repr(c).endswith("auth='keystone')")
    df = c.load(page_size=40, progress=False)
    n = len(requests.get(f"{s.endpoint}/images", headers={"X-Auth-Token": s.issue_token()})
            .json()["images"])
    assert df["id"].is_unique and len(df) == n
    attrs = df.attrs["imgframe"]
    assert attrs["reauths"] >= 2 and attrs["pages"] == -(-n // 40)
    # after each re-auth the listing went on from the marker, never from the start
    assert len([p for p in s.stats.paths if "detail" in p and "marker=" not in p]) == 1
    s.faults = Faults()


def test_from_cloud_with_clouds_yaml(keystone_srv, tmp_path, monkeypatch):
    s = keystone_srv
    s.faults = Faults(token_ttl=4)
    (tmp_path / "clouds.yaml").write_text(f"""
clouds:
  imgtest:
    auth:
      auth_url: {s.auth_url}
      username: alice
      password: pw-alice
      project_id: {s.project_id}
      user_domain_id: default
    region_name: RegionOne
    identity_api_version: 3
""")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "clouds.yaml"))
    for var in ("OS_CLOUD", "OS_AUTH_URL", "OS_PASSWORD", "OS_TOKEN", "OS_AUTH_TYPE"):
        monkeypatch.delenv(var, raising=False)
    c = Client.from_cloud("imgtest", budget=5, backoff=0.01)
    assert c.endpoint == s.endpoint and c.project_id == s.project_id
    df = c.load(page_size=50, progress=False)
    assert len(df) > 0 and df["id"].is_unique and df.attrs["imgframe"]["reauths"] >= 1
    assert "pw-alice" not in repr(c) and "pw-alice" not in repr(df.attrs)
    with pytest.raises(InvalidQueryError, match="cloud"):
        Client.from_cloud("no-such-cloud")
    s.faults = Faults()


def test_from_cloud_bad_password(keystone_srv, tmp_path, monkeypatch):
    s = keystone_srv
    (tmp_path / "clouds.yaml").write_text(f"""
clouds:
  bad:
    auth: {{auth_url: "{s.auth_url}", username: alice, password: wrong,
            project_id: {s.project_id}, user_domain_id: default}}
    region_name: RegionOne
""")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "clouds.yaml"))
    with pytest.raises(AuthError) as info:
        Client.from_cloud("bad")
    assert "wrong" not in str(info.value)


def test_token_never_leaks(srv, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    srv.faults = Faults(schedule={1: 503, 3: "truncate"}, token_ttl=None, retry_after="0")
    c = Client(srv.url, srv.project_id, token=TOKEN, **FAST)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = c.load(page_size=200, progress=True)
    srv.faults = Faults(error_rate=1.0, error_statuses=(503,))
    with pytest.raises(ImgframeError) as info:
        c.load(page_size=200, progress=False)
    srv.faults = Faults()
    out = capsys.readouterr()
    texts = [repr(c), str(c), repr(vars(c)), caplog.text, repr(df.attrs), str(info.value),
             repr(info.value), repr(vars(info.value).get("url")), out.out, out.err,
             *[str(w.message) for w in caught]]
    for text in texts:
        assert TOKEN not in text
    assert "GET http://127.0.0.1" in caplog.text  # we do log requests, just not the token


def test_progress_bar(client, capsys):
    client.load(page_size=300, progress=True)
    err = capsys.readouterr().err
    assert "imgframe" in err and "images" in err and "pages=" in err
    client.load(page_size=300)  # None: off when stderr is not a terminal (pytest capture)
    assert capsys.readouterr().err == ""


# --- API surface --------------------------------------------------------------------------

def test_module_load_one_call(srv):
    srv.faults = Faults()
    df = load(srv.url, srv.project_id, token=TOKEN, status="ACTIVE", page_size=500,
              progress=False, retries=1)
    assert len(df) and (df["status"] == "ACTIVE").all()


def test_client_is_thread_safe(client, srv):
    raw = raw_list(srv)
    cutoffs = sorted({i["updated"] for i in raw if i["updated"]})[::len(raw) // 12][:8]
    expected = {c: client.load(detail=False, changes_since=c, page_size=50, progress=False)
                for c in cutoffs}
    srv.stats.reset()
    srv.faults = Faults(latency=0.01)  # make the threads' requests overlap for sure
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = dict(zip(cutoffs, pool.map(
            lambda c: client.load(detail=False, changes_since=c, page_size=50, progress=False),
            cutoffs), strict=True))
    assert srv.stats.max_in_flight > 1
    for c in cutoffs:
        assert got[c]["id"].tolist() == expected[c]["id"].tolist()
        assert got[c].attrs["imgframe"]["requests"] == expected[c].attrs["imgframe"]["requests"]


def test_constructor_validation(srv):
    with pytest.raises(InvalidQueryError, match="endpoint"):
        Client("ftp://x", "p")
    with pytest.raises(InvalidQueryError, match="token"):
        Client(srv.url, "p", token="")
    with pytest.raises(InvalidQueryError, match="token") as info:
        Client(srv.url, "p", token="abc\r\nX-Evil: 1")
    assert "Evil" not in str(info.value)
    with pytest.raises(InvalidQueryError, match="timeout"):
        Client(srv.url, "p", timeout=(0, 1))
    with pytest.raises(InvalidQueryError, match="microversion"):
        Client(srv.url, "p", microversion="2.36")
    with pytest.raises(InvalidQueryError, match="session"):
        Client(srv.url, "p", session=object())
    assert "SECRET" not in repr(Client(srv.url, "p", token=TOKEN))


def test_user_requests_session_is_used_as_given(srv):
    sess = requests.Session()
    sess.headers["X-Auth-Token"] = TOKEN
    c = Client(srv.url, srv.project_id, session=sess)
    assert len(c.load(max_items=10, progress=False)) == 10
    assert client_mod.make_session().adapters["http://"].max_retries.total == 5


def test_malformed_items_are_an_error_with_context(image_server):
    from imgframe.server import sample_inventory

    records = sample_inventory(40, seed=9)
    s = image_server(records)
    c = Client(s.url, s.project_id, **FAST)
    good = c.load(page_size=10, progress=False)

    def change(url, data):   # page 3 has a non-integer minRam
        if f"marker={good['id'].iloc[19]}" in url:
            data["images"][4]["minRam"] = "512"

    _rewrite_pages(c, change)
    with pytest.raises(MalformedResponseError, match="minRam") as info:
        c.load(page_size=10, progress=False)
    err = info.value
    assert err.partial["id"].tolist() == good["id"].tolist()[:20]
    assert err.resume_marker == good["id"].iloc[19] and s.endpoint in err.url


def test_openstack_is_imported_lazily():
    import subprocess
    import sys

    code = "import imgframe, sys; print('openstack' in sys.modules, 'keystoneauth1' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_verify_and_timeouts_are_settable(srv, monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    assert Client(srv.url, "p").session.verify is True
    assert Client(srv.url, "p", verify=False).session.verify is False
    assert Client(srv.url, "p", verify="/etc/ssl/ca.pem").session.verify == "/etc/ssl/ca.pem"
    assert Client(srv.url, "p", timeout=3).timeout == (3.0, 3.0)
    retry = Client(srv.url, "p", retries=4, backoff=0.2, budget=9).session.get_adapter(
        srv.url).max_retries
    assert retry.total == 4 and retry.backoff_factor == 0.2 and retry.backoff_jitter == 0.2
    assert retry.budget == 9 and retry.respect_retry_after_header
    assert set(retry.status_forcelist) == {429, 500, 502, 503, 504}
    assert retry.allowed_methods == frozenset({"GET"})


def test_the_environment_is_read_once_as_requests_would_per_request(srv, monkeypatch):
    """Proxy and CA-bundle variables are settled when the client is made (requests would
    scan the environment on every request), with requests' own rules (NO_PROXY)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/bundle.pem")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    session = Client("https://cloud.example/compute/v2.1/p").session
    assert session.verify == "/etc/ssl/certs/bundle.pem" and not session.trust_env
    assert session.proxies.get("https") == "http://proxy.example:3128"
    assert Client(srv.url, "p").session.proxies == {}   # NO_PROXY: straight to it
    assert Client(srv.url, "p", verify=False).session.verify is False


def test_errors_without_a_url_get_the_listing_url(client, srv):
    srv.faults = Faults(loop_next=2)
    with pytest.raises(PaginationError) as info:
        client.load(page_size=100, progress=False)
    assert info.value.url.startswith(srv.endpoint) and info.value.url in str(info.value)


# --- review fixes: what counts as a vanished marker ---------------------------------------

def _fake_error_on_marker(c, status, message, request_id="req-42"):
    """Make every request that carries a marker come back as ``status`` with a Nova fault
    body (the real server answers the first page over HTTP)."""
    def hook(response, *args, **kwargs):
        if "marker=" in response.url:
            _answer(response, status, (f'{{"badRequest": {{"code": {status}, '
                                       f'"message": "{message}"}}}}').encode(),
                    **{"x-openstack-request-id": request_id})
        return response

    c.session.hooks["response"].append(hook)


@pytest.mark.parametrize(("status", "message", "kind"), [
    (403, "Policy doesn't allow os_compute_api:images:index to be performed.", AuthError),
    (400, "Invalid marker parameter: too long", APIError),
    (400, "marker and limit cannot be combined here", APIError),
])
def test_page_two_error_is_not_a_vanished_marker(srv, status, message, kind):
    c = Client(srv.url, srv.project_id, token=TOKEN, **FAST)
    _fake_error_on_marker(c, status, message)
    with pytest.raises(kind) as info:
        c.load(page_size=100, detail=False, progress=False)
    err = info.value
    assert not isinstance(err, PaginationError) and type(err) is kind
    assert err.status == status and err.message == message and err.request_id == "req-42"
    assert len(err.partial) == 100
    assert srv.stats.requests == 2  # no stepping back through earlier markers


def test_prefixed_nova_vanished_marker_400_still_recovers(srv, image_server):
    s = image_server(60, seed=6, token=TOKEN)
    ids = [i["id"] for i in requests.get(f"{s.endpoint}/images",
                                         headers={"X-Auth-Token": TOKEN}).json()["images"]]
    c = Client(s.url, s.project_id, token=TOKEN, **FAST)

    def hook(response, *args, **kwargs):
        if f"marker={ids[19]}" in response.url:
            _answer(response, 400, b'{"badRequest": {"code": 400, "message": '
                    b'"HTTP 400 Bad Request: No image found with ID '
                    + ids[19].encode() + b'"}}')
        return response

    c.session.hooks["response"].append(hook)
    df = c.load(page_size=20, detail=False, progress=False)
    assert df["id"].tolist() == ids and df.attrs["imgframe"]["marker_recoveries"] == 1


def test_users_unknown_marker_names_marker(client, srv):
    with pytest.raises(APIError) as info:
        client.load(marker="garbage", progress=False)
    err = info.value
    assert not isinstance(err, PaginationError)
    assert "marker='garbage' was refused by the server: No image found with ID garbage" \
        in str(err)
    assert err.status == 400 and err.message.endswith("No image found with ID garbage")
    assert err.request_id and srv.stats.requests == 1


def test_every_image_of_previous_page_vanished_says_resume(srv, image_server):
    s = image_server(60, seed=6, token=TOKEN)
    ids = [i["id"] for i in requests.get(f"{s.endpoint}/images",
                                         headers={"X-Auth-Token": TOKEN}).json()["images"]]
    c = Client(s.url, s.project_id, token=TOKEN, **FAST)
    pages = c.iter_pages(page_size=20, detail=False)
    next(pages)
    next(pages)  # pages 1 and 2 listed; now all of page 2 vanishes
    for image_id in ids[20:40]:
        s.remove_image(image_id)
    with pytest.raises(PaginationError) as info:
        next(pages)
    err = info.value
    assert err.resume_marker == ids[19]
    assert "marker=exc.resume_marker" in str(err)
    rest = c.load(marker=err.resume_marker, detail=False, progress=False)
    assert rest["id"].tolist() == ids[40:]


def test_changes_since_far_past_is_zero_padded(client, srv):
    df = client.load(changes_since="0001-01-01", detail=False, progress=False)
    assert "changes-since=0001-01-01T00%3A00%3A00Z" in srv.stats.paths[-1]
    assert len(df) == len(raw_list(srv, "images", **{"changes-since": "1970-01-01T00:00:00Z"}))


def test_sub_second_changes_since_matches_local_count(client, srv):
    full = client.load(progress=False)
    t = full["updated"].dropna().sort_values().iloc[len(full) // 2]
    cut = t + pd.Timedelta("500ms")
    got = client.load(changes_since=cut, progress=False)
    assert len(got) == int((full["updated"] >= cut).sum())
    assert len(got) < int((full["updated"] >= t).sum())


def test_float_microversion_is_refused(srv):
    with pytest.raises(InvalidQueryError, match="microversion") as info:
        Client(srv.url, srv.project_id, token=TOKEN, microversion=2.10)
    assert "'2.10'" in str(info.value)
    assert Client(srv.url, srv.project_id, token=TOKEN, microversion="2.10").microversion \
        == "2.10"


def test_unparseable_created_is_one_line(image_server):
    from imgframe.server import sample_inventory

    s = image_server(sample_inventory(10, seed=9))
    c = Client(s.url, s.project_id, **FAST)

    def change(url, data):
        data["images"][3]["created"] = "last tuesday"

    _rewrite_pages(c, change)
    with pytest.raises(MalformedResponseError) as info:
        c.load(progress=False)
    text = str(info.value)
    assert "\n" not in text and "created" in text and "'last tuesday'" in text



def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name.startswith("imgframe-prefetch")]


def test_no_prefetch_thread_outlives_a_load(client, srv, monkeypatch):
    """The sequential walk requests page k+1 while page k is typed: its thread ends with
    the load, also when a page fails for good and when the caller interrupts it."""
    assert len(client.load(page_size=100, progress=False)) == len(raw_list(srv))
    assert _prefetch_threads() == []
    # a prefetched page that is not JSON, every time it is asked for: the error is the
    # synchronous one (MalformedResponseError with a resume marker), and the thread ends
    srv.faults = Faults(schedule={n: "not_json" for n in range(3, 20)})
    with pytest.raises(MalformedResponseError) as info:
        client.load(page_size=100, progress=False)
    assert info.value.resume_marker is not None
    assert _prefetch_threads() == []
    srv.faults = Faults()
    calls = {"n": 0}
    add = FrameBuilder.add

    def interrupted(self, items):
        calls["n"] += 1
        calls.setdefault("alive", bool(_prefetch_threads()))   # the walk does prefetch
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return add(self, items)

    monkeypatch.setattr(FrameBuilder, "add", interrupted)
    with pytest.raises(KeyboardInterrupt):
        client.load(page_size=100, progress=False)
    assert calls["alive"]
    assert _prefetch_threads() == []


def test_a_load_pauses_the_gc_and_shortens_switches_then_restores_them(client, srv,
                                                                       monkeypatch):
    """While a load runs the cyclic GC is off and the GIL switch interval is at most
    SWITCH_INTERVAL; after it (a failure and an interrupt included) both are as they were,
    and an interval someone else set meanwhile is left alone."""
    import gc
    import sys

    seen = []
    add = FrameBuilder.add

    def watched(self, items):
        seen.append((gc.isenabled(), sys.getswitchinterval()))
        return add(self, items)

    monkeypatch.setattr(FrameBuilder, "add", watched)
    before = sys.getswitchinterval()
    assert gc.isenabled() and before > settings.SWITCH_INTERVAL
    client.load(page_size=100, progress=False)
    assert seen and all(g is False and s <= settings.SWITCH_INTERVAL for g, s in seen)
    assert gc.isenabled() and sys.getswitchinterval() == before
    srv.faults = Faults(schedule={n: "not_json" for n in range(2, 20)})
    with pytest.raises(MalformedResponseError):
        client.load(page_size=100, progress=False)
    srv.faults = Faults()
    assert gc.isenabled() and sys.getswitchinterval() == before

    def interrupted(self, items):
        raise KeyboardInterrupt

    monkeypatch.setattr(FrameBuilder, "add", interrupted)
    with pytest.raises(KeyboardInterrupt):
        client.load(page_size=100, progress=False)
    assert gc.isenabled() and sys.getswitchinterval() == before

    def retuned(self, items):   # the user's own setting, made during the load, stays
        sys.setswitchinterval(0.002)
        return add(self, items)

    monkeypatch.setattr(FrameBuilder, "add", retuned)
    try:
        client.load(page_size=100, progress=False)
        assert sys.getswitchinterval() == 0.002
    finally:
        sys.setswitchinterval(before)


def test_overlapping_loads_share_one_change_undone_by_the_last():
    calls = []
    setting = settings.WhileLoading(lambda: calls.append("change") or "saved",
                                       lambda saved: calls.append(f"restore {saved}"))
    first, second = setting(), setting()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert calls == ["change"]
    second.__exit__(None, None, None)
    assert calls == ["change", "restore saved"]
    with pytest.raises(ValueError), setting():
        raise ValueError
    assert calls == ["change", "restore saved", "change", "restore saved"]
