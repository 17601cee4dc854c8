"""Huawei Cloud AK/SK request signing ("SDK-HMAC-SHA256"), both sides, standard library only.

The same rule as ``huaweicloudsdkcore.signer.signer.Signer`` (SDK 3.1.219), re-implemented so
that imgframe does not depend on the SDK (it pins ``pymongo`` exactly). ``tests/test_aksk.py``
proves the output byte-identical to the SDK's signer. The rule::

    CanonicalRequest = METHOD \\n CanonicalURI \\n CanonicalQuery \\n CanonicalHeaders \\n
                       SignedHeaders \\n hex(sha256(body))        (empty body: sha256 of b"")
    StringToSign     = "SDK-HMAC-SHA256" \\n X-Sdk-Date \\n hex(sha256(CanonicalRequest))
    Signature        = hex(HMAC-SHA256(key=SK, msg=StringToSign))
    Authorization    = "SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<a;b;c>, Signature=<hex>"

* CanonicalURI: every ``/`` segment of the percent-decoded path, RFC 3986-encoded (``~`` kept),
  always ending in ``/`` (``/v2/cloudimages`` is signed as ``/v2/cloudimages/``).
* CanonicalQuery: every (key, value) pair, sorted on the *decoded* strings, each side
  RFC 3986-encoded: a space is ``%20``, never ``+``; ``:`` is ``%3A``. Repeated keys stay
  repeated; an empty value gives ``key=``.
* Signed headers: every header whose name has no ``_``, lower-cased and sorted; its value is
  stripped. ``X-Sdk-Date`` (``YYYYMMDDTHHMMSSZ``, UTC) and ``Host`` are always added.
* A ``Content-Type`` other than ``application/json``/``application/bson`` adds the signed
  header ``X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD``, which then replaces the body hash.

The trap (reference, trap 15): the gateway checks the query it receives against the
signature, and the signature covers the *canonical* query, so the request must carry the
canonical query, not ``requests``' ``+``-encoded one. :func:`sign` therefore returns the
URL to send, and the caller sends it verbatim, with ``params=None``::

    signed = aksk.sign("GET", "https://ims.ap-southeast-1.myhuaweicloud.com/v2/cloudimages",
                       {"limit": 100, "name": "Ubuntu 22.04"}, {"Content-Type": "application/json"},
                       ak=ak, sk=sk, project_id=project_id)
    response = session.get(signed.url, headers=signed.headers)  # no params=, no re-encoding

``requests`` leaves such a URL untouched (it only re-quotes characters that are not already
valid in a URL, and the canonical query has none); the tests check that its prepared URL
equals ``signed.url``. Headers the session adds (User-Agent, Accept-Encoding...) are not
signed and the gateway ignores them, as it does for the SDK's own requests.

:func:`verify` is the server side (the embedded server's IMS routes): it recomputes the
signature from what arrived, compares it with :func:`hmac.compare_digest` and checks that
``X-Sdk-Date`` is within 15 minutes. :func:`check` does the same but says why it failed.

The secret key never appears in a repr, str or exception message; neither does a security
token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from imgframe.errors import ImgframeError, InvalidQueryError

__all__ = [
    "ALGORITHM",
    "HIDDEN",
    "SignatureError",
    "SignedRequest",
    "canonical_query",
    "canonical_uri",
    "check",
    "check_keys",
    "check_printable",
    "sign",
    "verify",
]

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_HASH = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_SKEW = 900  # seconds: the gateway refuses an X-Sdk-Date further than 15 minutes away

# Set by sign() itself; a caller who passes them would sign something else than is sent.
_RESERVED = {"authorization", "x-sdk-date", "host", "x-project-id", "x-security-token"}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 header field name
_PRINTABLE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no whitespace
_AUTH = re.compile(
    r"SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-fA-F]+)\s*"
)


class _Hidden:
    """Stands for a secret in messages and reprs."""

    def __repr__(self) -> str:
        return "<hidden>"

    __str__ = __repr__


HIDDEN = _Hidden()


class SignatureError(ImgframeError):
    """A signed request was refused by :func:`check`; ``reason`` says why (never a secret)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def check_printable(name: str, value: Any, *, secret: bool, optional: bool = False) -> None:
    """Refuse what is not a non-empty printable-ASCII string, naming ``name``, hiding secrets."""
    if value is None and optional:
        return
    shown = HIDDEN if secret else value
    allowed = "a non-empty string of printable ASCII characters without spaces"
    if not isinstance(value, str):
        raise InvalidQueryError(name, allowed, shown, reason=f"got {type(value).__name__}")
    if not value:
        raise InvalidQueryError(name, allowed, shown, reason="it is empty")
    if not _PRINTABLE.fullmatch(value):
        raise InvalidQueryError(name, allowed, shown,
                                reason="it holds whitespace, control or non-ASCII characters")


