"""Charts over time stay readable: capped groups, refused dict/list columns, a time axis
that reads right at any spacing, and a note on the images a chart leaves out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imgframe
from imgframe import history_plots, plotting

BASE = pd.Timestamp("2026-03-04 10:00:00", tz="UTC")


def history_table(times, names=25) -> pd.DataFrame:
    """``store.history("name")``'s shape: image-j has j + 1 images in every snapshot."""
    return pd.DataFrame([{"taken_at": t, "snapshot_id": f"s{i}", "name": f"image-{j}",
                          "images": j + 1}
                         for i, t in enumerate(times) for j in range(names)])


def test_history_plot_draws_the_largest_groups_and_one_other():
    table = history_table([BASE, BASE + pd.Timedelta(hours=1)])
    ax = history_plots.history_plot(table, max_groups=6)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == [f"image-{j}" for j in range(20, 25)] + ["other (20)"]
    per_snapshot = sum(line.get_ydata() for line in ax.get_lines())
    assert per_snapshot.tolist() == [table["images"].sum() / 2] * 2   # nothing lost
    assert "largest 5 of 25" in ax.get_legend().get_title().get_text()
    # at most max_groups: all of them, no "other"
    few = history_table([BASE], names=4)
    assert len(history_plots.history_plot(few, max_groups=4).get_lines()) == 4
    # the default keeps a legend readable
    many = history_table([BASE], names=4000)
    assert len(history_plots.history_plot(many).get_lines()) == history_plots.MAX_GROUPS


@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, "10", True, None])
def test_max_groups_must_be_an_integer_of_two_or_more(bad):
    with pytest.raises(imgframe.InvalidQueryError, match="max_groups"):
        history_plots.history_plot(history_table([BASE]), max_groups=bad)


def test_dict_and_list_columns_are_refused_before_charting():
    frame = pd.DataFrame({"status": ["ACTIVE"], "metadata": [{"a": "1"}], "tags": [["x"]],
                          "visibility": ["public"]})
    for column, kind in (("metadata", "dict"), ("tags", "list")):
        with pytest.raises(imgframe.InvalidQueryError, match=f"holds {kind} values") as info:
            history_plots.check_group_column(frame, column)
        assert "'status'" in str(info.value)          # says what would work
    with pytest.raises(imgframe.InvalidQueryError, match="no such column"):
        history_plots.check_group_column(frame, "colour")
    history_plots.check_group_column(frame, "visibility")
    history_plots.check_group_column(frame, None)
    table = pd.DataFrame({"taken_at": [BASE], "snapshot_id": ["s"], "metadata": [{"a": 1}],
                          "images": [1]})
    with pytest.raises(imgframe.InvalidQueryError, match="dict"):
        history_plots.history_plot(table)


def _tick_labels(ax) -> list[str]:
    ax.figure.canvas.draw()
    return [t.get_text() for t in ax.get_xticklabels() if t.get_text()]


@pytest.mark.parametrize("step, expect", [
    (pd.Timedelta(seconds=3), "10:00:05"),           # seconds apart: seconds on the ticks
    (pd.Timedelta(hours=5), "12:00"),                 # hours apart: hours
    (pd.DateOffset(months=1), "Apr"),                 # months apart: months
])
def test_the_time_axis_reads_right_at_any_spacing(step, expect):
    times = [BASE + step * i for i in range(5)]
    ax = history_plots.history_plot(history_table(times, names=3))
    labels = _tick_labels(ax)
    assert any(expect in label for label in labels), labels
    lo, hi = ax.get_xlim()
    span = (times[-1] - times[0]).total_seconds() / 86400
    assert span < hi - lo < span * 1.5          # the snapshots fill the width


def test_a_single_snapshot_gets_a_minute_either_side():
    ax = history_plots.history_plot(history_table([BASE], names=2))
    lo, hi = ax.get_xlim()
    assert np.isclose((hi - lo) * 1440, 2)
    assert any("10:00:00" in label for label in _tick_labels(ax))


def test_diff_plot_caps_its_stacks():
    rows = 30
    d = pd.DataFrame({"id": [f"i{k}" for k in range(rows)],
                      "change": pd.Categorical(["added"] * rows,
                                               categories=["added", "removed", "modified"]),
                      "name": [f"n{k % 15}" for k in range(rows)],
                      "status": ["ACTIVE"] * rows})
    d.attrs["imgframe_diff"] = {"counts": {"added": rows, "removed": 0, "modified": 0}}
    try:
        ax = history_plots.diff_plot(d, by="name", max_groups=4)
    except imgframe.InvalidQueryError:
        pytest.skip("diff_summary wants a frame from imgframe.diff")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 4 and labels[-1] == "other (12)"


def test_changes_say_how_many_images_they_leave_out():
    df = pd.DataFrame({
        "id": ["a", "b", "c", "d"], "name": ["a", "b", "c", "d"],
        "status": pd.Categorical(["ACTIVE"] * 4),
        "created": pd.to_datetime(["2026-01-01"] * 4, utc=True),
        "updated": pd.to_datetime(["2026-01-05", "2026-02-03", None, None], utc=True)})
    tidy = df.images.changes("M")
    assert "images" not in tidy.columns and list(tidy.columns) == ["period", "count"]
    assert tidy.attrs["left_out"] == 2
    ax = plotting.changes_plot(df, freq="M")
    notes = [t.get_text() for t in ax.texts]
    assert "2 images without an 'updated' time left out" in notes
    complete = df.dropna(subset=["updated"])
    assert not [t for t in plotting.changes_plot(complete, freq="M").texts
                if "left out" in t.get_text()]
