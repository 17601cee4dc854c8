"""How Nova 34 renders servers and services (`servers_api` lists, this module draws).

`View` renders one request's servers (``/servers`` items ``{id, name, links}``, detail
items with the microversion additions of reference usage.md section 1.3, the 2.69 down-cell
construct) and `services` the ``/os-services`` list (a scheduler, a conductor per cell and
the computes hosting the cloud's servers; a down cell's as ``status: UNKNOWN`` from 2.69).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from imgframe.server import nova_api
from imgframe.server.views import LinkBases

__all__ = ["View", "isotime", "naive_time", "services"]

UTC = dt.timezone.utc
PROGRESS = {"ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"}



class View:
    """How one request renders servers: its microversion, caller and link bases."""

    def __init__(self, app, mv: tuple, admin: bool, bases: LinkBases):
        self.app, self.mv, self.admin, self.bases = app, mv, admin, bases

    def links(self, server_id: str) -> list:
        return [{"rel": "self", "href": f"{self.bases.self_base}/servers/{server_id}"},
                {"rel": "bookmark", "href": f"{self.bases.bookmark_base}/servers/{server_id}"}]

    def item(self, kind: str, s: dict) -> dict:
        if kind == "index":
            return {"id": s["id"], "name": s["name"], "links": self.links(s["id"])}
        return self.detail(s)

    def unknown(self, kind: str, s: dict) -> dict:
        """A down cell's server, as 2.69+ lists it."""
        if kind == "index":
            return {"id": s["id"], "status": "UNKNOWN", "links": self.links(s["id"])}
        return {"id": s["id"], "status": "UNKNOWN", "tenant_id": s["project_id"],
                "created": isotime(s["created_at"]), "links": self.links(s["id"])}

    def show(self, server_id: str) -> dict:
        s = self.app.cloud.server_by_id.get(server_id)
        visible = s is not None and not s["deleted"] and (
            self.admin or s["project_id"] == self.app.project_id)
        if not visible:
            raise nova_api.fault(404, f"Instance {server_id} could not be found.")
        if s["cell"] in self.app.down_cells:
            if self.mv < (2, 69):
                raise nova_api.fault(404, f"Instance {server_id} could not be found.")
            return self.unknown("detail", s)
        return self.detail(s)

    def image(self, s: dict):
        ref = s["image_ref"]
        if not ref:
            return ""
        image_id = ref.rstrip("/").rsplit("/", 1)[-1]
        out = {"id": image_id, "links": [{"rel": "bookmark",
                                          "href": f"{self.bases.bookmark_base}/images/{image_id}"}]}
        if self.mv >= (2, 98):
            out["properties"] = dict(s["image_properties"])
        return out

    def flavor(self, s: dict) -> dict:
        f = s["flavor"]
        if self.mv < (2, 47):
            return {"id": f["id"], "links": [{"rel": "bookmark", "href":
                                              f"{self.bases.bookmark_base}/flavors/{f['id']}"}]}
        return {"vcpus": f["vcpus"], "ram": f["ram"], "disk": f["disk"],
                "ephemeral": f["ephemeral"], "swap": f["swap"], "original_name": f["name"],
                "extra_specs": dict(f["extra_specs"])}

    def detail(self, s: dict) -> dict:
        mv, status = self.mv, s["status"]
        volumes = [{"id": v["id"]} if mv < (2, 3) else
                   {"id": v["id"], "delete_on_termination": v["delete_on_termination"]}
                   for v in s["volumes"]]
        host_id = hashlib.sha224((s["project_id"] + s["host"]).encode()).hexdigest() \
            if s["host"] else ""
        out = {
            "id": s["id"], "name": s["name"], "status": status,
            "tenant_id": s["project_id"], "user_id": s["user_id"],
            "metadata": dict(s["metadata"]), "hostId": host_id, "image": self.image(s),
            "flavor": self.flavor(s), "created": isotime(s["created_at"]),
            "updated": isotime(s["updated_at"] or dt.datetime.now(UTC)),
            "addresses": s["addresses"], "accessIPv4": "", "accessIPv6": "",
            "links": self.links(s["id"]), "OS-DCF:diskConfig": "MANUAL",
            "OS-EXT-AZ:availability_zone": s["availability_zone"], "config_drive": "",
            "key_name": s["key_name"], "OS-SRV-USG:launched_at": naive_time(s["launched_at"]),
            "OS-SRV-USG:terminated_at": naive_time(s["terminated_at"]),
            "OS-EXT-STS:task_state": s["task_state"], "OS-EXT-STS:vm_state": s["vm_state"],
            "OS-EXT-STS:power_state": s["power_state"],
            "os-extended-volumes:volumes_attached": volumes,
        }
        if status in PROGRESS:
            out["progress"] = 100 if status == "ACTIVE" else 0
        if status == "ERROR":
            out["fault"] = {"code": 500, "created": isotime(s["updated_at"] or s["created_at"]),
                            "message": "No valid host was found. "}
        if self.admin:
            out.update({"OS-EXT-SRV-ATTR:host": s["host"],
                        "OS-EXT-SRV-ATTR:hypervisor_hostname": s["host"] and
                        f"{s['host']}.example", "OS-EXT-SRV-ATTR:instance_name":
                        "instance-%08x" % (int(s["id"][:8], 16) & 0xFFFFFFF)})
            if mv >= (2, 3):
                out.update({"OS-EXT-SRV-ATTR:kernel_id": "", "OS-EXT-SRV-ATTR:ramdisk_id": "",
                            "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                            "OS-EXT-SRV-ATTR:reservation_id": "r-" + s["id"][:8],
                            "OS-EXT-SRV-ATTR:launch_index": 0,
                            "OS-EXT-SRV-ATTR:hostname": s["name"],
                            "OS-EXT-SRV-ATTR:user_data": None})
            if mv >= (2, 16):
                out["host_status"] = "UP" if s["host"] else ""
        for major, minor, key, value in ((2, 9, "locked", s["locked"]),
                                 (2, 19, "description", None),
                                 (2, 26, "tags", list(s["tags"])),
                                 (2, 63, "trusted_image_certificates", None),
                                 (2, 73, "locked_reason", None),
                                 (2, 90, "OS-EXT-SRV-ATTR:hostname", s["name"]),
                                 (2, 96, "pinned_availability_zone", None),
                                 (2, 100, "scheduler_hints", {})):
            if mv >= (major, minor):
                out[key] = value
        return out


