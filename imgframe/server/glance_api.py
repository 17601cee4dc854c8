"""Glance v2 (33.0.0) ``GET /v2/images`` and ``GET /v2/images/{id}``, at ``{url}/image``.

Reproduces what a real Glance 33 was observed doing (reference image-sources.md section 3):

* the query is a webob MultiDict: ``limit``, ``marker`` and ``member_status`` are popped
  (the *first* value); every ``tag`` is popped (ANDed); ``sort``/``sort_key``/``sort_dir``
  are popped; every other key is a filter whose *last* value counts, so ``limit=5&limit=7``
  filters on a property ``limit == "7"`` (0 images) and a second ``updated_at`` replaces the
  first; unknown keys are property filters (200, 0 images);
* ``name``/``id``/``status``/``container_format``/``disk_format`` take ``eq:``/``in:``; status
  words are raw and case-sensitive; ``created_at``/``updated_at`` take gt/gte/lt/lte/eq/neq;
  ``<int column>_min``/``_max`` ranges; ``min_ram``/``min_disk`` exact;
* the caller is a member of the served project (not admin): public + community + own +
  others' shared (the caller is an accepted member of every shared image); without
  ``visibility`` others' community images are left out; hidden images only with
  ``os_hidden=true`` (and then only them); killed/deleted/pending_delete never;
* ``limit`` defaults to `ImageServer.glance_limit_default` (25) and is capped silently at
  `ImageServer.api_limit_max` (1000); ``next`` (relative, from ``dict(params)``: repeated
  parameters collapse to their last value) iff the page is full; ``first`` always;
* markers: not visible -> 403, unknown/deleted/removed -> 400 "No image found with ID ...",
  longer than 36 characters -> 400 with Glance's uninterpolated text;
* errors: webob HTML unless ``Accept`` prefers JSON, then
  ``{"message": "...<br /><br />\\n\\n\\n", "code": "400 Bad Request", "title": "Bad Request"}``.

Not reproduced: the broken paging of nullable sort keys (``sort=size:*``), ``locations``,
``direct_url``, ``stores``, members API.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import uuid
from urllib.parse import parse_qsl, urlencode

import numpy as np

from imgframe.server.catalog import DELETED, NOTHING, REMOVED, Query, field, visible_to
from imgframe.server.glance import (
    GlanceBadRequest,
    parse_isotime,
    split_filter_op,
    split_in_values,
    sql_number,
)
from imgframe.server.http import HTTPError, Response

__all__ = ["BASE_KEYS", "handle", "render_item"]

UTC = dt.timezone.utc
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          405: "Method Not Allowed", 429: "Too Many Requests", 500: "Internal Server Error",
          502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
UNAUTHORIZED = {"error": {"code": 401, "title": "Unauthorized",
                          "message": "The request you have made requires authentication."}}
VISIBILITIES = ("community", "public", "private", "shared", "all")
MEMBER_STATUSES = ("pending", "accepted", "rejected", "all")
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at",
             "updated_at")
OP_FIELDS = ("name", "id", "status", "container_format", "disk_format")
TIME_FIELDS = ("created_at", "updated_at")
INT_COLUMNS = ("size", "virtual_size", "min_ram", "min_disk")
STR_COLUMNS = ("owner", "checksum", "os_hash_algo", "os_hash_value")
TIME_OPS = ("gt", "gte", "lt", "lte", "eq", "neq")
#: the base keys of a Glance item; every other top-level key is an extra property
BASE_KEYS = ("name", "disk_format", "container_format", "visibility", "size", "virtual_size",
             "status", "checksum", "protected", "min_ram", "min_disk", "owner", "os_hidden",
             "os_hash_algo", "os_hash_value", "id", "created_at", "updated_at", "tags",
             "self", "file", "schema")
LISTABLE_STATUSES = ("active", "queued", "saving", "deactivated", "importing", "uploading")


class GlanceError(HTTPError):
    """A webob error: HTML, JSON or plain text depending on the request's Accept."""

    def __init__(self, status: int, message: str):
        super().__init__(status, message)
        self.message = message


