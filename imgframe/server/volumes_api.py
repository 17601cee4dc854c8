"""Cinder 29's ``/volume/v3/{project_id}/volumes`` and ``/volumes/detail``, at
`ImageServer.volume_endpoint`, over `ImageServer.cloud`'s volumes.

As reference usage.md section 2.1 reads Cinder's code (nothing here was run against Cinder):

* paging: ``marker`` (a volume id the caller may see; otherwise 404 ``Volume <id> could
  not be found.``) and ``limit`` (default and cap ``ImageServer.max_limit``, Cinder's
  ``osapi_max_limit``; ``abc`` is 400 ``limit param must be an integer``, a negative value
  400 ``limit param must be positive``), ``offset`` (rows to skip); order ``created_at
  desc, id desc``; ``volumes_links: [{"rel": "next", "href"}]`` when the page is full, so
  an exact multiple ends on an empty page; ``with_count=true`` (3.45+) adds ``count`` (the
  total) and then every non-empty page whose limit is at most the total has a next link;
* scope: the caller's project; an admin's ``all_tenants`` (true-ish) lists every project
  (``project_id`` then narrows it); **a non-admin's ``all_tenants`` is ignored silently**
  (no 403); filters ``name``, ``status``, ``bootable``; from 3.31 an unknown filter is 400
  ``Invalid filters X are found in query options.`` (``all_tenants`` from a non-admin is
  dropped first, Bug #1917574); below 3.31 unknown filters are dropped;
* items: ``/volumes`` ``{id, name, links}``; ``/volumes/detail`` the ``legacy_detail``
  fields with ``bootable`` as the string ``"true"``/``"false"``, ``attachments``
  (``server_id`` ...), ``os-vol-tenant-attr:tenant_id`` (project readers may see it),
  ``volume_image_metadata`` (a dict of strings, **absent** when the volume has none), and
  for an admin ``os-vol-host-attr:host`` and ``migration_status``;
* errors: ``{"<faultName>": {"code", "message"}}``; auth as Nova (401); faults as for images.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import uuid
from urllib.parse import parse_qsl, urlencode

from imgframe.server import nova_api
from imgframe.server.http import HTTPError, Response

__all__ = ["MAX_VERSION", "handle"]

UTC = dt.timezone.utc
MAX_VERSION = (3, 70)
TRUE = ("1", "t", "true", "on", "y", "yes")
FILTERS = ("name", "status", "bootable", "metadata", "availability_zone", "size",
           "created_at", "updated_at", "group_id", "migration_status")
PAGING = ("limit", "marker", "offset", "sort", "sort_key", "sort_dir", "with_count",
          "all_tenants", "project_id")


def _fault(status: int, message: str) -> HTTPError:
    return HTTPError(status, {nova_api.FAULT_NAMES.get(status, "computeFault"):
                              {"code": status, "message": message}})


def handle(req, method: str, segments: list[str], query: str) -> Response:
    """One request under ``/volume`` (`segments` exclude ``volume``)."""
    request_id = "req-" + str(uuid.uuid4())
    headers = [("x-openstack-request-id", request_id)]
    app = req.app
    if (app.cloud is None or len(segments) < 3 or segments[0] != "v3"
            or segments[2] != "volumes" or len(segments) > 4
            or (len(segments) == 4 and segments[3] != "detail")):
        return _fault(404, "The resource could not be found.").response(headers)
    if method not in ("GET", "HEAD"):
        return _fault(405, "The method specified is not allowed for this "
                           "resource.").response(headers)

    def work():
        try:
            body = _answer(req, segments[1], len(segments) == 4, query, headers)
        except HTTPError as exc:
            return exc.response(headers)
        return Response(200, json.dumps(body).encode(), headers=headers)

    def fail(action, faults):
        if action == 429:
            return nova_api.rate_limited(faults, headers)
        if action == 500:
            body = {"computeFault": {"code": 500, "message": "The server has either erred or "
                                     "is incapable of performing the requested operation."}}
            return Response(500, json.dumps(body).encode(), headers=headers)
        return Response(action, nova_api.HTML_ERRORS[action].encode(), "text/html", headers)

    return req.images_call(work, fail)


def _microversion(req) -> tuple[int, int]:
    value = None
    for part in (req.headers.get("OpenStack-API-Version") or "").split(","):
        service, _, ver = part.strip().partition(" ")
        if service.lower() == "volume" and ver.strip():
            value = ver.strip()
    if value is None:
        return (3, 0)
    if value.lower() == "latest":
        return MAX_VERSION
    try:
        major, minor = (int(x) for x in value.split("."))
    except ValueError:
        raise _fault(400, f"Invalid API version request string {value}.") from None
    if major != 3 or minor > MAX_VERSION[1]:
        raise _fault(406, f"Version {value} is not supported by the API. Minimum is 3.0 and "
                          f"maximum is {MAX_VERSION[0]}.{MAX_VERSION[1]}.")
    return major, minor


def _answer(req, url_project: str, detail: bool, query: str, headers: list) -> dict:
    app = req.app
    if not req.token_ok(app.faults):
        raise HTTPError(401, nova_api.UNAUTHORIZED, headers={
            "WWW-Authenticate": f'Keystone uri="{req.base_url()}/identity"'})
    mv = _microversion(req)
    headers += [("OpenStack-API-Version", "volume %d.%d" % mv),
                ("Vary", "OpenStack-API-Version")]
    if url_project != app.project_id:
        raise _fault(400, "Malformed request url")
    admin = app.is_admin(req.headers.get("X-Auth-Token"))
    params = dict(parse_qsl(query, keep_blank_values=True))
    if not admin:
        params.pop("all_tenants", None)           # silently, no 403 (Bug #1917574)
    unknown = sorted(k for k in params if k not in FILTERS and k not in PAGING)
    if unknown and mv >= (3, 31):
        raise _fault(400, f"Invalid filters {', '.join(unknown)} are found in query options.")
    limit = _limit(params.get("limit"), app.max_limit)
    offset = _limit(params.get("offset"), 10**12) if params.get("offset") else 0
    all_tenants = admin and params.get("all_tenants", "0").lower() in TRUE + ("",)
    projects = None if all_tenants else {app.project_id}
    if all_tenants and params.get("project_id"):
        projects = {params["project_id"]}
    rows, keys = _matching(app, params, projects)
    start = 0
    if params.get("marker"):
        marker = app.cloud.volume_by_id.get(params["marker"])
        if marker is None or (projects is not None and marker["project_id"] not in projects):
            raise _fault(404, f"Volume {params['marker']} could not be found.")
        start = len(keys) - bisect.bisect_left(keys, (marker["created_at"], marker["id"]))
    page = rows[start + offset:start + offset + limit] if limit else []
    base = req.base_url() + "/volume"
    items = [_detail(v, admin, base) if detail else
             {"id": v["id"], "name": v["name"], "links": _links(v, base)} for v in page]
    body = {"volumes": items}
    with_count = mv >= (3, 45) and params.get("with_count", "").lower() in TRUE
    item_count = len(rows) if with_count else len(items)
    if items and limit <= item_count:
        kept = {k: v for k, v in sorted(params.items()) if k != "marker"}
        kept["marker"] = items[-1]["id"]
        path = "volumes/detail" if detail else "volumes"
        body["volumes_links"] = [{"rel": "next", "href": f"{base}/v3/{app.project_id}/"
                                                         f"{path}?{urlencode(kept)}"}]
    if with_count:
        body["count"] = len(rows)
    return body


def _matching(app, params: dict, projects: set | None) -> tuple[list, list]:
    """Matching volumes newest first, and their ascending (created_at, id) keys (cached on
    the cloud per filter set)."""
    key = ("volumes", frozenset(projects) if projects else None, params.get("name"),
           params.get("status"), params.get("bootable"))
    hit = app.cloud.cache.get(key)
    if hit is None:
        rows = [v for v in app.cloud.volumes_sorted if _matches(v, params, projects)]
        hit = rows, [(v["created_at"], v["id"]) for v in reversed(rows)]
        if len(app.cloud.cache) >= 64:
            app.cloud.cache.clear()
        app.cloud.cache[key] = hit
    return hit


def _limit(value: str | None, maximum: int) -> int:
    """Cinder's `_get_limit_param`: default and cap `maximum`."""
    if value is None:
        return maximum
    try:
        limit = int(value)
    except ValueError:
        raise _fault(400, "limit param must be an integer") from None
    if limit < 0:
        raise _fault(400, "limit param must be positive")
    return min(limit, maximum)


