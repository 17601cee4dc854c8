"""imgframe: a cloud's Nova-compatible image catalogue as typed pandas DataFrames.

>>> import imgframe
>>> client = imgframe.Client("https://compute.example.com:8774", "PROJECT", token="...")
>>> df = client.load(status="ACTIVE")            # doctest: +SKIP
>>> df.images.select(name="ubuntu-22.04*")       # doctest: +SKIP
"""

import sys as _sys
import types as _types

# Every public name loads on first use (PEP 562), so `import imgframe` costs little and
# `imgframe --help` never imports pandas. The df.images accessor is registered as soon as
# any imgframe name is used, or right away when pandas is already imported (tests/
# test_imports.py keeps both so).
_LAZY = {
    **{name: ("imgframe.errors", name) for name in (
        "APIError", "AuthError", "ImgframeError", "IncompleteSnapshotError",
        "InvalidQueryError", "MalformedResponseError", "NotFoundError", "PaginationError",
        "PartialLoadError", "PartialLoadWarning", "TransportError")},
    "Client": ("imgframe.client", "Client"),
    "ForeignNextLinkWarning": ("imgframe.client", "ForeignNextLinkWarning"),
    "load": ("imgframe.client", "load"),
    "diff": ("imgframe.diff", "diff"),
    "diff_summary": ("imgframe.diff", "diff_summary"),
    "read_csv": ("imgframe.export", "read_csv"),
    "to_csv": ("imgframe.export", "to_csv"),
    "LoadSpec": ("imgframe.many", "LoadSpec"),
    "load_many": ("imgframe.many", "load_many"),
    "refresh": ("imgframe.refresh", "refresh"),
    "report": ("imgframe.report", "report"),
    "SnapshotStore": ("imgframe.snapshots", "SnapshotStore"),
    "CatalogueChangedWarning": ("imgframe.trends", "CatalogueChangedWarning"),
    "changes_since_trend": ("imgframe.trends", "changes_since_trend"),
    # the explorer (ipywidgets/IPython) and the charts (matplotlib)
    "explore": ("imgframe.widgets", "explore"),
    "plotting": ("imgframe.plotting", None),
}



class _Package(_types.ModuleType):
    """``imgframe.diff``, ``.report``, ``.refresh`` are functions, though modules of those
    names exist: importing such a module (which sets it on the package) keeps the function
    the name means, as the package's own imports did when they were eager."""

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, _types.ModuleType) and _LAZY.get(name, (None, None))[1]:
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package

if "pandas" in _sys.modules:
    from imgframe import accessor as _accessor  # noqa: F401  (registers df.images)

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

def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'imgframe' has no attribute {name!r}")
    import importlib

    importlib.import_module("imgframe.accessor")  # registers df.images
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