def error_response(exc: GlanceError, accept: str | None, headers: list) -> Response:
    """webob's `generate_response`: text/html first, then application/json, else plain."""
    status = f"{exc.status} {TITLES.get(exc.status, 'Error')}"
    kind = _preferred(accept)
    if kind == "json":
        body = json.dumps({"message": f"{exc.message}<br /><br />\n\n\n", "code": status,
                           "title": TITLES.get(exc.status, "Error")})
        return Response(exc.status, body.encode(), "application/json", headers)
    if kind == "html":
        body = (f"<html>\n <head>\n  <title>{status}</title>\n </head>\n <body>\n  "
                f"<h1>{status}</h1>\n  {html.escape(exc.message)}<br /><br />\n\n\n\n"
                " </body>\n</html>")
        return Response(exc.status, body.encode(), "text/html; charset=UTF-8", headers)
    body = f"{status}\n\n{exc.message}\n\n\n  "
    return Response(exc.status, body.encode(), "text/plain; charset=UTF-8", headers)


def _preferred(accept: str | None) -> str:
    """Which of html/json the Accept header prefers (webob offers text/html first)."""
    if not accept:
        return "html"
    best, best_q = "plain", 0.0
    for part in accept.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        for kind, offer in (("html", "text/html"), ("json", "application/json")):
            kind_type, _, _ = offer.partition("/")
            if media in (offer, f"{kind_type}/*", "*/*") and q > 0:
                rank = q + (0.001 if kind == "html" and media == "*/*" else 0)
                if media == offer:
                    rank += 0.01             # an exact match beats a wildcard at equal q
                if rank > best_q:
                    best, best_q = kind, rank
    return best


def versions_doc(base: str) -> dict:
    """``GET {glance_endpoint}/``: a short version list (v2.0 ... v2.17 CURRENT)."""
    versions = []
    for minor in range(17, -1, -1):
        versions.append({"id": f"v2.{minor}", "status": "CURRENT" if minor == 17 else
                         "SUPPORTED", "links": [{"rel": "self", "href": f"{base}/v2/"}]})
    return {"versions": versions}


def handle(req, method: str, segments: list[str], query: str) -> Response:
    """One request under ``/image`` (`segments` exclude ``image``)."""
    request_id = "req-" + str(uuid.uuid4())
    headers = [("x-openstack-request-id", request_id)]
    accept = req.headers.get("Accept")
    try:
        if not segments:
            body = versions_doc(req.base_url() + "/image")
            return Response(300, json.dumps(body).encode(), headers=headers)
        if segments[:2] != ["v2", "images"] or len(segments) > 3:
            raise GlanceError(404, "The resource could not be found.")
        if method not in ("GET", "HEAD"):
            raise GlanceError(405, "The method specified is not allowed for this resource.")
    except GlanceError as exc:
        return error_response(exc, accept, headers)

    def work():
        try:
            if not req.token_ok(req.app.faults):
                return Response(401, json.dumps(UNAUTHORIZED).encode(), headers=headers + [
                    ("WWW-Authenticate", f'Keystone uri="{req.base_url()}/identity"')])
            if len(segments) == 3:
                return Response(200, _show(req.app, segments[2]), headers=headers)
            return Response(200, list_images(req.app, query), headers=headers)
        except GlanceError as exc:
            return error_response(exc, accept, headers)

    return req.images_call(work, lambda action, faults: _fail(action, faults, accept, headers))


def _fail(action, faults, accept, headers) -> Response:
    if action == 429:
        headers = headers + [("Retry-After", str(faults.retry_after))]
    messages = {500: "The server has either erred or is incapable of performing the "
                     "requested operation.", 429: "This request was rate-limited."}
    return error_response(GlanceError(action, messages.get(action, "The server is currently "
                                      "unavailable. Please try again at a later time.")),
                          accept, headers)


