"""Walk a :class:`~imgframe.listing.resource.Resource`: its streams one after the other,
page by page, into one frame. Knows no API and no HTTP: the ``edge`` fetches a page
(:class:`imgframe.http.edge.Edge`), the pager decides where to go (:mod:`imgframe.pages`),
the resource's builder types the columns.

::

    load(edge, resource)       for each stream: pages() -> builder.add -> builder.frame()
        pages(edge, resource, stream, stats)       PageIterator(fetch), and one page ahead
        (prefetch: page k+1 is on the wire while page k is typed)
    -> resource.merge(frames) -> attrs (imgframe.listing.attrs)

Errors raised while paging carry ``partial`` (what was loaded) and ``resume_marker``.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from imgframe.errors import ImgframeError, InvalidQueryError, MalformedResponseError, redact_url
from imgframe.listing import settings
from imgframe.listing.attrs import load_attrs
from imgframe.listing.resume import Piece, ResumeState
from imgframe.pages import Page, PageIterator, next_marker
from imgframe.query import origin_of

__all__ = ["ForeignNextLinkWarning", "LoadCancelled", "Progress", "Stats", "add_stats",
           "attach_url", "guess_next_marker", "load", "make_bar", "pages", "user_stacklevel"]

_PACKAGE = str(Path(__file__).resolve().parent.parent)


class ForeignNextLinkWarning(UserWarning):
    """A next link named another scheme/host/port; it was not followed there."""


class LoadCancelled(ImgframeError):
    """The load's ``cancel`` event was set; it stopped before its next request. Carries
    ``partial`` (what was loaded) and ``resume_marker``, as any error raised while paging."""


@dataclass
class Stats:
    """Per-call counters (one per load/iter_pages call, so threads never share them)."""

    requests: int = 0
    retries: int = 0
    reauths: int = 0
    pages: int = 0
    duplicates: int = 0
    recoveries: int = 0
    truncated: bool = False
    queries: list = field(default_factory=list)
    foreign: list = field(default_factory=list)


@dataclass(frozen=True)
class Progress:
    """What a load has done so far, handed to ``on_page`` after each page: ``pages`` and
    ``items`` taken, ``requests`` sent (retries included) and ``retries``."""

    pages: int
    items: int
    requests: int
    retries: int


def add_stats(total: Stats, part: Stats) -> None:
    """Add ``part``'s counters to ``total``'s."""
    for name in ("requests", "retries", "reauths", "pages", "duplicates", "recoveries"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.truncated = total.truncated or part.truncated
    total.queries.extend(part.queries)
    total.foreign.extend(f for f in part.foreign if f not in total.foreign)


def attach_url(exc: ImgframeError, url: str) -> None:
    """Give an error raised without a URL (by the pager or the frame builder) the listing's
    token-free URL, in its attribute and its message."""
    if isinstance(exc, InvalidQueryError) or getattr(exc, "url", None):
        return
    exc.url = redact_url(url)
    if exc.args and isinstance(exc.args[0], str) and exc.url not in exc.args[0]:
        exc.args = (f"{exc.args[0]} (GET {exc.url})", *exc.args[1:])


def guess_next_marker(page: Page, page_size: int, until_empty: bool) -> str | None:
    """The marker :class:`~imgframe.pages.PageIterator` will ask for after ``page``
    (:func:`~imgframe.pages.next_marker` on the raw page), or ``None``; a guess for
    prefetching only: anything odd in the page (no ids, say) gives ``None`` and the pager
    decides.

    >>> guess_next_marker(Page([{"id": "a"}, {"id": "b"}]), 2, False)
    'b'
    """
    items = page.items
    try:
        if page.ids is not None:
            last = page.ids[-1] if page.ids else None
        else:
            last = items[-1]["id"] if isinstance(items, list) and items else None
    except (TypeError, KeyError, IndexError):
        return None
    if not isinstance(last, str) or not last:
        return None
    if page.next_marker is not None and not isinstance(page.next_marker, str):
        return None
    return next_marker(page, last, len(items), page_size=page_size, until_empty=until_empty)


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the first caller outside imgframe
    (for the function calling ``warnings.warn``)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    return level


def _check_next(href: str, resource, stats: Stats) -> None:
    """Note (and warn once per call about) a next link naming another origin."""
    scheme, host, port = origin = origin_of(href)
    if (not scheme and not host) or origin == origin_of(resource.root):
        return  # a relative link, or our own origin
    where = f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"
    if where in stats.foreign:
        return
    stats.foreign.append(where)
    if len(stats.foreign) == 1:
        warnings.warn(
            f"the server's next link points at {where}, not at the configured endpoint "
            f"{resource.root}; only its marker is used and requests stay on the "
            f"configured endpoint (the server may need compute_link_prefix)",
            ForeignNextLinkWarning, stacklevel=user_stacklevel())


def pages(edge, resource, stream, stats: Stats, *, clip=None,
          check: Callable[[], None] | None = None, first: Page | None = None,
          prefetch: bool | Callable[[], bool] = False, typed: bool = False,
          marker: str | None = None, gate=None) -> Iterator[list]:
    """The pages of one stream of ``resource``, each a list of new items.

    ``clip(page) -> (page, past)``: keep a range's items and say when the stream has paged
    past it (:mod:`imgframe.listing.ranges`); ``check()``: called before each request,
    raises to stop; ``first``: the first page, already fetched; ``prefetch``: request the
    next page while this one is typed (close the generator when done with it: that ends
    the prefetch thread; a callable says, page by page, whether to go on prefetching);
    ``typed``: items may be the resource's structs (``resource.typed``: for a frame
    builder; else they are dicts); ``marker``: start after this id (default: the
    resource's); ``gate``: ``(enter, leave)`` called around each request this walk
    sends itself (a concurrent load's :class:`~imgframe.listing.adaptive.Gate`)."""
    view = resource.typed(stream) if typed and clip is None else None
    past = False
    params = list(stream.params)
    sent = stream.as_dict()
    start = marker if marker is not None else resource.marker
    if start:
        sent["marker"] = start
    stats.queries.append(sent)

    # one page ahead: while the caller types page k, page k+1 is on the wire (socket
    # reads release the GIL). Only where the next request is certain to be sent: not
    # with max_items (the last page may not need a successor) nor a range's clip (the
    # range may end on this page), never a marker already asked for.
    ahead = (ThreadPoolExecutor(max_workers=1, thread_name_prefix="imgframe-prefetch")
             if prefetch and settings.PREFETCH and (clip is None or callable(prefetch))
             and resource.max_items is None else None)
    more = prefetch if callable(prefetch) else None
    pending: tuple | None = None   # (marker, params, future) in flight
    asked: set[str | None] = set()

    def get(marker: str | None) -> Page:
        nonlocal pending
        asked.add(marker)
        if pending is not None:
            wanted, wanted_params, future = pending
            pending = None
            if wanted == marker:   # read there, decoded here; its error is raised here
                return edge.decoded(future.result(), resource, wanted_params, stats, view)
            wait([future])   # a guess the pager did not take: let it end, unread
        request_params = params + ([("marker", marker)] if marker else [])
        return edge.fetch(resource, request_params, stats, view)

    def read_ahead(page: Page) -> None:
        nonlocal pending
        if ahead is None or past or (more is not None and not more()):
            return
        following = guess_next_marker(page, resource.page_size, resource.until_empty)
        if following is None or following in asked:
            return
        request_params = params + [("marker", following)]
        # in this thread's context: a throttle listener (http.transport.on_throttle) hears it
        pending = (following, request_params,
                   ahead.submit(contextvars.copy_context().run, edge.fetch, resource,
                                request_params, stats, decode=False))

    def fetch(marker: str | None) -> Page:
        nonlocal past, first
        if check is not None:
            check()
        if past:
            return Page([])   # paged past the range: the listing ends without a request
        if first is not None and marker is None:
            page, first = first, None
        else:
            if gate is None:
                page = get(marker)
            else:
                gate[0]()
                try:
                    page = get(marker)
                finally:
                    gate[1]()
        if page.next_href:
            _check_next(page.next_href, resource, stats)
        if clip is not None:
            page, past = clip(page)
        read_ahead(page)
        return page

    pager = PageIterator(fetch, page_size=resource.page_size, marker=start,
                         max_items=resource.max_items, until_empty=resource.until_empty)
    before = (stats.pages, stats.duplicates, stats.recoveries, stats.truncated)

    def tally():
        stats.pages = before[0] + pager.pages
        stats.duplicates = before[1] + pager.duplicates
        stats.recoveries = before[2] + pager.recoveries
        stats.truncated = before[3] or pager.truncated

    try:
        for items in pager:
            tally()
            yield items
    except ImgframeError as exc:
        exc.resume_marker = pager.resume_marker
        attach_url(exc, resource.url)
        raise
    finally:
        if ahead is not None:   # no thread outlives the walk (errors, interrupts)
            ahead.shutdown(wait=True, cancel_futures=True)
        tally()


def cancel_check(cancel: threading.Event | None) -> Callable[[], None] | None:
    """A ``check`` for :func:`pages` that raises :class:`LoadCancelled` once ``cancel`` is
    set (None: no check)."""
    if cancel is None:
        return None

    def check() -> None:
        if cancel.is_set():
            raise LoadCancelled("the load was cancelled (cancel= was set)")

    return check


def load(edge, resource, *, bar, on_page=None, cancel: threading.Event | None = None):
    """Every stream of ``resource``, one walk each, one after the other, merged; the
    frame with its ``attrs["imgframe"]``. ``bar``: a progress counter (:func:`make_bar`);
    ``on_page(Progress)``: after each page; ``cancel``: set, the load stops before its
    next request (:class:`LoadCancelled`)."""
    stats = Stats()
    frames: list = []
    items_done = 0
    check = cancel_check(cancel)
    with settings.gc_paused(), settings.quick_switches(), bar:
        for stream in resource.streams:
            builder = resource.builder(stream)
            try:
                with contextlib.closing(pages(edge, resource, stream, stats, check=check,
                                              prefetch=True, typed=True)) as walk:
                    for items in walk:
                        try:
                            builder.add(items)  # typed checks while the page is hot
                        except MalformedResponseError as exc:
                            exc.resume_marker = builder.last_id or resource.marker
                            raise
                        bar.update(len(items))
                        bar.set_postfix(pages=stats.pages, refresh=False)
                        if on_page is not None:
                            items_done += len(items)
                            on_page(Progress(stats.pages, items_done, stats.requests,
                                             stats.retries))
                frames.append(builder.frame())
            except ImgframeError as exc:
                attach_url(exc, resource.url)
                exc.partial = _partial(frames, builder, resource, stats)
                exc.resume = _state(resource, frames, builder, exc.resume_marker, stats)
                raise
    return finish(frames, resource, stats)


def _state(resource, frames: list, builder, marker: str | None, stats: Stats) -> ResumeState:
    """Where a walk stopped: its finished streams' frames, the current one's frame so far
    and marker, and the streams it had not begun."""
    pieces = []
    for index, stream in enumerate(resource.streams):
        base = stream if resource.partition_key is not None else None
        describe = {"stream": index, "created_from": None, "created_before": None} \
            if base is not None else {"stream": index}
        if index < len(frames):
            pieces.append(Piece(stream, describe, frames=(frames[index],), done=True))
        elif index == len(frames):
            try:
                got = builder.frame()
            except ImgframeError:
                got = None
            at = builder.last_id or marker or resource.marker
            pieces.append(Piece(stream, describe, base=base, marker=at,
                                frames=(got,) if got is not None and len(got) else ()))
        else:
            pieces.append(Piece(stream, describe, base=base))
    counters = {name: getattr(stats, name)
                for name in ("requests", "retries", "reauths", "pages", "recoveries")}
    return ResumeState(resource.url, tuple(s.params for s in resource.streams),
                       tuple(pieces), counters)


def _partial(frames, builder, resource, stats: Stats):
    try:
        done = frames + [builder.frame()]
        frame = resource.merge(done)[0] if len(resource.streams) > 1 else done[-1]
    except ImgframeError:
        return None
    frame.attrs["imgframe"] = load_attrs(resource.describe, stats,
                                         max_items=resource.max_items, partial=True)
    return frame


def finish(frames: list, resource, stats: Stats):
    """The streams' frames as one (merged, cut to ``max_items``), with its attrs."""
    if len(resource.streams) > 1:
        frame, dropped = resource.merge(frames)
        stats.duplicates += dropped
        if resource.max_items is not None and len(frame) > resource.max_items:
            frame = frame.iloc[:resource.max_items].reset_index(drop=True)
            stats.truncated = True
    else:
        frame = frames[0]
    frame.attrs["imgframe"] = load_attrs(resource.describe, stats,
                                         max_items=resource.max_items)
    return frame


class _NoBar:
    """What a load with ``progress=False`` counts with: nothing."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def update(self, n=1) -> None:
        pass

    def set_postfix(self, *args, **kw) -> None:
        pass


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - any failure means "not a notebook"
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def make_bar(progress, total: int | None, noun: str):
    """A tqdm bar (``progress``: True, or None and a notebook or a terminal), or a
    counter that counts nothing; tqdm is neither imported nor built for a quiet load."""
    if progress is None:
        stream = sys.stderr
        progress = _in_notebook() or bool(stream and hasattr(stream, "isatty")
                                          and stream.isatty())
    if not progress:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=f" {noun}", desc="imgframe", leave=True, dynamic_ncols=True)
