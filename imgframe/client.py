"""The HTTP edge: talk to an images API (Nova's proxy, Glance v2, Huawei IMS) and hand
pages to the pager. It names no API: a source module (:mod:`imgframe.sources`) says how
its API is listed.

::

    Client.load(...) --build_query--> source.check -> source.streams (one or more)
        |   for each stream: PageIterator(fetch)          (imgframe.pages: stop rules)
        |        fetch(marker) -> _send -> source.page     (this module: HTTP, auth, errors)
        |   source.builder -> FrameBuilder -> merge_frames (imgframe.frame: typing, order)
        v
    DataFrame with attrs["imgframe"]

Transport: a ``requests.Session`` whose ``HTTPAdapter`` retries with urllib3's
:class:`~urllib3.util.Retry` (backoff + jitter, 429/502/503/504 and a few 500s,
``Retry-After`` honoured, GET only) inside a total time budget (:class:`BudgetRetry`).
Requests always go to the configured endpoint: the next link only supplies the marker,
and redirects are never followed, so the token is never sent anywhere else.
A ``Client`` keeps no per-call state and may be shared by threads.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import random
import re
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError, MaxRetryError, ReadTimeoutError, ResponseError
from urllib3.util.retry import Retry

from imgframe import aksk, sources, streams
from imgframe.errors import (
    APIError,
    AuthError,
    ImgframeError,
    InvalidQueryError,
    MalformedResponseError,
    NotFoundError,
    TransportError,
    redact_url,
    server_message,
)
from imgframe.frame import Typed, merge_frames
from imgframe.pages import MarkerNotFound, Page, PageIterator, loads, next_marker
from imgframe.query import (
    Endpoint,
    Query,
    build_query,
    check_int,
    origin_of,
    parse_microversion,
)
from imgframe.sources import Source, Stream

__all__ = ["BudgetRetry", "Client", "ForeignNextLinkWarning", "SourceFallbackWarning", "load",
           "make_session"]

log = logging.getLogger("imgframe")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_500_RETRIES = 2
MALFORMED_RETRIES = 2
_TOKEN_RE = re.compile(r"[\x21-\x7e]+")
_LOAD_OPTIONS = ("status", "name", "changes_since", "min_ram", "min_disk", "visibility",
                 "hidden", "owner", "tag", "detail", "page_size", "max_items", "progress",
                 "marker", "workers")
#: ``Client.load(workers=...)``: the default (one walk: see bench/bench_streams.py) and bound
DEFAULT_WORKERS = 1
MAX_WORKERS = 32


class ForeignNextLinkWarning(UserWarning):
    """A next link named another scheme/host/port; it was not followed there."""


class SourceFallbackWarning(UserWarning):
    """``source="auto"``: the compute proxy is gone here, so Glance was read instead."""


class BudgetRetry(Retry):
    """urllib3's :class:`Retry` with a total time budget and fewer retries for 500.

    ``budget`` (seconds) counts from the first failed attempt of a request; a retry whose
    wait (backoff or ``Retry-After``) would overrun it is not made. 500 is retried at most
    ``max_500`` times (it is less often transient than 502/503/504/429).
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
        started = self.started if self.started is not None else time.monotonic()
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        new.started = started
        wait = None
        if response is not None and self.respect_retry_after_header:
            wait = new.get_retry_after(response)
        if wait is None:
            wait = new.get_backoff_time()
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


def make_session(retries=5, backoff: float = 0.5, budget: float = 60.0,
                 verify=True) -> requests.Session:
    """A ``requests.Session`` with imgframe's retrying adapter mounted for http and https."""
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=make_retry(retries, backoff, budget),
                          pool_connections=4, pool_maxsize=32)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.verify = verify
    session.headers["User-Agent"] = "imgframe"
    session.trust_env = True
    return session


def _settle_environment(session: requests.Session, root: str) -> None:
    """Read the environment's proxy and CA-bundle settings (``HTTPS_PROXY``, ``NO_PROXY``,
    ``REQUESTS_CA_BUNDLE``...) once, for the endpoint every request goes to, instead of on
    every request (requests scans the whole environment each time: about a millisecond a
    page). ``.netrc`` is not read: the API's credential is the token or the signature."""
    env = session.merge_environment_settings(root, {}, None, session.verify, None)
    session.proxies.update(env["proxies"] or {})
    session.verify = env["verify"]
    session.trust_env = False


#: request the next page while one is typed (sequential loads; bench/README.md measures it)
PREFETCH = True
#: the GIL switch interval while a load runs (bench/README.md measures it; 5 ms is Python's)
SWITCH_INTERVAL = 0.001


class _WhileLoading:
    """A process-wide setting loads change and the last of them restores: ``change()``
    returns what ``restore(saved)`` needs. Concurrent and nested loads share one change;
    it is undone (errors included) when the last of them ends."""

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
_gc_paused = _WhileLoading(_pause_gc, _resume_gc)

#: Shorten the GIL switch interval (to SWITCH_INTERVAL, never lengthen it) while a load
#: runs. The prefetch thread needs the GIL for a moment at each step of reading a page
#: (the response's headers, each chunk of the body); with Python's 5 ms interval it waits
#: that long each time the thread typing the previous page holds the GIL, so the next page
#: was often not ready when wanted (2.7 ms a page, 100,000 Nova images). Only threads that
#: wait for the GIL are switched to, so a thread blocked on a socket costs nothing.
_quick_switches = _WhileLoading(_shorten_switches, _restore_switches)


class _NoBar:
    """What a load with ``progress=False`` counts with: nothing."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def update(self, n=1) -> None:
        pass

    def set_postfix(self, *args, **kw) -> None:
        pass


class _Secret:
    """Holds the token; never shows it in a repr or str."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self):
        return "<token hidden>"

    __str__ = __repr__


@dataclass
class _Stats:
    """Per-call counters (one per load/iter_pages call, so threads never share them)."""

    requests: int = 0
    retries: int = 0
    reauths: int = 0
    pages: int = 0
    duplicates: int = 0
    recoveries: int = 0
    truncated: bool = False
    queries: list = field(default_factory=list)
    foreign: list = field(default_factory=list)


class _Cancelled(BaseException):
    """Raised in a worker of a concurrent load that is being abandoned (another stream
    failed, or the caller interrupted): it stops before its next request."""


