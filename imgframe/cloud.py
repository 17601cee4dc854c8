"""Clients for a cloud named in clouds.yaml (or ``OS_CLOUD``/``OS_*`` variables).

openstacksdk's configuration loader finds the cloud; a keystoneauth1 session
authenticates (tokens refreshed as they expire) and its catalog names the endpoints.
imgframe's retrying adapter is mounted on that session. Needs the ``openstack`` extra,
imported only here and only when called.
"""

from __future__ import annotations

import warnings

from imgframe import sources
from imgframe.errors import ImgframeError, InvalidQueryError, NotFoundError
from imgframe.http.auth import keystone_error
from imgframe.http.transport import make_retry, mount_retries

__all__ = ["SourceFallbackWarning", "from_cloud"]


class SourceFallbackWarning(UserWarning):
    """``source="auto"``: the compute proxy is gone here, so Glance was read instead."""


def from_cloud(make, name: str | None = None, *, source: str = "nova",
               region_name: str | None = None, retries=5, backoff: float = 0.5,
               budget: float = 60.0):
    """What :meth:`imgframe.Client.from_cloud` does: ``(client, fallback)``, each built by
    ``make(endpoint, project_id, source=..., session=..., retry=...)``; ``fallback`` is
    the Glance client of ``source="auto"`` (or None)."""
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
        retry = make_retry(retries, backoff, budget)
        mount_retries(ksa_session.session, retry)
        try:
            compute = cloud.get_session_endpoint("compute") if word != "glance" else None
            image = cloud.get_session_endpoint("image") if word != "nova" else None
            project_id = ksa_session.get_project_id()
        except ksa_exc.ClientException as exc:
            raise keystone_error(exc, cloud.config.get("auth", {}).get("auth_url")) from None

    def client(src, endpoint):
        versioned = sources.get(src).versioned_endpoint and "/v2" in endpoint
        return make(endpoint, None if versioned else project_id, source=src,
                    session=ksa_session, retry=retry)

    if word == "glance" or (word == "auto" and not compute and image):
        if not image:
            raise NotFoundError(f"cloud {name!r} has no image endpoint in its catalog")
        if word == "auto":
            warnings.warn(f"cloud {name!r} has no compute endpoint in its catalog; "
                          f"reading Glance at {image} (source='auto')",
                          SourceFallbackWarning, stacklevel=3)
        return client("glance", image), None
    if not compute:
        raise NotFoundError(f"cloud {name!r} has no compute endpoint in its catalog")
    return client("nova", compute), (client("glance", image) if word == "auto" and image
                                     else None)
