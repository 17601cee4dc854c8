"""What authenticates a client, in one picklable class whose repr shows no secret: a
token, or a Huawei access key pair that signs each request (:mod:`imgframe.aksk`), and
where a key pair is found in the environment. Pure: standard library only.

One class serves the client (:class:`imgframe.Client`), its recipe
(:meth:`imgframe.Client.recipe`) and :func:`imgframe.load_many`'s workers.
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
from collections.abc import Mapping
from typing import Any

from imgframe.aksk import HIDDEN, SignedRequest, check_keys, check_printable, sign
from imgframe.errors import InvalidQueryError

__all__ = ["ENV_SOURCES", "Credentials", "credentials_from_env"]


class Credentials:
    """What authenticates a client: a token, or an access key pair (optionally temporary,
    ``security_token``, and project-scoped, ``project_id``) that signs each request.
    Picklable (it travels to :func:`imgframe.load_many`'s workers); its repr and str never
    show a secret.

    >>> Credentials("AKEXAMPLE", "secret", project_id="p1")
    Credentials(ak='AKEXAMPLE', sk=<hidden>, project_id='p1')
    >>> Credentials(token="gAAAA-example")
    Credentials(token=<hidden>)
    """

    __slots__ = ("ak", "_sk", "_security_token", "project_id", "_token")

    def __init__(self, ak: str | None = None, sk: str | None = None, *,
                 token: str | None = None, security_token: str | None = None,
                 project_id: str | None = None):
        if token is not None:
            check_printable("token", token, secret=True)
            if ak is not None or sk is not None or security_token is not None:
                raise InvalidQueryError("token", "None when ak/sk sign the requests", HIDDEN,
                                        reason="give one kind of credentials")
        else:
            check_keys(ak, sk, security_token)
        check_printable("project_id", project_id, secret=False, optional=True)
        self.ak = ak
        self._sk = sk
        self._security_token = security_token
        self.project_id = project_id
        self._token = token

    @property
    def sk(self) -> str | None:
        return self._sk

    @property
    def security_token(self) -> str | None:
        return self._security_token

    @property
    def token(self) -> str | None:
        return self._token

    @property
    def kind(self) -> str:
        """``"token"`` or ``"aksk"``."""
        return "token" if self._token is not None else "aksk"

    def __repr__(self) -> str:
        if self._token is not None:
            parts = ["token=<hidden>"]
        else:
            parts = [f"ak={self.ak!r}", "sk=<hidden>"]
            if self._security_token is not None:
                parts.append("security_token=<hidden>")
        if self.project_id is not None:
            parts.append(f"project_id={self.project_id!r}")
        return f"Credentials({', '.join(parts)})"

    __str__ = __repr__

    def _state(self) -> tuple:
        return (self.ak, self._sk, self._security_token, self.project_id, self._token)

    def __getstate__(self):
        return self._state()

    def __setstate__(self, state):
        self.ak, self._sk, self._security_token, self.project_id, self._token = state

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credentials):
            return NotImplemented
        return (self.ak, self.project_id) == (other.ak, other.project_id) and hmac.compare_digest(
            f"{self._sk}\n{self._security_token}\n{self._token}",
            f"{other._sk}\n{other._security_token}\n{other._token}")

    def __hash__(self) -> int:
        return hash((self.ak, self.project_id, self.kind))

    def secrets(self) -> list[str]:
        """The values that must never appear in a message."""
        return [v for v in (self._sk, self._security_token, self._token) if v]

    def kwargs(self) -> dict:
        """As :class:`imgframe.Client` keyword arguments (``project_id`` is the client's)."""
        if self._token is not None:
            return {"token": self._token}
        return {k: v for k, v in (("ak", self.ak), ("sk", self._sk),
                                  ("security_token", self._security_token)) if v is not None}

    def sign(self, method: str, url: str, params: Any = None,
             headers: Mapping[str, Any] | None = None, body: bytes | str = b"", *,
             when: dt.datetime | None = None) -> SignedRequest:
        """:func:`sign` with these credentials (an access key pair)."""
        if self._token is not None:
            raise InvalidQueryError("credentials", "an access key pair to sign with",
                                    "a token")
        return sign(method, url, params, headers, body, ak=self.ak, sk=self._sk, when=when,
                    security_token=self._security_token, project_id=self.project_id)


# (AK, SK, security token, project id), first set whose AK and SK are both present wins
ENV_SOURCES = (
    # huaweicloudsdkcore/auth/provider.py::EnvCredentialProvider (SDK 3.1.x)
    ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN",
     "HUAWEICLOUD_SDK_PROJECT_ID"),
    # the names in Huawei's API Explorer code samples ("set environment variables CLOUD_SDK_AK
    # and CLOUD_SDK_SK in the local environment")
    ("CLOUD_SDK_AK", "CLOUD_SDK_SK", None, None),
)


def credentials_from_env(environ: Mapping[str, str] = os.environ) -> Credentials | None:
    """AK/SK credentials from the environment, or None when no pair is set.

    Names read, in this order (the first source with both AK and SK wins; sources are never
    mixed):

    * ``HUAWEICLOUD_SDK_AK``, ``HUAWEICLOUD_SDK_SK``, ``HUAWEICLOUD_SDK_SECURITY_TOKEN``,
      ``HUAWEICLOUD_SDK_PROJECT_ID``: the SDK's own ``EnvCredentialProvider``
      (``huaweicloudsdkcore/auth/provider.py`` in huaweicloud-sdk-python-v3, the first link
      of its default credential chain).
    * ``CLOUD_SDK_AK``, ``CLOUD_SDK_SK``: the names used by the code samples that Huawei's
      API Explorer generates and its docs show.

    KooCLI (``hcloud``) documents no environment variables of its own for AK/SK: it reads
    ``--cli-access-key``, ``--cli-secret-key``, ``--cli-security-token`` and
    ``--cli-project-id`` or a profile in ``~/.hcloud/config.json``; scripts pass it the
    SDK's names above (``--cli-access-key="$HUAWEICLOUD_SDK_AK"``).

    An AK without its SK (or the reverse) is an error naming both variables; a value is
    never echoed.
    """
    for ak_name, sk_name, token_name, project_name in ENV_SOURCES:
        ak, sk = environ.get(ak_name) or None, environ.get(sk_name) or None
        if ak is None and sk is None:
            continue
        if ak is None or sk is None:
            missing, present = (ak_name, sk_name) if ak is None else (sk_name, ak_name)
            raise InvalidQueryError(missing, f"set it together with {present}", None,
                                    reason=f"{present} is set but {missing} is not")
        token = (environ.get(token_name) or None) if token_name else None
        project = (environ.get(project_name) or None) if project_name else None
        try:
            return Credentials(ak, sk, security_token=token, project_id=project)
        except InvalidQueryError as exc:  # name the variable, not the argument
            names = {"ak": ak_name, "sk": sk_name, "security_token": token_name,
                     "project_id": project_name}
            shown = exc.given if exc.parameter in ("ak", "project_id") else HIDDEN
            raise InvalidQueryError(names[exc.parameter], exc.allowed, shown) from None
    return None
