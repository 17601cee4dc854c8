"""Turn pages of image dicts into one typed DataFrame, whatever the API. Pure, vectorised.

Columns are always :data:`COLUMNS` in that order (plus ``link_<rel>`` for any other link
relation, after them), with :data:`DTYPES`, whatever the source or mode, so frames
concatenate. A source module (:mod:`imgframe.sources`) turns a page of its items into raw
column lists (``Source.extract``: plain Python values, named by frame column); this module
types them page by page, column by column, by the column's kind (:data:`KINDS`): one
comprehension or one C-level call per column (``pa.array``, ``pd.to_datetime``,
``Categorical.from_codes``), nothing row by row. A source may also decode its pages
straight into typed structs (``Source.typed``): their columns skip the type checks, which
the decoder has made. A projection (``FrameBuilder(columns=...)``, from
``load(columns=...)``) builds only the columns named: the others are never typed, and
their raw values are dropped with the page. Anything that is not the images JSON raises
:class:`~imgframe.errors.MalformedResponseError` naming the API's own field, never
``KeyError``/``TypeError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter

import numpy as np
import pandas as pd

from imgframe.errors import MalformedResponseError
from imgframe.status import CATEGORIES, STATUS_DTYPE, display_status

__all__ = [
    "COLUMNS",
    "DTYPES",
    "KINDS",
    "SOURCE_COLUMNS",
    "STRING",
    "FrameBuilder",
    "Typed",
    "check_types",
    "columns_of",
    "column",
    "empty_frame",
    "frame_from_pages",
    "malformed",
    "ordered_columns",
    "transposed",
]

#: pandas' default string storage: pyarrow when it is installed, else Python objects
STRING = pd.StringDtype()
TIMESTAMP = pd.DatetimeTZDtype("ns", "UTC")
INT = pd.Int64Dtype()
BOOL = pd.BooleanDtype()

#: column -> kind; the kind decides the dtype, the per-page checks and the conversion
KINDS = {
    "id": "string", "name": "string", "status": "status", "status_raw": "string",
    "progress": "int", "created": "time", "updated": "time", "min_ram": "int",
    "min_disk": "int", "size": "int", "virtual_size": "int", "visibility": "string",
    "owner": "string", "protected": "bool", "hidden": "bool", "disk_format": "string",
    "container_format": "string", "checksum": "string", "os_hash_algo": "string",
    "os_hash_value": "string", "tags": "list", "server_id": "string", "disk_config": "string",
    "metadata": "dict", "link_self": "string", "link_bookmark": "string",
    "link_alternate": "string", "link_file": "string",
}
COLUMNS = list(KINDS)
_KIND_DTYPES = {"string": STRING, "status": STATUS_DTYPE, "int": INT, "time": TIMESTAMP,
                "bool": BOOL, "list": np.dtype(object), "dict": np.dtype(object)}
DTYPES = {col: _KIND_DTYPES[kind] for col, kind in KINDS.items()}
_STATUS_CODES = {s: i for i, s in enumerate(CATEGORIES)}
_NONE = type(None)
_TYPE_NAMES = {_NONE: "null", str: "a string", int: "an integer", dict: "an object",
               list: "a list", bool: "true or false"}
# per kind: the Python types a raw value may have (checked page by page, while hot);
# None: strings, validated once at the end by pyarrow/StringArray (cheaper than per page)
_ALLOWED = {"string": None, "status": (str, _NONE), "int": (int, _NONE),
            "time": (str, _NONE), "bool": (bool, _NONE), "list": (list, _NONE),
            "dict": (dict, _NONE)}

def empty_frame(extra_links: Iterable[str] = (), columns: Iterable[str] | None = None
                ) -> pd.DataFrame:
    """Zero rows, the standard columns and dtypes (plus ``link_<rel>`` string columns);
    ``columns``: only those of the standard columns (a projection)."""
    wanted = None if columns is None else set(columns)
    names = COLUMNS if wanted is None else [c for c in COLUMNS if c in wanted]
    cols = {c: pd.Series([], dtype=DTYPES[c]) for c in names}
    for rel in extra_links:
        cols[f"link_{rel}"] = pd.Series([], dtype=STRING)
    return pd.DataFrame(cols)


def malformed(field: str, detail: str) -> MalformedResponseError:
    """The error of a page whose ``field`` is not what the images JSON holds."""
    return MalformedResponseError(f"malformed images response: {field} {detail}")


def check_types(values: list, field: str, allowed: tuple[type, ...]) -> None:
    """Raise :func:`malformed` naming ``field`` unless every value's type is ``allowed``."""
    kinds = set(map(type, values))
    if not kinds.issubset(allowed):
        odd = next(v for v in values if type(v) not in allowed)
        names = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in allowed)
        raise malformed(field, f"must be {names}, got {odd!r}"[:300])


