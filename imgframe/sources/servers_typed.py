"""Nova ``/servers/detail`` pages decoded straight into msgspec structs of only the fields
the servers frame needs, and their raw columns: the same columns as
:func:`imgframe.sources.servers.nova_columns` gives for the JSON dicts. Pure.

The decoder checks every field's type as it decodes (the fields a frame does not need,
``addresses``, ``fault`` and the like, are skipped unread); a page it refuses (a field of
another type, a NaN, ...) goes the general way, JSON dicts and ``nova_columns``, which takes
it or names what is wrong. What the structs keep of Nova's shapes:

* ``image``: ``{"id", ...}`` (a struct), the empty string ``""`` (booted from a volume), or
  absent (a down cell's ``UNKNOWN`` construct at 2.69+) or null; any other string is
  refused here with the general way's error;
* ``flavor``: ``{"id"}`` before 2.47, ``{"original_name"}`` from 2.47; a key that is present
  but null is told from an absent one (``UNSET``), as ``dict.get`` does;
* ``os-extended-volumes:volumes_attached``: ``[{"id", "bootIndex"?}]`` (ids must be strings);
* ``OS-SRV-USG:launched_at`` stays the naive string Nova sends: the frame reads it as UTC.
"""

from __future__ import annotations

from itertools import chain
from operator import attrgetter
from typing import Any

from imgframe.errors import MalformedResponseError
from imgframe.frame import Typed, transposed
from imgframe.pages import Page
from imgframe.sources.nova import links_by_rel

__all__ = ["TYPED", "next_href"]


def next_href(links) -> str | None:
    """The ``href`` of the first ``rel: next`` object of ``servers_links``, if a string.

    >>> next_href([{"rel": "next", "href": "http://h/servers/detail?marker=a"}])
    'http://h/servers/detail?marker=a'
    >>> next_href({"rel": "next"}) is None
    True
    """
    if not isinstance(links, list):
        return None
    nxt = next((link.get("href") for link in links
                if isinstance(link, dict) and link.get("rel") == "next"), None)
    return nxt if isinstance(nxt, str) else None


def _bad(field_name: str, detail: str) -> MalformedResponseError:
    return MalformedResponseError(f"malformed servers response: {field_name} {detail}"[:300])


try:
    import msgspec
    from msgspec import UNSET, UnsetType
except ImportError:  # pragma: no cover - a core dependency; the general way still works
    msgspec = None

TYPED: Typed | None = None

if msgspec is not None:
    class _Link(msgspec.Struct, gc=False):
        rel: str
        href: str

    class _ImageRef(msgspec.Struct, gc=False):
        id: str | None = None

    class _Flavor(msgspec.Struct, gc=False):
        id: str | None | UnsetType = UNSET
        original_name: str | None | UnsetType = UNSET
        name: str | None | UnsetType = UNSET

    class _Volume(msgspec.Struct, gc=False):
        id: str
        bootIndex: str | int | None | UnsetType = UNSET   # noqa: N815 - Huawei's name

    class _Server(msgspec.Struct, gc=False, rename={
            "project_id": "tenant_id", "kernel_id": "OS-EXT-SRV-ATTR:kernel_id",
            "ramdisk_id": "OS-EXT-SRV-ATTR:ramdisk_id",
            "launched_at": "OS-SRV-USG:launched_at",
            "volumes": "os-extended-volumes:volumes_attached"}):
        id: str
        name: str | None = None
        status: str | None = None
        project_id: str | None = None
        user_id: str | None = None
        image: _ImageRef | str | None = None
        flavor: _Flavor | str | None = None
        kernel_id: str | None = None
        ramdisk_id: str | None = None
        created: str | None = None
        updated: str | None = None
        launched_at: str | None = None
        volumes: list[_Volume] | None = None
        metadata: dict | None = None
        links: list[_Link] | None = None

    class _DetailPage(msgspec.Struct, gc=False):
        servers: list[_Server]
        servers_links: Any = None

    def _images(images: list) -> tuple[list, list]:
        """``(image_id, boot)`` per item, as ``servers._images`` gives them."""
        ids, boots = [], []
        for image in images:
            if type(image) is _ImageRef:
                ref = image.id
                ids.append(ref or None)
                boots.append("image" if ref else "volume")
            elif image is None:
                ids.append(None)
                boots.append(None)
            elif image == "":
                ids.append(None)
                boots.append("volume")
            else:
                raise _bad("image", f"must be an object or an empty string, got {image!r}")
        return ids, boots

    def _flavor(flavor):
        if type(flavor) is not _Flavor:
            return flavor   # a string or None, as sent
        for name in (flavor.id, flavor.original_name, flavor.name):
            if name is not UNSET:
                return name
        return None

    def _volumes(attached: list) -> tuple[list, list]:
        """``(volume ids, root volume id)`` per item, as ``servers._volumes`` gives them."""
        ids = [[v.id for v in vols] if vols else [] for vols in attached]
        flat = list(chain.from_iterable(vols for vols in attached if vols))
        if set(map(attrgetter("bootIndex"), flat)) <= {UNSET}:   # Nova: none says which
            return ids, [None] * len(attached)
        roots = [next((v.id for v in vols if str(_index(v.bootIndex)) == "0"), None)
                 if vols else None for vols in attached]
        return ids, roots

    def _index(value):
        return "" if value is UNSET else value

    def _columns(items: list) -> dict:
        cols = transposed(_Server.__struct_fields__, map(msgspec.structs.astuple, items))
        cols["image_id"], cols["boot"] = _images(cols.pop("image"))
        cols["volume_ids"], cols["root_volume_id"] = _volumes(cols.pop("volumes"))
        cols["flavor"] = list(map(_flavor, cols["flavor"]))
        for key in ("kernel_id", "ramdisk_id"):   # "" where the server has none
            values = cols[key]
            if "" in values:
                cols[key] = [v or None for v in values]
        links = cols.pop("links")
        if any(links):
            cols.update(links_by_rel(links, typed=True))
        return cols

    def _page(decoded) -> Page:
        servers = decoded.servers
        return Page(servers, next_href(decoded.servers_links),
                    ids=list(map(attrgetter("id"), servers)))

    TYPED = Typed(_Server, _columns, msgspec.json.Decoder(_DetailPage), _page)
