"""The HTTP edge: one page of a :class:`~imgframe.listing.resource.Resource`, or an error.

::

    Edge.fetch(resource, params, stats)
        send (auth.send; a 401 re-authenticates once where the auth can)
        -> raise_for_status (the status as imgframe's error; a vanished marker as
           MarkerNotFound for the pager) -> read the body in one read -> parse
           (the resource's typed decode, else JSON and resource.page)
        malformed bodies are fetched again a little (MALFORMED_RETRIES)

Requests always go to the resource's URL: redirects are never followed, so a credential
is never sent anywhere else. An ``Edge`` keeps no per-call state and may be shared by
threads (its counters are the caller's ``stats``).
"""

from __future__ import annotations

import logging
import random
import time
from urllib.parse import urlencode

import requests
from urllib3.exceptions import HTTPError, ReadTimeoutError

from imgframe.errors import (
    APIError,
    AuthError,
    MalformedResponseError,
    NotFoundError,
    TransportError,
    redact_url,
    server_message,
)
from imgframe.http.auth import Auth
from imgframe.http.transport import on_quota, quota_of, unreachable
from imgframe.pages import MarkerNotFound, Page, loads

__all__ = ["MALFORMED_RETRIES", "Edge", "where"]

log = logging.getLogger("imgframe")

MALFORMED_RETRIES = 2


