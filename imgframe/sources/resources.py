"""Typed frames of resources other than images (servers, volumes), and the scope record
that says what such a listing covered. Pure: no HTTP here.

A resource module (:mod:`imgframe.sources.servers`, :mod:`imgframe.sources.volumes`)
gives its fixed columns as data, ``{column: kind}``, and a function from a page of items to
raw column lists; :class:`ResourceBuilder` types them column by column with the same
dtypes as the images frame (:mod:`imgframe.frame`): ``string`` is pandas' nullable string
(pyarrow storage when pyarrow is installed), ``int`` ``Int64``, ``bool`` ``boolean``,
``time`` ``datetime64[ns, UTC]``, ``list``/``dict`` Python objects. Such columns survive
``concat``, ``merge``, ``isin``, ``groupby`` and Parquet, with and without pyarrow.

The scope (:class:`Scope`) is the contract between a loader and :func:`imgframe.usage.usage`:
the loader stores ``Scope(...).as_dict()`` in ``frame.attrs["imgframe"]["scope"]``;
``Scope.of(frame)`` reads it back (None when the frame does not say).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd

from imgframe.errors import MalformedResponseError
from imgframe.frame import BOOL, INT, STRING, TIMESTAMP, Typed

__all__ = ["CELLS", "KIND_DTYPES", "ResourceBuilder", "Scope", "dtypes_of", "empty_of",
           "merge_by_id", "typed_frame"]

KIND_DTYPES = {"string": STRING, "int": INT, "bool": BOOL, "time": TIMESTAMP,
               "list": np.dtype(object), "dict": np.dtype(object)}
_NONE = type(None)
_ALLOWED = {"string": (str, _NONE), "int": (int, _NONE), "bool": (bool, _NONE),
            "time": (str, _NONE), "list": (list, _NONE), "dict": (dict, _NONE)}
_NAMES = {_NONE: "null", str: "a string", int: "an integer", bool: "true or false",
          list: "a list", dict: "an object"}


def dtypes_of(kinds: dict) -> dict:
    """``{column: dtype}`` of ``{column: kind}``."""
    return {col: KIND_DTYPES[kind] for col, kind in kinds.items()}


def empty_of(kinds: dict) -> pd.DataFrame:
    """Zero rows, the columns of ``kinds`` in order, with their dtypes."""
    return pd.DataFrame({c: pd.Series([], dtype=KIND_DTYPES[k]) for c, k in kinds.items()})


def _bad(what: str, field_name: str, detail: str) -> MalformedResponseError:
    return MalformedResponseError(f"malformed {what} response: {field_name} {detail}"[:300])


def _check(values: list, kind: str, what: str, field_name: str) -> None:
    allowed = _ALLOWED[kind]
    if not set(map(type, values)).issubset(allowed):
        odd = next(v for v in values if type(v) not in allowed)
        names = " or ".join(_NAMES[t] for t in allowed)
        raise _bad(what, field_name, f"must be {names}, got {odd!r}")


def _typed(values: list, kind: str, what: str, field_name: str):
    n = len(values)
    if kind == "string":
        if STRING.storage == "pyarrow":   # straight into Arrow, in C; pandas for the rest
            import pyarrow as pa  # present: pandas chose this storage because it is installed

            try:
                return pd.arrays.ArrowStringArray(pa.array(values, type=pa.large_string()))
            except (TypeError, ValueError):   # pandas' own conversion says what is wrong
                pass
        return pd.array(values, dtype=STRING)
    if kind == "int":
        mask = np.fromiter((v is None for v in values), dtype=bool, count=n)
        data = np.array([0 if v is None else v for v in values], dtype=object)
        try:
            return pd.arrays.IntegerArray(data.astype(np.int64), mask)
        except OverflowError:
            raise _bad(what, field_name, "out of range") from None
    if kind == "bool":
        mask = np.fromiter((v is None for v in values), dtype=bool, count=n)
        data = np.fromiter((v is True for v in values), dtype=bool, count=n)
        return pd.arrays.BooleanArray(data, mask)
    if kind == "time":
        try:
            # cache=False: pandas' cache of repeated values (it turns on when many repeat,
            # as servers' ``updated`` do) costs 9x the parse it would save
            out = pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601", utc=True,
                                 cache=False)
            return out.dt.as_unit("ns").array
        except (ValueError, TypeError, OverflowError):
            odd = next((v for v in values if not _parses(v)), None)
            raise _bad(what, field_name, f"is not an ISO 8601 time from 1677 to 2262: "
                                         f"{odd!r}") from None
    out = np.empty(n, dtype=object)   # list, dict: the objects as sent
    out[:] = values
    return out


def _parses(value) -> bool:
    try:
        pd.to_datetime(pd.Series([value], dtype=object), format="ISO8601", utc=True)
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def typed_frame(raw: dict, kinds: dict, *, what: str = "resources",
                fields_: dict | None = None, check: bool = True) -> pd.DataFrame:
    """The frame of raw column lists (``{column: [value per item]}``, all of one length),
    in ``kinds``' order and dtypes; a column ``raw`` lacks is NA; ``link_<rel>`` columns
    ``kinds`` does not name come after, as strings, sorted. A value of the wrong type
    raises :class:`~imgframe.errors.MalformedResponseError` naming the API's field
    (``fields_``: column -> field name) and ``what`` (``servers``, ``volumes``);
    ``check=False``: the values' types are known to be right (checked page by page)."""
    lengths = {len(v) for v in raw.values()}
    n = lengths.pop() if lengths else 0
    if lengths:
        raise ValueError("raw columns differ in length")
    names = dict(fields_ or {})
    extra = sorted(c for c in raw if c not in kinds and c.startswith("link_"))
    all_kinds = {**kinds, **{c: "string" for c in extra}}
    cols = {}
    for col, kind in all_kinds.items():
        values = raw.get(col)
        if values is None:
            cols[col] = pd.Series([None] * n, dtype=object).astype(KIND_DTYPES[kind]) \
                if kind not in ("list", "dict") else np.full(n, None, dtype=object)
            continue
        name = names.get(col, col)
        if check:
            _check(values, kind, what, name)
        cols[col] = _typed(values, kind, what, name)
    return pd.DataFrame(cols, copy=False)


