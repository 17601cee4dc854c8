"""Typed pages (``Source.typed``: msgspec structs of only the fields the frame needs) give
exactly the frame, and the errors, of the general way (JSON dicts, ``Source.extract``).

The general way is the reference: for any page body, the typed decoder either refuses it
(and the general way takes it, as in a load) or its frame equals the general frame.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import msgspec
import pandas as pd
import pytest
import requests
from expected import same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgframe.client import Client
from imgframe.errors import MalformedResponseError
from imgframe.pages import loads as _loads
from imgframe.sources import nova

TOKEN = "typed-token"


def general(body: bytes, detail=True, pinned_raw=None):
    """The reference: the page's frame by the general way, or the error it raises."""
    builder = nova.SOURCE.builder(detail, (None, pinned_raw))
    builder.typed = None   # dicts only
    try:
        builder.add(nova.SOURCE.page(_loads(body)).items)
        return builder.frame()
    except MalformedResponseError as exc:
        return exc


def typed(body: bytes, detail=True, pinned_raw=None):
    """What a load does: the typed decoder, and the general way for a body it refuses."""
    view = nova.SOURCE.typed(detail, pinned_raw)
    try:
        page = view.page(view.decoder.decode(body))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return general(body, detail, pinned_raw), False
    builder = nova.SOURCE.builder(detail, (None, pinned_raw))
    assert builder.typed is view
    try:
        builder.add(page.items)
        return builder.frame(), True
    except MalformedResponseError as exc:
        return exc, True


# -- any page ---------------------------------------------------------------------------

_odd = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                 st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5),
                 st.just([]), st.just({}))


def _either(good, odd: bool):
    """``good`` values, or (with ``odd``) now and then a value of any JSON type."""
    return st.one_of(good, good, good, _odd) if odd else st.one_of(good, st.none())


@st.composite
def pages(draw, odd: bool = True):
    """Nova detail or list pages. Without ``odd``, every field has its documented type (or
    null), so the typed decoder must take the page; with it, any JSON type may turn up."""
    ts = _either(st.sampled_from(["2026-10-30T23:59:59Z", "2026-01-02T03:04:05Z",
                                  "2026-01-02T03:04:05.5Z", "2026-01-02T03:04:05+02:00",
                                  "2026-02-29T00:00:00Z", "last tuesday",
                                  "2026-1-2T03:04:05Z", "1677-01-01T00:00:00Z"]), odd)
    word = st.sampled_from(["ACTIVE", "SAVING", "ERROR", "DELETED", "UNKNOWN", "active", "x"])
    rels = st.sampled_from(["self", "bookmark", "alternate", "next"])
    link = st.fixed_dictionaries(
        {"rel": rels if not odd else st.one_of(rels, rels, _odd),
         "href": st.just("http://h/v2.1/p/images/x") if not odd
         else st.one_of(st.just("http://h/x"), _odd)},
        optional={"type": st.just("application/vnd.openstack.image")})
    std = st.just([{"rel": "self", "href": "http://h/v2.1/p/images/a"},
                   {"rel": "bookmark", "href": "http://h/p/images/a"},
                   {"rel": "alternate", "href": "http://h/images/a"}])
    ints = st.integers(0, 2**40)
    item = st.fixed_dictionaries(
        {"id": st.uuids().map(str) if not odd else st.one_of(st.uuids().map(str),
                                                            st.just(""), _odd)},
        optional={
            "name": _either(st.text(max_size=8), odd),
            "status": _either(word, odd),
            "progress": _either(st.sampled_from([0, 25, 50, 100]), odd),
            "created": ts, "updated": ts,
            "minRam": _either(ints, odd), "minDisk": _either(ints, odd),
            "OS-EXT-IMG-SIZE:size": _either(st.integers(0, 2**63 + 5), odd),
            "OS-DCF:diskConfig": _either(st.sampled_from(["AUTO", "MANUAL"]), odd),
            "server": _either(st.one_of(st.just({}), st.fixed_dictionaries(
                {"id": _either(st.uuids().map(str), odd)})), odd),
            "metadata": _either(st.dictionaries(st.text(max_size=4), _odd, max_size=3), odd),
            "links": _either(st.one_of(std, std, st.lists(link, max_size=4)), odd),
            "extra": _odd,
        })
    body = {"images": draw(st.lists(item, min_size=1, max_size=6))}
    if draw(st.booleans()):
        nxt = st.just([{"rel": "next", "href": "http://h/x?marker=a"}])
        body["images_links"] = draw(_either(nxt, odd))
    return json.dumps(body).encode()


@given(pages(odd=False), st.booleans(), st.sampled_from([None, "queued"]))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_typed_pages_of_documented_types_give_the_general_frame(body, detail, pinned_raw):
    got, took = typed(body, detail, pinned_raw)
    assert took   # documented types: the typed way takes every such page
    same(got, general(body, detail, pinned_raw))


@given(pages(odd=True), st.booleans(), st.sampled_from([None, "queued"]))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_page_gives_the_general_frame_or_error(body, detail, pinned_raw):
    got, took = typed(body, detail, pinned_raw)
    same(got, general(body, detail, pinned_raw))


