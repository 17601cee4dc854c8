"""Which way a load lists: one walk, or its streams at once (pinned or adaptive), from the
start or from a stopped load's state. Knows no API: it reads the resource's streams and
``partition_key``. The client and the servers' and volumes' loads call :func:`run`.

::

    run(edge, resource, workers=None)
        resume=state        -> concurrent.load (every stream from its place)
        workers=1, a marker, or (adaptive) max_items   -> walk.load (one walk)
        several streams, or time ranges                -> concurrent.load (pinned/adaptive)
        else                                           -> walk.load, and why in attrs
    -> the frame (and an error's partial) cut to resource.columns (a projection)
"""

from __future__ import annotations

from imgframe.errors import ImgframeError, InvalidQueryError
from imgframe.listing import concurrent, walk
from imgframe.query import check_int

__all__ = ["MAX_WORKERS", "check_workers", "kept", "run"]

#: The most ``workers`` a load may pin.
MAX_WORKERS = 32


def check_workers(workers) -> int | None:
    """``workers`` as every load takes it: None (adaptive) or 1..:data:`MAX_WORKERS`."""
    return None if workers is None else check_int(workers, "workers", minimum=1,
                                                  maximum=MAX_WORKERS)


def run(edge, resource, *, workers: int | None = None, progress=None, on_page=None,
        cancel=None, resume=None, total: int | None = None):
    """``resource`` listed as ``workers`` says (None: adaptive; 1: one walk; N: pinned), or
    from ``resume`` (an :class:`~imgframe.listing.resume.ResumeState` of this listing);
    the frame with ``attrs["imgframe"]``, cut to ``resource.columns`` (a projection) as is
    an error's ``partial``. ``total``: the bar's total, if known."""
    try:
        frame = _run(edge, resource, workers, progress, on_page, cancel, resume, total)
    except ImgframeError as exc:
        if getattr(exc, "partial", None) is not None:
            exc.partial = kept(exc.partial, resource.columns)
        raise
    return kept(frame, resource.columns)


def kept(frame, columns):
    """``frame`` with only ``columns`` (None: as it is), in its order, ``attrs`` kept."""
    if columns is None:
        return frame
    wanted = set(columns)
    keep = [c for c in frame.columns if c in wanted]
    if len(keep) == len(frame.columns):
        return frame
    out = frame[keep]
    out.attrs = frame.attrs
    return out


def _run(edge, resource, workers, progress, on_page, cancel, resume, total):
    hooks = {"on_page": on_page, "cancel": cancel}
    if resume is not None:
        if not resume.matches(resource):
            raise InvalidQueryError("resume", "a state of this listing (the same query)",
                                    repr(resume))
        bar = walk.make_bar(progress, None, resource.noun)
        return concurrent.load(edge, resource, workers, bar=bar, resume=resume, **hooks)
    several = len(resource.streams) > 1 or resource.partition_key is not None
    one_walk = resource.marker is not None or workers == 1 or (
        workers is None and resource.max_items is not None)
    if not one_walk and several:
        bar = walk.make_bar(progress, None, resource.noun)
        return concurrent.load(edge, resource, workers, bar=bar, **hooks)
    note = None
    if workers != 1:
        note = ("a marker was given: one walk resumes from it" if resource.marker
                else "max_items: one walk" if resource.max_items is not None
                else "one stream and no time ranges here: one walk")
        if workers is None:
            note = f"adaptive: {note}"
    if total is None and len(resource.streams) == 1:
        total = resource.max_items
    frame = walk.load(edge, resource, bar=walk.make_bar(progress, total, resource.noun),
                      **hooks)
    frame.attrs["imgframe"].update(workers=1, partitions=None, workers_note=note)
    return frame
