"""Follow a marker-paged listing to the end: every image exactly once, or a clear error.

Blind to HTTP, in the manner of python-api-core's ``page_iterator``: a
:class:`PageIterator` takes ``fetch(marker) -> Page`` and decides, page by page,

1. **where to go next**: the ``marker`` from the page's next href (or its next marker) if
   it has one, else the last id of the page (the href's scheme/host/port never matter: the
   caller rebuilds the URL on its configured endpoint);
2. **whether to go on**: while there is a next link, or the page was full (a full page
   without a link is followed once more, to be sure); stop on an empty page, or a short
   page without a link, unless ``until_empty`` (an API with no next link and an
   undocumented page-size cap: only an empty page ends it);
3. **when to give up**: a marker seen before, or a page made only of ids already seen,
   raises :class:`~imgframe.errors.PaginationError` instead of looping.

Overlapping pages are fine: repeated ids are dropped and counted. If the marker image
vanished (``fetch`` raises :class:`MarkerNotFound`), earlier ids of the previous page are
tried as markers before giving up. When iteration fails, ``resume_marker`` says where to
resume from; the caller attaches what was loaded so far.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from urllib.parse import parse_qsl, urlsplit

from imgframe.errors import APIError, MalformedResponseError, PaginationError

__all__ = ["MarkerNotFound", "Page", "PageIterator", "loads", "marker_from_href", "next_marker"]

try:  # msgspec: a page parses about twice as fast as with json (bench/README.md)
    from msgspec import DecodeError as _FastDecodeError
    from msgspec.json import decode as _fast_loads
except ImportError:  # pragma: no cover - a core dependency; json still does the job
    _fast_loads, _FastDecodeError = json.loads, ValueError


def loads(text: bytes | str):
    """JSON (a page's body, a stored row's text): msgspec's decoder, and the standard
    library's answer for what msgspec refuses (NaN, lone surrogates, UTF-16 bodies, and
    anything malformed), so the result and the errors (ValueError, UnicodeDecodeError) are
    exactly ``json.loads``'s.

    >>> loads(b'{"a": [1, NaN]}')
    {'a': [1, nan]}
    """
    try:
        return _fast_loads(text)
    except _FastDecodeError:
        return json.loads(text)


@dataclass
class Page:
    """One page as the server sent it: raw image dicts (or a source's typed structs, with
    their ``ids`` already read), and the next href or the next marker (an API without
    links, e.g. Huawei IMS's ``page_info.next_marker``), if any."""

    items: list
    next_href: str | None = None
    next_marker: str | None = None
    ids: list | None = None


class MarkerNotFound(Exception):
    """Raised by ``fetch`` when the server no longer knows the marker image.

    ``message`` is the server's text; ``error_kw`` (status, url, request_id, ...) lets the
    pager raise a proper :class:`~imgframe.errors.APIError` if the marker was the user's own.
    """

    def __init__(self, marker: str, message: str | None = None, **error_kw):
        self.marker = marker
        self.message = message or f"No image found with ID {marker}"
        self.error_kw = error_kw
        super().__init__(self.message)


def marker_from_href(href: str | None) -> str | None:
    """Return the ``marker`` query parameter of a next href, or ``None``.

    >>> marker_from_href("http://h/v2.1/p/images?limit=2&marker=abc")
    'abc'
    """
    if not href or not isinstance(href, str):
        return None
    try:
        query = urlsplit(href).query
    except ValueError:
        return None
    markers = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == "marker"]
    return markers[-1] if markers and markers[-1] else None


def next_marker(page: Page, last_id: str, count: int, *, page_size: int,
                until_empty: bool = False) -> str | None:
    """The three rules: a next link (or marker), or a full page, means go on; else stop.
    With ``until_empty`` (an API whose short page proves nothing) only an empty page ends
    the listing. ``last_id`` and ``count`` are the page's last id and its length.

    >>> next_marker(Page([], "http://h/images?marker=b"), "a", 2, page_size=2)
    'b'
    >>> next_marker(Page([]), "a", 1, page_size=2) is None
    True
    """
    if page.next_href:
        return marker_from_href(page.next_href) or last_id
    if page.next_marker:
        return page.next_marker
    if until_empty or count >= page_size:
        return last_id
    return None


def _page_ids(items: list) -> list[str]:
    if not isinstance(items, list):
        raise MalformedResponseError(f"'images' is not a list: {type(items).__name__}")
    try:
        ids = list(map(itemgetter("id"), items))
    except (TypeError, KeyError, IndexError):
        odd = next((i for i in items if not isinstance(i, dict)), None)
        if odd is not None or not all(isinstance(i, dict) for i in items):
            raise MalformedResponseError(
                f"an image in the page is not an object: {odd!r}"[:300]) from None
        raise MalformedResponseError("an image in the page has no 'id'") from None
    return _checked_ids(ids)


