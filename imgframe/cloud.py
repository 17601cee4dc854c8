"""Clients for a cloud named in clouds.yaml (or ``OS_CLOUD``/``OS_*`` variables).

openstacksdk's configuration loader finds the cloud; a keystoneauth1 session
authenticates (tokens refreshed as they expire) and its catalog names the endpoints.
imgframe's retrying adapter is mounted on that session. Needs the ``openstack`` extra,
imported only here and only when called.
"""

from __future__ import annotations

import contextlib
import warnings

from imgframe import sources
from imgframe.errors import ImgframeError, InvalidQueryError, NotFoundError
from imgframe.http.auth import keystone_error
from imgframe.http.transport import make_retry, mount_retries

__all__ = ["CATALOG", "SERVICES", "SourceFallbackWarning", "catalog_endpoints", "from_cloud",
           "session_endpoint", "sources_of"]

#: ``from_cloud(source=...)``: the sources it reads, each with the catalog's service type
#: for it, in the order tried ("auto": the compute proxy, then Glance when that is gone)
CATALOG = {"nova": (("nova", "compute"),), "glance": (("glance", "image"),),
           "auto": (("nova", "compute"), ("glance", "image"))}


def sources_of(word: str) -> tuple[str, ...]:
    """The sources a clouds.yaml load with ``source=word`` may read, the first preferred.

    >>> sources_of("auto")
    ('nova', 'glance')
    """
    return tuple(src for src, _ in CATALOG.get(word, ((word, None),)))


class SourceFallbackWarning(UserWarning):
    """``source="auto"``: the compute proxy is gone here, so Glance was read instead."""


def from_cloud(make, name: str | None = None, *, source: str = "nova",
               region_name: str | None = None, retries=5, backoff: float = 0.5,
               budget: float = 60.0):
    """What :meth:`imgframe.Client.from_cloud` does: ``(client, fallback)``, each built by
    ``make(endpoint, project_id, source=..., session=..., retry=...)``; ``fallback`` is
    the Glance client of ``source="auto"`` (or None)."""
    word = source.strip().lower() if isinstance(source, str) else None
    if word not in CATALOG:
        raise InvalidQueryError("source", f"one of {', '.join(CATALOG)} (Huawei IMS: "
                                "Client(endpoint, source='ims', ak=..., sk=...))", source)
    retry = make_retry(retries, backoff, budget)
    with _cloud(name, region_name, retry, "Client.from_cloud") as (cloud, ksa_session):
        found = [(src, cloud.get_session_endpoint(service)) for src, service in CATALOG[word]]
        project_id = ksa_session.get_project_id()

    def client(src, endpoint):
        versioned = sources.get(src).versioned_endpoint and "/v2" in endpoint
        return make(endpoint, None if versioned else project_id, source=src,
                    session=ksa_session, retry=retry)

    present = [(src, endpoint) for src, endpoint in found if endpoint]
    if not present:
        service = dict(CATALOG[word])[found[0][0]]
        raise NotFoundError(f"cloud {name!r} has no {service} endpoint in its catalog")
    (first, endpoint), rest = present[0], present[1:]
    if first != found[0][0]:
        warnings.warn(f"cloud {name!r} has no {dict(CATALOG[word])[found[0][0]]} endpoint "
                      f"in its catalog; reading {sources.get(first).title} at {endpoint} "
                      f"(source={word!r})", SourceFallbackWarning, stacklevel=3)
    return client(first, endpoint), (client(*rest[0]) if rest else None)


#: ``catalog_endpoints``: what a resource is read from, the catalog's service types for
#: it, the first present wins
SERVICES = {"compute": ("compute",), "ecs": ("ecs",),
            "volume": ("block-storage", "volumev3", "volume")}


def catalog_endpoints(name: str | None, kinds: tuple[str, ...], *,
                      region_name: str | None = None, retries=5, backoff: float = 0.5,
                      budget: float = 60.0) -> tuple:
    """``(keystoneauth1 session, {kind: endpoint or None}, project_id, user_id)`` for the
    cloud ``name`` in clouds.yaml: the catalog's endpoint of each of ``kinds`` (keys of
    :data:`SERVICES`); imgframe's retrying adapter is mounted on the session."""
    retry = make_retry(retries, backoff, budget)
    with _cloud(name, region_name, retry, "a clouds.yaml cloud") as (cloud, ksa_session):
        found = {kind: next((url for url in (cloud.get_session_endpoint(service)
                                             for service in SERVICES[kind]) if url), None)
                 for kind in kinds}
        project_id = ksa_session.get_project_id()
        user_id = ksa_session.get_user_id()
    return ksa_session, found, project_id, user_id


@contextlib.contextmanager
def _cloud(name, region_name, retry, what: str):
    """``(openstacksdk's cloud config, its keystoneauth1 session with imgframe's retrying
    adapter)`` for ``name``; keystone's errors inside the block become imgframe's."""
    try:
        import openstack.config
        import openstack.exceptions
    except ImportError as exc:
        raise ImgframeError(f"{what} needs openstacksdk: "
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
        mount_retries(ksa_session.session, retry)
        try:
            yield cloud, ksa_session
        except ksa_exc.ClientException as exc:
            raise keystone_error(exc, cloud.config.get("auth", {}).get("auth_url")) from None


def session_endpoint(ksa_session, kind: str) -> str | None:
    """The public endpoint of ``kind`` (a key of :data:`SERVICES`) in a keystoneauth1
    session's catalog, or None when the catalog has none."""
    from keystoneauth1 import exceptions as ksa_exc

    for service in SERVICES[kind]:
        try:
            url = ksa_session.get_endpoint(service_type=service, interface="public")
        except ksa_exc.EndpointNotFound:
            url = None
        except ksa_exc.ClientException as exc:
            raise keystone_error(exc, None) from None
        if url:
            return url
    return None
