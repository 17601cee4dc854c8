"""OpenStack Glance v2: ``GET /v2/images``. Pure.

What is particular to it (observed on a real Glance 33; reference ``image-sources.md``):

* **the whole inventory takes two streams**: Glance lists hidden images (``os_hidden``) only
  when asked, and never with the others, so ``hidden=None`` sends ``os_hidden=false`` and
  ``os_hidden=true`` and merges them in Glance's order (``created_at``, ``id``, descending);
  and its default visibility leaves out others' community images, so ``visibility=all``
  is sent unless the caller narrows it;
* filters take operators: ``status=in:queued,saving`` (raw words, case-sensitive),
  ``name=eq:<name>`` (always ``eq:``, so a name with ``:`` works), ``updated_at=gte:<t>``
  (one condition per time field per request), ``min_ram``/``min_disk`` exact, ``tag``
  repeatable (all must match), ``owner``;
* unknown parameters are property filters that silently match nothing, and a repeated
  scalar parameter empties the result: only the parameters above are ever sent, once;
* the next link (``next``, relative) keeps only the last value of a repeated parameter,
  so it is used for its marker only: the next request is built from imgframe's own query;
* a vanished marker is a 400 ``No image found with ID <marker>``, one made invisible a
  403 ``... image <marker> not visible``;
* error bodies are HTML unless JSON is asked for (it always is);
* items are flat: extra properties are top-level keys (strings), kept in ``metadata``: the
  base keys are taken out of each decoded item, and what is left of it is its ``metadata``
  dict (:func:`~imgframe.sources.base.glance_base_columns`).
"""

from __future__ import annotations

from dataclasses import dataclass

from imgframe.pages import Page
from imgframe.query import Endpoint, Query
from imgframe.sources.base import (
    GLANCE_FIELDS,
    Source,
    Stream,
    glance_base_columns,
    images_of,
    time_param,
)

__all__ = ["BASE_KEYS", "SOURCE", "GlanceSource"]

#: the keys of a Glance v2 item that are not extra properties
BASE_KEYS = frozenset({
    "id", "name", "status", "visibility", "protected", "os_hidden", "owner", "size",
    "virtual_size", "checksum", "os_hash_algo", "os_hash_value", "container_format",
    "disk_format", "min_ram", "min_disk", "created_at", "updated_at", "tags", "self", "file",
    "schema", "locations", "direct_url", "stores"})


#: the keys of Glance's own columns (beside glance_base_columns'), named as the frame's
#: but ``os_hidden`` (the ``hidden`` column)
_MORE = ("size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value", "os_hidden")


@dataclass(frozen=True)
class GlanceSource(Source):
    def list_url(self, endpoint: Endpoint, detail: bool) -> str:
        return f"{endpoint.root}/v2/images"

    def streams(self, query: Query) -> list[Stream]:
        base: list[tuple[str, str]] = []
        if query.statuses:
            words = [w for d in query.statuses for w in self.status_words[d]]
            base.append(("status", words[0] if len(words) == 1 else "in:" + ",".join(words)))
        if query.name is not None:
            base.append(("name", f"eq:{query.name}"))
        if query.changes_since is not None:
            base.append(("updated_at", time_param("gte", query.changes_since)))
        if query.min_ram is not None:
            base.append(("min_ram", str(query.min_ram)))
        if query.min_disk is not None:
            base.append(("min_disk", str(query.min_disk)))
        base.append(("visibility", query.visibility or "all"))
        if query.owner is not None:
            base.append(("owner", query.owner))
        base.extend(("tag", t) for t in query.tags)
        base.append(("limit", str(query.page_size)))
        hidden = ("false", "true") if query.hidden is None else (str(query.hidden).lower(),)
        return [Stream((*base, ("os_hidden", h))) for h in hidden]

    def page(self, data) -> Page:
        images = images_of(data)
        nxt = data.get("next")
        return Page(images, nxt if isinstance(nxt, str) and nxt else None)

    def extract(self, detail: bool = True, pinned_raw: str | None = None, root: str = ""):
        def columns(items: list) -> dict:
            cols, more = glance_base_columns(items, root, BASE_KEYS, _MORE)
            cols.update(more)
            cols["hidden"] = cols.pop("os_hidden")
            return cols

        return columns

    def vanished_marker(self, status, message, marker) -> bool:
        if status == 403 and message and f"image {marker} not visible" in message:
            return True
        return super().vanished_marker(status, message, marker)


SOURCE = GlanceSource(
    name="glance", title="the Glance v2 image API",
    filters=frozenset({"status", "name", "changes_since", "min_ram", "min_disk",
                       "visibility", "hidden", "owner", "tag"}),
    fields=GLANCE_FIELDS, partition_key="created_at")