def _add_stats(total: _Stats, part: _Stats) -> None:
    for name in ("requests", "retries", "reauths", "pages", "duplicates", "recoveries"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.truncated = total.truncated or part.truncated
    total.queries.extend(part.queries)
    total.foreign.extend(f for f in part.foreign if f not in total.foreign)


@dataclass
class _Task:
    """One stream of a concurrent load, and what it loaded."""

    stream: Stream
    lo: int | None = None
    describe: dict = field(default_factory=dict)
    first: Page | None = None
    base_stream: Stream | None = None   # the stream this range splits
    floor: float | None = None          # that stream's oldest image (epoch seconds)
    position: float | None = None       # the oldest image this range has kept so far
    active: bool = True
    stats: _Stats = field(default_factory=_Stats)
    builder: object = None
    frame: pd.DataFrame | None = None


def _clip(task: _Task, page: Page, key: str, lock: threading.Lock) -> tuple[Page, bool]:
    """Keep ``task``'s range of ``page`` and note how far back it has got (under ``lock``,
    so that :func:`_split` never moves a bound past an image already kept)."""
    with lock:
        page, past = streams.within(page, task.lo, key)
        times = [streams.epoch(i.get(key)) for i in page.items if isinstance(i, dict)]
        times = [t for t in times if t is not None]
        if times:
            oldest = min(times)
            task.position = oldest if task.position is None else min(task.position, oldest)
        return page, past


def _split(tasks: list[_Task], key: str, lock: threading.Lock) -> _Task | None:
    """Halve the running range with the most seconds between its position and its lower
    bound: it keeps ``[m, ...)``, a new range takes ``[lo, m)`` (``created_at=lt:m``).
    ``m`` is at or below every image the range kept, so none changes side."""
    with lock:
        best, span = None, 2.0
        for task in tasks:
            low = task.lo if task.lo is not None else task.floor
            if not task.active or task.position is None or low is None \
                    or task.base_stream is None:
                continue
            if task.position - low >= span:
                best, span = task, task.position - low
        if best is None:
            return None
        low = best.lo if best.lo is not None else best.floor
        cut = int(low + span / 2)
        if not low < cut <= best.position:
            return None
        part = streams.partition(best.base_stream, best.describe["stream"], [cut], key)[1]
        new = _Task(part.stream, best.lo,
                    {**part.describe(), "created_from": streams.iso(best.lo), "split": True},
                    base_stream=best.base_stream, floor=best.floor)
        best.lo = cut
        best.describe["created_from"] = streams.iso(cut)
        return new


def _is_keystone(session) -> bool:
    return type(session).__module__.startswith("keystoneauth1")


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - any failure means "not a notebook"
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def _want_progress(progress) -> bool:
    if progress is None:
        stream = sys.stderr
        return _in_notebook() or bool(stream and hasattr(stream, "isatty") and stream.isatty())
    return bool(progress)


class Client:
    """A connection to one images API: Nova's compute proxy (``source="nova"``, the
    default), OpenStack Glance v2 (``"glance"``) or Huawei IMS ``cloudimages`` (``"ims"``).
    Every source gives the same frame: the same columns, dtypes and order.

    ``endpoint``: for Nova the compute root (``https://compute.example.com:8774``) or a URL
    ending in ``/v2.1/{project_id}`` (or ``/v2/...``); for Glance the image service root
    (``https://image.example.com:9292``); for IMS the regional IMS root
    (``https://ims.ap-southeast-1.myhuaweicloud.com``). A trailing ``/v2`` is fine.

    Authenticate with ``token=`` (sent as ``X-Auth-Token``), ``session=`` (a
    ``requests.Session``, used as given: its own adapters decide retries, or a keystoneauth1
    ``Session``/``Adapter``: tokens refreshed, a 401 re-authenticates once and the listing
    continues from its marker), or, for IMS, ``ak=``/``sk=`` (Huawei's SDK-HMAC-SHA256
    signing, :mod:`imgframe.aksk`; ``security_token=`` for temporary credentials;
    ``project_id`` is sent as ``X-Project-Id``). With no credentials at all, IMS reads
    Huawei's SDK variables (``HUAWEICLOUD_SDK_AK``, ``HUAWEICLOUD_SDK_SK``, ...).

    ``timeout`` is ``(connect, read)`` seconds; ``verify`` is TLS verification (a CA bundle
    path works too); ``retries``/``backoff``/``budget`` shape the retry policy (count,
    backoff factor and jitter in seconds, total seconds for retrying one request).
    ``microversion`` (Nova, at most 2.35) is sent only if given.
    """

    def __init__(self, endpoint, project_id=None, *, source="nova", token=None, ak=None,
                 sk=None, security_token=None, session=None, api_version=None,
                 timeout=(5, 60), verify=True, retries=5, backoff: float = 0.5,
                 budget: float = 60.0, microversion=None):
        self._source: Source = sources.get(source)
        self._endpoint: Endpoint = self._source.parse_endpoint(endpoint, project_id,
                                                               api_version)
        if token is not None and (not isinstance(token, str)
                                  or not _TOKEN_RE.fullmatch(token.strip())):
            # never echo it: a bad token would otherwise reach an exception message
            raise InvalidQueryError("token", "a non-empty string of printable ASCII without "
                                    "spaces", "<hidden>")
        self._token = _Secret(token.strip()) if token else None
        self._aksk = self._signing(ak, sk, security_token, token, session)
        if microversion is not None and self._source.name != "nova":
            raise InvalidQueryError("microversion", f"None ({self._source.title} has no "
                                    "compute microversions)", microversion)
        self._microversion = parse_microversion(microversion)
        self._timeout = _check_timeout(timeout)
        self._retry = make_retry(retries, backoff, budget)
        self._backoff = float(backoff)
        self._budget = float(budget)
        self._fallback: Client | None = None
        if session is None:
            self._session = make_session(self._retry, verify=verify)
            _settle_environment(self._session, self._endpoint.root)
            self._kind = "requests"
            self._ksa_retries = False
        elif _is_keystone(session):
            if token is not None:
                raise InvalidQueryError("token", "None when a keystoneauth1 session is given",
                                        "<hidden>", reason="the session supplies the token")
            self._session = session
            self._kind = "keystone"
            self._ksa_retries = True
        elif isinstance(session, requests.Session):
            self._session = session
            self._kind = "requests"
            self._ksa_retries = False
        else:
            raise InvalidQueryError("session", "a requests.Session or keystoneauth1 Session",
                                    type(session).__name__)

    def _signing(self, ak, sk, security_token, token, session) -> aksk.Credentials | None:
        """AK/SK credentials (IMS only): given, or from Huawei's SDK variables."""
        given = ak is not None or sk is not None or security_token is not None
        if given and self._source.name != "ims":
            raise InvalidQueryError("ak", f"None: AK/SK signing is Huawei's (source='ims'), "
                                    f"not {self._source.title}'s", "<given>")
        if given:
            if token is not None or session is not None:
                raise InvalidQueryError("token", "None when ak/sk sign the requests",
                                        "<hidden>", reason="give one kind of credentials")
            for name, value in (("ak", ak), ("sk", sk)):
                if value is None:
                    raise InvalidQueryError(name, "a Huawei access key pair: ak and sk both",
                                            None)
            return aksk.Credentials(ak, sk, security_token=security_token,
                                    project_id=self._endpoint.project_id)
        if self._source.name == "ims" and token is None and session is None:
            creds = aksk.credentials_from_env()
            if creds is not None and self._endpoint.project_id is None \
                    and creds.project_id is not None:
                self._endpoint = Endpoint(self._endpoint.root, self._endpoint.api_version,
                                          creds.project_id)
            return creds
        return None

    # -- public ------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The token-free endpoint URL (Nova: versioned, with the project)."""
        return self._endpoint.url if self._source.name == "nova" else self._endpoint.root

    @property
    def source(self) -> str:
        """Which API this client reads: ``"nova"``, ``"glance"`` or ``"ims"``."""
        return self._source.name

    @property
    def project_id(self) -> str | None:
        return self._endpoint.project_id

    @property
    def api_version(self) -> str:
        return self._endpoint.api_version

    def __repr__(self) -> str:
        auth = ("token" if self._token else "aksk" if self._aksk else "none") \
            if self._kind == "requests" else "keystone"
        return (f"Client(endpoint={self.endpoint!r}, source={self.source!r}, "
                f"api_version={self.api_version!r}, auth={auth!r})")

    def load(self, status=None, name=None, changes_since=None, min_ram=None, min_disk=None,
             visibility=None, hidden=None, owner=None, tag=None, detail=True,
             page_size=1000, max_items=None, progress=None, marker=None,
             workers=DEFAULT_WORKERS) -> pd.DataFrame:
        """Load every image matching the filters into one typed DataFrame.

        The filters mean the same on every source (one a source cannot apply is refused
        before anything is sent, naming the source):

        ``status``: ACTIVE, SAVING or UNKNOWN (any case) or a list, in the display
        vocabulary: SAVING covers the API's ``queued`` and ``saving``. Where an API needs
        one request stream per word (Nova, IMS), the streams are merged in the API's order
        (``created`` then ``id``, descending; with ``detail=False`` there is no ``created``,
        so merged rows are ordered by ``id`` alone).
        ``name``: exact name (a name with ``:`` works too).
        ``changes_since``: ISO 8601 string, datetime, date or Timestamp (naive = UTC);
        inclusive (Nova ``changes-since``, Glance and IMS ``updated_at=gte:``).
        ``min_ram``/``min_disk``: *exact* matches on real Nova and Glance, not minimums
        (``df.images.select(min_ram=...)`` means "at least").
        ``visibility`` (Glance, IMS): public, private, shared, community (Glance) or all.
        A Glance load is the whole inventory by default: every visibility, and hidden
        images too; ``hidden=True``/``False`` narrows it (Nova and IMS list no hidden
        images). ``owner`` (Glance, IMS): a project id. ``tag`` (Glance: one or a list,
        all must match; IMS: one).
        ``detail=False`` (Nova only): the list view, id, name and links.
        ``page_size``: 1..1000 per request. ``max_items``: stop after that many
        (``attrs["imgframe"]["truncated"]`` says whether more were there).
        ``marker``: resume after this image id (see ``PaginationError.resume_marker``).
        ``progress``: a tqdm bar; ``None`` means on in a notebook or terminal.
        ``workers``: 1..32 threads (1: one walk per stream, one request at a time). With
        more, a load's streams run concurrently: Nova's status streams each on its own, and
        Glance's and IMS's streams split into disjoint ``created_at`` ranges
        (:mod:`imgframe.streams`), merged in the API's order, every image once.
        ``attrs["imgframe"]["partitions"]`` says what ran; a ``marker`` means one walk.

        Raises :class:`~imgframe.errors.ImgframeError` subclasses; those raised while paging
        carry ``partial`` (what was loaded) and ``resume_marker``.
        """
        query = self._query(status=status, name=name, changes_since=changes_since,
                            min_ram=min_ram, min_disk=min_disk, visibility=visibility,
                            hidden=hidden, owner=owner, tag=tag, detail=detail,
                            page_size=page_size, max_items=max_items, marker=marker)
        workers = check_int(workers, "workers", minimum=1, maximum=MAX_WORKERS)
        if self._fallback is not None:
            return self._load_or_fall_back(query, progress, workers)
        return self._load(query, progress, workers)

    def _query(self, **options) -> Query:
        query = build_query(**options)
        self._source.check(query)
        if not query.detail and self._source.name != "nova":
            raise InvalidQueryError("detail", f"True: {self._source.title} has one view "
                                    "(detail=False is Nova's list view)", False)
        return query

    def _load(self, query: Query, progress, workers: int = 1) -> pd.DataFrame:
        streams = self._source.streams(query)
        if workers > 1 and query.marker is None and (
                len(streams) > 1 or self._source.partition_key is not None):
            return self._load_concurrent(query, progress, streams, workers)
        note = None
        if workers > 1:
            note = ("a marker was given: one walk resumes from it (workers=1)" if query.marker
                    else "one stream and no time partitions here: one walk")
        stats = _Stats()
        frames: list[pd.DataFrame] = []
        root = self._endpoint.root
        with _gc_paused(), _quick_switches(), self._bar(progress, query, streams) as bar:
            for stream in streams:
                builder = self._source.builder(query.detail, stream.pinned, root)
                try:
                    with contextlib.closing(self._pages(query, stream, stats, prefetch=True,
                                                        typed=True)) as pages:
                        for items in pages:
                            try:
                                builder.add(items)  # typed checks while the page is hot
                            except MalformedResponseError as exc:
                                exc.resume_marker = builder.last_id or query.marker
                                raise
                            bar.update(len(items))
                            bar.set_postfix(pages=stats.pages, refresh=False)
                    frames.append(builder.frame())
                except ImgframeError as exc:
                    _attach_url(exc, self._source.list_url(self._endpoint, query.detail))
                    exc.partial = self._partial(frames, builder, query, streams, stats)
                    raise
        frame = self._finish(frames, query, streams, stats)
        frame.attrs["imgframe"].update(workers=1, partitions=None, workers_note=note)
        return frame

    def _load_or_fall_back(self, query: Query, progress, workers: int = 1) -> pd.DataFrame:
        """``source="auto"``: the compute proxy, or Glance when the proxy is gone (404)."""
        try:
            return self._load(query, progress, workers)
        except NotFoundError as exc:
            if exc.partial is not None and len(exc.partial):
                raise
            reason = str(exc)
        fallback = self._fallback
        warnings.warn(f"the compute images proxy answered 404 at {self.endpoint}; reading "
                      f"Glance at {fallback.endpoint} instead (source='auto')",
                      SourceFallbackWarning, stacklevel=3)
        frame = fallback._load(fallback._query(**_options(query)), progress, workers)
        frame.attrs["imgframe"]["fallback"] = {"from": self.source, "endpoint": self.endpoint,
                                               "reason": reason}
        return frame

    # -- concurrent streams -------------------------------------------------------------

    def _load_concurrent(self, query: Query, progress, base: list[Stream],
                         workers: int) -> pd.DataFrame:
        """``workers`` threads over the query's streams (Nova: one per status word) or over
        ``created_at`` ranges of each (Glance, IMS: :mod:`imgframe.streams`); merged in the
        API's order. No thread outlives the call, whatever ends it."""
        stats = _Stats()
        cancel = threading.Event()
        lock = threading.Lock()
        root = self._endpoint.root
        notes: list[str] = []
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imgframe-load")
        tasks: list[_Task] = []
        key = self._source.partition_key
        ranges = threading.Lock()   # a range's bounds move only under it
        try:
            with _gc_paused(), self._bar(progress, query, [*base, *base]) as bar:
                if key is not None:
                    tasks = self._plan(query, base, workers, pool, stats, cancel, notes)
                else:
                    tasks = [_Task(s, describe={"stream": i}) for i, s in enumerate(base)]

                def run(task: _Task) -> None:
                    task.builder = self._source.builder(query.detail, task.stream.pinned, root)
                    clip = None
                    if key is not None:
                        def clip(page, task=task):
                            return _clip(task, page, key, ranges)
                    for items in self._pages(query, task.stream, task.stats, clip, cancel,
                                             task.first, typed=True):
                        task.builder.add(items)
                        with lock:
                            bar.update(len(items))
                    task.active = False
                    task.frame = task.builder.frame()

                pending = {pool.submit(run, t) for t in tasks}
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    failed = next((f for f in done if f.exception() is not None), None)
                    if failed is not None:
                        cancel.set()
                        pool.shutdown(wait=True, cancel_futures=True)
                        self._raise_concurrent(failed.exception(), query, tasks, stats,
                                               workers, notes)
                    # a worker is free: split the range with the most time still ahead
                    while key is not None and query.max_items is None \
                            and len(pending) < workers:
                        task = _split(tasks, key, ranges)
                        if task is None:
                            break
                        tasks.append(task)
                        pending.add(pool.submit(run, task))
        except BaseException:
            cancel.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        for task in tasks:
            _add_stats(stats, task.stats)
        frame, dropped = merge_frames([t.frame for t in tasks])
        stats.duplicates += dropped
        if query.max_items is not None and len(frame) > query.max_items:
            frame = frame.iloc[:query.max_items].reset_index(drop=True)
            stats.truncated = True
        frame.attrs["imgframe"] = self._attrs(query, base, stats)
        frame.attrs["imgframe"].update(self._concurrency(tasks, workers, notes))
        return frame

    def _plan(self, query, base, workers, pool, stats, cancel, notes) -> list[_Task]:
        """Probe each stream's newest images (its first page, which the newest range then
        reuses) and its oldest image (one image), concurrently, and split the stream into up
        to ``workers`` ``created_at`` ranges; none when the first page was the whole stream."""
        url = self._source.list_url(self._endpoint, query.detail)
        key = self._source.partition_key

        def probe(stream: Stream, oldest: bool):
            if cancel.is_set():
                raise _Cancelled
            part = _Stats()
            params = streams.probe_params(stream, True) if oldest else list(stream.params)
            try:
                page = self._fetch(url, params, part)
            except APIError as exc:
                if oldest and exc.status == 400:   # no ascending sort here: one walk
                    return part, None, (f"no ascending created_at sort ({_short(exc)}): "
                                        f"one walk")
                raise
            item = page.items[0] if page.items and isinstance(page.items[0], dict) else None
            when = streams.epoch(item.get(key)) if item else None
            return part, (when if oldest else (when, page)), None

        futures = [(i, oldest, pool.submit(probe, s, oldest))
                   for i, s in enumerate(base) for oldest in (False, True)]
        found: dict = {}
        for i, oldest, future in futures:
            part, when, note = future.result()
            stats.requests += part.requests
            stats.retries += part.retries
            found[i, oldest] = when
            if note:
                notes.append(f"stream {i}: {note}")
        tasks = []
        for i, stream in enumerate(base):
            (newest, page), oldest = found[i, False], found[i, True]
            whole = not page.items or (not self._source.until_empty and not page.next_href
                                       and not page.next_marker
                                       and len(page.items) < query.page_size)
            cuts = (streams.cut_points(newest, oldest, workers)
                    if newest is not None and oldest is not None and not whole else [])
            for n, r in enumerate(streams.partition(stream, i, cuts, key)):
                tasks.append(_Task(r.stream, r.lo, r.describe(), page if n == 0 else None,
                                   base_stream=stream, floor=oldest))
        # the biggest work first: streams' ranges before single-range (whole) streams
        tasks.sort(key=lambda t: t.describe["created_from"] is None
                   and t.describe["created_before"] is None)
        return tasks

    def _raise_concurrent(self, exc: BaseException, query, tasks, stats, workers, notes):
        """Re-raise a worker's error; an imgframe error gets the merged partial frame and
        no ``resume_marker`` (several walks have no single place to resume)."""
        if not isinstance(exc, ImgframeError):
            raise exc
        total = _Stats(**{**vars(stats), "queries": list(stats.queries),
                          "foreign": list(stats.foreign)})
        for task in tasks:
            _add_stats(total, task.stats)
        _attach_url(exc, self._source.list_url(self._endpoint, query.detail))
        done = []
        for task in tasks:
            if task.frame is not None:
                done.append(task.frame)
            elif task.builder is not None:
                with contextlib.suppress(ImgframeError):
                    done.append(task.builder.frame())
        partial = merge_frames(done)[0] if done else None
        if partial is not None:
            partial.attrs["imgframe"] = self._attrs(query, [], total, partial=True)
            partial.attrs["imgframe"].update(self._concurrency(tasks, workers, notes))
        exc.partial = partial
        exc.resume_marker = None
        if exc.args and isinstance(exc.args[0], str):
            exc.args = (f"{exc.args[0]} [concurrent load, workers={workers}: no single "
                        f"resume_marker; reload, or load with workers=1 to resume by "
                        f"marker]", *exc.args[1:])
        raise exc

    @staticmethod
    def _concurrency(tasks, workers: int, notes: list) -> dict:
        return {"workers": workers,
                "partitions": [{**t.describe, "pages": t.stats.pages,
                                "images": 0 if t.frame is None else len(t.frame)}
                               for t in tasks],
                "workers_note": "; ".join(notes) or None}

    def iter_pages(self, status=None, name=None, changes_since=None, min_ram=None,
                   min_disk=None, visibility=None, hidden=None, owner=None, tag=None,
                   detail=True, page_size=1000, max_items=None,
                   marker=None) -> Iterator[pd.DataFrame]:
        """The same query as :meth:`load`, one typed DataFrame per page, as they arrive.

        Several streams (statuses, hidden and visible) are listed one after the other (not
        merged). Each frame's ``attrs["imgframe"]`` holds the counters so far.
        ``max_items`` applies per stream.
        """
        query = self._query(status=status, name=name, changes_since=changes_since,
                            min_ram=min_ram, min_disk=min_disk, visibility=visibility,
                            hidden=hidden, owner=owner, tag=tag, detail=detail,
                            page_size=page_size, max_items=max_items, marker=marker)
        streams = self._source.streams(query)
        stats = _Stats()
        for stream in streams:
            for items in self._pages(query, stream, stats):
                builder = self._source.builder(query.detail, stream.pinned,
                                               self._endpoint.root)
                builder.add(items)
                frame = builder.frame()
                frame.attrs["imgframe"] = self._attrs(query, streams, stats)
                yield frame

    @classmethod
    def from_cloud(cls, name: str | None = None, *, source: str = "nova",
                   region_name: str | None = None, **kwargs) -> Client:
        """A client for a cloud in clouds.yaml (or ``OS_CLOUD``/``OS_*`` variables).

        ``source``: ``"nova"`` (the catalog's compute endpoint), ``"glance"`` (its image
        endpoint) or ``"auto"`` (the compute proxy, and Glance when the proxy answers 404
        or the catalog has no compute endpoint; a :class:`SourceFallbackWarning` and
        ``attrs["imgframe"]["fallback"]`` say so). Uses openstacksdk's configuration loader
        and a keystoneauth1 session, so tokens are refreshed as they expire. Needs the
        ``openstack`` extra. Other keyword arguments (``timeout``, ``retries``,
        ``budget``, ...) go to :class:`Client`.
        """
        allowed = ("nova", "glance", "auto")
        word = source.strip().lower() if isinstance(source, str) else None
        if word not in allowed:
            raise InvalidQueryError("source", "one of nova, glance, auto (Huawei IMS: "
                                    "Client(endpoint, source='ims', ak=..., sk=...))", source)
        try:
            import openstack.config
            import openstack.exceptions
        except ImportError as exc:
            raise ImgframeError("Client.from_cloud needs openstacksdk: "
                                "pip install 'imgframe[openstack]'") from exc
        from keystoneauth1 import exceptions as ksa_exc

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*InfluxDB.*")  # openstacksdk's own
            try:
                cloud = openstack.config.OpenStackConfig().get_one(cloud=name,
                                                                   region_name=region_name)
            except openstack.exceptions.ConfigException as exc:
                raise InvalidQueryError("cloud", "a cloud named in clouds.yaml or OS_* "
                                        "variables", name, reason=str(exc)) from None
            ksa_session = cloud.get_session()
            retry = make_retry(kwargs.pop("retries", 5), kwargs.get("backoff", 0.5),
                               kwargs.get("budget", 60.0))
            adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=32)
            ksa_session.session.mount("https://", adapter)
            ksa_session.session.mount("http://", adapter)
            try:
                compute = cloud.get_session_endpoint("compute") if word != "glance" else None
                image = cloud.get_session_endpoint("image") if word != "nova" else None
                project_id = ksa_session.get_project_id()
            except ksa_exc.ClientException as exc:
                raise _ksa_error(exc, cloud.config.get("auth", {}).get("auth_url")) from None

        def make(src, endpoint):
            project = None if src == "nova" and "/v2" in endpoint else project_id
            client = cls(endpoint, project, source=src, session=ksa_session, retries=retry,
                         **kwargs)
            client._ksa_retries = False  # the retrying adapter is mounted on its session
            return client

        if word == "glance" or (word == "auto" and not compute and image):
            if not image:
                raise NotFoundError(f"cloud {name!r} has no image endpoint in its catalog")
            if word == "auto":
                warnings.warn(f"cloud {name!r} has no compute endpoint in its catalog; "
                              f"reading Glance at {image} (source='auto')",
                              SourceFallbackWarning, stacklevel=2)
            return make("glance", image)
        if not compute:
            raise NotFoundError(f"cloud {name!r} has no compute endpoint in its catalog")
        client = make("nova", compute)
        if word == "auto" and image:
            client._fallback = make("glance", image)
        return client

    # -- paging --------------------------------------------------------------------------

    def _pages(self, query: Query, stream: Stream, stats: _Stats, clip=None,
               cancel: threading.Event | None = None,
               first: Page | None = None, prefetch: bool = False,
               typed: bool = False) -> Iterator[list]:
        """The pages of one stream; ``clip(page) -> (page, past)``: keep a range's images
        and say when the stream has paged past it (:mod:`imgframe.streams`); ``cancel``:
        set, no further request is sent; ``first``: the first page, already fetched;
        ``prefetch``: request the next page while this one is typed (close the generator
        when done with it: that ends the prefetch thread); ``typed``: items may be the
        source's structs (``Source.typed``: for a frame builder; else they are dicts)."""
        url = self._source.list_url(self._endpoint, query.detail)
        view = (self._source.typed(query.detail, stream.pinned[1], self._endpoint.root)
                if typed and clip is None else None)
        past = False
        params = list(stream.params)
        sent = stream.as_dict()
        if query.marker:
            sent["marker"] = query.marker
        stats.queries.append(sent)

        # one page ahead: while the caller types page k, page k+1 is on the wire (socket
        # reads release the GIL). Only where the next request is certain to be sent: not
        # with max_items (the last page may not need a successor) nor a range's clip (the
        # range may end on this page), never a marker already asked for.
        ahead = (ThreadPoolExecutor(max_workers=1, thread_name_prefix="imgframe-prefetch")
                 if prefetch and PREFETCH and clip is None and query.max_items is None else None)
        pending: tuple | None = None   # (marker, params, future) in flight
        asked: set[str | None] = set()

        def get(marker: str | None) -> Page:
            nonlocal pending
            asked.add(marker)
            if pending is not None:
                wanted, wanted_params, future = pending
                pending = None
                if wanted == marker:   # read there, decoded here; its error is raised here
                    return self._decoded(future.result(), url, wanted_params, stats, view)
                wait([future])   # a guess the pager did not take: let it end, unread
            request_params = params + ([("marker", marker)] if marker else [])
            return self._fetch(url, request_params, stats, view)

        def prefetch(page: Page) -> None:
            nonlocal pending
            following = _next_marker(page, query.page_size, self._source.until_empty)
            if following is None or following in asked or ahead is None:
                return
            request_params = params + [("marker", following)]
            pending = (following, request_params,
                       ahead.submit(self._fetch, url, request_params, stats, decode=False))

        def fetch(marker: str | None) -> Page:
            nonlocal past, first
            if cancel is not None and cancel.is_set():
                raise _Cancelled
            if past:
                return Page([])   # paged past the range: the listing ends without a request
            if first is not None and marker is None:
                page, first = first, None
            else:
                page = get(marker)
            if ahead is not None:
                prefetch(page)
            if page.next_href:
                self._check_next(page.next_href, stats)
            if clip is not None:
                page, past = clip(page)
            return page

        pager = PageIterator(fetch, page_size=query.page_size, marker=query.marker,
                             max_items=query.max_items, until_empty=self._source.until_empty)
        before = (stats.pages, stats.duplicates, stats.recoveries, stats.truncated)

        def tally():
            stats.pages = before[0] + pager.pages
            stats.duplicates = before[1] + pager.duplicates
            stats.recoveries = before[2] + pager.recoveries
            stats.truncated = before[3] or pager.truncated

        try:
            for items in pager:
                tally()
                yield items
        except ImgframeError as exc:
            exc.resume_marker = pager.resume_marker
            _attach_url(exc, url)
            raise
        finally:
            if ahead is not None:   # no thread outlives the walk (errors, interrupts)
                ahead.shutdown(wait=True, cancel_futures=True)
            tally()

    def _check_next(self, href: str, stats: _Stats) -> None:
        """Note (and warn once per call about) a next link naming another origin."""
        scheme, host, port = origin = origin_of(href)
        if (not scheme and not host) or origin == self._endpoint.origin:
            return  # a relative link, or our own origin
        where = f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"
        if where in stats.foreign:
            return
        stats.foreign.append(where)
        if len(stats.foreign) == 1:
            warnings.warn(
                f"the server's next link points at {where}, not at the configured endpoint "
                f"{self._endpoint.root}; only its marker is used and requests stay on the "
                f"configured endpoint (the server may need compute_link_prefix)",
                ForeignNextLinkWarning, stacklevel=2)

    def _fetch(self, url: str, params: list, stats: _Stats, typed: Typed | None = None, *,
               decode: bool = True, attempt: int = 0):
        """One page: send, check the status, read, parse; malformed bodies are retried a
        little. ``decode=False``: stop after reading, and return ``(response, body)`` for
        :meth:`_decoded` (a prefetch thread reads; the thread that types decodes, so the
        two do not take turns at the GIL for every page)."""
        while True:
            try:
                response = self._send(url, params, stats)
                self._raise_for_status(response, url, params)
                body = self._body(response, url)
                if not decode:
                    return response, body
                return self._parse(response, body, url, typed)
            except MalformedResponseError:
                if attempt >= MALFORMED_RETRIES:
                    raise
                attempt += 1
                self._pause(attempt, stats)

    def _decoded(self, received: tuple, url: str, params: list, stats: _Stats,
                 typed: Typed | None) -> Page:
        """The page of a body :meth:`_fetch` read with ``decode=False``; a malformed one is
        fetched again, as :meth:`_fetch` does."""
        response, body = received
        try:
            return self._parse(response, body, url, typed)
        except MalformedResponseError:
            if MALFORMED_RETRIES < 1:
                raise
            self._pause(1, stats)
            return self._fetch(url, params, stats, typed, attempt=1)

    def _pause(self, attempt: int, stats: _Stats) -> None:
        stats.retries += 1
        time.sleep(min(self._backoff * (2 ** (attempt - 1)), 5.0)
                   + random.uniform(0, self._backoff))

    def _send(self, url: str, params: list, stats: _Stats) -> requests.Response:
        response = self._request(url, params, stats)
        if response.status_code == 401 and self._kind == "keystone":
            log.info("HTTP 401 from %s: re-authenticating once", redact_url(url))
            try:
                self._session.invalidate()
            except Exception as exc:  # noqa: BLE001 - reported as an auth error below
                log.debug("invalidate failed: %s", type(exc).__name__)
            stats.reauths += 1
            response = self._request(url, params, stats)
        return response

    def _request(self, url: str, params: list, stats: _Stats) -> requests.Response:
        headers = self._source.headers(self._microversion)
        def full() -> str:   # the token-free URL, built only for a log line or an error
            return redact_url(f"{url}?{urlencode(params)}" if params else url)

        if log.isEnabledFor(logging.DEBUG):
            log.debug("GET %s", full())
        try:
            if self._kind == "keystone":
                response = self._ksa_get(url, params, headers)
            elif self._aksk is not None:
                # what is sent is exactly what was signed: the signer's canonical URL,
                # passed whole (no params= for requests to re-encode)
                signed = self._aksk.sign("GET", url, params, headers)
                response = self._session.get(signed.url, headers=signed.headers,
                                             timeout=self._timeout, allow_redirects=False,
                                             stream=True)
            else:
                if self._token is not None:
                    headers["X-Auth-Token"] = self._token.value
                response = self._session.get(url, params=params, headers=headers,
                                             timeout=self._timeout, allow_redirects=False,
                                             stream=True)
        except (requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            stats.requests += 1
            raise MalformedResponseError(f"the response body was cut short or undecodable "
                                         f"({type(exc).__name__})", url=full()) from None
        except requests.exceptions.SSLError as exc:
            raise TransportError(f"TLS verification failed: {_short(exc)}; pass verify= a CA "
                                 f"bundle path if the endpoint uses a private CA",
                                 url=full()) from None
        except requests.exceptions.Timeout as exc:
            raise TransportError(f"timed out (timeout={self._timeout}): {_short(exc)}",
                                 url=full()) from None
        except requests.exceptions.RequestException as exc:
            raise TransportError(f"could not reach the images API: {_short(exc)}",
                                 url=full()) from None
        retried = len(getattr(getattr(response.raw, "retries", None), "history", ()) or ())
        stats.requests += 1 + retried
        stats.retries += retried
        return response

    def _ksa_get(self, url, params, headers):
        from keystoneauth1 import exceptions as ksa_exc

        extra = {}
        if self._ksa_retries:
            retries = self._retry.total if isinstance(self._retry.total, int) else 5
            extra = {"connect_retries": retries, "status_code_retries": retries,
                     "retriable_status_codes": sorted(RETRY_STATUSES),
                     "connect_retry_delay": self._backoff or None,
                     "status_code_retry_delay": self._backoff or None}
        try:
            return self._session.get(url, params=params, headers=headers, authenticated=True,
                                     raise_exc=False, allow_reauth=False,
                                     timeout=self._timeout, redirect=False, **extra)
        except ksa_exc.ClientException as exc:
            raise _ksa_error(exc, url) from None

    def _raise_for_status(self, response: requests.Response, url: str, params: list) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        message = server_message(response.content)
        kw = {**_where(response, url), "server_message": message}
        said = f": {message}" if message else ""
        marker = dict(params).get("marker")
        if marker and self._source.vanished_marker(status, message, marker):
            # only the API's own "this marker is gone" answer (Nova and Glance: 400 "No
            # image found with ID <marker>"; Glance: 403 "image <marker> not visible")
            # means the marker vanished; any other 403 is a policy refusal (AuthError), and
            # retrying with other markers would hide it.
            raise MarkerNotFound(marker, message.strip().removeprefix(_VANISHED_PREFIX), **kw)
        if status == 401:
            how = ("re-authentication did not help" if self._kind == "keystone" else
                   "get a new token, or use a keystoneauth1 session (Client.from_cloud) "
                   "to have it refreshed")
            raise AuthError(f"the token is invalid or expired ({how})", **kw)
        if status == 403:
            raise AuthError(f"not allowed to list images here{said}", **kw)
        if status == 404:
            hint = self._source.not_found_hint(self._microversion)
            raise NotFoundError(f"this endpoint may not offer {self._source.title}{hint}",
                                **kw)
        if 300 <= status < 400:
            where = redact_url(response.headers.get("Location"))
            raise APIError(f"the server redirected to {where}; not followed (the token "
                           f"would go with it)", **kw)
        if status == 429:
            raise APIError(f"rate limited, still after retrying within the budget{said}", **kw)
        if status >= 500:
            raise APIError(f"the server failed, still after retrying{said}", **kw)
        raise APIError(f"the server refused the request{said}", **kw)

    def _parse(self, response: requests.Response, body: bytes, url: str,
               typed: Typed | None = None) -> Page:
        if typed is not None:
            try:   # the source's structs, type-checked as they are decoded
                return typed.page(typed.decoder.decode(body))
            except ValueError:   # msgspec's DecodeError and ValidationError are ValueErrors
                pass   # the general way below takes it, or says what is wrong
        try:
            data = loads(body)
        except (ValueError, UnicodeDecodeError):
            kind = response.headers.get("Content-Type", "unknown type")
            raise MalformedResponseError(
                f"the body is not JSON (truncated, or {kind}; {len(body)} bytes)",
                **_where(response, url)) from None
        try:
            return self._source.page(data)
        except MalformedResponseError as exc:
            raise MalformedResponseError(str(exc), **_where(response, url)) from None

    def _body(self, response: requests.Response, url: str) -> bytes:
        """The body of a 200 in one read (requests' ``.content`` reads 10 KiB at a time:
        about 100 calls per 1000-image page); a keystoneauth1 response is already read."""
        if self._kind == "keystone" or response.raw is None \
                or not hasattr(response.raw, "read"):
            return response.content
        try:
            return response.raw.read(decode_content=True) or b""
        except ReadTimeoutError as exc:
            raise TransportError(f"timed out (timeout={self._timeout}) reading the body: "
                                 f"{_short(exc)}", url=_where(response, url)["url"]) from None
        except (HTTPError, OSError) as exc:   # cut short, or an undecodable encoding
            raise MalformedResponseError(f"the response body was cut short or undecodable "
                                         f"({type(exc).__name__})",
                                         **_where(response, url)) from None
        finally:
            response.close()

    # -- results -------------------------------------------------------------------------

    def _partial(self, frames, builder, query, streams, stats) -> pd.DataFrame | None:
        try:
            done = frames + [builder.frame()]
            frame = merge_frames(done)[0] if len(streams) > 1 else done[-1]
        except ImgframeError:
            return None
        frame.attrs["imgframe"] = self._attrs(query, streams, stats, partial=True)
        return frame

    def _finish(self, frames, query: Query, streams, stats: _Stats) -> pd.DataFrame:
        if len(streams) > 1:
            frame, dropped = merge_frames(frames)
            stats.duplicates += dropped
            if query.max_items is not None and len(frame) > query.max_items:
                frame = frame.iloc[:query.max_items].reset_index(drop=True)
                stats.truncated = True
        else:
            frame = frames[0]
        frame.attrs["imgframe"] = self._attrs(query, streams, stats)
        return frame

    def _attrs(self, query: Query, streams, stats: _Stats, partial: bool = False) -> dict:
        return {
            "source": self.source,
            "endpoint": self.endpoint,
            "project_id": self.project_id,
            "api_version": self.api_version,
            "detail": query.detail,
            "filters": query.filters(),
            "load_options": {**query.filters(), "detail": query.detail,
                             "page_size": query.page_size,
                             **({"max_items": query.max_items} if query.max_items else {})},
            "queries": [dict(q) for q in stats.queries],
            "pages": stats.pages,
            "requests": stats.requests,
            "retries": stats.retries,
            "reauths": stats.reauths,
            "duplicates_dropped": stats.duplicates,
            "marker_recoveries": stats.recoveries,
            "max_items": query.max_items,
            "truncated": stats.truncated,
            "partial": partial,
            "foreign_next_links": list(stats.foreign),
            "loaded_at": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def _bar(self, progress, query: Query, streams):
        if not _want_progress(progress):
            return _NoBar()   # tqdm is neither imported nor built for a quiet load
        from tqdm.auto import tqdm

        return tqdm(total=None if len(streams) > 1 else query.max_items, unit=" images",
                    desc="imgframe", leave=True,
                    dynamic_ncols=True)

    def refresh(self, old: pd.DataFrame, **kwargs) -> pd.DataFrame:
        """``old``'s query as it is now, fetching only what changed: :func:`imgframe.refresh`."""
        from imgframe.refresh import refresh

        return refresh(self, old, **kwargs)


def load(endpoint, project_id=None, *, token=None, session=None, **options) -> pd.DataFrame:
    """One call: ``Client(endpoint, project_id, token=..., ...).load(**filters)``.

    Options named like :meth:`Client.load`'s parameters go to ``load``; the rest
    (``api_version``, ``timeout``, ``verify``, ``retries``, ...) to :class:`Client`.
    """
    load_kw = {k: options.pop(k) for k in list(options) if k in _LOAD_OPTIONS}
    client = Client(endpoint, project_id, token=token, session=session, **options)
    return client.load(**load_kw)


def _next_marker(page: Page, page_size: int, until_empty: bool) -> str | None:
    """The marker :class:`~imgframe.pages.PageIterator` will ask for after ``page``
    (:func:`~imgframe.pages.next_marker` on the raw page), or ``None``; a guess for
    prefetching only: anything odd in the page (no ids, say) gives ``None`` and the pager
    decides."""
    items = page.items
    try:
        if page.ids is not None:
            last = page.ids[-1] if page.ids else None
        else:
            last = items[-1]["id"] if isinstance(items, list) and items else None
    except (TypeError, KeyError, IndexError):
        return None
    if not isinstance(last, str) or not last:
        return None
    if page.next_marker is not None and not isinstance(page.next_marker, str):
        return None
    return next_marker(page, last, len(items), page_size=page_size, until_empty=until_empty)


def _where(response: requests.Response, url: str) -> dict:
    """An error's status, token-free URL and request id (built for an error only: the
    redacted URL costs a parse)."""
    return {"status": response.status_code, "url": redact_url(response.url or url),
            "request_id": (response.headers.get("x-openstack-request-id")
                           or response.headers.get("x-compute-request-id"))}


def _attach_url(exc: ImgframeError, url: str) -> None:
    """Give an error raised without a URL (by the pager or the frame builder) the listing's
    token-free URL, in its attribute and its message."""
    if isinstance(exc, InvalidQueryError) or getattr(exc, "url", None):
        return
    exc.url = redact_url(url)
    if exc.args and isinstance(exc.args[0], str) and exc.url not in exc.args[0]:
        exc.args = (f"{exc.args[0]} (GET {exc.url})", *exc.args[1:])


_VANISHED_PREFIX = "HTTP 400 Bad Request: "

def _options(query: Query) -> dict:
    """The :meth:`Client.load` options that give ``query`` (for another source)."""
    return {"status": list(query.statuses) or None, "name": query.name,
            "changes_since": query.changes_since, "min_ram": query.min_ram,
            "min_disk": query.min_disk, "visibility": query.visibility,
            "hidden": query.hidden, "owner": query.owner, "tag": list(query.tags) or None,
            "detail": query.detail, "page_size": query.page_size,
            "max_items": query.max_items, "marker": query.marker}


def _check_timeout(timeout):
    allowed = "seconds as a number or a (connect, read) pair of positive numbers"

    def ok(x):
        return not isinstance(x, bool) and isinstance(x, (int, float)) and x > 0

    if ok(timeout):
        return (float(timeout), float(timeout))
    if isinstance(timeout, tuple) and len(timeout) == 2 and all(map(ok, timeout)):
        return (float(timeout[0]), float(timeout[1]))
    raise InvalidQueryError("timeout", allowed, timeout)


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 300 else text[:297] + "..."


def _ksa_error(exc, url) -> ImgframeError:
    status = getattr(exc, "http_status", None)
    name = type(exc).__name__
    if name == "EndpointNotFound":
        return NotFoundError("the cloud's catalog has no compute endpoint here (check "
                             "region_name and interface)", url=url)
    if status in (401, 403):
        return AuthError(f"keystone refused the credentials ({name})", status=status, url=url)
    if status:
        return APIError(f"keystone error ({name})", status=status, url=url)
    return TransportError(f"could not reach the cloud ({name}: {_short(exc)})", url=url)
