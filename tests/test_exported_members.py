"""imgframe's public names: ``__all__`` is complete, sorted and importable (httpx's habit),
and the exception tree drawn in imgframe/errors.py is the classes' real tree."""

import builtins
import importlib
import inspect
import pkgutil
import re

import pytest

import imgframe
from imgframe import errors

#: public errors deliberately not in ``imgframe.__all__``, and why
NOT_EXPORTED = {"SignatureError": "imgframe.aksk: the verifying side (a server), not a load"}


def test_all_is_complete_and_sorted():
    public = {name for name in dir(imgframe) if not name.startswith("_")}
    # submodules imported as a side effect are not part of the API, except plotting
    modules = {name for name in public if type(getattr(imgframe, name)).__name__ == "module"}
    assert public - modules == set(imgframe.__all__) - {"plotting", "__version__"}
    assert imgframe.__all__ == sorted(set(imgframe.__all__))
    for name in imgframe.__all__:
        assert getattr(imgframe, name) is not None


def test_star_import_gives_every_name():
    namespace: dict = {}
    exec("from imgframe import *", namespace)
    assert set(imgframe.__all__) <= set(namespace)
    for name in imgframe.__all__:
        assert namespace[name] is getattr(imgframe, name)


def _defined_exceptions() -> dict:
    """name -> class of every public exception or warning class defined in imgframe (the
    embedded server's own HTTP errors aside), every module imported."""
    found = {}
    for info in pkgutil.walk_packages(imgframe.__path__, "imgframe."):
        if info.name.startswith("imgframe.server"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and obj.__module__ == info.name \
                    and issubclass(obj, (errors.ImgframeError, Warning)) \
                    and not name.startswith("_"):
                assert name not in found, f"two public classes named {name}"
                found[name] = obj
    return found


def test_every_public_error_and_warning_is_exported():
    defined = _defined_exceptions()
    assert {"ImgframeError", "SourceFallbackWarning", "CatalogueChangedWarning"} <= set(defined)
    missing = {n for n in defined if n not in imgframe.__all__} - set(NOT_EXPORTED)
    assert not missing, f"not in imgframe.__all__: {sorted(missing)}"
    for name in set(defined) - set(NOT_EXPORTED):
        assert getattr(imgframe, name) is defined[name]


_ROOT = re.compile(r"^    (\w+)$")
_CHILD = re.compile(r"^    (?P<lead>[ |]*)\+-- (?P<name>[\w.]+)(?: \(also (?P<also>[\w, ]+)\))?")


def _drawing(doc: str) -> list[tuple[str, str, set]]:
    """(class, drawn parent, other bases named with "also") for each "+--" of the tree
    drawn in `doc`'s literal block; roots are at four spaces, each level five deeper."""
    block = re.split(r"\n\n(?=\S)", doc.split("::\n", 1)[1])[0] if "::\n" in doc else ""
    edges, stack = [], []
    for line in block.splitlines():
        if m := _ROOT.match(line):
            stack = [m.group(1)]
        elif m := _CHILD.match(line):
            depth = (len(m.group("lead")) + 4) // 5
            assert 1 <= depth <= len(stack), f"a branch without a parent: {line!r}"
            del stack[depth:]
            also = {b.strip() for b in (m.group("also") or "").split(",") if b.strip()}
            edges.append((m.group("name"), stack[-1], also))
            stack.append(m.group("name"))
        else:
            assert not line.strip().startswith("+--"), f"unreadable branch: {line!r}"
    return edges


def _resolve(name: str) -> type:
    if "." in name:
        module, _, attr = name.rpartition(".")
        return getattr(importlib.import_module(f"imgframe.{module}"), attr)
    return getattr(imgframe, name, None) or getattr(builtins, name)


def check_drawing(doc: str) -> None:
    """Assert the tree drawn in `doc` is the classes' tree: every public error and warning
    once, each under its real parent, its other bases named with "also"."""
    edges = _drawing(doc)
    drawn = [name.rpartition(".")[2] for name, _, _ in edges]
    assert len(drawn) == len(set(drawn)), "a class is drawn twice"
    assert set(drawn) == set(_defined_exceptions()) - {"ImgframeError"}
    for name, parent, also in edges:
        cls = _resolve(name)
        bases = {b.__name__ for b in cls.__bases__}
        assert _resolve(parent) in cls.__bases__, f"{name} is drawn under {parent}: {bases}"
        assert bases == {parent.rpartition(".")[2]} | also, f"{name}'s bases are {bases}"


def test_the_exception_tree_drawing_is_the_class_tree():
    check_drawing(errors.__doc__)


@pytest.mark.parametrize("old, new", [
    ("\n     +-- PartialLoadError", "\n +-- PartialLoadError"),      # 613755a's drawing
    ("\n     |    +-- AuthError", "\n     +-- AuthError"),           # under the wrong parent
    ("\n     +-- SourceFallbackWarning", "\n     +-- Other"),        # one missing
    (" (also ValueError)", ""),                                        # a base not named
    ("\n     +-- TransportError", "\n     |    +-- TransportError"),  # one level too deep
])
def test_the_drawing_check_sees_a_wrong_drawing(old, new):
    assert old in errors.__doc__
    with pytest.raises((AssertionError, AttributeError)):
        check_drawing(errors.__doc__.replace(old, new))


def test_every_error_is_an_imgframe_error():
    for name in imgframe.__all__:
        obj = getattr(imgframe, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and not issubclass(obj, Warning):
            assert issubclass(obj, imgframe.ImgframeError), name
    assert issubclass(imgframe.InvalidQueryError, ValueError)


def test_accessor_registered_on_import():
    import pandas as pd
    import pytest

    # pandas' convention for accessors: AttributeError, so hasattr(df, "images") is False
    with pytest.raises(AttributeError, match="lacks id, name, status, created, updated"):
        pd.DataFrame({"x": [1]}).images.status_counts()
    assert not hasattr(pd.DataFrame({"x": [1]}), "images")
