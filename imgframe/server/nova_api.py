"""Nova 34's images proxy: ``/{v2|v2.1}[/{project_id}]/images[/detail|/{id}]`` and versions.

Request order follows Nova's pipeline: auth (401) -> microversion (404 above 2.35) ->
project id check (400) -> query validation (400) -> the images call. Filters are translated
as Nova translates them for Glance (`catalog.Query.from_filters`); next links, views and
fault bodies are Nova's (`views`).

What is listed is what Glance's default listing shows the caller (a member of the served
project, as Nova's glanceclient asks with the caller's token): public, shared and the
project's own images, no hidden ones, no other project's private or community images. An
image the caller may not see is 404 on show and delete, as Glance's 404 comes back through
Nova; a marker naming one is 403 (Glance's "not visible", relayed as Nova's Forbidden).
"""

from __future__ import annotations

import html
import json
import re
import uuid
from urllib.parse import parse_qsl

from imgframe.server.catalog import DELETED, Query, visible_to
from imgframe.server.glance import GlanceBadRequest
from imgframe.server.http import HTTPError, Response
from imgframe.server.views import LinkBases

__all__ = ["MAX_PROXY_VERSION", "handle", "rate_limited", "requested_microversion", "version_doc",
           "versions_doc"]

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


def fault(status: int, message: str, headers: dict | None = None) -> HTTPError:
    """Nova's fault body ``{"<faultName>": {"code": ..., "message": ...}}``."""
    return HTTPError(status, {FAULT_NAMES.get(status, "computeFault"):
                              {"code": status, "message": message}}, headers=headers)


def handle(req, method: str, segments: list[str], query: str) -> Response:
    """One compute request (`segments` start with ``v2`` or ``v2.1``)."""
    if not segments:
        return Response(200, json.dumps(versions_doc(req.base_url())).encode())
    if segments[0] not in ("v2", "v2.1"):
        raise fault(404, NOT_FOUND)
    version, rest = segments[0], segments[1:]
    app = req.app
    project = ""
    if rest and rest[0] != "images":
        # Nova routes only hex-and-dash project ids (unless configured otherwise); the
        # served one always routes, as if [osapi_v21] project_id_regex allowed it
        if not (PROJECT_ID.fullmatch(rest[0]) or rest[0] == app.project_id):
            raise fault(404, NOT_FOUND)
        project, rest = rest[0], rest[1:]
    if not rest:
        return Response(200, json.dumps(version_doc(req.base_url(), version)).encode())
    if rest[0] != "images" or len(rest) > 2:
        raise fault(404, NOT_FOUND)
    if method not in ("GET", "HEAD") and not (method == "DELETE" and len(rest) == 2
                                              and rest[1] != "detail"):
        raise fault(405, "The method specified is not allowed for this resource.")
    request_id = "req-" + str(uuid.uuid4())
    headers = [("x-openstack-request-id", request_id), ("x-compute-request-id", request_id)]
    return req.images_call(
        lambda: _images(req, version, project, rest[1:], query, method, headers),
        lambda action, faults: _fail(action, headers, faults))


def _images(req, version: str, url_project: str, rest: list[str], query: str, method: str,
            headers: list) -> Response:
    app = req.app
    faults = app.faults
    try:
        microversion = _check(req, version, faults)
        if microversion is not None:
            shown = MAX_API_VERSION if microversion == "latest" else microversion
            headers += [("OpenStack-API-Version", f"compute {shown}"),
                        ("X-OpenStack-Nova-API-Version", shown),
                        ("Vary", "OpenStack-API-Version"),
                        ("Vary", "X-OpenStack-Nova-API-Version")]
            if microversion == "latest" or _too_new(microversion):
                raise fault(404, NOT_FOUND)
        if url_project and url_project != app.project_id:
            raise fault(400, f"Malformed request URL: URL's project_id '{url_project}' "
                             f"doesn't match Context's project_id '{app.project_id}'")
        bases = LinkBases.for_request(req.base_url() + "/" + version,
                                      _project_in_url(app.project_id, req.path),
                                      app.link_prefix, app.glance_url)
        if rest == [] or rest == ["detail"]:
            body = _list(app, "detail" if rest else "list", query, bases, faults)
        elif method == "DELETE":
            rec = app.catalog.get(rest[0])
            if rec is None or not visible_to(rec, app.project_id):
                raise fault(404, "Image not found.")
            try:
                app.remove_image(rest[0])
            except KeyError:
                raise fault(404, "Image not found.") from None
            return Response(204, b"", headers=headers)
        else:
            rec = app.catalog.get(rest[0])
            if rec is None or not visible_to(rec, app.project_id):
                raise fault(404, "Image not found.")
            body = app.renderer.show(rec, bases)
    except HTTPError as exc:
        headers += list(exc.headers.items())
        return Response(exc.status, exc.body_bytes(), headers=headers)
    return Response(200, body, headers=headers)


