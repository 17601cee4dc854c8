"""What every source module provides, with the defaults most APIs share. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from itertools import repeat
from typing import ClassVar

from imgframe.errors import InvalidQueryError, MalformedResponseError
from imgframe.frame import FrameBuilder, Typed
from imgframe.listing.resource import Resource, Stream
from imgframe.merge import MERGE_COLUMNS, merge_frames
from imgframe.pages import Page
from imgframe.query import Endpoint, Query, format_time, parse_service_endpoint
from imgframe.status import LISTED

__all__ = ["Source", "Stream", "absolute", "glance_base_columns", "images_of", "status_streams",
           "take_columns"]


@dataclass(frozen=True)
class Source:
    """How one images API is listed. Subclasses override what differs.

    ``filters`` are the :func:`~imgframe.query.build_query` filters this API can apply;
    anything else given is refused before a request is sent (:meth:`check`).
    ``partition_key``: see :mod:`imgframe.listing.ranges` (None: one walk per stream).
    ``until_empty``: the API has no reliable end signal (no next link, an undocumented
    page-size cap), so paging continues until an empty page.
    """

    name: str = ""
    title: str = ""
    filters: frozenset = frozenset()
    until_empty: bool = False
    api_version: str = "v2"
    fields: dict = field(default_factory=dict)   # frame column -> the API's field name
    #: the item's creation-time key when the API lists it descending and filters it with
    #: ``lt:`` (so a load can run concurrent streams over time ranges: listing.ranges)
    partition_key: str | None = None

    # -- where --------------------------------------------------------------------------
    def parse_endpoint(self, endpoint, project_id=None, api_version=None) -> Endpoint:
        return parse_service_endpoint(endpoint, project_id, parameter="endpoint",
                                      what=self.title)

    def list_url(self, endpoint: Endpoint, detail: bool) -> str:
        raise NotImplementedError

    def headers(self, microversion: str | None) -> dict:
        return {"Accept": "application/json"}

    # -- what to send -------------------------------------------------------------------
    def check(self, query: Query) -> None:
        """Refuse, naming this source, a filter it cannot apply."""
        missing = [s for s in query.statuses if s not in self.status_words]
        if missing:
            raise InvalidQueryError("status", f"{' or '.join(self.status_words)} ({self.title} "
                                    "lists no other status)", list(query.statuses),
                                    reason=f"{self.title} has no status behind {missing[0]}")
        for name, value in query.filter_items():
            if name not in self.filters:
                raise InvalidQueryError(name, f"None: {self.title} cannot filter by {name} "
                                        f"(it filters by {', '.join(sorted(self.filters))})",
                                        value)

    def streams(self, query: Query) -> list[Stream]:
        raise NotImplementedError

    # -- what comes back ----------------------------------------------------------------
    def page(self, data) -> Page:
        raise NotImplementedError

    def extract(self, detail: bool = True, pinned_raw: str | None = None, root: str = ""):
        """``items -> {column: values}`` for this API's items. The items are the page's
        own dicts (decoded by imgframe, used by nothing after): a mapping may take values
        out of them and keep what is left (Glance's and IMS's ``metadata``);
        :func:`~imgframe.frame.frame_from_pages` hands it copies of a caller's."""
        raise NotImplementedError

    def typed(self, detail: bool = True, pinned_raw: str | None = None, root: str = "",
              columns: tuple[str, ...] | None = None) -> Typed | None:
        """Optionally, a faster way to the same columns: a :class:`~imgframe.frame.Typed`
        whose ``decoder`` turns a page's body straight into structs of only the fields the
        frame needs (``columns``: a projection needs fewer; the decoder skips the rest),
        type-checked as they are decoded, and whose ``page`` makes the :class:`Page` of
        that (with its ``ids``). A body the decoder refuses goes the general way (JSON,
        :meth:`page`, :meth:`extract`), which names what is wrong. The two ways must give
        the same frame (``tests/test_typed.py``). None: only the general way."""
        return None

    def builder(self, detail: bool = True, pinned=(None, None), root: str = "",
                columns: tuple[str, ...] | None = None) -> FrameBuilder:
        """The frame builder of one stream; ``columns``: build only those (a projection)."""
        display, raw = pinned
        constants = {"status": display, "status_raw": raw}
        return FrameBuilder(self.extract(detail, raw, root), constants=constants,
                            fields=self.fields, typed=self.typed(detail, raw, root, columns),
                            columns=columns)

    def vanished_marker(self, status: int, message: str | None, marker: str) -> bool:
        """True when an error answer means the marker image vanished mid-listing."""
        if status != 400 or not message:
            return False
        text = message.strip().removeprefix("HTTP 400 Bad Request: ").strip()
        return text.rstrip(".") == f"No image found with ID {marker}"

    def not_found_hint(self, microversion: str | None) -> str:
        return f" (check the endpoint: it should be the {self.title} root)"

    # -- what it can do: the core asks these, never a name ------------------------------
    #: a list view (ids, names and links only: ``load(detail=False)``), the cheapest
    #: listing of every id; without one the detail listing is the only listing
    list_view: bool = False
    #: how ``imgframe.refresh`` brings a frame up to date: ``"changes"`` (the changed rows
    #: and a list-view listing of every id) or ``"full"`` (one full load)
    refresh_strategy: str = "full"
    #: the API's status words a listing returns behind each display word (imgframe.status)
    status_words: dict = field(default_factory=lambda: dict(LISTED))

    def listing_options(self) -> dict:
        """``load()`` options that list every id of a query as cheaply as this API allows."""
        return {"detail": not self.list_view}

    def parse_microversion(self, value) -> str | None:
        """The microversion to send for ``value``; None sends none. Most APIs have none."""
        if value is not None:
            raise InvalidQueryError("microversion", f"None ({self.title} has no compute "
                                    "microversions)", value)
        return None

    def options_from_params(self, queries: list) -> dict:
        """The ``load()`` options of a frame whose attrs record only the parameters sent
        (``queries``, imgframe 0.1): only an API whose 0.1 frames lack them can say."""
        raise InvalidQueryError("old", "a frame whose query imgframe can repeat",
                                "<no load_options>",
                                reason=f"its attrs record no load_options ({self.title})")

    # -- capabilities the core asks for, instead of a name -------------------------------
    #: the highest microversion this API takes (None: it takes none)
    max_microversion: ClassVar[str | None] = None
    #: requests may be signed with Huawei's AK/SK (given, or from Huawei's variables),
    #: and need credentials of some kind
    signing: ClassVar[bool] = False
    #: the endpoint a client shows: the versioned URL with the project, or the root
    versioned_endpoint: ClassVar[bool] = False
    #: response headers naming the request, the first present wins
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-openstack-request-id",)
    #: what the API puts before a vanished marker's message
    vanished_prefix: ClassVar[str] = ""

    def display_endpoint(self, endpoint: Endpoint) -> str:
        """The token-free endpoint a client shows for ``endpoint``."""
        return endpoint.url if self.versioned_endpoint else endpoint.root

    def resource(self, endpoint: Endpoint, query: Query,
                 microversion: str | None = None) -> Resource:
        """What the core lists for ``query`` at ``endpoint``: this API's images. A projection
        (``query.columns``) builds those columns and what the merge orders by
        (:data:`~imgframe.merge.MERGE_COLUMNS`), and keeps those (``Resource.columns``)."""
        detail, root, keep = query.detail, endpoint.root, query.columns
        build = None if keep is None else (*keep, *MERGE_COLUMNS)
        projection = {} if keep is None else {"columns": list(keep)}
        options = {**query.filters(), "detail": detail, "page_size": query.page_size,
                   **({"max_items": query.max_items} if query.max_items else {}), **projection}
        return Resource(
            url=self.list_url(endpoint, detail), root=root, streams=tuple(self.streams(query)),
            page=self.page, merge=merge_frames, columns=keep,
            builder=lambda stream: self.builder(detail, stream.pinned, root, build),
            typed=lambda stream: self.typed(detail, stream.pinned[1], root, build),
            page_size=query.page_size, max_items=query.max_items, marker=query.marker,
            headers=self.headers(microversion), until_empty=self.until_empty,
            partition_key=self.partition_key, noun="images", title=self.title,
            not_found_hint=self.not_found_hint(microversion),
            vanished_marker=self.vanished_marker, vanished_prefix=self.vanished_prefix,
            request_id_headers=self.request_id_headers,
            describe={"source": self.name, "endpoint": self.display_endpoint(endpoint),
                      "project_id": endpoint.project_id, "api_version": endpoint.api_version,
                      "detail": detail, "filters": query.filters(), "load_options": options,
                      **projection})


