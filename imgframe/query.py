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
    """A validated listing query. ``requests()`` gives what to send, one entry per stream."""

    detail: bool = True
    statuses: tuple[str, ...] = ()
    name: str | None = None
    changes_since: pd.Timestamp | None = None
    min_ram: int | None = None
    min_disk: int | None = None
    page_size: int = MAX_PAGE_SIZE
    max_items: int | None = None
    marker: str | None = None

    def requests(self) -> list[tuple[str | None, dict[str, str]]]:
        """Return ``[(pinned display status or None, params), ...]``, params as sent.

        Params exclude ``marker`` (the pager adds it). One entry per Glance status.
        """
        base: dict[str, str] = {}
        if self.name is not None:
            base["name"] = f"eq:{self.name}" if ":" in self.name else self.name
        if self.changes_since is not None:
            base["changes-since"] = format_time(self.changes_since)
        if self.min_ram is not None:
            base["minRam"] = str(self.min_ram)
        if self.min_disk is not None:
            base["minDisk"] = str(self.min_disk)
        base["limit"] = str(self.page_size)
        if not self.statuses:
            return [(None, base)]
        out = []
        for display in self.statuses:
            for glance in GLANCE_STATUSES[display]:
                out.append((display, {"status": glance, **base}))
        return out

    @property
    def merged(self) -> bool:
        """True when several request streams must be merged into Nova's order."""
        return len(self.requests()) > 1


def build_query(*, status=None, name=None, changes_since=None, min_ram=None, min_disk=None,
                detail=True, page_size=MAX_PAGE_SIZE, max_items=None, marker=None) -> Query:
    """Validate the user's filters and paging options; raise before anything is sent.

    ``min_ram``/``min_disk`` are sent as ``minRam``/``minDisk``; note that real Nova (through
    Glance) treats them as *exact* matches, not minimums.
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
    return Query(detail=detail, statuses=statuses, name=name, changes_since=since,
                 min_ram=min_ram, min_disk=min_disk, page_size=page_size,
                 max_items=max_items, marker=marker)


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
    if not isinstance(endpoint, str):
        raise InvalidQueryError("endpoint", allowed, endpoint)
    try:
        parts = urlsplit(endpoint.strip())
        parts.port  # noqa: B018  (validates the port)
    except ValueError as exc:
        raise InvalidQueryError("endpoint", allowed, endpoint, reason=str(exc)) from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidQueryError("endpoint", allowed, endpoint)
    if "@" in parts.netloc:
        raise InvalidQueryError("endpoint", allowed, "<URL with credentials>",
                                reason="credentials in the URL are refused; use token=")
    if parts.query or parts.fragment:
        raise InvalidQueryError("endpoint", allowed, endpoint,
                                reason="no query string or fragment")
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
