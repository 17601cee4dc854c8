"""Charts: contents checked on the returned Axes, and written PNGs opened and checked."""

import ast
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from test_accessor import fixed_frame

from imgframe import plotting
from imgframe.errors import InvalidQueryError


@pytest.fixture
def df():
    return fixed_frame()


def heights(ax):
    return [p.get_height() for p in ax.patches]


def texts(ax):
    return [t.get_text() for t in ax.texts]


def legend_labels(ax):
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def num(*days):
    return list(mdates.date2num(pd.DatetimeIndex(days).to_numpy()))


def assert_png(path, width=800, height=450):
    image = mpimg.imread(path)
    assert image.shape[:2] == (height, width)
    pixels = image[..., :3].reshape(-1, 3)
    assert pixels.std() > 0.05                           # not blank
    assert len(np.unique(pixels.round(2), axis=0)) > 20  # text, bars, axes...


def test_module_imports_no_matplotlib_at_import_time():
    """Charts import matplotlib when drawing, so ``import imgframe`` stays light."""
    tree = ast.parse(Path(plotting.__file__).read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top for a in n.names] + [n.module or "" for n in top
                                                      if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n.startswith("matplotlib")]


# -- status_plot ----------------------------------------------------------------------------


def test_status_plot_bars_labels_and_given_axes(df):
    _, ax1 = plt.subplots()
    ax = plotting.status_plot(df, ax=ax1)
    assert ax is ax1
    assert heights(ax) == [5, 2, 1, 1, 1]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "ACTIVE", "SAVING", "UNKNOWN", "ERROR", "DELETED"]
    assert ax.get_xlabel() == "status"
    assert ax.get_ylabel() == "images (count)"
    assert ax.get_title() == "Images per status (10 images)"
    assert texts(ax) == ["5", "2", "1", "1", "1"]
    assert ax.patches[0].get_facecolor()[:3] != ax.patches[3].get_facecolor()[:3]


def test_status_plot_accepts_counts_series(df):
    ax = plotting.status_plot(df.images.status_counts().iloc[:2], annotate=False, title=None)
    assert heights(ax) == [5, 2, 0, 0, 0]
    assert ax.get_title() == ""


def test_status_plot_empty(df, tmp_path):
    ax = plotting.status_plot(df.iloc[:0])
    assert heights(ax) == [0, 0, 0, 0, 0]
    assert "no images" in texts(ax)
    assert_png(plotting.save(ax, tmp_path / "empty.png"))


def test_status_plot_png(df, tmp_path):
    path = plotting.save(plotting.status_plot(df), tmp_path / "status.png")
    assert path == tmp_path / "status.png"
    assert_png(path)
    assert plt.get_fignums() == []            # save closed the figure


# -- changes_plot ---------------------------------------------------------------------------


def test_changes_plot_monthly_bars_on_a_date_axis(df):
    ax = plotting.changes_plot(df, freq="M")
    assert heights(ax) == [2, 3, 3, 1]
    assert [p.get_x() for p in ax.patches] == num("2026-01-01", "2026-02-01", "2026-03-01",
                                                  "2026-04-01")
    assert ax.get_ylabel() == "images changed per month (count)"
    assert ax.get_xlabel() == "month (start, UTC)"
    assert ax.get_title() == "Images changed per month (9 images)"
    assert isinstance(ax.xaxis.get_major_formatter(), mdates.ConciseDateFormatter)


def test_changes_plot_weekly_zero_weeks_are_zero_bars(df):
    ax = plotting.changes_plot(df)
    assert heights(ax) == [1, 0, 1, 0, 1, 2, 0, 1, 1, 0, 0, 0, 2]


