"""Servers as frame columns: Nova ``GET /v2.1/{project_id}/servers/detail`` items and
Huawei ECS ``GET /v1/{project_id}/cloudservers/detail`` items. Pure: no HTTP here.

What is particular to them (reference ``usage.md`` §1.2-1.5, §1.8):

* ``image`` is ``{"id", "links"}`` for a server booted from an image, the empty *string*
  ``""`` for one booted from a volume (``boot`` is then ``volume`` and ``image_id`` NA:
  its image is found through its root volume's ``volume_image_metadata``), and absent
  for the ``status: UNKNOWN`` construct a 2.69+ listing gives for a server in a cell that
  does not answer (``boot`` NA). ``image_id`` is the id Nova *displays* (it parses an
  image reference stored as a URL): the key usage joins on;
* ``status`` is kept as Nova's word (SOFT_DELETED, SHELVED_OFFLOADED, DELETED, UNKNOWN...);
* ``OS-SRV-USG:launched_at`` is naive with microseconds: it is UTC;
* ``flavor`` is ``{"id", "links"}`` before 2.47 and ``{"original_name", ...}`` (no id)
  from 2.47: the column holds the id, else the original name;
* ``os-extended-volumes:volumes_attached`` is ``[{"id", ...}]``; Nova does not say which
  is the root disk, Huawei does (``bootIndex`` ``"0"``: ``root_volume_id``);
* an admin (2.3+) sees ``OS-EXT-SRV-ATTR:kernel_id``/``ramdisk_id``: images these
  servers still use;
* ECS items carry ``tenant_id``, ``image: {"id"}``, a ``flavor: {"id", "name"}`` and
  ``metadata`` (``metering.image_id`` among them); no ``links``.
"""

from __future__ import annotations

from imgframe.errors import MalformedResponseError
from imgframe.frame import column
from imgframe.sources.nova import links_by_rel  # OpenStack links, as Nova sends them
from imgframe.sources.resources import ResourceBuilder, dtypes_of, empty_of

__all__ = ["COLUMNS", "DTYPES", "FIELDS", "KINDS", "NOT_REFERRING", "SHELVED", "STATUSES",
           "builder", "ecs_columns", "frame_from_items", "nova_columns"]

#: column -> kind (see :mod:`imgframe.sources.resources`); the order is the frame's
KINDS = {
    "id": "string", "name": "string", "status": "string", "project_id": "string",
    "user_id": "string", "image_id": "string", "boot": "string", "root_volume_id": "string",
    "flavor": "string", "kernel_id": "string", "ramdisk_id": "string", "created": "time",
    "updated": "time", "launched_at": "time", "volume_ids": "list", "metadata": "dict",
    "link_self": "string", "link_bookmark": "string",
}
COLUMNS = list(KINDS)
DTYPES = dtypes_of(KINDS)
#: frame column -> the API's field, for error messages
FIELDS = {"project_id": "tenant_id", "image_id": "image.id", "boot": "image",
          "launched_at": "OS-SRV-USG:launched_at", "volume_ids": "os-extended-volumes:"
          "volumes_attached", "kernel_id": "OS-EXT-SRV-ATTR:kernel_id",
          "ramdisk_id": "OS-EXT-SRV-ATTR:ramdisk_id", "flavor": "flavor",
          "root_volume_id": "os-extended-volumes:volumes_attached"}

#: Nova's display statuses (``nova/api/openstack/common.py`` ``_STATE_MAP``)
STATUSES = ("ACTIVE", "BUILD", "DELETED", "ERROR", "HARD_REBOOT", "MIGRATING", "PASSWORD",
            "PAUSED", "REBOOT", "REBUILD", "RESCUE", "RESIZE", "REVERT_RESIZE", "SHELVED",
            "SHELVED_OFFLOADED", "SHUTOFF", "SOFT_DELETED", "SUSPENDED", "UNKNOWN",
            "VERIFY_RESIZE")
#: statuses of servers that no longer use anything (every other one does)
NOT_REFERRING = frozenset({"DELETED"})
#: statuses whose ``<name>-shelved`` image Nova needs to unshelve
SHELVED = frozenset({"SHELVED", "SHELVED_OFFLOADED"})


def _bad(field_name: str, detail: str) -> MalformedResponseError:
    return MalformedResponseError(f"malformed servers response: {field_name} {detail}"[:300])


