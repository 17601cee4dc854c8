"""Servers and volumes, listed by the core that lists images, with the scope they covered.

::

    load_servers(compute_endpoint, project_id, token=..., source="nova"|"ecs",
                 all_projects=False, cloud=None, ...)
    load_volumes(volume_endpoint, project_id, token=..., all_projects=False, cloud=None, ...)
        validate (InvalidQueryError naming the parameter, before anything is sent)
        -> imgframe.sources.servers.resource / imgframe.sources.volumes.resource (what is
           listed) -> imgframe.listing.run.run (adaptive streams or one walk: every page,
           retries, budget, re-authentication, partial/resume, progress) -> a typed frame
        -> what the scope really was (imgframe.sources.resources.Scope, in
           ``attrs["imgframe"]["scope"]``)

Scope, as recorded (``usage()`` reads it to decide ``unused`` or ``unknown``):

* Nova: ``all_projects`` sends ``all_tenants``; a non-admin's 403 is an :class:`AuthError`
  saying so (never a quiet own-project list). ``admin`` is learned from the answers (the
  all-projects listing, or ``GET /os-services``: 200 or 403). ``soft_deleted=True`` (the
  default) adds a ``changes-since`` listing (soft-deleted and deleted servers, for any
  caller), merged by id; DELETED servers stay in the frame with their status.
  ``cells``: for an admin, ``os-services`` at 2.69 (UNKNOWN services) and a bare 2.69
  listing (UNKNOWN items): ``down`` or ``up``; for others the bare listing only: ``down``
  when it shows UNKNOWN items, else ``unverified`` (it cannot prove the cells answered).
* ECS: the caller's project only (``all_projects`` refused up front), no cells, no soft
  delete.
* Cinder: a non-admin's ``all_tenants`` is ignored silently, so the scope is read from the
  items: ``all_projects`` is recorded only when volumes of another project came back.

``every_page`` is False for a frame loaded from a ``marker`` or cut by ``max_items``.
``attrs["imgframe"]["scope_requests"]``: the requests the cell checks sent (not in
``requests``, which counts the listing's). :meth:`imgframe.Client.load_servers` and
:meth:`~imgframe.Client.load_volumes` do the same with a client's endpoint and credentials
(:func:`servers_of`, :func:`volumes_of`).
Errors raised while paging carry ``partial`` (with its scope, ``every_page`` False),
``resume`` (``load_servers(..., resume=exc.resume)`` goes on) and, after one walk,
``resume_marker``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import pandas as pd
import requests

from imgframe import cloud as clouds
from imgframe.credentials import Credentials, credentials_from_env
from imgframe.errors import AuthError, ImgframeError, InvalidQueryError
from imgframe.http.auth import AkSkAuth, Auth, KeystoneAuth, NoAuth, TokenAuth, is_keystone
from imgframe.http.edge import Edge
from imgframe.http.transport import check_timeout, make_retry, make_session, settle_environment
from imgframe.listing import walk
from imgframe.listing.resume import ResumeState
from imgframe.listing.run import check_workers, run
from imgframe.query import Endpoint, check_int
from imgframe.sources import servers as servers_src
from imgframe.sources import volumes as volumes_src
from imgframe.sources.resources import Scope

__all__ = ["load_servers", "load_volumes", "servers_of", "volumes_of"]

_TOKEN_RE = re.compile(r"[\x21-\x7e]+")


def load_servers(compute_endpoint=None, project_id=None, *, token=None, source="nova",
                 all_projects=False, soft_deleted=True, check_cells=True, cloud=None,
                 region_name=None, ak=None, sk=None, security_token=None, session=None,
                 page_size=1000, max_items=None, marker=None, progress=None,
                 on_page: Callable | None = None, cancel: threading.Event | None = None,
                 timeout=(5, 60), verify=True, retries=5, backoff: float = 0.5,
                 budget: float = 60.0, workers=None, resume=None) -> pd.DataFrame:
    """Every server the caller may see, one typed row each (columns:
    :data:`imgframe.sources.servers.COLUMNS`), with ``attrs["imgframe"]["scope"]`` saying
    what the listing covered (:class:`~imgframe.sources.resources.Scope`).

    ``compute_endpoint``: Nova's root or ``.../v2.1/{project_id}`` (``source="nova"``), or
    Huawei ECS's regional root (``source="ecs"``, ``project_id`` required; AK/SK with
    ``ak=``/``sk=`` or Huawei's variables, as for IMS). ``cloud=``: a clouds.yaml cloud
    instead of an endpoint and credentials (the catalog's ``compute``/``ecs`` endpoint).
    ``all_projects``: every project (Nova, admin only: a non-admin gets an AuthError).
    ``soft_deleted``: include soft-deleted (and deleted) servers with a ``changes-since``
    listing (Nova; default True: a soft-deleted server still needs its image).
    ``check_cells``: look for cells that do not answer (Nova 2.69+; two extra requests).
    ``page_size`` 1..1000, ``max_items``, ``marker`` (resume after a server id),
    ``progress``, ``on_page``, ``cancel``, ``timeout``, ``verify``, ``retries``,
    ``backoff``, ``budget``, ``workers`` (None: adaptive) and ``resume`` (an error's
    ``exc.resume``): as for :meth:`imgframe.Client.load`.
    """
    word = source.strip().lower() if isinstance(source, str) else source
    if word not in servers_src.SOURCES:
        raise InvalidQueryError("source", "nova or ecs (the servers APIs imgframe reads)",
                                source)
    api = servers_src.APIS[word]
    _check_api(api, all_projects)
    flags = _flags(all_projects=all_projects, soft_deleted=soft_deleted,
                   check_cells=check_cells)
    options = _listing(page_size, max_items, marker, on_page, cancel, workers, resume)
    edge, endpoint, caller = _connect(
        "compute_endpoint", compute_endpoint, project_id, cloud, region_name, api.catalog,
        lambda url, pid: servers_src.parse_endpoint(url, pid, source=word),
        dict(token=token, ak=ak, sk=sk, security_token=security_token, session=session,
             timeout=timeout, verify=verify, retries=retries, backoff=backoff,
             budget=budget), signing=api.signing)
    return _servers(edge, endpoint, caller, word, flags, options, progress)


def servers_of(edge, endpoint: Endpoint, *, source="nova", caller=None, all_projects=False,
               soft_deleted=True, check_cells=True, page_size=1000, max_items=None,
               marker=None, progress=None, on_page=None, cancel=None, workers=None,
               resume=None) -> pd.DataFrame:
    """:func:`load_servers` through an existing :class:`~imgframe.http.edge.Edge` (its
    session and credentials) at ``endpoint`` (:func:`imgframe.sources.servers.parse_endpoint`):
    what :meth:`imgframe.Client.load_servers` calls."""
    word = source if source in servers_src.SOURCES else None
    if word is None:
        raise InvalidQueryError("source", "nova or ecs (the servers APIs imgframe reads)",
                                source)
    _check_api(servers_src.APIS[word], all_projects)
    flags = _flags(all_projects=all_projects, soft_deleted=soft_deleted,
                   check_cells=check_cells)
    options = _listing(page_size, max_items, marker, on_page, cancel, workers, resume)
    return _servers(edge, endpoint, caller or endpoint.project_id, word, flags, options,
                    progress)


def _check_api(api, all_projects) -> None:
    if all_projects is True and not api.all_projects:
        raise InvalidQueryError("all_projects", f"False: {api.name} lists the caller's "
                                "project only", all_projects)


def _servers(edge, endpoint: Endpoint, caller, word: str, flags: dict, options: dict,
             progress) -> pd.DataFrame:
    api = servers_src.APIS[word]
    describe = {"resource": "servers", "source": word, "endpoint": _shown(endpoint, word),
                "project_id": endpoint.project_id, "all_projects": flags["all_projects"],
                "load_options": {"all_projects": flags["all_projects"],
                                 "soft_deleted": flags["soft_deleted"],
                                 "page_size": options["page_size"],
                                 "max_items": options["max_items"]}}
    resource = servers_src.resource(endpoint, source=word, all_projects=flags["all_projects"],
                                    soft_deleted=flags["soft_deleted"] and api.soft_delete,
                                    page_size=options["page_size"],
                                    max_items=options["max_items"],
                                    marker=options["marker"], describe=describe)
    scope = dict(resource="servers", source=word, caller=caller,
                 cells="unverified" if api.cells else None,
                 soft_deleted=not api.soft_delete or flags["soft_deleted"],
                 deleted=api.soft_delete and flags["soft_deleted"])
    try:
        frame = _walk(edge, resource, options, progress)
    except ImgframeError as exc:
        if (flags["all_projects"] and isinstance(exc, AuthError)
                and getattr(exc, "status", None) == 403):
            raise AuthError(f"all_projects=True needs the admin role: Nova refused to list "
                            f"every project's servers ({exc.message or 'HTTP 403'})",
                            status=403, url=exc.url, request_id=exc.request_id,
                            server_message=exc.message) from None
        _scope_partial(exc, scope, endpoint, flags["all_projects"])
        raise
    notes: list[str] = []
    admin = True if flags["all_projects"] else None
    if api.cells and flags["check_cells"]:
        checks = walk.Stats()
        cells, learned = _cells(edge, endpoint, flags["all_projects"], notes, checks)
        frame.attrs["imgframe"]["scope_requests"] = checks.requests
        scope["cells"] = cells
        admin = admin if learned is None else (admin or learned)
    elif api.cells:
        notes.append("cells not checked (check_cells=False)")
    if api.soft_delete and flags["soft_deleted"]:
        notes.append("soft-deleted and deleted servers from a changes-since listing")
    return _finish(frame, scope, endpoint, flags["all_projects"], admin, options, notes)


def load_volumes(volume_endpoint=None, project_id=None, *, token=None, all_projects=False,
                 cloud=None, region_name=None, session=None, page_size=1000, max_items=None,
                 marker=None, progress=None, on_page: Callable | None = None,
                 cancel: threading.Event | None = None, timeout=(5, 60), verify=True,
                 retries=5, backoff: float = 0.5, budget: float = 60.0, workers=None,
                 resume=None) -> pd.DataFrame:
    """Every volume the caller may see (Cinder ``/v3/{project_id}/volumes/detail``), one
    typed row each (columns: :data:`imgframe.sources.volumes.COLUMNS`), with
    ``attrs["imgframe"]["scope"]``.

    ``volume_endpoint``: Cinder's ``.../v3/{project_id}`` URL (or its root with
    ``project_id``); ``cloud=``: a clouds.yaml cloud (the catalog's ``block-storage`` or
    ``volumev3`` endpoint). ``all_projects``: sends ``all_tenants``; Cinder ignores it for
    a non-admin without an error, so the scope recorded is the one the items show (every
    project only when another project's volumes came back). Other options as
    :func:`load_servers`.
    """
    flags = _flags(all_projects=all_projects)
    options = _listing(page_size, max_items, marker, on_page, cancel, workers, resume)
    edge, endpoint, caller = _connect(
        "volume_endpoint", volume_endpoint, project_id, cloud, region_name, "volume",
        volumes_src.parse_endpoint,
        dict(token=token, ak=None, sk=None, security_token=None, session=session,
             timeout=timeout, verify=verify, retries=retries, backoff=backoff,
             budget=budget), signing=False)
    return _volumes(edge, endpoint, caller, flags, options, progress)


def volumes_of(edge, endpoint: Endpoint, *, caller=None, all_projects=False,
               page_size=1000, max_items=None, marker=None, progress=None, on_page=None,
               cancel=None, workers=None, resume=None) -> pd.DataFrame:
    """:func:`load_volumes` through an existing :class:`~imgframe.http.edge.Edge` at
    ``endpoint`` (:func:`imgframe.sources.volumes.parse_endpoint`): what
    :meth:`imgframe.Client.load_volumes` calls."""
    flags = _flags(all_projects=all_projects)
    options = _listing(page_size, max_items, marker, on_page, cancel, workers, resume)
    return _volumes(edge, endpoint, caller or endpoint.project_id, flags, options, progress)


def _volumes(edge, endpoint: Endpoint, caller, flags: dict, options: dict,
             progress) -> pd.DataFrame:
    describe = {"resource": "volumes", "source": "cinder", "endpoint": endpoint.url,
                "project_id": endpoint.project_id, "all_projects": flags["all_projects"],
                "load_options": {"all_projects": flags["all_projects"],
                                 "page_size": options["page_size"],
                                 "max_items": options["max_items"]}}
    resource = volumes_src.resource(endpoint, all_projects=flags["all_projects"],
                                    page_size=options["page_size"],
                                    max_items=options["max_items"], marker=options["marker"],
                                    describe=describe)
    scope = dict(resource="volumes", source="cinder", caller=caller, cells=None,
                 soft_deleted=True, deleted=False)
    try:
        frame = _walk(edge, resource, options, progress)
    except ImgframeError as exc:
        _scope_partial(exc, scope, endpoint, False)
        raise
    notes: list[str] = []
    got_all, admin = False, None
    if flags["all_projects"]:
        others = sorted(set(frame["project_id"].dropna()) - {endpoint.project_id})
        if others:
            got_all, admin = True, True
        else:
            notes.append(f"all_projects was asked, but every volume listed is project "
                         f"{endpoint.project_id}'s: Cinder ignores all_tenants for a "
                         f"non-admin, so only that project is recorded")
    return _finish(frame, scope, endpoint, got_all, admin, options, notes)


# --- the parts


def _flags(**flags) -> dict:
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise InvalidQueryError(name, "True or False", value)
    return flags


def _listing(page_size, max_items, marker, on_page, cancel, workers, resume) -> dict:
    page_size = check_int(page_size, "page_size", minimum=1, maximum=1000)
    if max_items is not None:
        max_items = check_int(max_items, "max_items", minimum=1)
    if marker is not None and (not isinstance(marker, str) or not marker.strip()
                               or re.search(r"[/?#%\s]", marker)):
        raise InvalidQueryError("marker", "None or an id (a non-empty string without "
                                "'/', '?', '#', '%' or whitespace)", marker)
    if on_page is not None and not callable(on_page):
        raise InvalidQueryError("on_page", "None or a callable taking a Progress",
                                type(on_page).__name__)
    if cancel is not None and not callable(getattr(cancel, "is_set", None)):
        raise InvalidQueryError("cancel", "None or a threading.Event", type(cancel).__name__)
    workers = check_workers(workers)
    if resume is not None:
        if not isinstance(resume, ResumeState):
            raise InvalidQueryError("resume", "None or an error's .resume (a ResumeState)",
                                    type(resume).__name__)
        if marker is not None:
            raise InvalidQueryError("marker", "None with resume= (the state holds every "
                                    "stream's place)", marker)
    return {"page_size": page_size, "max_items": max_items, "marker": marker,
            "on_page": on_page, "cancel": cancel, "workers": workers, "resume": resume}


def _connect(parameter, url, project_id, cloud, region_name, kind, parse, creds: dict,
             *, signing: bool) -> tuple[Edge, Endpoint, str | None]:
    """``(edge, endpoint, caller)``: the endpoint and credentials given, or a cloud's."""
    timeout = check_timeout(creds["timeout"])
    retry = make_retry(creds["retries"], creds["backoff"], creds["budget"])
    if cloud is not None:
        if url is not None or creds["token"] is not None or creds["session"] is not None:
            raise InvalidQueryError(parameter if url is not None else "token",
                                    "None with cloud= (the catalog and clouds.yaml give them)",
                                    "<given>")
        ksa, found, pid, user = clouds.catalog_endpoints(
            cloud, (kind,), region_name=region_name, retries=creds["retries"],
            backoff=creds["backoff"], budget=creds["budget"])
        if not found.get(kind):
            raise InvalidQueryError("cloud", f"a cloud whose catalog has a "
                                    f"{'/'.join(clouds.SERVICES[kind])} endpoint", cloud)
        endpoint = parse(found[kind], project_id or pid)
        return Edge(ksa, KeystoneAuth(), timeout, float(creds["backoff"])), endpoint, \
            user or pid
    if url is None:
        raise InvalidQueryError(parameter, "an http(s) URL, or cloud= a clouds.yaml cloud",
                                None)
    token, session = creds["token"], creds["session"]
    if token is not None and (not isinstance(token, str)
                              or not _TOKEN_RE.fullmatch(token.strip())):
        raise InvalidQueryError("token", "a non-empty string of printable ASCII without "
                                "spaces", "<hidden>")
    token = token.strip() if token else None
    endpoint = parse(url, project_id)
    auth: Auth = TokenAuth(token) if token else NoAuth()
    given = any(creds[k] is not None for k in ("ak", "sk", "security_token"))
    if given or (signing and token is None and session is None):
        auth = AkSkAuth(_signing(creds, token, session, endpoint))
        if endpoint.project_id is None and auth.credentials.project_id:
            endpoint = Endpoint(endpoint.root, endpoint.api_version,
                                auth.credentials.project_id)
    if signing and endpoint.project_id is None:
        raise InvalidQueryError("project_id", "a project id (ECS lists under "
                                "/v1/{project_id})", None)
    if session is None:
        session = make_session(retry, verify=creds["verify"])
        settle_environment(session, endpoint.root)
    elif is_keystone(session):
        if token is not None:
            raise InvalidQueryError("token", "None when a keystoneauth1 session is given",
                                    "<hidden>", reason="the session supplies the token")
        auth = KeystoneAuth(retry, float(creds["backoff"]))
    elif not isinstance(session, requests.Session):
        raise InvalidQueryError("session", "a requests.Session or keystoneauth1 Session",
                                type(session).__name__)
    return Edge(session, auth, timeout, float(creds["backoff"])), endpoint, \
        endpoint.project_id


def _signing(creds: dict, token, session, endpoint: Endpoint) -> Credentials:
    ak, sk = creds["ak"], creds["sk"]
    if ak is None and sk is None and creds["security_token"] is None:
        found = credentials_from_env()
        if found is None:
            raise InvalidQueryError("token", "a token=, or ak= and sk= (or Huawei's "
                                    "HUAWEICLOUD_SDK_AK/SK variables)", None,
                                    reason="Huawei ECS needs credentials and none were given")
        return found
    if token is not None or session is not None:
        raise InvalidQueryError("token", "None when ak/sk sign the requests", "<hidden>",
                                reason="give one kind of credentials")
    for name, value in (("ak", ak), ("sk", sk)):
        if value is None:
            raise InvalidQueryError(name, "a Huawei access key pair: ak and sk both", None)
    return Credentials(ak, sk, security_token=creds["security_token"],
                       project_id=endpoint.project_id)


def _shown(endpoint: Endpoint, word: str) -> str:
    return endpoint.url if servers_src.APIS[word].versioned_endpoint else endpoint.root


def _walk(edge, resource, options: dict, progress) -> pd.DataFrame:
    """The listing as :func:`imgframe.listing.run.run` decides (adaptive by default)."""
    return run(edge, resource, workers=options["workers"], progress=progress,
               on_page=options["on_page"], cancel=options["cancel"],
               resume=options["resume"])


def _probe(edge, resource, stats, params=()) -> list:
    """One page of a resource that is not paged (``os-services``, a bare listing)."""
    return edge.fetch(resource, list(params), stats).items


def _cells(edge, endpoint: Endpoint, all_projects: bool, notes: list, stats) -> tuple:
    """``(cells, admin)``: what the 2.69 checks say of unanswered cells, and whether the
    caller is an admin (os-services answered or was refused; None: unknown). ``stats``
    counts their requests."""
    admin = None
    services_down = None
    try:
        services_down = servers_src.down_services(
            _probe(edge, servers_src.services_resource(endpoint), stats))
        admin = True
    except AuthError as exc:
        if exc.status == 403:
            admin = False
            notes.append("os-services is admin only: cells checked by a bare listing only")
        else:
            notes.append(f"os-services could not be read: {exc}")
    except ImgframeError as exc:
        notes.append(f"os-services could not be read: {exc}")
    items_down = None
    probe = servers_src.probe_resource(endpoint)
    try:
        items = _probe(edge, probe, stats, [("all_tenants", "1")] if all_projects else [])
        items_down = servers_src.down_items(items)
    except ImgframeError as exc:
        notes.append(f"the bare 2.69 listing could not be read: {exc}")
    if services_down:
        more = f" and {len(services_down) - 5} more" if len(services_down) > 5 else ""
        notes.append(f"os-services reports {len(services_down)} UNKNOWN service(s): "
                     f"{', '.join(services_down[:5])}{more}")
    if items_down:
        notes.append(f"a bare 2.69 listing shows {len(items_down)} server(s) of cells that "
                     f"do not answer")
    if services_down or items_down:
        return "down", admin
    if services_down is not None and items_down is not None:
        return "up", admin
    notes.append("cells not verifiable: only an admin's os-services can show that every "
                 "cell answered")
    return "unverified", admin


def _projects(frame: pd.DataFrame, endpoint: Endpoint, all_projects: bool):
    if all_projects:
        return None
    if endpoint.project_id:
        return (endpoint.project_id,)
    seen = sorted(set(frame["project_id"].dropna())) if len(frame) else []
    return tuple(seen) if len(seen) == 1 else ()


def _scope_partial(exc: ImgframeError, scope: dict, endpoint: Endpoint, all_projects) -> None:
    partial = getattr(exc, "partial", None)
    if isinstance(partial, pd.DataFrame):
        Scope(**scope, projects=_projects(partial, endpoint, all_projects),
              all_projects=all_projects, every_page=False,
              notes=("partial: the listing failed before its end",)).attach(partial)


def _finish(frame, scope: dict, endpoint, all_projects: bool, admin, options: dict,
            notes: list) -> pd.DataFrame:
    meta = frame.attrs["imgframe"]
    every = not (meta.get("truncated") or meta.get("partial")) and options["marker"] is None
    if options["marker"] is not None:
        notes.append(f"resumed after marker {options['marker']}: earlier pages not read")
    if meta.get("truncated"):
        notes.append(f"cut at max_items={options['max_items']}")
    Scope(**scope, projects=_projects(frame, endpoint, all_projects),
          all_projects=all_projects, admin=admin, every_page=every,
          notes=tuple(notes)).attach(frame)
    return frame
