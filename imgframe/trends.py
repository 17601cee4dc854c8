"""How many images changed since each point in time, asked straight from the server.

``changes_since_trend(client, ...)`` sends one listing per cutoff filtered by modification
time (``load(changes_since=<cutoff>)``: Nova's ``changes-since=``, Glance's and IMS's
``updated_at=gte:``), several at once, and counts the images. Each is the cheapest listing
the source offers (``Source.listing_options``: Nova's list view, ids only; the detail view
where an API has no other). It returns the same tidy frame as
``df.images.changed_since(cutoffs)`` of a full load::

    trend = imgframe.changes_since_trend(client, start="2026-01-05", freq="W")
    trend.head(2)
    #                      cutoff  images
    # 0 2026-01-05 00:00:00+00:00    8214
    # 1 2026-01-12 00:00:00+00:00    7960

A later cutoff can never have more images than an earlier one; if it does, the catalogue
changed while it was being measured and a :class:`CatalogueChangedWarning` says so.
"""

from __future__ import annotations

import time
import warnings
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

import numpy as np
import pandas as pd

from imgframe.accessor import normalize_cutoffs, normalize_freq, trend_frame
from imgframe.errors import InvalidQueryError
from imgframe.query import build_query, check_int, normalize_status, parse_time
from imgframe.sources import source_of

__all__ = ["CatalogueChangedWarning", "changes_since_trend", "trend_cutoffs"]

#: Without ``start``, a trend looks back a year from ``end``, and at least 4 periods.
DEFAULT_SPAN = pd.DateOffset(years=1)
MIN_STEPS = 4
#: Refuse ranges that would send more queries than this (e.g. daily over 30 years).
MAX_CUTOFFS = 2000
_STEPS = {"D": pd.DateOffset(days=1), "W": pd.DateOffset(weeks=1),
          "M": pd.DateOffset(months=1), "Q": pd.DateOffset(months=3),
          "Y": pd.DateOffset(years=1)}


class CatalogueChangedWarning(UserWarning):
    """A later cutoff counted more images than an earlier one: the catalogue changed
    while the trend was being measured, so the curve mixes two moments."""


def trend_cutoffs(start=None, end=None, freq: str = "W") -> pd.DatetimeIndex:
    """The cutoffs of a trend: every ``freq`` from ``start`` up to ``end`` (inclusive).

    ``end`` defaults to today's midnight (UTC). Without ``start``, the cutoffs step back
    from ``end`` over a year, and at least 4 periods (weekly: 53 cutoffs, monthly: 13,
    daily: 366, quarterly and yearly: 5), so ``end`` is always the last one. Months step
    by calendar month (Jan 31, Feb 28, Mar 31, ...).

    >>> list(trend_cutoffs("2026-01-05", "2026-01-20", "W").strftime("%m-%d"))
    ['01-05', '01-12', '01-19']
    """
    code = normalize_freq(freq)
    step = _STEPS[code]
    if end is None:
        end_ts = pd.Timestamp.now(tz="UTC").floor("D")
    else:
        end_ts = parse_time(end, "end")
    if start is None:
        earliest = end_ts - DEFAULT_SPAN
        back = 0
        while back < MIN_STEPS or end_ts - step * (back + 1) >= earliest:
            back += 1
        stamps = [end_ts - step * k for k in range(back, -1, -1)]
    else:
        start_ts = parse_time(start, "start")
        if start_ts > end_ts:
            raise InvalidQueryError("start", f"a time no later than end ({end_ts.isoformat()})",
                                    start)
        stamps = []
        while True:
            stamp = start_ts + step * len(stamps)
            if stamp > end_ts:
                break
            stamps.append(stamp)
            if len(stamps) > MAX_CUTOFFS:
                raise InvalidQueryError(
                    "start", f"a range of at most {MAX_CUTOFFS} cutoffs at freq={freq!r} "
                    "(choose a later start or a coarser freq)", start)
    return pd.DatetimeIndex(stamps, name="cutoff").as_unit("ns")