def rate_limited(faults, headers: list) -> Response:
    """OpenStack's 429 (oslo's ``overLimit`` fault, as Nova and Cinder send it), with
    ``Retry-After``."""
    body = {"overLimit": {"code": 429, "message": "This request was rate-limited.",
                          "retryAfter": str(faults.retry_after)}}
    return Response(429, json.dumps(body).encode(),
                    headers=list(headers) + [("Retry-After", str(faults.retry_after))])


def _fail(status: int, headers: list, faults) -> Response:
    if status == 429:
        return rate_limited(faults, headers)
    if status == 500:
        body = {"computeFault": {"code": 500, "message": COMPUTE_FAULT_500}}
        return Response(500, json.dumps(body).encode(), headers=headers)
    return Response(status, HTML_ERRORS[status].encode(), "text/html", headers)


def _check(req, version: str, faults) -> str | None:
    """Auth (401) and the microversion; returns the version string (None on /v2)."""
    if not req.token_ok(faults):
        raise HTTPError(401, UNAUTHORIZED, headers={
            "WWW-Authenticate": f'Keystone uri="{req.base_url()}/identity"'})
    if version == "v2":
        return None
    return requested_microversion(req.headers)


def _list(app, view: str, query: str, bases: LinkBases, faults) -> bytes:
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
    marker = last.get("marker") or None
    # Nova asks Glance with Glance's defaults for the caller (the served project): no
    # hidden images, no other project's private or community images
    try:
        query = Query.from_filters(filters, app.project_id)
        _check_marker(app, marker)
        positions, offset = app.catalog.page(query, marker, limit)
    except GlanceBadRequest as exc:
        raise fault(400, str(exc)) from None
    records = [app.catalog.records[i] for i in positions.tolist()]
    max_items = min(limit or app.max_limit, app.max_limit)
    next_href = None
    if max_items and len(records) == max_items:
        marker = records[-1]["id"]
        loop = faults.loop_next if faults is not None else None
        if loop and loop > 1 and offset == (loop - 1) * max_items:
            first_page, _ = app.catalog.page(query, None, max_items)
            marker = app.catalog.records[int(first_page[-1])]["id"]
        collection = "images/detail" if view == "detail" else "images"
        next_href = bases.next_link(collection, kept, str(marker))
    return app.renderer.page(view, records, next_href, bases)


def _check_marker(app, marker: str | None) -> None:
    """403 for a marker the caller may not see (Glance's Forbidden, relayed by Nova); an
    unknown or deleted one is left to `Catalog.page` (400)."""
    rec = app.catalog.get(marker) if marker else None
    if rec is None or rec.get("status") in DELETED or visible_to(rec, app.project_id):
        return
    message = f"Forbidding request, image {marker} not visible"
    raise fault(403, f"HTTP 403 Forbidden: {html.escape(message)}")


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
    raise fault(400, f"Invalid input for query parameters {key}. "
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
        raise fault(400, f"API Version String {value} is of invalid format. "
                                     "Must be of format MajorNum.MinorNum.")
    major, minor = int(m.group(1)), int(m.group(2))
    if major != 2 or minor < 1:
        raise fault(406, f"Version {value} is not supported by the API. "
                                     f"Minimum is 2.1 and maximum is {MAX_API_VERSION}.")
    return f"{major}.{minor}"


def _too_new(version: str) -> bool:
    major, minor = (int(x) for x in version.split("."))
    return (major, minor) > MAX_PROXY_VERSION


def _project_in_url(project_id: str, path: str) -> str:
    """Nova's `_get_project_id`: the context's project id if it occurs anywhere in the URL."""
    return project_id if project_id and project_id in path else ""


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