@dataclass(frozen=True, repr=False)
class SignedRequest:
    """What to send: ``url`` verbatim (``params=None``), ``headers`` as given, ``body``."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    signed_headers: tuple[str, ...]
    canonical_request: str

    def __repr__(self) -> str:
        shown = {k: ("<hidden>" if k.lower() == "x-security-token" else v)
                 for k, v in self.headers.items()}
        return f"SignedRequest(method={self.method!r}, url={self.url!r}, headers={shown!r})"

    __str__ = __repr__


# ---------------------------------------------------------------------------- the rule


def _encode(s: str) -> str:
    """RFC 3986 percent-encoding, the SDK's ``quote(s, safe='~')``.

    >>> _encode("gte:2024-01-01T00:00:00Z a/b")
    'gte%3A2024-01-01T00%3A00%3A00Z%20a%2Fb'
    """
    return quote(s, safe="~")


def canonical_uri(path: str) -> str:
    """The signed form of a path: segments decoded then re-encoded, a trailing ``/`` added.

    >>> canonical_uri("/v2/cloudimages")
    '/v2/cloudimages/'
    """
    uri = "/".join(_encode(seg) for seg in unquote(path or "/").split("/"))
    return uri if uri.endswith("/") else uri + "/"


def _value(v: Any) -> str:
    if isinstance(v, bool):  # the SDK's rule for a scalar bool
        return "true" if v else "false"
    if v is None:
        raise InvalidQueryError("params", "str, int, bool or a list of them", v,
                                reason="None cannot be sent")
    return str(v)


def _pairs(params: Any) -> list[tuple[str, str]]:
    """Flatten a mapping or a sequence of pairs (list values repeat the key) into strings."""
    if params is None:
        return []
    items = params.items() if isinstance(params, Mapping) else params
    out: list[tuple[str, str]] = []
    for item in items:
        key, value = item
        if not isinstance(key, str) or not key:
            raise InvalidQueryError("params", "non-empty string keys", key)
        values = value if isinstance(value, (list, tuple)) else [value]
        out.extend((key, _value(v)) for v in values)
    return out


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Sort (key, value) string pairs and encode them: the query that is signed and sent.

    >>> canonical_query([("name", "Ubuntu 22.04"), ("limit", "2"), ("a", "")])
    'a=&limit=2&name=Ubuntu%2022.04'
    """
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(pairs))


def _canonical_request(method: str, path: str, query: str, headers: Mapping[str, str],
                       signed: list[str], body: bytes) -> str:
    canonical_headers = "".join(f"{name}:{headers[name]}\n" for name in signed)
    if not body:
        payload = EMPTY_HASH
    else:
        payload = headers.get("x-sdk-content-sha256") or hashlib.sha256(body).hexdigest()
    return "\n".join([method.upper(), canonical_uri(path), query, canonical_headers,
                      ";".join(signed), payload])