def _strings(values: list, field: str, nullable: bool = True):
    """A chunk of a string column in the storage :data:`STRING` says (a ``pyarrow``
    array when pyarrow is installed, else a ``StringArray`` of Python objects), validated
    in C (strings or null only); :func:`_join_strings` makes the column of the chunks.

    The storage matches the dtype: pandas 3's ``StringArray(values)`` takes the default
    dtype (pyarrow storage when pyarrow is installed) over an object array, and such a
    column breaks ``merge``, ``concat`` and ``isin`` (issue 9).
    """
    try:
        out = _build_strings(values)
    except (TypeError, ValueError):
        odd = next((v for v in values if v is not None and type(v) is not str), None)
        if odd is None:   # every value is a string: one is not valid Unicode (a lone
            odd = next(v for v in values if not _encodes(v))   # surrogate, from JSON)
            raise malformed(field, f"must be valid Unicode text, got {odd!r}"[:300]) from None
        raise malformed(field, f"must be a string or null, got {odd!r}"[:300]) from None
    if not nullable and (out.null_count if STRING.storage == "pyarrow" else out.isna().any()):
        raise malformed(field, "must not be null")
    return out


def _encodes(value) -> bool:
    try:
        value is None or value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _build_strings(values: list):
    if STRING.storage == "pyarrow":
        import pyarrow as pa  # present: pandas chose this storage because it is installed

        if values.count(None) == len(values):   # a column this API leaves empty
            return pa.nulls(len(values), type=pa.large_string())
        # ArrowTypeError is a TypeError; ArrowInvalid a ValueError
        return pa.array(values, type=pa.large_string())
    arr = np.fromiter(values, dtype=object, count=len(values))
    try:
        return pd.arrays.StringArray(arr, dtype=STRING)
    except TypeError:  # pandas 2.2: no dtype argument, and only the Python storage
        return pd.arrays.StringArray(arr)


def _join_strings(chunks: list) -> pd.api.extensions.ExtensionArray:
    """One string column of its page chunks (see :func:`_strings`): with pyarrow, a
    chunked array of them (no copy, as pandas' own ``read_parquet`` gives)."""
    if STRING.storage == "pyarrow":
        import pyarrow as pa

        return pd.arrays.ArrowStringArray(pa.chunked_array(chunks, type=pa.large_string()))
    return chunks[0] if len(chunks) == 1 else type(chunks[0])._concat_same_type(chunks)


def _ints(values: list, field: str) -> pd.arrays.IntegerArray:
    """A chunk of an int column (values checked to be ints or None): straight into int64
    and a null mask, in C; pandas' own conversion (which names what is wrong) only for
    what numpy refuses (an int beyond int64)."""
    try:
        if None not in values:   # the usual column: no nulls
            return pd.arrays.IntegerArray(np.array(values, dtype=np.int64),
                                          np.zeros(len(values), dtype=bool))
        return pd.arrays.IntegerArray(*_with_mask(values, 0, np.int64))
    except (OverflowError, ValueError, TypeError):
        pass   # pandas' conversion below says what is wrong
    try:
        return pd.array(values, dtype=INT)
    except (OverflowError, ValueError, TypeError) as exc:
        raise malformed(field, f"out of range: {exc}") from exc


def _bools(values: list, field: str) -> pd.arrays.BooleanArray:
    """A chunk of a bool column (values checked to be bools or None), in C."""
    return pd.arrays.BooleanArray(*_with_mask(values, False, bool))


def _with_mask(values: list, fill, dtype) -> tuple[np.ndarray, np.ndarray]:
    """``values`` as a ``dtype`` array with ``fill`` for None, and the mask of the Nones."""
    data = np.array(values, dtype=object)
    mask = np.equal(data, None)
    data[mask] = fill
    return data.astype(dtype), mask


