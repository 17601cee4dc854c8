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
from itertools import repeat
from operator import itemgetter

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
    "FrameBuilder",
    "link_columns",
    "merge_frames",
]

STATUSES = ["ACTIVE", "SAVING", "DELETED", "ERROR", "UNKNOWN"]
STATUS_DTYPE = pd.CategoricalDtype(STATUSES)
#: pandas' default string storage: pyarrow when it is installed, else Python objects
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
_DETAIL_KEYS = ("id", "name", "status", "progress", "created", "updated", "minRam", "minDisk",
                "OS-EXT-IMG-SIZE:size", "metadata", "links")
_INDEX_KEYS = ("id", "name", "links")
_TYPED_KEYS = {"status", "progress", "created", "updated", "minRam", "minDisk",
               "OS-EXT-IMG-SIZE:size"}
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


_TYPE_NAMES = {_NONE: "null", str: "a string", int: "an integer", dict: "an object",
               list: "a list"}
# per raw field: the types allowed (checked page by page, while the page is in cache)
_ALLOWED = {
    "id": None, "name": None, "status": (str, _NONE), "progress": (int, _NONE),
    "created": (str, _NONE), "updated": (str, _NONE), "minRam": (int, _NONE),
    "minDisk": (int, _NONE), "OS-EXT-IMG-SIZE:size": (int, _NONE), "metadata": (dict, _NONE),
    "links": (list, _NONE), "server": (dict, _NONE), "OS-DCF:diskConfig": None,
}  # None: strings, validated once at the end by StringArray (cheaper than per page)


def _check_types(values: list, field: str, allowed: tuple[type, ...]) -> None:
    kinds = set(map(type, values))
    if not kinds.issubset(allowed):
        odd = next(v for v in values if type(v) not in allowed)
        names = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in allowed)
        raise _bad(field, f"must be {names}, got {odd!r}"[:300])


def _strings(values: list, field: str, nullable: bool = True) -> pd.api.extensions.ExtensionArray:
    """A string column in the storage :data:`STRING` says (pyarrow when installed, else
    Python objects), validated in C (strings or null only).

    The array is built to match the dtype: pandas 3's ``StringArray(values)`` takes the
    default dtype (pyarrow storage when pyarrow is installed) over an object array, and such
    a column breaks ``merge``, ``concat`` and ``isin`` (issue 9).
    """
    try:
        out = _build_strings(values)
    except (TypeError, ValueError):
        odd = next(v for v in values if v is not None and type(v) is not str)
        raise _bad(field, f"must be a string or null, got {odd!r}"[:300]) from None
    if not nullable and out.isna().any():
        raise _bad(field, "must not be null")
    return out


def _build_strings(values: list) -> pd.api.extensions.ExtensionArray:
    if STRING.storage == "pyarrow":
        import pyarrow as pa  # present: pandas chose this storage because it is installed

        # ArrowTypeError is a TypeError; ArrowInvalid a ValueError
        return pd.arrays.ArrowStringArray(pa.array(values, type=pa.large_string()))
    arr = np.fromiter(values, dtype=object, count=len(values))
    try:
        return pd.arrays.StringArray(arr, dtype=STRING)
    except TypeError:  # pandas 2.2: no dtype argument, and only the Python storage
        return pd.arrays.StringArray(arr)


def _ints(values: list, field: str) -> pd.arrays.IntegerArray:
    try:
        return pd.array(values, dtype=INT)
    except (OverflowError, ValueError, TypeError) as exc:
        raise _bad(field, f"out of range: {exc}") from exc


def _times(values: list, field: str) -> pd.DatetimeIndex:
    try:
        # "ISO8601" takes Nova's %Y-%m-%dT%H:%M:%SZ on pandas' C fast path (15x strptime)
        out = pd.to_datetime(values, format="ISO8601", utc=True)
        return pd.DatetimeIndex(out).as_unit("ns")
    except (ValueError, TypeError, OverflowError) as exc:
        # one line naming the field and the bad value (not pandas' multi-line hint)
        odd = next((v for v in values if not _parses(v)), None)
        raise _bad(field, f"is not an ISO 8601 time: {odd!r}"[:300]) from exc


