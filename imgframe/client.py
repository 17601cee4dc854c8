"""The client: validate, assemble, hand off. It names no API and lists no page itself.

::

    Client(endpoint, ..., source=...)
        source  (imgframe.sources: what the API is, what it can do)
        endpoint (source.parse_endpoint)
        auth    (imgframe.http.auth: token, AK/SK, keystoneauth1, none)
        transport (imgframe.http.transport: a session retrying within a budget)
        -> Edge (imgframe.http.edge: one page, or an error)

    Client.load(**filters) -> build_query -> source.check -> source.resource(...) (what is
        listed) -> imgframe.listing.run: walk.load (one walk per stream) or
        concurrent.load (adaptive, or workers=N) -> DataFrame with attrs["imgframe"]

Requests always go to the configured endpoint: the next link only supplies the marker,
and redirects are never followed, so the token is never sent anywhere else.
A ``Client`` keeps no per-call state and may be shared by threads.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pandas as pd
import requests

from imgframe import cloud, sources
from imgframe.cloud import SourceFallbackWarning
from imgframe.credentials import ENV_SOURCES, Credentials, credentials_from_env
from imgframe.errors import ImgframeError, InvalidQueryError, NotFoundError
from imgframe.http.auth import AkSkAuth, Auth, KeystoneAuth, NoAuth, TokenAuth, is_keystone
from imgframe.http.edge import Edge
from imgframe.http.transport import (
    BudgetRetry,
    check_timeout,
    make_retry,
    make_session,
    settle_environment,
)
from imgframe.listing import walk
from imgframe.listing.attrs import load_attrs
from imgframe.listing.resource import Resource
from imgframe.listing.resume import ResumeState
from imgframe.listing.run import MAX_WORKERS, check_workers, kept
from imgframe.listing.run import run as run_listing
from imgframe.listing.walk import ForeignNextLinkWarning, LoadCancelled, Progress, Stats
from imgframe.query import Endpoint, Query, build_query

__all__ = ["DEFAULT_WORKERS", "LOAD_OPTIONS", "MAX_WORKERS", "BudgetRetry", "Client",
           "ClientRecipe", "ForeignNextLinkWarning", "LoadCancelled", "Progress",
           "SourceFallbackWarning", "load", "make_session"]

_TOKEN_RE = re.compile(r"[\x21-\x7e]+")
#: the keyword arguments of :meth:`Client.load`
LOAD_OPTIONS = ("status", "name", "changes_since", "min_ram", "min_disk", "visibility",
                "hidden", "owner", "tag", "detail", "page_size", "max_items", "progress",
                "marker", "workers", "on_page", "cancel", "resume", "columns")
#: ``Client.load(workers=...)``'s default: None, adaptive (imgframe.listing.adaptive)
DEFAULT_WORKERS = None


@dataclass(frozen=True)
class ClientRecipe:
    """What rebuilds a :class:`Client` elsewhere (another thread, process or machine):
    picklable, and its repr shows no secret. :meth:`Client.recipe` makes it,
    :meth:`Client.from_recipe` builds a new client from it (its own session)."""

    endpoint: str
    project_id: str | None
    source: str
    credentials: Credentials | None = None
    options: tuple = field(default=())

    def secrets(self) -> list[str]:
        """The values that must never appear in a message."""
        return self.credentials.secrets() if self.credentials else []


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
    Huawei's SDK variables (``HUAWEICLOUD_SDK_AK``, ``HUAWEICLOUD_SDK_SK``, ...), and is
    refused when there are none.

    ``timeout`` is ``(connect, read)`` seconds; ``verify`` is TLS verification (a CA bundle
    path works too); ``retries``/``backoff``/``budget`` shape the retry policy (count,
    backoff factor and jitter in seconds, total seconds for retrying one request). A
    refused connection or an unknown host is not retried. ``microversion`` (Nova, at most
    2.35) is sent only if given.
    """

    def __init__(self, endpoint, project_id=None, *, source="nova", token=None, ak=None,
                 sk=None, security_token=None, session=None, api_version=None,
                 timeout=(5, 60), verify=True, retries=5, backoff: float = 0.5,
                 budget: float = 60.0, microversion=None):
        self._source = sources.get(source)
        self._endpoint: Endpoint = self._source.parse_endpoint(endpoint, project_id,
                                                               api_version)
        if token is not None and (not isinstance(token, str)
                                  or not _TOKEN_RE.fullmatch(token.strip())):
            # never echo it: a bad token would otherwise reach an exception message
            raise InvalidQueryError("token", "a non-empty string of printable ASCII without "
                                    "spaces", "<hidden>")
        token = token.strip() if token else None
        signing = self._signing(ak, sk, security_token, token, session)
        self._microversion = self._source.parse_microversion(microversion)
        timeout = check_timeout(timeout)
        retry = make_retry(retries, backoff, budget)
        self._credentials = signing or (Credentials(token=token) if token else None)
        self._options = {"api_version": self._endpoint.api_version, "timeout": timeout,
                         "verify": verify, "backoff": float(backoff), "budget": float(budget),
                         "retries": retry.total if isinstance(retry.total, int) else 5,
                         **({"microversion": self._microversion}
                            if self._microversion is not None else {})}
        self._fallback: Client | None = None
        auth: Auth = (AkSkAuth(signing) if signing is not None
                      else TokenAuth(token) if token else NoAuth())
        if session is None:
            session = make_session(retry, verify=verify)
            settle_environment(session, self._endpoint.root)
        elif is_keystone(session):
            if token is not None:
                raise InvalidQueryError("token", "None when a keystoneauth1 session is given",
                                        "<hidden>", reason="the session supplies the token")
            auth = KeystoneAuth(retry, float(backoff))
        elif not isinstance(session, requests.Session):
            raise InvalidQueryError("session", "a requests.Session or keystoneauth1 Session",
                                    type(session).__name__)
        self._edge = Edge(session, auth, timeout, float(backoff))

    def _signing(self, ak, sk, security_token, token, session) -> Credentials | None:
        """AK/SK credentials where the source signs: given, or from Huawei's variables; a
        source that signs and has no credentials of any kind is refused."""
        given = ak is not None or sk is not None or security_token is not None
        if given and not self._source.signing:
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
            return Credentials(ak, sk, security_token=security_token,
                               project_id=self._endpoint.project_id)
        if not self._source.signing or token is not None or session is not None:
            return None
        creds = credentials_from_env()
        if creds is None:
            names = " or ".join(f"{a} and {s}" for a, s, *_ in ENV_SOURCES)
            raise InvalidQueryError(
                "token", f"a token=, or ak= and sk= (or the environment variables {names})",
                None, reason=f"{self._source.title} needs credentials and none were given")
        if self._endpoint.project_id is None and creds.project_id is not None:
            self._endpoint = Endpoint(self._endpoint.root, self._endpoint.api_version,
                                      creds.project_id)
        return creds

    # -- what it is ----------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The token-free endpoint URL (Nova: versioned, with the project)."""
        return self._source.display_endpoint(self._endpoint)

    @property
    def source(self) -> str:
        """Which API this client reads: ``"nova"``, ``"glance"`` or ``"ims"``."""
        return self._source.name

    @property
    def capabilities(self) -> sources.Source:
        """What this client's API can do, as its source module says (never ask the name):
        ``list_view``, ``filters``, ``max_microversion``, ``signing``, ``partition_key``,
        ``until_empty``, ... (:class:`imgframe.sources.base.Source`)."""
        return self._source

    @property
    def project_id(self) -> str | None:
        return self._endpoint.project_id

    @property
    def api_version(self) -> str:
        return self._endpoint.api_version

    @property
    def session(self):
        """The session requests go through (``requests`` or keystoneauth1's): to mount
        adapters or add hooks; what a hook adds stays there."""
        return self._edge.session

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` seconds."""
        return self._edge.timeout

    @property
    def microversion(self) -> str | None:
        """The compute microversion sent, if any."""
        return self._microversion

    def __repr__(self) -> str:
        return (f"Client(endpoint={self.endpoint!r}, source={self.source!r}, "
                f"api_version={self.api_version!r}, auth={self._edge.auth.kind!r})")

    def recipe(self) -> ClientRecipe:
        """A picklable recipe of this client (endpoint, source, credentials, options), to
        build the same client elsewhere with :meth:`from_recipe`. Not for a keystoneauth1
        session's client (its session cannot travel: give the cloud's name instead)."""
        if self._edge.auth.kind == "keystone" or self._fallback is not None:
            raise InvalidQueryError(
                "client", "a Client with a token, AK/SK or no credentials (a keystoneauth1 "
                "session cannot be sent elsewhere; use the clouds.yaml name)", repr(self))
        return ClientRecipe(self._endpoint.root, self.project_id, self.source,
                            self._credentials, tuple(sorted(self._options.items())))

    @classmethod
    def from_recipe(cls, recipe: ClientRecipe) -> Client:
        """A new client (its own session) from :meth:`recipe`'s result."""
        if not isinstance(recipe, ClientRecipe):
            raise InvalidQueryError("recipe", "a ClientRecipe (Client.recipe())",
                                    type(recipe).__name__)
        creds = recipe.credentials.kwargs() if recipe.credentials else {}
        return cls(recipe.endpoint, recipe.project_id, source=recipe.source, **creds,
                   **dict(recipe.options))

    # -- loading -------------------------------------------------------------------------

    def load(self, status=None, name=None, changes_since=None, min_ram=None, min_disk=None,
             visibility=None, hidden=None, owner=None, tag=None, detail=True,
             page_size=1000, max_items=None, progress=None, marker=None,
             workers=DEFAULT_WORKERS, on_page: Callable[[Progress], None] | None = None,
             cancel: threading.Event | None = None,
             resume: ResumeState | None = None, columns=None) -> pd.DataFrame:
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
        ``detail=False`` (sources with a list view: Nova): id, name and links.
        ``page_size``: 1..1000 per request. ``max_items``: stop after that many
        (``attrs["imgframe"]["truncated"]`` says whether more were there).
        ``marker``: resume after this image id (see ``PaginationError.resume_marker``).
        ``progress``: a tqdm bar; ``None`` means on in a notebook or terminal.
        ``workers``: None (the default) adapts: one walk that, while pages wait on the
        server far longer than they take to read, opens more streams, up to 8 (Nova's
        status streams; Glance's and IMS's split into disjoint ``created_at`` ranges,
        :mod:`imgframe.listing.ranges`), merged in the API's order, every image once, and
        halves them on a 429 or 503 (:mod:`imgframe.listing.adaptive`). ``workers=1``:
        one walk per stream, one request at a time; ``workers=N`` (2..32) pins N.
        ``attrs["imgframe"]`` says what ran and why (``workers``, ``partitions``,
        ``workers_note``, ``concurrency``); a ``marker`` or ``max_items`` means one walk.
        ``on_page(progress)``: called after each page with a :class:`Progress` (pages,
        items, requests, retries so far), from the loading thread (with ``workers``, one
        call at a time).
        ``cancel``: a ``threading.Event``; once set, the load stops at its next page
        boundary, sends no further request (a prefetched page already on the wire is let
        end) and raises :class:`LoadCancelled` (with ``partial``, as any error while
        paging).

        ``columns``: load only these columns (names of the frame, or one comma-separated
        string), in the frame's order, ``id`` always; the others are never typed (but
        ``created``, which merging orders by), nor decoded where the source decodes
        structs (Nova: a load without ``metadata`` never builds its dicts). Unknown names
        are refused before anything is sent. ``attrs["imgframe"]["columns"]`` records it;
        ``refresh`` keeps it; ``diff`` compares only frames of the same columns.

        ``resume``: an error's ``exc.resume`` (a :class:`ResumeState`): go on from where
        every stream of that load stopped, and return the frame the load would have
        given uninterrupted (every image once, in the API's order). Give the same
        filters as that load, or none.

        Raises :class:`~imgframe.errors.ImgframeError` subclasses; those raised while paging
        carry ``partial`` (what was loaded), ``resume`` and (one walk) ``resume_marker``.
        """
        query = self.validate(status=status, name=name, changes_since=changes_since,
                              min_ram=min_ram, min_disk=min_disk, visibility=visibility,
                              hidden=hidden, owner=owner, tag=tag, detail=detail,
                              page_size=page_size, max_items=max_items, marker=marker,
                              columns=columns)
        workers = check_workers(workers)
        _check_hooks(on_page, cancel)
        query = self._resuming(query, resume)
        hooks = {"on_page": on_page, "cancel": cancel, "resume": resume}
        if self._fallback is None:
            return self._load(query, progress, workers, hooks)
        try:
            return self._load(query, progress, workers, hooks)
        except NotFoundError as exc:
            if exc.partial is not None and len(exc.partial):
                raise
            reason = str(exc)
        fallback = self._fallback
        warnings.warn(f"the compute images proxy answered 404 at {self.endpoint}; reading "
                      f"Glance at {fallback.endpoint} instead (source='auto')",
                      SourceFallbackWarning, stacklevel=2)
        frame = fallback._load(fallback.validate(**_options(query)), progress, workers, hooks)
        frame.attrs["imgframe"]["fallback"] = {"from": self.source, "endpoint": self.endpoint,
                                               "reason": reason}
        return frame

    def validate(self, **load_options) -> Query:
        """Check :meth:`load`'s filters as it would (naming the source and the reason when
        this source cannot apply one), sending nothing; the validated query."""
        query = build_query(**load_options)
        self._source.check(query)
        if not query.detail and not self._source.list_view:
            raise InvalidQueryError("detail", f"True: {self._source.title} has one view "
                                    "(detail=False is the compute API's list view)", False)
        return query

    def _resource(self, query: Query) -> Resource:
        return self._source.resource(self._endpoint, query, self._microversion)

    def _resuming(self, query: Query, resume) -> Query:
        """The query a ``resume`` state goes on with: its own (the call gave no filter) or
        the call's, which must be the same; refused for another client or listing."""
        if resume is None:
            return query
        if not isinstance(resume, ResumeState) or resume.query is None:
            raise InvalidQueryError("resume", "None or an error's .resume (a ResumeState "
                                    "from this client's load)", type(resume).__name__)
        if resume.endpoint != self.endpoint:
            raise InvalidQueryError("resume", f"a state of a load from {self.endpoint}",
                                    f"a state of {resume.endpoint}")
        if query != resume.query and query != build_query():
            differ = query.differences(resume.query)
            given = set(query.differences(build_query()))
            shown = ", ".join([d for d in differ if d in given] or differ)
            raise InvalidQueryError("resume", "a state of a load with the same options (or "
                                    "give none: the state's are used)", repr(resume),
                                    reason=f"{shown} not as in the stopped load")
        return resume.query

    def _load(self, query: Query, progress, workers: int | None, hooks: dict) -> pd.DataFrame:
        try:
            return run_listing(self._edge, self._resource(query), workers=workers,
                               progress=progress, **hooks)
        except ImgframeError as exc:
            if exc.resume is not None:
                exc.resume = exc.resume.for_client(query, self.endpoint)
            raise

    def iter_pages(self, status=None, name=None, changes_since=None, min_ram=None,
                   min_disk=None, visibility=None, hidden=None, owner=None, tag=None,
                   detail=True, page_size=1000, max_items=None, marker=None,
                   columns=None) -> Iterator[pd.DataFrame]:
        """The same query as :meth:`load`, one typed DataFrame per page, as they arrive.

        Several streams (statuses, hidden and visible) are listed one after the other (not
        merged). Each frame's ``attrs["imgframe"]`` holds the counters so far.
        ``max_items`` applies per stream.
        """
        query = self.validate(status=status, name=name, changes_since=changes_since,
                              min_ram=min_ram, min_disk=min_disk, visibility=visibility,
                              hidden=hidden, owner=owner, tag=tag, detail=detail,
                              page_size=page_size, max_items=max_items, marker=marker,
                              columns=columns)
        resource = self._resource(query)
        stats = Stats()
        for stream in resource.streams:
            for items in walk.pages(self._edge, resource, stream, stats):
                builder = resource.builder(stream)
                builder.add(items)
                frame = kept(builder.frame(), resource.columns)
                frame.attrs["imgframe"] = load_attrs(resource.describe, stats,
                                                     max_items=query.max_items)
                yield frame

    def load_servers(self, **options) -> pd.DataFrame:
        """This compute client's servers, with its endpoint and credentials:
        :func:`imgframe.load_servers`'s options (``all_projects``, ``soft_deleted``, ...).
        Nova clients only (Huawei ECS: ``imgframe.load_servers(..., source="ecs")``)."""
        from imgframe import inventory_loads
        from imgframe.sources import servers as servers_src

        if self.source not in servers_src.SOURCES:   # the compute endpoint lists servers
            raise InvalidQueryError("source", "nova (servers are listed at the compute "
                                    "endpoint; for Huawei ECS use imgframe.load_servers("
                                    "..., source='ecs'))", self.source)
        return inventory_loads.servers_of(self._edge, self._endpoint, **options)

    def load_volumes(self, volume_endpoint=None, **options) -> pd.DataFrame:
        """Volumes with this client's credentials: :func:`imgframe.load_volumes`'s options.
        A clouds.yaml client (:meth:`from_cloud`) finds ``volume_endpoint`` in its catalog
        (``block-storage``/``volumev3``); others must give it."""
        from imgframe import inventory_loads
        from imgframe.sources import volumes as volumes_src

        if volume_endpoint is None and is_keystone(self.session):
            volume_endpoint = cloud.session_endpoint(self.session, "volume")
        if volume_endpoint is None:
            raise InvalidQueryError("volume_endpoint", "Cinder's /v3/{project_id} URL (a "
                                    "clouds.yaml client finds it in its catalog)", None)
        project_id = options.pop("project_id", None)
        try:
            endpoint = volumes_src.parse_endpoint(volume_endpoint, project_id)
        except InvalidQueryError as exc:   # a root or /v3: this client's project
            if project_id is not None or exc.parameter != "project_id" or not self.project_id:
                raise
            endpoint = volumes_src.parse_endpoint(volume_endpoint, self.project_id)
        return inventory_loads.volumes_of(self._edge, endpoint, **options)

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
        retries = kwargs.pop("retries", 5)

        def make(endpoint, project_id, *, source, session, retry):
            client = cls(endpoint, project_id, source=source, session=session, retries=retry,
                         **kwargs)
            client._edge.auth = KeystoneAuth()   # imgframe's adapter retries on its session
            return client

        client, fallback = cloud.from_cloud(make, name, source=source,
                                            region_name=region_name, retries=retries,
                                            backoff=kwargs.get("backoff", 0.5),
                                            budget=kwargs.get("budget", 60.0))
        client._fallback = fallback
        return client

    def refresh(self, old: pd.DataFrame, **kwargs) -> pd.DataFrame:
        """``old``'s query as it is now, fetching only what changed: :func:`imgframe.refresh`."""
        from imgframe.refresh import refresh

        return refresh(self, old, **kwargs)


def load(endpoint, project_id=None, *, token=None, session=None, **options) -> pd.DataFrame:
    """One call: ``Client(endpoint, project_id, token=..., ...).load(**filters)``.

    Options named like :meth:`Client.load`'s parameters go to ``load``; the rest
    (``api_version``, ``timeout``, ``verify``, ``retries``, ...) to :class:`Client`.
    """
    load_kw = {k: options.pop(k) for k in list(options) if k in LOAD_OPTIONS}
    client = Client(endpoint, project_id, token=token, session=session, **options)
    return client.load(**load_kw)


def _check_hooks(on_page, cancel) -> None:
    if on_page is not None and not callable(on_page):
        raise InvalidQueryError("on_page", "None or a callable taking a Progress",
                                type(on_page).__name__)
    if cancel is not None and not callable(getattr(cancel, "is_set", None)):
        raise InvalidQueryError("cancel", "None or a threading.Event", type(cancel).__name__)


def _options(query: Query) -> dict:
    """The :meth:`Client.load` options that give ``query`` (for another source)."""
    return {"status": list(query.statuses) or None, "name": query.name,
            "changes_since": query.changes_since, "min_ram": query.min_ram,
            "min_disk": query.min_disk, "visibility": query.visibility,
            "hidden": query.hidden, "owner": query.owner, "tag": list(query.tags) or None,
            "detail": query.detail, "page_size": query.page_size,
            "max_items": query.max_items, "marker": query.marker, "columns": query.columns}
