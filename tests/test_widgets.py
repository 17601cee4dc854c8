"""The explorer widget, driven by setting control values and reading ``.selection``."""

import re
import time

import ipywidgets
import numpy as np
import pandas as pd
import pytest

import imgframe
from imgframe import status
from imgframe.frame import COLUMNS, empty_frame
from imgframe.widgets import Explorer, explore, human_bytes, parse_name

UTC = "UTC"


def make_frame(rows: list[dict]) -> pd.DataFrame:
    """A frame with imgframe's columns and dtypes from a few hand-written rows."""
    template = empty_frame()
    data = {c: [r.get(c) for r in rows] for c in COLUMNS}
    df = pd.DataFrame(data, columns=COLUMNS)
    for column, dtype in template.dtypes.items():
        if column in ("metadata", "tags"):
            continue
        if str(dtype).startswith("datetime64"):
            df[column] = pd.to_datetime(df[column], utc=True).astype(dtype)
        else:
            df[column] = df[column].astype(dtype)
    return df


def ts(text):
    return pd.Timestamp(text, tz=UTC)


@pytest.fixture
def small_df():
    """Nine images: every displayable status, a null name, a hostile name, a null updated."""
    rows = [
        dict(id="i1", name="ubuntu-22.04", status="ACTIVE", created=ts("2026-01-02 10:00"),
             updated=ts("2026-01-05 12:00"), min_ram=2048, min_disk=20, size=1_500_000_000),
        dict(id="i2", name="ubuntu-22.04-minimal", status="ACTIVE",
             created=ts("2026-01-03"), updated=ts("2026-01-20 08:30"), min_ram=1024,
             min_disk=10, size=900_000_000),
        dict(id="i3", name="ubuntu-24.04", status="SAVING", created=ts("2026-01-10"),
             updated=ts("2026-02-01"), min_ram=0, min_disk=0, size=None),
        dict(id="i4", name="debian-12", status="ACTIVE", created=ts("2025-12-01"),
             updated=ts("2026-02-15"), min_ram=512, min_disk=5, size=600_000_000),
        dict(id="i5", name=None, status="SAVING", created=ts("2026-02-02"),
             updated=ts("2026-02-20"), min_ram=0, min_disk=0, size=None),
        dict(id="i6", name="=<b>cmd</b>|' /C calc'!A0", status="ERROR",
             created=ts("2026-02-03"), updated=ts("2026-02-21"), min_ram=0, min_disk=0,
             size=1234),
        dict(id="i7", name="win-2022", status="UNKNOWN", created=ts("2026-03-01"),
             updated=None, min_ram=4096, min_disk=40, size=20_000_000_000),
        dict(id="i8", name="centos-7", status="DELETED", created=ts("2025-06-01"),
             updated=ts("2026-03-03"), min_ram=0, min_disk=0, size=None),
        dict(id="i9", name="ubuntu-20.04", status="ACTIVE", created=ts("2025-05-05"),
             updated=ts("2026-03-10"), min_ram=2048, min_disk=20, size=1_000_000_000),
    ]
    return make_frame(rows)


def ids(df):
    return sorted(df["id"].tolist())


def test_explore_returns_an_undisplayed_vbox(small_df):
    ex = explore(small_df, chart=False)
    assert isinstance(ex, Explorer)
    assert isinstance(ex, ipywidgets.VBox)
    assert ids(ex.selection) == ids(small_df)
    assert "9" in ex.count.value and "of 9 images" in ex.count.value


def test_imgframe_explore_is_exported():
    assert imgframe.explore is explore


def test_one_toggle_per_present_status_labelled_with_counts(small_df):
    ex = explore(small_df.query("status != 'DELETED'"), chart=False)
    labels = {s: b.description for s, b in ex.status_buttons.items()}
    assert labels == {"ACTIVE": "ACTIVE (4)", "SAVING": "SAVING (2)",
                      "UNKNOWN": "UNKNOWN (1)", "ERROR": "ERROR (1)"}
    assert not any(b.value for b in ex.status_buttons.values())
    # in the order and the colours of imgframe.status, as the charts and the report
    assert list(labels) == [s for s in status.ORDER if s in labels]
    assert {s: b.style.text_color for s, b in ex.status_buttons.items()} == {
        s: status.COLORS[s] for s in labels}


