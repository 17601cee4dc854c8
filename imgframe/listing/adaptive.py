"""How many requests a load keeps in flight: one, until the server is seen to be the
bottleneck; more while it stays so; fewer as soon as the cloud throttles. Pure: the
caller measures and reports, this decides.

How a load with no ``workers`` decides, in a user's words:

    It starts as one walk, one page at a time (the next page requested while this one is
    read). After each page it compares how long it waited for the page with how long it
    took to read it. When it waited at least :data:`SLOW_PAGE` seconds and at least
    :data:`RATIO` times as long as it read (over the last :data:`WINDOW` pages; the first
    page alone counts when it waited :data:`FIRST_PAGE`), the server is the bottleneck: it
    opens every stream the query already has (a status of Nova's fan-out, Glance's hidden
    images), then another (a slice of the creation times) for each page that comes back
    still slow, up to :data:`BOUND` at once. When the cloud answers 429 or 503, it halves
    the streams at once (the other answers of the same burst, arriving while it waits, do
    not halve again) and holds every stream until the ``Retry-After`` time has passed.
    After a 429 (a rate limit: the pace it had was too fast, the halved one may not be) it
    never opens more streams; after a 503 (the server's capacity, which may come back) it
    opens them again one a round trip, never again as many as it had when throttled (at
    one stream, it stays one walk). When the cloud announces its quota (``RateLimit``
    or ``X-RateLimit-*`` headers), it opens no stream the quota has no room for, and when
    the quota is spent it holds every stream until it is renewed (when that is within
    :data:`LONGEST_HOLD`) and halves the streams as for a throttle, drawing no 429.

The :class:`Controller` keeps the numbers and the decisions (``attrs``); the
:class:`Gate` makes the streams keep to its limit, page by page.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["BOUND", "FIRST_PAGE", "LONGEST_HOLD", "RATIO", "SLOW_PAGE", "WINDOW", "Controller",
           "Gate"]

#: the most streams an adaptive load opens at once
BOUND = 8
#: a page counts as slow when the load waited at least this long for it (seconds) ...
SLOW_PAGE = 0.15
#: ... and at least this many times as long as it took to read it
RATIO = 2.0
#: pages looked at (the most recent), by their median
WINDOW = 3
#: the first page alone is a verdict when the load waited at least this long for it (it
#: includes opening the connection, so it takes more than :data:`SLOW_PAGE`)
FIRST_PAGE = 0.3
#: the longest an announced quota is waited for (seconds): the retry budget's default,
#: the longest a ``Retry-After`` is waited for
LONGEST_HOLD = 60.0


class Controller:
    """The limit on streams at once, from what the pages cost. Thread-safe.

    ``pinned``: a fixed limit (``workers=N``), which measuring never changes but a
    throttle still respects for its pause. ``streams``: how many streams the query has
    (all opened at the first verdict of a slow server). ``clock``: for tests.

    >>> c = Controller(clock=lambda: 0.0)
    >>> for _ in range(2):
    ...     c.page(blocked=1.0, work=0.01)
    >>> c.limit
    3
    >>> c.throttled(1.0, 503)
    >>> c.limit, c.ceiling
    (1, 3)
    """

    def __init__(self, bound: int = BOUND, pinned: int | None = None, streams: int = 1,
                 clock: Callable[[], float] = time.monotonic):
        self.bound = pinned if pinned is not None else bound
        self.pinned = pinned is not None
        self.limit = pinned if pinned is not None else 1
        self.ceiling: int | None = None       # never again this many (a 503: as many as
        #                                       when throttled; a 429: one above the halving)
        self.not_before = 0.0                 # clock time before which nothing is sent
        self.throttles = 0
        self.streams = streams
        self.remaining: int | None = None     # the quota the cloud last announced
        self.quota_holds = 0                  # pauses until an announced quota renewed
        self.quota_capped = False             # it kept the streams from widening
        self.halved_at = float("-inf")        # clock time of the last halving
        self.peak = self.limit
        self.decisions: list[dict] = []
        self._clock = clock
        self._start = clock()
        self._samples: deque = deque(maxlen=WINDOW)
        self._all_blocked: list[float] = []
        self._all_work: list[float] = []
        self._since_increase = 0
        self._lock = threading.Lock()
        self.changed = threading.Condition(self._lock)

    def page(self, blocked: float, work: float) -> None:
        """One page came: the load ``blocked`` seconds waiting for it and took ``work``
        seconds to read it. May raise the limit (never when pinned)."""
        with self._lock:
            self._samples.append((blocked, work))
            self._all_blocked.append(blocked)
            self._all_work.append(work)
            if self.pinned:
                return
            wait = statistics.median(s[0] for s in self._samples)
            read = statistics.median(s[1] for s in self._samples)
            slow = FIRST_PAGE if len(self._samples) == 1 else SLOW_PAGE
            if wait < slow or wait < RATIO * read:
                return
            top = self.bound if self.ceiling is None else min(self.bound, self.ceiling - 1)
            if self.remaining is not None:   # no stream the announced quota has no room for
                self.quota_capped |= self.remaining <= self.limit < top
                top = min(top, self.remaining)
            if self.limit >= top:
                return
            why = f"pages waited {wait:.2f}s on the server against {read:.3f}s to read"
            if self.limit == 1 and self.ceiling is None and self.streams > self.limit + 1:
                # the first verdict: every stream the query has (all must be walked)
                self._since_increase = 0
                self._set(min(top, self.streams), f"{why}: all {self.streams} streams")
                return
            # before any throttle: one more per slow page (doubling each round trip);
            # after one: one more per round trip (a page from each stream)
            self._since_increase += 1
            if self.ceiling is not None and self._since_increase < self.limit:
                return
            self._since_increase = 0
            self._set(self.limit + 1, why)

    def throttled(self, wait: float | None, status: int = 429) -> None:
        """The cloud answered ``status`` 429 or 503 (``wait``: its Retry-After or the
        backoff, in seconds): halve the limit, and hold every stream until ``wait`` has
        passed. After a 429 (the cloud's rate limit, which one walk's pace was under) the
        limit never rises again; after a 503 (its capacity, which may come back) it rises
        one a round trip, never to where it was."""
        with self._lock:
            self.throttles += 1
            now = self._clock()
            burst = now < self.not_before   # sent before the last throttle's pause began
            if wait:
                self.not_before = max(self.not_before, now + float(wait))
            if self.pinned or burst:   # one burst of answers is one signal: halve once
                self.changed.notify_all()
                return
            if status == 429:
                self._halve("the cloud's rate limit (429): halved, for the rest of the load",
                            stay=True)
            else:
                self._halve(f"the cloud throttled ({status}): halved")

    def _halve(self, why: str, stay: bool = False) -> None:
        """Halve the limit, never again to rise to where it was, nor at all when ``stay``
        (the lock held)."""
        self.halved_at = self._clock()
        halved = max(1, self.limit // 2)
        ceiling = halved + 1 if stay else self.limit
        self.ceiling = ceiling if self.ceiling is None else min(self.ceiling, ceiling)
        self._samples.clear()
        self._set(halved, why)
        self.changed.notify_all()

    def note(self, why: str) -> None:
        """A decision that leaves the limit as it is (the lock held)."""
        self.decisions.append({"at": round(self._clock() - self._start, 3),
                               "streams": self.limit, "why": why})

    def _set(self, limit: int, why: str) -> None:
        if limit != self.limit:
            self.decisions.append({"at": round(self._clock() - self._start, 3),
                                   "streams": limit, "why": why})
        self.limit = limit
        self.peak = max(self.peak, limit)
        self.changed.notify_all()

    def summary(self) -> dict:
        """For ``attrs``: what the load measured and decided."""
        with self._lock:
            return {
                "mode": "pinned" if self.pinned else "adaptive",
                "bound": self.bound, "peak": self.peak, "throttled": self.throttles,
                "quota_remaining": self.remaining, "quota_holds": self.quota_holds,
                "page_wait": _median(self._all_blocked), "page_read": _median(self._all_work),
                "decisions": list(self.decisions),
            }

    def why(self, most: int) -> str:
        """One sentence for ``workers_note``; ``most``: the streams that ran at once."""
        info = self.summary()
        if info["mode"] == "pinned":
            return f"workers={self.bound} pinned"
        text = (f"adaptive: pages waited {info['page_wait']}s on the server against "
                f"{info['page_read']}s to read")
        if self.peak == 1 and (self.quota_capped or self.quota_holds):
            text += ": one stream (the cloud's announced quota had no room for more)"
        elif self.peak == 1:
            text += " (not the server's bottleneck): one stream"
        else:
            text += f": up to {most} streams at once"
        if self.throttles:
            text += f"; throttled {self.throttles} time(s), streams halved"
        if self.quota_holds:
            text += f"; held {self.quota_holds} time(s) until the cloud's quota renewed"
        return text


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


class Gate:
    """Keeps a load's streams to its controller's limit: a stream passes before each
    request (:meth:`enter`) and leaves once the page is read (:meth:`leave`); it waits
    while as many streams as the limit are inside, or until a throttle's pause is over.
    ``check()`` is called while waiting (it raises to stop the load). :meth:`quota`:
    what an answer announced of the cloud's rate-limit quota; while it is spent, no
    stream passes until it is renewed."""

    def __init__(self, controller: Controller, clock: Callable[[], float] = time.monotonic):
        self.controller = controller
        self.inside = 0
        self.allowance: int | None = None   # requests the quota still allows, if announced
        self.renewed = 0.0                  # clock time the announced quota renews
        self._held_until = 0.0              # the last hold's end: one hold, one halving
        self._clock = clock

    def quota(self, remaining: int, reset: float | None) -> None:
        """An answer announced ``remaining`` requests left, renewed in ``reset`` seconds
        (None: not said): the requests still in flight (sent before it was counted,
        perhaps) are spent too. Only a quota renewed within :data:`LONGEST_HOLD` is held
        for; one with no reset or a longer one only keeps the streams from widening (and,
        spent, halves them): a 429 it draws then goes by ``Retry-After``, as for one walk.
        An answer that says there is room while a hold lasts (sent before it, and counted
        before the others) does not end it."""
        c = self.controller
        with c.changed:
            now = self._clock()
            c.remaining = remaining
            left = remaining - max(0, self.inside - 1)
            if now < self._held_until and left > 0:
                return
            if left <= 0 and now >= self._held_until:   # spent: as a throttle, no 429 drawn
                # one halving a window (the news of a halving or a 429's pause is not new)
                last = max(c.halved_at, c.not_before if c.throttles else float("-inf"))
                halve = (not c.pinned and c.limit > 1
                         and now - last >= min(reset or 1.0, LONGEST_HOLD))
                if reset is not None and reset <= LONGEST_HOLD:
                    self._held_until = now + reset
                    c.quota_holds += 1
                    c.note(f"the cloud's announced quota was spent: held {reset:g}s")
                if halve:   # (not again for the 429 whose retry this answer may be)
                    c._halve("the cloud's announced quota was spent: halved")
            if reset is None or reset > LONGEST_HOLD:
                self.allowance = None
            else:
                self.allowance, self.renewed = left, now + reset
            c.changed.notify_all()

    def quota_left(self) -> bool:
        """Whether the announced quota (if any) has room for a request now."""
        with self.controller.changed:
            return self._spent(self._clock()) <= 0

    def _spent(self, now: float) -> float:
        """Seconds to wait for the announced quota (0: a request may go)."""
        if self.allowance is None or self.allowance > 0:
            return 0.0
        if now >= self.renewed:
            self.allowance = None   # renewed: unknown until the next answer says
            self.controller.remaining = None
            return 0.0
        return self.renewed - now

    def enter(self, check: Callable[[], None] | None = None) -> None:
        c = self.controller
        with c.changed:
            while True:
                if check is not None:
                    check()
                now = self._clock()
                pause = max(c.not_before - now, self._spent(now))
                if pause <= 0 and self.inside < c.limit:
                    self.inside += 1
                    if self.allowance is not None:
                        self.allowance -= 1
                    return
                c.changed.wait(timeout=min(max(pause, 0.0) or 0.05, 0.05))

    def leave(self) -> None:
        c = self.controller
        with c.changed:
            self.inside = max(0, self.inside - 1)
            c.changed.notify_all()
