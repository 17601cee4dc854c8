"""Huawei Cloud IMS: ``GET /v2/cloudimages`` ("Querying Images", SDK ``ListImages``). Pure.

What is particular to it (Huawei's SDK 3.1.219 and docs; reference ``image-sources.md``):

* no project in the path: it comes from the token's scope, or the ``X-Project-Id`` header
  that goes with AK/SK signing (:mod:`imgframe.aksk`);
* **no next link**: the next marker is ``page_info.next_marker`` where the server sends
  one, else the last id; and the maximum page size is undocumented, so a page shorter than
  asked is not proof of the end: paging goes on until an empty page (one request more, and
  never a silently truncated inventory);
* filters: ``status`` (raw words; SAVING is two streams, ``queued`` and ``saving``), ``name``
  (exact), ``updated_at=gte:<t>``, ``min_ram``/``min_disk``, ``visibility`` (public,
  private, shared: no community), ``owner``, one ``tag``; IMS has no hidden images;
* the size is ``__image_size``, a *string* of bytes; ``size``, ``checksum`` and
  ``virtual_size`` are placeholders ("not used currently": 0, the MD5 of empty input,
  null) and never reach the frame; every other key (the ``__*`` ones included) goes to
  ``metadata`` as sent;
* error bodies are ``{"error": {"code": "IMG.xxxx", "message": ...}}`` (or the gateway's
  ``{"error_code", "error_msg"}``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from imgframe.errors import InvalidQueryError, MalformedResponseError
from imgframe.frame import column
from imgframe.pages import Page
from imgframe.query import Endpoint, Query
from imgframe.sources.base import (
    GLANCE_FIELDS,
    Source,
    Stream,
    glance_base_columns,
    images_of,
    status_streams,
    time_param,
)
from imgframe.status import listed_among

__all__ = ["BASE_KEYS", "PLACEHOLDER_CHECKSUM", "SOURCE", "ImsSource", "image_sizes"]

BASE_KEYS = frozenset({
    "id", "name", "status", "visibility", "protected", "owner", "size", "virtual_size",
    "checksum", "container_format", "disk_format", "min_ram", "min_disk", "created_at",
    "updated_at", "tags", "self", "file", "schema"})
#: what IMS sends as ``checksum``: the MD5 of empty input (a placeholder)
PLACEHOLDER_CHECKSUM = "d41d8cd98f00b204e9800998ecf8427e"
_VISIBILITIES = ("public", "private", "shared")
#: the image statuses IMS has (no deactivated, importing or uploading: nothing is UNKNOWN)
STATUS_WORDS = ("queued", "saving", "deleted", "killed", "active")


def image_sizes(values: list) -> list:
    """``__image_size`` strings (bytes) as ints; null stays null; anything else is malformed.

    >>> image_sizes(["1024", None])
    [1024, None]
    """
    out = []
    for value in values:
        if value is None:
            out.append(None)
        elif type(value) is str and value.isascii() and value.isdigit():
            out.append(int(value))
        elif type(value) is int:
            out.append(value)
        else:
            raise MalformedResponseError(
                f"malformed images response: __image_size must be a string of digits, "
                f"got {value!r}"[:300])
    return out


@dataclass(frozen=True)
class ImsSource(Source):
    # -- capabilities -------------------------------------------------------------------
    signing = True
    request_id_headers = ("x-request-id", "x-openstack-request-id")

    def list_url(self, endpoint: Endpoint, detail: bool) -> str:
        return f"{endpoint.root}/v2/cloudimages"

    def check(self, query: Query) -> None:
        if query.visibility not in (None, *_VISIBILITIES):
            raise InvalidQueryError("visibility", f"None or one of {', '.join(_VISIBILITIES)} "
                                    "(Huawei IMS has no community visibility)",
                                    query.visibility)
        if query.hidden is True:
            raise InvalidQueryError("hidden", "None or False (Huawei IMS has no hidden images)",
                                    True)
        if len(query.tags) > 1:
            raise InvalidQueryError("tag", "one tag (Huawei IMS filters by one tag)",
                                    list(query.tags))
        super().check(replace(query, hidden=None))

    def streams(self, query: Query) -> list[Stream]:
        base: list[tuple[str, str]] = []
        if query.name is not None:
            base.append(("name", query.name))
        if query.changes_since is not None:
            base.append(("updated_at", time_param("gte", query.changes_since)))
        for key in ("min_ram", "min_disk", "visibility", "owner"):
            if getattr(query, key) is not None:
                base.append((key, str(getattr(query, key))))
        base.extend(("tag", t) for t in query.tags)
        base.append(("limit", str(query.page_size)))
        return status_streams(query, base, self.status_words)

    def page(self, data) -> Page:
        images = images_of(data)
        info = data.get("page_info")
        marker = info.get("next_marker") if isinstance(info, dict) else None
        return Page(images, None,
                    next_marker=marker if isinstance(marker, str) and marker else None)

    def extract(self, detail: bool = True, pinned_raw: str | None = None, root: str = ""):
        def columns(items: list) -> dict:
            # __image_size apart: images still being made lack it, and one missing key
            # would send the whole page column by column (frame.columns_of)
            cols, _ = glance_base_columns(items, root, BASE_KEYS)
            cols["size"] = image_sizes(column(items, "__image_size"))
            return cols

        return columns

    def vanished_marker(self, status, message, marker) -> bool:
        return status in (400, 404) and bool(message) and marker in message \
            and "not" in message.lower()


SOURCE = ImsSource(
    name="ims", title="Huawei IMS (cloudimages)",
    filters=frozenset({"status", "name", "changes_since", "min_ram", "min_disk",
                       "visibility", "owner", "tag"}),
    until_empty=True, fields={**GLANCE_FIELDS, "size": "__image_size"}, partition_key="created_at",
    status_words=listed_among(STATUS_WORDS))
