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
* microversions up to 2.35 (the API is gone from 2.36);
* it has a list view (``/images``: id, name, links), the cheapest listing of every id.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any
from urllib.parse import quote

from imgframe.errors import InvalidQueryError, MalformedResponseError
from imgframe.frame import Typed, check_types, column, malformed, transposed
from imgframe.pages import Page
from imgframe.query import Endpoint, Query, check_id, format_time, split_url
from imgframe.sources.base import Source, Stream, images_of, status_streams
from imgframe.status import DISPLAY_OF

__all__ = ["MAX_MICROVERSION", "SOURCE", "NovaSource", "images_url", "link_columns",
           "links_by_rel", "parse_endpoint", "parse_microversion", "raw_status"]

MAX_MICROVERSION = (2, 35)
_NONE = type(None)

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
    if _SAVING in status:
        for i, (s, p) in enumerate(zip(status, progress, strict=True)):
            if s == _SAVING:
                out[i] = _SAVING_RAW.get(p)
    return out


#: display word -> the one API word behind it, where there is one (SAVING: by progress)
_BEHIND = {d: [raw for raw, shown in DISPLAY_OF.items() if shown == d]
           for d in set(DISPLAY_OF.values())}
_RAW_STATUS = {display: raws[0] if len(raws) == 1 else None for display, raws in _BEHIND.items()}
#: Nova shows queued and saving as one word, told apart by their progress
_SAVING_RAW = {25: "queued", 50: "saving"}
_SAVING = DISPLAY_OF["queued"]


# -- where: the compute endpoint, its version and project, and microversions ---------------

def _normalize_version(value) -> str:
    allowed = "'v2.1' or 'v2'"
    if not isinstance(value, str):
        raise InvalidQueryError("api_version", allowed, value)
    text = value.strip().lower()
    text = text if text.startswith("v") else "v" + text
    if text not in ("v2", "v2.1"):
        raise InvalidQueryError("api_version", allowed, value)
    return text


def parse_endpoint(endpoint, project_id=None, api_version="v2.1") -> Endpoint:
    """Validate the compute endpoint; accept a root or a URL ending in ``/vX[/project]``.

    >>> parse_endpoint("https://c.example:8774/v2/abc/")
    Endpoint(root='https://c.example:8774', api_version='v2', project_id='abc')
    """
    allowed = "an http(s) URL of the compute API, e.g. https://compute.example.com:8774"
    parts = split_url(endpoint, "endpoint", allowed)
    version = _normalize_version(api_version)
    segments = [s for s in parts.path.split("/") if s]
    url_project = None
    if len(segments) >= 2 and segments[-2].lower() in ("v2", "v2.1"):
        version, url_project = segments[-2].lower(), segments[-1]
        segments = segments[:-2]
    elif segments and segments[-1].lower() in ("v2", "v2.1"):
        version = segments[-1].lower()
        segments = segments[:-1]
    if url_project is not None:
        check_id(url_project, "endpoint project id")
        if project_id is not None and project_id != url_project:
            raise InvalidQueryError("project_id", f"the project in the endpoint ({url_project})",
                                    project_id, reason="it differs from the endpoint's")
        project_id = url_project
    if project_id is not None:
        check_id(project_id, "project_id")
    path = "/".join(segments)
    root = f"{parts.scheme.lower()}://{parts.netloc}" + (f"/{path}" if path else "")
    return Endpoint(root=root, api_version=version, project_id=project_id)


def parse_microversion(value) -> str | None:
    """Validate an optional compute microversion (2.1 .. 2.35); ``None`` sends no header."""
    if value is None:
        return None
    allowed = "None (send no header) or a microversion from '2.1' to '2.35'"
    if isinstance(value, float):
        # 2.10 as a float is 2.1: refuse rather than send the wrong microversion
        raise InvalidQueryError("microversion", allowed, value,
                                reason="a float loses trailing zeros (2.10 == 2.1); pass a "
                                "string like '2.10'")
    text = value.strip() if isinstance(value, str) else None
    match = re.fullmatch(r"(\d+)\.(\d+)", text or "")
    if not match:
        raise InvalidQueryError("microversion", allowed, value)
    major, minor = int(match.group(1)), int(match.group(2))
    if major != 2 or not 1 <= minor or (major, minor) > MAX_MICROVERSION:
        reason = ("the images API is removed from 2.36 on (404)"
                  if (major, minor) > MAX_MICROVERSION else None)
        raise InvalidQueryError("microversion", allowed, value, reason=reason)
    return f"{major}.{minor}"