class Edge:
    """Send, check, read and parse one page. ``session``: a ``requests.Session`` (or a
    keystoneauth1 one, with :class:`~imgframe.http.auth.KeystoneAuth`); ``timeout``:
    ``(connect, read)`` seconds; ``backoff``: seconds, for re-fetching a malformed body."""

    def __init__(self, session, auth: Auth, timeout: tuple[float, float], backoff: float):
        self.session = session
        self.auth = auth
        self.timeout = timeout
        self.backoff = backoff

    def fetch(self, resource, params: list, stats, typed=None, *, decode: bool = True,
              attempt: int = 0):
        """One page: send, check the status, read, parse; malformed bodies are retried a
        little. ``typed``: the resource's fast decode for this stream, if any.
        ``decode=False``: stop after reading, and return ``(response, body)`` for
        :meth:`decoded` (a prefetch thread reads; the thread that types decodes, so the
        two do not take turns at the GIL for every page)."""
        while True:
            try:
                response = self.send(resource, params, stats)
                self.raise_for_status(response, resource, params)
                body = self.body(response, resource.url)
                if not decode:
                    return response, body
                return self.parse(response, body, resource, typed)
            except MalformedResponseError:
                if attempt >= MALFORMED_RETRIES:
                    raise
                attempt += 1
                self._pause(attempt, stats)

    def decoded(self, received: tuple, resource, params: list, stats, typed=None) -> Page:
        """The page of a body :meth:`fetch` read with ``decode=False``; a malformed one is
        fetched again, as :meth:`fetch` does."""
        response, body = received
        try:
            return self.parse(response, body, resource, typed)
        except MalformedResponseError:
            if MALFORMED_RETRIES < 1:
                raise
            self._pause(1, stats)
            return self.fetch(resource, params, stats, typed, attempt=1)

    def _pause(self, attempt: int, stats) -> None:
        stats.retries += 1
        time.sleep(min(self.backoff * (2 ** (attempt - 1)), 5.0)
                   + random.uniform(0, self.backoff))

    # -- send ----------------------------------------------------------------------------

    def send(self, resource, params: list, stats) -> requests.Response:
        """One GET of ``resource.url`` with ``params``; a 401 re-authenticates once where
        the authentication can (keystoneauth1), and the request is sent again."""
        response = self._request(resource, params, stats)
        if response.status_code == 401 and self.auth.reauthenticate(self.session):
            log.info("HTTP 401 from %s: re-authenticating once", redact_url(resource.url))
            stats.reauths += 1
            response = self._request(resource, params, stats)
        return response

    def _request(self, resource, params: list, stats) -> requests.Response:
        url = resource.url
        headers = dict(resource.headers)

        def full() -> str:   # the token-free URL, built only for a log line or an error
            return redact_url(f"{url}?{urlencode(params)}" if params else url)

        if log.isEnabledFor(logging.DEBUG):
            log.debug("GET %s", full())
        try:
            response = self.auth.send(self.session, url, params, headers, self.timeout)
        except (requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            stats.requests += 1
            raise MalformedResponseError(f"the response body was cut short or undecodable "
                                         f"({type(exc).__name__})", url=full()) from None
        except requests.exceptions.SSLError as exc:
            raise TransportError(f"TLS verification failed: {_short(exc)}; pass verify= a CA "
                                 f"bundle path if the endpoint uses a private CA",
                                 url=full()) from None
        except requests.exceptions.Timeout as exc:
            raise TransportError(f"timed out (timeout={self.timeout}): {_short(exc)}",
                                 url=full()) from None
        except requests.exceptions.RequestException as exc:
            why = unreachable(exc)
            if why is not None:
                stats.requests += 1
                raise TransportError(f"could not connect to {redact_url(resource.root)}: "
                                     f"{why}", url=full()) from None
            raise TransportError(f"could not reach {resource.title}: {_short(exc)}",
                                 url=full()) from None
        retried = len(getattr(getattr(response.raw, "retries", None), "history", ()) or ())
        stats.requests += 1 + retried
        stats.retries += retried
        listener = on_quota.get()
        if listener is not None:
            quota = quota_of(response.headers)
            if quota is not None:
                listener(*quota)
        return response

    # -- check, read, parse ----------------------------------------------------------------

    def raise_for_status(self, response: requests.Response, resource, params: list) -> None:
        """Nothing for a 2xx; else the status as imgframe's error. The resource's own
        "this marker is gone" answer is :class:`~imgframe.pages.MarkerNotFound`, for the
        pager to step back."""
        status = response.status_code
        if 200 <= status < 300:
            return
        url = resource.url
        message = server_message(response.content)
        kw = {**where(response, url, resource.request_id_headers), "server_message": message}
        said = f": {message}" if message else ""
        marker = dict(params).get("marker")
        if marker and resource.vanished_marker(status, message, marker):
            # only the API's own "this marker is gone" answer means the marker vanished;
            # any other 403 is a policy refusal (AuthError), and retrying with other
            # markers would hide it.
            raise MarkerNotFound(marker, message.strip().removeprefix(resource.vanished_prefix),
                                 **kw)
        if status == 401:
            raise AuthError(self.auth.rejected(), **kw)
        if status == 403:
            raise AuthError(f"not allowed to list {resource.noun} here{said}", **kw)
        if status == 404:
            raise NotFoundError(f"this endpoint may not offer {resource.title}"
                                f"{resource.not_found_hint}", **kw)
        if 300 <= status < 400:
            location = redact_url(response.headers.get("Location"))
            raise APIError(f"the server redirected to {location}; not followed (the "
                           f"credentials would go with it)", **kw)
        if status == 429:
            raise APIError(f"rate limited, still after retrying within the budget{said}", **kw)
        if status >= 500:
            raise APIError(f"the server failed, still after retrying{said}", **kw)
        raise APIError(f"the server refused the request{said}", **kw)

    def body(self, response: requests.Response, url: str) -> bytes:
        """The body of a 200 in one read (requests' ``.content`` reads 10 KiB at a time:
        about 100 calls per 1000-image page); a keystoneauth1 response is already read."""
        if self.auth.reads_whole or response.raw is None \
                or not hasattr(response.raw, "read"):
            return response.content
        try:
            return response.raw.read(decode_content=True) or b""
        except ReadTimeoutError as exc:
            raise TransportError(f"timed out (timeout={self.timeout}) reading the body: "
                                 f"{_short(exc)}", url=where(response, url)["url"]) from None
        except (HTTPError, OSError) as exc:   # cut short, or an undecodable encoding
            raise MalformedResponseError(f"the response body was cut short or undecodable "
                                         f"({type(exc).__name__})",
                                         **where(response, url)) from None
        finally:
            response.close()

    def parse(self, response: requests.Response, body: bytes, resource, typed=None) -> Page:
        """The :class:`Page` of a body: the typed decode (type-checked as it decodes), or
        JSON and ``resource.page``, which names what is wrong."""
        if typed is not None:
            try:   # the source's structs, type-checked as they are decoded
                return typed.page(typed.decoder.decode(body))
            except ValueError:   # msgspec's DecodeError and ValidationError are ValueErrors
                pass   # the general way below takes it, or says what is wrong
        try:
            data = loads(body)
        except (ValueError, UnicodeDecodeError):
            kind = response.headers.get("Content-Type", "unknown type")
            raise MalformedResponseError(
                f"the body is not JSON (truncated, or {kind}; {len(body)} bytes)",
                **where(response, resource.url)) from None
        try:
            return resource.page(data)
        except MalformedResponseError as exc:
            raise MalformedResponseError(str(exc), **where(response, resource.url)) from None


def where(response: requests.Response, url: str,
          request_id_headers: tuple = ("x-openstack-request-id",)) -> dict:
    """An error's status, token-free URL and request id (built for an error only: the
    redacted URL costs a parse)."""
    request_id = next((response.headers.get(h) for h in request_id_headers
                       if response.headers.get(h)), None)
    return {"status": response.status_code, "url": redact_url(response.url or url),
            "request_id": request_id}


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 300 else text[:297] + "..."
