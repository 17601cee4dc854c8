"""Where a load stopped, stream by stream, to go on from there. Pure.

An error raised while a load pages (one walk or several streams at once) carries
``exc.resume``, a :class:`ResumeState`: for every stream (or creation-time range of one),
what it loaded (its frames, kept in memory) and where it stopped (the last id it kept),
or that it had finished. ``Client.load(resume=exc.resume)`` lists what is left, every
stream from its own place, and returns the same frame as a load that never stopped:
every item once, in the API's order. The state is picklable (frames pickle); its repr is
a count, never a URL's query or a credential.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from imgframe.listing.resource import Stream

__all__ = ["Piece", "ResumeState"]


@dataclass(frozen=True)
class Piece:
    """One stream of a stopped load: its request ``stream`` (a range's ``created_at``
    condition included), ``lo`` (the range's lower bound, epoch seconds; None: none),
    ``base``/``floor`` (the stream it splits and that stream's oldest item, for splitting
    it further), ``position`` (its oldest item so far), ``marker`` (the last id it kept;
    None: it had not begun), ``frames`` (what it loaded) and ``done``."""

    stream: Stream
    describe: dict
    lo: int | None = None
    base: Stream | None = None
    floor: float | None = None
    position: float | None = None
    marker: str | None = None
    frames: tuple = ()
    done: bool = False

    @property
    def rows(self) -> int:
        return sum(len(f) for f in self.frames)


@dataclass(frozen=True, eq=False)
class ResumeState:
    """What ``Client.load(resume=...)`` needs to finish a stopped load (see the module
    doc). ``url``/``streams``: the listing it belongs to (a resume of another query is
    refused); ``query``/``endpoint``: the client's, set by the client; ``counters``: the
    requests, pages and retries spent so far (the finished load's ``attrs`` count them)."""

    url: str
    streams: tuple
    pieces: tuple[Piece, ...]
    counters: dict = field(default_factory=dict)
    query: object = None
    endpoint: str | None = None

    @property
    def rows(self) -> int:
        """Items loaded before the stop."""
        return sum(p.rows for p in self.pieces)

    def for_client(self, query, endpoint: str) -> ResumeState:
        """This state, naming the query and the endpoint it was loaded with."""
        return replace(self, query=query, endpoint=endpoint)

    def matches(self, resource) -> bool:
        """Whether it is a state of ``resource``'s listing (the same URL and streams)."""
        return self.url == resource.url and self.streams == tuple(
            s.params for s in resource.streams)

    def __repr__(self) -> str:
        left = sum(1 for p in self.pieces if not p.done)
        return (f"ResumeState({len(self.pieces)} streams, {left} to finish, "
                f"{self.rows} items loaded)")