def images_url(endpoint: Endpoint, detail: bool) -> str:
    """The list URL, e.g. ``http://h:8774/v2.1/<project>/images/detail``.

    >>> images_url(Endpoint("http://h:8774", "v2.1", "p"), False)
    'http://h:8774/v2.1/p/images'
    """
    parts = [endpoint.root, endpoint.api_version]
    if endpoint.project_id:
        parts.append(quote(endpoint.project_id, safe=""))
    parts.append("images/detail" if detail else "images")
    return "/".join(parts)


# -- links: ``links: [{rel, href}, ...]`` on every item ---------------------------------


def link_columns(links) -> dict[str, str]:
    """Flatten a ``links`` list of ``{rel, href}`` into ``{"link_<rel>": href}``.

    >>> link_columns([{"rel": "self", "href": "http://h/v2.1/p/images/1"}])
    {'link_self': 'http://h/v2.1/p/images/1'}
    """
    return {f"link_{link['rel']}": link["href"] for link in links or ()}


def links_by_rel(all_links: list, typed: bool = False) -> dict[str, list]:
    """``{"link_<rel>": [href or None per item]}`` for a page's ``links`` lists (Nova's
    ``[{rel, href}, ...]`` form; ``typed``: lists of structs with ``rel`` and ``href``
    attributes, whose types the decoder has checked)."""
    rel, href = (attrgetter("rel"), attrgetter("href")) if typed else \
        (itemgetter("rel"), itemgetter("href"))
    fast = _standard_links(all_links, rel, href)
    if fast is not None:
        return fast
    if not typed:
        check_types(all_links, "links", (list, _NONE))
    try:
        maps = [{rel(link): href(link) for link in links} if links else {}
                for links in all_links]
    except (TypeError, KeyError):
        raise malformed("links", "must be a list of {rel, href} objects") from None
    rels = set().union(*maps)
    if not typed:
        check_types(list(rels), "links rel", (str,))
    return {f"link_{r}": [m.get(r) for m in maps] for r in rels}


_BASE_RELS = ("self", "bookmark", "alternate")


def _standard_links(all_links: list, rel: Callable, href: Callable) -> dict | None:
    """Fast path: every item has exactly the links self, bookmark, alternate, in that order
    (what Nova sends): two C-level passes over all the page's links. Returns ``None`` if
    not, and the general path takes over."""
    try:
        # len() raises TypeError on null/numbers; a dict or string of length 3 fails below
        if set(map(len, all_links)) != {len(_BASE_RELS)}:
            return None
        flat = list(chain.from_iterable(all_links))
        # rel() raises on anything but a mapping / a struct (-> the general path)
        if list(map(rel, flat)) != list(_BASE_RELS) * len(all_links):
            return None
        hrefs = list(map(href, flat))   # their types are checked with the column's
    except (TypeError, KeyError, AttributeError):
        return None
    return {f"link_{name}": hrefs[pos::len(_BASE_RELS)] for pos, name in enumerate(_BASE_RELS)}


