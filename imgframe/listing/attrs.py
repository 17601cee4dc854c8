"""The ``attrs["imgframe"]`` contract of a loaded frame: what was asked, how it went. Pure.

::

    {source, endpoint, project_id, api_version, detail, filters, load_options[, columns]}
        (the header: what was listed, from the source's Resource.describe; columns: a
        projection, when the load asked for one)
    {queries, pages, requests, retries, reauths, duplicates_dropped, marker_recoveries,
     max_items, truncated, partial, foreign_next_links, loaded_at}               (the walk)
    {workers, partitions, workers_note}   (the load: one walk, or concurrent streams)

Every frame loaded, refreshed or merged says when with :func:`imgframe.timefmt.utc_stamp`.
"""

from __future__ import annotations

from imgframe.timefmt import utc_stamp

__all__ = ["load_attrs"]


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
        "loaded_at": utc_stamp(),
    }
