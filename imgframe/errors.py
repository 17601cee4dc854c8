"""imgframe's exceptions and warnings: one root, a few meaningful branches.

::

    ImgframeError
     +-- InvalidQueryError (also ValueError)   a parameter was refused before sending
     +-- TransportError                        connection/timeout/retries exhausted
     +-- APIError                              the server answered with an error
     |    +-- AuthError                        401 (token invalid or expired), 403
     |    +-- NotFoundError                    404 (no images API here, or microversion > 2.35)
     |    +-- MalformedResponseError           200 with a body that is not the images JSON
     +-- PaginationError                       the listing cannot be completed safely
     +-- IncompleteSnapshotError               a diff/refresh/snapshot needs a complete frame
     +-- PartialLoadError                      load_many: some sources failed (``.partial``,
     |                                         ``.failures``)
     +-- LoadCancelled                         load(cancel=...) was set: stopped, ``.partial``
     +-- aksk.SignatureError                   an AK/SK signature was refused (the verifying
                                               side: the embedded server, a test double)

    UserWarning
     +-- PartialLoadWarning                    load_many (strict=False): some sources missing
     +-- ForeignNextLinkWarning                a next link named another host: not followed
     +-- SourceFallbackWarning                 source="auto": no compute proxy, Glance read
     +-- CatalogueChangedWarning               the catalogue changed while a trend was measured

Every name here is importable from ``imgframe``, but ``aksk.SignatureError`` from
``imgframe.aksk``; tests/test_exported_members.py holds this drawing to the classes.

Every error that concerns a request carries the token-free URL. Errors raised while
paging carry what was loaded so far (``partial``, a DataFrame), the marker to resume
from (``resume_marker``, one walk) and every stream's place (``resume``), so nothing
already fetched is lost.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "APIError",
    "AuthError",
    "ImgframeError",
    "IncompleteSnapshotError",
    "InvalidQueryError",
    "MalformedResponseError",
    "NotFoundError",
    "PaginationError",
    "PartialLoadError",
    "PartialLoadWarning",
    "TransportError",
    "redact_url",
]

_SECRET_PARAMS = {"token", "x-auth-token", "auth_token", "password", "secret", "key"}


def redact_url(url: str | None) -> str | None:
    """Return ``url`` without userinfo or secret-looking query parameters.

    >>> redact_url("https://u:p@h:8774/v2.1/p/images?token=abc&limit=2")
    'https://h:8774/v2.1/p/images?token=REDACTED&limit=2'
    """
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in _SECRET_PARAMS for k, _ in pairs):
            pairs = [(k, "REDACTED" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs]
            query = urlencode(pairs, safe=":,")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class ImgframeError(Exception):
    """Root of every error imgframe raises on purpose. One raised while a load pages
    carries ``resume`` (where every stream stopped: ``Client.load(resume=exc.resume)``
    finishes the load); None otherwise."""

    resume = None


class InvalidQueryError(ImgframeError, ValueError):
    """A user-facing parameter was refused before any request was sent.

    ``parameter`` names it, ``allowed`` says what is accepted, ``given`` is what came.
    """

    def __init__(self, parameter: str, allowed: str, given: Any, *, reason: str | None = None):
        self.parameter = parameter
        self.allowed = allowed
        self.given = given
        head = f"{parameter}={given!r}"
        text = f"{head}: {reason}; {allowed}" if reason else f"{head} is not valid: {allowed}"
        super().__init__(text)


class TransportError(ImgframeError):
    """The request could not be completed: connection refused, timeout, retries exhausted."""

    def __init__(self, message: str, *, url: str | None = None, partial=None,
                 resume_marker: str | None = None):
        self.url = redact_url(url)
        self.partial = partial
        self.resume_marker = resume_marker
        super().__init__(f"{message} ({self.url})" if self.url else message)


class APIError(ImgframeError):
    """The server answered with an HTTP error.

    Attributes: ``status`` (int), ``message`` (the server's own text, if any),
    ``request_id``, ``url`` (token-free), ``partial`` and ``resume_marker``.
    """

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None,
                 request_id: str | None = None, server_message: str | None = None,
                 partial=None, resume_marker: str | None = None):
        self.status = status
        self.url = redact_url(url)
        self.request_id = request_id
        self.message = server_message
        self.partial = partial
        self.resume_marker = resume_marker
        bits = [message]
        if status is not None:
            bits.append(f"HTTP {status}")
        if self.url:
            bits.append(f"GET {self.url}")
        if request_id:
            bits.append(f"request id {request_id}")
        super().__init__("; ".join(bits))


class AuthError(APIError):
    """401/403: the token is invalid, expired, or not allowed to list images here."""


class NotFoundError(APIError):
    """404: the endpoint may not offer the images API, or a microversion > 2.35 was asked."""


class MalformedResponseError(APIError):
    """A 2xx answer whose body is not the images JSON (truncated, not JSON, no ``images``)."""


class PaginationError(ImgframeError):
    """The listing cannot be completed without loss or repetition (a loop, a lost marker).

    ``partial`` holds what was loaded so far; ``resume_marker`` the marker to resume from.
    """

    def __init__(self, message: str, *, url: str | None = None, partial=None,
                 resume_marker: str | None = None):
        self.url = redact_url(url)
        self.partial = partial
        self.resume_marker = resume_marker
        super().__init__(message)


class IncompleteSnapshotError(ImgframeError):
    """A frame or snapshot is not complete (truncated, partial, resumed) or two of them were
    not listed by the same query, so comparing them could report false removals.

    ``reasons`` lists why, one sentence each.
    """

    def __init__(self, message: str, *, reasons: list[str] | None = None):
        self.reasons = list(reasons or [])
        super().__init__(message)


class PartialLoadError(ImgframeError):
    """:func:`imgframe.load_many` (``strict=True``): some sources failed.

    ``failures``: key -> ``{"type": ..., "message": ...}`` (token-free); ``partial``: the
    frame of the sources that loaded (``attrs["imgframe"]["sources"]`` says which failed).
    """

    def __init__(self, failures: dict, *, partial=None):
        self.failures = dict(failures)
        self.partial = partial
        total = len((partial.attrs.get("imgframe") or {}).get("sources") or ()) \
            if partial is not None else None
        of = f" of {total}" if total else ""
        super().__init__(f"{len(self.failures)}{of} sources failed: " + "; ".join(
            f"{k}: {v['type']}: {v['message']}" for k, v in self.failures.items()))


class PartialLoadWarning(UserWarning):
    """:func:`imgframe.load_many` (``strict=False``): some sources are missing."""


def server_message(body: bytes | str | None) -> str | None:
    """Extract the fault message from an error body (Nova, Glance, Huawei, keystone),
    tolerating HTML and HTML junk inside JSON messages (Glance's ``<br />``).

    >>> server_message(b'{"badRequest": {"code": 400, "message": "bad limit"}}')
    'bad limit'
    >>> server_message(b'{"message": "limit must be an integer<br /><br />", "code": "400"}')
    'limit must be an integer'
    >>> server_message(b'{"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication"}')
    'Incorrect IAM authentication'
    """
    if not body:
        return None
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        data = json.loads(body)
    except ValueError:
        return _plain(body)
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, dict) and "message" in value:
                return _plain(str(value["message"]).replace("&quot;", '"'))
        for key in ("message", "error_msg", "error_description"):
            if key in data:
                return _plain(str(data[key]))
    return None


def _plain(text: str) -> str | None:
    text = re.sub(r"<[^>]+>", " ", text)
    return " ".join(text.split())[:300] or None
