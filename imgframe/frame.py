"""Turn pages of the compute API's image dicts into one typed DataFrame. Pure, vectorised.

Columns are always :data:`COLUMNS` in that order (plus ``link_<rel>`` for any other link
relation, after them), with :data:`DTYPES`, whatever the mode, so frames concatenate.
Each column is collected with one comprehension over the page dicts and converted in
one call (``pd.array``, ``pd.to_datetime``, ``Categorical.from_codes``); nothing is built
row by row. Anything that is not the images JSON raises
:class:`~imgframe.errors.MalformedResponseError`, never ``KeyError``/``TypeError``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from imgframe.errors import MalformedResponseError

__all__ = [
    "COLUMNS",
    "DTYPES",
    "STATUSES",
    "STATUS_DTYPE",
    "empty_frame",
    "frame_from_pages",
    "link_columns",
    "merge_frames",
]

STATUSES = ["ACTIVE", "SAVING", "DELETED", "ERROR", "UNKNOWN"]
STATUS_DTYPE = pd.CategoricalDtype(STATUSES)
STRING = pd.StringDtype()
TIMESTAMP = pd.DatetimeTZDtype("ns", "UTC")
INT = pd.Int64Dtype()

COLUMNS = [
    "id", "name", "status", "progress", "created", "updated", "min_ram", "min_disk", "size",
    "server_id", "disk_config", "metadata", "link_self", "link_bookmark", "link_alternate",
]
DTYPES = {
    "id": STRING, "name": STRING, "status": STATUS_DTYPE, "progress": INT,
    "created": TIMESTAMP, "updated": TIMESTAMP, "min_ram": INT, "min_disk": INT, "size": INT,
    "server_id": STRING, "disk_config": STRING, "metadata": np.dtype(object),
    "link_self": STRING, "link_bookmark": STRING, "link_alternate": STRING,
}
_BASE_RELS = ("self", "bookmark", "alternate")
_INT_FIELDS = {"progress": "progress", "min_ram": "minRam", "min_disk": "minDisk",
               "size": "OS-EXT-IMG-SIZE:size"}
_STATUS_CODES = {s: i for i, s in enumerate(STATUSES)}
_WIRE_TIME = "%Y-%m-%dT%H:%M:%SZ"
_NONE = type(None)


def empty_frame(extra_links: Iterable[str] = ()) -> pd.DataFrame:
    """Zero rows, the standard columns and dtypes (plus ``link_<rel>`` string columns)."""
    cols = {c: pd.Series([], dtype=DTYPES[c]) for c in COLUMNS}
    for rel in extra_links:
        cols[f"link_{rel}"] = pd.Series([], dtype=STRING)
    return pd.DataFrame(cols)


def link_columns(links) -> dict[str, str]:
    """Flatten a Nova ``links`` list into ``{"link_<rel>": href}``.

    >>> link_columns([{"rel": "self", "href": "http://h/v2.1/p/images/1"}])
    {'link_self': 'http://h/v2.1/p/images/1'}
    """
    return {f"link_{link['rel']}": link["href"] for link in links or ()}


def _bad(field: str, detail: str) -> MalformedResponseError:
    return MalformedResponseError(f"malformed images response: {field} {detail}")


def _check_types(values: list, field: str, allowed: tuple[type, ...]) -> None:
    kinds = set(map(type, values))
    if not kinds.issubset(allowed):
        odd = next(v for v in values if type(v) not in allowed)
        names = " or ".join("null" if t is _NONE else t.__name__ for t in allowed)
        raise _bad(field, f"must be {names}, got {odd!r}")


def _strings(values: list, field: str, nullable: bool = True) -> pd.arrays.StringArray:
    _check_types(values, field, (str, _NONE) if nullable else (str,))
    return pd.array(values, dtype=STRING)


def _ints(values: list, field: str) -> pd.arrays.IntegerArray:
    _check_types(values, field, (int, _NONE))
    try:
        return pd.array(values, dtype=INT)
    except (OverflowError, ValueError, TypeError) as exc:
        raise _bad(field, f"out of range: {exc}") from exc


def _times(values: list, field: str) -> pd.DatetimeIndex:
    _check_types(values, field, (str, _NONE))
    try:
        try:
            out = pd.to_datetime(values, format=_WIRE_TIME, utc=True)
        except ValueError:
            out = pd.to_datetime(values, format="ISO8601", utc=True)
        return pd.DatetimeIndex(out).as_unit("ns")
    except (ValueError, TypeError, OverflowError) as exc:
        raise _bad(field, f"is not an ISO 8601 time: {exc}") from exc


def _statuses(values: list, n: int) -> pd.Categorical:
    _check_types(values, "status", (str, _NONE))
    lut: dict = {None: -1}
    for value in set(values).difference(lut):
        lut[value] = _STATUS_CODES.get(value.upper(), _STATUS_CODES["UNKNOWN"])
    codes = np.fromiter(map(lut.__getitem__, values), dtype=np.int8, count=n)
    return pd.Categorical.from_codes(codes, dtype=STATUS_DTYPE)


def _objects(values: list, n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    out[:] = values
    return out


def frame_from_pages(pages: Iterable[list], detail: bool = True,
                     pinned_status: str | None = None) -> pd.DataFrame:
    """Build the typed frame from pages (lists) of image dicts, in the order given.

    ``detail=False`` pages (id, name, links) give NA for the detail columns, and ``status``
    is ``pinned_status`` (the status the query asked for) or NA.
    """
    items = [item for page in pages for item in page]
    n = len(items)
    if not n:
        return empty_frame()
    if not all(type(item) is dict for item in items):
        odd = next(item for item in items if type(item) is not dict)
        raise _bad("image", f"must be an object, got {odd!r}"[:200])
    get = dict.get
    try:
        ids = [item["id"] for item in items]
    except KeyError:
        raise _bad("image", "without an 'id'") from None
    cols: dict = {"id": _strings(ids, "id", nullable=False)}
    cols["name"] = _strings([get(item, "name") for item in items], "name")
    if detail:
        cols["status"] = _statuses([get(item, "status") for item in items], n)
    else:
        code = -1 if pinned_status is None else _STATUS_CODES[pinned_status]
        cols["status"] = pd.Categorical.from_codes(np.full(n, code, dtype=np.int8),
                                                   dtype=STATUS_DTYPE)
    if detail:
        cols["progress"] = _ints([get(item, "progress") for item in items], "progress")
        cols["created"] = _times([get(item, "created") for item in items], "created")
        cols["updated"] = _times([get(item, "updated") for item in items], "updated")
        for col in ("min_ram", "min_disk", "size"):
            key = _INT_FIELDS[col]
            cols[col] = _ints([get(item, key) for item in items], key)
        servers = [get(item, "server") for item in items]
        _check_types(servers, "server", (dict, _NONE))
        cols["server_id"] = _strings([get(s, "id") if s else None for s in servers],
                                     "server.id")
        cols["disk_config"] = _strings([get(item, "OS-DCF:diskConfig") for item in items],
                                       "OS-DCF:diskConfig")
        metadata = [get(item, "metadata") for item in items]
        _check_types(metadata, "metadata", (dict, _NONE))
        cols["metadata"] = _objects(metadata, n)
    else:
        na_int = pd.array(np.zeros(n, dtype=np.int64), dtype=INT)
        na_int[:] = pd.NA
        na_ts = pd.DatetimeIndex(np.full(n, np.datetime64("NaT", "ns"))).tz_localize("UTC")
        na_str = pd.array([None] * n, dtype=STRING)
        for col in ("progress", "min_ram", "min_disk", "size"):
            cols[col] = na_int.copy()
        cols["created"] = cols["updated"] = na_ts
        cols["server_id"] = cols["disk_config"] = na_str
        cols["metadata"] = _objects([None] * n, n)
    cols.update(_link_arrays([get(item, "links") for item in items]))
    return pd.DataFrame({c: cols[c] for c in _ordered(cols)}, copy=False)


def _link_arrays(all_links: list) -> dict:
    _check_types(all_links, "links", (list, _NONE))
    fast = _standard_links(all_links)
    if fast is not None:
        return fast
    try:
        maps = [{link["rel"]: link["href"] for link in links} if links else {}
                for links in all_links]
    except (TypeError, KeyError):
        raise _bad("links", "must be a list of {rel, href} objects") from None
    rels = set().union(*maps) if maps else set()
    _check_types(list(rels), "links rel", (str,))
    extra = sorted(rels.difference(_BASE_RELS))
    out = {}
    for rel in (*_BASE_RELS, *extra):
        out[f"link_{rel}"] = _strings([m.get(rel) for m in maps], f"links[{rel}].href")
    return out


def _standard_links(all_links: list) -> dict | None:
    """Fast path: every item has exactly the links self, bookmark, alternate, in that order
    (what Nova sends). Returns ``None`` if not, and the general path takes over."""
    if set(map(type, all_links)) != {list} or set(map(len, all_links)) != {len(_BASE_RELS)}:
        return None
    out = {}
    try:
        for pos, rel in enumerate(_BASE_RELS):
            nth = [links[pos] for links in all_links]
            if set(map(type, nth)) != {dict} or {d.get("rel") for d in nth} != {rel}:
                return None
            hrefs = [d.get("href") for d in nth]
            if set(map(type, hrefs)) != {str}:
                return None
            out[f"link_{rel}"] = pd.array(hrefs, dtype=STRING)
    except (TypeError, KeyError):
        return None
    return out


def merge_frames(frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, int]:
    """Concatenate frames of several queries into Nova's order (``created`` then ``id``,
    both descending; NA last), dropping repeated ids. Returns ``(frame, dropped)``."""
    frames = [f for f in frames if len(f)] or [empty_frame()]
    if len(frames) == 1:
        merged = frames[0]
    else:
        merged = pd.concat(frames, ignore_index=True)
        for col in merged.columns:
            if col.startswith("link_"):
                merged[col] = merged[col].astype(STRING)
        merged = merged[_ordered(merged.columns)]
    before = len(merged)
    merged = merged.drop_duplicates("id", keep="first")
    merged = merged.sort_values(["created", "id"], ascending=False, na_position="last",
                                kind="stable", ignore_index=True)
    return merged, before - len(merged)


def _ordered(columns) -> list[str]:
    extra = sorted(c for c in columns if c not in COLUMNS)
    return COLUMNS + extra
