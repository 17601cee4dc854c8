"""Validate a listing query before anything is sent. API-neutral and pure: no HTTP here.

Every refusal is an :class:`~imgframe.errors.InvalidQueryError` (also a ``ValueError``)
naming the parameter, what is allowed and what was given. A :class:`Query` is what the
user asked for, in imgframe's own words (the display statuses of :mod:`imgframe.status`);
a source (:mod:`imgframe.sources`) turns it into its API's request streams.
"""

from __future__ import annotations

import datetime as _dt
import numbers
import re
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

import pandas as pd

from imgframe.errors import InvalidQueryError
from imgframe.status import CATEGORIES, DISPLAY_OF, LISTED, UNLISTED

__all__ = [
    "MAX_PAGE_SIZE",
    "Endpoint",
    "Query",
    "build_query",
    "check_columns",
    "check_id",
    "check_int",
    "format_time",
    "normalize_status",
    "origin_of",
    "parse_service_endpoint",
    "parse_time",
    "split_url",
]

MAX_PAGE_SIZE = 1000

_QUERYABLE = ", ".join(LISTED)
_BAD_PROJECT_CHARS = re.compile(r"[/?#%\s]")


def normalize_status(value, parameter: str = "status", *,
                     queryable: bool = True) -> tuple[str, ...]:
    """Return the displayed statuses asked for, upper-cased, de-duplicated, in order.

    Accepts one status (any case, or comma-separated) or a list of them; ``None`` means
    "any" and gives ``()``. With ``queryable=True`` (the loader) ERROR and DELETED are
    refused, since the API never lists them; ``queryable=False`` (slicing a frame that
    may hold them, e.g. from ``GET /images/{id}`` or a CSV) accepts every displayed status.

    >>> normalize_status(["saving", "ACTIVE", "Saving"])
    ('SAVING', 'ACTIVE')
    >>> normalize_status("error,Active", queryable=False)
    ('ERROR', 'ACTIVE')
    """
    known = LISTED if queryable else CATEGORIES
    allowed = f"one of {', '.join(known)} (any case), or a list of them"
    if value is None:
        return ()
    if isinstance(value, str):
        words = [w.strip() for w in value.split(",")]
    elif isinstance(value, (list, tuple, set, frozenset)):
        if not value:
            raise InvalidQueryError(parameter, allowed, value, reason="the list is empty")
        words = []
        for item in value:
            if not isinstance(item, str):
                raise InvalidQueryError(parameter, allowed, value,
                                        reason=f"{item!r} is not a string")
            words.append(item.strip())
        if isinstance(value, (set, frozenset)):
            words.sort()
    else:
        raise InvalidQueryError(parameter, allowed, value)
    out: list[str] = []
    for word in words:
        upper = word.upper()
        if queryable and upper in UNLISTED:
            raise InvalidQueryError(parameter, f"choose one of {_QUERYABLE}", value,
                                    reason=f"{upper} cannot be queried: {UNLISTED[upper]}")
        if upper not in known:
            hint = None
            display = DISPLAY_OF.get(word.lower())
            if display in UNLISTED:
                hint = f"{word!r} images are never listed"
            elif display is not None:
                hint = (f"{word!r} is a Glance status; the API displays it as "
                        f"{display}")
            raise InvalidQueryError(parameter, allowed, value, reason=hint)
        if upper not in out:
            out.append(upper)
    return tuple(out)


def parse_time(value, parameter: str) -> pd.Timestamp:
    """Return ``value`` as a UTC :class:`pandas.Timestamp`; naive values are taken as UTC.

    Accepts an ISO 8601 string, ``datetime``, ``date`` or ``pd.Timestamp``.

    >>> parse_time("2020-03-01T01:00:00+01:00", "changes_since")
    Timestamp('2020-03-01 00:00:00+0000', tz='UTC')
    """
    allowed = "an ISO 8601 string, datetime, date or pandas Timestamp (naive means UTC)"
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise InvalidQueryError(parameter, allowed, value, reason="it is empty")
        if not text[0].isdigit():
            # pandas would also take words like "now" or "today": not ISO 8601
            raise InvalidQueryError(parameter, allowed, value,
                                    reason="not an ISO 8601 date/time")
        try:
            ts = pd.Timestamp(pd.to_datetime(text, format="ISO8601"))
        except (ValueError, TypeError, OverflowError) as exc:
            raise InvalidQueryError(parameter, allowed, value,
                                    reason="not an ISO 8601 date/time") from exc
    elif isinstance(value, (_dt.datetime, pd.Timestamp)):
        ts = pd.Timestamp(value)
    elif isinstance(value, _dt.date):
        ts = pd.Timestamp(value.year, value.month, value.day)
    else:
        raise InvalidQueryError(parameter, allowed, value)
    if ts is pd.NaT or pd.isna(ts):
        raise InvalidQueryError(parameter, allowed, value, reason="it is NaT")
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    else:
        ts = ts.tz_convert("UTC")
    if not 1 <= ts.year <= 9999:
        raise InvalidQueryError(parameter, allowed, value, reason="year out of range")
    return ts


