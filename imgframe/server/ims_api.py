"""Huawei IMS ``GET /v2/cloudimages`` ("Querying Images", SDK `ListImages`), at ``{url}/ims``.

As documented (reference image-sources.md section 4; nothing there was run against Huawei):

* paging: ``marker`` (an image id) + ``limit`` (default 500), in ``created_at`` desc order
  (``sort_key``/``sort_dir`` as documented); **no** ``next``/``first`` link. A limit above
  `ImageServer.ims_max_limit` (default 200) is cut to it silently, so a page shorter than
  asked is not the end. ``page_info: {"next_marker": <last id>}`` is sent on a full page only
  when `ImageServer.ims_page_info` is set (off by default: the 2022 docs show none);
* the caller sees gold (public) images, its own, and shared ones (as Glance's caller does);
  IMS has no community visibility and no hidden flag, so community images are never listed
  and hidden ones are. Killed/deleted/pending_delete images are never listed;
* filters: ``name`` (exact, no operators), ``id``, ``status``, ``visibility``, ``owner``,
  ``__imagetype``, ``protected``, ``disk_format``, ``container_format``, ``min_ram``,
  ``min_disk`` (exact), ``created_at``/``updated_at`` (``op:time``, gt gte lt lte eq neq),
  ``tag``, and ``__platform``/``__os_type``/``__os_bit``/``__support_*`` on the item's
  fields. Other parameters are ignored (decision: the docs say nothing);
* items: Glance's base fields with the ``__*`` string fields (``__image_size`` = the size as
  a string; absent when the image has no data), and the placeholders ``size: 0``,
  ``checksum: "d41d8cd98f00b204e9800998ecf8427e"``, ``virtual_size: null``. No ``os_hidden``,
  ``os_hash_*``;
* errors: ``{"error": {"code": "IMG.0001", "message": ...}}``; auth failures come from the
  API gateway: 401 ``{"error_msg": ..., "error_code": "APIGW.0301", "request_id": ...}``.

Auth: ``X-Auth-Token`` (the server's tokens), or an AK/SK ``SDK-HMAC-SHA256`` signature by a
key of `ImageServer.aksk`, verified by `imgframe.aksk.verify` (a pure protocol module).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from urllib.parse import parse_qsl

import numpy as np

from imgframe import aksk
from imgframe.server.catalog import DELETED, REMOVED, Query, field
from imgframe.server.glance import parse_isotime
from imgframe.server.glance_api import isotime as _isotime
from imgframe.server.http import Response

__all__ = ["EMPTY_MD5", "auth_problem", "handle", "render_item"]

UTC = dt.timezone.utc
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"     # what IMS sends as `checksum`
DEFAULT_LIMIT = 500
IMAGETYPES = {"public": "gold", "private": "private", "shared": "shared"}
SORT_KEYS = ("name", "container_format", "disk_format", "status", "id", "size", "created_at")
TIME_OPS = ("gt", "gte", "lt", "lte", "eq", "neq")
EXACT = ("id", "owner", "disk_format", "container_format")
INTEGER = re.compile(r"[0-9]+")
TIME_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S")


class IMSError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(exc: IMSError, headers: list) -> Response:
    body = {"error": {"code": exc.code, "message": exc.message}}
    return Response(exc.status, json.dumps(body).encode(), headers=headers)


def _gateway_error(status: int, code: str, message: str, request_id: str,
                   headers: list) -> Response:
    body = {"error_msg": message, "error_code": code, "request_id": request_id}
    return Response(status, json.dumps(body).encode(), headers=headers)


def handle(req, method: str, segments: list[str], query: str) -> Response:
    """One request under ``/ims`` (`segments` exclude ``ims``)."""
    request_id = uuid.uuid4().hex
    headers = [("X-Request-Id", request_id)]
    if segments != ["v2", "cloudimages"]:
        return _gateway_error(404, "APIGW.0101", "The API does not exist or has not been "
                              "published in the environment", request_id, headers)
    if method not in ("GET", "HEAD"):
        return _gateway_error(405, "APIGW.0102", "The API method is not allowed",
                              request_id, headers)

    def work():
        problem = auth_problem(req, query)
        if problem:
            return _gateway_error(401, "APIGW.0301", "Incorrect IAM authentication "
                                  f"information: {problem}", request_id, headers)
        try:
            return Response(200, list_images(req.app, query), headers=headers)
        except IMSError as exc:
            return _error(exc, headers)

    return req.images_call(work, lambda action, faults: _fail(action, faults, request_id,
                                                              headers))


def _fail(action, faults, request_id, headers) -> Response:
    if action == 429:
        return _gateway_error(429, "APIGW.0308", "The throttling threshold has been "
                              "reached: policy user over ratelimit,limit:100,time:1 minute",
                              request_id, headers + [("Retry-After", str(faults.retry_after))])
    if action == 500:
        return _error(IMSError(500, "IMG.0999", "Internal server error."), headers)
    return _gateway_error(action, "APIGW.0201", "Request error", request_id, headers)


def auth_problem(req, query: str) -> str | None:
    """Why the request is not authenticated (None when it is, or when auth is off)."""
    app = req.app
    if not app.auth_required:
        return None
    authorization = req.headers.get("Authorization") or ""
    if authorization.startswith("SDK-HMAC-SHA256"):
        if not app.aksk:
            return "ak/sk authentication is not enabled"
        path = req.path.split("?", 1)[0]
        access = aksk.verify(req.command, path, query, req.headers, req._read_body(),
                             app.aksk)
        if access is None:
            return "verify aksk signature fail"
        project = req.headers.get("X-Project-Id")
        if project and project != app.project_id:
            return "project id does not match"
        return None
    token = req.headers.get("X-Auth-Token")
    if not token:
        return "x-auth-token not found"
    if not req.token_valid(app.faults):
        return "the token is invalid or expired"
    return None


# --- the list


def list_images(app, query: str) -> bytes:
    """The body of ``GET /v2/cloudimages?<query>``."""
    params: dict = {}
    tags = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "tag":
            tags.append(value)
        else:
            params.setdefault(key, value)          # decision: the first value counts
    limit = _integer(params.pop("limit", None), "limit", DEFAULT_LIMIT, minimum=1)
    limit = min(limit, app.ims_max_limit)
    marker = params.pop("marker", None)
    sort = _sorting(params.pop("sort_key", "created_at"), params.pop("sort_dir", "desc"))
    q = _query(app, params, tags)
    catalog = app.catalog
    matches = catalog.matching(q)
    records = catalog.records
    item_filters = {k: v for k, v in params.items()
                    if k.startswith("__") and k not in ("__imagetype", "__isregistered")}
    if item_filters:
        matches = np.array([i for i in matches.tolist()
                            if _item_matches(records[i], item_filters)], dtype=np.int64)
    if sort != ("created_at", "desc"):
        key, direction = sort
        ordered = sorted(matches.tolist(), key=lambda i: (_sort_value(records[i], key),
                                                          records[i]["created_at"],
                                                          records[i]["id"]))
        if direction == "desc":
            ordered.reverse()
        matches = np.array(ordered, dtype=np.int64)
    start = 0
    if marker:
        pos = catalog.position.get(marker)
        if pos is None or records[pos].get("status") in DELETED \
                or catalog.status[pos] == REMOVED:
            raise IMSError(400, "IMG.0001", f"The marker {marker} is invalid.")
        if sort == ("created_at", "desc"):
            start = int(np.searchsorted(matches, pos, side="right"))
        else:
            where = np.flatnonzero(matches == pos)
            if not len(where):
                raise IMSError(400, "IMG.0001", f"The marker {marker} is invalid.")
            start = int(where[0]) + 1
    page = matches[start:start + limit]
    frag = app.renderer.fragment
    body = b'{"images": [' + b", ".join([frag("ims", records[i]) for i in page.tolist()]) \
        + b"]"
    if app.ims_page_info and len(page) == limit:
        body += b', "page_info": {"next_marker": ' + \
            json.dumps(records[int(page[-1])]["id"]).encode() + b"}"
    return body + b"}"


def _integer(value, name: str, default: int, minimum: int = 0) -> int:
    if value is None:
        return default
    if not INTEGER.fullmatch(value) or int(value) < minimum:
        raise IMSError(400, "IMG.0001", f"The parameter {name} is invalid: {value!r}.")
    return int(value)


def _sorting(key: str, direction: str) -> tuple:
    if key not in SORT_KEYS:
        raise IMSError(400, "IMG.0001", f"The sort_key {key} is invalid.")
    if direction not in ("asc", "desc"):
        raise IMSError(400, "IMG.0001", f"The sort_dir {direction} is invalid.")
    return key, direction


def _sort_value(rec: dict, key: str):
    value = rec.get(key)
    return (value is not None, value if value is not None else 0)


def _query(app, params: dict, tags: list) -> Query:
    kwargs: dict = {"caller": app.project_id, "visibility": frozenset(IMAGETYPES),
                    "tags": frozenset(tags)}
    fields = []
    if "name" in params:
        kwargs["name"] = frozenset((params["name"],))
    if "status" in params:
        kwargs["status"] = frozenset((params["status"],))
    visibility = params.get("visibility")
    if visibility is not None:
        if visibility not in IMAGETYPES:
            raise IMSError(400, "IMG.0001", f"The visibility {visibility} is invalid.")
        kwargs["visibility"] = frozenset((visibility,))
    imagetype = params.get("__imagetype")
    if imagetype is not None:
        if imagetype not in ("gold", "private", "shared", "market"):
            raise IMSError(400, "IMG.0024", "The imagetype is invalid.")
        wanted = {v for v, t in IMAGETYPES.items() if t == imagetype}
        kwargs["visibility"] = kwargs["visibility"] & frozenset(wanted)
    if "protected" in params:
        if params["protected"] not in ("true", "false"):
            raise IMSError(400, "IMG.0001", "The protected is invalid.")
        fields.append(("protected", frozenset((params["protected"] == "true",))))
    for key in EXACT:
        if key in params:
            fields.append((key, frozenset((params[key],))))
    for key in ("min_ram", "min_disk"):
        if key in params:
            kwargs[key] = _integer(params[key], key, 0)
    times = []
    for key in ("created_at", "updated_at"):
        if key in params:
            times.append((key, *_time_condition(key, params[key])))
    kwargs.update(fields=tuple(fields), times=tuple(times))
    return Query(**kwargs)


def _time_condition(key: str, value: str) -> tuple:
    op, sep, when = value.partition(":")
    if not sep or op not in TIME_OPS:
        raise IMSError(400, "IMG.0001", f"The {key} is invalid.")
    for fmt in TIME_FORMATS:
        try:
            return op, dt.datetime.strptime(when, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    try:                                       # tolerate the other ISO 8601 spellings
        return op, parse_isotime(when).timestamp()
    except ValueError:
        raise IMSError(400, "IMG.0001", f"The {key} is invalid.") from None


def _item_matches(rec: dict, wanted: dict) -> bool:
    fields = huawei_fields(rec)
    return all(fields.get(k) == v for k, v in wanted.items())


# --- the item




def huawei_fields(rec: dict) -> dict:
    """The ``__*`` (and other Huawei) fields of one image, every value a string except
    ``__system_support_market`` (a bool), flags absent rather than false."""
    props = rec.get("properties") or {}
    out = {k: v if isinstance(v, str) else ("" if v is None else json.dumps(v))
           for k, v in props.items()}
    size = rec.get("size")
    if size is not None:
        out["__image_size"] = str(int(size))
    out["__imagetype"] = IMAGETYPES.get(field(rec, "visibility"), "private")
    out["__isregistered"] = "true"
    out.setdefault("__os_bit", "64")
    if "__platform" not in out and props.get("os_distro"):
        out["__platform"] = str(props["os_distro"]).capitalize()
    out.setdefault("__os_type", "Other")
    out["__support_kvm"] = "true"
    if props.get("architecture") == "aarch64":
        out["__support_arm"] = "true"
    out.setdefault("__image_source_type", "uds")
    out.setdefault("__lazyloading", "true")
    out["__system_support_market"] = False
    out.setdefault("virtual_env_type",
                   "IsoImage" if rec.get("disk_format") == "iso" else "FusionCompute")
    out.setdefault("enterprise_project_id", "0")
    return out


def render_item(rec: dict) -> bytes:
    """One image as IMS lists it (JSON bytes)."""
    image_id = str(rec["id"])
    item = {
        "schema": "/v2/schemas/image",
        "min_disk": int(rec.get("min_disk") or 0),
        "created_at": _isotime(rec.get("created_at")),
        "container_format": rec.get("container_format"),
        "file": f"/v2/images/{image_id}/file",
        "updated_at": _isotime(rec.get("updated_at")),
        "protected": bool(field(rec, "protected")),
        "checksum": EMPTY_MD5,
        "id": image_id,
        "min_ram": int(rec.get("min_ram") or 0),
        "owner": rec.get("owner"),
        "visibility": field(rec, "visibility"),
        "tags": list(field(rec, "tags") or []),
        "size": 0,
        "name": rec.get("name"),
        "self": f"/v2/images/{image_id}",
        "disk_format": rec.get("disk_format"),
        "virtual_size": None,
        "status": rec.get("status"),
    }
    item.update(huawei_fields(rec))
    return json.dumps(item).encode()