class ResourceBuilder:
    """Pages of a resource's items in, one typed frame out.

    ``extract(items) -> {column: [raw value per item]}`` is the resource module's mapping;
    ``kinds`` its fixed columns. Every item must be an object with an ``id``. ``typed``: a
    :class:`~imgframe.frame.Typed`, for pages of the module's structs instead of dicts
    (its ``columns`` give the same raw columns as ``extract``; the decoder has checked
    their types, so they are not checked again)."""

    def __init__(self, extract: Callable[[list], dict], kinds: dict, *, what: str,
                 fields_: dict | None = None, typed: Typed | None = None):
        self.extract = extract
        self.kinds = kinds
        self.what = what
        self.fields = dict(fields_ or {})
        self.typed = typed
        self.raw: dict[str, list] = {}
        self.n = 0
        self.last_id: str | None = None   # the walk resumes after it (resume_marker)

    def add(self, items: list) -> None:
        """Take one page (a list of item dicts, or of the typed structs); nothing is added
        from a page that fails."""
        if not isinstance(items, list):
            raise _bad(self.what, self.what, f"must be a list, got {type(items).__name__}")
        if not items:
            return
        if self.typed is not None and type(items[0]) is self.typed.item:
            page = self.typed.columns(items)   # one decoder made the page: types checked
        else:
            if set(map(type, items)) != {dict}:
                odd = next(i for i in items if type(i) is not dict)
                raise _bad(self.what, "item", f"must be an object, got {odd!r}")
            if not all("id" in item for item in items):
                raise _bad(self.what, "item", "without an 'id'")
            page = self.extract(items)
            for col, values in page.items():   # check this page's types before keeping it
                kind = self.kinds.get(col, "string")
                _check(values, kind, self.what, self.fields.get(col, col))
        m = len(items)
        for col in page.keys() - self.raw.keys():
            self.raw[col] = [None] * self.n
        for col, values in self.raw.items():
            values.extend(page[col] if col in page else [None] * m)
        self.n += m
        self.last_id = page["id"][-1]

    def frame(self) -> pd.DataFrame:
        """The typed frame of every page added so far (their types checked page by page)."""
        if not self.n:
            return empty_of(self.kinds)
        return typed_frame(self.raw, self.kinds, what=self.what, fields_=self.fields,
                           check=False)


