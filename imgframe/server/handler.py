"""HTTP plumbing for the embedded server, blind to the APIs it routes to.

One `Handler` instance per request (stdlib `BaseHTTPRequestHandler`); everything it needs
(catalog, renderer, settings, tokens, stats, faults) lives on `self.server.app`, the
`ImageServer`. The path's first segment picks the route module:

* ``/identity``  -> `keystone` (a tiny Keystone v3)
* ``/image``     -> `glance_api` (Glance v2, at `ImageServer.glance_endpoint`)
* ``/ims``       -> `ims_api` (Huawei IMS ``/v2/cloudimages``, at `ImageServer.ims_endpoint`)
* ``/volume``    -> `volumes_api` (Cinder ``/v3/{project}/volumes``, `ImageServer.volume_endpoint`)
* ``/ecs``       -> `ecs_api` (Huawei ECS ``/v1/{project}/cloudservers/detail``)
* ``/v2.1[/{project}]/servers``, ``/os-services`` -> `servers_api` (Nova's servers)
* anything else  -> `nova_api` (Nova's images proxy and version documents)

A route module answers with a `Response` (or raises `HTTPError`). Images requests go through
`images_call`, which counts them in `stats` and applies `faults` the same way for every API.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from imgframe.server import (
    ecs_api,
    glance_api,
    ims_api,
    keystone,
    nova_api,
    servers_api,
    volumes_api,
)
from imgframe.server.http import HTTPError, Response
from imgframe.server.nova_api import MAX_PROXY_VERSION

__all__ = ["HTTPError", "Handler", "MAX_PROXY_VERSION"]

STATUS_FAULTS = (500, 502, 503, 504, 429)
ROUTES = {"image": glance_api, "ims": ims_api, "volume": volumes_api, "ecs": ecs_api}


class Handler(BaseHTTPRequestHandler):
    """Routes GET/POST/HEAD/DELETE to the route modules."""

    protocol_version = "HTTP/1.1"
    # headers and body leave in two writes: with Nagle on, a keep-alive client's delayed ACK
    # held every small answer back about 40 ms
    disable_nagle_algorithm = True
    server_version = "imgframe-nova/0.1"
    sys_version = ""

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass

    # --- plumbing
    def setup(self):
        super().setup()
        self.server.app._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.app._track(self.connection, False)

    @property
    def app(self):
        return self.server.app

    def _send(self, status: int, body: bytes, content_type="application/json",
              headers: dict | list | None = None, head_only=False):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        for key, value in items:
            self.send_header(key, value)
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def _read_body(self) -> bytes:
        """The request body (read once per request; a keep-alive connection reuses `self`)."""
        if self._body is None:
            length = int(self.headers.get("Content-Length") or 0)
            self._body = self.rfile.read(length) if length else b""
        return self._body

    def base_url(self) -> str:
        host = self.headers.get("Host") or "%s:%s" % self.server.server_address[:2]
        return f"http://{host}"

    # --- helpers for route modules
    def token_ok(self, faults) -> bool:
        """True when no token is required, or ``X-Auth-Token`` is valid (one use counted)."""
        return not self.app.token_required or self.token_valid(faults)

    def token_valid(self, faults) -> bool:
        """True when ``X-Auth-Token`` is one the server handed out (one use counted)."""
        token = self.headers.get("X-Auth-Token")
        ttl = faults.token_ttl if faults is not None else None
        return bool(token) and self.app._use_token(token, ttl)

    def images_call(self, work, fail) -> Response:
        """Run one images request: counted in `stats` while worked on (the answer is sent
        only after the in-flight count drops; its status is counted then), refused at once
        by ``fail(429, faults)`` over `faults.rate_limit` (``faults.retry_after``: the
        seconds until a token frees), delayed by `faults.latency`, replaced by
        ``fail(action, faults)`` for an injected status, or damaged after a 200."""
        app = self.app
        stats = app.stats
        stats._begin(self.path)
        status = 500
        try:
            resp = self._images_answer(app.faults, work, fail)
            status = resp.status
            return resp
        except HTTPError as exc:
            status = exc.status
            raise
        finally:
            stats._end(status)

    @staticmethod
    def _images_answer(faults, work, fail) -> Response:
        if faults is None:
            return work()
        wait = faults.throttle()
        resp = (Handler._answer(faults, work, fail) if wait is None
                else fail(429, replace(faults, retry_after=str(wait))))
        resp.headers = [*resp.headers, *faults.quota_headers()]
        return resp

    @staticmethod
    def _answer(faults, work, fail) -> Response:
        if faults.latency:
            time.sleep(faults.latency)
        action = faults.next_action()
        if action in STATUS_FAULTS:
            return fail(action, faults)
        resp = work()
        if resp.status == 200 and action is not None:
            resp = _damage(resp, action)
        return resp

    # --- methods
    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method: str):
        self._body = None
        split = urlsplit(self.path)
        path = split.path
        head = method == "HEAD"
        try:
            if path.startswith("/identity"):
                status, headers, body = keystone.handle(self.app, method, path, self.headers,
                                                        self._read_body(), self.base_url())
                raw = json.dumps(body).encode() if body is not None else b""
                self._send(status, raw, headers=headers, head_only=head)
                return
            segments = [s for s in path.split("/") if s]
            route = ROUTES.get(segments[0]) if segments else None
            if route is not None:
                resp = route.handle(self, method, segments[1:], split.query)
            elif servers_api.claims(segments):
                resp = servers_api.handle(self, method, segments, split.query)
            else:
                resp = nova_api.handle(self, method, segments, split.query)
        except HTTPError as exc:
            resp = exc.response()
        except (BrokenPipeError, ConnectionResetError):
            raise
        except Exception as exc:  # noqa: BLE001 - a server must answer, as Nova does
            body = {"computeFault": {"code": 500, "message": f"Unexpected API Error: {exc!r}"}}
            resp = Response(500, json.dumps(body).encode())
        try:
            self._send(resp.status, resp.body, content_type=resp.content_type,
                       headers=resp.headers, head_only=head)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True      # the client gave up (e.g. its read timeout)


def _damage(resp: Response, action) -> Response:
    """A 200 spoiled by a body fault: "truncate", "not_json" or "no_images"."""
    if action == "truncate":
        resp.body = resp.body[: max(1, len(resp.body) // 2)]
    elif action == "not_json":
        resp.body = (b"<html><head><title>Maintenance</title></head><body>"
                     b"<h1>We'll be back soon</h1></body></html>\n")
        resp.content_type = "text/html; charset=UTF-8"
    elif action == "no_images":
        resp.body = b'{"message": "Service temporarily unavailable, please retry."}'
    return resp