def _show(app, image_id: str) -> bytes:
    rec = app.catalog.get(image_id)
    if rec is None or rec.get("status") in DELETED or not visible_to(rec, app.project_id):
        raise GlanceError(404, f"No image found with ID {image_id}")
    return app.renderer.fragment("glance", rec)


# --- the list


def list_images(app, query: str) -> bytes:
    """The body of ``GET /v2/images?<query>``."""
    pairs = parse_qsl(query, keep_blank_values=True)
    rest = list(pairs)
    limit = _pop_first(rest, "limit")
    marker = _pop_first(rest, "marker")
    member_status = _pop_first(rest, "member_status") or "accepted"
    tags = [v.strip() for k, v in pairs if k == "tag"]
    rest = [(k, v) for k, v in rest if k != "tag"]
    filters = _last_values(rest)              # MultiDict.get: the last value
    visibility = filters.get("visibility")
    if visibility and visibility not in VISIBILITIES:
        raise GlanceError(400, f"Invalid visibility value: {visibility}")
    if filters.get("changes-since"):
        raise GlanceError(400, 'The "changes-since" filter is no longer available on v2.')
    if member_status not in MEMBER_STATUSES:
        raise GlanceError(400, f"Invalid status: {member_status}")
    if limit is not None:
        limit = _validate_limit(limit)
    sort = _sorting(rest)
    for key in ("sort", "sort_key", "sort_dir"):
        filters.pop(key, None)
    filters.pop("visibility", None)
    filters.pop("deleted", None)                # the controller forces deleted=False
    hidden = filters.pop("os_hidden", "false").lower()
    if hidden not in ("true", "false"):
        raise GlanceError(400, f"Invalid value '{hidden}' for 'os_hidden' filter. Valid "
                               "values are 'true' or 'false'.")
    if "protected" in filters and filters["protected"] not in ("true", "false"):
        raise GlanceError(400, f"Invalid value '{filters['protected']}' for 'protected' "
                               "filter. Valid values are 'true' or 'false'.")
    if limit is None:
        limit = app.glance_limit_default
    limit = min(app.api_limit_max, limit)
    q = _query(filters, tags, visibility, member_status, hidden == "true", app.project_id)
    start = 0
    matches = _sorted_matches(app.catalog, q, sort)
    if marker is not None:
        start = _marker_start(app, marker, matches, sort)
    positions = matches[start:start + limit]
    catalog = app.catalog
    frag = app.renderer.fragment
    items = b", ".join([frag("glance", catalog.records[i]) for i in positions.tolist()])
    params = _last_values(pairs)              # dict(request.params), as the serializer does
    params.pop("marker", None)
    first = "/v2/images" + ("?" + urlencode(params) if params else "")
    body = b'{"images": [' + items + b'], "first": ' + json.dumps(first).encode()
    if len(positions) and len(positions) == limit:
        params["marker"] = catalog.records[int(positions[-1])]["id"]
        body += b', "next": ' + json.dumps("/v2/images?" + urlencode(params)).encode()
    return body + b', "schema": "/v2/schemas/images"}'


def _pop_first(pairs: list, key: str):
    """webob `MultiDict.pop`: remove and return the first value of `key` (None if absent)."""
    for i, (k, v) in enumerate(pairs):
        if k == key:
            del pairs[i]
            return v
    return None


def _last_values(pairs: list) -> dict:
    """``dict(multidict)``: keys in first-seen order, each with its last value."""
    out: dict = {}
    for k, v in pairs:
        out[k] = v
    return out


def _validate_limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        raise GlanceError(400, "limit param must be an integer") from None
    if limit < 0:
        raise GlanceError(400, "limit param must be positive")
    return limit


