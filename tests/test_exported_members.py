"""imgframe's public names: ``__all__`` is complete, sorted and importable (httpx's habit)."""

import imgframe


def test_all_is_complete_and_sorted():
    public = {name for name in dir(imgframe) if not name.startswith("_")}
    # submodules imported as a side effect are not part of the API, except plotting
    modules = {name for name in public if type(getattr(imgframe, name)).__name__ == "module"}
    assert public - modules == set(imgframe.__all__) - {"plotting", "__version__"}
    assert imgframe.__all__ == sorted(imgframe.__all__, key=str.lower) or \
        imgframe.__all__ == sorted(imgframe.__all__)
    for name in imgframe.__all__:
        assert getattr(imgframe, name) is not None


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