def merge_by_id(frames: list) -> tuple[pd.DataFrame, int]:
    """Several listings of one resource as one frame: each id once (the first listing's
    row wins), in the APIs' order (``created`` then ``id``, descending); ``(frame,
    duplicates dropped)``. The dtypes are kept (every frame has the same columns)."""
    frames = [f for f in frames if len(f)] or frames[:1]
    joined = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    out = joined.drop_duplicates("id", keep="first")
    dropped = len(joined) - len(out)
    if "created" in out:
        out = out.sort_values(["created", "id"], ascending=False, na_position="last",
                              kind="stable")
    return out.reset_index(drop=True), dropped


#: what a servers listing says of unanswered cells: all answered, some did not, or it
#: could not tell (a filtered or paged listing, below 2.69, no os-services for a
#: non-admin); None: the service has no cells (Huawei ECS; volumes)
CELLS = ("up", "down", "unverified")


@dataclass(frozen=True)
class Scope:
    """What one servers or volumes listing covered: the contract in
    ``attrs["imgframe"]["scope"]`` (as :meth:`as_dict`).

    ``resource``: ``servers`` or ``volumes``; ``source``: ``nova``, ``ecs``, ``cinder``,
    ``evs``. ``projects``: the projects listed (None with ``all_projects``: every project,
    an admin's listing that really got them all); ``caller``: as whom (a user or project
    id, never a token), ``admin`` whether that caller had the admin role (None: unknown).
    ``every_page``: the listing went to its end (no truncation, no failed page).
    ``cells``: one of :data:`CELLS` (default ``unverified``: a Nova loader that does not
    check never claims the cells answered), or None where the service has none (Huawei
    ECS, volumes). ``soft_deleted``: SOFT_DELETED servers were included (a
    ``changes-since`` or admin ``deleted``/``soft_deleted`` listing, or a service with no
    such state); ``deleted``: DELETED ones were too (they never count as referrers).
    ``notes``: anything else the loader wants a reader to know.
    """

    resource: str
    source: str
    projects: tuple[str, ...] | None = None
    all_projects: bool = False
    caller: str | None = None
    admin: bool | None = None
    every_page: bool = False
    cells: str | None = "unverified"
    soft_deleted: bool = False
    deleted: bool = False
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self):
        if self.resource not in ("servers", "volumes"):
            raise ValueError(f"resource must be 'servers' or 'volumes', got {self.resource!r}")
        if self.cells is not None and self.cells not in CELLS:
            raise ValueError(f"cells must be one of {', '.join(CELLS)} or None, "
                             f"got {self.cells!r}")
        if self.projects is not None:
            object.__setattr__(self, "projects", tuple(self.projects))
        object.__setattr__(self, "notes", tuple(self.notes))

    def as_dict(self) -> dict:
        """Plain values (lists for tuples), for ``attrs`` and JSON."""
        out = asdict(self)
        out["projects"] = None if self.projects is None else list(self.projects)
        out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Scope:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Scope | None:
        """The scope ``frame.attrs["imgframe"]["scope"]`` records, or None."""
        found = (getattr(frame, "attrs", None) or {}).get("imgframe", {}).get("scope")
        if isinstance(found, Scope):
            return found
        if isinstance(found, dict):
            return cls.from_dict(found)
        return None

    def attach(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Record this scope in ``frame.attrs["imgframe"]["scope"]`` (what a loader does
        last); returns ``frame``."""
        frame.attrs.setdefault("imgframe", {})["scope"] = self.as_dict()
        return frame

    def covers(self, project: str | None) -> bool:
        """Whether this listing saw every server/volume of ``project``."""
        if self.all_projects:
            return True
        return project is not None and self.projects is not None and project in self.projects
