"""``import imgframe`` stays light: the explorer's and the charts' libraries load on use."""

import subprocess
import sys

HEAVY = "('matplotlib', 'ipywidgets', 'IPython')"


def loaded_after(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}; import sys; "
         f"print(sorted(m for m in {HEAVY} if m in sys.modules))"],
        capture_output=True, text=True, check=True).stdout
    return eval(out)  # noqa: S307 - our own printed list


def test_import_imgframe_loads_no_ui_or_plotting_library():
    assert loaded_after("import imgframe") == []


def test_the_public_names_stay_light_until_used():
    # touching every name but the two lazy ones costs nothing either
    assert loaded_after("import imgframe; [getattr(imgframe, n) for n in imgframe.__all__ "
                        "if n not in ('explore', 'plotting')]") == []
    assert loaded_after("import imgframe.report, imgframe.dashboard, imgframe.export") == []


def test_the_lazy_names_load_on_first_use():
    assert loaded_after("import imgframe; imgframe.explore") == ["IPython", "ipywidgets"]
    assert "explore" in dir(__import__("imgframe"))