def _parses(value) -> bool:
    if value is None:
        return True
    try:
        pd.to_datetime([value], format="ISO8601", utc=True)
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def _status_codes(values: list) -> np.ndarray:
    """Category codes (int8, -1 for null) of Nova status words; unknown words -> UNKNOWN."""
    lut: dict = {None: -1}
    for value in set(values).difference(lut):
        lut[value] = _STATUS_CODES.get(value.upper(), _STATUS_CODES["UNKNOWN"])
    return np.fromiter(map(lut.__getitem__, values), dtype=np.int8, count=len(values))


def _join_ints(chunks: list) -> pd.arrays.IntegerArray:
    values = np.concatenate([c.to_numpy(dtype="int64", na_value=0) for c in chunks])
    mask = np.concatenate([np.asarray(c.isna(), dtype=bool) for c in chunks])
    return pd.arrays.IntegerArray(values, mask)


def _join_times(chunks: list) -> pd.DatetimeIndex:
    return chunks[0].append(chunks[1:]) if len(chunks) > 1 else chunks[0]


def _objects(values: list, n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    out[:] = values
    return out


def _column(items: list, key: str) -> list:
    """``key`` from every item, in one C-level pass; a missing key gives ``None``."""
    try:
        return list(map(itemgetter(key), items))
    except KeyError:
        return list(map(dict.get, items, repeat(key)))


class FrameBuilder:
    """Accumulate pages into column lists as they arrive, then type them in one go.

    Each page's fields are pulled out (and type-checked) right after it is parsed, while
    its dicts are still in the CPU cache; :meth:`frame` converts each column once.

    >>> b = FrameBuilder(detail=False)
    >>> b.add([{"id": "a", "name": None, "links": []}])
    >>> b.frame()["id"].tolist()
    ['a']
    """

    def __init__(self, detail: bool = True, pinned_status: str | None = None):
        self.detail = detail
        self.pinned_status = pinned_status
        self.keys = _DETAIL_KEYS if detail else _INDEX_KEYS
        self.cols: dict[str, list] = {k: [] for k in self.keys if k not in _TYPED_KEYS}
        self.typed: dict[str, list] = {k: [] for k in self.keys if k in _TYPED_KEYS}
        self.links: dict[str, list] = {rel: [] for rel in _BASE_RELS}
        self.n = 0

    def add(self, items: list) -> None:
        """Take one page (a list of image dicts); raise MalformedResponseError if it is not
        the images JSON. Nothing is added from a page that fails."""
        if not isinstance(items, list):
            raise _bad("images", f"must be a list, got {type(items).__name__}")
        if not items:
            return
        if set(map(type, items)) != {dict}:
            odd = next(item for item in items if type(item) is not dict)
            raise _bad("image", f"must be an object, got {odd!r}"[:300])
        if not all(map(dict.__contains__, items, repeat("id"))):
            raise _bad("image", "without an 'id'")
        page = {}
        for key in self.keys:
            values = _column(items, key)
            if _ALLOWED[key] is not None:
                _check_types(values, key, _ALLOWED[key])
            page[key] = values
        if self.detail:
            servers = _column(items, "server")
            _check_types(servers, "server", _ALLOWED["server"])
            page["server_id"] = ([s.get("id") if s else None for s in servers]
                                 if any(servers) else servers)
            page["disk_config"] = _column(items, "OS-DCF:diskConfig")
        links = _page_links(page.pop("links"))
        typed = {}  # numbers and times are converted now, while the page is in cache
        if self.detail:
            typed["status"] = _status_codes(page.pop("status"))
            for key in ("created", "updated"):
                typed[key] = _times(page.pop(key), key)
            for key in _INT_FIELDS.values():
                typed[key] = _ints(page.pop(key), key)
        for key, chunk in typed.items():
            self.typed[key].append(chunk)
        for key, values in page.items():
            self.cols.setdefault(key, []).extend(values)
        m = len(items)
        for rel in links.keys() - self.links.keys():
            self.links[rel] = [None] * self.n
        for rel, column in self.links.items():
            column.extend(links.get(rel) or repeat(None, m))
        self.n += m

    def frame(self) -> pd.DataFrame:
        """The typed DataFrame of everything added so far."""
        n, c = self.n, self.cols
        if not n:
            return empty_frame(sorted(self.links.keys() - set(_BASE_RELS)))
        cols: dict = {"id": _strings(c["id"], "id", nullable=False),
                      "name": _strings(c["name"], "name")}
        if self.detail:
            t = self.typed
            cols["status"] = pd.Categorical.from_codes(np.concatenate(t["status"]),
                                                       dtype=STATUS_DTYPE)
            cols["progress"] = _join_ints(t["progress"])
            cols["created"] = _join_times(t["created"])
            cols["updated"] = _join_times(t["updated"])
            for col in ("min_ram", "min_disk", "size"):
                cols[col] = _join_ints(t[_INT_FIELDS[col]])
            cols["server_id"] = _strings(c["server_id"], "server.id")
            cols["disk_config"] = _strings(c["disk_config"], "OS-DCF:diskConfig")
            cols["metadata"] = _objects(c["metadata"], n)
        else:
            code = -1 if self.pinned_status is None else _STATUS_CODES[self.pinned_status]
            cols["status"] = pd.Categorical.from_codes(np.full(n, code, dtype=np.int8),
                                                       dtype=STATUS_DTYPE)
            for col in ("progress", "min_ram", "min_disk", "size"):
                cols[col] = pd.array(np.zeros(n, dtype=np.int64), dtype=INT)
                cols[col][:] = pd.NA
            for col in ("created", "updated"):
                cols[col] = pd.DatetimeIndex(np.full(n, np.datetime64("NaT", "ns"))
                                             ).tz_localize("UTC")
            for col in ("server_id", "disk_config"):
                cols[col] = pd.array([None] * n, dtype=STRING)
            cols["metadata"] = _objects([None] * n, n)
        for rel, hrefs in self.links.items():
            cols[f"link_{rel}"] = _strings(hrefs, f"links[{rel}].href")
        return pd.DataFrame({k: cols[k] for k in _ordered(cols)}, copy=False)


def frame_from_pages(pages: Iterable[list], detail: bool = True,
                     pinned_status: str | None = None) -> pd.DataFrame:
    """Build the typed frame from pages (lists) of image dicts, in the order given.

    ``detail=False`` pages (id, name, links) give NA for the detail columns, and ``status``
    is ``pinned_status`` (the status the query asked for) or NA.
    """
    builder = FrameBuilder(detail, pinned_status)
    for page in pages:
        builder.add(page)
    return builder.frame()


def _page_links(all_links: list) -> dict[str, list]:
    """``{rel: [href or None per item]}`` for one page's ``links`` values."""
    fast = _standard_links(all_links)
    if fast is not None:
        return fast
    try:
        maps = [{link["rel"]: link["href"] for link in links} if links else {}
                for links in all_links]
    except (TypeError, KeyError):
        raise _bad("links", "must be a list of {rel, href} objects") from None
    rels = set().union(*maps)
    _check_types(list(rels), "links rel", (str,))
    out = {}
    for rel in rels:
        out[rel] = [m.get(rel) for m in maps]
    return out


def _standard_links(all_links: list) -> dict | None:
    """Fast path: every item has exactly the links self, bookmark, alternate, in that order
    (what Nova sends). Returns ``None`` if not, and the general path takes over."""
    out = {}
    try:
        # len() raises TypeError on null/numbers; a dict or string of length 3 fails below
        if set(map(len, all_links)) != {len(_BASE_RELS)}:
            return None
        for pos, rel in enumerate(_BASE_RELS):
            nth = list(map(itemgetter(pos), all_links))
            # itemgetter("rel") raises TypeError on anything but a mapping (-> general path)
            if set(map(itemgetter("rel"), nth)) != {rel}:
                return None
            out[rel] = list(map(itemgetter("href"), nth))  # types checked in frame()
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
