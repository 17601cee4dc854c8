"""Fault injection for the embedded server (all off by default).

`Faults` is the settings object tests hand to `ImageServer(faults=...)` (or assign to
`srv.faults` while it runs). Only *images* requests are affected and numbered (from 1, per
`Faults` object: assigning a new one restarts the count): Nova's list, detail and show,
Glance's ``/v2/images[/{id}]`` and IMS's ``/v2/cloudimages``, and likewise Nova's servers
and os-services, Cinder's volumes and ECS's cloudservers, with each API's own error
bodies; keystone and version documents never are.

    Faults(latency=1.0)                              # every images request (page) waits 1 s
    Faults(error_rate=0.1)                           # 10% get 500/502/503 (seeded, repeatable)
    Faults(schedule={2: 503, 3: 429, 5: "truncate"}) # the 2nd images request gets a 503, ...
    Faults(token_ttl=3)                              # each token works for 3 requests, then 401
    Faults(loop_next=3)                              # page 3's next link points back to page 2
    Faults(rate_limit=5)                             # above 5 requests a second: 429s

Actions: 500, 502, 503, 504, 429 (with `Retry-After: retry_after`), "truncate" (a 200 whose
JSON body is cut in half; Content-Length matches what is sent), "not_json" (a 200 text/html
page), "no_images" (a 200 JSON object without an ``images`` key).

`rate_limit` (requests per second) is a token bucket in front of the APIs, as a cloud's API
gateway keeps one: it holds `burst` tokens (1 by default), gains `rate_limit` a second, and
each request takes one; a request finding none is answered 429 at once (no `latency`; it
is not numbered for `schedule`), in its API's own body, with ``Retry-After`` the whole
seconds until a token frees (at least 1). `ImageServer.stats` counts the 429s sent.
With `rate_headers=True` the gateway also announces its quota on every answer it lets
through or refuses, as gateways in front of APIs do (the IETF draft's fields, as Kong
sends them): ``RateLimit-Limit`` (`burst`), ``RateLimit-Remaining`` (whole tokens left)
and ``RateLimit-Reset`` (whole seconds until the bucket is full again).
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, field

__all__ = ["ACTIONS", "Faults"]

ACTIONS = (500, 502, 503, 504, 429, "truncate", "not_json", "no_images")


@dataclass
class Faults:
    """What to break, and when. See the module docstring."""

    latency: float = 0.0
    error_rate: float = 0.0
    error_statuses: tuple = (500, 502, 503)
    schedule: dict | None = None
    retry_after: str = "1"
    token_ttl: int | None = None
    loop_next: int | None = None
    seed: int = 0
    rate_limit: float | None = None
    burst: int = 1
    rate_headers: bool = False
    _rng: random.Random = field(default=None, init=False, repr=False, compare=False)
    _count: int = field(default=0, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False,
                                  compare=False)
    _tokens: float = field(default=0.0, init=False, repr=False, compare=False)
    _filled: float | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        for action in (self.schedule or {}).values():
            if action not in ACTIONS:
                raise ValueError(f"schedule action {action!r} is not one of {ACTIONS}")
        for status in self.error_statuses:
            if status not in ACTIONS:
                raise ValueError(f"error status {status!r} is not one of {ACTIONS}")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be within [0, 1], got {self.error_rate}")
        if self.rate_limit is not None and (
                isinstance(self.rate_limit, bool) or not isinstance(self.rate_limit, (int, float))
                or not 0 < self.rate_limit < math.inf):
            raise ValueError("rate_limit must be a positive number of requests per second "
                             f"(or None: no limit), got {self.rate_limit!r}")
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise ValueError(f"burst must be an integer >= 1 (requests), got {self.burst!r}")
        self._rng = random.Random(self.seed)
        self._tokens = float(self.burst)

    def throttle(self, now: float | None = None) -> int | None:
        """Take a token for one request under `rate_limit`: None when it may go on, else
        the ``Retry-After`` seconds (whole, at least 1) until a token frees. ``now``: a
        `time.monotonic` reading (for tests)."""
        if self.rate_limit is None:
            return None
        now = time.monotonic() if now is None else now
        with self._lock:
            self._tokens = self._tokens_at(now)
            self._filled = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - self._tokens) / self.rate_limit))

    def quota_headers(self, now: float | None = None) -> list:
        """The ``RateLimit-*`` headers of an answer sent now (none without `rate_limit`
        and `rate_headers`): the bucket's size, its whole tokens, the seconds to full."""
        if self.rate_limit is None or not self.rate_headers:
            return []
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens = self._tokens_at(now)
        reset = math.ceil((self.burst - tokens) / self.rate_limit)
        return [("RateLimit-Limit", str(self.burst)),
                ("RateLimit-Remaining", str(int(tokens))),
                ("RateLimit-Reset", str(reset))]

    def _tokens_at(self, now: float) -> float:
        """The bucket's tokens at ``now``, refilled since the last request (lock held)."""
        if self._filled is None:
            return self._tokens
        return min(float(self.burst), self._tokens + (now - self._filled) * self.rate_limit)

    def next_action(self):
        """Count one images request; return its fault (an ACTIONS item) or None.

        Requests are numbered from 1 per `Faults` object, so assigning a fresh one to
        `srv.faults` restarts the schedule.
        """
        with self._lock:
            self._count += 1
            number = self._count
        return self.action_for(number)

    def action_for(self, number: int):
        """The fault for the `number`-th (1-based) images request, or None."""
        if self.schedule and number in self.schedule:
            return self.schedule[number]
        if self.error_rate:
            with self._lock:
                hit = self._rng.random() < self.error_rate
                status = self._rng.choice(tuple(self.error_statuses))
            if hit:
                return status
        return None
