"""What the core lists: a :class:`Resource` describes a marker-paged collection (its URL,
its request streams, where the next marker comes from, how items become columns) so that
the pager, the HTTP edge, retries, the budget, re-authentication, the prefetch and the
frame builder can list it without knowing what it holds. Pure.

Images are one such description (:meth:`imgframe.sources.base.Source.resource` makes it
from a query); ``tests/test_resource.py`` lists widgets with the same core.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from imgframe.pages import Page

__all__ = ["Resource", "Stream"]


@dataclass(frozen=True)
class Stream:
    """One request stream of a query: its parameters (pairs, in order, ``marker`` excluded:
    the pager adds it) and the values the query pins for columns the items may lack."""

    params: tuple[tuple[str, str], ...]
    pinned: tuple[str | None, str | None] = (None, None)   # (display status, raw status)

    def as_dict(self) -> dict:
        """The parameters as a dict (a repeated name keeps a list), for ``attrs``.

        >>> Stream((("a", "1"), ("a", "2"), ("b", "3"))).as_dict()
        {'a': ['1', '2'], 'b': '3'}
        """
        out: dict = {}
        for key, value in self.params:
            if key in out:
                out[key] = (out[key] if isinstance(out[key], list) else [out[key]]) + [value]
            else:
                out[key] = value
        return out


def _no_typed(stream: Stream) -> None:
    return None


def _never_vanished(status: int, message: str | None, marker: str) -> bool:
    return False


@dataclass(frozen=True)
class Resource:
    """A listing, described for the core.

    Where and what: ``url`` (every request goes there; next links only supply markers),
    ``root`` (the configured endpoint, named in messages), ``streams`` (one walk each),
    ``headers`` (sent with every request), ``page_size``/``max_items``/``marker`` (how far).

    How pages read: ``page(json) -> Page`` (the items and the next href or marker);
    ``until_empty``: only an empty page ends a stream (no reliable end signal);
    ``builder(stream)``: an object with ``add(items)``, ``frame()`` and ``last_id``
    (:class:`~imgframe.frame.FrameBuilder` for images); ``typed(stream)``: optionally a
    :class:`~imgframe.frame.Typed` fast decode for that stream's pages; ``merge(frames)
    -> (frame, dropped)``: the frames of several streams as one; ``partition_key``: the
    items' creation-time key when the API lists it descending and filters it with ``lt:``
    (concurrent loads split streams by it: :mod:`imgframe.listing.ranges`).

    How errors read: ``noun`` (``"images"``), ``title`` (what the endpoint should offer),
    ``not_found_hint``, ``vanished_marker(status, message, marker)`` (an answer meaning the
    marker item is gone), ``vanished_prefix`` (stripped from that message),
    ``request_id_headers`` (the first present names the request). ``describe``: the
    header of the frame's ``attrs`` (:mod:`imgframe.listing.attrs`). ``columns``: the
    columns the caller keeps (a projection; None: all the builder makes): the builder may
    make more (what ``merge`` orders by), and the load's frame (and an error's
    ``partial``) is cut to these once merged.
    """

    url: str
    root: str
    streams: tuple[Stream, ...]
    page: Callable[[Any], Page]
    builder: Callable[[Stream], Any]
    merge: Callable[[list], tuple]
    page_size: int = 1000
    max_items: int | None = None
    marker: str | None = None
    headers: dict = field(default_factory=lambda: {"Accept": "application/json"})
    typed: Callable[[Stream], Any] = _no_typed
    until_empty: bool = False
    partition_key: str | None = None
    noun: str = "items"
    title: str = "this API"
    not_found_hint: str = ""
    vanished_marker: Callable[[int, str | None, str], bool] = _never_vanished
    vanished_prefix: str = ""
    request_id_headers: tuple[str, ...] = ("x-openstack-request-id",)
    describe: dict = field(default_factory=dict)
    columns: tuple[str, ...] | None = None
