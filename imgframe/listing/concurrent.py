"""A load's streams at once: ``workers`` threads over a resource's streams, or over
disjoint creation-time ranges of each (:mod:`imgframe.listing.ranges`), merged in the
API's order, every item once. Knows no API: the resource says its ``partition_key``.

::

    load(edge, resource, workers)
        plan: probe each stream's newest page and oldest item -> ranges   (partition_key)
        run each range (walk.pages, clipped to it) in the pool; a free worker halves the
        range with the most time still ahead (split)
    -> resource.merge(frames) -> attrs, with "partitions" (what ran)

No thread outlives the call, whatever ends it. An error carries the merged ``partial``
and no ``resume_marker`` (several walks have no single place to resume).
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from imgframe.errors import APIError, ImgframeError
from imgframe.listing import ranges, settings
from imgframe.listing.attrs import load_attrs
from imgframe.listing.resource import Stream
from imgframe.listing.walk import Progress, Stats, add_stats, attach_url, cancel_check, pages
from imgframe.pages import Page

__all__ = ["load"]


class _Cancelled(BaseException):
    """Raised in a worker of a concurrent load that is being abandoned (another stream
    failed, or the caller interrupted): it stops before its next request."""


@dataclass
class _Task:
    """One stream of a concurrent load, and what it loaded."""

    stream: Stream
    lo: int | None = None
    describe: dict = field(default_factory=dict)
    first: Page | None = None
    base_stream: Stream | None = None   # the stream this range splits
    floor: float | None = None          # that stream's oldest item (epoch seconds)
    position: float | None = None       # the oldest item this range has kept so far
    active: bool = True
    stats: Stats = field(default_factory=Stats)
    builder: object = None
    frame: object = None


def _clip(task: _Task, page: Page, key: str, lock: threading.Lock) -> tuple[Page, bool]:
    """Keep ``task``'s range of ``page`` and note how far back it has got (under ``lock``,
    so that :func:`_split` never moves a bound past an item already kept)."""
    with lock:
        page, past = ranges.within(page, task.lo, key)
        times = [ranges.epoch(i.get(key)) for i in page.items if isinstance(i, dict)]
        times = [t for t in times if t is not None]
        if times:
            oldest = min(times)
            task.position = oldest if task.position is None else min(task.position, oldest)
        return page, past


def _split(tasks: list[_Task], key: str, lock: threading.Lock) -> _Task | None:
    """Halve the running range with the most seconds between its position and its lower
    bound: it keeps ``[m, ...)``, a new range takes ``[lo, m)`` (``<key>=lt:m``).
    ``m`` is at or below every item the range kept, so none changes side."""
    with lock:
        best, span = None, 2.0
        for task in tasks:
            low = task.lo if task.lo is not None else task.floor
            if not task.active or task.position is None or low is None \
                    or task.base_stream is None:
                continue
            if task.position - low >= span:
                best, span = task, task.position - low
        if best is None:
            return None
        low = best.lo if best.lo is not None else best.floor
        cut = int(low + span / 2)
        if not low < cut <= best.position:
            return None
        part = ranges.partition(best.base_stream, best.describe["stream"], [cut], key)[1]
        new = _Task(part.stream, best.lo,
                    {**part.describe(), "created_from": ranges.iso(best.lo), "split": True},
                    base_stream=best.base_stream, floor=best.floor)
        best.lo = cut
        best.describe["created_from"] = ranges.iso(cut)
        return new


def load(edge, resource, workers: int, *, bar, on_page=None,
         cancel: threading.Event | None = None):
    """``workers`` threads over ``resource``'s streams (one each) or over creation-time
    ranges of each (``resource.partition_key``); merged in the API's order."""
    stats = Stats()
    stop = threading.Event()
    lock = threading.Lock()
    notes: list[str] = []
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imgframe-load")
    tasks: list[_Task] = []
    key = resource.partition_key
    bounds = threading.Lock()   # a range's bounds move only under it
    user_check = cancel_check(cancel)
    items_done = 0

    def check() -> None:
        if stop.is_set():
            raise _Cancelled
        if user_check is not None:
            user_check()

    def run(task: _Task) -> None:
        nonlocal items_done
        task.builder = resource.builder(task.stream)
        clip = None
        if key is not None:
            def clip(page, task=task):
                return _clip(task, page, key, bounds)
        for items in pages(edge, resource, task.stream, task.stats, clip=clip, check=check,
                           first=task.first, typed=True):
            task.builder.add(items)
            with lock:
                bar.update(len(items))
                if on_page is not None:
                    items_done += len(items)
                    on_page(_progress(stats, tasks, items_done))
        task.active = False
        task.frame = task.builder.frame()

    try:
        with settings.gc_paused(), bar:
            if key is not None:
                tasks = _plan(edge, resource, workers, pool, stats, check, notes)
            else:
                tasks = [_Task(s, describe={"stream": i})
                         for i, s in enumerate(resource.streams)]
            pending = {pool.submit(run, t) for t in tasks}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                failed = next((f for f in done if f.exception() is not None), None)
                if failed is not None:
                    stop.set()
                    pool.shutdown(wait=True, cancel_futures=True)
                    _raise(failed.exception(), resource, tasks, stats, workers, notes)
                # a worker is free: split the range with the most time still ahead
                while key is not None and resource.max_items is None \
                        and len(pending) < workers:
                    task = _split(tasks, key, bounds)
                    if task is None:
                        break
                    tasks.append(task)
                    pending.add(pool.submit(run, task))
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for task in tasks:
        add_stats(stats, task.stats)
    frame, dropped = resource.merge([t.frame for t in tasks])
    stats.duplicates += dropped
    if resource.max_items is not None and len(frame) > resource.max_items:
        frame = frame.iloc[:resource.max_items].reset_index(drop=True)
        stats.truncated = True
    frame.attrs["imgframe"] = load_attrs(resource.describe, stats,
                                         max_items=resource.max_items)
    frame.attrs["imgframe"].update(_concurrency(tasks, workers, notes))
    return frame


