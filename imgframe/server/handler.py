"""HTTP routing for the embedded server: Nova's images routes, version documents, keystone.

One `Handler` instance per request (stdlib `BaseHTTPRequestHandler`); everything it needs
(catalog, renderer, settings, tokens, stats, faults) lives on `self.server.app`, the
`ImageServer`. Request order follows Nova's pipeline: auth (401) -> microversion (404 above
2.35) -> project id check (400) -> query validation (400) -> the images call.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from imgframe.server import keystone
from imgframe.server.catalog import Query
from imgframe.server.glance import GlanceBadRequest
from imgframe.server.views import LinkBases

__all__ = ["Handler", "MAX_PROXY_VERSION"]

MAX_PROXY_VERSION = (2, 35)      # images proxy APIs answer 404 from 2.36 on
MAX_API_VERSION = "2.100"        # what "latest" resolves to (only ever echoed in headers)
PROJECT_ID = re.compile(r"[0-9a-f\-]+")      # Nova's ProjectMapper route requirement
VERSION_STRING = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")
FILTERS = {"name": "name", "status": "status", "changes-since": "changes-since",
           "server": "property-instance_uuid", "type": "property-image_type",
           "minRam": "min_ram", "minDisk": "min_disk"}
PAGING = ("limit", "page_size", "offset", "marker")
INTEGER = re.compile(r"[0-9]*")
FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
               405: "badMethod", 409: "conflictingRequest", 413: "overLimit", 429: "overLimit",
               501: "notImplemented", 503: "serviceUnavailable"}
UNAUTHORIZED = {"error": {"code": 401, "title": "Unauthorized",
                          "message": "The request you have made requires authentication."}}
NOT_FOUND = "The resource could not be found."
HTML_ERRORS = {
    502: "<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete "
         "response.\n</body></html>\n",
    503: "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this "
         "request.\n</body></html>\n",
    504: "<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n"
         "</body></html>\n",
}
COMPUTE_FAULT_500 = ("Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ "
                     "and attach the Nova API log if possible.\n<class "
                     "'glanceclient.exc.HTTPInternalServerError'>")


class HTTPError(Exception):
    """A fault response: status, JSON body, extra headers."""

    def __init__(self, status: int, body: dict | None = None, message: str = "",
                 headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.body = body if body is not None else {
            FAULT_NAMES.get(status, "computeFault"): {"code": status, "message": message}}
        self.headers = headers or {}


class Handler(BaseHTTPRequestHandler):
    """Routes GET/POST/HEAD to the compute, version and identity handlers."""

    protocol_version = "HTTP/1.1"
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
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def base_url(self) -> str:
        host = self.headers.get("Host") or "%s:%s" % self.server.server_address[:2]
        return f"http://{host}"

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
        split = urlsplit(self.path)
        path = split.path
        try:
            if path.startswith("/identity"):
                status, headers, body = keystone.handle(self.app, method, path, self.headers,
                                                        self._read_body(), self.base_url())
                raw = json.dumps(body).encode() if body is not None else b""
                self._send(status, raw, headers=headers, head_only=method == "HEAD")
                return
            segments = [s for s in path.split("/") if s]
            if not segments:
                self._send(200, json.dumps(versions_doc(self.base_url())).encode(),
                           head_only=method == "HEAD")
                return
            if segments[0] not in ("v2", "v2.1"):
                raise HTTPError(404, message=NOT_FOUND)
            self._compute(method, segments, split.query)
        except HTTPError as exc:
            self._send(exc.status, json.dumps(exc.body).encode(), headers=exc.headers,
                       head_only=method == "HEAD")
        except (BrokenPipeError, ConnectionResetError):
            raise
        except Exception as exc:  # noqa: BLE001 - a server must answer, as Nova does
            body = {"computeFault": {"code": 500, "message": f"Unexpected API Error: {exc!r}"}}
            self._send(500, json.dumps(body).encode(), head_only=method == "HEAD")

    # --- compute
    def _compute(self, method: str, segments: list[str], query: str):
        version, rest = segments[0], segments[1:]
        project = ""
        if rest and rest[0] != "images":
            # Nova routes only hex-and-dash project ids (unless configured otherwise); the
            # served one always routes, as if [osapi_v21] project_id_regex allowed it
            if not (PROJECT_ID.fullmatch(rest[0]) or rest[0] == self.app.project_id):
                raise HTTPError(404, message=NOT_FOUND)
            project, rest = rest[0], rest[1:]
        if not rest:
            self._send(200, json.dumps(version_doc(self.base_url(), version)).encode(),
                       head_only=method == "HEAD")
            return
        if rest[0] != "images" or len(rest) > 2:
            raise HTTPError(404, message=NOT_FOUND)
        if method not in ("GET", "HEAD") and not (method == "DELETE" and len(rest) == 2
                                                  and rest[1] != "detail"):
            raise HTTPError(405, message="The method specified is not allowed for this "
                                         "resource.")
        self._images(version, project, rest[1:], query, method)

    def _images(self, version: str, url_project: str, rest: list[str], query: str,
                method: str):
        """One images request, counted in `stats` while it is worked on. The response is
        sent only after the in-flight count drops, so a client never sees an answer to a
        request the server still counts."""
        stats = self.app.stats
        stats._begin(self.path)
        try:
            status, body, content_type, headers = self._images_response(
                version, url_project, rest, query, method)
        finally:
            stats._end()
        self._send(status, body, content_type=content_type, headers=headers,
                   head_only=method == "HEAD")

    def _images_response(self, version: str, url_project: str, rest: list[str], query: str,
                         method: str):
        """(status, body, content type, headers) for an images request."""
        app = self.app
        request_id = "req-" + str(uuid.uuid4())
        headers = [("x-openstack-request-id", request_id), ("x-compute-request-id", request_id)]
        faults = app.faults
        if faults is not None and faults.latency:
            time.sleep(faults.latency)
        action = faults.next_action() if faults is not None else None
        if action in (500, 502, 503, 504, 429):
            return self._fail(action, headers, faults)
        try:
            microversion = self._check(version, url_project, faults)
            if microversion is not None:
                shown = MAX_API_VERSION if microversion == "latest" else microversion
                headers += [("OpenStack-API-Version", f"compute {shown}"),
                            ("X-OpenStack-Nova-API-Version", shown),
                            ("Vary", "OpenStack-API-Version"),
                            ("Vary", "X-OpenStack-Nova-API-Version")]
                if microversion == "latest" or _too_new(microversion):
                    raise HTTPError(404, message=NOT_FOUND)
            if url_project and url_project != app.project_id:
                raise HTTPError(400, message=(
                    f"Malformed request URL: URL's project_id '{url_project}' doesn't "
                    f"match Context's project_id '{app.project_id}'"))
            bases = LinkBases.for_request(self.base_url() + "/" + version,
                                          _project_in_url(app.project_id, self),
                                          app.link_prefix, app.glance_url)
            if rest == [] or rest == ["detail"]:
                body = self._list("detail" if rest else "list", query, bases, faults)
            elif method == "DELETE":
                try:
                    app.remove_image(rest[0])
                except KeyError:
                    raise HTTPError(404, message="Image not found.") from None
                return 204, b"", "application/json", headers
            else:
                rec = app.catalog.get(rest[0])
                if rec is None:
                    raise HTTPError(404, message="Image not found.")
                body = app.renderer.show(rec, bases)
        except HTTPError as exc:
            headers += list(exc.headers.items())
            return exc.status, json.dumps(exc.body).encode(), "application/json", headers
        if action == "truncate":
            body = body[: max(1, len(body) // 2)]
        elif action == "not_json":
            return (200, b"<html><head><title>Maintenance</title></head><body>"
                    b"<h1>We'll be back soon</h1></body></html>\n",
                    "text/html; charset=UTF-8", headers)
        elif action == "no_images":
            body = b'{"message": "Service temporarily unavailable, please retry."}'
        return 200, body, "application/json", headers

    def _fail(self, status: int, headers: list, faults):
        if status == 429:
            headers.append(("Retry-After", str(faults.retry_after)))
            body = {"overLimit": {"code": 429, "message": "This request was rate-limited.",
                                  "retryAfter": str(faults.retry_after)}}
            return 429, json.dumps(body).encode(), "application/json", headers
        if status == 500:
            body = {"computeFault": {"code": 500, "message": COMPUTE_FAULT_500}}
            return 500, json.dumps(body).encode(), "application/json", headers
        return status, HTML_ERRORS[status].encode(), "text/html", headers

    def _check(self, version: str, url_project: str, faults) -> str | None:
        """Auth (401) and the microversion; returns the version string (None on /v2)."""
        app = self.app
        if app.auth_required:
            token = self.headers.get("X-Auth-Token")
            ttl = faults.token_ttl if faults is not None else None
            if not token or not app._use_token(token, ttl):
                raise HTTPError(401, body=UNAUTHORIZED, headers={
                    "WWW-Authenticate": f'Keystone uri="{self.base_url()}/identity"'})
        if version == "v2":
            return None
        return requested_microversion(self.headers)

    def _list(self, view: str, query: str, bases: LinkBases, faults) -> bytes:
        app = self.app
        params = parse_qsl(query, keep_blank_values=True)
        for key, value in params:
            if key in ("limit", "page_size", "offset"):
                _validate_positive_integer(key, value)
        kept = [(k, v) for k, v in params
                if k in FILTERS or k in PAGING or k.startswith("property-")]
        last = dict(kept)
        filters = {}
        for key in last:
            if key in FILTERS or key.startswith("property-"):
                filters[FILTERS.get(key, key)] = last[key]
        server = filters.get("property-instance_uuid")
        if server and "/" in server:
            filters["property-instance_uuid"] = server.rsplit("/", 1)[1]
        limit = int(last["limit"]) if "limit" in last else None
        try:
            positions, offset = app.catalog.page(Query.from_filters(filters),
                                                 last.get("marker") or None, limit)
        except GlanceBadRequest as exc:
            raise HTTPError(400, message=str(exc)) from None
        records = [app.catalog.records[i] for i in positions.tolist()]
        max_items = min(limit or app.max_limit, app.max_limit)
        next_href = None
        if max_items and len(records) == max_items:
            marker = records[-1]["id"]
            loop = faults.loop_next if faults is not None else None
            if loop and loop > 1 and offset == (loop - 1) * max_items:
                first_page, _ = app.catalog.page(Query.from_filters(filters), None, max_items)
                marker = app.catalog.records[int(first_page[-1])]["id"]
            collection = "images/detail" if view == "detail" else "images"
            next_href = bases.next_link(collection, kept, str(marker))
        return app.renderer.page(view, records, next_href, bases)


def _validate_positive_integer(key: str, value: str) -> None:
    """Nova's `positive_integer` query schema, with its jsonschema messages."""
    if not INTEGER.fullmatch(value):
        reason = f"'{value}' does not match '^[0-9]*$'"
    elif not value:
        reason = "'' should be non-empty"
    elif int(value) < 1:
        reason = f"{int(value)} is less than the minimum of 1"
    else:
        return
    raise HTTPError(400, message=f"Invalid input for query parameters {key}. "
                                 f"Value: {value}. {reason}")


