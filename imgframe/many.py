"""Many clouds, regions and projects in one frame: :func:`load_many`.

::

    load_many(sources, **filters)
        |  _normalise: dict / names x regions / (cloud, region) / LoadSpec -> [(key, job)]
        |  _check: filters through build_query + each source's check     (no request yet)
        |  submit _run(key, job, filters) to a bounded pool (or executor=)
        |      worker: LoadSpec -> Client (own session, own retries) -> Client.load
        v      -> _Outcome (frame or token-free error summary, counters, seconds)
    one frame: each source's rows in its order, sources in the order given,
               plus cloud | region | project_id (after ``metadata``, before ``link_*``)

What goes to a worker is a :class:`LoadSpec` (picklable; credentials in an
:class:`imgframe.credentials.Credentials` whose repr hides them; a ``Client`` becomes one
through its public :meth:`~imgframe.Client.recipe`) and the filters, never a live session, so any
``concurrent.futures.Executor`` works: a process pool, or Dask's
``distributed.Client(...).get_executor()``. On the default thread pool a ``Client`` given
in a dict is used as is (its session is shared, its counters are per call), and an
interrupt cancels every load through ``Client.load(cancel=...)``.

Failures: ``strict=True`` raises :class:`~imgframe.errors.PartialLoadError` (``.partial``,
``.failures``); ``strict=False`` returns what loaded, warns once
(:class:`~imgframe.errors.PartialLoadWarning`) and lists the missing sources in
``attrs["imgframe"]["incomplete_sources"]``; a diff then reports no removals for them.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time
import warnings
from dataclasses import dataclass, field

import pandas as pd

from imgframe import sources as _sources
from imgframe.client import LOAD_OPTIONS, Client, ClientRecipe
from imgframe.cloud import sources_of
from imgframe.credentials import Credentials
from imgframe.errors import (
    ImgframeError,
    InvalidQueryError,
    PartialLoadError,
    PartialLoadWarning,
)
from imgframe.frame import COLUMNS, DTYPES, SOURCE_COLUMNS, STRING, empty_frame
from imgframe.query import build_query
from imgframe.timefmt import utc_stamp

__all__ = ["SOURCE_COLUMNS", "Credentials", "LoadSpec", "load_many", "many_columns"]

_FILTERS = tuple(k for k in LOAD_OPTIONS
                 if k not in ("progress", "marker", "workers", "on_page", "cancel"))
_CLIENT_OPTIONS = ("api_version", "timeout", "verify", "retries", "backoff", "budget",
                   "microversion")


def many_columns(columns) -> list[str]:
    """The column order of a many-source frame: COLUMNS with the source columns after
    ``metadata``, then extra ``link_<rel>`` columns, sorted.

    >>> cols = many_columns(["id", "cloud", "link_describedby"])
    >>> cols[cols.index("metadata"):][:4], cols[-1]
    (['metadata', 'cloud', 'region', 'project_id'], 'link_describedby')
    """
    at = COLUMNS.index("metadata") + 1
    base = COLUMNS[:at] + list(SOURCE_COLUMNS) + COLUMNS[at:]
    return base + sorted(c for c in columns if c not in base)


@dataclass(frozen=True)
class LoadSpec:
    """A picklable description of one source: what a worker turns into a :class:`Client`.

    Either ``endpoint`` (with ``project_id``, ``source``, ``credentials``) or ``cloud``
    (a clouds.yaml name, with ``region``; ``source`` nova, glance or auto).
    ``options``: :class:`Client` keyword options (timeout, retries, budget, ...).
    """

    endpoint: str | None = None
    project_id: str | None = None
    source: str = "nova"
    credentials: Credentials | None = field(default=None, repr=False)
    cloud: str | None = None
    region: str | None = None
    options: tuple = ()

    def __post_init__(self):
        if (self.endpoint is None) == (self.cloud is None):
            raise InvalidQueryError("LoadSpec", "an endpoint or a clouds.yaml cloud name, "
                                    "one of them", self.endpoint or self.cloud)
        for name in ("endpoint", "project_id", "cloud", "region"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidQueryError(name, "a non-empty string or None", value)
        if self.credentials is not None and not isinstance(self.credentials, Credentials):
            raise InvalidQueryError("credentials", "an imgframe.credentials.Credentials",
                                    type(self.credentials).__name__)
        if isinstance(self.options, dict):
            object.__setattr__(self, "options", tuple(sorted(self.options.items())))
        bad = [k for k, _ in self.options if k not in _CLIENT_OPTIONS]
        if bad:
            raise InvalidQueryError("options", f"Client options: {', '.join(_CLIENT_OPTIONS)}",
                                    bad[0])

    @classmethod
    def from_client(cls, client: Client) -> LoadSpec:
        """The spec of a token, AK/SK or unauthenticated client (not of a keystone one:
        its session cannot travel; give the cloud's name instead)."""
        try:
            recipe = client.recipe()
        except InvalidQueryError:
            raise InvalidQueryError(
                "sources", "Clients with a token or AK/SK (or LoadSpecs, or clouds.yaml "
                "names) when executor= is given: what is sent to a worker must be picklable",
                repr(client), reason="a keystoneauth1 session cannot be sent to a worker"
            ) from None
        return cls.from_recipe(recipe)

    @classmethod
    def from_recipe(cls, recipe: ClientRecipe) -> LoadSpec:
        """The spec of a :meth:`Client.recipe`."""
        return cls(endpoint=recipe.endpoint, project_id=recipe.project_id,
                   source=recipe.source, credentials=recipe.credentials,
                   options=recipe.options)

    def client(self) -> Client:
        """A new Client (its own session; for a cloud its own keystone session)."""
        options = dict(self.options)
        if self.cloud is not None:
            return Client.from_cloud(self.cloud, source=self.source, region_name=self.region,
                                     **options)
        creds = self.credentials.kwargs() if self.credentials else {}
        return Client(self.endpoint, self.project_id, source=self.source, **creds, **options)

    def secrets(self) -> list[str]:
        return self.credentials.secrets() if self.credentials else []


@dataclass
class _Outcome:
    key: str
    frame: pd.DataFrame | None = None
    info: dict = field(default_factory=dict)
    error: dict | None = None
    partial: pd.DataFrame | None = None
    seconds: float = 0.0
    endpoint: str | None = None
    project_id: str | None = None
    source: str | None = None


def _scrub(text: str, secrets: list[str]) -> str:
    for s in secrets:
        text = text.replace(s, "<hidden>")
    return text


def _run(key: str, job, filters: dict, stop: threading.Event | None = None) -> _Outcome:
    """One source's load (in a worker): never raises an ImgframeError, returns it summed up.
    ``stop``: set, the load sends no further request (``Client.load(cancel=...)``)."""
    started = time.monotonic()
    out = _Outcome(key)
    secrets = job.secrets() if isinstance(job, LoadSpec) else _client_secrets(job)
    try:
        client = job.client() if isinstance(job, LoadSpec) else job
        out.endpoint, out.project_id, out.source = (client.endpoint, client.project_id,
                                                    client.source)
        out.frame = client.load(progress=False, cancel=stop, **filters)
        out.info = dict(out.frame.attrs.get("imgframe") or {})
    except Exception as exc:  # noqa: BLE001 - every failure becomes this source's error
        out.error = {"type": type(exc).__name__, "message": _scrub(str(exc), secrets)}
        partial = getattr(exc, "partial", None)
        if isinstance(partial, pd.DataFrame):
            out.info = dict(partial.attrs.get("imgframe") or {})
    out.seconds = round(time.monotonic() - started, 3)
    return out


def _client_secrets(client: Client) -> list[str]:
    try:
        return client.recipe().secrets()
    except InvalidQueryError:   # a keystoneauth1 session's client: its secrets are its own
        return []


# -- normalising and checking (before any request) -------------------------------------------

def _normalise(sources, regions) -> list[tuple[str, str | None, str | None, object]]:
    """``[(key, cloud label, region, Client | LoadSpec)]`` in the order given."""
    if regions is not None:
        if isinstance(regions, str):
            regions = [regions]
        regions = list(regions)
        if not regions or not all(isinstance(r, str) and r for r in regions):
            raise InvalidQueryError("regions", "a list of region names (non-empty strings)",
                                    regions)
    jobs = []
    if isinstance(sources, dict):
        if regions is not None:
            raise InvalidQueryError("regions", "None when sources is a dict (give each "
                                    "source its region in a LoadSpec)", regions)
        for key, value in sources.items():
            if not isinstance(key, str) or not key:
                raise InvalidQueryError("sources", "a dict whose keys are non-empty strings",
                                        key)
            if isinstance(value, Client):
                jobs.append((key, key, None, value))
            elif isinstance(value, LoadSpec):
                jobs.append((key, key, value.region, value))
            else:
                raise InvalidQueryError("sources", "a dict of imgframe.Client or LoadSpec "
                                        "values", f"{key!r}: {type(value).__name__}")
    elif isinstance(sources, (list, tuple)):
        if regions is not None and not any(isinstance(s, str) for s in sources):
            raise InvalidQueryError("regions", "None unless sources names clouds.yaml clouds",
                                    regions)
        for item in sources:
            if isinstance(item, str) and item:
                for region in regions or [None]:
                    jobs.append((_key(item, region), item, region,
                                 LoadSpec(cloud=item, region=region)))
            elif (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                  and item[0] and (item[1] is None or isinstance(item[1], str))):
                cloud, region = item
                jobs.append((_key(cloud, region), cloud, region,
                             LoadSpec(cloud=cloud, region=region)))
            elif isinstance(item, LoadSpec):
                label = item.cloud or item.endpoint
                jobs.append((_key(label, item.region), label, item.region, item))
            elif isinstance(item, Client):
                jobs.append((item.endpoint, item.endpoint, None, item))
            else:
                raise InvalidQueryError("sources", "clouds.yaml names, (cloud, region) "
                                        "pairs, LoadSpecs or Clients", repr(item)[:80])
    else:
        raise InvalidQueryError("sources", "a dict {key: Client}, or a list of clouds.yaml "
                                "names, (cloud, region) pairs or LoadSpecs",
                                type(sources).__name__)
    if not jobs:
        raise InvalidQueryError("sources", "at least one source", sources)
    seen = set()
    for key, *_ in jobs:
        if key in seen:
            raise InvalidQueryError("sources", "each source once (keys must be unique)", key,
                                    reason="given twice")
        seen.add(key)
    return jobs


def _key(cloud: str, region: str | None) -> str:
    return cloud if region is None else f"{cloud}/{region}"


def _check_filters(filters: dict, jobs) -> dict:
    unknown = [k for k in filters if k not in _FILTERS]
    if unknown:
        raise InvalidQueryError(unknown[0], f"a load filter: {', '.join(_FILTERS)}",
                                filters[unknown[0]])
    for key, _, _, job in jobs:
        if isinstance(job, Client):
            job.validate(**filters)
            continue
        words = sources_of(job.source)   # "auto": the compute proxy, Glance if it is gone
        query = build_query(**filters)
        for word in words:
            try:
                _sources.get(word).check(query)
            except InvalidQueryError as exc:
                if word == words[0]:   # what a fallback cannot do, it is not asked to
                    raise InvalidQueryError(exc.parameter, exc.allowed, exc.given,
                                            reason=f"source {key!r}") from None
    return filters


def _check_clouds(jobs) -> None:
    """clouds.yaml names must exist (read locally, no request)."""
    names = [(job.cloud, job.region) for *_, job in jobs
             if isinstance(job, LoadSpec) and job.cloud is not None]
    if not names:
        return
    try:
        import openstack.config
        import openstack.exceptions
    except ImportError as exc:
        raise ImgframeError("clouds.yaml names need openstacksdk: "
                            "pip install 'imgframe[openstack]'") from exc
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*InfluxDB.*")
        config = openstack.config.OpenStackConfig()
        for cloud, region in names:
            try:
                config.get_one(cloud=cloud, region_name=region)
            except openstack.exceptions.ConfigException as exc:
                raise InvalidQueryError("sources", "clouds named in clouds.yaml (with "
                                        "regions they have)", _key(cloud, region),
                                        reason=str(exc)) from None


# -- the call ---------------------------------------------------------------------------------

def load_many(sources, *, workers: int = 8, executor: cf.Executor | None = None,
              strict: bool = True, regions=None, **load_filters) -> pd.DataFrame:
    """Load several sources into one frame (see the module docstring).

    ``sources``: a dict ``{key: Client | LoadSpec}``; or a list of clouds.yaml names
    (times ``regions``), ``(cloud, region)`` pairs, :class:`LoadSpec`s. ``load_filters``
    are :meth:`Client.load`'s (status, name, changes_since, ..., page_size, max_items) and
    are checked against every source before anything is sent.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidQueryError("workers", "an integer >= 1", workers)
    if not isinstance(strict, bool):
        raise InvalidQueryError("strict", "True or False", strict)
    if executor is not None and not isinstance(executor, cf.Executor):
        raise InvalidQueryError("executor", "a concurrent.futures.Executor (e.g. "
                                "ProcessPoolExecutor, distributed.Client.get_executor())",
                                type(executor).__name__)
    jobs = _normalise(sources, regions)
    _check_filters(load_filters, jobs)
    _check_clouds(jobs)
    if executor is not None:
        jobs = [(k, c, r, LoadSpec.from_client(j) if isinstance(j, Client) else j)
                for k, c, r, j in jobs]
    started = time.monotonic()
    outcomes = _execute(jobs, load_filters, workers, executor)
    return _assemble(jobs, outcomes, load_filters, strict, executor, workers,
                     time.monotonic() - started)


def _execute(jobs, filters, workers, executor) -> dict[str, _Outcome]:
    own = executor is None
    stop = threading.Event() if own else None
    pool = cf.ThreadPoolExecutor(min(workers, len(jobs)), thread_name_prefix="imgframe-many") \
        if own else executor
    futures = {}
    try:
        for key, _, _, job in jobs:
            args = (key, job, filters, stop) if own else (key, job, filters)
            futures[pool.submit(_run, *args)] = key
        outcomes = {}
        pending = set(futures)
        while pending:
            # a timeout, so the main thread runs Python's signal handlers soon after a
            # Ctrl-C even when the signal reached another thread
            done, pending = cf.wait(pending, timeout=0.1, return_when=cf.FIRST_COMPLETED)
            for future in done:
                outcomes[futures[future]] = future.result()
        return outcomes
    except BaseException:
        if stop is not None:
            stop.set()
        for future in futures:
            future.cancel()
        raise
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)


def _entry(key, cloud, region, job, out: _Outcome) -> dict:
    info = out.info
    source = out.source or (job.source if isinstance(job, LoadSpec) else job.source)
    endpoint = out.endpoint
    if endpoint is None:
        endpoint = job.endpoint if isinstance(job, (Client, LoadSpec)) else None
    project = out.project_id if out.source else getattr(job, "project_id", None)
    truncated = bool(info.get("truncated"))
    entry = {"key": key, "cloud": cloud, "region": region, "project_id": project,
             "source": source, "endpoint": endpoint,
             "rows": len(out.frame) if out.frame is not None else 0,
             "pages": info.get("pages", 0), "requests": info.get("requests", 0),
             "retries": info.get("retries", 0), "seconds": out.seconds,
             "truncated": truncated,
             "complete": out.error is None and not truncated}
    if out.error is not None:
        entry["error"] = dict(out.error)
    if info.get("foreign_next_links"):
        entry["foreign_next_links"] = list(info["foreign_next_links"])
    return entry


def _with_source(frame: pd.DataFrame, cloud, region, project) -> pd.DataFrame:
    frame = frame.copy()
    frame.attrs = {}
    n = len(frame)
    for col, value in zip(SOURCE_COLUMNS, (cloud, region, project), strict=True):
        frame[col] = pd.array([value] * n, dtype=STRING)
    return frame


def _concat(frames: list[pd.DataFrame], projection=None) -> pd.DataFrame:
    """The sources' frames as one; ``projection``: only those columns (and the source
    columns), as every source's load kept."""
    if not frames:
        frames = [_with_source(empty_frame(columns=projection), None, None, None)]
    columns = many_columns({c for f in frames for c in f.columns})
    if projection is not None:
        columns = [c for c in columns if c in projection or c in SOURCE_COLUMNS]
    ready = []
    for f in frames:
        missing = {c: pd.array([None] * len(f), dtype=DTYPES.get(c, STRING))
                   for c in columns if c not in f.columns}
        ready.append(f.assign(**missing)[columns] if missing else f[columns])
    out = pd.concat(ready, ignore_index=True) if len(ready) > 1 else \
        ready[0].reset_index(drop=True)
    for col in out.columns:
        if col.startswith("link_") or col in SOURCE_COLUMNS:
            if out[col].dtype != STRING:
                out[col] = out[col].astype(STRING)
    return out