def _progress(stats: Stats, tasks: list[_Task], items: int) -> Progress:
    parts = [t.stats for t in list(tasks)]
    return Progress(sum(s.pages for s in parts), items,
                    stats.requests + sum(s.requests for s in parts),
                    stats.retries + sum(s.retries for s in parts))


def _plan(edge, resource, workers, pool, stats, check, notes) -> list[_Task]:
    """Probe each stream's newest items (its first page, which the newest range then
    reuses) and its oldest item (one item), concurrently, and split the stream into up
    to ``workers`` ranges; none when the first page was the whole stream."""
    key = resource.partition_key

    def probe(stream: Stream, oldest: bool):
        check()
        part = Stats()
        params = ranges.probe_params(stream, True) if oldest else list(stream.params)
        try:
            page = edge.fetch(resource, params, part)
        except APIError as exc:
            if oldest and exc.status == 400:   # no ascending sort here: one walk
                text = str(exc)
                text = text if len(text) < 300 else text[:297] + "..."
                return part, None, f"no ascending {key} sort ({text}): one walk"
            raise
        item = page.items[0] if page.items and isinstance(page.items[0], dict) else None
        when = ranges.epoch(item.get(key)) if item else None
        return part, (when if oldest else (when, page)), None

    futures = [(i, oldest, pool.submit(probe, s, oldest))
               for i, s in enumerate(resource.streams) for oldest in (False, True)]
    found: dict = {}
    for i, oldest, future in futures:
        part, when, note = future.result()
        stats.requests += part.requests
        stats.retries += part.retries
        found[i, oldest] = when
        if note:
            notes.append(f"stream {i}: {note}")
    tasks = []
    for i, stream in enumerate(resource.streams):
        (newest, page), oldest = found[i, False], found[i, True]
        whole = not page.items or (not resource.until_empty and not page.next_href
                                   and not page.next_marker
                                   and len(page.items) < resource.page_size)
        cuts = (ranges.cut_points(newest, oldest, workers)
                if newest is not None and oldest is not None and not whole else [])
        for n, r in enumerate(ranges.partition(stream, i, cuts, key)):
            tasks.append(_Task(r.stream, r.lo, r.describe(), page if n == 0 else None,
                               base_stream=stream, floor=oldest))
    # the biggest work first: streams' ranges before single-range (whole) streams
    tasks.sort(key=lambda t: t.describe["created_from"] is None
               and t.describe["created_before"] is None)
    return tasks


def _raise(exc: BaseException, resource, tasks, stats, workers, notes):
    """Re-raise a worker's error; an imgframe error gets the merged partial frame and
    no ``resume_marker`` (several walks have no single place to resume)."""
    if not isinstance(exc, ImgframeError):
        raise exc
    total = Stats(**{**vars(stats), "queries": list(stats.queries),
                     "foreign": list(stats.foreign)})
    for task in tasks:
        add_stats(total, task.stats)
    attach_url(exc, resource.url)
    done = []
    for task in tasks:
        if task.frame is not None:
            done.append(task.frame)
        elif task.builder is not None:
            with contextlib.suppress(ImgframeError):
                done.append(task.builder.frame())
    partial = resource.merge(done)[0] if done else None
    if partial is not None:
        partial.attrs["imgframe"] = load_attrs(resource.describe, total,
                                               max_items=resource.max_items, partial=True)
        partial.attrs["imgframe"].update(_concurrency(tasks, workers, notes))
    exc.partial = partial
    exc.resume_marker = None
    if exc.args and isinstance(exc.args[0], str):
        exc.args = (f"{exc.args[0]} [concurrent load, workers={workers}: no single "
                    f"resume_marker; reload, or load with workers=1 to resume by "
                    f"marker]", *exc.args[1:])
    raise exc


def _concurrency(tasks, workers: int, notes: list) -> dict:
    return {"workers": workers,
            "partitions": [{**t.describe, "pages": t.stats.pages,
                            "images": 0 if t.frame is None else len(t.frame)}
                           for t in tasks],
            "workers_note": "; ".join(notes) or None}
