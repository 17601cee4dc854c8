"""Validate a listing query before anything is sent, and turn it into request parameters.

Pure: no HTTP here. Every refusal is an :class:`~imgframe.errors.InvalidQueryError` (also a
``ValueError``) naming the parameter, what is allowed and what was given.

Nova compares ``status`` with *Glance's* status words, so one displayed status can need
several requests: ``SAVING`` is Glance ``queued`` and ``saving``. :func:`build_query`
expands it; the client sends one request stream per Glance word and merges the results.
"""

from __future__ import annotations

import datetime as _dt
import numbers
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import pandas as pd

from imgframe.errors import InvalidQueryError

__all__ = [
    "DISPLAY_STATUSES",
    "GLANCE_STATUSES",
    "MAX_PAGE_SIZE",
    "Endpoint",
    "Query",
    "build_query",
    "check_int",
    "format_time",
    "normalize_status",
    "parse_endpoint",
    "parse_microversion",
    "parse_service_endpoint",
    "parse_time",
]

#: The statuses the compute API displays, in the frame's category order.
DISPLAY_STATUSES = ("ACTIVE", "SAVING", "DELETED", "ERROR", "UNKNOWN")

#: The Glance status words behind each displayed status that a list can return.
GLANCE_STATUSES = {
    "ACTIVE": ("active",),
    "SAVING": ("queued", "saving"),
    "UNKNOWN": ("deactivated", "importing", "uploading"),
}

MAX_PAGE_SIZE = 1000
MAX_MICROVERSION = (2, 35)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

_QUERYABLE = ", ".join(GLANCE_STATUSES)
_GLANCE_TO_DISPLAY = {g: d for d, gs in GLANCE_STATUSES.items() for g in gs}
_UNQUERYABLE = {
    "DELETED": "the images API never lists deleted images",
    "ERROR": "the images API never lists killed (ERROR) images",
}
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
    known = GLANCE_STATUSES if queryable else DISPLAY_STATUSES
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
        if queryable and upper in _UNQUERYABLE:
            raise InvalidQueryError(parameter, f"choose one of {_QUERYABLE}", value,
                                    reason=f"{upper} cannot be queried: {_UNQUERYABLE[upper]}")
        if upper not in known:
            hint = None
            if word.lower() in _GLANCE_TO_DISPLAY:
                hint = (f"{word!r} is a Glance status; the API displays it as "
                        f"{_GLANCE_TO_DISPLAY[word.lower()]}")
            elif word.lower() in ("killed", "pending_delete", "deleted"):
                hint = f"{word!r} images are never listed"
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


def _check_id(value, parameter: str) -> str:
    allowed = "a non-empty string without '/', '?', '#', '%' or whitespace"
    if not isinstance(value, str) or not value or _BAD_PROJECT_CHARS.search(value):
        raise InvalidQueryError(parameter, allowed, value)
    return value


@dataclass(frozen=True)
class Query:
    """A validated listing query, API-neutral. A source (:mod:`imgframe.sources`) turns it
    into request streams; ``requests()`` is Nova's translation (kept for callers of 0.1)."""

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

    def requests(self) -> list[tuple[str | None, dict[str, str]]]:
        """Nova's request streams: ``[(pinned display status or None, params), ...]``."""
        from imgframe.sources import nova

        return [(s.pinned[0], dict(s.params)) for s in nova.SOURCE.streams(self)]

    @property
    def merged(self) -> bool:
        """True when several Nova request streams must be merged into Nova's order."""
        return len(self.requests()) > 1


VISIBILITIES = ("public", "private", "shared", "community", "all")


def build_query(*, status=None, name=None, changes_since=None, min_ram=None, min_disk=None,
                detail=True, page_size=MAX_PAGE_SIZE, max_items=None, marker=None,
                visibility=None, hidden=None, owner=None, tag=None) -> Query:
    """Validate the user's filters and paging options; raise before anything is sent.

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
        marker = _check_id(marker, "marker")
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
        owner = _check_id(owner, "owner")
    tags = _check_tags(tag)
    return Query(detail=detail, statuses=statuses, name=name, changes_since=since,
                 min_ram=min_ram, min_disk=min_disk, page_size=page_size,
                 max_items=max_items, marker=marker, visibility=visibility, hidden=hidden,
                 owner=owner, tags=tags)


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
    """Where the images API lives: ``root`` (compute root, no trailing slash), version, project."""

    root: str
    api_version: str
    project_id: str | None

    def images_url(self, detail: bool) -> str:
        """Return the list URL, e.g. ``http://h:8774/v2.1/<project>/images/detail``."""
        parts = [self.root, self.api_version]
        if self.project_id:
            parts.append(quote(self.project_id, safe=""))
        parts.append("images/detail" if detail else "images")
        return "/".join(parts)

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


