"""The ``attrs["imgframe"]`` contract of a loaded frame: what was asked, how it went. Pure.

::

    {source, endpoint, project_id, api_version, detail, filters, load_options}   (the header:
        what was listed, from the source's Resource.describe)
    {queries, pages, requests, retries, reauths, duplicates_dropped, marker_recoveries,
     max_items, truncated, partial, foreign_next_links, loaded_at}               (the walk)
    {workers, partitions, workers_note}   (the load: one walk, or concurrent streams)

Every frame loaded, refreshed or merged says when with :func:`loaded_at`.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["TIME_FORMAT", "load_attrs", "loaded_at"]

#: how imgframe writes an instant in ``attrs`` (UTC, whole seconds)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def loaded_at(when: dt.datetime | None = None) -> str:
    """``when`` (default: now) as ``attrs["imgframe"]["loaded_at"]`` writes it.

    >>> loaded_at(dt.datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=dt.timezone.utc))
    '2026-01-02T03:04:05Z'
    """
    when = dt.datetime.now(dt.timezone.utc) if when is None else when
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc)
    return when.strftime(TIME_FORMAT)


def load_attrs(header: dict, stats, *, max_items: int | None, partial: bool = False) -> dict:
    """The ``attrs["imgframe"]`` of a load: ``header`` (what was listed), then the walk's
    counters (``stats``: :class:`imgframe.listing.walk.Stats`), in the contract's order."""
    return {
        **header,
        "queries": [dict(q) for q in stats.queries],
        "pages": stats.pages,
        "requests": stats.requests,
        "retries": stats.retries,
        "reauths": stats.reauths,
        "duplicates_dropped": stats.duplicates,
        "marker_recoveries": stats.recoveries,
        "max_items": max_items,
        "truncated": stats.truncated,
        "partial": partial,
        "foreign_next_links": list(stats.foreign),
        "loaded_at": loaded_at(),
    }
