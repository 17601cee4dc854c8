"""Volumes as frame columns: Cinder ``GET /v3/{project_id}/volumes/detail`` items (and
Huawei EVS ``cloudvolumes/detail``, the same shape). Pure: no HTTP here.

What is particular to them (reference ``usage.md`` §2.1-2.2):

* ``volume_image_metadata`` is a flat dict of strings, **absent** (not ``{}``) when the
  volume has none; its ``image_id`` is the image this volume descends from (lineage, not
  a live link: copied onto volumes made from snapshots or other volumes): ``image_id``;
* ``bootable`` is the *string* ``"true"``/``"false"``;
* ``attachments`` list only attached ones, each with a ``server_id``: ``attached_servers``;
* the project is ``os-vol-tenant-attr:tenant_id`` (project readers see it);
* ``created_at``/``updated_at`` are naive with microseconds: UTC; ``size`` is in GiB.
"""

from __future__ import annotations

from imgframe.errors import InvalidQueryError, MalformedResponseError
from imgframe.frame import column
from imgframe.listing.resource import Resource, Stream
from imgframe.pages import Page
from imgframe.query import Endpoint, check_id, split_url
from imgframe.sources.nova import links_by_rel  # OpenStack links, as Nova sends them
from imgframe.sources.resources import ResourceBuilder, dtypes_of, empty_of, merge_by_id

__all__ = ["COLUMNS", "DTYPES", "FIELDS", "KINDS", "builder", "cinder_columns",
           "frame_from_items", "parse_endpoint", "resource"]

#: column -> kind (see :mod:`imgframe.sources.resources`); the order is the frame's
KINDS = {
    "id": "string", "name": "string", "status": "string", "project_id": "string",
    "user_id": "string", "bootable": "bool", "image_id": "string", "image_name": "string",
    "attached_servers": "list", "size": "int", "volume_type": "string", "created": "time",
    "updated": "time", "metadata": "dict", "link_self": "string", "link_bookmark": "string",
}
COLUMNS = list(KINDS)
DTYPES = dtypes_of(KINDS)
FIELDS = {"project_id": "os-vol-tenant-attr:tenant_id", "image_id":
          "volume_image_metadata.image_id", "image_name": "volume_image_metadata.image_name",
          "attached_servers": "attachments", "created": "created_at",
          "updated": "updated_at"}
_BOOLS = {"true": True, "false": False, True: True, False: False, None: None}


def _bad(field_name: str, detail: str) -> MalformedResponseError:
    return MalformedResponseError(f"malformed volumes response: {field_name} {detail}"[:300])


def _bootable(values: list) -> list:
    try:
        return [_BOOLS[v.lower() if type(v) is str else v] for v in values]
    except (KeyError, TypeError):
        odd = next(v for v in values if not (type(v) in (str, bool, type(None))
                                             and (v.lower() if type(v) is str else v) in _BOOLS))
        raise _bad("bootable", f"must be \"true\" or \"false\", got {odd!r}") from None


def _image_metadata(values: list) -> tuple[list, list]:
    ids, names = [], []
    for meta in values:
        if meta is None:
            ids.append(None)
            names.append(None)
            continue
        if type(meta) is not dict:
            raise _bad("volume_image_metadata", f"must be an object, got {meta!r}")
        ref, name = meta.get("image_id"), meta.get("image_name")
        if ref is not None and type(ref) is not str:
            raise _bad("volume_image_metadata.image_id", f"must be a string, got {ref!r}")
        ids.append(ref or None)
        names.append(name if type(name) is str else None)
    return ids, names


def _attachments(values: list) -> list:
    out = []
    for attached in values:
        if attached is None:
            out.append([])
            continue
        if type(attached) is not list or not all(type(a) is dict for a in attached):
            raise _bad("attachments", f"must be a list of objects, got {attached!r}")
        ids = [a.get("server_id") for a in attached]
        if not all(type(s) is str for s in ids):
            raise _bad("attachments", f"server_id must be a string, got {ids!r}")
        out.append(ids)
    return out


def _volume_types(values: list) -> list:
    return [v.get("name") if type(v) is dict else v for v in values]   # EVS: a name


