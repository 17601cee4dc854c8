"""The image store behind the server: sorted once, filtered per query, paged by bisection.

Glance lists images by ``created_at DESC, id DESC`` and pages by keyset (the marker's place
in that order). `Catalog` sorts the records once, keeps numpy columns in that order and an
id -> position index, caches the positions matching each distinct filter set, and answers a
page with one `searchsorted` and a slice: no full scan per request.

`Query` is API-blind: Nova's proxy fills the fields Nova can send (name, status,
changes-since, minRam/minDisk, properties) and asks with Glance's defaults for its caller
(`Query.from_filters`: no hidden images, no other project's private or community images),
as a real Nova's glanceclient call does; Glance and IMS also use visibility, hidden, tags,
time conditions and column equality. `visible_to` is Glance's rule for one image (show,
markers). A record without one of the Glance keys reads as `RECORD_DEFAULTS` says (public,
not hidden, not protected, no tags).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from imgframe.server.glance import (
    GlanceBadRequest,
    filter_values,
    parse_isotime,
    split_filter_op,
    sql_number,
)

__all__ = ["Catalog", "Query", "RECORD_DEFAULTS", "field", "visible_to"]

UTC = dt.timezone.utc
STATUS_CODES = {s: i for i, s in enumerate(
    ("active", "queued", "saving", "deactivated", "importing", "uploading",   # listable
     "killed", "deleted", "pending_delete"))}
OTHER = 9               # any other status word: listed (as UNKNOWN), matches no status filter
LISTABLE = 6            # codes below this (and OTHER) are listed; killed and deleted never
DELETED = {"deleted", "pending_delete"}   # Glance rows with deleted=True
REMOVED = 255           # status code of an image taken away by `Catalog.remove`
NO_TIME = np.iinfo(np.int64).min
NOTHING = "nothing"     # a minRam/minDisk value no integer equals (not False: False == 0)
RECORD_DEFAULTS = {"visibility": "public", "protected": False, "os_hidden": False, "tags": ()}
VISIBILITY_CODES = {"public": 0, "private": 1, "shared": 2, "community": 3}
TIME_OPS = {"gt": np.greater, "gte": np.greater_equal, "lt": np.less, "lte": np.less_equal,
            "eq": np.equal, "neq": np.not_equal}


def field(rec: dict, key: str):
    """A record's value for `key`, or its default (`RECORD_DEFAULTS`, else None)."""
    return rec.get(key, RECORD_DEFAULTS.get(key))


def visible_to(rec: dict, project: str) -> bool:
    """Glance's `is_image_visible` for a member (not admin) of `project`: every image but
    another project's private one (the caller is an accepted member of every shared image;
    hidden and community images are visible, only left out of default lists)."""
    return field(rec, "visibility") != "private" or rec.get("owner") == project


@dataclass(frozen=True)
class Query:
    """The filters of one list request, normalised (hashable: the cache key)."""

    name: frozenset | None = None
    status: frozenset | None = None
    changes_since: float | None = None       # epoch seconds, inclusive
    min_ram: object = None                  # a number, or NOTHING
    min_disk: object = None
    properties: tuple = ()                  # ((key, value), ...) equality on properties
    # Glance / IMS only (Nova's proxy leaves them unset)
    caller: str | None = None       # a non-admin caller's project: Glance's visibility rule
    others_shared: bool = True      # caller is an accepted member of others' shared images
    others_community: bool = True   # False: Glance's default (others' community left out)
    visibility: frozenset | None = None
    hidden: bool | None = None
    tags: frozenset = frozenset()   # every one must be present (ANDed)
    times: tuple = ()               # ((created_at|updated_at, op, epoch seconds), ...)
    fields: tuple = ()              # ((record key, frozenset of accepted values), ...)
    ranges: tuple = ()              # ((record key, "min"|"max", number), ...)

    @classmethod
    def from_filters(cls, filters: dict, caller: str) -> Query:
        """Build from Nova's filter dict (``name``, ``status``, ``changes-since``, ``min_ram``,
        ``min_disk``, ``property-<x>``), raising GlanceBadRequest as Glance would.

        Nova sends no visibility and no ``os_hidden``, so Glance applies its defaults for
        `caller` (a member of that project): public, shared (accepted) and the caller's own
        images, without hidden ones and without other projects' community images.
        """
        kwargs: dict = {"caller": caller, "hidden": False, "others_community": False}
        props = {}
        for key, value in filters.items():
            if key == "name":
                kwargs["name"] = filter_values(value)
            elif key == "status":
                kwargs["status"] = filter_values(value.lower())
            elif key == "changes-since":
                _, threshold = split_filter_op("gte:" + value)
                try:
                    when = parse_isotime(threshold)
                except ValueError:
                    raise GlanceBadRequest('Bad "updated_at" query filter format. '
                                           "Use ISO 8601 DateTime notation.") from None
                kwargs["changes_since"] = when.timestamp()
            elif key in ("min_ram", "min_disk"):
                number = sql_number(value)
                ok = number is not None and abs(number) < 2 ** 62
                kwargs[key] = number if ok else NOTHING
            elif key.startswith("property-"):
                # Nova's bug, kept: lstrip removes a *set* of characters, not the prefix
                props[key.lstrip("property-")] = value  # noqa: B005
        kwargs["properties"] = tuple(sorted(props.items()))
        return cls(**kwargs)


