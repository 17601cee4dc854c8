"""The HTTP edge: talk to a Nova-compatible images API and hand pages to the pager.

::

    Client.load(...) --build_query--> one request stream per Glance status
        |   for each stream: PageIterator(fetch)          (imgframe.pages: stop rules)
        |        fetch(marker) -> _send -> Page            (this module: HTTP, auth, errors)
        |   frame_from_pages(pages) -> merge_frames        (imgframe.frame: typing, order)
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
import json
import logging
import random
import re
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

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
from imgframe.frame import FrameBuilder, frame_from_pages, merge_frames
from imgframe.pages import MarkerNotFound, Page, PageIterator
from imgframe.query import (
    Endpoint,
    Query,
    build_query,
    origin_of,
    parse_endpoint,
    parse_microversion,
)

__all__ = ["BudgetRetry", "Client", "ForeignNextLinkWarning", "load", "make_session"]

log = logging.getLogger("imgframe")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_500_RETRIES = 2
MALFORMED_RETRIES = 2
_TOKEN_RE = re.compile(r"[\x21-\x7e]+")
_LOAD_OPTIONS = ("status", "name", "changes_since", "min_ram", "min_disk", "detail",
                 "page_size", "max_items", "progress", "marker")


class ForeignNextLinkWarning(UserWarning):
    """A next link named another scheme/host/port; it was not followed there."""


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


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextlib.contextmanager
def _gc_paused():
    """Pause Python's cyclic garbage collector while a load pages and builds its frame.

    Page JSON holds no reference cycles, so reference counting frees each page as soon as
    it is consumed; but the collector's full passes, triggered by the many short-lived page
    objects, walk everything still alive (the growing columns and metadata dicts) again and
    again: about half of the CPU time of a 1,000,000-image load (bench/bench_scale.py).
    Concurrent and nested loads share one pause; the collector is switched back on (if it
    was on) when the last of them ends, errors included.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


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
    """A connection to one compute endpoint's images API.

    ``endpoint`` is the compute root (``https://compute.example.com:8774``) or a URL already
    ending in ``/v2.1/{project_id}`` (or ``/v2/...``). Authenticate with ``token=`` (sent as
    ``X-Auth-Token``) or ``session=``: a ``requests.Session`` (used as given: its own
    adapters decide retries) or a keystoneauth1 ``Session``/``Adapter`` (tokens refreshed;
    a 401 re-authenticates once and the listing continues from its marker).

    ``timeout`` is ``(connect, read)`` seconds; ``verify`` is TLS verification (a CA bundle
    path works too); ``retries``/``backoff``/``budget`` shape the retry policy (count,
    backoff factor and jitter in seconds, total seconds for retrying one request).
    ``microversion`` (at most 2.35) is sent only if given.
    """

    def __init__(self, endpoint, project_id=None, *, token=None, session=None,
                 api_version="v2.1", timeout=(5, 60), verify=True, retries=5,
                 backoff: float = 0.5, budget: float = 60.0, microversion=None):
        self._endpoint: Endpoint = parse_endpoint(endpoint, project_id, api_version)
        if token is not None and (not isinstance(token, str)
                                  or not _TOKEN_RE.fullmatch(token.strip())):
            # never echo it: a bad token would otherwise reach an exception message
            raise InvalidQueryError("token", "a non-empty string of printable ASCII without "
                                    "spaces", "<hidden>")
        self._token = _Secret(token.strip()) if token else None
        self._microversion = parse_microversion(microversion)
        self._timeout = _check_timeout(timeout)
        self._retry = make_retry(retries, backoff, budget)
        self._backoff = float(backoff)
        self._budget = float(budget)
        if session is None:
            self._session = make_session(self._retry, verify=verify)
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

    # -- public ------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The versioned, token-free endpoint URL."""
        return self._endpoint.url

    @property
    def project_id(self) -> str | None:
        return self._endpoint.project_id

    @property
    def api_version(self) -> str:
        return self._endpoint.api_version

    def __repr__(self) -> str:
        auth = ("token" if self._token else "none") if self._kind == "requests" else "keystone"
        return (f"Client(endpoint={self.endpoint!r}, api_version={self.api_version!r}, "
                f"auth={auth!r})")

    def load(self, status=None, name=None, changes_since=None, min_ram=None, min_disk=None,
             detail=True, page_size=1000, max_items=None, progress=None,
             marker=None) -> pd.DataFrame:
        """Load every image matching the filters into one typed DataFrame.

        ``status``: ACTIVE, SAVING or UNKNOWN (any case) or a list; SAVING sends one query
        for Glance ``queued`` and one for ``saving`` and merges them in Nova's order
        (``created`` then ``id``, descending; with ``detail=False`` there is no ``created``,
        so merged rows are ordered by ``id`` alone).
        ``changes_since``: ISO 8601 string, datetime, date or Timestamp (naive = UTC).
        ``min_ram``/``min_disk``: note that real Nova treats them as *exact* matches.
        ``name``: exact name. ``page_size``: 1..1000 per request. ``max_items``: stop after
        that many (``attrs["imgframe"]["truncated"]`` says whether more were there).
        ``marker``: resume after this image id (see ``PaginationError.resume_marker``).
        ``progress``: a tqdm bar; ``None`` means on in a notebook or terminal.

        Raises :class:`~imgframe.errors.ImgframeError` subclasses; those raised while paging
        carry ``partial`` (what was loaded) and ``resume_marker``.
        """
        query = build_query(status=status, name=name, changes_since=changes_since,
                            min_ram=min_ram, min_disk=min_disk, detail=detail,
                            page_size=page_size, max_items=max_items, marker=marker)
        stats = _Stats()
        frames: list[pd.DataFrame] = []
        with _gc_paused(), self._bar(progress, query) as bar:
            for pinned, params in query.requests():
                builder = FrameBuilder(query.detail, pinned)
                try:
                    for items in self._pages(query, params, stats):
                        try:
                            builder.add(items)  # typed checks while the page is hot
                        except MalformedResponseError as exc:
                            last = builder.cols["id"][-1] if builder.n else query.marker
                            exc.resume_marker = last
                            raise
                        bar.update(len(items))
                        bar.set_postfix(pages=stats.pages, refresh=False)
                    frames.append(builder.frame())  # string columns are checked here
                except ImgframeError as exc:
                    _attach_url(exc, self._endpoint.images_url(query.detail))
                    exc.partial = self._partial(frames, builder, query, stats)
                    raise
        return self._finish(frames, query, stats)

    def iter_pages(self, status=None, name=None, changes_since=None, min_ram=None,
                   min_disk=None, detail=True, page_size=1000, max_items=None,
                   marker=None) -> Iterator[pd.DataFrame]:
        """The same query as :meth:`load`, one typed DataFrame per page, as they arrive.

        Several Glance statuses are listed one after the other (not merged). Each frame's
        ``attrs["imgframe"]`` holds the counters so far. ``max_items`` applies per status.
        """
        query = build_query(status=status, name=name, changes_since=changes_since,
                            min_ram=min_ram, min_disk=min_disk, detail=detail,
                            page_size=page_size, max_items=max_items, marker=marker)
        stats = _Stats()
        for pinned, params in query.requests():
            for items in self._pages(query, params, stats):
                frame = frame_from_pages([items], query.detail, pinned)
                frame.attrs["imgframe"] = self._attrs(query, stats)
                yield frame

    @classmethod
    def from_cloud(cls, name: str | None = None, *, region_name: str | None = None,
                   **kwargs) -> Client:
        """A client for a cloud in clouds.yaml (or ``OS_CLOUD``/``OS_*`` variables).

        Uses openstacksdk's configuration loader and a keystoneauth1 session, so tokens are
        refreshed as they expire. Needs the ``openstack`` extra. Other keyword arguments
        (``timeout``, ``retries``, ``budget``, ...) go to :class:`Client`.
        """
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
                endpoint = cloud.get_session_endpoint("compute")
                project_id = (None if endpoint and "/v2" in endpoint
                              else ksa_session.get_project_id())
            except ksa_exc.ClientException as exc:
                raise _ksa_error(exc, cloud.config.get("auth", {}).get("auth_url")) from None
        if not endpoint:
            raise NotFoundError(f"cloud {name!r} has no compute endpoint in its catalog")
        client = cls(endpoint, project_id, session=ksa_session, retries=retry, **kwargs)
        client._ksa_retries = False  # the retrying adapter is mounted on its session
        return client

    # -- paging --------------------------------------------------------------------------

    def _pages(self, query: Query, params: dict, stats: _Stats) -> Iterator[list]:
        url = self._endpoint.images_url(query.detail)
        sent = dict(params, **({"marker": query.marker} if query.marker else {}))
        stats.queries.append(sent)

        def fetch(marker: str | None) -> Page:
            request_params = dict(params, **({"marker": marker} if marker else {}))
            page = self._fetch(url, request_params, stats)
            if page.next_href:
                self._check_next(page.next_href, stats)
            return page

        pager = PageIterator(fetch, page_size=query.page_size, marker=query.marker,
                             max_items=query.max_items)
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

    def _fetch(self, url: str, params: dict, stats: _Stats) -> Page:
        """One page: send, check the status, parse; malformed bodies are retried a little."""
        attempt = 0
        while True:
            try:
                response = self._send(url, params, stats)
                self._raise_for_status(response, url, params)
                return self._parse(response, url, params)
            except MalformedResponseError:
                if attempt >= MALFORMED_RETRIES:
                    raise
                attempt += 1
                stats.retries += 1
                time.sleep(min(self._backoff * (2 ** (attempt - 1)), 5.0)
                           + random.uniform(0, self._backoff))

    def _send(self, url: str, params: dict, stats: _Stats) -> requests.Response:
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

    def _request(self, url: str, params: dict, stats: _Stats) -> requests.Response:
        headers = {"Accept": "application/json"}
        if self._microversion:
            headers["X-OpenStack-Nova-API-Version"] = self._microversion
            headers["OpenStack-API-Version"] = f"compute {self._microversion}"
        full = redact_url(requests.Request("GET", url, params=params).prepare().url)
        log.debug("GET %s", full)
        try:
            if self._kind == "keystone":
                response = self._ksa_get(url, params, headers)
            else:
                if self._token is not None:
                    headers["X-Auth-Token"] = self._token.value
                response = self._session.get(url, params=params, headers=headers,
                                             timeout=self._timeout, allow_redirects=False)
        except (requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            stats.requests += 1
            raise MalformedResponseError(f"the response body was cut short or undecodable "
                                         f"({type(exc).__name__})", url=full) from None
        except requests.exceptions.SSLError as exc:
            raise TransportError(f"TLS verification failed: {_short(exc)}; pass verify= a CA "
                                 f"bundle path if the endpoint uses a private CA",
                                 url=full) from None
        except requests.exceptions.Timeout as exc:
            raise TransportError(f"timed out (timeout={self._timeout}): {_short(exc)}",
                                 url=full) from None
        except requests.exceptions.RequestException as exc:
            raise TransportError(f"could not reach the images API: {_short(exc)}",
                                 url=full) from None
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

    def _raise_for_status(self, response: requests.Response, url: str, params: dict) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        full = redact_url(response.url or url)
        request_id = (response.headers.get("x-openstack-request-id")
                      or response.headers.get("x-compute-request-id"))
        message = server_message(response.content)
        kw = {"status": status, "url": full, "request_id": request_id, "server_message": message}
        said = f": {message}" if message else ""
        marker = params.get("marker")
        if marker and status == 400 and _is_vanished_marker(message, marker):
            # only Nova's own "No image found with ID <marker>" means the marker vanished.
            # A 403 is an AuthError even with a marker: the reference says Glance answers
            # 403 for a marker made invisible, but on real clouds a 403 is far more often a
            # policy refusal, and retrying with other markers would hide it.
            raise MarkerNotFound(marker, message.strip().removeprefix(_VANISHED_PREFIX), **kw)
        if status == 401:
            how = ("re-authentication did not help" if self._kind == "keystone" else
                   "get a new token, or use a keystoneauth1 session (Client.from_cloud) "
                   "to have it refreshed")
            raise AuthError(f"the token is invalid or expired ({how})", **kw)
        if status == 403:
            raise AuthError(f"not allowed to list images here{said}", **kw)
        if status == 404:
            hint = (f" (microversion {self._microversion} was sent; the images API exists "
                    f"only up to 2.35)" if self._microversion else
                    " (check the endpoint: it should be the compute API root or "
                    ".../v2.1/<project>)")
            raise NotFoundError(f"this endpoint may not offer the compute images API{hint}",
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

    def _parse(self, response: requests.Response, url: str, params: dict) -> Page:
        full = redact_url(response.url or url)
        kw = {"status": response.status_code, "url": full,
              "request_id": response.headers.get("x-openstack-request-id")}
        try:
            data = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            kind = response.headers.get("Content-Type", "unknown type")
            raise MalformedResponseError(
                f"the body is not JSON (truncated, or {kind}; {len(response.content)} bytes)",
                **kw) from None
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            keys = sorted(data)[:5] if isinstance(data, dict) else type(data).__name__
            raise MalformedResponseError(f"the JSON has no 'images' list (got {keys})", **kw)
        return Page(data["images"], _next_href(data.get("images_links")))

    # -- results -------------------------------------------------------------------------

    def _partial(self, frames, builder, query, stats) -> pd.DataFrame | None:
        try:
            done = frames + [builder.frame()]
            frame = merge_frames(done)[0] if query.merged else done[-1]
        except ImgframeError:
            return None
        frame.attrs["imgframe"] = self._attrs(query, stats)
        return frame

    def _finish(self, frames, query: Query, stats: _Stats) -> pd.DataFrame:
        if query.merged:
            frame, dropped = merge_frames(frames)
            stats.duplicates += dropped
            if query.max_items is not None and len(frame) > query.max_items:
                frame = frame.iloc[:query.max_items].reset_index(drop=True)
                stats.truncated = True
        else:
            frame = frames[0]
        frame.attrs["imgframe"] = self._attrs(query, stats)
        return frame

    def _attrs(self, query: Query, stats: _Stats) -> dict:
        return {
            "endpoint": self.endpoint,
            "project_id": self.project_id,
            "api_version": self.api_version,
            "detail": query.detail,
            "queries": [dict(q) for q in stats.queries],
            "pages": stats.pages,
            "requests": stats.requests,
            "retries": stats.retries,
            "reauths": stats.reauths,
            "duplicates_dropped": stats.duplicates,
            "marker_recoveries": stats.recoveries,
            "max_items": query.max_items,
            "truncated": stats.truncated,
            "foreign_next_links": list(stats.foreign),
            "loaded_at": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def _bar(self, progress, query: Query):
        from tqdm.auto import tqdm

        return tqdm(total=None if query.merged else query.max_items, unit=" images",
                    desc="imgframe", disable=not _want_progress(progress), leave=True,
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


def _attach_url(exc: ImgframeError, url: str) -> None:
    """Give an error raised without a URL (by the pager or the frame builder) the listing's
    token-free URL, in its attribute and its message."""
    if isinstance(exc, InvalidQueryError) or getattr(exc, "url", None):
        return
    exc.url = redact_url(url)
    if exc.args and isinstance(exc.args[0], str) and exc.url not in exc.args[0]:
        exc.args = (f"{exc.args[0]} (GET {exc.url})", *exc.args[1:])


_VANISHED_PREFIX = "HTTP 400 Bad Request: "


def _is_vanished_marker(message: str | None, marker: str) -> bool:
    """True for Nova's vanished-marker 400: ``No image found with ID <marker>`` (maybe
    prefixed ``HTTP 400 Bad Request: ``), and nothing else that mentions a marker."""
    if not message:
        return False
    text = message.strip()
    text = text.removeprefix(_VANISHED_PREFIX).strip()
    return text.rstrip(".") == f"No image found with ID {marker}"


def _next_href(links) -> str | None:
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("rel") == "next" \
                and isinstance(link.get("href"), str):
            return link["href"]
    return None


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