def _images(items: list) -> tuple[list, list]:
    """``(image_id, boot)`` per item, from ``image`` (object, ``""`` or absent)."""
    ids, boots = [], []
    for item in items:
        image = item.get("image", None)
        if type(image) is dict:
            ref = image.get("id")
            if ref is not None and type(ref) is not str:
                raise _bad("image.id", f"must be a string, got {ref!r}")
            ids.append(ref or None)
            boots.append("image" if ref else "volume")
        elif image == "":   # booted from a volume: the image is its root volume's
            ids.append(None)
            boots.append("volume")
        elif image is None:   # a down cell's construct (no key), or null
            ids.append(None)
            boots.append(None)
        else:
            raise _bad("image", f"must be an object or an empty string, got {image!r}")
    return ids, boots


def _flavors(values: list) -> list:
    out = []
    for flavor in values:
        if flavor is None or type(flavor) is str:
            out.append(flavor)
        elif type(flavor) is dict:
            name = flavor.get("id", flavor.get("original_name", flavor.get("name")))
            out.append(None if name is None else str(name))
        else:
            raise _bad("flavor", f"must be an object, got {flavor!r}")
    return out


def _volumes(values: list) -> tuple[list, list]:
    """``(volume ids, root volume id)`` per item from ``volumes_attached``."""
    ids, roots = [], []
    for attached in values:
        if attached is None:
            ids.append([])
            roots.append(None)
            continue
        if type(attached) is not list or not all(type(a) is dict for a in attached):
            raise _bad("os-extended-volumes:volumes_attached",
                       f"must be a list of objects, got {attached!r}")
        ids.append([a.get("id") for a in attached])
        roots.append(next((a.get("id") for a in attached
                           if str(a.get("bootIndex", "")) == "0"), None))
    for vols in ids:
        if not all(type(v) is str for v in vols):
            raise _bad("os-extended-volumes:volumes_attached", f"ids must be strings, got {vols!r}")
    return ids, roots


def _links(items: list) -> dict:
    links = column(items, "links")
    if not any(links):
        return {}
    try:
        return links_by_rel(links)
    except MalformedResponseError as exc:
        raise _bad("links", "must be a list of {rel, href} objects") from exc


def nova_columns(items: list) -> dict:
    """Raw columns of a page of Nova ``/servers/detail`` items."""
    image_ids, boots = _images(items)
    volume_ids, roots = _volumes(column(items, "os-extended-volumes:volumes_attached"))
    cols = {
        "id": column(items, "id"), "name": column(items, "name"),
        "status": column(items, "status"), "project_id": column(items, "tenant_id"),
        "user_id": column(items, "user_id"), "image_id": image_ids, "boot": boots,
        "root_volume_id": roots, "flavor": _flavors(column(items, "flavor")),
        "kernel_id": column(items, "OS-EXT-SRV-ATTR:kernel_id"),
        "ramdisk_id": column(items, "OS-EXT-SRV-ATTR:ramdisk_id"),
        "created": column(items, "created"), "updated": column(items, "updated"),
        "launched_at": column(items, "OS-SRV-USG:launched_at"),
        "volume_ids": volume_ids, "metadata": column(items, "metadata"),
    }
    for key in ("kernel_id", "ramdisk_id"):   # "" where the server has none
        cols[key] = [v or None for v in cols[key]]
    cols.update(_links(items))
    return cols


def ecs_columns(items: list) -> dict:
    """Raw columns of a page of Huawei ECS ``cloudservers/detail`` items (``ServerDetail``):
    Nova's shape, plus ``bootIndex`` on attached volumes; ``metering.image_id`` in
    ``metadata`` stands in for an ``image`` the item lacks."""
    cols = nova_columns(items)
    metas = cols["metadata"]
    for i, ref in enumerate(cols["image_id"]):
        meta = metas[i]
        if ref is None and type(meta) is dict and meta.get("metering.image_id"):
            cols["image_id"][i] = meta["metering.image_id"]
            cols["boot"][i] = "image"
    return cols


_EXTRACT = {"nova": nova_columns, "ecs": ecs_columns}


def builder(source: str = "nova") -> ResourceBuilder:
    """A :class:`~imgframe.sources.resources.ResourceBuilder` of servers pages of
    ``source`` (``nova`` or ``ecs``)."""
    if source not in _EXTRACT:
        raise ValueError(f"source must be one of {', '.join(_EXTRACT)}, got {source!r}")
    return ResourceBuilder(_EXTRACT[source], KINDS, what="servers", fields_=FIELDS)


def frame_from_items(pages, source: str = "nova"):
    """The typed servers frame of pages (lists) of items, in the order given."""
    b = builder(source)
    for page in pages:
        b.add(page)
    return b.frame() if b.n else empty_of(KINDS)
