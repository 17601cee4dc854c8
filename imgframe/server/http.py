"""What every route module returns or raises: `Response` and `HTTPError` (no API in here)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

__all__ = ["HTTPError", "Response"]


@dataclass
class Response:
    """One answer: status, body bytes, content type and extra headers (a list of pairs)."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list = field(default_factory=list)


class HTTPError(Exception):
    """An error answer raised from inside a route: status, body (a dict is sent as JSON,
    str/bytes as they are), extra headers."""

    def __init__(self, status: int, body: dict | str | bytes, *, headers: dict | None = None,
                 content_type: str = "application/json"):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.content_type = content_type

    def body_bytes(self) -> bytes:
        if isinstance(self.body, dict):
            return json.dumps(self.body).encode()
        return self.body.encode() if isinstance(self.body, str) else self.body

    def response(self, headers: list | None = None) -> Response:
        return Response(self.status, self.body_bytes(), self.content_type,
                        list(headers or []) + list(self.headers.items()))