def _times(values: list, field: str) -> np.ndarray:
    """A chunk of a time column: UTC instants as ``datetime64[ns]`` (NaT for null);
    :func:`_join` makes the tz-aware column of the chunks."""
    fast = _canonical_times(values)
    if fast is not None:
        return fast
    try:
        # "ISO8601" takes %Y-%m-%dT%H:%M:%SZ on pandas' C fast path (15x strptime)
        out = pd.DatetimeIndex(pd.to_datetime(values, format="ISO8601", utc=True))
        return out.as_unit("ns").asi8.view("M8[ns]")
    except (ValueError, TypeError, OverflowError) as exc:
        # one line naming the field and the bad value (not pandas' multi-line hint)
        odd = next((v for v in values if not _parses(v)), None)
        raise malformed(field, f"is not an ISO 8601 time from 1677-09-21T00:12:44Z to "
                          f"2262-04-11T23:47:16Z: {odd!r}"[:300]) from exc


def _canonical_times(values: list) -> np.ndarray | None:
    """Where pyarrow is installed and every value is ``YYYY-MM-DDTHH:MM:SSZ`` (what the
    APIs send) or null, the instants in one C++ cast (about twice as fast as pandas'
    parser, the same instants); else None, and pandas parses (and names a bad value).
    The cast refuses an instant beyond ``datetime64[ns]``, so pandas' answer (an error)
    applies to it too."""
    if STRING.storage != "pyarrow":
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        text = pa.array(values, type=pa.string())
        lengths = pc.min_max(pc.binary_length(text)).as_py()
        if lengths["min"] != 20 or lengths["max"] != 20:
            return None
        stamps = text.cast(pa.timestamp("ns", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    return stamps.to_numpy(zero_copy_only=False)   # datetime64[ns] (UTC), NaT for null


def _parses(value) -> bool:
    """Whether ``value`` is null or a time the frame's ``datetime64[ns]`` holds."""
    if value is None:
        return True
    try:
        pd.DatetimeIndex(pd.to_datetime([value], format="ISO8601", utc=True)).as_unit("ns")
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def _status_codes(values: list) -> np.ndarray:
    """Category codes (int8, -1 for null) of display status words; unknown words -> UNKNOWN."""
    lut: dict = {None: -1}
    for value in set(values).difference(lut):
        lut[value] = _STATUS_CODES.get(value.upper(), _STATUS_CODES["UNKNOWN"])
    return np.fromiter(map(lut.__getitem__, values), dtype=np.int8, count=len(values))


def column(items: list, key: str) -> list:
    """``key`` from every item, in one C-level pass; a missing key gives ``None``.

    >>> column([{"a": 1}, {}], "a")
    [1, None]
    """
    try:
        return list(map(itemgetter(key), items))
    except KeyError:
        return list(map(dict.get, items, repeat(key)))


def columns_of(items: list, keys: tuple) -> dict:
    """``{key: [value per item]}`` of image dicts for several keys, read row by row: one
    ``itemgetter(*keys)`` call an item, which touches each item once (column by column, big
    items fall out of the CPU cache between passes: 0.11 s against 0.20 s for 84,539 Glance
    items). An item lacking a key sends the page column by column, through :func:`column`,
    with None for it.

    >>> columns_of([{"a": 1, "b": 2}, {"a": 3}], ("a", "b"))
    {'a': [1, 3], 'b': [2, None]}
    """
    if items and len(keys) > 1:
        try:
            rows = list(map(itemgetter(*keys), items))
        except KeyError:
            pass
        else:
            return transposed(keys, rows)
    return {key: column(items, key) for key in keys}


def transposed(keys: tuple, rows) -> dict:
    """``{key: [value per row]}`` of (non-empty) rows of values in ``keys``' order, in one
    C-level transposition (:func:`columns_of`'s item getters, a struct's ``astuple``).

    >>> transposed(("a", "b"), [(1, 2), (3, 4)])
    {'a': [1, 3], 'b': [2, 4]}
    """
    return dict(zip(keys, map(list, zip(*rows, strict=True)), strict=True))


def _kind(col: str) -> str:
    return KINDS.get(col, "string")   # extra link_<rel> columns are strings


def _na_chunk(kind: str, m: int, constant=None):
    """``m`` missing (or constant) values of a kind, in the form its chunks take."""
    if kind == "status":
        code = -1 if constant is None else _STATUS_CODES[constant]
        return np.full(m, code, dtype=np.int8)
    if kind == "int":
        return pd.arrays.IntegerArray(np.zeros(m, dtype=np.int64), np.ones(m, dtype=bool))
    if kind == "bool":
        return pd.arrays.BooleanArray(np.zeros(m, dtype=bool), np.ones(m, dtype=bool))
    if kind == "time":
        return np.full(m, np.datetime64("NaT", "ns"))
    if kind == "string":
        return _build_strings([constant] * m)
    return [constant] * m


def _join(kind: str, chunks: list, n: int):
    if kind == "status":
        return pd.Categorical.from_codes(np.concatenate(chunks), dtype=STATUS_DTYPE)
    if kind in ("int", "bool"):
        return type(chunks[0])._concat_same_type(chunks) if len(chunks) > 1 else chunks[0]
    if kind == "time":
        return pd.DatetimeIndex(np.concatenate(chunks)).tz_localize("UTC")
    if kind == "string":
        return _join_strings(chunks)
    out = np.empty(n, dtype=object)   # list, dict: each chunk copied in by numpy
    at = 0
    for chunk in chunks:
        out[at:at + len(chunk)] = chunk
        at += len(chunk)
    return out


@dataclass(frozen=True, slots=True)
class Typed:
    """A source's pages decoded straight into structs (msgspec), and their columns.

    ``item`` is the struct type of an image, ``columns(items) -> {column: values}`` the
    source's mapping for such items (as ``extract`` is for dicts). The decoder has checked
    every field's type, so the builder skips those checks; ``decoder`` and
    ``page(decoded) -> Page`` are the client's (see ``Source.typed``).
    """

    item: type
    columns: Callable[[list], dict]
    decoder: object = None
    page: Callable | None = None


class FrameBuilder:
    """Accumulate pages into typed column chunks as they arrive, then join them once.

    ``extract(items) -> {column: [raw value per item]}`` is the source's mapping (see
    :mod:`imgframe.sources`); columns it leaves out are NA, or ``constants[column]`` (the
    status a query pinned, say). ``fields`` names each column's field in the API, for error
    messages. ``typed``: a :class:`Typed`, for pages of the source's structs instead of
    dicts. Every column is typed right after its page is parsed, while the page is still in
    the CPU cache (strings in their final storage, so a page's Python strings are freed
    with it); :meth:`frame` only joins the chunks. ``columns``: a projection, the only
    columns built (``id`` always among them); what else ``extract`` gives (extra
    ``link_<rel>`` columns too) is dropped untyped and unchecked.

    >>> b = FrameBuilder(lambda items: {"id": [i["id"] for i in items]})
    >>> b.add([{"id": "a"}])
    >>> b.frame()[["id", "status"]].values.tolist()
    [['a', nan]]
    """

    def __init__(self, extract: Callable[[list], dict], *,
                 constants: dict | None = None, fields: dict | None = None,
                 typed: Typed | None = None, columns: Iterable[str] | None = None):
        self.extract = extract
        self.typed = typed
        wanted = None if columns is None else {"id", *columns}
        self.columns = None if wanted is None else [c for c in COLUMNS if c in wanted]
        self._wanted = None if wanted is None else frozenset(self.columns)
        self.constants = dict(constants or {})
        self.fields = dict(fields or {})
        self.chunks: dict[str, list] = {}
        self.sizes: list[int] = []
        self.last_id: str | None = None
        self.n = 0

    def add(self, items: list) -> None:
        """Take one page (a list of image dicts, or of the source's typed structs); raise
        MalformedResponseError if it is not the images JSON. Nothing is added from a page
        that fails."""
        if not isinstance(items, list):
            raise malformed("images", f"must be a list, got {type(items).__name__}")
        if not items:
            return
        typed = self.typed is not None and type(items[0]) is self.typed.item
        if typed:   # one decoder made the whole page: every item has the struct's type
            raw = self.typed.columns(items)
        else:
            if set(map(type, items)) != {dict}:
                odd = next(item for item in items if type(item) is not dict)
                raise malformed("image", f"must be an object, got {odd!r}"[:300])
            if not all(map(dict.__contains__, items, repeat("id"))):
                raise malformed("image", "without an 'id'")
            raw = self.extract(items)
        wanted = self._wanted
        if "status" not in raw and "status_raw" in raw and (wanted is None or "status" in wanted):
            if not typed:
                check_types(raw["status_raw"], self._field("status_raw"), (str, _NONE))
            raw["status"] = display_status(raw["status_raw"])
        if wanted is not None:
            raw = {col: values for col, values in raw.items() if col in wanted}
        page = {}
        built: dict[tuple, object] = {}   # (id of a values list, is id) -> its chunk
        for col, values in raw.items():
            kind = _kind(col)
            field = self._field(col)
            if not typed and _ALLOWED[kind] is not None:
                check_types(values, field, _ALLOWED[kind])
            if kind == "string":   # Glance's self and alternate links: one list, one chunk
                key = (id(values), col == "id")   # (Arrow chunks only: they are immutable)
                chunk = built.get(key)
                if chunk is None:
                    chunk = _strings(values, field, nullable=col != "id")
                    if STRING.storage == "pyarrow":
                        built[key] = chunk
                page[col] = chunk
            elif kind == "status":
                page[col] = _status_codes(values)
            elif kind == "int":
                page[col] = _ints(values, field)
            elif kind == "bool":
                page[col] = _bools(values, field)
            elif kind == "time":
                page[col] = _times(values, field)
            else:
                page[col] = values
        m = len(items)
        for col in page.keys() - self.chunks.keys():   # a column first seen on this page
            kind = _kind(col)
            self.chunks[col] = [_na_chunk(kind, size, self.constants.get(col))
                                for size in self.sizes]
        for col, chunks in self.chunks.items():
            chunks.append(page[col] if col in page
                          else _na_chunk(_kind(col), m, self.constants.get(col)))
        self.last_id = raw["id"][-1]
        self.sizes.append(m)
        self.n += m

    def _field(self, col: str) -> str:
        return self.fields.get(col, col)

    def frame(self) -> pd.DataFrame:
        """The typed DataFrame of everything added so far."""
        n = self.n
        extra = sorted(c for c in self.chunks if c not in KINDS)
        if not n:
            return empty_frame([c.removeprefix("link_") for c in extra], self.columns)
        cols = {}
        for col in (COLUMNS + extra if self.columns is None else self.columns):
            kind = _kind(col)
            chunks = self.chunks.get(col) or [_na_chunk(kind, n, self.constants.get(col))]
            cols[col] = _join(kind, chunks, n)
        return pd.DataFrame(cols, copy=False)


def frame_from_pages(pages: Iterable[list], detail: bool = True,
                     pinned_status: str | None = None, *, source) -> pd.DataFrame:
    """Build the typed frame from pages (lists) of one API's image dicts, in the order given.

    ``source`` is an :mod:`imgframe.sources` module's ``SOURCE``. A list view's pages (Nova
    ``detail=False``: id, name, links) give NA for the detail columns, and ``status`` is
    ``pinned_status`` (the status the query asked for) or NA. The caller's dicts are left
    as they are: the builder is given copies (a source's mapping may take values out of
    the items it is given, as a load's pages are its own).
    """
    builder = source.builder(detail=detail, pinned=(pinned_status, None))
    for page in pages:
        builder.add([dict(item) if type(item) is dict else item for item in page]
                    if isinstance(page, list) else page)
    return builder.frame()


#: The columns imgframe.load_many adds (string, NA where unknown), placed after ``metadata``.
SOURCE_COLUMNS = ("cloud", "region", "project_id")

def ordered_columns(columns) -> list[str]:
    """The standard columns among ``columns``, in COLUMNS' order (with load_many's source
    columns after ``metadata``), then any others (extra ``link_<rel>`` columns), sorted.

    >>> ordered_columns(["link_x", "size", "cloud", "id"])
    ['id', 'size', 'cloud', 'link_x']
    """
    columns = list(columns)
    present = set(columns)
    at = COLUMNS.index("metadata") + 1
    base = COLUMNS[:at] + list(SOURCE_COLUMNS) + COLUMNS[at:]
    return [c for c in base if c in present] + sorted(c for c in columns if c not in base)

