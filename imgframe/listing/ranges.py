"""Split one listing into concurrent request streams over disjoint ``created_at`` ranges. Pure.

Glance and IMS list images ``created_at`` descending (then ``id`` descending) and accept one
``created_at`` condition per request, so a stream for the range ``[lo, hi)`` sends
``created_at=lt:<hi>`` and drops, client-side, every image created before ``lo``; having
seen one, it stops fetching (the order is descending: nothing older can follow). With cut
points ``c1 > c2 > ... > c(k-1)`` (whole seconds) the ranges are::

    [c1, +inf)   [c2, c1)   ...   (-inf, c(k-1))

The first has no upper bound (images created during the load land there), the last no
lower bound, and each image's ``created_at`` (fixed for its life) falls in exactly one of
them: ``lt`` on the server and ``>=`` on the client are the same cut seen from its two
sides, so an image created exactly at a cut second belongs to the newer range only.
While the load runs, a free worker may halve a running range ``[lo, hi)`` at a cut
``m`` no later than the oldest image it has kept (:mod:`imgframe.listing.concurrent`): it
goes on as ``[m, hi)`` and a new stream takes ``[lo, m)``, which keeps the cover exact.
Updates never move an image between ranges (``created_at`` does not change) and deletions
are the per-stream pager's business (vanished markers), as in one walk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from imgframe.listing.resource import Stream
from imgframe.pages import Page

__all__ = ["Range", "cut_points", "epoch", "iso", "oldest", "partition", "probe_params",
           "within"]

_UTC = dt.timezone.utc


@dataclass(frozen=True)
class Range:
    """One stream of a partitioned load: ``base`` is the index of the source stream it
    splits, ``lo``/``hi`` the epoch seconds it covers (``None``: unbounded)."""

    stream: Stream
    base: int
    lo: int | None = None
    hi: int | None = None

    def describe(self) -> dict:
        """For ``attrs``: the range as ISO strings (``None``: unbounded)."""
        return {"stream": self.base, "created_from": iso(self.lo),
                "created_before": iso(self.hi)}


def epoch(value) -> float | None:
    """Epoch seconds of an API timestamp (``2026-01-02T03:04:05Z``), or None if unreadable.

    >>> epoch("1970-01-01T00:01:00Z")
    60.0
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_UTC)
    return when.timestamp()


def iso(seconds: int | None) -> str | None:
    """Whole epoch seconds as ISO 8601 UTC with ``Z``.

    >>> iso(60)
    '1970-01-01T00:01:00Z'
    """
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(int(seconds), _UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cut_points(newest: float, oldest: float, parts: int) -> list[int]:
    """Up to ``parts - 1`` whole-second cuts, descending, evenly spaced in
    ``(oldest, newest]``; none when the span is under a second.

    >>> cut_points(100, 0, 4)
    [75, 50, 25]
    >>> cut_points(10.5, 10.2, 4)
    []
    """
    lo = int(oldest) + 1                      # a cut at or below the oldest second is useless
    hi = int(newest)                          # ... and one above the newest too
    if parts < 2 or hi < lo:
        return []
    span = newest - oldest
    cuts = {min(hi, max(lo, int(oldest + span * j / parts))) for j in range(1, parts)}
    return sorted(cuts, reverse=True)


def partition(stream: Stream, base: int, cuts: list[int], key: str = "created_at") -> list[Range]:
    """The ranges of ``stream`` for descending ``cuts``, newest first; each range's stream
    sends ``<key>=lt:<hi>`` (the newest range sends nothing more).

    >>> [(r.lo, r.hi) for r in partition(Stream((("limit", "5"),)), 0, [75, 25])]
    [(75, None), (25, 75), (None, 25)]
    """
    bounds = [None, *cuts, None]
    out = []
    for hi, lo in zip(bounds, bounds[1:], strict=False):
        params = stream.params if hi is None else (*stream.params, (key, f"lt:{iso(hi)}"))
        out.append(Range(Stream(params, stream.pinned), base, lo, hi))
    return out


def probe_params(stream: Stream, oldest: bool) -> list:
    """``stream``'s parameters for a one-image probe: its newest image (the API's default
    order) or, with ``oldest``, its oldest (``sort_key=created_at&sort_dir=asc``)."""
    params = [(k, v) for k, v in stream.params if k != "limit"] + [("limit", "1")]
    if oldest:
        params += [("sort_key", "created_at"), ("sort_dir", "asc")]
    return params


def within(page: Page, lo: int | None, key: str = "created_at") -> tuple[Page, bool]:
    """``page`` without the images created before ``lo``, and whether any was dropped
    (the stream has paged past its range: stop). Unreadable timestamps are kept.

    >>> within(Page([{"created_at": "1970-01-01T00:01:40Z"},
    ...              {"created_at": "1970-01-01T00:00:10Z"}]), 50)[1]
    True
    """
    if lo is None or not page.items:
        return page, False
    last = oldest(page, key)
    if last is not None and last >= lo:
        return page, False   # listed newest first: the last item is the oldest
    kept = []
    for item in page.items:
        when = epoch(item.get(key)) if isinstance(item, dict) else None
        if when is None or when >= lo:
            kept.append(item)
    if len(kept) == len(page.items):
        return page, False
    return Page(kept), True


def _key_of(item, key: str):
    return item.get(key) if isinstance(item, dict) else getattr(item, key, None)


def oldest(page: Page, key: str = "created_at") -> float | None:
    """The epoch seconds of ``page``'s oldest item: its last with a readable ``key`` (the
    API lists newest first), or None.

    >>> oldest(Page([{"created_at": "1970-01-01T00:01:40Z"},
    ...              {"created_at": "1970-01-01T00:00:10Z"}]))
    10.0
    """
    for item in reversed(page.items or []):
        when = epoch(_key_of(item, key))
        if when is not None:
            return when
    return None