def test_status_toggles_select_like_filter_chips(small_df):
    ex = explore(small_df, chart=False)
    ex.status_buttons["SAVING"].value = True
    assert ids(ex.selection) == ["i3", "i5"]
    assert "<b>2</b> of 9" in ex.count.value
    ex.status_buttons["ERROR"].value = True
    assert ids(ex.selection) == ["i3", "i5", "i6"]
    ex.status_buttons["SAVING"].value = False
    ex.status_buttons["ERROR"].value = False
    assert len(ex.selection) == 9


@pytest.mark.parametrize("text, expected", [
    ("ubuntu-22.04", ["i1"]),                       # exact
    ("ubuntu-22.04*", ["i1", "i2"]),                 # glob
    ("/^ubuntu-2[02]/", ["i1", "i2", "i9"]),         # regex
    ("", ["i1", "i2", "i3", "i4", "i5", "i6", "i7", "i8", "i9"]),
    ("nothing-like-this", []),
])
def test_name_exact_glob_regex(small_df, text, expected):
    ex = explore(small_df, chart=False)
    ex.name.value = text
    assert ids(ex.selection) == expected
    assert ex.error is None and ex.name_message.value == ""


def test_invalid_regex_is_an_inline_message_not_an_exception(small_df):
    ex = explore(small_df, chart=False)
    ex.name.value = "ubuntu*"
    ex.name.value = "/ubuntu(/"
    assert "invalid regular expression" in ex.name_message.value
    assert "invalid regular expression" in ex.error
    ex.name.value = "/ubuntu/"
    assert ex.name_message.value == "" and ex.error is None
    assert len(ex.selection) == 4


@pytest.mark.parametrize("chart", [False, True])
def test_invalid_pattern_selects_nothing_and_disables_export(small_df, tmp_path, chart):
    path = tmp_path / "sel.csv"
    ex = explore(small_df, chart=chart, export_path=str(path))
    assert len(ex.selection) == len(small_df) and not ex.export_button.disabled
    ex.name.value = "/[/"
    assert "invalid regular expression" in ex.name_message.value
    # no valid selection: 0 rows with the frame's columns and dtypes, not the whole frame
    assert len(ex.selection) == 0
    assert list(ex.selection.columns) == list(small_df.columns)
    assert ex.selection.dtypes.equals(small_df.dtypes)
    assert "no valid selection" in ex.count.value
    assert f"{len(small_df):,} of" not in ex.count.value
    assert ex.export_button.disabled
    assert ex.export() is None and not path.exists()   # nothing written, said so
    assert "no valid selection" in ex.export_message.value
    ex.name.value = "ubuntu*"                      # fixed: everything comes back
    assert ex.error is None and not ex.export_button.disabled
    assert ids(ex.selection) == ["i1", "i2", "i3", "i9"]
    assert "<b>4</b> of 9 images" in ex.count.value
    assert ex.export() is not None and len(imgframe.read_csv(path)) == 4


def test_parse_name():
    assert parse_name("  ") is None
    assert parse_name("a*") == "a*"
    assert parse_name("/a.b/").pattern == "a.b"
    assert parse_name("/") == "/"
    with pytest.raises(re.error):
        parse_name("/(/")


def test_date_range_over_updated_days_inclusive(small_df):
    ex = explore(small_df, chart=False)
    labels = [label for label, _ in ex.dates.options]
    assert labels[0] == "2026-01-05" and labels[-1] == "2026-03-10"
    assert ex.dates.index == (0, len(labels) - 1)
    ex.dates.index = (labels.index("2026-01-20"), labels.index("2026-02-20"))
    # 2026-01-20 00:00 <= updated <= 2026-02-20 23:59:59.999...; no null updated
    assert ids(ex.selection) == ["i2", "i3", "i4", "i5"]
    assert ex.query()["since"] == ts("2026-01-20")
    assert ex.query()["until"] == ts("2026-02-21") - pd.Timedelta(1, "ns")
    assert ex.dates_label.value == "2026-01-20 – 2026-02-20"


def test_full_range_keeps_images_without_updated(small_df):
    ex = explore(small_df, chart=False)
    assert "i7" in ids(ex.selection)
    assert ex.query()["since"] is None and ex.query()["until"] is None