def test_changes_plot_stacked_by_status(df):
    ax = plotting.changes_plot(df, freq="M", by="status")
    assert legend_labels(ax) == ["ACTIVE", "SAVING", "ERROR", "DELETED"]  # zero groups hidden
    bars = np.array(heights(ax)).reshape(4, 4)       # group x month
    assert bars.tolist() == [[1, 2, 1, 1], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
    tops = np.array([p.get_y() + p.get_height() for p in ax.patches]).reshape(4, 4)
    assert tops[-1].tolist() == [2, 3, 3, 1]          # stacks reach each month's total
    assert ax.get_title() == "Images changed per month by status (9 images)"


def test_changes_plot_many_groups_lumped_as_other(df):
    ax = plotting.changes_plot(df, freq="Y", by="name", max_groups=3)
    labels = legend_labels(ax)
    assert len(labels) == 3 and labels[-1] == "other (7)"
    assert sum(heights(ax)) == 9


def test_changes_plot_missing_values_are_a_group(df):
    ax = plotting.changes_plot(df, freq="M", by="disk_config")
    assert legend_labels(ax) == ["AUTO", "(none)"]
    assert np.array(heights(ax)).reshape(2, 4).tolist() == [[1, 1, 0, 0], [1, 2, 3, 1]]


def test_changes_plot_created_and_empty(df, tmp_path):
    ax = plotting.changes_plot(df, freq="Q", column="created")
    assert heights(ax) == [1, 8, 1]                   # 2025Q4, 2026Q1, 2026Q2
    assert ax.get_ylabel() == "images created per quarter (count)"
    empty = plotting.changes_plot(df.iloc[:0], by="status")
    assert "no images with a time to chart" in texts(empty)
    assert_png(plotting.save(ax, tmp_path / "changes.png"))


def test_changes_plot_rejects_bad_freq(df):
    with pytest.raises(InvalidQueryError, match="freq"):
        plotting.changes_plot(df, freq="hourly")


# -- trend_plot -----------------------------------------------------------------------------

CUTOFFS = ["2026-01-01", "2026-02-02", "2026-03-01", "2026-04-01", "2026-05-01"]


def test_trend_plot_line_data_and_labels(df, tmp_path):
    trend = df.images.changed_since(CUTOFFS)
    _, ax1 = plt.subplots(figsize=(8, 4.5))
    ax = plotting.trend_plot(trend, ax=ax1)
    assert ax is ax1
    (line,) = ax.lines
    assert list(line.get_ydata()) == [9, 7, 4, 1, 0]
    assert list(line.get_xdata()) == num(*CUTOFFS)
    assert ax.get_xlabel() == "cutoff (UTC)"
    assert ax.get_ylabel() == "images changed since cutoff (count)"
    assert ax.get_title() == "Images changed since each cutoff"
    assert ax.get_ylim()[0] == 0
    assert_png(plotting.save(ax, tmp_path / "trend.png"))


def test_trend_plot_per_status_and_server_source(df):
    trend = df.images.changed_since(CUTOFFS, status=["active", "saving"])
    trend.attrs["imgframe_trend"] = {"source": "server"}
    ax = plotting.trend_plot(trend, label="ignored with status")
    assert [line.get_label() for line in ax.lines] == ["ACTIVE", "SAVING"]
    assert list(ax.lines[0].get_ydata()) == [5, 4, 2, 1, 0]
    assert list(ax.lines[1].get_ydata()) == [2, 1, 1, 0, 0]
    assert ax.get_title().endswith("(asked the server)")


def test_trend_plot_empty_and_wrong_frame(df):
    ax = plotting.trend_plot(df.images.changed_since([]))
    assert "no cutoffs" in texts(ax)
    with pytest.raises(InvalidQueryError, match="trend"):
        plotting.trend_plot(df)


# -- timeline_plot, requirements_plot -------------------------------------------------------


def test_timeline_plot_points_per_status_and_diagonal(df, tmp_path):
    ax = plotting.timeline_plot(df)
    points = {line.get_label(): len(line.get_xdata()) for line in ax.lines}
    assert points == {"ACTIVE (5)": 5, "SAVING (2)": 2, "ERROR (1)": 1, "DELETED (1)": 1,
                      "never updated": 2}
    active = ax.lines[0]
    assert active.get_xdata()[0] == num("2026-01-05 09:00")[0]
    assert active.get_ydata()[0] == num("2026-01-05 10:00")[0]
    assert ax.get_xlabel() == "created (UTC)" and ax.get_ylabel() == "last updated (UTC)"
    assert "1 image without an updated time not shown" in texts(ax)
    assert ax.get_title() == "Created against last updated (9 images)"
    assert_png(plotting.save(ax, tmp_path / "timeline.png"))
    assert "no images" in texts(plotting.timeline_plot(df.iloc[:0]))


def test_requirements_plot_sized_by_count(df, tmp_path):
    ax = plotting.requirements_plot(df)
    (points,) = ax.collections
    offsets = {tuple(xy): size for xy, size in zip(points.get_offsets().tolist(),
                                                   points.get_sizes(), strict=True)}
    assert len(offsets) == 8                              # 9 images, (0, 0) twice
    xs = [t.get_text() for t in ax.get_xticklabels()]
    ys = [t.get_text() for t in ax.get_yticklabels()]
    assert xs == ["0", "512", "1,024", "2,048", "4,096"]  # values that occur, evenly spaced
    assert ys == ["0", "5", "8", "10", "20", "40", "80"]
    assert max(offsets, key=offsets.get) == (0, 0)        # (0 MB, 0 GB): 2 images
    assert offsets[(0, 0)] > offsets[(4, 6)]              # (4,096 MB, 80 GB): 1 image
    assert (1, 1) in offsets and (1, 3) in offsets        # 512 MB with 5 and 10 GB
    assert sorted(texts(ax)) == sorted(["2"] + ["1"] * 7 +
                                       ["1 image with an unknown requirement not shown"])
    assert ax.get_xlabel() == "min_ram (MB)" and ax.get_ylabel() == "min_disk (GB)"
    assert_png(plotting.save(ax, tmp_path / "requirements.png"))
    assert "no images" in texts(plotting.requirements_plot(df.iloc[:0]))


def test_plots_refuse_non_frames():
    with pytest.raises(InvalidQueryError, match="df="):
        plotting.timeline_plot([1, 2, 3])


def test_changes_plot_by_unhashable_column_is_a_clear_error(df):
    with pytest.raises(InvalidQueryError, match=r"by='metadata': column 'metadata' holds "
                       r"dict values.*e\.g\. 'status', 'disk_config', 'server_id'"):
        plotting.changes_plot(df, by="metadata")
    plt.close("all")
