"""The process-wide settings a load changes while it runs, and restores after. Pure.

Both are shared by every load of the process (and by :class:`imgframe.SnapshotStore`'s
reads): concurrent and nested users share one change, undone (errors included) when the
last of them ends. ``bench/README.md`` measures what each buys.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading

__all__ = ["PREFETCH", "SWITCH_INTERVAL", "WhileLoading", "gc_paused", "quick_switches"]

#: request the next page while one is typed (sequential loads; bench/README.md measures it)
PREFETCH = True
#: the GIL switch interval while a load runs (bench/README.md measures it; 5 ms is Python's)
SWITCH_INTERVAL = 0.001


class WhileLoading:
    """A process-wide setting loads change and the last of them restores: ``change()``
    returns what ``restore(saved)`` needs. Concurrent and nested loads share one change;
    it is undone (errors included) when the last of them ends.

    >>> calls = []
    >>> setting = WhileLoading(lambda: calls.append("on"), lambda saved: calls.append("off"))
    >>> with setting(), setting():
    ...     pass
    >>> calls
    ['on', 'off']
    """

    def __init__(self, change, restore):
        self._change, self._restore = change, restore
        self._lock = threading.Lock()
        self._users = 0
        self._saved = None

    @contextlib.contextmanager
    def __call__(self):
        with self._lock:
            if self._users == 0:
                self._saved = self._change()
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._restore(self._saved)


def _pause_gc() -> bool:
    enabled = gc.isenabled()
    gc.disable()
    return enabled


def _resume_gc(was_enabled: bool) -> None:
    if was_enabled:
        gc.enable()


def _shorten_switches() -> tuple[float, float]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, SWITCH_INTERVAL))
    return before, sys.getswitchinterval()


def _restore_switches(saved: tuple[float, float]) -> None:
    before, set_here = saved
    if sys.getswitchinterval() == set_here:   # not changed by someone else meanwhile
        sys.setswitchinterval(before)


#: Pause Python's cyclic garbage collector while a load pages and builds its frame. Page
#: JSON holds no reference cycles, so reference counting frees each page as soon as it is
#: consumed; but the collector's full passes, triggered by the many short-lived page
#: objects, walk everything still alive (the growing columns and metadata dicts) again and
#: again: about half of the CPU time of a 1,000,000-image load (bench/bench_scale.py).
gc_paused = WhileLoading(_pause_gc, _resume_gc)

#: Shorten the GIL switch interval (to SWITCH_INTERVAL, never lengthen it) while a load
#: runs. The prefetch thread needs the GIL for a moment at each step of reading a page
#: (the response's headers, each chunk of the body); with Python's 5 ms interval it waits
#: that long each time the thread typing the previous page holds the GIL, so the next page
#: was often not ready when wanted (2.7 ms a page, 100,000 Nova images). Only threads that
#: wait for the GIL are switched to, so a thread blocked on a socket costs nothing.
quick_switches = WhileLoading(_shorten_switches, _restore_switches)