def images_of(data) -> list:
    """The ``images`` list of a page's JSON (every API names it so), or
    MalformedResponseError saying what came instead."""
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        keys = sorted(data)[:5] if isinstance(data, dict) else type(data).__name__
        raise MalformedResponseError(f"the JSON has no 'images' list (got {keys})")
    return data["images"]


def status_streams(query: Query, base: list[tuple[str, str]],
                   words: dict = LISTED) -> list[Stream]:
    """One stream per API status word (``words``: a source's ``status_words``) behind the
    display statuses asked for (SAVING: queued and saving), each pinning (display, raw);
    one stream when none was asked."""
    if not query.statuses:
        return [Stream(tuple(base))]
    return [Stream((("status", raw), *base), pinned=(display, raw))
            for display in query.statuses for raw in words[display]]


def absolute(root: str, hrefs: list) -> list:
    """Join relative hrefs (``/v2/images/<id>``) to the endpoint root; others as given.

    >>> absolute("http://h:9292", ["/v2/images/1", None, "http://x/y"])
    ['http://h:9292/v2/images/1', None, 'http://x/y']
    """
    if set(map(type, hrefs)) == {str} and all(map(str.startswith, hrefs, repeat("/"))):
        return list(map(root.__add__, hrefs))   # the usual page: one C-level pass
    return [root + h if isinstance(h, str) and h.startswith("/") else h for h in hrefs]


