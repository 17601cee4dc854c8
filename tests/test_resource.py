"""The core lists any resource: widgets, served by this test's own small endpoint, go
through the same edge, retries, pager, prefetch, concurrent load and partial/resume as
images do, into a typed frame. Nothing here is an image."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import pytest

from imgframe.errors import APIError, MalformedResponseError
from imgframe.http.auth import NoAuth
from imgframe.http.edge import Edge
from imgframe.http.transport import make_session
from imgframe.listing import concurrent, walk
from imgframe.listing.resource import Resource, Stream
from imgframe.pages import Page

WIDGETS = [{"id": f"w{n:03d}", "name": f"widget {n}", "colour": ("red", "blue")[n % 2],
            "weight": n * 10, "made": f"2026-01-{1 + n % 28:02d}T00:00:{n % 60:02d}Z"}
           for n in range(23)]


class WidgetShop:
    """``GET /api/widgets?limit=N[&marker=ID][&colour=C]``: ``{"widgets": [...], "next":
    "/api/widgets?...&marker=<last id>"}`` while more follow. ``faults``: request number
    (1-based) -> status, answered once each; ``broken``: a marker answered 500 always."""

    def __init__(self):
        self.requests: list[str] = []
        self.faults: dict[int, int] = {}
        self.broken: str | None = None
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):   # noqa: N802 - http.server's name
                shop.requests.append(self.path)
                status = shop.faults.pop(len(shop.requests), None)
                query = dict(parse_qsl(urlsplit(self.path).query))
                if status is None and query.get("marker") and query["marker"] == shop.broken:
                    status = 500
                if status is not None:
                    return self.reply(status, {"error": {"message": "try later"}})
                items = [w for w in WIDGETS if query.get("colour") in (None, w["colour"])]
                if "marker" in query:
                    at = [w["id"] for w in items].index(query["marker"]) + 1
                    items = items[at:]
                limit = int(query.get("limit", 1000))
                page = items[:limit]
                body = {"widgets": page}
                if len(items) > limit:
                    more = {k: v for k, v in query.items() if k != "marker"}
                    more["marker"] = page[-1]["id"]
                    body["next"] = "/api/widgets?" + "&".join(f"{k}={v}"
                                                              for k, v in more.items())
                return self.reply(200, body)

            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.root = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class WidgetBuilder:
    """Widget dicts -> a typed frame (the resource's item-to-columns)."""

    def __init__(self):
        self.rows: list[dict] = []
        self.last_id = None

    def add(self, items: list) -> None:
        if not all(isinstance(i, dict) and isinstance(i.get("weight"), int) for i in items):
            raise MalformedResponseError("a widget without an integer weight")
        self.rows.extend(items)
        self.last_id = items[-1]["id"] if items else self.last_id

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=["id", "name", "colour", "weight", "made"])
        return df.astype({"id": "string", "name": "string", "colour": "category",
                          "weight": "Int64"}).assign(made=pd.to_datetime(df["made"], utc=True))


def merge(frames: list) -> tuple[pd.DataFrame, int]:
    joined = pd.concat(frames, ignore_index=True)
    joined["colour"] = joined["colour"].astype("category")
    out = joined.drop_duplicates("id").sort_values("id", ignore_index=True)
    return out, len(joined) - len(out)


def widgets(shop, *streams: Stream, **kw) -> Resource:
    def page(data) -> Page:
        if not isinstance(data, dict) or not isinstance(data.get("widgets"), list):
            raise MalformedResponseError("no 'widgets' list")
        return Page(data["widgets"], data.get("next"))

    return Resource(url=f"{shop.root}/api/widgets", root=shop.root,
                    streams=streams or (Stream((("limit", "5"),)),), page=page,
                    builder=lambda stream: WidgetBuilder(), merge=merge,
                    noun="widgets", title="the widget API",
                    describe={"resource": "widgets"}, **{"page_size": 5, **kw})


def edge(retries=3) -> Edge:
    return Edge(make_session(retries, backoff=0.01, budget=5), NoAuth(), (2.0, 5.0), 0.01)


def quiet():
    return walk.make_bar(False, None, "widgets")


def test_widgets_listed_through_the_core_into_a_typed_frame():
    with WidgetShop() as shop:
        shop.faults = {2: 503}   # the second request fails once: retried by the transport
        df = walk.load(edge(), widgets(shop), bar=quiet())
    assert df["id"].tolist() == [w["id"] for w in WIDGETS]
    assert str(df["weight"].dtype) == "Int64" and str(df["made"].dt.tz) == "UTC"
    assert df["colour"].dtype == "category"
    meta = df.attrs["imgframe"]
    assert meta["resource"] == "widgets" and meta["pages"] == 5 and meta["retries"] == 1
    assert meta["requests"] == 6 and not meta["partial"]


def test_a_persistent_error_gives_partial_and_resume_marker():
    with WidgetShop() as shop:
        shop.broken = "w009"   # the third page's request fails every time
        with pytest.raises(APIError) as info:
            walk.load(edge(retries=1), widgets(shop), bar=quiet())
        err = info.value
        assert err.status == 500 and "try later" in str(err)
        assert err.partial["id"].tolist() == [w["id"] for w in WIDGETS[:10]]
        assert err.resume_marker == "w009" and err.partial.attrs["imgframe"]["partial"]
        shop.broken = None
        rest = walk.load(edge(), widgets(shop, marker=err.resume_marker), bar=quiet())
    assert err.partial["id"].tolist() + rest["id"].tolist() == [w["id"] for w in WIDGETS]


def test_streams_concurrently_and_merged():
    streams = [Stream((("colour", c), ("limit", "4"))) for c in ("red", "blue")]
    with WidgetShop() as shop:
        one = walk.load(edge(), widgets(shop, *streams, page_size=4), bar=quiet())
        many = concurrent.load(edge(), widgets(shop, *streams, page_size=4), 2, bar=quiet())
    assert one["id"].tolist() == many["id"].tolist() == sorted(w["id"] for w in WIDGETS)
    assert [p["images"] for p in many.attrs["imgframe"]["partitions"]] == [12, 11]


def test_cancel_and_progress_are_the_cores():
    cancel = threading.Event()
    seen = []

    def on_page(progress):
        seen.append(progress)
        if progress.pages == 2:
            cancel.set()

    with WidgetShop() as shop:
        with pytest.raises(walk.LoadCancelled) as info:
            walk.load(edge(), widgets(shop), bar=quiet(), on_page=on_page, cancel=cancel)
    assert [p.items for p in seen] == [5, 10] and len(info.value.partial) == 10
    assert info.value.resume_marker == "w009"
