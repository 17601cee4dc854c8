"""A load's streams at once: over a resource's streams, or over disjoint creation-time
ranges of each (:mod:`imgframe.listing.ranges`), merged in the API's order, every item
once. Knows no API: the resource says its ``partition_key``.

::

    load(edge, resource, workers)
        workers=N (pinned): probe each stream's newest page and oldest item -> N ranges
        workers=None (adaptive, imgframe.listing.adaptive): each stream as one walk; when
            the controller raises its limit, the next stream starts, or (once the
            stream's oldest item is known: one probe) a running range is halved
        a free slot halves the range with the most time still ahead (split); a Gate keeps
        the requests in flight to the controller's limit and honours Retry-After
    -> resource.merge(frames) -> attrs, with "partitions" (what ran) and "concurrency"

No thread outlives the call, whatever ends it. An error carries the merged ``partial``
and ``resume`` (:class:`~imgframe.listing.resume.ResumeState`: every stream's place).
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import pandas as pd

from imgframe.errors import APIError, ImgframeError
from imgframe.http.transport import on_quota, on_throttle
from imgframe.listing import ranges, settings
from imgframe.listing.adaptive import Controller, Gate
from imgframe.listing.attrs import load_attrs
from imgframe.listing.resource import Stream
from imgframe.listing.resume import Piece, ResumeState
from imgframe.listing.walk import Progress, Stats, add_stats, attach_url, cancel_check, pages
from imgframe.pages import Page

__all__ = ["load"]


class _Cancelled(BaseException):
    """Raised in a worker of a concurrent load that is being abandoned (another stream
    failed, or the caller interrupted): it stops before its next request."""


@dataclass
class _Task:
    """One stream (or range) of a concurrent load, and what it loaded."""

    stream: Stream
    lo: int | None = None
    describe: dict = field(default_factory=dict)
    first: Page | None = None
    base_stream: Stream | None = None   # the stream this range splits
    floor: float | None = None          # that stream's oldest item (epoch seconds)
    position: float | None = None       # the oldest item this range has kept so far
    marker: str | None = None           # resume after this id
    before: list = field(default_factory=list)   # frames loaded before a resume
    active: bool = True
    done: bool = False
    stats: Stats = field(default_factory=Stats)
    builder: object = None
    frame: object = None

    def frames(self) -> list:
        """What it loaded: its frames before a resume, and its own (whole or so far)."""
        own = self.frame
        if own is None and self.builder is not None:
            with contextlib.suppress(ImgframeError):
                own = self.builder.frame()
        return [f for f in (*self.before, own) if f is not None and len(f)]


def _clip(task: _Task, page: Page, key: str, lock: threading.Lock) -> tuple[Page, bool]:
    """Keep ``task``'s range of ``page`` and note how far back it has got (under ``lock``,
    so that :func:`_split` never moves a bound past an item already kept)."""
    with lock:
        page, past = ranges.within(page, task.lo, key)
        oldest = ranges.oldest(page, key)
        if oldest is not None:
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


class _Run:
    """One concurrent load's shared state: its tasks, pool, controller and gate."""

    def __init__(self, edge, resource, controller: Controller, bar, on_page, cancel):
        self.edge, self.resource, self.bar, self.on_page = edge, resource, bar, on_page
        self.controller = controller
        self.gate = Gate(controller)
        self.key = resource.partition_key
        self.stats = Stats()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.bounds = threading.Lock()   # a range's bounds move only under it
        self.user_check = cancel_check(cancel)
        self.items_done = 0
        self.walking = 0   # tasks running now (some may be waiting at the gate)
        self.most = 0   # the most streams that ran at once
        self.tasks: list[_Task] = []
        self.notes: list[str] = []
        self.floors: dict[int, object] = {}   # stream -> oldest item, or a note
        self.pool = ThreadPoolExecutor(max_workers=controller.bound + 1,
                                       thread_name_prefix="imgframe-load")

    def check(self) -> None:
        if self.stop.is_set():
            raise _Cancelled
        if self.user_check is not None:
            self.user_check()

    @contextlib.contextmanager
    def _heard(self):
        """While in it, this thread's answers are heard: 429/503 by the controller, an
        announced quota by the gate."""
        throttle = on_throttle.set(self.controller.throttled)
        quota = on_quota.set(self.gate.quota)
        try:
            yield
        finally:
            on_throttle.reset(throttle)
            on_quota.reset(quota)

    def run(self, task: _Task) -> None:
        """One task's walk (in a worker), every page measured for the controller."""
        with self._heard():
            self._walk(task)

    def _walk(self, task: _Task) -> None:
        resource, controller = self.resource, self.controller
        waited = [0.0]

        def enter():
            started = time.perf_counter()
            self.gate.enter(self.check)
            waited[0] += time.perf_counter() - started

        clip = None
        if self.key is not None:
            def clip(page, task=task):
                return _clip(task, page, self.key, self.bounds)
        # one page ahead only as one walk: at a limit of 1 with other tasks still running
        # (the limit was halved), a prefetch would be a request past the gate; nor while
        # the cloud's announced quota is spent
        prefetch = ((lambda: controller.limit == 1 and self.walking == 1
                     and self.gate.quota_left()) if not controller.pinned else False)
        with self.lock:
            self.walking += 1
        try:
            task.builder = resource.builder(task.stream)
            walk = pages(self.edge, resource, task.stream, task.stats, clip=clip,
                         check=self.check, first=task.first, typed=True,
                         marker=task.marker, prefetch=prefetch, gate=(enter, self.gate.leave))
            with contextlib.closing(walk):
                asked = time.perf_counter()
                for items in walk:
                    got = time.perf_counter()
                    throttles = controller.throttles
                    task.builder.add(items)
                    read = time.perf_counter() - got
                    if throttles == controller.throttles:   # a throttled page is no sample
                        controller.page(max(0.0, got - asked - waited[0]), read)
                    waited[0] = 0.0
                    with self.lock:
                        self.bar.update(len(items))
                        if self.on_page is not None:
                            self.items_done += len(items)
                            self.on_page(_progress(self.stats, self.tasks, self.items_done))
                    asked = time.perf_counter()
            task.active = False
            task.frame = task.builder.frame()
            task.done = True
        finally:
            with self.lock:
                self.walking -= 1

    def probe(self, index: int, stream: Stream) -> None:
        """The oldest item of stream ``index`` (one item, ascending): where its ranges end.
        A request as the streams' are: through the gate, its 429/503 heard."""
        self.check()
        part = Stats()
        with self._heard():
            self.gate.enter(self.check)
            try:
                page = self.edge.fetch(self.resource, ranges.probe_params(stream, True), part)
            except APIError as exc:
                if exc.status != 400:
                    raise
                text = str(exc)
                text = text if len(text) < 300 else text[:297] + "..."
                self.floors[index] = f"no ascending {self.key} sort ({text}): one walk"
                return
            finally:
                self.gate.leave()
                with self.lock:
                    self.stats.requests += part.requests
                    self.stats.retries += part.retries
        item = page.items[0] if page.items and isinstance(page.items[0], dict) else None
        self.floors[index] = ranges.epoch(item.get(self.key)) if item else None