def _normalize_version(value) -> str:
    allowed = "'v2.1' or 'v2'"
    if not isinstance(value, str):
        raise InvalidQueryError("api_version", allowed, value)
    text = value.strip().lower()
    text = text if text.startswith("v") else "v" + text
    if text not in ("v2", "v2.1"):
        raise InvalidQueryError("api_version", allowed, value)
    return text


def parse_endpoint(endpoint, project_id=None, api_version="v2.1") -> Endpoint:
    """Validate the compute endpoint; accept a root or a URL ending in ``/vX[/project]``.

    >>> parse_endpoint("https://c.example:8774/v2/abc/")
    Endpoint(root='https://c.example:8774', api_version='v2', project_id='abc')
    """
    allowed = "an http(s) URL of the compute API, e.g. https://compute.example.com:8774"
    parts = _split_url(endpoint, "endpoint", allowed)
    version = _normalize_version(api_version)
    segments = [s for s in parts.path.split("/") if s]
    url_project = None
    if len(segments) >= 2 and segments[-2].lower() in ("v2", "v2.1"):
        version, url_project = segments[-2].lower(), segments[-1]
        segments = segments[:-2]
    elif segments and segments[-1].lower() in ("v2", "v2.1"):
        version = segments[-1].lower()
        segments = segments[:-1]
    if url_project is not None:
        _check_id(url_project, "endpoint project id")
        if project_id is not None and project_id != url_project:
            raise InvalidQueryError("project_id", f"the project in the endpoint ({url_project})",
                                    project_id, reason="it differs from the endpoint's")
        project_id = url_project
    if project_id is not None:
        _check_id(project_id, "project_id")
    path = "/".join(segments)
    root = f"{parts.scheme.lower()}://{parts.netloc}" + (f"/{path}" if path else "")
    return Endpoint(root=root, api_version=version, project_id=project_id)


def parse_service_endpoint(endpoint, project_id=None, *, parameter: str = "endpoint",
                           what: str = "the API") -> Endpoint:
    """Validate a versionless service root (Glance, IMS); a trailing ``/v2`` is dropped.

    >>> parse_service_endpoint("https://image.example.com:9292/v2/")
    Endpoint(root='https://image.example.com:9292', api_version='v2', project_id=None)
    """
    allowed = f"an http(s) URL of {what}, e.g. https://image.example.com:9292"
    parts = _split_url(endpoint, parameter, allowed)
    segments = [s for s in parts.path.split("/") if s]
    if segments and segments[-1].lower() in ("v2", "v2.0"):
        segments = segments[:-1]
    if project_id is not None:
        _check_id(project_id, "project_id")
    path = "/".join(segments)
    root = f"{parts.scheme.lower()}://{parts.netloc}" + (f"/{path}" if path else "")
    return Endpoint(root=root, api_version="v2", project_id=project_id)


def _split_url(endpoint, parameter: str, allowed: str):
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


def parse_microversion(value) -> str | None:
    """Validate an optional compute microversion (2.1 .. 2.35); ``None`` sends no header."""
    if value is None:
        return None
    allowed = "None (send no header) or a microversion from '2.1' to '2.35'"
    if isinstance(value, float):
        # 2.10 as a float is 2.1: refuse rather than send the wrong microversion
        raise InvalidQueryError("microversion", allowed, value,
                                reason="a float loses trailing zeros (2.10 == 2.1); pass a "
                                "string like '2.10'")
    text = value.strip() if isinstance(value, str) else None
    match = re.fullmatch(r"(\d+)\.(\d+)", text or "")
    if not match:
        raise InvalidQueryError("microversion", allowed, value)
    major, minor = int(match.group(1)), int(match.group(2))
    if major != 2 or not 1 <= minor or (major, minor) > MAX_MICROVERSION:
        reason = ("the images API is removed from 2.36 on (404)"
                  if (major, minor) > MAX_MICROVERSION else None)
        raise InvalidQueryError("microversion", allowed, value, reason=reason)
    return f"{major}.{minor}"
