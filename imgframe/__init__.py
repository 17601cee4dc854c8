"""imgframe: a cloud's Nova-compatible image catalogue as typed pandas DataFrames.

>>> import imgframe
>>> client = imgframe.Client("https://compute.example.com:8774", "PROJECT", token="...")
>>> df = client.load(status="ACTIVE")            # doctest: +SKIP
>>> df.images.select(name="ubuntu-22.04*")       # doctest: +SKIP
"""

from imgframe import accessor as _accessor  # noqa: F401  (registers df.images)
from imgframe import plotting
from imgframe.client import Client, ForeignNextLinkWarning, load
from imgframe.diff import diff, diff_summary
from imgframe.errors import (
    APIError,
    AuthError,
    ImgframeError,
    IncompleteSnapshotError,
    InvalidQueryError,
    MalformedResponseError,
    NotFoundError,
    PaginationError,
    PartialLoadError,
    PartialLoadWarning,
    TransportError,
)
from imgframe.export import read_csv, to_csv
from imgframe.many import LoadSpec, load_many
from imgframe.refresh import refresh
from imgframe.report import report
from imgframe.snapshots import SnapshotStore
from imgframe.trends import CatalogueChangedWarning, changes_since_trend
from imgframe.widgets import explore

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "AuthError",
    "CatalogueChangedWarning",
    "Client",
    "ForeignNextLinkWarning",
    "ImgframeError",
    "IncompleteSnapshotError",
    "InvalidQueryError",
    "LoadSpec",
    "MalformedResponseError",
    "NotFoundError",
    "PaginationError",
    "PartialLoadError",
    "PartialLoadWarning",
    "SnapshotStore",
    "TransportError",
    "__version__",
    "changes_since_trend",
    "diff",
    "diff_summary",
    "explore",
    "load",
    "load_many",
    "plotting",
    "read_csv",
    "refresh",
    "report",
    "to_csv",
]