@dataclass(frozen=True)
class NovaSource(Source):
    # -- capabilities (list_view and refresh_strategy: SOURCE below) --------------------
    max_microversion = "2.35"
    versioned_endpoint = True
    request_id_headers = ("x-openstack-request-id", "x-compute-request-id")
    vanished_prefix = "HTTP 400 Bad Request: "

    def parse_endpoint(self, endpoint, project_id=None, api_version=None) -> Endpoint:
        return parse_endpoint(endpoint, project_id, api_version or "v2.1")

    def parse_microversion(self, value) -> str | None:
        return parse_microversion(value)

    def list_url(self, endpoint: Endpoint, detail: bool) -> str:
        return images_url(endpoint, detail)

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
        return status_streams(query, base, self.status_words)

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

    def typed(self, detail: bool = True, pinned_raw: str | None = None, root: str = "",
              columns: tuple[str, ...] | None = None) -> Typed | None:
        if msgspec is None:
            return None
        if columns is not None:   # a projection: structs of only the fields it needs
            needed = frozenset(f for c in ("id", *columns) for f in _NEEDS.get(c, ()))
            return _projected(detail, pinned_raw is None, needed)
        return _DETAIL if detail and pinned_raw is None else \
            _DETAIL_PINNED if detail else _LIST

    def options_from_params(self, queries: list) -> dict:
        """The ``load()`` options behind the parameters imgframe 0.1 recorded (Nova's).

        >>> SOURCE.options_from_params([{"status": "queued", "limit": "500"},
        ...                             {"status": "saving", "limit": "500"}])
        {'page_size': 500, 'status': ['SAVING']}
        """
        display_of = {raw: d for d, words in self.status_words.items() for raw in words}
        opts: dict = {}
        statuses: list[str] = []
        for q in queries:
            if "limit" in q:
                opts["page_size"] = int(q["limit"])
            if "status" in q:
                word = display_of.get(str(q["status"]).lower())
                if word is None:
                    raise InvalidQueryError("old", "a frame whose query imgframe can repeat",
                                            q["status"], reason="unknown status filter")
                if word not in statuses:
                    statuses.append(word)
            if "name" in q:
                name = q["name"]
                opts["name"] = name[3:] if name.startswith("eq:") else name
            if "changes-since" in q:
                opts["changes_since"] = q["changes-since"]
            if "minRam" in q:
                opts["min_ram"] = int(q["minRam"])
            if "minDisk" in q:
                opts["min_disk"] = int(q["minDisk"])
        if statuses:
            opts["status"] = statuses
        return opts

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
        """The columns of a page of :class:`_Image` (or of a projection of it: the columns
        of the fields it has)."""
        cols = _fields(items)
        if "server" in cols:
            servers = cols.pop("server")
            cols["server_id"] = ([s.id if s is not None else None for s in servers]
                                 if any(servers) else [None] * len(servers))
        if "links" in cols:
            cols.update(links_by_rel(cols.pop("links"), typed=True))
        if raw and "progress" in cols and "status" in cols and None not in cols["status"]:
            cols["status_raw"] = raw_status(cols["status"], cols["progress"])
        return cols

    def _summary_columns(items: list) -> dict:
        cols = _fields(items)
        if "links" in cols:
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

    @functools.cache
    def _projected(detail: bool, raw: bool, fields: frozenset) -> Typed:
        """The :class:`Typed` of a projection: structs of only ``fields`` of an image (in
        :class:`_Image`'s or :class:`_Summary`'s order; the decoder skips every other key,
        so a load without ``metadata`` never builds its dicts)."""
        base = _Image if detail else _Summary
        kept = [f for f in msgspec.structs.fields(base) if f.name in fields]
        item = msgspec.defstruct(
            f"{base.__name__}Projected", [(f.name, f.type) if f.required else
                                          (f.name, f.type, f.default) for f in kept],
            gc=False, rename={f.name: f.encode_name for f in kept if f.encode_name != f.name})
        page = msgspec.defstruct(f"{base.__name__}ProjectedPage",
                                 [("images", list[item]), ("images_links", Any, None)],
                                 gc=False)
        columns = (lambda items: _typed_columns(items, raw=raw)) if detail \
            else _summary_columns
        return Typed(item, columns, msgspec.json.Decoder(page), _typed_page)


#: the fields of an image each frame column is made of (a projection decodes only these)
_NEEDS = {"id": ("id",), "name": ("name",), "status": ("status",),
          "status_raw": ("status", "progress"), "progress": ("progress",),
          "created": ("created",), "updated": ("updated",), "min_ram": ("min_ram",),
          "min_disk": ("min_disk",), "size": ("size",), "disk_config": ("disk_config",),
          "server_id": ("server",), "metadata": ("metadata",), "link_self": ("links",),
          "link_bookmark": ("links",), "link_alternate": ("links",), "link_file": ("links",)}


SOURCE = NovaSource(
    name="nova", title="the compute images API",
    filters=frozenset({"status", "name", "changes_since", "min_ram", "min_disk"}),
    api_version="v2.1", fields=_FIELDS, list_view=True, refresh_strategy="changes")
