"""Nova's compute images proxy: ``GET /v2[.1]/{project_id}/images[/detail]``. Pure.

Huawei ECS serves it too, and calls it discarded. What is particular to it:

* **status** is compared with *Glance's* words, so one displayed status can need several
  streams: ``SAVING`` is Glance ``queued`` and ``saving`` (merged in Nova's order);
* filters ``name`` (exact; ``eq:`` when it has a ``:``), ``status``, ``changes-since``
  (inclusive), ``minRam``/``minDisk`` (exact matches, not minimums);
* the next marker is in ``images_links[rel=next].href`` (absolute, possibly naming the
  wrong host behind a proxy: only its marker is used);
* a vanished marker is a 400 ``No image found with ID <marker>``;
* items carry the display ``status`` and a ``progress`` (queued 25, saving 50), so the API's
  own word (``status_raw``) is recovered where it is unambiguous; visibility, owner,
  formats, checksums, tags and hidden images are not exposed (NA);
* microversions up to 2.35 (the API is gone from 2.36).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Any

from imgframe.errors import MalformedResponseError
from imgframe.frame import Typed, column, links_by_rel, transposed
from imgframe.pages import Page
from imgframe.query import Endpoint, Query, format_time, parse_endpoint
from imgframe.sources.base import Source, Stream, images_of, status_streams

__all__ = ["SOURCE", "NovaSource", "raw_status"]

_FIELDS = {
    "min_ram": "minRam", "min_disk": "minDisk", "size": "OS-EXT-IMG-SIZE:size",
    "server_id": "server.id", "disk_config": "OS-DCF:diskConfig",
}
_SERVER_TYPES = (dict, type(None))


def raw_status(status: list, progress: list) -> list:
    """Glance's word behind Nova's display status where it is unambiguous, else None.

    >>> raw_status(["SAVING", "SAVING", "ACTIVE", "ERROR", "UNKNOWN"], [25, 50, 100, 0, 0])
    ['queued', 'saving', 'active', 'killed', None]
    """
    if len(status) != len(progress):
        raise ValueError("status and progress differ in length")
    out = list(map(_RAW_STATUS.get, status))   # one C-level pass; SAVING is fixed below
    if "SAVING" in status:
        for i, (s, p) in enumerate(zip(status, progress, strict=True)):
            if s == "SAVING":
                out[i] = _SAVING_RAW.get(p)
    return out


_RAW_STATUS = {"ACTIVE": "active", "ERROR": "killed", "SAVING": None}
_SAVING_RAW = {25: "queued", 50: "saving"}


@dataclass(frozen=True)
class NovaSource(Source):
    # -- capabilities -------------------------------------------------------------------
    list_view = True
    max_microversion = "2.35"
    versioned_endpoint = True
    request_id_headers = ("x-openstack-request-id", "x-compute-request-id")
    vanished_prefix = "HTTP 400 Bad Request: "

    def parse_endpoint(self, endpoint, project_id=None, api_version=None) -> Endpoint:
        return parse_endpoint(endpoint, project_id, api_version or "v2.1")

    def list_url(self, endpoint: Endpoint, detail: bool) -> str:
        return endpoint.images_url(detail)

    def headers(self, microversion):
        out = {"Accept": "application/json"}
        if microversion:
            out["X-OpenStack-Nova-API-Version"] = microversion
            out["OpenStack-API-Version"] = f"compute {microversion}"
        return out

    def check(self, query: Query) -> None:
        if query.hidden is False:   # what Nova lists anyway: Glance's default hides them
            query = replace(query, hidden=None)
        super().check(query)

    def streams(self, query: Query) -> list[Stream]:
        base: list[tuple[str, str]] = []
        if query.name is not None:
            base.append(("name", f"eq:{query.name}" if ":" in query.name else query.name))
        if query.changes_since is not None:
            base.append(("changes-since", format_time(query.changes_since)))
        if query.min_ram is not None:
            base.append(("minRam", str(query.min_ram)))
        if query.min_disk is not None:
            base.append(("minDisk", str(query.min_disk)))
        base.append(("limit", str(query.page_size)))
        return status_streams(query, base)

    def page(self, data) -> Page:
        images = images_of(data)
        return Page(images, _next_href(data.get("images_links")))

    def extract(self, detail: bool = True, pinned_raw: str | None = None, root: str = ""):
        def detail_columns(items: list) -> dict:
            cols = {"id": column(items, "id"), "name": column(items, "name"),
                    "status": column(items, "status"), "progress": column(items, "progress"),
                    "created": column(items, "created"), "updated": column(items, "updated")}
            for col, key in _FIELDS.items():
                if col not in ("server_id",):
                    cols[col] = column(items, key)
            servers = column(items, "server")
            if not set(map(type, servers)).issubset(_SERVER_TYPES):
                odd = next(s for s in servers if type(s) not in _SERVER_TYPES)
                raise MalformedResponseError(
                    f"malformed images response: server must be an object or null, "
                    f"got {odd!r}"[:300])
            cols["server_id"] = ([s.get("id") if s else None for s in servers]
                                 if any(servers) else [None] * len(servers))
            cols["metadata"] = column(items, "metadata")
            cols.update(links_by_rel(column(items, "links")))
            if pinned_raw is None:
                statuses, progress = cols["status"], cols["progress"]
                if set(map(type, statuses)) <= {str}:
                    cols["status_raw"] = raw_status(statuses, progress)
            return cols

        def list_columns(items: list) -> dict:
            cols = {"id": column(items, "id"), "name": column(items, "name")}
            cols.update(links_by_rel(column(items, "links")))
            return cols

        return detail_columns if detail else list_columns

    def typed(self, detail: bool = True, pinned_raw: str | None = None,
              root: str = "") -> Typed | None:
        if msgspec is None:
            return None
        return _DETAIL if detail and pinned_raw is None else \
            _DETAIL_PINNED if detail else _LIST

    def not_found_hint(self, microversion):
        if microversion:
            return (f" (microversion {microversion} was sent; the images API exists only up "
                    f"to 2.35)")
        return " (check the endpoint: it should be the compute API root or .../v2.1/<project>)"


def _next_href(links) -> str | None:
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("rel") == "next" \
                and isinstance(link.get("href"), str):
            return link["href"]
    return None


# -- typed pages: a detail page straight into structs of the fields the frame needs -------

try:
    import msgspec
except ImportError:  # pragma: no cover - a core dependency; the general way still works
    msgspec = None

if msgspec is not None:
    class _Link(msgspec.Struct, gc=False):
        rel: str
        href: str

    class _Server(msgspec.Struct, gc=False):
        id: str | None = None

    class _Image(msgspec.Struct, gc=False, rename={k: v for k, v in _FIELDS.items()
                                                   if k != "server_id"}):
        id: str
        name: str | None = None
        status: str | None = None
        progress: int | None = None
        created: str | None = None
        updated: str | None = None
        min_ram: int | None = None
        min_disk: int | None = None
        size: int | None = None
        disk_config: str | None = None
        server: _Server | None = None
        metadata: dict | None = None
        links: list[_Link] | None = None

    class _Summary(msgspec.Struct, gc=False):   # the list view (detail=False)
        id: str
        name: str | None = None
        links: list[_Link] | None = None

    class _DetailPage(msgspec.Struct, gc=False):
        images: list[_Image]
        images_links: Any = None

    class _ListPage(msgspec.Struct, gc=False):
        images: list[_Summary]
        images_links: Any = None

    def _fields(items: list) -> dict:
        """``{field: [value per item]}`` of a (non-empty) page of one struct type: one
        C-level ``astuple`` an item and one transposition (half the time of a 13-field
        ``attrgetter`` an item, which looks each attribute up by name)."""
        return transposed(type(items[0]).__struct_fields__,
                          map(msgspec.structs.astuple, items))

    def _typed_columns(items: list, raw: bool = True) -> dict:
        cols = _fields(items)
        servers = cols.pop("server")
        cols["server_id"] = ([s.id if s is not None else None for s in servers]
                             if any(servers) else [None] * len(servers))
        cols.update(links_by_rel(cols.pop("links"), typed=True))
        if raw and None not in cols["status"]:
            cols["status_raw"] = raw_status(cols["status"], cols["progress"])
        return cols

    def _summary_columns(items: list) -> dict:
        cols = _fields(items)
        cols.update(links_by_rel(cols.pop("links"), typed=True))
        return cols

    def _typed_page(decoded) -> Page:
        images = decoded.images
        return Page(images, _next_href(decoded.images_links),
                    ids=list(map(attrgetter("id"), images)))

    _DETAIL = Typed(_Image, _typed_columns, msgspec.json.Decoder(_DetailPage), _typed_page)
    _DETAIL_PINNED = Typed(_Image, lambda items: _typed_columns(items, raw=False),
                           _DETAIL.decoder, _typed_page)
    _LIST = Typed(_Summary, _summary_columns, msgspec.json.Decoder(_ListPage), _typed_page)


SOURCE = NovaSource(
    name="nova", title="the compute images API",
    filters=frozenset({"status", "name", "changes_since", "min_ram", "min_disk"}),
    api_version="v2.1", fields=_FIELDS)
