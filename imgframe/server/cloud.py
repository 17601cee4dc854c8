"""A consistent sample cloud over an image catalogue: `sample_cloud(images, seed)`.

The servers and volumes the embedded server's Nova ``/servers``, Cinder ``/volumes`` and
Huawei ECS ``/cloudservers`` routes list (`servers_api`, `volumes_api`, `ecs_api`). Made
deterministically (``random.Random(seed)``) from the Glance-like image records of
`sample_inventory` (or any list shaped like them), so every kind of usage occurs:

* servers booted from an image (``image_ref`` = the image id; about 2% stored as a URL
  ``http://glance.example:9292/v2/images/<id>``, as old servers were, which Nova shows by
  its last segment and its ``image=`` filter never matches) and from a volume
  (``image_ref == ""``, the root volume carrying ``volume_image_metadata.image_id``);
* the server of every snapshot image (``properties.instance_uuid`` with ``image_type``
  snapshot or backup): about half alive, 15% SOFT_DELETED, 15% DELETED and the rest absent
  (never existed in this cloud);
* shelved servers (SHELVED, SHELVED_OFFLOADED) with a ``<server name>-shelved`` snapshot
  image, returned in `Cloud.images` (to add to the catalogue: `ImageServer` does);
* images used only through a volume (a bootable volume, attached or not, no server booted
  from the image), data volumes, unattached volumes;
* servers in every status Nova shows (ACTIVE, SHUTOFF, PAUSED, SUSPENDED, ERROR, BUILD,
  SOFT_DELETED, DELETED, SHELVED, SHELVED_OFFLOADED) in four projects (the served one and
  `inventory.OTHER_PROJECTS`), in two cells (``cell1``, ``cell2``; `ImageServer(down_cells=
  ("cell2",))` makes one not answer);
* a few servers whose image is in no catalogue (a deleted image): `Cloud.missing_images`.

Server record (a Nova database row, not a view)::

    {"id", "name", "project_id", "user_id", "status" (Nova's API word), "vm_state",
     "task_state", "power_state" (int), "image_ref" ("" | id | URL), "image_properties"
     (dict, what 2.98 shows), "flavor" {"id", "name", "vcpus", "ram", "disk", "ephemeral",
     "swap", "extra_specs"}, "created_at", "updated_at" (aware datetime | None),
     "launched_at", "terminated_at" (datetime | None), "deleted" (bool), "cell", "host"
     (str | None), "availability_zone", "key_name", "metadata" {str: str},
     "volumes" [{"id", "delete_on_termination", "boot_index", "device"}],
     "addresses" {net: [{"addr", "version"}]}, "locked" (bool), "tags" [str]}

Volume record (a Cinder row)::

    {"id", "name", "description", "project_id", "user_id", "status" (in-use | available |
     error), "size" (GiB), "bootable" (bool), "image_metadata" (dict of str | None),
     "attachments" [{"attachment_id", "server_id", "device", "attached_at"}],
     "created_at", "updated_at", "availability_zone", "volume_type", "metadata" {}}
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field

from imgframe.server.inventory import DEFAULT_PROJECT_ID, END, OTHER_PROJECTS, SERVER_WORDS

__all__ = ["CELLS", "Cloud", "FLAVORS", "STATES", "sample_cloud"]

UTC = dt.timezone.utc
CELLS = ("cell1", "cell2")
#: Nova API status -> (vm_state, task_state, power_state)
STATES = {
    "ACTIVE": ("active", None, 1), "SHUTOFF": ("stopped", None, 4),
    "PAUSED": ("paused", None, 3), "SUSPENDED": ("suspended", None, 7),
    "ERROR": ("error", None, 0), "BUILD": ("building", "spawning", 0),
    "SOFT_DELETED": ("soft-delete", None, 4), "DELETED": ("deleted", None, 0),
    "SHELVED": ("shelved", None, 4), "SHELVED_OFFLOADED": ("shelved_offloaded", None, 0),
}
#: statuses of ordinary servers and their weights
STATUS_WEIGHTS = (("ACTIVE", 60), ("SHUTOFF", 14), ("PAUSED", 2), ("SUSPENDED", 2),
                  ("ERROR", 4), ("BUILD", 2), ("SOFT_DELETED", 6), ("DELETED", 10))
FLAVORS = tuple(
    {"id": fid, "name": name, "vcpus": cpu, "ram": ram, "disk": disk, "ephemeral": 0,
     "swap": 0, "extra_specs": specs}
    for fid, name, cpu, ram, disk, specs in (
        ("1", "m1.tiny", 1, 512, 1, {}), ("2", "m1.small", 1, 2048, 20, {}),
        ("3", "m1.medium", 2, 4096, 40, {"hw:cpu_policy": "shared"}),
        ("4", "m1.large", 4, 8192, 80, {}), ("5", "m1.xlarge", 8, 16384, 160, {}),
        ("c3.2xlarge.2", "c3.2xlarge.2", 8, 16384, 0, {"resource_type": "IOOPTIMIZEDS"})))
#: properties Nova keeps in image.properties (2.98+): only ImageMetaProps fields
META_PROPS = ("os_distro", "architecture", "hw_disk_bus", "hw_firmware_type",
              "hw_qemu_guest_agent", "hw_scsi_model", "os_type")
BOOTABLE_STATUSES = {"active"}
PROJECT_WEIGHTS = (60, 14, 13, 13)        # served project, then OTHER_PROJECTS
IMAGE_KEYS = ("checksum", "container_format", "disk_format", "min_disk", "min_ram", "size")


@dataclass
class Cloud:
    """What `sample_cloud` makes: servers and volumes (records as in the module docstring),
    the extra images it needs (``<server>-shelved`` snapshots) and the image ids that
    servers or volumes name but no catalogue has (deleted images), with the projects."""

    servers: list[dict]
    volumes: list[dict]
    images: list[dict] = field(default_factory=list)
    missing_images: set = field(default_factory=set)
    projects: tuple = ()

    def __post_init__(self):
        self.index()

    def __repr__(self) -> str:
        return (f"Cloud(servers={len(self.servers)}, volumes={len(self.volumes)}, "
                f"images={len(self.images)}, missing_images={len(self.missing_images)})")

    def index(self) -> None:
        """Sort servers and volumes as Nova and Cinder list them (``created_at DESC, id
        DESC``) and index them by id; call again after changing `servers` or `volumes`."""
        def key(rec):
            return rec["created_at"], rec["id"]

        self.servers_sorted = sorted(self.servers, key=key, reverse=True)
        self.volumes_sorted = sorted(self.volumes, key=key, reverse=True)
        self.server_by_id = {s["id"]: s for s in self.servers}
        self.volume_by_id = {v["id"]: v for v in self.volumes}
        self.cache: dict = {}        # route modules' filter results, dropped on re-index
        if len(self.server_by_id) != len(self.servers):
            raise ValueError("server ids must be unique")


def sample_cloud(images: list[dict], seed: int = 0, *, servers: int | None = None,
                 project_id: str = DEFAULT_PROJECT_ID) -> Cloud:
    """A deterministic cloud of about `servers` servers (default: half the images, at least
    40) over `images`; same arguments, same cloud. See the module docstring."""
    rng = random.Random(seed)
    count = max(40, len(images) // 2) if servers is None else int(servers)
    if count < 0:
        raise ValueError(f"servers must be >= 0, got {count}")
    maker = _Maker(rng, images, project_id)
    maker.snapshot_servers()
    maker.ordinary(max(count - len(maker.servers), 0))
    maker.volume_only_images()
    volumes = [v for v in maker.volumes if v["id"] not in maker.gone]
    return Cloud(maker.servers, volumes, maker.shelve_images, maker.missing, maker.projects)


class _Maker:
    """Builds one cloud; each method adds one kind of server or volume."""

    def __init__(self, rng: random.Random, images: list[dict], project_id: str):
        self.rng = rng
        self.projects = (project_id, *OTHER_PROJECTS)
        self.users = {p: [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(4)]
                      for p in self.projects}
        self.by_id = {img["id"]: img for img in images}
        self.bootable = [img for img in images if img.get("status") in BOOTABLE_STATUSES
                         and not (img.get("properties") or {}).get("instance_uuid")]
        if not self.bootable:      # a tiny or odd catalogue: boot from anything active
            self.bootable = [img for img in images if img.get("status") == "active"]
        self.servers: list[dict] = []
        self.volumes: list[dict] = []
        self.shelve_images: list[dict] = []
        self.missing: set[str] = set()
        self.used: set[str] = set()          # image ids booted by some server
        self.gone: set[str] = set()          # volumes deleted with their server

    # --- helpers
    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def when(self, after: dt.datetime | None = None) -> dt.datetime:
        start = max(after or END - dt.timedelta(days=700), END - dt.timedelta(days=700))
        span = max(int((END - start).total_seconds()), 3600)
        return (start + dt.timedelta(seconds=self.rng.randrange(span))).replace(microsecond=0)

    def project(self) -> str:
        roll, total = self.rng.random() * sum(PROJECT_WEIGHTS), 0
        for project, weight in zip(self.projects, PROJECT_WEIGHTS, strict=True):
            total += weight
            if roll < total:
                return project
        return self.projects[0]

    def pick_image(self, project: str) -> dict | None:
        """An image `project` may boot (public, community, shared or its own), mostly."""
        if not self.bootable:
            return None
        for _ in range(8):
            img = self.bootable[int(self.rng.random() * len(self.bootable))]
            if img.get("visibility", "public") != "private" \
                    or img.get("owner") in (project, None):
                return img
        return img

    def server(self, status: str, project: str, name: str, image: dict | None, *,
               server_id: str | None = None, created: dt.datetime | None = None,
               volume_backed: bool = False) -> dict:
        """One server record, with its root volume when `volume_backed`."""
        rng = self.rng
        vm_state, task_state, power = STATES[status]
        after = image.get("created_at") if image is not None else None
        created = created or self.when(after if isinstance(after, dt.datetime) else None)
        launched = None if status in ("BUILD",) or (status == "ERROR" and rng.random() < .5) \
            else created + dt.timedelta(seconds=rng.randrange(20, 400),
                                        microseconds=rng.randrange(1, 10**6))
        updated = None if rng.random() < 0.03 else created + dt.timedelta(
            seconds=rng.randrange(60, 90 * 86400))
        if updated is not None:
            updated = min(updated, END + dt.timedelta(days=20))
        deleted = status == "DELETED"
        if deleted or status == "SOFT_DELETED":
            updated = updated or created + dt.timedelta(days=3)
        sid = server_id or self.uid()
        ref, props = "", {}
        if image is not None and not volume_backed:
            ref = image["id"]
            if rng.random() < 0.02:
                ref = f"http://glance.example:9292/v2/images/{image['id']}"
            props = {k: str(v) for k, v in (image.get("properties") or {}).items()
                     if k in META_PROPS and v is not None}
            self.used.add(image["id"])
        offloaded = status in ("SHELVED_OFFLOADED", "DELETED") or (status == "BUILD")
        cell = CELLS[rng.random() < 0.25]
        host = None if offloaded else f"{cell}-compute-{rng.randrange(1, 24):02d}"
        record = {
            "id": sid, "name": name, "project_id": project,
            "user_id": rng.choice(self.users[project]), "status": status,
            "vm_state": vm_state, "task_state": task_state, "power_state": power,
            "image_ref": ref, "image_properties": props,
            "flavor": dict(rng.choice(FLAVORS)), "created_at": created,
            "updated_at": updated, "launched_at": launched,
            "terminated_at": updated if deleted else None, "deleted": deleted,
            "cell": cell, "host": host,
            "availability_zone": rng.choice(("nova", "az-1", "az-2")),
            "key_name": rng.choice((None, "ops", "deploy")),
            "metadata": {"role": name.split("-")[0]} if rng.random() < 0.6 else {},
            "volumes": [], "locked": rng.random() < 0.05,
            "tags": ["prod"] if rng.random() < 0.2 else [],
            "addresses": {} if host is None else {"private": [
                {"addr": f"10.0.{rng.randrange(256)}.{rng.randrange(2, 254)}",
                 "version": 4}]},
        }
        if volume_backed:
            root = self.volume(project, record["user_id"], image, size=rng.choice((20, 40)),
                               bootable=True, created=created)
            self.attach(root, record, "/dev/vda", boot=True)
        if rng.random() < 0.25 and not deleted:
            data = self.volume(project, record["user_id"], None, size=rng.choice((10, 100)),
                               bootable=False, created=created)
            self.attach(data, record, "/dev/vdb", boot=False)
        self.servers.append(record)
        return record

    def volume(self, project: str, user: str, image: dict | None, *, size: int,
               bootable: bool, created: dt.datetime | None = None, status="available") -> dict:
        created = created or self.when()
        meta = None
        if image is not None:
            meta = {"image_id": image["id"], "image_name": str(image.get("name") or "")}
            meta.update({k: str(image[k]) for k in IMAGE_KEYS if image.get(k) is not None})
            meta.update({k: str(v) for k, v in (image.get("properties") or {}).items()
                         if v is not None and not k.startswith("__")
                         and not isinstance(v, list | dict)})
        record = {
            "id": self.uid(), "name": f"vol-{len(self.volumes):05d}", "description": None,
            "project_id": project, "user_id": user, "status": status, "size": size,
            "bootable": bootable, "image_metadata": meta, "attachments": [],
            "created_at": created,
            "updated_at": created + dt.timedelta(seconds=self.rng.randrange(5, 86400)),
            "availability_zone": "nova", "volume_type": "__DEFAULT__", "metadata": {},
        }
        self.volumes.append(record)
        return record

    def attach(self, vol: dict, server: dict, device: str, boot: bool) -> None:
        delete = boot and self.rng.random() < 0.7
        if server["deleted"]:
            # Nova deleted the server: a delete_on_termination volume went with it, the
            # others stay, detached
            if delete:
                self.gone.add(vol["id"])
            return
        vol["status"] = "in-use"
        vol["attachments"].append({"attachment_id": self.uid(), "server_id": server["id"],
                                   "device": device, "attached_at": server["created_at"]})
        server["volumes"].append({"id": vol["id"], "delete_on_termination": delete,
                                  "boot_index": 0 if boot else -1, "device": device})

    # --- the kinds
    def snapshot_servers(self) -> None:
        """The server of each snapshot/backup image: alive, soft-deleted, deleted or absent;
        then the shelved servers with their ``-shelved`` images."""
        for img in list(self.by_id.values()):
            props = img.get("properties") or {}
            sid = props.get("instance_uuid")
            if not sid or props.get("image_type") not in ("snapshot", "backup"):
                continue
            fate = self.rng.random()
            if fate >= 0.8:
                continue                                    # absent: never in this cloud
            status = ("SOFT_DELETED" if fate < 0.15 else "DELETED" if fate < 0.3
                      else self.rng.choice(("ACTIVE", "ACTIVE", "SHUTOFF")))
            owner = img.get("owner")
            project = owner if owner in self.projects else self.projects[0]
            name = str(img.get("name") or "server").rsplit("-", 2)[0]
            base = self.by_id.get(props.get("base_image_ref") or "")
            volume_backed = bool(props.get("block_device_mapping"))
            created = img["created_at"] - dt.timedelta(days=self.rng.randrange(1, 60))
            if base is None:
                base = self.pick_image(project)
            self.server(status, project, name, base, server_id=sid, created=created,
                        volume_backed=volume_backed)
        for number in range(max(2, len(self.by_id) // 100)):
            self.shelved(number)

    def shelved(self, number: int) -> None:
        status = ("SHELVED", "SHELVED_OFFLOADED")[number % 2]
        project = self.projects[0] if number < 2 else self.project()
        name = f"{self.rng.choice(SERVER_WORDS)}-shelf-{number:02d}"
        image = self.pick_image(project)
        srv = self.server(status, project, name, image)
        when = srv["updated_at"] or srv["created_at"] + dt.timedelta(days=1)
        props = {"image_type": "snapshot", "instance_uuid": srv["id"],
                 "user_id": srv["user_id"], "base_image_ref": srv["image_ref"],
                 "image_location": "snapshot", "image_state": "available",
                 "owner_id": project, **srv["image_properties"]}
        self.shelve_images.append({
            "id": self.uid(), "name": f"{name}-shelved", "status": "active",
            "created_at": when, "updated_at": when, "min_ram": 0, "min_disk": 20,
            "size": 1_073_741_824 + self.rng.randrange(1 << 30) // 512 * 512,
            "properties": props, "visibility": "private", "owner": project,
            "protected": False, "os_hidden": False, "disk_format": "qcow2",
            "container_format": "bare", "checksum": None, "os_hash_algo": None,
            "os_hash_value": None, "virtual_size": None, "tags": []})

    def ordinary(self, count: int) -> None:
        """Servers booted from images (a few from a deleted image) and from volumes."""
        statuses, weights = zip(*STATUS_WEIGHTS, strict=True)
        for i in range(count):
            project = self.projects[0] if i < 4 else self.project()
            status = statuses[i] if i < len(statuses) else self.rng.choices(statuses,
                                                                              weights)[0]
            name = f"{self.rng.choice(SERVER_WORDS)}-{i:04d}"
            roll = self.rng.random()
            if roll < 0.2 or i == 1:
                self.server(status, project, name, self.pick_image(project),
                            volume_backed=True)
            elif roll < 0.22 or i == 2:
                gone = {"id": self.uid(), "name": None, "created_at": self.when(),
                        "properties": {}}
                self.missing.add(gone["id"])
                self.server(status, project, name, gone)
            else:
                self.server(status, project, name, self.pick_image(project))

    def volume_only_images(self) -> None:
        """Bootable volumes made from images no server booted from: some attached to a
        volume-backed server, some left available; plus empty unattached volumes."""
        unused = [img for img in self.bootable if img["id"] not in self.used]
        self.rng.shuffle(unused)
        for k, img in enumerate(unused[:max(2, len(self.bootable) // 40)]):
            project = img.get("owner") if img.get("owner") in self.projects \
                else self.projects[0]
            if k % 2:
                self.volume(project, self.rng.choice(self.users[project]), img,
                            size=20, bootable=True)
            else:
                self.server("ACTIVE", project, f"from-volume-{k:03d}", img,
                            volume_backed=True)
        for _ in range(max(2, len(self.servers) // 20)):
            project = self.project()
            self.volume(project, self.rng.choice(self.users[project]), None,
                        size=self.rng.choice((1, 10, 50)), bootable=False,
                        status=self.rng.choice(("available", "available", "error")))
