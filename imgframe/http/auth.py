"""How a request is authenticated: one small class per way, as httpx's ``Auth`` classes.

::

    NoAuth        nothing added (an open endpoint, or a session that authenticates itself)
    TokenAuth     ``X-Auth-Token: <token>``
    AkSkAuth      Huawei's SDK-HMAC-SHA256 signature (:mod:`imgframe.aksk`)
    KeystoneAuth  a keystoneauth1 session: tokens refreshed; a 401 re-authenticates once

Each sends one GET (``send``), says what a 401 means for it (``rejected``), and whether a
401 is worth one more try after re-authenticating (``reauthenticate``). None shows a
secret in its repr.
"""

from __future__ import annotations

import logging

from imgframe.credentials import Credentials
from imgframe.errors import APIError, AuthError, ImgframeError, NotFoundError, TransportError
from imgframe.http.transport import RETRY_STATUSES, unreachable

__all__ = ["AkSkAuth", "Auth", "KeystoneAuth", "NoAuth", "TokenAuth", "is_keystone",
           "keystone_error"]

log = logging.getLogger("imgframe")


class Auth:
    """How one GET is sent; the base adds nothing (see :class:`NoAuth`)."""

    #: shown in :class:`~imgframe.client.Client`'s repr
    kind = "none"
    #: the response's body is already read (``response.content``): no streamed read
    reads_whole = False

    def send(self, session, url: str, params: list, headers: dict, timeout):
        return session.get(url, params=params, headers=headers, timeout=timeout,
                           allow_redirects=False, stream=True)

    def rejected(self) -> str:
        """What a 401 says."""
        return ("the endpoint refused the request as unauthenticated (no token= was given: "
                "pass one, or a session that authenticates)")

    def reauthenticate(self, session) -> bool:
        """Get fresh credentials after a 401; True if the request is worth sending again."""
        return False

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class NoAuth(Auth):
    """Nothing added: an open endpoint, or a ``session=`` that authenticates itself."""


class TokenAuth(Auth):
    """A static token, sent as ``X-Auth-Token``."""

    kind = "token"
    __slots__ = ("_token",)

    def __init__(self, token: str):
        self._token = token

    @property
    def token(self) -> str:
        return self._token

    def send(self, session, url, params, headers, timeout):
        headers["X-Auth-Token"] = self._token
        return super().send(session, url, params, headers, timeout)

    def rejected(self) -> str:
        return ("the token is invalid or expired (get a new token, or use a keystoneauth1 "
                "session (Client.from_cloud) to have it refreshed)")


class AkSkAuth(Auth):
    """Huawei's AK/SK signature over each request (:class:`imgframe.credentials.Credentials`)."""

    kind = "aksk"

    def __init__(self, credentials: Credentials):
        self.credentials = credentials

    def send(self, session, url, params, headers, timeout):
        # what is sent is exactly what was signed: the signer's canonical URL, passed whole
        # (no params= for requests to re-encode)
        signed = self.credentials.sign("GET", url, params, headers)
        return session.get(signed.url, headers=signed.headers, timeout=timeout,
                           allow_redirects=False, stream=True)

    def rejected(self) -> str:
        return ("the AK/SK signature was rejected (check ak and sk, the security token of "
                "temporary credentials, and this machine's clock)")


class KeystoneAuth(Auth):
    """A keystoneauth1 ``Session``/``Adapter``: it adds (and refreshes) the token.

    ``retry``: keystoneauth1's own retries with this policy's count and backoff, for a
    session given as is; ``None`` when imgframe's retrying adapter is mounted on it.
    """

    kind = "keystone"
    reads_whole = True

    def __init__(self, retry=None, backoff: float = 0.0):
        self._extra = {}
        if retry is not None:
            retries = retry.total if isinstance(retry.total, int) else 5
            self._extra = {"connect_retries": retries, "status_code_retries": retries,
                           "retriable_status_codes": sorted(RETRY_STATUSES),
                           "connect_retry_delay": backoff or None,
                           "status_code_retry_delay": backoff or None}

    def send(self, session, url, params, headers, timeout):
        from keystoneauth1 import exceptions as ksa_exc

        try:
            return session.get(url, params=params, headers=headers, authenticated=True,
                               raise_exc=False, allow_reauth=False, timeout=timeout,
                               redirect=False, **self._extra)
        except ksa_exc.ClientException as exc:
            raise keystone_error(exc, url) from None

    def rejected(self) -> str:
        return "the token is invalid or expired (re-authentication did not help)"

    def reauthenticate(self, session) -> bool:
        try:
            session.invalidate()
        except Exception as exc:  # noqa: BLE001 - reported as an auth error after
            log.debug("invalidate failed: %s", type(exc).__name__)
        return True


def is_keystone(session) -> bool:
    """Whether ``session`` is a keystoneauth1 ``Session``/``Adapter``."""
    return type(session).__module__.startswith("keystoneauth1")


def keystone_error(exc, url) -> ImgframeError:
    """A keystoneauth1 ``ClientException`` as imgframe's error (no secret in it)."""
    status = getattr(exc, "http_status", None)
    name = type(exc).__name__
    if name == "EndpointNotFound":
        return NotFoundError("the cloud's catalog has no compute endpoint here (check "
                             "region_name and interface)", url=url)
    if status in (401, 403):
        return AuthError(f"keystone refused the credentials ({name})", status=status, url=url)
    if status:
        return APIError(f"keystone error ({name})", status=status, url=url)
    why = unreachable(exc)
    if why is not None:
        return TransportError(f"could not connect to {url}: {why}", url=url)
    text = str(exc)
    return TransportError(f"could not reach the cloud ({name}: "
                          f"{text if len(text) < 300 else text[:297] + '...'})", url=url)
