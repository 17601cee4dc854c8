"""The transport: a ``requests.Session`` whose adapter retries within a time budget.

urllib3's :class:`~urllib3.util.Retry` does the retrying (backoff + jitter, 429/502/503/504
and a few 500s, ``Retry-After`` honoured, GET only); :class:`BudgetRetry` adds a total time
budget per request and never retries a connection the host refused or a host name that
does not resolve (nothing there will answer sooner for waiting: such a load ends at once).
Timeouts and 5xx keep their retries.

:func:`quota_of` reads the rate-limit quota an answer announces (``RateLimit`` fields, the
IETF draft's, and the common ``X-RateLimit-*`` headers), for a load's gate to keep under.
"""

from __future__ import annotations

import contextvars
import errno
import socket
import time

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError, ResponseError
from urllib3.util.retry import Retry

from imgframe.errors import InvalidQueryError

__all__ = ["MAX_500_RETRIES", "RETRY_STATUSES", "THROTTLE_STATUSES", "BudgetRetry",
           "check_timeout", "make_retry", "make_session", "mount_retries", "on_quota",
           "on_throttle", "quota_of", "settle_environment", "unreachable"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_500_RETRIES = 2
#: the answers that mean "slow down": the server is over its limit or its capacity
THROTTLE_STATUSES = frozenset({429, 503})
#: ``callable(wait_seconds, status)`` told, in the requesting thread, of each 429/503
#: about to be retried (before the wait): a load's adaptive controller
#: (imgframe.listing.adaptive)
on_throttle: contextvars.ContextVar = contextvars.ContextVar("imgframe_on_throttle",
                                                              default=None)

#: ``callable(remaining, reset_seconds)`` told, in the requesting thread, of each answer
#: that announces its rate-limit quota (:func:`quota_of`): a load's gate
on_quota: contextvars.ContextVar = contextvars.ContextVar("imgframe_on_quota", default=None)

#: epoch times are above this; smaller ``...-Reset`` values are seconds from now ...
_EPOCH = 1_000_000_000
#: ... and epoch times in milliseconds above this
_EPOCH_MS = 1_000_000_000_000


def quota_of(headers, now: float | None = None) -> tuple[int, float | None] | None:
    """``(requests left, seconds until the quota is renewed)`` as an answer's headers
    announce them, or None: the IETF draft's ``RateLimit: ...;r=R;t=T`` field (of several
    policies, the one with the fewest left), or ``RateLimit-Remaining``/``RateLimit-Reset``
    (the draft's earlier fields, as Kong sends them), or ``X-RateLimit-Remaining``/
    ``X-RateLimit-Reset`` (GitHub's and many gateways': the reset in seconds, or an epoch
    time in seconds or milliseconds). The seconds are None when no reset was given or it
    is not a number. Never raises: a header it cannot read is as if absent.

    >>> quota_of({"RateLimit-Remaining": "0", "RateLimit-Reset": "2"})
    (0, 2.0)
    >>> quota_of({"RateLimit": '"day";r=50;t=3000, "burst";r=1;t=2'})
    (1, 2.0)
    >>> quota_of({"X-RateLimit-Remaining": "7", "X-RateLimit-Reset": "1000000060"}, 1e9)
    (7, 60.0)
    >>> quota_of({"X-RateLimit-Remaining": "0"}), quota_of({"Content-Type": "text/json"})
    ((0, None), None)
    """
    policies = [dict(p.strip().partition("=")[::2] for p in policy.split(";"))
                for policy in (headers.get("RateLimit") or "").split(",")]
    readable = [(n, p.get("t")) for p in policies if (n := _whole(p.get("r"))) is not None]
    for prefix in ("RateLimit-", "X-RateLimit-"):
        remaining = _whole(headers.get(prefix + "Remaining"))
        if not readable and remaining is not None:
            readable = [(remaining, headers.get(prefix + "Reset"))]
    if not readable:
        return None
    left, reset = min(readable, key=lambda pair: pair[0])
    try:
        seconds = float(reset)
    except (TypeError, ValueError):
        return max(0, left), None
    if not seconds < float("inf"):
        return max(0, left), None
    if seconds > _EPOCH_MS:
        seconds /= 1000
    if seconds > _EPOCH:
        seconds -= time.time() if now is None else now
    return max(0, left), max(0.0, seconds)


def _whole(text) -> int | None:
    """``text`` as an integer, or None."""
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


class BudgetRetry(Retry):
    """urllib3's :class:`Retry` with a total time budget and fewer retries for 500.

    ``budget`` (seconds) counts from the first failed attempt of a request; a retry whose
    wait (backoff or ``Retry-After``) would overrun it is not made. 500 is retried at most
    ``max_500`` times (it is less often transient than 502/503/504/429). A refused
    connection or an unknown host is not retried at all.
    """

    def __init__(self, *args, budget: float = 60.0, max_500: int = MAX_500_RETRIES,
                 started: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.budget = budget
        self.max_500 = max_500
        self.started = started

    def new(self, **kw):
        kw.setdefault("budget", self.budget)
        kw.setdefault("max_500", self.max_500)
        kw.setdefault("started", self.started)
        return super().new(**kw)

    def is_retry(self, method, status_code, has_retry_after=False):
        if status_code == 500:
            if sum(1 for h in self.history if h.status == 500) >= self.max_500:
                return False
        return super().is_retry(method, status_code, has_retry_after)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None,
                  _stacktrace=None):
        if isinstance(error, NewConnectionError):   # refused, unreachable, unknown host
            raise MaxRetryError(_pool, url, error)
        started = self.started if self.started is not None else time.monotonic()
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        new.started = started
        wait = None
        if response is not None and self.respect_retry_after_header:
            wait = new.get_retry_after(response)
        if wait is None:
            wait = new.get_backoff_time()
        listener = on_throttle.get()
        if listener is not None and response is not None \
                and response.status in THROTTLE_STATUSES:
            listener(wait, response.status)
        if time.monotonic() - started + wait > self.budget:
            reason = error or ResponseError(
                f"retry budget of {self.budget:g}s exhausted (next wait {wait:.1f}s)")
            raise MaxRetryError(_pool, url, reason)
        return new


def make_retry(retries=5, backoff: float = 0.5, budget: float = 60.0) -> Retry:
    """The default retry policy; ``retries`` may also be a ready :class:`Retry`."""
    if isinstance(retries, Retry):
        return retries
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidQueryError("retries", "an integer >= 0 or a urllib3 Retry", retries)
    for name, value in (("backoff", backoff), ("budget", budget)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise InvalidQueryError(name, "a number of seconds >= 0", value)
    return BudgetRetry(
        total=retries, connect=retries, read=retries, status=retries, other=0, redirect=0,
        backoff_factor=backoff, backoff_jitter=backoff, backoff_max=30.0,
        status_forcelist=RETRY_STATUSES, allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True, raise_on_status=False, raise_on_redirect=False,
        budget=float(budget), max_500=min(MAX_500_RETRIES, retries))


def mount_retries(session: requests.Session, retry: Retry) -> None:
    """Mount imgframe's retrying adapter on ``session`` for http and https."""
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=32)
    session.mount("https://", adapter)
    session.mount("http://", adapter)


def make_session(retries=5, backoff: float = 0.5, budget: float = 60.0,
                 verify=True) -> requests.Session:
    """A ``requests.Session`` with imgframe's retrying adapter mounted for http and https."""
    session = requests.Session()
    mount_retries(session, make_retry(retries, backoff, budget))
    session.verify = verify
    session.headers["User-Agent"] = "imgframe"
    session.trust_env = True
    return session


def settle_environment(session: requests.Session, root: str) -> None:
    """Read the environment's proxy and CA-bundle settings (``HTTPS_PROXY``, ``NO_PROXY``,
    ``REQUESTS_CA_BUNDLE``...) once, for the endpoint every request goes to, instead of on
    every request (requests scans the whole environment each time: about a millisecond a
    page). ``.netrc`` is not read: the API's credential is the token or the signature."""
    env = session.merge_environment_settings(root, {}, None, session.verify, None)
    session.proxies.update(env["proxies"] or {})
    session.verify = env["verify"]
    session.trust_env = False


def check_timeout(timeout) -> tuple[float, float]:
    """``timeout=`` as a ``(connect, read)`` pair of seconds.

    >>> check_timeout(3)
    (3.0, 3.0)
    """
    allowed = "seconds as a number or a (connect, read) pair of positive numbers"

    def ok(x):
        return not isinstance(x, bool) and isinstance(x, (int, float)) and x > 0

    if ok(timeout):
        return (float(timeout), float(timeout))
    if isinstance(timeout, tuple) and len(timeout) == 2 and all(map(ok, timeout)):
        return (float(timeout[0]), float(timeout[1]))
    raise InvalidQueryError("timeout", allowed, timeout)


def unreachable(exc: BaseException) -> str | None:
    """Why a connection could not be made at all (refused, unknown host, no route), in a
    few words; None for anything else (a timeout, a reset, TLS).

    >>> unreachable(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))
    'connection refused'
    """
    seen = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, socket.gaierror):
            return f"unknown host ({e.strerror or e})"
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, OSError) and not isinstance(e, TimeoutError) \
                and e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL):
            return (e.strerror or "unreachable").lower()
        if isinstance(e, NewConnectionError) and e.__cause__ is None \
                and "refused" in str(e).lower():
            return "connection refused"
        stack.extend([e.__cause__, e.__context__, getattr(e, "reason", None),
                      *(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))])
    return None