def requested_microversion(headers) -> str:
    """The compute microversion asked for (new header first, then the legacy one), as a
    string; "2.1" when none. 400 for a malformed one, 406 below 2.1 or for another major."""
    value = None
    for part in (headers.get("OpenStack-API-Version") or "").split(","):
        service, _, ver = part.strip().partition(" ")
        if service.lower() == "compute" and ver.strip():
            value = ver.strip()
    if value is None:
        value = (headers.get("X-OpenStack-Nova-API-Version") or "").strip() or None
    if value is None:
        return "2.1"
    if value.lower() == "latest":
        return "latest"
    m = VERSION_STRING.match(value)
    if not m:
        raise HTTPError(400, message=f"API Version String {value} is of invalid format. "
                                     "Must be of format MajorNum.MinorNum.")
    major, minor = int(m.group(1)), int(m.group(2))
    if major != 2 or minor < 1:
        raise HTTPError(406, message=f"Version {value} is not supported by the API. "
                                     f"Minimum is 2.1 and maximum is {MAX_API_VERSION}.")
    return f"{major}.{minor}"


def _too_new(version: str) -> bool:
    major, minor = (int(x) for x in version.split("."))
    return (major, minor) > MAX_PROXY_VERSION


def _project_in_url(project_id: str, handler: Handler) -> str:
    """Nova's `_get_project_id`: the context's project id if it occurs anywhere in the URL."""
    return project_id if project_id and project_id in handler.path else ""


def versions_doc(base: str) -> dict:
    """``GET /``: Nova's version list."""
    return {"versions": [version_doc(base, "v2")["version"],
                         version_doc(base, "v2.1")["version"]]}


def version_doc(base: str, version: str) -> dict:
    """``GET /v2.1`` (or ``/v2``, with or without a project id): one version document."""
    v21 = version == "v2.1"
    return {"version": {
        "id": "v2.1" if v21 else "v2.0",
        "status": "CURRENT" if v21 else "SUPPORTED",
        "version": MAX_API_VERSION if v21 else "",
        "min_version": "2.1" if v21 else "",
        "updated": "2013-07-23T11:33:21Z" if v21 else "2011-01-21T11:33:21Z",
        "links": [{"rel": "self", "href": f"{base}/{version}/"},
                  {"rel": "describedby", "type": "text/html",
                   "href": "http://docs.openstack.org/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.compute+json;version=2.1"}],
    }}