def load(edge, resource, workers: int | None, *, bar, on_page=None,
         cancel: threading.Event | None = None, resume: ResumeState | None = None):
    """``resource``'s streams at once, merged in the API's order. ``workers``: pinned to
    that many (each stream split into as many creation-time ranges, probed first), or
    None: adaptive (:mod:`imgframe.listing.adaptive`). ``resume``: go on from a stopped
    load's state (:mod:`imgframe.listing.resume`)."""
    controller = Controller(pinned=workers, streams=len(resource.streams))
    if workers is None and resource.partition_key is None:   # no ranges: its streams only
        controller.bound = max(1, min(controller.bound, len(resource.streams)))
    job = _Run(edge, resource, controller, bar, on_page, cancel)
    pool = job.pool
    running: dict = {}
    probing: dict = {}
    try:
        with settings.gc_paused(), settings.quick_switches(), bar:
            if resume is not None:
                job.tasks = _resumed(resume, job)
            elif workers is not None and job.key is not None:
                job.tasks = _plan(edge, resource, workers, pool, job.stats, job.check,
                                  job.notes)
            else:
                job.tasks = [_Task(s, describe=_whole(i, job.key is not None),
                                   base_stream=s if job.key is not None else None)
                             for i, s in enumerate(resource.streams)]
            queue = [t for t in job.tasks if not t.done]
            while queue or running:
                _grow(job, queue, running, probing)
                # a timeout: the controller may allow more at any page, and Python runs
                # a Ctrl-C's handler in this thread soon even if another thread got it
                done, _ = wait({*running, *probing}, timeout=0.05,
                               return_when=FIRST_COMPLETED)
                for future in done:
                    running.pop(future, None)
                    probing.pop(future, None)
                failed = next((f for f in done if f.exception() is not None), None)
                if failed is not None:
                    job.stop.set()
                    pool.shutdown(wait=True, cancel_futures=True)
                    _raise(failed.exception(), job, resume)
    except BaseException:
        job.stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    stats = _totals(job, resume)
    frames = [frame_of(t.frames()) for t in job.tasks if t.frames()]
    if len(frames) == 1 and len(job.tasks) == 1:
        frame, dropped = frames[0], 0   # one walk's frame, as sequential loads give it
    else:
        frame, dropped = resource.merge(frames or [resource.builder(job.tasks[0].stream)
                                                   .frame()])
    stats.duplicates += dropped
    if resource.max_items is not None and len(frame) > resource.max_items:
        frame = frame.iloc[:resource.max_items].reset_index(drop=True)
        stats.truncated = True
    frame.attrs["imgframe"] = load_attrs(resource.describe, stats,
                                         max_items=resource.max_items)
    frame.attrs["imgframe"].update(_concurrency(job))
    return frame


def _whole(index: int, ranged: bool) -> dict:
    return {"stream": index, "created_from": None, "created_before": None} if ranged \
        else {"stream": index}


