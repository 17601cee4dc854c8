"""imgframe: a cloud's Nova-compatible image catalogue as typed pandas DataFrames.

>>> import imgframe
>>> client = imgframe.Client("https://compute.example.com:8774", "PROJECT", token="...")
>>> df = client.load(status="ACTIVE")            # doctest: +SKIP
>>> df.images.select(name="ubuntu-22.04*")       # doctest: +SKIP
"""

import sys as _sys
import types as _types

# Every public name loads on first use (PEP 562), so `import imgframe` costs little and
# `imgframe --help` never imports pandas. `import imgframe` still registers df.images: at
# once when pandas is loaded, else as pandas finishes loading (tests/test_cli_break.py).
_LAZY = {
    **{name: ("imgframe.errors", name) for name in (
        "APIError", "AuthError", "ImgframeError", "IncompleteSnapshotError",
        "InvalidQueryError", "MalformedResponseError", "NotFoundError", "PaginationError",
        "PartialLoadError", "PartialLoadWarning", "TransportError")},
    "Client": ("imgframe.client", "Client"),
    "ForeignNextLinkWarning": ("imgframe.client", "ForeignNextLinkWarning"),
    "SourceFallbackWarning": ("imgframe.client", "SourceFallbackWarning"),
    "LoadCancelled": ("imgframe.client", "LoadCancelled"),
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
    "usage": ("imgframe.usage", "usage"),
    "load_servers": ("imgframe.inventory_loads", "load_servers"),
    "load_volumes": ("imgframe.inventory_loads", "load_volumes"),
    "missing_servers": ("imgframe.usage", "missing_servers"),
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


class _AfterPandas:
    """A finder on ``sys.meta_path`` until pandas is imported: it finds pandas with the
    other finders and, once pandas has loaded, imports ``imgframe.accessor`` (which
    registers ``df.images``). Finds nothing itself."""

    def find_spec(self, name, path=None, target=None):
        if name != "pandas":
            return None
        import importlib.util

        _sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


class _RegisteringLoader:
    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        import importlib

        importlib.import_module("imgframe.accessor")


if "pandas" in _sys.modules:
    from imgframe import accessor as _accessor  # noqa: F401  (registers df.images)
elif not any(isinstance(f, _AfterPandas) for f in _sys.meta_path):
    _sys.meta_path.insert(0, _AfterPandas())

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
    "load_servers",
    "load_volumes",
    "missing_servers",
    "plotting",
    "read_csv",
    "refresh",
    "report",
    "to_csv",
    "usage",
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