def test_the_typed_way_takes_the_pages_nova_sends(image_server):
    """The server's own pages go the typed way (the property above would pass trivially if
    the decoder refused everything)."""
    s = image_server(120, seed=4, token=TOKEN)
    for detail in (True, False):
        path = "/images/detail" if detail else "/images"
        body = requests.get(f"{s.endpoint}{path}?limit=50",
                            headers={"X-Auth-Token": TOKEN}, timeout=30).content
        got, took = typed(body, detail)
        assert took and isinstance(got, pd.DataFrame) and len(got) == 50
        same(got, general(body, detail))


@pytest.mark.parametrize(("change", "field"), [
    ({"minRam": "512"}, "minRam"),
    ({"OS-EXT-IMG-SIZE:size": 1.5}, "OS-EXT-IMG-SIZE:size"),
    ({"created": "last tuesday"}, "created"),
    ({"server": "abc"}, "server"),
    ({"name": 7}, "name"),
])
def test_a_field_the_decoder_refuses_is_named_as_before(change, field):
    body = _page([dict(_ITEM, id=f"i{k}") for k in range(3)])
    bad = json.loads(body)
    bad["images"][1].update(change)
    got, _ = typed(json.dumps(bad).encode())
    assert isinstance(got, MalformedResponseError) and field in str(got)


def test_a_lone_surrogate_is_named_not_a_raw_error():
    """JSON allows ``"\\ud800"``; msgspec refuses it, json takes it, and the frame cannot
    hold it: a MalformedResponseError naming the field (was a raw StopIteration)."""
    body = b'{"images": [{"id": "a", "name": "\\ud800"}]}'
    got, took = typed(body)
    assert not took and isinstance(got, MalformedResponseError)
    assert "name" in str(got) and "Unicode" in str(got)


# -- over HTTP ----------------------------------------------------------------------------

_ITEM = {"id": "x", "name": "n", "status": "ACTIVE", "progress": 100,
         "created": "2026-01-02T03:04:05Z", "updated": "2026-01-02T03:04:05Z",
         "minRam": 0, "minDisk": 0, "metadata": {"os_distro": "ubuntu"},
         "links": [{"rel": "self", "href": "http://127.0.0.1/v2.1/p/images/x"},
                   {"rel": "bookmark", "href": "http://127.0.0.1/p/images/x"},
                   {"rel": "alternate", "href": "http://127.0.0.1/images/x"}]}


def _page(items, next_marker=None):
    body = {"images": items}
    if next_marker:
        body["images_links"] = [{"rel": "next",
                                 "href": f"/v2.1/p/images/detail?marker={next_marker}"}]
    return json.dumps(body).encode()


@pytest.fixture
def pages_server():
    """A server on 127.0.0.1 answering ``/v2.1/p/images/detail`` with the bodies a test
    sets, by marker (None: the first page)."""
    bodies: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):   # noqa: N802 - http.server's name
            marker = parse_qs(urlsplit(self.path).query).get("marker", [None])[0]
            body = bodies.get(marker, _page([]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v2.1/p", bodies
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_load_of_a_page_the_decoder_refuses(pages_server):
    """Page 2 has a string minRam: the typed decoder refuses it, the general way names the
    field, and the error carries page 1 and where to resume."""
    endpoint, bodies = pages_server
    first = [dict(_ITEM, id=f"a{k}") for k in range(2)]
    second = [dict(_ITEM, id="b0"), dict(_ITEM, id="b1", minRam="512")]
    bodies[None] = _page(first, "a1")
    bodies["a1"] = _page(second, "b1")
    with pytest.raises(MalformedResponseError, match="minRam") as info:
        Client(endpoint, retries=0, backoff=0).load(page_size=2, progress=False)
    assert info.value.partial["id"].tolist() == ["a0", "a1"]
    assert info.value.resume_marker == "a1"


def test_load_mixes_typed_and_general_pages(pages_server):
    """A page the decoder refuses but JSON takes (a NaN in metadata) goes the general way,
    between pages that go the typed way; the frame is the general way's."""
    endpoint, bodies = pages_server
    bodies[None] = _page([dict(_ITEM, id="a0"), dict(_ITEM, id="a1")], "a1")
    bodies["a1"] = _page([dict(_ITEM, id="b0", metadata={"ratio": float("nan")}),
                          dict(_ITEM, id="b1", server={"id": "srv-1", "links": []})], "b1")
    bodies["b1"] = _page([dict(_ITEM, id="c0")])
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(bodies["a1"])
    df = Client(endpoint, retries=0, backoff=0).load(page_size=2, progress=False)
    expected = pd.concat([general(bodies[m]) for m in (None, "a1", "b1")], ignore_index=True)
    pd.testing.assert_frame_equal(df, expected)
    assert df["id"].tolist() == ["a0", "a1", "b0", "b1", "c0"]
    assert df["server_id"].tolist()[3] == "srv-1" and pd.isna(df["metadata"][2]["ratio"])
