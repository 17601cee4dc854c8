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

from dataclasses import dataclass

from imgframe.errors import InvalidQueryError, MalformedResponseError
from imgframe.frame import column
from imgframe.listing.resource import Resource, Stream
from imgframe.pages import Page
from imgframe.query import Endpoint, check_id, parse_service_endpoint, split_url
from imgframe.sources.nova import links_by_rel  # OpenStack links, as Nova sends them
from imgframe.sources.nova import parse_endpoint as parse_nova_endpoint
from imgframe.sources.resources import ResourceBuilder, dtypes_of, empty_of, merge_by_id
from imgframe.sources.servers_typed import TYPED, next_href

__all__ = ["APIS", "CELLS_MICROVERSION", "COLUMNS", "DTYPES", "EVER", "FIELDS", "KINDS",
           "LISTING_MICROVERSION", "NOT_REFERRING", "SHELVED", "SOURCES", "STATUSES", "ServersAPI",
           "builder",
           "down_items", "down_services", "ecs_columns", "frame_from_items", "listing_url",
           "nova_columns", "parse_endpoint", "probe_resource", "resource", "services_resource"]

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
#: the typed decode of a source's pages (:mod:`imgframe.sources.servers_typed`), if any
_TYPED = {"nova": TYPED, "ecs": None}


def builder(source: str = "nova") -> ResourceBuilder:
    """A :class:`~imgframe.sources.resources.ResourceBuilder` of servers pages of
    ``source`` (``nova`` or ``ecs``): item dicts, or Nova's typed structs."""
    if source not in _EXTRACT:
        raise ValueError(f"source must be one of {', '.join(_EXTRACT)}, got {source!r}")
    return ResourceBuilder(_EXTRACT[source], KINDS, what="servers", fields_=FIELDS,
                           typed=_TYPED[source])


def frame_from_items(pages, source: str = "nova"):
    """The typed servers frame of pages (lists) of items, in the order given."""
    b = builder(source)
    for page in pages:
        b.add(page)
    return b.frame() if b.n else empty_of(KINDS)


# --- what the core lists (imgframe.listing.resource.Resource), for imgframe.inventory_loads

@dataclass(frozen=True)
class ServersAPI:
    """What a servers API can do (the loader asks these, never the name): ``all_projects``
    (an admin may list every project), ``cells`` (Nova's cells, checked at 2.69),
    ``soft_delete`` (SOFT_DELETED servers exist and a ``changes-since`` listing shows
    them; without, the listing covers that state trivially), ``signing`` (Huawei AK/SK),
    ``catalog`` (the key of :data:`imgframe.cloud.SERVICES` its endpoint is found under),
    ``versioned_endpoint`` (attrs show the versioned URL with the project)."""

    name: str
    all_projects: bool
    cells: bool
    soft_delete: bool
    signing: bool
    catalog: str
    versioned_endpoint: bool


#: ``load_servers(source=...)``: the servers APIs read
APIS = {"nova": ServersAPI("nova", all_projects=True, cells=True, soft_delete=True,
                           signing=False, catalog="compute", versioned_endpoint=True),
        "ecs": ServersAPI("ecs", all_projects=False, cells=False, soft_delete=False,
                          signing=True, catalog="ecs", versioned_endpoint=False)}
SOURCES = tuple(APIS)
#: the microversion of the listing itself (2.3: an admin sees kernel_id/ramdisk_id; below
#: 2.47, so ``flavor`` still has its id)
LISTING_MICROVERSION = "2.3"
#: where the cells are checked (2.69: down-cell items and UNKNOWN services)
CELLS_MICROVERSION = "2.69"
#: ``changes-since`` of the listing that shows soft-deleted and deleted servers to anyone
EVER = "1970-01-01T00:00:00Z"
_TITLES = {"nova": "the compute API's servers (Nova /servers/detail)",
           "ecs": "Huawei ECS cloudservers"}


def parse_endpoint(endpoint, project_id=None, *, source: str = "nova") -> Endpoint:
    """The compute endpoint (Nova: a root or ``.../v2.1[/{project_id}]``; ECS: the regional
    root, ``project_id`` required), or InvalidQueryError naming ``compute_endpoint``."""
    if source == "nova":
        try:
            return parse_nova_endpoint(endpoint, project_id, "v2.1")
        except InvalidQueryError as exc:
            raise InvalidQueryError("compute_endpoint", exc.allowed, exc.given) from None
    allowed = "an http(s) URL of Huawei ECS, e.g. https://ecs.ap-southeast-1.myhuaweicloud.com"
    parts = split_url(endpoint, "compute_endpoint", allowed)
    segments = [p for p in parts.path.split("/") if p]
    if len(segments) >= 2 and segments[-2] == "v1":   # .../v1/{project_id}
        project_id = project_id or segments[-1]
        endpoint = endpoint.rstrip("/").rsplit("/", 2)[0]
    found = parse_service_endpoint(endpoint, project_id, parameter="compute_endpoint",
                                   what="Huawei ECS")
    return Endpoint(found.root, "v1", project_id)


