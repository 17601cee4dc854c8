"""imgframe: a cloud's Nova-compatible image catalogue as typed pandas DataFrames.

>>> import imgframe
>>> client = imgframe.Client("https://compute.example.com:8774", "PROJECT", token="...")
>>> df = client.load(status="ACTIVE")            # doctest: +SKIP
>>> df.images.select(name="ubuntu-22.04*")       # doctest: +SKIP
"""

from imgframe import accessor as _accessor  # noqa: F401  (registers df.images)
from imgframe.client import (
    Client,
    ForeignNextLinkWarning,
    LoadCancelled,
    SourceFallbackWarning,
    load,
)
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
    "LoadCancelled",
    "LoadSpec",
    "MalformedResponseError",
    "NotFoundError",
    "PaginationError",
    "PartialLoadError",
    "PartialLoadWarning",
    "SnapshotStore",
    "SourceFallbackWarning",
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

# Loaded on first use (PEP 562), so `import imgframe` imports neither ipywidgets/IPython
# (the explorer) nor matplotlib (charts): tests/test_imports.py keeps it so.
_LAZY = {"explore": ("imgframe.widgets", "explore"), "plotting": ("imgframe.plotting", None)}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'imgframe' has no attribute {name!r}")
    import importlib

    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