def test_created_switch_rebuilds_the_range(small_df):
    ex = explore(small_df, chart=False)
    ex.dates.index = (0, 0)
    assert ids(ex.selection) == ["i1"]
    ex.column.value = "created"
    labels = [label for label, _ in ex.dates.options]
    assert labels[0] == "2025-05-05" and labels[-1] == "2026-03-01"
    assert len(ex.selection) == 9                  # reset to the full range
    ex.dates.index = (labels.index("2026-02-01"), len(labels) - 1)
    assert ids(ex.selection) == ["i5", "i6", "i7"]


def test_controls_combine(small_df):
    ex = explore(small_df, chart=False)
    ex.status_buttons["ACTIVE"].value = True
    ex.name.value = "ubuntu*"
    labels = [label for label, _ in ex.dates.options]
    ex.dates.index = (labels.index("2026-01-06"), len(labels) - 1)
    expected = small_df.images.select(status="ACTIVE", name="ubuntu*",
                                      since="2026-01-06", until="2026-03-10T23:59:59")
    assert ids(ex.selection) == ids(expected) == ["i2", "i9"]


def test_table_is_readable_and_escaped(small_df):
    ex = explore(small_df, chart=False, rows=20)
    table = ex.table.value
    assert "<b>cmd" not in table and "=&lt;b&gt;cmd&lt;/b&gt;" in table
    assert "1.4 GiB" in table            # 1.5e9 bytes
    assert "2,048 MB" in table and "20 GB" in table
    assert "2026-01-05 12:00" in table
    assert ">ACTIVE</td>" in table and ">ERROR</td>" in table and "&lt;NA&gt;" not in table
    for column in ("name", "status", "updated", "min_ram", "min_disk", "size"):
        assert f">{column}</th>" in table
    ex.name.value = "nothing"
    assert "no images match" in ex.table.value
    small = explore(small_df, chart=False, rows=3)
    assert "and 6 more" in small.table.value


def test_human_bytes():
    assert human_bytes(0) == "0 B"
    assert human_bytes(1023) == "1023 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(5 * 1024**3) == "5.0 GiB"
    assert human_bytes(pd.NA) == "–"


def test_chart_is_one_persistent_png_and_no_pyplot_figures(small_df):
    import matplotlib.pyplot as plt

    ex = explore(small_df)
    first = ex.chart.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    figure = ex._figure
    ex.status_buttons["ACTIVE"].value = True
    assert ex.chart.value != first and ex.chart.value[:4] == b"\x89PNG"
    assert ex._figure is figure and len(figure.axes) >= 1
    assert plt.get_fignums() == []       # nothing for the inline backend to show twice
    ex.name.value = "nothing"
    assert ex.chart.value[:4] == b"\x89PNG"   # an empty selection still charts


def test_export_writes_safe_csv_and_says_where(small_df, tmp_path):
    ex = explore(small_df, chart=False, export_path=str(tmp_path / "out" / "sel.csv"))
    (tmp_path / "out").mkdir()
    ex.status_buttons["ERROR"].value = True
    ex.status_buttons["ACTIVE"].value = True
    ex.export_button.click()
    path = tmp_path / "out" / "sel.csv"
    assert str(path.resolve()) in ex.export_message.value
    assert "wrote 5 images" in ex.export_message.value
    text = path.read_text(encoding="utf-8")
    assert "'=<b>cmd" in text                # neutralised for spreadsheets
    back = imgframe.read_csv(path)
    assert ids(back) == ids(ex.selection)
    assert back.set_index("id").loc["i6", "name"] == "=<b>cmd</b>|' /C calc'!A0"


def test_export_to_a_bad_path_is_an_inline_message(small_df, tmp_path):
    ex = explore(small_df, chart=False, export_path=str(tmp_path / "missing" / "x.csv"))
    assert ex.export() is None
    assert "could not write" in ex.export_message.value


def test_empty_frame():
    ex = explore(empty_frame())
    assert ex.status_buttons == {}
    assert len(ex.selection) == 0 and ex.dates.disabled
    assert "<b>0</b> of 0" in ex.count.value
    ex.name.value = "x*"
    assert len(ex.selection) == 0