_GLANCE_KEYS = ("id", "name", "status", "created_at", "updated_at", "min_ram", "min_disk",
                "visibility", "owner", "protected", "disk_format", "container_format", "tags",
                "self", "file")


def take_columns(items: list, keys: tuple) -> dict:
    """``{key: [value per item]}``, every key *taken out* of every item (``None`` where an
    item lacks it): one C-level pass of ``dict.pop`` a key, no Python call per item. What
    is left of each item is the rest of it, keys in the order sent. The items are changed:
    only for dicts imgframe decoded itself (a page's own).

    >>> items = [{"os_distro": "x", "id": 1}, {"id": 2}]
    >>> take_columns(items, ("id", "name")), items
    ({'id': [1, 2], 'name': [None, None]}, [{'os_distro': 'x'}, {}])
    """
    return {key: list(map(dict.pop, items, repeat(key), repeat(None))) for key in keys}


@cache
def _taken(base_keys: frozenset, more: tuple) -> tuple:
    """The keys a Glance-shaped item gives up: the columns' first, then the rest of
    ``base_keys`` (placeholders, ``schema``: dropped). Every key taken is a base key, so
    no property is ever lost."""
    keys = (*_GLANCE_KEYS, *more)
    if not base_keys.issuperset(keys):
        raise ValueError(f"not base keys: {sorted(set(keys) - base_keys)}")
    return (*keys, *sorted(base_keys.difference(keys)))


def glance_base_columns(items: list, root: str, base_keys: frozenset,
                        more: tuple = ()) -> tuple[dict, dict]:
    """The columns Glance-shaped items (Glance v2 and Huawei IMS) fill the same way, and
    ``{key: values}`` of the source's ``more`` keys, for its own columns.

    Their items are flat: ``base_keys`` beside any extra properties. The base keys are
    taken out of the items (:func:`take_columns`), and what is left of each item, its
    extra properties as sent, in the order sent, *is* its ``metadata`` dict: no dict is
    made per image. ``items`` must be the page's own dicts (``Source.extract``)."""
    values = take_columns(items, _taken(base_keys, more))
    self_links = absolute(root, values["self"])
    cols = {
        "id": values["id"],
        "name": values["name"],
        "status_raw": values["status"],
        "created": values["created_at"],
        "updated": values["updated_at"],
        "min_ram": values["min_ram"],
        "min_disk": values["min_disk"],
        "visibility": values["visibility"],
        "owner": values["owner"],
        "protected": values["protected"],
        "disk_format": values["disk_format"],
        "container_format": values["container_format"],
        "tags": values["tags"],
        "metadata": items,
        "link_self": self_links,
        "link_alternate": self_links,
        "link_file": absolute(root, values["file"]),
    }
    return cols, {key: values[key] for key in more}


GLANCE_FIELDS = {
    "status_raw": "status", "created": "created_at", "updated": "updated_at",
    "hidden": "os_hidden", "link_self": "self", "link_alternate": "self", "link_file": "file",
}


def time_param(op: str, ts) -> str:
    """``gte:2026-01-01T00:00:00Z``: a Glance-style time filter value."""
    return f"{op}:{format_time(ts)}"