def _sorting(pairs: list) -> tuple:
    """((key, dir), ...) from ``sort=`` or ``sort_key=``/``sort_dir=``, validated as Glance;
    then ``created_at``, ``id`` appended (in the first direction) as the DB layer does."""
    keys = [v for k, v in pairs if k == "sort_key"]
    dirs = [v for k, v in pairs if k == "sort_dir"]
    sorts = [v for k, v in pairs if k == "sort"]
    out = []
    if sorts:
        if keys or dirs:
            raise GlanceError(400, "Old and new sorting syntax cannot be combined")
        for part in sorts[0].strip().split(","):
            key, _, direction = part.partition(":")
            out.append((_sort_key(key.strip()), _sort_dir(direction.strip() or "desc")))
    else:
        keys = [_sort_key(k.strip()) for k in keys]
        dirs = [_sort_dir(d.strip()) for d in dirs]
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise GlanceError(400, "Number of sort dirs does not match the number of sort "
                                   "keys")
        keys = keys or ["created_at"]
        dirs = dirs or ["desc"]
        out = [(k, dirs[i] if len(dirs) > 1 else dirs[0]) for i, k in enumerate(keys)]
    default = out[0][1]
    for key in ("created_at", "id"):
        if key not in [k for k, _ in out]:
            out.append((key, default))
    return tuple(out)


def _sort_key(key: str) -> str:
    if key not in SORT_KEYS:
        raise GlanceError(400, f"Invalid sort key: {key}. It must be one of the following: "
                               f"{', '.join(SORT_KEYS)}.")
    return key


def _sort_dir(direction: str) -> str:
    if direction not in ("asc", "desc"):
        raise GlanceError(400, f"Invalid sort direction: {direction}")
    return direction


def _query(filters: dict, tags: list, visibility, member_status: str, hidden: bool,
           project: str) -> Query:
    """The catalogue query for the remaining filters (Glance's _make_conditions_from_filters)."""
    kwargs: dict = {"caller": project, "hidden": hidden, "tags": frozenset(tags),
                    "others_shared": member_status in ("accepted", "all")}
    if visibility and visibility != "all":
        kwargs["visibility"] = frozenset((visibility,))
    elif not visibility:
        kwargs["others_community"] = False
    fields, ranges, times, props = [], [], {}, []
    for key, value in filters.items():
        if key.endswith(("_min", "_max")) and key[:-4] in INT_COLUMNS:
            try:
                number = int(value)
            except ValueError:
                raise GlanceError(400, "Unable to filter on a range with a non-numeric "
                                       "value.") from None
            ranges.append((key[:-4], key[-3:], number))
        elif key in TIME_FIELDS:
            op, when = split_filter_op(value)
            try:
                threshold = parse_isotime(when).timestamp()
            except ValueError:
                raise GlanceError(400, f'Bad "{key}" query filter format. Use ISO 8601 '
                                       "DateTime notation.") from None
            if op not in TIME_OPS:
                raise GlanceError(400, "Unable to filter on a unknown operator.")
            times[key] = (key, op, threshold)
        elif key in OP_FIELDS:
            op, rest = split_filter_op(value)
            if op == "eq":
                accepted = frozenset((rest,))
            elif op == "in":
                try:
                    accepted = frozenset(split_in_values(rest))
                except GlanceBadRequest:
                    raise GlanceError(400, f"Invalid filter value {rest}. The quote is not "
                                           "closed.") from None
            else:
                raise GlanceError(400, f"Unable to filter by unknown operator '{op}'.")
            if key == "name":
                kwargs["name"] = accepted
            elif key == "status":
                kwargs["status"] = accepted
            else:
                fields.append((key, accepted))
        elif key in ("min_ram", "min_disk"):
            number = sql_number(value)
            kwargs[key] = number if number is not None and abs(number) < 2 ** 62 else NOTHING
        elif key in INT_COLUMNS:
            number = sql_number(value)
            fields.append((key, frozenset(() if number is None else (number,))))
        elif key == "protected":
            fields.append((key, frozenset((value == "true",))))
        elif key in STR_COLUMNS:
            fields.append((key, frozenset((value,))))
        elif key == "deleted_at":
            fields.append((key, frozenset()))        # NULL for every listable image
        else:
            props.append((key, value))
    kwargs.update(fields=tuple(sorted(fields, key=lambda f: f[0])),
                  ranges=tuple(sorted(ranges)), times=tuple(sorted(times.values())),
                  properties=tuple(sorted(props)))
    return Query(**kwargs)