def format_time(ts: pd.Timestamp) -> str:
    """Format a UTC timestamp the way Nova writes and reads it (whole seconds, ``Z``).

    Sub-second times are rounded *up* to the next whole second.

    >>> format_time(pd.Timestamp("2020-03-01 12:30:05.9", tz="UTC"))
    '2020-03-01T12:30:06Z'
    >>> format_time(pd.Timestamp("0001-01-01", tz="UTC"))
    '0001-01-01T00:00:00Z'
    """
    ts = ts.tz_convert("UTC")
    if ts != ts.floor("s"):
        # Nova's times are whole seconds, so ">= ceil(t)" selects exactly ">= t"
        ts = ts.ceil("s")
    # built by hand: strftime's %Y does not zero-pad years below 1000
    return (f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d}T"
            f"{ts.hour:02d}:{ts.minute:02d}:{ts.second:02d}Z")


def check_int(value, parameter: str, *, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` as an int in ``[minimum, maximum]``; bools and floats are refused."""
    allowed = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidQueryError(parameter, allowed, value)
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        raise InvalidQueryError(parameter, allowed, value)
    return value


def check_id(value, parameter: str) -> str:
    """``value`` if it is an id or project id safe in a URL path, else InvalidQueryError."""
    allowed = "a non-empty string without '/', '?', '#', '%' or whitespace"
    if not isinstance(value, str) or not value or _BAD_PROJECT_CHARS.search(value):
        raise InvalidQueryError(parameter, allowed, value)
    return value


@dataclass(frozen=True)
class Query:
    """A validated listing query, API-neutral. A source (:mod:`imgframe.sources`) turns it
    into request streams (``Source.streams``)."""

    detail: bool = True
    statuses: tuple[str, ...] = ()
    name: str | None = None
    changes_since: pd.Timestamp | None = None
    min_ram: int | None = None
    min_disk: int | None = None
    page_size: int = MAX_PAGE_SIZE
    max_items: int | None = None
    marker: str | None = None
    visibility: str | None = None
    hidden: bool | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    #: the projection (``load(columns=...)``): frame columns in their order, ``id`` first;
    #: None: every column. Not a filter: the same images are listed either way.
    columns: tuple[str, ...] | None = None

    def filter_items(self) -> list[tuple[str, object]]:
        """``[(parameter, value), ...]`` of the filters given (as the user named them)."""
        out = [("status", self.statuses), ("name", self.name),
               ("changes_since", self.changes_since), ("min_ram", self.min_ram),
               ("min_disk", self.min_disk), ("visibility", self.visibility),
               ("hidden", self.hidden), ("owner", self.owner), ("tag", self.tags)]
        return [(k, v) for k, v in out if v is not None and v != ()]

    def filters(self) -> dict:
        """The filters given, JSON-friendly (times as ISO text), for ``attrs``."""
        out = {}
        for key, value in self.filter_items():
            if isinstance(value, pd.Timestamp):
                value = format_time(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = value
        return out

    def differences(self, other: Query) -> list[str]:
        """The options (as ``load`` names them) whose values differ from ``other``'s."""
        said = {"statuses": "status", "tags": "tag"}
        return [said.get(f.name, f.name) for f in fields(self)
                if getattr(self, f.name) != getattr(other, f.name)]


VISIBILITIES = ("public", "private", "shared", "community", "all")


def build_query(*, status=None, name=None, changes_since=None, min_ram=None, min_disk=None,
                detail=True, page_size=MAX_PAGE_SIZE, max_items=None, marker=None,
                visibility=None, hidden=None, owner=None, tag=None, columns=None) -> Query:
    """Validate the user's filters, paging options and projection; raise before anything
    is sent.

    ``min_ram``/``min_disk`` are *exact* matches on real Nova and Glance, not minimums.
    ``tag`` is one tag or a list (an image must carry all of them). Whether a source can
    apply a filter is checked by the source (``Source.check``).
    """
    statuses = normalize_status(status)
    if name is not None and not isinstance(name, str):
        raise InvalidQueryError("name", "a string (exact image name)", name)
    since = None if changes_since is None else parse_time(changes_since, "changes_since")
    if min_ram is not None:
        min_ram = check_int(min_ram, "min_ram", minimum=0)
    if min_disk is not None:
        min_disk = check_int(min_disk, "min_disk", minimum=0)
    if not isinstance(detail, bool):
        raise InvalidQueryError("detail", "True or False", detail)
    page_size = check_int(page_size, "page_size", minimum=1, maximum=MAX_PAGE_SIZE)
    if max_items is not None:
        max_items = check_int(max_items, "max_items", minimum=1)
    if marker is not None:
        marker = check_id(marker, "marker")
    if visibility is not None:
        word = visibility.strip().lower() if isinstance(visibility, str) else None
        if word not in VISIBILITIES:
            raise InvalidQueryError("visibility", f"one of {', '.join(VISIBILITIES)}",
                                    visibility)
        visibility = word
    if hidden is not None and not isinstance(hidden, bool):
        raise InvalidQueryError("hidden", "None (hidden and visible), True (only hidden) or "
                                "False (only not hidden)", hidden)
    if owner is not None:
        owner = check_id(owner, "owner")
    tags = _check_tags(tag)
    return Query(detail=detail, statuses=statuses, name=name, changes_since=since,
                 min_ram=min_ram, min_disk=min_disk, page_size=page_size,
                 max_items=max_items, marker=marker, visibility=visibility, hidden=hidden,
                 owner=owner, tags=tags, columns=check_columns(columns))


def check_columns(value, parameter: str = "columns") -> tuple[str, ...] | None:
    """The projection ``columns`` asks for: frame columns (a list, tuple, set or Index, or
    one string of comma-separated names) in the frame's own order, ``id`` always first;
    None (or every column) means the whole frame. An unknown name is refused, listing the
    allowed ones.

    >>> check_columns(["size", "name"])
    ('id', 'name', 'size')
    >>> check_columns("status,created")
    ('id', 'status', 'created')
    """
    # here, not at the top: imgframe.frame imports pandas, which registers df.images,
    # whose accessor imports this module (tests/test_imports.py)
    from imgframe.frame import COLUMNS

    if value is None:
        return None
    allowed = f"a list of frame columns ('id' is always loaded): {', '.join(COLUMNS)}"
    if isinstance(value, str):
        names = [n.strip() for n in value.split(",")]
    elif isinstance(value, (list, tuple, set, frozenset, pd.Index)):
        names = list(value)
    else:
        raise InvalidQueryError(parameter, allowed, value)
    if not names:
        raise InvalidQueryError(parameter, allowed, value,
                                reason="the list is empty (give ['id'] for the ids alone)")
    for name in names:
        if not isinstance(name, str) or name not in COLUMNS:
            raise InvalidQueryError(parameter, allowed, value,
                                    reason=f"{name!r} is not a column of the frame")
    wanted = {"id", *names}
    if len(wanted) == len(COLUMNS):
        return None
    return tuple(c for c in COLUMNS if c in wanted)


def _check_tags(tag) -> tuple[str, ...]:
    allowed = "a tag (non-empty string) or a list of tags (an image must have all of them)"
    if tag is None:
        return ()
    values = [tag] if isinstance(tag, str) else tag
    if not isinstance(values, (list, tuple)) or not values:
        raise InvalidQueryError("tag", allowed, tag)
    out: list[str] = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise InvalidQueryError("tag", allowed, tag, reason=f"{value!r} is not a tag")
        if value not in out:
            out.append(value)
    return tuple(out)


@dataclass(frozen=True)
class Endpoint:
    """Where an API lives: ``root`` (no trailing slash), its version, the project (if any).
    A source makes it (``Source.parse_endpoint``) and builds its URLs from it."""

    root: str
    api_version: str
    project_id: str | None

    @property
    def url(self) -> str:
        """The versioned endpoint, ``root/vX[/project]`` (token-free by construction)."""
        parts = [self.root, self.api_version] + ([self.project_id] if self.project_id else [])
        return "/".join(parts)

    @property
    def origin(self) -> tuple[str, str, int | None]:
        """``(scheme, host, port)`` with the default port filled in."""
        return origin_of(self.root)


def origin_of(url: str) -> tuple[str, str, int | None]:
    """Return ``(scheme, host, port)`` of ``url``, default ports made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def parse_service_endpoint(endpoint, project_id=None, *, parameter: str = "endpoint",
                           what: str = "the API") -> Endpoint:
    """Validate a versionless service root (Glance, IMS); a trailing ``/v2`` is dropped.

    >>> parse_service_endpoint("https://image.example.com:9292/v2/")
    Endpoint(root='https://image.example.com:9292', api_version='v2', project_id=None)
    """
    allowed = f"an http(s) URL of {what}, e.g. https://image.example.com:9292"
    parts = split_url(endpoint, parameter, allowed)
    segments = [s for s in parts.path.split("/") if s]
    if segments and segments[-1].lower() in ("v2", "v2.0"):
        segments = segments[:-1]
    if project_id is not None:
        check_id(project_id, "project_id")
    path = "/".join(segments)
    root = f"{parts.scheme.lower()}://{parts.netloc}" + (f"/{path}" if path else "")
    return Endpoint(root=root, api_version="v2", project_id=project_id)


def split_url(endpoint, parameter: str, allowed: str):
    """``urlsplit(endpoint)`` of an http(s) URL with a host, no credentials, query or
    fragment; else InvalidQueryError naming ``parameter``."""
    if not isinstance(endpoint, str):
        raise InvalidQueryError(parameter, allowed, endpoint)
    try:
        parts = urlsplit(endpoint.strip())
        parts.port  # noqa: B018  (validates the port)
    except ValueError as exc:
        raise InvalidQueryError(parameter, allowed, endpoint, reason=str(exc)) from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidQueryError(parameter, allowed, endpoint)
    if "@" in parts.netloc:
        raise InvalidQueryError(parameter, allowed, "<URL with credentials>",
                                reason="credentials in the URL are refused; use token=")
    if parts.query or parts.fragment:
        raise InvalidQueryError(parameter, allowed, endpoint,
                                reason="no query string or fragment")
    return parts

