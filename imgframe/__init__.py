"""imgframe: a cloud's Nova-compatible image catalogue as typed pandas DataFrames."""

from imgframe.errors import (
    APIError,
    AuthError,
    ImgframeError,
    InvalidQueryError,
    MalformedResponseError,
    NotFoundError,
    PaginationError,
    TransportError,
)

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "AuthError",
    "ImgframeError",
    "InvalidQueryError",
    "MalformedResponseError",
    "NotFoundError",
    "PaginationError",
    "TransportError",
    "__version__",
]
