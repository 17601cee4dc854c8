"""Huawei ECS ``GET /v1/{project_id}/cloudservers/detail`` ("Querying Details About ECSs",
SDK `ListServersDetails`), at ``{ImageServer.ecs_endpoint}`` (``{url}/ecs``), over
`ImageServer.cloud`'s servers.

As documented (reference usage.md section 1.8; nothing was sent to Huawei):

* answer ``{"count": <total matching>, "servers": [ServerDetail]}``, newest first;
* paging: ``limit`` (default 25, at most 1000; more is 403 as the "Querying Data in Pages"
  page says) and ``offset`` as a **page number** (default 1; 0 is 1), or ``marker`` (the
  last server id; the current docs' way; it wins over ``offset``; an unknown one is 400);
  no next link;
* filters: ``name`` (fuzzy: a regex search), ``status`` (Nova's words; ``DELETED`` lists
  deleted servers for an admin and is 403 for others), ``flavor`` (flavor id),
  ``server_id=a,b`` (at most 100 ids; ignores every other filter; an unknown id comes
  back as ``{"id", "fault"}``); other parameters are ignored;
* scope: the caller's project only; deleted servers only through ``status=DELETED``;
  decision: SOFT_DELETED servers are never listed (Huawei documents no soft delete) and
  Nova's cells do not exist here (`ImageServer.down_cells` does not apply);
* items (``model/server_detail.py``): ``image: {"id"}`` (for a server booted from a volume,
  the boot volume's ``volume_image_metadata.image_id``, as ECS names the image of the
  system disk; ``""`` when it has none), ``flavor`` with string numbers, ``metadata`` with
  ``metering.image_id``, ``metering.imagetype``, ``image_name``, ``os_type``, ``os_bit``,
  ``charging_mode``, ``vpc_id``, ``os-extended-volumes:volumes_attached`` with
  ``bootIndex`` ("0" = boot disk, "-1") and ``device``, ``enterprise_project_id``,
  ``sys_tags``, ``tags``, ``locked``; times as Nova's (``created`` with ``Z``,
  ``OS-SRV-USG:launched_at`` naive with microseconds);
* auth: ``X-Auth-Token`` or an AK/SK signature, as IMS (`ims_api.auth_problem`); errors
  ``{"error": {"code": "Ecs.XXXX", "message"}}`` (decision: the codes are not documented
  per case), gateway errors as IMS's; faults as for images.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from urllib.parse import parse_qsl

from imgframe.server.http import Response
from imgframe.server.ims_api import auth_problem

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "handle"]

UTC = dt.timezone.utc
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
IMAGETYPES = {"public": "gold", "community": "gold", "private": "private", "shared": "shared"}


class ECSError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _gateway(status: int, code: str, message: str, request_id: str, headers: list) -> Response:
    body = {"error_msg": message, "error_code": code, "request_id": request_id}
    return Response(status, json.dumps(body).encode(), headers=headers)


def handle(req, method: str, segments: list[str], query: str) -> Response:
    """One request under ``/ecs`` (`segments` exclude ``ecs``)."""
    request_id = uuid.uuid4().hex
    headers = [("X-Request-Id", request_id)]
    app = req.app
    if (app.cloud is None or len(segments) != 4 or segments[0] != "v1"
            or segments[2:] != ["cloudservers", "detail"]):
        return _gateway(404, "APIGW.0101", "The API does not exist or has not been "
                        "published in the environment", request_id, headers)
    if method not in ("GET", "HEAD"):
        return _gateway(405, "APIGW.0102", "The API method is not allowed", request_id,
                        headers)

    def work():
        problem = auth_problem(req, query)
        if problem:
            return _gateway(401, "APIGW.0301", "Incorrect IAM authentication information: "
                            f"{problem}", request_id, headers)
        if segments[1] != app.project_id:
            return _gateway(403, "APIGW.0302", "The IAM or AK/SK authentication failed: "
                            "project id does not match", request_id, headers)
        try:
            body = list_servers(app, query, app.is_admin(req.headers.get("X-Auth-Token")))
        except ECSError as exc:
            err = {"error": {"code": exc.code, "message": exc.message}}
            return Response(exc.status, json.dumps(err).encode(), headers=headers)
        return Response(200, json.dumps(body).encode(), headers=headers)

    def fail(action, faults):
        if action == 429:
            return _gateway(429, "APIGW.0308", "The throttling threshold has been reached: "
                            "policy user over ratelimit,limit:100,time:1 minute", request_id,
                            headers + [("Retry-After", str(faults.retry_after))])
        if action == 500:
            err = {"error": {"code": "Ecs.0000", "message": "Internal server error."}}
            return Response(500, json.dumps(err).encode(), headers=headers)
        return _gateway(action, "APIGW.0201", "Request error", request_id, headers)

    return req.images_call(work, fail)


def _integer(params: dict, key: str, default: int) -> int:
    value = params.get(key)
    if value in (None, ""):
        return default
    if not value.isdigit():
        raise ECSError(400, "Ecs.0005", f"Invalid {key}: {value}")
    return int(value)


def list_servers(app, query: str, admin: bool) -> dict:
    """The body of ``GET /v1/{project_id}/cloudservers/detail?<query>``."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    limit = _integer(params, "limit", DEFAULT_LIMIT)
    if limit > MAX_LIMIT:
        raise ECSError(403, "Ecs.0005", f"limit must be at most {MAX_LIMIT}, got {limit}")
    page = max(_integer(params, "offset", 1), 1)
    cloud = app.cloud
    if params.get("server_id"):
        ids = params["server_id"].split(",")
        if len(ids) > 100:
            raise ECSError(400, "Ecs.0005", "server_id names more than 100 servers")
        out = []
        for sid in ids:
            s = cloud.server_by_id.get(sid)
            if s is None or s["project_id"] != app.project_id or s["status"] in (
                    "DELETED", "SOFT_DELETED"):
                out.append({"id": sid, "fault": {"code": 404, "message":
                                                 f"Instance {sid} could not be found."}})
            else:
                out.append(_detail(app, s))
        return {"count": len(out), "servers": out}
    status = params.get("status", "").upper() or None
    if status == "DELETED" and not admin:
        raise ECSError(403, "Ecs.0003", "Only administrators may list deleted servers")
    rows, position = _matching(app, status, params.get("name") or None, params.get("flavor"))
    if params.get("marker"):
        if params["marker"] not in position:
            raise ECSError(400, "Ecs.0005", f"Invalid marker: {params['marker']}")
        start = position[params["marker"]] + 1
    else:
        start = (page - 1) * limit
    return {"count": len(rows),
            "servers": [_detail(app, s) for s in rows[start:start + limit]]}