def changes_since_trend(client, start=None, end=None, freq: str = "W", cutoffs=None,
                        status=None, workers: int = 8) -> pd.DataFrame:
    """Count the images the server lists changed since each cutoff (inclusive).

    ``client``: an :class:`imgframe.Client` (anything with its ``load`` and ``source``) of
    any source; a filter its source cannot apply is refused before anything is sent. Cutoffs are
    ``cutoffs`` when given (any times ``parse_time`` accepts), else
    :func:`trend_cutoffs` ``(start, end, freq)``. ``status`` (one or several queryable
    statuses) counts each status separately, one row per cutoff and status. Up to
    ``workers`` listings run at once, each with the client's retries; the first error
    is raised (the loader's, with a note naming the cutoff) and the rest cancelled.

    Returns a tidy frame ``cutoff, images`` (or ``cutoff, status, images``) sorted by
    cutoff; ``attrs["imgframe_trend"]`` records the source, queries, workers and time.
    Warns :class:`CatalogueChangedWarning` when a later cutoff has more images.
    """
    if cutoffs is not None:
        if start is not None or end is not None:
            raise InvalidQueryError("cutoffs", "either cutoffs or start/end, not both",
                                    cutoffs)
        cuts = normalize_cutoffs(cutoffs)
    else:
        cuts = trend_cutoffs(start, end, freq)
    statuses = normalize_status(status, "status") if status is not None else None
    workers = check_int(workers, "workers", minimum=1)
    source = source_of(client)
    listing = source.listing_options()
    if len(cuts):   # what the source cannot filter by is refused before any request
        source.check(build_query(changes_since=cuts[0], status=statuses, **listing))
    tasks = [(cut, s) for cut in cuts for s in (statuses or (None,))]

    def count(cut, s) -> int:
        frame = client.load(changes_since=cut, status=s, progress=False, **listing)
        return len(frame)

    began = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(tasks))),
                              thread_name_prefix="imgframe-trend")
    try:
        futures = [pool.submit(count, cut, s) for cut, s in tasks]
        wait(futures, return_when=FIRST_EXCEPTION)     # fail fast: stop queueing on error
        for (cut, s), future in zip(tasks, futures, strict=True):
            if future.done() and future.exception() is not None:
                exc = future.exception()
                where = f"changes-since={cut.isoformat()}" + (f", status={s}" if s else "")
                exc.add_note(f"while counting the trend's query {where}")
                raise exc
        counts = [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    out = trend_frame(cuts, counts, statuses)
    out.attrs["imgframe_trend"] = {
        "source": "server", "queries": len(tasks), "workers": workers,
        "elapsed_s": round(time.perf_counter() - began, 3),
        "endpoint": str(getattr(client, "endpoint", "") or "") or None,
    }
    _check_monotonic(out)
    return out


def _check_monotonic(trend: pd.DataFrame) -> None:
    """Warn when, for the same status, a later cutoff has more images than an earlier one."""
    groups = [trend] if "status" not in trend else [g for _, g in
                                                    trend.groupby("status", observed=True)]
    bad = []
    for group in groups:
        images = group["images"].to_numpy()
        rises = np.flatnonzero(np.diff(images) > 0)
        for i in rises:
            a, b = group.iloc[i], group.iloc[i + 1]
            label = f" ({a['status']})" if "status" in group else ""
            bad.append(f"{b['cutoff']:%Y-%m-%d %H:%M}: {b['images']} > "
                       f"{a['cutoff']:%Y-%m-%d %H:%M}: {a['images']}{label}")
    if bad:
        shown = "; ".join(bad[:3]) + (f"; and {len(bad) - 3} more" if len(bad) > 3 else "")
        warnings.warn(CatalogueChangedWarning(
            "the catalogue changed while the trend was measured: a later cutoff counted "
            f"more images than an earlier one ({shown}); measure again for a consistent "
            "curve"), stacklevel=3)