def _epoch(value) -> int | None:
    """Whole epoch seconds of a datetime (naive = UTC) or ISO string; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_isotime(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


class Catalog:
    """Glance-like records, sorted for listing, with cached filter results. Thread-safe."""

    def __init__(self, records: list[dict], cache_size: int = 256):
        self._lock = threading.RLock()
        created, updated, ids = [], [], []
        for rec in records:           # one pass; aware datetimes (the usual case) inline
            c, u = rec.get("created_at"), rec.get("updated_at")
            created.append(int(c.timestamp()) if isinstance(c, dt.datetime) and c.tzinfo
                           else (_epoch(c) or 0))
            updated.append(int(u.timestamp()) if isinstance(u, dt.datetime) and u.tzinfo
                           else (NO_TIME if u is None else _epoch(u)))
            ids.append(str(rec["id"]))
        # created_at DESC, id DESC: lexsort ascending by (created, id), then reverse
        order = np.lexsort((np.array(ids), np.array(created, dtype=np.int64)))[::-1]
        order_list = order.tolist()
        self.records = [records[i] for i in order_list]            # in list order
        self.ids = [ids[i] for i in order_list]
        self.created = np.array(created, dtype=np.int64)[order]
        self.updated = np.array(updated, dtype=np.int64)[order]
        self.status = np.array([STATUS_CODES.get(r.get("status"), OTHER)
                                for r in self.records], dtype=np.uint8)
        self.min_ram = np.array([int(r.get("min_ram") or 0) for r in self.records],
                                dtype=np.int64)
        self.min_disk = np.array([int(r.get("min_disk") or 0) for r in self.records],
                                 dtype=np.int64)
        self.position = {image_id: i for i, image_id in enumerate(self.ids)}
        if len(self.position) != len(self.ids):
            raise ValueError("image ids must be unique")
        self._cache: OrderedDict[Query, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self.version = 0        # bumped by every change, so stale filter results are not cached

    # --- reading
    def __len__(self) -> int:
        return int((self.status != REMOVED).sum())

    def get(self, image_id: str) -> dict | None:
        """The record with this id (killed and deleted ones too), or None."""
        pos = self.position.get(image_id)
        return None if pos is None else self.records[pos]

    def current(self) -> list[dict]:
        """Every record not removed, in list order."""
        return [self.records[i] for i in np.flatnonzero(self.status != REMOVED)]

    def matching(self, query: Query) -> np.ndarray:
        """Sorted positions of listable images matching `query` (cached per query)."""
        with self._lock:
            hit = self._cache.get(query)
            if hit is not None:
                self._cache.move_to_end(query)
                return hit
            version = self.version
            # one consistent set of columns (a change swaps them under the lock)
            status, updated, records = self.status.copy(), self.updated, self.records
            sizes = {"min_ram": self.min_ram, "min_disk": self.min_disk}
        mask = (status < LISTABLE) | (status == OTHER)
        if query.status is not None:
            codes = [STATUS_CODES[s] for s in query.status if s in STATUS_CODES]
            mask &= np.isin(status, np.array(codes, dtype=np.uint8))
        if query.changes_since is not None:
            mask &= updated >= query.changes_since
        for key in ("min_ram", "min_disk"):
            wanted = getattr(query, key)
            if wanted == NOTHING:
                mask[:] = False
            elif wanted is not None:
                mask &= sizes[key] == wanted
        if query != Query(**_column_fields(query)):
            mask &= self._glance_mask(query)
        positions = np.flatnonzero(mask)
        if query.name is not None:
            names = query.name
            positions = np.array([i for i in positions.tolist()
                                  if records[i].get("name") in names], dtype=np.int64)
        for key, value in query.properties:
            positions = np.array(
                [i for i in positions.tolist()
                 if _property_equals((records[i].get("properties") or {}), key, value)],
                dtype=np.int64)
        if query.fields or query.ranges or query.tags:
            records = self.records
            positions = np.array([i for i in positions.tolist()
                                  if _record_matches(records[i], query)], dtype=np.int64)
        positions = positions.astype(np.int64, copy=False)
        with self._lock:
            if version != self.version:      # a change raced us: compute again
                return self.matching(query)
            self._cache[query] = positions
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return positions

    def page(self, query: Query, marker: str | None, limit: int | None):
        """(positions of the page, offset of its first item among the matches).

        A marker must name an image that still exists (killed is fine, deleted or removed
        is not): else GlanceBadRequest, as Glance answers.
        """
        matches = self.matching(query)
        start = 0
        if marker:
            pos = self.position.get(marker)
            if pos is None or self.records[pos].get("status") in DELETED:
                raise GlanceBadRequest(f"No image found with ID {marker}")
            start = int(np.searchsorted(matches, pos, side="right"))
        stop = len(matches) if limit is None else start + limit
        return matches[start:stop], start

    def _glance_mask(self, query: Query) -> np.ndarray:
        """The visibility, hidden and time conditions of `query`, over all positions."""
        vis, hidden, owner = self._glance_columns()
        mask = np.ones(len(self.records), dtype=bool)
        if query.hidden is not None:
            mask &= hidden == query.hidden
        if query.visibility is not None:
            mask &= np.isin(vis, [VISIBILITY_CODES.get(v, 99) for v in query.visibility])
        if query.caller is not None:
            own = owner == query.caller
            seen = (vis == 0) | (vis == 3) | own
            if query.others_shared:
                seen |= vis == 2
            if not query.others_community:
                seen &= own | (vis != 3)
            mask &= seen
        for key, op, when in query.times:
            column = self.created if key == "created_at" else self.updated
            mask &= (column != NO_TIME) & TIME_OPS[op](column, when)
        return mask

    def _glance_columns(self):
        """(visibility codes, hidden flags, owners) in list order, rebuilt after changes."""
        key = (self.version, len(self.records))
        cached = getattr(self, "_glance_cols", None)
        if cached is None or cached[0] != key:
            recs = self.records
            vis = np.array([VISIBILITY_CODES.get(field(r, "visibility"), 99) for r in recs],
                           dtype=np.uint8)
            hidden = np.array([bool(field(r, "os_hidden")) for r in recs], dtype=bool)
            owner = np.array([r.get("owner") for r in recs] + [None], dtype=object)[:-1]
            cached = self._glance_cols = (key, (vis, hidden, owner))
        return cached[1]

    # --- changing (each change swaps the arrays under the lock and drops cached filters)
    def clock(self) -> dt.datetime:
        """Now (whole seconds, UTC), but never before the newest ``updated_at`` or
        ``created_at`` held: the catalogue's clock does not go backwards, even for a
        sample catalogue dated in the future."""
        now = int(dt.datetime.now(UTC).timestamp())
        with self._lock:
            live = self.status != REMOVED
            newest = max([now] + [int(a[live].max()) for a in (self.updated, self.created)
                                  if live.any()])
        return dt.datetime.fromtimestamp(newest, UTC)

    def add(self, record: dict) -> dict:
        """Insert a new record at its place in list order; returns it. ValueError if its id
        is taken. ``created_at`` and ``updated_at`` default to :meth:`clock` (``updated_at``
        too when ``created_at`` is given: the image appeared now)."""
        rec = dict(record)
        if "id" not in rec:
            raise ValueError("a record needs an 'id'")
        rec["id"] = image_id = str(rec["id"])
        when = self.clock()
        rec.setdefault("created_at", when)
        rec.setdefault("updated_at", when)       # it appeared now, whatever its created_at
        created = _epoch(rec["created_at"]) or 0
        updated = NO_TIME if rec["updated_at"] is None else _epoch(rec["updated_at"])
        with self._lock:
            if image_id in self.position or image_id in self.ids:
                raise ValueError(f"image id {image_id!r} is already in the catalogue")
            # list order is created DESC, id DESC: find the first row that sorts after it
            keys = list(zip((-self.created).tolist(), self.ids, strict=True))
            at = _bisect_desc(keys, (-created, image_id))
            self.records = self.records[:at] + [rec] + self.records[at:]
            self.ids = self.ids[:at] + [image_id] + self.ids[at:]
            self.created = np.insert(self.created, at, created)
            self.updated = np.insert(self.updated, at, updated)
            self.status = np.insert(self.status, at, STATUS_CODES.get(rec.get("status"), OTHER))
            self.min_ram = np.insert(self.min_ram, at, int(rec.get("min_ram") or 0))
            self.min_disk = np.insert(self.min_disk, at, int(rec.get("min_disk") or 0))
            self.position = {i: p for p, i in enumerate(self.ids) if self.status[p] != REMOVED}
            self._changed()
            return rec

    def update(self, image_id: str, fields: dict) -> dict:
        """Replace fields of a record (``updated_at`` bumped to :meth:`clock` unless given);
        returns the new record. KeyError if unknown; ``id`` and ``created_at`` are fixed."""
        for key in ("id", "created_at"):
            if key in fields:
                raise ValueError(f"{key} cannot be updated (it fixes the image's place in "
                                 f"list order); remove the image and add a new one")
        when = self.clock() if "updated_at" not in fields else None
        with self._lock:
            pos = self.position[image_id]
            rec = dict(self.records[pos], **fields)
            if when is not None:
                rec["updated_at"] = when
            records = list(self.records)
            records[pos] = rec
            self.records = records
            u = rec.get("updated_at")
            self.updated[pos] = NO_TIME if u is None else _epoch(u)
            self.status[pos] = STATUS_CODES.get(rec.get("status"), OTHER)
            self.min_ram[pos] = int(rec.get("min_ram") or 0)
            self.min_disk[pos] = int(rec.get("min_disk") or 0)
            self._changed()
            return rec

    def _changed(self) -> None:
        self._cache.clear()
        self.version += 1

    def remove(self, image_id: str) -> dict:
        """Make an image vanish (as if deleted and purged); returns its record."""
        with self._lock:
            pos = self.position.pop(image_id)
            self.status[pos] = REMOVED
            self._cache.clear()
            self.version += 1
            return self.records[pos]


def _bisect_desc(keys: list, key: tuple) -> int:
    """Where ``key`` goes in ``keys``, sorted by (-created ascending, id descending)."""
    lo, hi = 0, len(keys)
    while lo < hi:
        mid = (lo + hi) // 2
        neg_c, other = keys[mid]
        if neg_c < key[0] or (neg_c == key[0] and other > key[1]):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _column_fields(query: Query) -> dict:
    """The part of a query matched on the numpy columns (the rest, when any of it differs
    from its default, goes through `Catalog._glance_mask`)."""
    return {"name": query.name, "status": query.status, "changes_since": query.changes_since,
            "min_ram": query.min_ram, "min_disk": query.min_disk,
            "properties": query.properties}


def _record_matches(rec: dict, query: Query) -> bool:
    """Column equality, integer ranges and tags, as Glance's SQL compares them (NULL never
    matches)."""
    for key, accepted in query.fields:
        value = field(rec, key)
        if value is None or value not in accepted:
            return False
    for key, side, number in query.ranges:
        value = rec.get(key)
        if value is None or (value < number if side == "min" else value > number):
            return False
    if query.tags and not query.tags.issubset(field(rec, "tags") or ()):
        return False
    return True


def _property_equals(props: dict, key: str, value: str) -> bool:
    if key not in props:
        return False
    have = props[key]
    if isinstance(have, str):
        return have == value
    if have is None:
        return False
    return json.dumps(have) == value     # Glance stores list values as JSON text