def _nova_page(data) -> Page:
    if not isinstance(data, dict) or not isinstance(data.get("servers"), list):
        keys = sorted(data)[:5] if isinstance(data, dict) else type(data).__name__
        raise MalformedResponseError(f"the JSON has no 'servers' list (got {keys})")
    return Page(data["servers"], next_href(data.get("servers_links")))


def _nova_vanished(status: int, message: str | None, marker: str) -> bool:
    return status == 400 and bool(message) and f"marker [{marker}] not found" in message


def _ecs_vanished(status: int, message: str | None, marker: str) -> bool:
    return status == 400 and bool(message) and marker in message and "marker" in \
        message.lower()


def _headers(source: str, microversion: str | None) -> dict:
    out = {"Accept": "application/json"}
    if source == "nova" and microversion:
        out["X-OpenStack-Nova-API-Version"] = microversion
        out["OpenStack-API-Version"] = f"compute {microversion}"
    return out


def listing_url(endpoint: Endpoint, source: str = "nova") -> str:
    """Where the detailed servers listing is."""
    if source == "ecs":
        return f"{endpoint.root}/v1/{check_id(endpoint.project_id, 'project_id')}" \
               "/cloudservers/detail"
    return f"{endpoint.url}/servers/detail"


def resource(endpoint: Endpoint, *, source: str = "nova", all_projects: bool = False,
             soft_deleted: bool = True, page_size: int = 1000, max_items: int | None = None,
             marker: str | None = None, describe: dict | None = None) -> Resource:
    """The servers listing the core walks: Nova's ``/servers/detail`` (``all_tenants``
    for ``all_projects``; with ``soft_deleted`` a second stream, ``changes-since`` of
    :data:`EVER`, which shows soft-deleted and deleted servers to any caller, merged by id:
    a ``changes-since`` listing alone misses servers never updated), or ECS's
    ``cloudservers/detail`` (marker paging without next links). Nova's pages are decoded
    straight into structs (:mod:`imgframe.sources.servers_typed`) where they can be."""
    base = [("limit", str(page_size))]
    if source == "nova" and all_projects:
        base.append(("all_tenants", "1"))
    streams = [Stream(tuple(base))]
    if source == "nova" and soft_deleted:
        streams.append(Stream((*base, ("changes-since", EVER))))
    kind = "ecs" if source == "ecs" else "nova"
    return Resource(
        url=listing_url(endpoint, source), root=endpoint.root, streams=tuple(streams),
        page=_nova_page, builder=lambda stream: builder(kind), merge=merge_by_id,
        typed=lambda stream: _TYPED[kind],
        page_size=page_size, max_items=max_items, marker=marker,
        headers=_headers(source, LISTING_MICROVERSION), noun="servers",
        title=_TITLES[source], not_found_hint=" (check compute_endpoint: it should be the "
        "compute API's root or its /v2.1/{project_id} URL)" if source == "nova" else
        " (check compute_endpoint: it should be the ECS root)",
        vanished_marker=_nova_vanished if source == "nova" else _ecs_vanished,
        request_id_headers=("x-openstack-request-id", "x-compute-request-id",
                            "X-Request-Id"),
        describe=dict(describe or {}))


def _services_page(data) -> Page:
    if not isinstance(data, dict) or not isinstance(data.get("services"), list):
        raise MalformedResponseError("the JSON has no 'services' list")
    return Page(data["services"])


def services_resource(endpoint: Endpoint) -> Resource:
    """``GET /os-services`` at 2.69 (admin only, not paged): a cell that does not answer
    shows its services with ``status: UNKNOWN``."""
    return Resource(url=f"{endpoint.root}/{endpoint.api_version}/os-services",
                    root=endpoint.root, streams=(Stream(()),), page=_services_page,
                    builder=lambda stream: None, merge=merge_by_id,
                    headers=_headers("nova", CELLS_MICROVERSION), noun="services",
                    title="the compute API's os-services")


def probe_resource(endpoint: Endpoint) -> Resource:
    """A bare ``/servers/detail`` at 2.69 (no filter, no paging): servers of cells that do
    not answer come as ``status: UNKNOWN`` items without an ``image`` (in the room the
    answering cells leave in one page)."""
    return Resource(url=listing_url(endpoint), root=endpoint.root, streams=(Stream(()),),
                    page=_nova_page, builder=lambda stream: None, merge=merge_by_id,
                    headers=_headers("nova", CELLS_MICROVERSION), noun="servers",
                    title=_TITLES["nova"])


def down_items(items: list) -> list:
    """The ids of a 2.69 listing's down-cell items (UNKNOWN, no ``image`` key)."""
    return [i.get("id") for i in items
            if isinstance(i, dict) and i.get("status") == "UNKNOWN" and "image" not in i]


def down_services(services: list) -> list:
    """``binary@host`` of the services a 2.69 ``os-services`` says are UNKNOWN."""
    return [f"{s.get('binary')}@{s.get('host')}" for s in services
            if isinstance(s, dict) and s.get("status") == "UNKNOWN"]