def cinder_columns(items: list) -> dict:
    """Raw columns of a page of Cinder (or EVS) ``volumes/detail`` items."""
    image_ids, image_names = _image_metadata(column(items, "volume_image_metadata"))
    cols = {
        "id": column(items, "id"), "name": column(items, "name"),
        "status": column(items, "status"),
        "project_id": column(items, "os-vol-tenant-attr:tenant_id"),
        "user_id": column(items, "user_id"), "bootable": _bootable(column(items, "bootable")),
        "image_id": image_ids, "image_name": image_names,
        "attached_servers": _attachments(column(items, "attachments")),
        "size": column(items, "size"),
        "volume_type": _volume_types(column(items, "volume_type")),
        "created": column(items, "created_at"), "updated": column(items, "updated_at"),
        "metadata": column(items, "metadata"),
    }
    links = column(items, "links")
    if any(links):
        try:
            cols.update(links_by_rel(links))
        except MalformedResponseError as exc:
            raise _bad("links", "must be a list of {rel, href} objects") from exc
    return cols


_EXTRACT = {"cinder": cinder_columns, "evs": cinder_columns}


def builder(source: str = "cinder") -> ResourceBuilder:
    """A :class:`~imgframe.sources.resources.ResourceBuilder` of volumes pages of
    ``source`` (``cinder`` or ``evs``)."""
    if source not in _EXTRACT:
        raise ValueError(f"source must be one of {', '.join(_EXTRACT)}, got {source!r}")
    return ResourceBuilder(_EXTRACT[source], KINDS, what="volumes", fields_=FIELDS)


def frame_from_items(pages, source: str = "cinder"):
    """The typed volumes frame of pages (lists) of items, in the order given."""
    b = builder(source)
    for page in pages:
        b.add(page)
    return b.frame() if b.n else empty_of(KINDS)


# --- what the core lists (imgframe.listing.resource.Resource), for imgframe.inventory_loads

_ALLOWED = ("an http(s) URL of the block-storage API: its project endpoint "
            "(https://cinder.example.com:8776/v3/{project_id}) or its root with project_id=")


def parse_endpoint(endpoint, project_id=None) -> Endpoint:
    """Cinder's endpoint (``.../v3/{project_id}``, or ``.../v3`` or a root with
    ``project_id``), or InvalidQueryError naming ``volume_endpoint``."""
    parts = split_url(endpoint, "volume_endpoint", _ALLOWED)
    segments = [p for p in parts.path.split("/") if p]
    url_project = None
    if len(segments) >= 2 and segments[-2].lower() in ("v3", "v3.0", "v2"):
        url_project, segments = segments[-1], segments[:-2]
    elif segments and segments[-1].lower() in ("v3", "v3.0", "v2"):
        segments = segments[:-1]
    if url_project and project_id and url_project != project_id:
        raise InvalidQueryError("project_id", f"None or {url_project!r} (the project in "
                                "volume_endpoint)", project_id)
    project_id = url_project or project_id
    if project_id is None:
        raise InvalidQueryError("project_id", "a project id (Cinder lists under "
                                "/v3/{project_id}), or a volume_endpoint ending in it", None)
    check_id(project_id, "project_id")
    path = "/".join(segments)
    root = f"{parts.scheme.lower()}://{parts.netloc}" + (f"/{path}" if path else "")
    return Endpoint(root, "v3", project_id)


def _page(data) -> Page:
    if not isinstance(data, dict) or not isinstance(data.get("volumes"), list):
        keys = sorted(data)[:5] if isinstance(data, dict) else type(data).__name__
        raise MalformedResponseError(f"the JSON has no 'volumes' list (got {keys})")
    links = data.get("volumes_links") or []
    nxt = next((link.get("href") for link in links
                if isinstance(link, dict) and link.get("rel") == "next"), None)
    return Page(data["volumes"], nxt if isinstance(nxt, str) else None)


def _vanished(status: int, message: str | None, marker: str) -> bool:
    return status == 404 and bool(message) and f"Volume {marker} could not be found" in message


def resource(endpoint: Endpoint, *, all_projects: bool = False, page_size: int = 1000,
             max_items: int | None = None, marker: str | None = None,
             describe: dict | None = None) -> Resource:
    """Cinder's ``/volumes/detail`` (``all_tenants`` for ``all_projects``: an admin's every
    project; a non-admin's is ignored silently, so the loader reads the scope it got from
    the items). An unknown marker is a 404 ``Volume <id> could not be found.``"""
    params = [("limit", str(page_size))] + ([("all_tenants", "1")] if all_projects else [])
    return Resource(
        url=f"{endpoint.url}/volumes/detail", root=endpoint.root,
        streams=(Stream(tuple(params)),), page=_page,
        builder=lambda stream: builder("cinder"), merge=merge_by_id, page_size=page_size,
        max_items=max_items, marker=marker, noun="volumes",
        title="the block-storage API's volumes (Cinder /volumes/detail)",
        not_found_hint=" (check volume_endpoint: it should be Cinder's /v3/{project_id} URL)",
        vanished_marker=_vanished, describe=dict(describe or {}))