def _matching(app, status: str | None, name_text: str | None, flavor: str | None):
    """The project's servers matching the filters, newest first, and each one's position
    (cached on the cloud per filter set)."""
    key = ("ecs", app.project_id, status, name_text, flavor)
    hit = app.cloud.cache.get(key)
    if hit is not None:
        return hit
    name = None
    if name_text:
        try:
            name = re.compile(name_text)
        except re.error:
            name = re.compile(re.escape(name_text))
    rows = []
    for s in app.cloud.servers_sorted:
        if s["project_id"] != app.project_id or s["status"] == "SOFT_DELETED":
            continue
        if (status or "") != "DELETED" and s["status"] == "DELETED":
            continue
        if status is not None and s["status"] != status:
            continue
        if name is not None and not name.search(s["name"] or ""):
            continue
        if flavor is not None and s["flavor"]["id"] != flavor:
            continue
        rows.append(s)
    hit = rows, {s["id"]: i for i, s in enumerate(rows)}
    if len(app.cloud.cache) >= 64:
        app.cloud.cache.clear()
    app.cloud.cache[key] = hit
    return hit


def _isotime(when: dt.datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _naive(when: dt.datetime | None) -> str:
    return "" if when is None else when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _image_id(app, s: dict) -> str:
    if s["image_ref"]:
        return s["image_ref"].rstrip("/").rsplit("/", 1)[-1]
    for attached in s["volumes"]:
        vol = app.cloud.volume_by_id.get(attached["id"])
        if attached["boot_index"] == 0 and vol and vol["image_metadata"]:
            return vol["image_metadata"]["image_id"]
    return ""


def _detail(app, s: dict) -> dict:
    """One ``ServerDetail``."""
    image_id = _image_id(app, s)
    image = app.catalog.get(image_id) if image_id else None
    props = (image or {}).get("properties") or {}
    flavor = s["flavor"]
    metadata = {"metering.image_id": image_id,
                "metering.imagetype": IMAGETYPES.get((image or {}).get("visibility"),
                                                     "private"),
                "metering.resourcespeccode": flavor["name"], "image_name":
                str((image or {}).get("name") or ""), "os_bit": "64",
                "os_type": props.get("__os_type", "Linux"), "charging_mode": "0",
                "vpc_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, s["project_id"])),
                **s["metadata"]}
    addresses = {net: [{**a, "OS-EXT-IPS:type": "fixed",
                        "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:%02x:%02x:%02x" % tuple(
                            int(s["id"][i:i + 2], 16) for i in (0, 2, 4))} for a in addrs]
                 for net, addrs in s["addresses"].items()}
    return {
        "id": s["id"], "name": s["name"], "status": s["status"],
        "tenant_id": s["project_id"], "user_id": s["user_id"],
        "image": {"id": image_id}, "created": _isotime(s["created_at"]),
        "updated": _isotime(s["updated_at"] or s["created_at"]),
        "flavor": {"id": flavor["id"], "name": flavor["name"], "disk": str(flavor["disk"]),
                   "vcpus": str(flavor["vcpus"]), "ram": str(flavor["ram"])},
        "metadata": metadata, "addresses": addresses,
        "os-extended-volumes:volumes_attached": [
            {"id": v["id"], "delete_on_termination":
             "true" if v["delete_on_termination"] else "false",
             "bootIndex": str(v["boot_index"]), "device": v["device"]}
            for v in s["volumes"]],
        "OS-SRV-USG:launched_at": _naive(s["launched_at"]),
        "OS-SRV-USG:terminated_at": _naive(s["terminated_at"]),
        "OS-EXT-STS:vm_state": s["vm_state"], "OS-EXT-STS:task_state": s["task_state"],
        "OS-EXT-STS:power_state": s["power_state"],
        "OS-EXT-AZ:availability_zone": s["availability_zone"],
        "OS-EXT-SRV-ATTR:host": s["host"] or "", "OS-DCF:diskConfig": "MANUAL",
        "hostId": "", "key_name": s["key_name"], "config_drive": "", "progress": 0,
        "accessIPv4": "", "accessIPv6": "", "description": "", "fault": None,
        "security_groups": [{"name": "default"}], "locked": s["locked"],
        "enterprise_project_id": "0", "tags": list(s["tags"]),
        "sys_tags": [{"key": "_sys_enterprise_project_id", "value": "0"}],
        "host_status": "UP" if s["host"] else "UNKNOWN",
    }
