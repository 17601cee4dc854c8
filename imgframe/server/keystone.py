"""A minimal Keystone v3 for the embedded server: enough for keystoneauth1 and openstacksdk.

Routes (under ``/identity``):

* ``GET /identity`` -> the version list (300, as Keystone); ``GET /identity/v3`` -> the v3
  version document, used by keystoneauth's discovery;
* ``POST /identity/v3/auth/tokens`` with the ``password`` method (users from
  ``ImageServer(users={"name": "password"})``, domain ``default``) or the ``token`` method
  -> 201, the token in ``X-Subject-Token``, and a body naming the project and a catalog whose
  ``compute`` endpoints (public, internal, admin; region ``RegionOne``) are
  ``{url}/v2.1/{project_id}``, ``image`` (Glance) ``{url}/image``, ``ims`` (Huawei IMS)
  ``{url}/ims`` and, when the server has a cloud (``ImageServer(servers=True)``),
  ``volumev3`` and ``block-storage`` (Cinder) ``{url}/volume/v3/{project_id}`` and ``ecs``
  (Huawei ECS) ``{url}/ecs``; users named in ``ImageServer(admins=...)`` get
  the ``admin`` role (and an admin token);
* ``GET``/``HEAD /identity/v3/auth/tokens`` with ``X-Subject-Token`` -> validates it.

Scope must be the served project (by id, or by name ``ImageServer.project_name`` in domain
``default``); anything else, like a wrong password, gets Keystone's 401.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid

__all__ = ["handle"]

UTC = dt.timezone.utc
DOMAIN = {"id": "default", "name": "Default"}
UNAUTHORIZED = {"error": {"code": 401, "title": "Unauthorized",
                          "message": "The request you have made requires authentication."}}


def _stable_id(*parts: str) -> str:
    return hashlib.md5("/".join(parts).encode()).hexdigest()


def _iso(when: dt.datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def v3_doc(base: str) -> dict:
    return {"version": {
        "id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.identity-v3+json"}],
    }}


def catalog(app, base: str) -> list[dict]:
    """The service catalog: compute, image (Glance), ims (Huawei IMS), identity and, with a
    cloud, volumev3 and block-storage (Cinder) and ecs (Huawei ECS)."""
    compute = f"{base}/v2.1/{app.project_id}"

    def endpoints(url, service):
        return [{"id": _stable_id(service, iface), "interface": iface, "region": "RegionOne",
                 "region_id": "RegionOne", "url": url}
                for iface in ("public", "internal", "admin")]

    return [
        {"id": _stable_id("compute"), "type": "compute", "name": "nova",
         "endpoints": endpoints(compute, "compute")},
        {"id": _stable_id("image"), "type": "image", "name": "glance",
         "endpoints": endpoints(f"{base}/image", "image")},
        {"id": _stable_id("ims"), "type": "ims", "name": "ims",
         "endpoints": endpoints(f"{base}/ims", "ims")},
        {"id": _stable_id("identity"), "type": "identity", "name": "keystone",
         "endpoints": endpoints(f"{base}/identity", "identity")},
    ] + ([] if app.cloud is None else [
        {"id": _stable_id("volumev3"), "type": "volumev3", "name": "cinderv3",
         "endpoints": endpoints(f"{base}/volume/v3/{app.project_id}", "volumev3")},
        {"id": _stable_id("block-storage"), "type": "block-storage", "name": "cinder",
         "endpoints": endpoints(f"{base}/volume/v3/{app.project_id}", "block-storage")},
        {"id": _stable_id("ecs"), "type": "ecs", "name": "ecs",
         "endpoints": endpoints(f"{base}/ecs", "ecs")},
    ])


def token_body(app, base: str, info: dict, methods: list[str]) -> dict:
    now = dt.datetime.now(UTC).replace(microsecond=0)
    token = {
        "methods": methods,
        "user": {"domain": DOMAIN, "id": _stable_id("user", info["user"]),
                 "name": info["user"], "password_expires_at": None},
        "audit_ids": [uuid.uuid4().hex[:22]],
        "expires_at": _iso(now + dt.timedelta(hours=24)),
        "issued_at": _iso(now),
    }
    if info.get("project_id"):
        token.update({
            "project": {"domain": DOMAIN, "id": app.project_id, "name": app.project_name},
            "is_domain": False,
            "roles": [{"id": _stable_id("role", "member"), "name": "member"},
                      {"id": _stable_id("role", "reader"), "name": "reader"}]
            + ([{"id": _stable_id("role", "admin"), "name": "admin"}]
               if info.get("admin") else []),
            "catalog": catalog(app, base),
        })
    return {"token": token}


def _scope_ok(app, scope) -> bool | None:
    """True for the served project, None when unscoped, False otherwise."""
    if not scope:
        return None
    project = scope.get("project") if isinstance(scope, dict) else None
    if not isinstance(project, dict):
        return False
    if project.get("id"):
        return project["id"] == app.project_id
    domain = project.get("domain") or {}
    return (project.get("name") == app.project_name
            and (domain.get("id") == "default" or domain.get("name") == "Default"))


def _authenticate(app, body: dict):
    """(user name, methods) for a valid auth request, else None."""
    identity = ((body or {}).get("auth") or {}).get("identity") or {}
    methods = identity.get("methods") or []
    if "password" in methods:
        user = (identity.get("password") or {}).get("user") or {}
        users = app.users or {}
        name = user.get("name")
        if name is None and user.get("id"):
            name = next((u for u in users if _stable_id("user", u) == user["id"]
                         or u == user["id"]), None)
        if name in users and users[name] == user.get("password"):
            return name, ["password"]
        return None
    if "token" in methods:
        info = app._token_info((identity.get("token") or {}).get("id"))
        return (info["user"], ["token"]) if info else None
    return None


def handle(app, method: str, path: str, headers, raw: bytes, base: str):
    """(status, headers, body-or-None) for one identity request."""
    path = path.rstrip("/")
    if path == "/identity" and method in ("GET", "HEAD"):
        return 300, {}, {"versions": {"values": [v3_doc(base)["version"]]}}
    if path == "/identity/v3" and method in ("GET", "HEAD"):
        return 200, {}, v3_doc(base)
    if path == "/identity/v3/auth/tokens":
        app.stats._count_auth()
        if method == "POST":
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                return 400, {}, {"error": {"code": 400, "title": "Bad Request",
                                           "message": "Malformed JSON in request body."}}
            who = _authenticate(app, body)
            scope = _scope_ok(app, (body.get("auth") or {}).get("scope"))
            if who is None or scope is False:
                return 401, {}, UNAUTHORIZED
            token = app.issue_token(user=who[0], scoped=scope is not None,
                                    admin=who[0] in app.admins)
            info = app._token_info(token)
            return 201, {"X-Subject-Token": token}, token_body(app, base, info, who[1])
        if method in ("GET", "HEAD"):
            caller = app._token_info(headers.get("X-Auth-Token"))
            subject = app._token_info(headers.get("X-Subject-Token"))
            if caller is None:
                return 401, {}, UNAUTHORIZED
            if subject is None:
                return 404, {}, {"error": {"code": 404, "title": "Not Found",
                                           "message": "Could not find token."}}
            body = token_body(app, base, subject, ["token"])
            return 200, {"X-Subject-Token": headers.get("X-Subject-Token")}, \
                (None if method == "HEAD" else body)
    return 404, {}, {"error": {"code": 404, "title": "Not Found",
                               "message": "The resource could not be found."}}