def _signature(sk: str, date: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    string_to_sign = f"{ALGORITHM}\n{date}\n{digest}"
    return hmac.new(sk.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _utc(when: dt.datetime | None) -> dt.datetime:
    if when is None:
        return dt.datetime.now(dt.timezone.utc)
    if not isinstance(when, dt.datetime):
        raise InvalidQueryError("when", "a datetime (naive means UTC) or None", when)
    return when.replace(tzinfo=dt.timezone.utc) if when.tzinfo is None else when.astimezone(
        dt.timezone.utc)


# ---------------------------------------------------------------------------- client side


def check_keys(ak, sk, security_token=None) -> None:
    """Refuse an access key pair that cannot sign, naming ``ak``, ``sk`` or
    ``security_token`` (the secrets are never echoed)."""
    check_printable("ak", ak, secret=False)
    if "," in ak:
        raise InvalidQueryError("ak", "an access key id without ','", ak)
    check_printable("sk", sk, secret=True)
    check_printable("security_token", security_token, secret=True, optional=True)


def sign(method: str, url: str, params: Any = None, headers: Mapping[str, Any] | None = None,
         body: bytes | str = b"", *, ak: str, sk: str, when: dt.datetime | None = None,
         security_token: str | None = None, project_id: str | None = None) -> SignedRequest:
    """Sign one request the way Huawei's SDK does; return what to send.

    ``url`` may carry a query already (decoded with ``+`` as a space); ``params`` (a mapping
    or a sequence of pairs; a list value repeats its key) are added to it. ``when`` is the
    signing time (default now, UTC). ``project_id`` adds ``X-Project-Id``, ``security_token``
    (temporary credentials) ``X-Security-Token``; both are signed. Send ``.url`` verbatim
    and ``.headers``: ``session.request(s.method, s.url, headers=s.headers, data=s.body)``.

    >>> s = sign("GET", "https://ims.example.com/v2/cloudimages", {"name": "a b"}, {},
    ...          ak="AK", sk="SK", when=dt.datetime(2024, 1, 2, 3, 4, 5))
    >>> s.url, s.headers["X-Sdk-Date"]
    ('https://ims.example.com/v2/cloudimages?name=a%20b', '20240102T030405Z')
    """
    check_keys(ak, sk, security_token)
    check_printable("project_id", project_id, secret=False, optional=True)
    if not isinstance(method, str) or not _TOKEN.fullmatch(method):
        raise InvalidQueryError("method", "an HTTP method such as 'GET'", method)
    try:
        parts = urlsplit(url)
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidQueryError("url", "an absolute http(s) URL", url, reason=str(exc)) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidQueryError("url", "an absolute http(s) URL", url)
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise InvalidQueryError("url", "a URL without user:password@ or #fragment",
                                urlunsplit(parts._replace(netloc=parts.hostname, fragment="")))
    if any(seg in (".", "..") for seg in unquote(parts.path).split("/")):
        raise InvalidQueryError("url", "a path without '.' or '..' segments (HTTP clients "
                                "remove them, so what is sent would not be what was signed)", url)
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not isinstance(body, (bytes, bytearray)):
        raise InvalidQueryError("body", "bytes or str", type(body).__name__)
    body = bytes(body)

    # the headers, in the SDK's order: the caller's, X-Project-Id, X-Security-Token, the
    # content rule, X-Sdk-Date, Host
    sent: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise InvalidQueryError("headers", "header names made of RFC 9110 token characters",
                                    name)
        if name.lower() in _RESERVED:
            raise InvalidQueryError("headers", f"no {name} header: sign() sets it (use ak=, "
                                    "sk=, when=, project_id=, security_token=)", name)
        if any(name.lower() == other.lower() for other in sent):
            raise InvalidQueryError("headers", "each header once (names ignore case)", name)
        if value is None:
            raise InvalidQueryError("headers", "a value for every header", name,
                                    reason="its value is None")
        text = str(value)
        if any(c in text for c in "\r\n\0"):
            raise InvalidQueryError("headers", "values without CR, LF or NUL", name)
        if name.lower() == "x-sdk-content-sha256" and not _PRINTABLE.fullmatch(text.strip()):
            raise InvalidQueryError("headers", "X-Sdk-Content-Sha256: a hex SHA-256 or "
                                    "UNSIGNED-PAYLOAD", text)
        sent[name] = text
    if project_id is not None:
        sent["X-Project-Id"] = project_id
    if security_token is not None:
        sent["X-Security-Token"] = security_token
    content_type = next((v for k, v in sent.items() if k.lower() == "content-type"), None)
    if content_type and not content_type.startswith(("application/json", "application/bson")):
        # as the SDK: this replaces any X-Sdk-Content-Sha256 the caller gave
        for name in [k for k in sent if k.lower() == "x-sdk-content-sha256"]:
            del sent[name]
        sent["X-Sdk-Content-Sha256"] = UNSIGNED_PAYLOAD
    date = _utc(when).strftime(DATE_FORMAT)
    sent["X-Sdk-Date"] = date
    sent["Host"] = parts.netloc

    lowered = {k.lower(): v.strip() for k, v in sent.items()}
    signed = sorted(k for k in lowered if "_" not in k)
    query = canonical_query(parse_qsl(parts.query, keep_blank_values=True) + _pairs(params))
    canonical = _canonical_request(method, parts.path, query, lowered, signed, body)
    signature = _signature(sk, date, canonical)

    # What goes on the wire: stripped values, non-Latin-1 text as its UTF-8 bytes (as the
    # SDK does, so http.client sends UTF-8), the Authorization header last.
    out = {k: v.strip().encode("utf-8").decode("iso-8859-1") for k, v in sent.items()}
    out["Authorization"] = (f"{ALGORITHM} Access={ak}, SignedHeaders={';'.join(signed)}, "
                            f"Signature={signature}")
    path = quote(unquote(parts.path), safe="/~") or "/"
    final = urlunsplit((parts.scheme, parts.netloc, path, query, ""))
    return SignedRequest(method.upper(), final, out, body, tuple(signed), canonical)


# ---------------------------------------------------------------------------- server side


def _header_getter(headers: Any):
    """A case-insensitive lookup over a dict, a list of pairs or an ``email.message.Message``."""
    if hasattr(headers, "get_all"):  # http.server's headers: already case-insensitive
        return lambda name: headers.get(name)
    items = headers.items() if isinstance(headers, Mapping) else headers
    table: dict[str, str] = {}
    for name, value in items:
        table.setdefault(str(name).lower(), str(value))
    return lambda name: table.get(name.lower())


def _as_sent(value: str) -> str:
    """Undo the Latin-1 decoding of a header value that a client sent as UTF-8."""
    try:
        return value.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _query_pairs(query_string: str) -> list[tuple[str, str]]:
    """Split a raw query as received; ``+`` is a literal plus (the signer never sends one)."""
    pairs = []
    for part in (query_string or "").split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((unquote(key), unquote(value)))
    return pairs


def check(method: str, path: str, query_string: str, headers: Any, body: bytes | str | None,
          secrets: Mapping[str, str], *, now: dt.datetime | None = None,
          skew: float = MAX_SKEW) -> str:
    """Verify a signed request as received; return its access key or raise SignatureError.

    ``path`` and ``query_string`` are the raw request target split at ``?``; ``headers`` a
    mapping, pairs or ``http.server``'s message; ``secrets`` maps each known AK to its SK.
    """
    get = _header_getter(headers)
    auth = get("Authorization")
    if not auth:
        raise SignatureError("no Authorization header")
    match = _AUTH.fullmatch(auth.strip())
    if not match:
        raise SignatureError(f"Authorization is not '{ALGORITHM} Access=..., SignedHeaders=..., "
                             "Signature=...'")
    ak, signed_text, signature = match.groups()
    sk = secrets.get(ak)
    if sk is None:
        raise SignatureError(f"unknown access key {ak!r}")
    signed = signed_text.lower().split(";")
    if signed != sorted(set(signed)):
        raise SignatureError("SignedHeaders is not a sorted list of distinct names")
    for required in ("host", "x-sdk-date"):
        if required not in signed:
            raise SignatureError(f"the {required} header is not signed")
    date = get("X-Sdk-Date") or ""
    try:
        t = dt.datetime.strptime(date.strip(), DATE_FORMAT).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise SignatureError(f"X-Sdk-Date {date!r} is not YYYYMMDDTHHMMSSZ") from None
    off = abs((_utc(now) - t).total_seconds())
    if off > skew:
        raise SignatureError(f"signature expired: X-Sdk-Date {date.strip()} is {off:.0f} s "
                             f"away from the server's clock (allowed {skew:.0f} s)")
    values: dict[str, str] = {}
    for name in signed:
        value = get(name)
        if value is None:
            raise SignatureError(f"signed header {name!r} is missing")
        values[name] = _as_sent(value).strip()
    content_sha = get("X-Sdk-Content-Sha256")
    if content_sha is not None and "x-sdk-content-sha256" not in signed:
        raise SignatureError("X-Sdk-Content-Sha256 is sent but not signed")
    if isinstance(body, str):
        body = body.encode("utf-8")
    canonical = _canonical_request(method, path, canonical_query(_query_pairs(query_string)),
                                   values, signed, body or b"")
    expected = _signature(sk, t.strftime(DATE_FORMAT), canonical)
    if not hmac.compare_digest(expected, signature.lower()):
        raise SignatureError("signature does not match the request")
    return ak


def verify(method: str, path: str, query_string: str, headers: Any, body: bytes | str | None,
           secrets: Mapping[str, str], *, now: dt.datetime | None = None,
           skew: float = MAX_SKEW) -> str | None:
    """The access key that signed this request, or None if it is not validly signed.

    Same arguments as :func:`check`, which also says why a request was refused.
    """
    try:
        return check(method, path, query_string, headers, body, secrets, now=now, skew=skew)
    except SignatureError:
        return None