def big_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` synthetic images over two years, vectorised."""
    rng = np.random.default_rng(seed)
    statuses = np.array(["ACTIVE", "SAVING", "UNKNOWN", "ERROR", "DELETED"])
    base = pd.Timestamp("2024-06-01", tz=UTC).value
    span = 2 * 365 * 86400 * 10**9
    created = base + rng.integers(0, span, n)
    updated = created + rng.integers(0, 30 * 86400 * 10**9, n)
    distro = np.array(["ubuntu-22.04", "ubuntu-24.04", "debian-12", "rocky-9", "win-2022"])
    names = pd.array(
        np.char.add(distro[rng.integers(0, 5, n)], np.char.mod("-%06d", np.arange(n))),
        dtype="string")
    df = empty_frame().reindex(range(n))
    df["id"] = pd.array([f"{i:032x}" for i in range(n)], dtype="string")
    df["name"] = names
    df["status"] = pd.Categorical(statuses[rng.choice(5, n, p=[.8, .1, .04, .03, .03])],
                                  dtype=empty_frame()["status"].dtype)
    df["created"] = pd.to_datetime(created, utc=True).astype(df["created"].dtype)
    df["updated"] = pd.to_datetime(updated, utc=True).astype(df["updated"].dtype)
    for column in ("min_ram", "min_disk", "size"):
        df[column] = pd.array(rng.integers(0, 4096, n), dtype="Int64")
    return df


def test_responsive_on_100k_images(capsys):
    df = big_frame(100_000)
    started = time.perf_counter()
    ex = explore(df)
    build = time.perf_counter() - started
    assert ex.name.continuous_update is False and "Enter" in ex.name.placeholder
    assert explore(df.head(1000), chart=False).name.continuous_update is True
    assert explore(df.head(1000), chart=False, live=False).name.continuous_update is False
    timings = []
    ex.status_buttons["SAVING"].value = True
    timings.append(ex.last_update_seconds)
    ex.name.value = "ubuntu-2*"
    timings.append(ex.last_update_seconds)
    ex.name.value = "/^debian-12-0[0-4]/"
    timings.append(ex.last_update_seconds)
    n = len(ex.dates.options)
    ex.dates.index = (n // 4, n // 2)
    timings.append(ex.last_update_seconds)
    ex.column.value = "created"
    timings.append(ex.last_update_seconds)
    ex.status_buttons["SAVING"].value = False
    timings.append(ex.last_update_seconds)
    expected = df.images.select(name=re.compile("^debian-12-0[0-4]"), column="created")
    assert ids(ex.selection) == ids(expected)
    with capsys.disabled():
        print(f"\nexplorer on 100,000 images: build {build:.3f}s, updates "
              + ", ".join(f"{t:.3f}s" for t in timings))
    # generous for a busy CI box; typically 0.1-0.3 s per update, chart included
    assert sorted(timings)[len(timings) // 2] < 1.0, timings


def test_visibility_owner_and_tag_dropdowns_follow_select(small_df):
    df = small_df.copy()
    df["visibility"] = pd.array(["public", "private", "public", "shared", "community",
                                 "public", "private", None, "public"], dtype="string")
    df["owner"] = pd.array(["p1", "p2", "p1", "p1", "p3", "p2", "p2", None, "p1"],
                           dtype="string")
    df["tags"] = pd.Series([["lts"], ["lts", "gpu"], [], ["gpu"], None, [], ["lts"], [],
                            ["cis", "lts"]], dtype=object)
    ex = explore(df, chart=False)
    assert set(ex.facets) == {"visibility", "owner", "tag"}
    assert ex.facets["visibility"].options[1] == ("public (4)", "public")
    assert [v for _, v in ex.facets["tag"].options] == [None, "lts", "gpu", "cis"]
    ex.facets["visibility"].value = "public"
    assert ids(ex.selection) == ids(df.images.select(visibility="public"))
    ex.facets["tag"].value = "lts"
    assert ids(ex.selection) == ids(df.images.select(visibility="public", tag="lts")) \
        == ["i1", "i9"]
    ex.facets["owner"].value = "p1"
    ex.status_buttons["ACTIVE"].value = True
    assert ids(ex.selection) == ids(df.images.select(
        visibility="public", tag="lts", owner="p1", status="ACTIVE"))
    assert ex.query()["owner"] == "p1" and "count" not in ex.query()


def test_no_dropdowns_for_a_nova_frame(small_df):
    assert explore(small_df, chart=False).facets == {}