_DEFAULT_SORT = (("created_at", "desc"), ("id", "desc"))


def _sorted_matches(catalog, q: Query, sort: tuple) -> np.ndarray:
    """Positions of the matches in `sort` order (the catalogue's own order by default)."""
    matches = catalog.matching(q)
    if sort == _DEFAULT_SORT:
        return matches
    records = catalog.records
    keyed = sorted(matches.tolist(), key=functools.cmp_to_key(
        lambda a, b: _compare(records[a], records[b], sort)))
    return np.array(keyed, dtype=np.int64)


def _sort_value(rec: dict, key: str):
    value = rec.get(key)
    if key in ("created_at", "updated_at") and value is not None:
        value = value if isinstance(value, dt.datetime) else parse_isotime(str(value))
        value = value.timestamp()
    return value


def _compare(a: dict, b: dict, sort: tuple) -> int:
    """-1/0/1: `a` before `b` in `sort` order (NULL sorts first ascending, as in sqlite)."""
    for key, direction in sort:
        x, y = _sort_value(a, key), _sort_value(b, key)
        if x == y:
            continue
        if x is None or y is None:
            less = x is None
        else:
            less = x < y
        before = less if direction == "asc" else not less
        return -1 if before else 1
    return 0


def _marker_start(app, marker: str, matches: np.ndarray, sort: tuple) -> int:
    """Where the page after `marker` starts (keyset: the marker's slot in the order)."""
    if len(marker) > 36:
        raise GlanceError(400, "Image with the given id %(image_id)s was not found")
    catalog = app.catalog
    pos = catalog.position.get(marker)
    rec = None if pos is None else catalog.records[pos]
    if rec is None or rec.get("status") in DELETED or catalog.status[pos] == REMOVED:
        raise GlanceError(400, f"No image found with ID {marker}")
    if not visible_to(rec, app.project_id):
        raise GlanceError(403, f"Forbidding request, image {marker} not visible")
    if sort == _DEFAULT_SORT:
        return int(np.searchsorted(matches, pos, side="right"))
    records = catalog.records
    lo, hi = 0, len(matches)
    while lo < hi:                            # first match strictly after the marker
        mid = (lo + hi) // 2
        if _compare(records[int(matches[mid])], rec, sort) <= 0:
            lo = mid + 1
        else:
            hi = mid
    return lo


# --- the item


def isotime(value) -> str | None:
    """A record's time as Glance and IMS write it: ``YYYY-MM-DDTHH:MM:SSZ`` (UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _property_text(value) -> str:
    """An extra property as Glance stores it: a string (None -> '', lists as JSON)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def render_item(rec: dict) -> bytes:
    """One image as Glance's ResponseSerializer._format_image writes it (JSON bytes)."""
    image_id = str(rec["id"])
    item = {k: _property_text(v) for k, v in (rec.get("properties") or {}).items()
            if k not in BASE_KEYS}
    item.update({
        "name": rec.get("name"),
        "disk_format": rec.get("disk_format"),
        "container_format": rec.get("container_format"),
        "visibility": field(rec, "visibility"),
        "size": rec.get("size"),
        "virtual_size": rec.get("virtual_size"),
        "status": rec.get("status"),
        "checksum": rec.get("checksum"),
        "protected": bool(field(rec, "protected")),
        "min_ram": int(rec.get("min_ram") or 0),
        "min_disk": int(rec.get("min_disk") or 0),
        "owner": rec.get("owner"),
        "os_hidden": bool(field(rec, "os_hidden")),
        "os_hash_algo": rec.get("os_hash_algo"),
        "os_hash_value": rec.get("os_hash_value"),
        "id": image_id,
        "created_at": isotime(rec.get("created_at")),
        "updated_at": isotime(rec.get("updated_at")),
        "tags": list(field(rec, "tags") or []),
        "self": f"/v2/images/{image_id}",
        "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image",
    })
    return json.dumps(item).encode()
