"""Nova 34's servers: ``/{v2|v2.1}[/{project_id}]/servers``, ``/servers/detail``,
``/servers/{id}`` and ``/os-services``, over `ImageServer.cloud` (a `cloud.Cloud`).

As reference usage.md section 1 records a real Nova 34 (microversions 2.1 to
`nova_api.MAX_API_VERSION`; the caller is an admin when its token is, see
`ImageServer.issue_token`):

* paging: ``limit`` capped at ``max_limit``; **no limit is one max_limit page** with a next
  link; a next link (``servers_links``, the request's parameters sorted plus ``marker``)
  comes iff the page is full, so an exact multiple ends on an empty page; ``limit=0`` is
  ``[]``; an unknown marker is 400 ``marker [x] not found`` (a deleted server's or another
  project's is a valid marker); default order ``created_at desc, id desc``;
* scope: a caller sees its project; ``all_tenants`` (1/true/t/on/y/yes or empty) lists
  every project for an admin (``tenant_id``/``project_id`` then narrow it) and is 403 for
  others; other values are 400;
* deleted servers: a default listing leaves out DELETED and SOFT_DELETED servers; an
  admin's ``deleted=true`` lists both, ``soft_deleted=true`` adds SOFT_DELETED;
  ``changes-since`` (``updated >= value``) lists every state, for anyone; a non-admin's
  ``deleted``/``soft_deleted``/``image_ref``/``tenant_id`` are dropped silently;
  ``status=DELETED`` is 403 for a non-admin; ``status=SOFT_DELETED`` alone is ``[]``;
* filters: ``status`` (repeatable; unknown -> ``[]`` below 2.38, 400 from 2.38), ``name``
  (a regex; 400 when invalid), ``image`` (exact match on the stored ref: misses
  volume-backed servers and refs stored as URLs), ``flavor``, ``changes-before`` (2.66+),
  ``locked`` (2.73+), ``user_id`` (2.83+ or admin); unknown parameters 400 from 2.75;
* cells: servers of `ImageServer.down_cells` are left out of every answer, except a bare
  listing (no parameter but ``all_tenants``) at 2.69+, where they come as ``{"id",
  "status": "UNKNOWN", "tenant_id", "created", "links"}`` (no ``image``) before the real
  servers, only in the room those leave in one max_limit page;
* views (drawn by `servers_views`): ``/servers`` items ``{id, name, links}``; detail
  items with ``image`` ``{"id", "links": [bookmark]}`` or ``""`` (volume-backed;
  ``properties`` added at 2.98),
  ``OS-SRV-USG:launched_at`` naive with microseconds, ``created``/``updated`` with ``Z``,
  ``flavor`` ``{id, links}`` (``{vcpus, ram, disk, ephemeral, swap, original_name,
  extra_specs}`` from 2.47), ``os-extended-volumes:volumes_attached`` (``[{id}]``, plus
  ``delete_on_termination`` from 2.3), admin-only ``OS-EXT-SRV-ATTR:*``, and the
  microversion additions of section 1.3;
* ``/os-services``: admin only (403), not paged; a down cell's services are left out below
  2.69 and are ``{"binary", "host", "status": "UNKNOWN"}`` from 2.69;
* errors: Nova's ``{"<faultName>": {"code", "message"}}``; faults as for images.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import re
import uuid
from urllib.parse import parse_qsl

from imgframe.server import nova_api
from imgframe.server.http import HTTPError, Response
from imgframe.server.servers_views import View, services
from imgframe.server.views import LinkBases

__all__ = ["claims", "handle"]

UTC = dt.timezone.utc
NAMES = ("servers", "os-services")
BOOLS = ("0", "1", "f", "false", "n", "no", "off", "on", "t", "true", "y", "yes")
TRUE = ("1", "t", "true", "on", "y", "yes", "")
NON_ADMIN = {(2, 1): ("reservation_id", "name", "status", "image", "flavor", "ip",
                      "changes-since", "all_tenants"),
             (2, 5): ("ip6",), (2, 26): ("tags", "tags-any", "not-tags", "not-tags-any"),
             (2, 66): ("changes-before",), (2, 73): ("locked",),
             (2, 83): ("availability_zone", "config_drive", "key_name", "created_at",
                       "launched_at", "terminated_at", "power_state", "task_state",
                       "vm_state", "progress", "user_id"),
             (2, 90): ("hostname",)}
PAGING = ("limit", "marker", "sort_key", "sort_dir")
ADMIN_ONLY = ("deleted", "soft_deleted", "image_ref", "tenant_id", "project_id", "host",
              "node", "uuid", "access_ip_v4", "access_ip_v6", "auto_disk_config",
              "display_name", "display_description", "kernel_id", "ramdisk_id",
              "root_device_name", "launch_index", "description")
KNOWN = {k for keys in NON_ADMIN.values() for k in keys} | set(PAGING) | set(ADMIN_ONLY)
STATUSES = {"ACTIVE", "BUILD", "REBUILD", "REBOOT", "HARD_REBOOT", "PASSWORD", "RESIZE",
            "VERIFY_RESIZE", "REVERT_RESIZE", "MIGRATING", "PAUSED", "SUSPENDED", "RESCUE",
            "ERROR", "DELETED", "SOFT_DELETED", "SHUTOFF", "SHELVED", "SHELVED_OFFLOADED"}
SORT_KEYS = {"created_at": "created_at", "updated_at": "updated_at", "launched_at":
             "launched_at", "display_name": "name", "uuid": "id", "user_id": "user_id",
             "project_id": "project_id", "host": "host", "node": "host",
             "vm_state": "vm_state"}
NEVER = dt.datetime(1, 1, 1, tzinfo=UTC)
NON_NEGATIVE = re.compile(r"[0-9]*")
CACHE_SIZE = 64


def claims(segments: list[str]) -> bool:
    """True for a path this module answers (``/v2.1[/{project}]/servers...``, ``/os-services``)."""
    if len(segments) < 2 or segments[0] not in ("v2", "v2.1"):
        return False
    return segments[1] in NAMES or (len(segments) > 2 and segments[2] in NAMES)


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def handle(req, method: str, segments: list[str], query: str) -> Response:
    """One servers or services request (`segments` start with ``v2`` or ``v2.1``)."""
    app = req.app
    request_id = "req-" + str(uuid.uuid4())
    headers = [("x-openstack-request-id", request_id), ("x-compute-request-id", request_id)]
    version, rest = segments[0], segments[1:]
    project = ""
    if rest[0] not in NAMES:
        project, rest = rest[0], rest[1:]
    if app.cloud is None or (rest[0] == "os-services" and len(rest) > 1) or len(rest) > 2:
        return nova_api.fault(404, nova_api.NOT_FOUND).response(headers)
    if method not in ("GET", "HEAD"):
        return nova_api.fault(405, "The method specified is not allowed for this "
                                   "resource.").response(headers)

    def work():
        try:
            body = _answer(req, version, project, rest, query, headers)
        except HTTPError as exc:
            return exc.response(headers)
        return Response(200, json.dumps(body).encode(), headers=headers)

    return req.images_call(work, lambda action, faults: _fail(action, faults, headers))


def _fail(action, faults, headers: list) -> Response:
    if action == 429:
        return nova_api.rate_limited(faults, headers)
    if action == 500:
        body = {"computeFault": {"code": 500, "message": "Unexpected API Error. Please report "
                                 "this at http://bugs.launchpad.net/nova/ and attach the Nova "
                                 "API log if possible.\n<class 'nova.exception.CellTimeout'>"}}
        return Response(500, json.dumps(body).encode(), headers=headers)
    return Response(action, nova_api.HTML_ERRORS[action].encode(), "text/html", headers)


def _answer(req, version: str, url_project: str, rest: list[str], query: str,
            headers: list) -> dict:
    app = req.app
    if not req.token_ok(app.faults):
        raise HTTPError(401, nova_api.UNAUTHORIZED, headers={
            "WWW-Authenticate": f'Keystone uri="{req.base_url()}/identity"'})
    mv = (2, 1)
    if version == "v2.1":
        asked = nova_api.requested_microversion(req.headers)
        shown = nova_api.MAX_API_VERSION if asked == "latest" else asked
        if _version(shown) > _version(nova_api.MAX_API_VERSION):
            raise nova_api.fault(406, f"Version {shown} is not supported by the API. Minimum "
                                      f"is 2.1 and maximum is {nova_api.MAX_API_VERSION}.")
        headers += [("OpenStack-API-Version", f"compute {shown}"),
                    ("X-OpenStack-Nova-API-Version", shown),
                    ("Vary", "OpenStack-API-Version"),
                    ("Vary", "X-OpenStack-Nova-API-Version")]
        mv = _version(shown)
    if url_project and url_project != app.project_id:
        raise nova_api.fault(400, f"Malformed request URL: URL's project_id '{url_project}' "
                                  f"doesn't match Context's project_id '{app.project_id}'")
    admin = app.is_admin(req.headers.get("X-Auth-Token"))
    project = app.project_id if url_project else ""
    bases = LinkBases.for_request(req.base_url() + "/" + version, project, app.link_prefix,
                                  app.glance_url)
    params = parse_qsl(query, keep_blank_values=True)
    if rest[0] == "os-services":
        if not admin:
            raise nova_api.fault(403, "Policy doesn't allow os_compute_api:os-services:list "
                                      "to be performed.")
        return {"services": services(app, mv)}
    view = View(app, mv, admin, bases)
    if len(rest) == 2 and rest[1] != "detail":
        return {"server": view.show(rest[1])}
    return _list(app, view, "detail" if len(rest) == 2 else "index", params)


# --- the listing


def _list(app, view: View, kind: str, params: list) -> dict:
    mv, admin = view.mv, view.admin
    asked = params                     # the next link carries every parameter, as Nova's
    last = dict(params)
    if mv >= (2, 75):
        for key in last:
            if key not in KNOWN and not key.startswith("_"):
                raise nova_api.fault(400, f"'{key}' does not match any of the regexes: '^_'")
    if "limit" in last and not NON_NEGATIVE.fullmatch(last["limit"]):
        value = last["limit"]
        raise nova_api.fault(400, f"Invalid input for query parameters limit. Value: {value}."
                                  f" '{value}' does not match '^[0-9]*$'")
    since = _time_param(last, "changes-since")
    before = _time_param(last, "changes-before") if mv >= (2, 66) else None
    if not admin:
        allowed = {k for gate, keys in NON_ADMIN.items() if mv >= gate for k in keys}
        params = [(k, v) for k, v in params if k in allowed or k in PAGING]
        last = dict(params)
    statuses = {v.upper() for k, v in params if k == "status"}
    if statuses - STATUSES:
        if mv >= (2, 38):
            raise nova_api.fault(400, "Invalid status value")
        statuses &= STATUSES
        if not statuses:
            return _page_body(kind, [], [])
    deleted = _bool(last["deleted"]) if "deleted" in last else None
    if "DELETED" in statuses:
        if not admin:
            raise nova_api.fault(403, "Only administrators may list deleted instances")
        deleted = True
    if since and before and before < since:
        raise nova_api.fault(400, "The value of changes-since must be less than or equal "
                                  "to changes-before.")
    all_tenants = _all_tenants(last)
    if all_tenants and not admin:
        raise nova_api.fault(403, f"Policy doesn't allow os_compute_api:servers:{kind}:"
                                  "get_all_tenants to be performed.")
    name = last.get("name")
    if name is not None:
        try:
            name = re.compile(name)
        except re.error:
            raise nova_api.fault(400, "Invalid input for query parameters name. Value: "
                                      f"{last['name']}. '{last['name']}' is not a 'regex'") \
                from None
    sort_key = last.get("sort_key", "created_at")
    if sort_key in ("host", "node") and not admin:
        raise nova_api.fault(403, "Only administrators can sort servers by host")
    if sort_key not in SORT_KEYS:
        raise nova_api.fault(400, f"Invalid input for query parameters sort_key. Value: "
                                  f"{sort_key}. '{sort_key}' is not one of "
                                  f"{sorted(SORT_KEYS)}")
    descending = last.get("sort_dir", "desc") != "asc"
    limit = int(last["limit"]) if last.get("limit") else None
    max_items = app.max_limit if limit is None else min(limit, app.max_limit)
    projects = None if all_tenants else {view.app.project_id}
    if all_tenants and (last.get("tenant_id") or last.get("project_id")):
        projects = {last.get("project_id") or last.get("tenant_id")}
    if since is not None:
        states = "all"
    elif deleted:
        states = "deleted"
    else:
        states = "soft" if admin and _bool(last.get("soft_deleted", "0")) else "live"
    conditions = (frozenset(projects) if projects else None, states,
                  frozenset(statuses) or None, last.get("name"), last.get("image"),
                  last.get("image_ref") if admin else None, last.get("flavor"), since, before,
                  last.get("locked") if mv >= (2, 73) else None, last.get("user_id"),
                  SORT_KEYS[sort_key], descending, frozenset(app.down_cells))
    rows, keys = _matching(app, conditions, name)
    start = 0
    if last.get("marker"):
        mark = app.cloud.server_by_id.get(last["marker"])
        if mark is None or mark["cell"] in app.down_cells:
            raise nova_api.fault(400, f"marker [{last['marker']}] not found")
        key = _sort_tuple(mark, SORT_KEYS[sort_key])
        start = (len(keys) - bisect.bisect_left(keys, key) if descending
                 else bisect.bisect_right(keys, key))
    page = rows[start:start + max_items] if max_items else []
    items = [view.item(kind, s) for s in page]
    if mv >= (2, 69) and set(last) <= {"all_tenants"} and app.down_cells:
        room = max_items - len(items)
        down = [s for s in app.cloud.servers_sorted if s["cell"] in app.down_cells
                and not s["deleted"] and (projects is None or s["project_id"] in projects)]
        items = [view.unknown(kind, s) for s in down[:max(room, 0)]] + items
    links = []
    if max_items and len(items) == max_items:
        collection = "servers/detail" if kind == "detail" else "servers"
        links = [{"rel": "next", "href": view.bases.next_link(
            collection, [(k, v) for k, v in asked if k != "marker"], items[-1]["id"])}]
    return _page_body(kind, items, links)


def _page_body(kind: str, items: list, links: list) -> dict:
    body = {"servers": items}
    if links:
        body["servers_links"] = links
    return body


def _time_param(last: dict, key: str) -> dt.datetime | None:
    if key not in last:
        return None
    value = last[key]
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise nova_api.fault(400, f"Invalid input for query parameters {key}. Value: {value}. "
                                  f"'{value}' is not a 'date-time'") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _bool(value: str) -> bool:
    return value.strip().lower() in ("1", "t", "true", "on", "y", "yes")


def _all_tenants(last: dict) -> bool:
    """Nova's `is_all_tenants`: present and true-ish (or empty); 400 for another word."""
    if "all_tenants" not in last:
        return False
    value = last["all_tenants"].strip().lower()
    if value not in BOOLS and value != "":
        raise nova_api.fault(400, f"Unrecognized value '{last['all_tenants']}', acceptable "
                                  f"values are: {', '.join(repr(b) for b in BOOLS)}")
    return value in TRUE