def _assemble(jobs, outcomes, filters, strict, executor, workers, seconds) -> pd.DataFrame:
    entries, frames, failures = [], [], {}
    for key, cloud, region, job in jobs:
        out = outcomes[key]
        entry = _entry(key, cloud, region, job, out)
        entries.append(entry)
        if out.frame is not None:
            frames.append(_with_source(out.frame, cloud, region, entry["project_id"]))
        else:
            failures[key] = dict(out.error)
    query = build_query(**filters)
    frame = _concat(frames, query.columns)
    projection = {} if query.columns is None else {"columns": list(query.columns)}
    incomplete = [e["key"] for e in entries if not e["complete"]]
    frame.attrs["imgframe"] = {
        "source": "many", "endpoint": None, "project_id": None,
        "detail": query.detail, "filters": query.filters(),
        "load_options": {**query.filters(), "detail": query.detail,
                         "page_size": query.page_size,
                         **({"max_items": query.max_items} if query.max_items else {}),
                         **projection}, **projection,
        "queries": [], "max_items": query.max_items,
        "pages": sum(e["pages"] for e in entries),
        "requests": sum(e["requests"] for e in entries),
        "retries": sum(e["retries"] for e in entries),
        "truncated": False, "partial": bool(failures) and strict,
        "sources": entries, "incomplete_sources": incomplete,
        "executor": "threads" if executor is None else type(executor).__name__,
        "workers": workers if executor is None else None, "seconds": round(seconds, 3),
        "loaded_at": utc_stamp(),
    }
    if failures and strict:
        raise PartialLoadError(failures, partial=frame)
    if failures:
        warnings.warn(f"load_many: {len(failures)} of {len(entries)} sources failed and are "
                      f"missing from the frame: " + "; ".join(
                          f"{k} ({v['type']}: {v['message']})" for k, v in failures.items()),
                      PartialLoadWarning, stacklevel=2)
    return frame