def _matches(vol: dict, params: dict, projects: set | None) -> bool:
    if projects is not None and vol["project_id"] not in projects:
        return False
    if "name" in params and vol["name"] != params["name"]:
        return False
    if "status" in params and vol["status"] != params["status"]:
        return False
    return not ("bootable" in params
                and vol["bootable"] != (params["bootable"].lower() in TRUE))


def _isotime(when: dt.datetime | None) -> str | None:
    """Cinder's times: naive ISO with microseconds."""
    return None if when is None else when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _links(vol: dict, base: str) -> list:
    return [{"rel": "self", "href": f"{base}/v3/{vol['project_id']}/volumes/{vol['id']}"},
            {"rel": "bookmark", "href": f"{base}/{vol['project_id']}/volumes/{vol['id']}"}]


def _detail(vol: dict, admin: bool, base: str) -> dict:
    out = {
        "id": vol["id"], "name": vol["name"], "status": vol["status"], "size": vol["size"],
        "availability_zone": vol["availability_zone"],
        "created_at": _isotime(vol["created_at"]), "updated_at": _isotime(vol["updated_at"]),
        "description": vol["description"], "volume_type": vol["volume_type"],
        "snapshot_id": None, "source_volid": None, "metadata": dict(vol["metadata"]),
        "links": _links(vol, base), "user_id": vol["user_id"],
        "bootable": "true" if vol["bootable"] else "false", "encrypted": False,
        "replication_status": None, "consistencygroup_id": None,
        "multiattach": False,
        "attachments": [{"id": vol["id"], "attachment_id": a["attachment_id"],
                         "volume_id": vol["id"], "server_id": a["server_id"],
                         "host_name": None, "device": a["device"],
                         "attached_at": _isotime(a["attached_at"])}
                        for a in vol["attachments"]],
        "os-vol-tenant-attr:tenant_id": vol["project_id"],
    }
    if vol["image_metadata"] is not None:
        out["volume_image_metadata"] = dict(vol["image_metadata"])
    if admin:
        out["os-vol-host-attr:host"] = "cinder-volume@lvm#lvm"
        out["migration_status"] = None
    return out
