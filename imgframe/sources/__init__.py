"""One module per images API; each says how that API is listed. Pure: no HTTP here.

::

    imgframe/sources/nova.py    Nova's compute proxy  GET /v2.1/{project}/images[/detail]
    imgframe/sources/glance.py  OpenStack Glance v2   GET /v2/images
    imgframe/sources/ims.py     Huawei IMS            GET /v2/cloudimages

Each module defines ``SOURCE``, a :class:`~imgframe.sources.base.Source`: the list URL, how
a validated :class:`~imgframe.query.Query` becomes request streams (``streams``), where the
next marker comes from (``page``), how an item becomes the frame's columns (``extract``),
and how its error bodies and vanished markers read. The client (HTTP, auth, retries), the
pager (stop rules) and the frame builder (dtypes) are shared and name no API.
"""

from __future__ import annotations

from imgframe.errors import InvalidQueryError
from imgframe.sources import glance, ims, nova
from imgframe.sources.base import Source, Stream

__all__ = ["LEGACY", "NAMES", "SOURCES", "Source", "Stream", "get", "source_of"]

SOURCES: dict[str, Source] = {s.name: s for s in (nova.SOURCE, glance.SOURCE, ims.SOURCE)}
NAMES = tuple(SOURCES)
#: the source of a frame whose attrs name none (imgframe 0.1 read Nova's proxy only)
LEGACY = nova.SOURCE.name


def get(name) -> Source:
    """The source called ``name`` (``"nova"``, ``"glance"`` or ``"ims"``, any case)."""
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in SOURCES:
        raise InvalidQueryError("source", f"one of {', '.join(NAMES)} (or 'auto' with "
                                "Client.from_cloud)", name)
    return SOURCES[key]


def source_of(client) -> Source:
    """The :class:`Source` a client reads (its ``source``: a name or a Source)."""
    value = getattr(client, "source", LEGACY)
    return value if isinstance(value, Source) else get(value)