def isotime(when: dt.datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def naive_time(when: dt.datetime | None) -> str | None:
    """Nova's launched_at/terminated_at: naive, with microseconds, no ``Z``."""
    return None if when is None else when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def services(app, mv: tuple) -> list[dict]:
    """Every nova service: a scheduler, a conductor per cell and the cells' computes."""
    hosts: dict[str, set] = {}
    for s in app.cloud.servers:
        if s["host"]:
            hosts.setdefault(s["cell"], set()).add(s["host"])
    rows = [("nova-scheduler", "controller", "internal", None)]
    for cell in sorted({s["cell"] for s in app.cloud.servers}):
        rows.append(("nova-conductor", f"conductor-{cell}", "internal", cell))
        rows += [("nova-compute", host, "nova", cell)
                 for host in sorted(hosts.get(cell, ()))]
    out = []
    for number, (binary, host, zone, cell) in enumerate(rows, 1):
        if cell in app.down_cells:
            if mv >= (2, 69):
                out.append({"binary": binary, "host": host, "status": "UNKNOWN"})
            continue
        item = {"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, host + binary))
                if mv >= (2, 53) else number,
                "binary": binary, "host": host, "zone": zone, "status": "enabled",
                "state": "up", "updated_at": "2026-10-31T00:00:00.000000",
                "disabled_reason": None}
        if mv >= (2, 11):
            item["forced_down"] = False
        out.append(item)
    return out