def _sort_tuple(srv: dict, field: str) -> tuple:
    value = srv.get(field)
    if value is None:
        value = NEVER if field.endswith("_at") else ""
    return value, srv["created_at"], srv["id"]


def _matching(app, conditions: tuple, name) -> tuple[list, list]:
    """The servers matching `conditions` in listing order, and their ascending sort keys
    (cached per condition set on the cloud)."""
    cache = app.cloud.cache
    hit = cache.get(conditions)
    if hit is not None:
        return hit
    (projects, states, statuses, _, image, image_ref, flavor, since, before, locked, user,
     field, descending, down) = conditions
    rows = []
    for s in app.cloud.servers:
        status = s["status"]
        if s["cell"] in down or (projects is not None and s["project_id"] not in projects):
            continue
        if states == "live" and status in ("DELETED", "SOFT_DELETED"):
            continue
        if states == "soft" and status == "DELETED":
            continue
        if states == "deleted" and status not in ("DELETED", "SOFT_DELETED"):
            continue
        if statuses is not None and status not in statuses:
            continue
        if name is not None and not name.search(s["name"] or ""):
            continue
        if image is not None and s["image_ref"] != image:
            continue
        if image_ref is not None and s["image_ref"] != image_ref:
            continue
        if flavor is not None and s["flavor"]["id"] != flavor:
            continue
        if since is not None and (s["updated_at"] is None or s["updated_at"] < since):
            continue
        if before is not None and (s["updated_at"] is None or s["updated_at"] > before):
            continue
        if locked is not None and s["locked"] != _bool(locked):
            continue
        if user is not None and s["user_id"] != user:
            continue
        rows.append(s)
    keyed = sorted(((_sort_tuple(s, field), s) for s in rows), key=lambda p: p[0])
    keys = [k for k, _ in keyed]
    rows = [s for _, s in keyed]
    if descending:
        rows.reverse()
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[conditions] = (rows, keys)
    return rows, keys