def _checked_ids(ids: list) -> list[str]:
    if set(map(type, ids)) != {str} or "" in ids:
        odd = next(v for v in ids if type(v) is not str or not v)
        raise MalformedResponseError(f"an image id is not a non-empty string: {odd!r}"[:300])
    return ids


class PageIterator:
    """Iterate over the pages of a listing, yielding each page's *new* items.

    ``fetch(marker)`` returns a :class:`Page` (``marker`` is ``None`` for the first page
    unless one was given). Counters after (or during) iteration: ``pages``, ``fetches``,
    ``items``, ``duplicates``, ``recoveries``, ``truncated``, ``resume_marker``.
    """

    def __init__(self, fetch: Callable[[str | None], Page], *, page_size: int,
                 marker: str | None = None, max_items: int | None = None,
                 seen: set[str] | None = None, until_empty: bool = False):
        self._fetch = fetch
        self.page_size = page_size
        self.until_empty = until_empty
        self.max_items = max_items
        self.start_marker = marker
        self.seen: set[str] = set() if seen is None else seen
        self.pages = 0
        self.fetches = 0
        self.items = 0
        self.duplicates = 0
        self.recoveries = 0
        self.truncated = False
        self.resume_marker = marker
        self._markers: set[str] = set()
        self._previous_marker = marker

    def __iter__(self) -> Iterator[list]:
        marker = self.start_marker
        previous_ids: list[str] = []
        while True:
            page, marker = self._get(marker, previous_ids)
            if not page.items:
                return
            ids = _page_ids(page.items) if page.ids is None else _checked_ids(page.ids)
            id_set = set(ids)
            if len(id_set) == len(ids) and self.seen.isdisjoint(id_set):
                new, ids_new = list(page.items), ids
            else:
                new, ids_new = self._dedupe(page.items, ids)
            if not new:
                raise PaginationError(
                    f"the server sent a page made only of images already listed "
                    f"(after marker {marker}); stopping instead of looping",
                    resume_marker=marker)
            self.pages += 1
            next_marker = self._next_marker(page, ids)
            if self.max_items is not None and self.items + len(new) >= self.max_items:
                keep = self.max_items - self.items
                self.truncated = keep < len(new) or next_marker is not None
                new, ids_new = new[:keep], ids_new[:keep]
                next_marker = None
            self.seen.update(ids_new)
            self.items += len(new)
            self.resume_marker = ids_new[-1] if next_marker is None else next_marker
            yield new
            if next_marker is None:
                return
            if next_marker in self._markers:
                self.resume_marker = ids[-1]
                raise PaginationError(
                    f"the next link repeats marker {next_marker}, already requested; "
                    f"stopping instead of looping", resume_marker=ids[-1])
            self._previous_marker = marker  # what fetched the page of previous_ids
            previous_ids, marker = ids, next_marker

    def _dedupe(self, items: list, ids: list[str]) -> tuple[list, list[str]]:
        new, ids_new, here = [], [], set()
        for item, id_ in zip(items, ids, strict=True):
            if id_ in self.seen or id_ in here:
                self.duplicates += 1
                continue
            here.add(id_)
            new.append(item)
            ids_new.append(id_)
        return new, ids_new

    def _next_marker(self, page: Page, ids: list[str]) -> str | None:
        return next_marker(page, ids[-1], len(ids), page_size=self.page_size,
                           until_empty=self.until_empty)

    def _get(self, marker: str | None, previous_ids: list[str]) -> tuple[Page, str | None]:
        """Fetch the page after ``marker``; if the marker vanished, step back through the
        previous page's earlier ids. Returns the page and the marker actually used."""
        candidates = [marker]
        if marker is not None and previous_ids:
            idx = previous_ids.index(marker) if marker in previous_ids else len(previous_ids)
            candidates += list(reversed(previous_ids[:idx]))
        for n, candidate in enumerate(candidates):
            if candidate is not None:
                self._markers.add(candidate)
            self.fetches += 1
            self.resume_marker = candidate
            try:
                page = self._fetch(candidate)
            except MarkerNotFound as exc:
                if n == 0 and not previous_ids and candidate == self.start_marker:
                    # the user's own starting marker: not a vanished one, a refused one
                    self.resume_marker = None
                    kw = dict(exc.error_kw)
                    kw.setdefault("status", 400)
                    kw.setdefault("server_message", exc.message)
                    raise APIError(f"marker={candidate!r} was refused by the server: "
                                   f"{exc.message}", **kw) from None
                continue
            if n:
                self.recoveries += 1
            return page, candidate
        # every id of the previous page vanished: the marker that fetched that page still
        # is the latest usable resume point
        resume = self._previous_marker
        self.resume_marker = resume
        how = (f"resume with client.load(..., marker=exc.resume_marker) "
               f"(= {resume}, an earlier image already listed), or reload from the start"
               if resume else "reload from the start")
        raise PaginationError(
            f"the marker image {marker} vanished mid-listing and no earlier image of the "
            f"previous page could be used instead; {how}", resume_marker=resume)