def _grow(job: _Run, queue: list, running: dict, probing: dict) -> None:
    """Start tasks while the controller allows more than are running: the next stream,
    else (once its oldest item is known) half of the range with the most time ahead."""
    resource, key = job.resource, job.key
    while len(running) < job.controller.limit:
        job.most = max(job.most, len(running))
        if queue:
            task = queue.pop(0)
            running[job.pool.submit(job.run, task)] = task
            job.most = max(job.most, len(running))
            continue
        if key is None or resource.max_items is not None:
            return
        unknown = {t.describe["stream"] for t in job.tasks
                   if t.active and t.floor is None and t.base_stream is not None}
        for index in sorted(unknown):
            if index in job.floors:
                found = job.floors[index]
                for t in job.tasks:
                    if t.describe["stream"] == index:
                        if isinstance(found, str):
                            t.base_stream = None   # cannot be split
                        else:
                            t.floor = found if found is not None else t.position
                if isinstance(found, str) and found not in job.notes:
                    job.notes.append(f"stream {index}: {found}")
            elif index not in probing.values():
                probing[job.pool.submit(job.probe, index, resource.streams[index])] = index
        task = _split(job.tasks, key, job.bounds)
        if task is None:
            return
        job.tasks.append(task)
        running[job.pool.submit(job.run, task)] = task
        job.most = max(job.most, len(running))


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


def _resumed(state: ResumeState, job: _Run) -> list[_Task]:
    """The tasks of a stopped load, each from its own place; finished ones as they were."""
    tasks = []
    for piece in state.pieces:
        task = _Task(piece.stream, piece.lo, dict(piece.describe), base_stream=piece.base,
                     floor=piece.floor, position=piece.position, marker=piece.marker,
                     before=list(piece.frames), done=piece.done, active=not piece.done)
        if piece.floor is not None:
            job.floors[piece.describe.get("stream", 0)] = piece.floor
        tasks.append(task)
    return tasks


def _totals(job: _Run, resume: ResumeState | None) -> Stats:
    total = Stats(**{**vars(job.stats), "queries": list(job.stats.queries),
                     "foreign": list(job.stats.foreign)})
    for name, value in (resume.counters if resume is not None else {}).items():
        setattr(total, name, getattr(total, name) + value)
    for task in job.tasks:
        add_stats(total, task.stats)
    return total


def _state(job: _Run, resume: ResumeState | None, stats: Stats) -> ResumeState:
    pieces = []
    for task in job.tasks:
        frames = tuple(task.frames())
        marker = task.marker
        if task.builder is not None and task.builder.last_id:
            marker = task.builder.last_id
        pieces.append(Piece(task.stream, dict(task.describe), task.lo, task.base_stream,
                            task.floor, task.position, marker, frames, task.done))
    counters = {name: getattr(stats, name)
                for name in ("requests", "retries", "reauths", "pages", "recoveries")}
    return ResumeState(job.resource.url, tuple(s.params for s in job.resource.streams),
                       tuple(pieces), counters,
                       query=resume.query if resume is not None else None,
                       endpoint=resume.endpoint if resume is not None else None)


def _raise(exc: BaseException, job: _Run, resume: ResumeState | None):
    """Re-raise a worker's error; an imgframe error gets the merged partial frame and the
    state to resume every stream from (``exc.resume``)."""
    if not isinstance(exc, ImgframeError):
        raise exc
    resource = job.resource
    total = _totals(job, resume)
    attach_url(exc, resource.url)
    done = [f for t in job.tasks for f in t.frames()]
    partial = resource.merge(done)[0] if done else None
    if partial is not None:
        partial.attrs["imgframe"] = load_attrs(resource.describe, total,
                                               max_items=resource.max_items, partial=True)
        partial.attrs["imgframe"].update(_concurrency(job))
    exc.partial = partial
    exc.resume = _state(job, resume, total)
    if job.most <= 1 and not job.controller.pinned and resume is None:
        raise exc   # one stream at a time, as a walk: its resume_marker (pages()) holds
    exc.resume_marker = None
    if exc.args and isinstance(exc.args[0], str):
        how = (f"workers={job.controller.bound}" if job.controller.pinned
               else "adaptive")
        exc.args = (f"{exc.args[0]} [{len(job.tasks)} streams ({how}): no single "
                    f"resume_marker; load(..., resume=exc.resume) goes on from every "
                    f"stream's place]", *exc.args[1:])
    raise exc


def _concurrency(job: _Run) -> dict:
    controller = job.controller
    said = [] if controller.pinned else [controller.why(job.most)]
    note = "; ".join([*said, *job.notes]) or None
    wide = controller.pinned or job.most > 1
    return {"workers": controller.bound if controller.pinned else max(1, job.most),
            "partitions": [{**t.describe, "pages": t.stats.pages,
                            "images": sum(len(f) for f in t.frames())}
                           for t in job.tasks] if wide else None,
            "workers_note": note, "concurrency": {**controller.summary(),
                                                  "most_at_once": max(1, job.most)}}


def frame_of(frames: list):
    """Frames of one stream, in order, as one (a resumed stream's pieces)."""
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
