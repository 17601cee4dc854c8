"""Charts of an inventory over time (snapshots) and of a diff, in ``imgframe.plotting``'s habits.

Data first, keyword-only options, ``ax=None`` (a new figure), the Axes returned; an empty
input gives an empty chart with a note::

    from imgframe import history_plots
    history_plots.history_plot(store.history("status"))   # counts per snapshot, per status
    history_plots.changes_plot(store.changes())          # added/removed/modified per interval
    history_plots.diff_plot(imgframe.diff(old, new))     # one diff, per change and status
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imgframe.diff import CHANGES, diff_summary
from imgframe.errors import InvalidQueryError
from imgframe.plotting import (
    axes,
    date_axis,
    date_nums,
    integer_axis,
    note,
    plural,
)
from imgframe.status import COLORS

__all__ = ["CHANGE_COLORS", "changes_plot", "diff_plot", "history_plot"]

#: One colour per kind of change, the same in every chart.
CHANGE_COLORS = {"added": "#2a9d55", "removed": "#d1382e", "modified": "#e0a526"}


def _need(df, name: str, columns: tuple, where: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise InvalidQueryError(name, f"a DataFrame from {where}", type(df).__name__)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InvalidQueryError(name, f"a frame with columns {', '.join(columns)} (from "
                                f"{where})", f"a frame lacking {', '.join(missing)}")
    return df


def history_plot(history, *, ax=None, title: str | None = "Images per snapshot",
                 marker: str = "o"):
    """Images per snapshot over snapshot times: one line per value of the grouping column
    (``store.history("status")``, ``store.history("visibility")``...), or one total line
    (``store.history(None)``)."""
    history = _need(history, "history", ("taken_at", "images"), "SnapshotStore.history")
    by = next((c for c in history.columns if c not in ("taken_at", "snapshot_id", "images")),
              None)
    ax = axes(ax)
    ax.set_xlabel("snapshot taken (UTC)")
    ax.set_ylabel("images (count)")
    integer_axis(ax.yaxis)
    if title:
        ax.set_title(title + (f" by {by}" if by else ""))
    if history.empty:
        note(ax, "no snapshots")
        return ax
    if by is None:
        ax.plot(date_nums(history["taken_at"]), history["images"].to_numpy(), marker=marker,
                markersize=4, color="#3274c7", label="images")
    else:
        times = pd.DatetimeIndex(history["taken_at"].drop_duplicates().sort_values())
        x = date_nums(times)
        keys = history[by].astype(object).where(history[by].notna(), "(none)")
        for value in dict.fromkeys(keys.tolist()):
            pick = keys == value
            counts = (history[pick].groupby("taken_at")["images"].sum()
                      .reindex(times, fill_value=0))
            ax.plot(x, counts.to_numpy(), marker=marker, markersize=4, label=str(value),
                    color=COLORS.get(str(value)) if by == "status" else None)
        ax.legend(title=by, fontsize="small")
    ax.set_ylim(bottom=0, top=max(1, history.groupby("taken_at")["images"].sum().max()
                                  if by else history["images"].max()) * 1.08)
    date_axis(ax.xaxis)
    return ax


def changes_plot(changes, *, ax=None,
                 title: str | None = "Changes between consecutive snapshots"):
    """Bars of images added (up), removed (down) and modified (up, stacked on added) per
    interval between snapshots, from ``store.changes()``, at each later snapshot's time."""
    changes = _need(changes, "changes", ("taken_at",) + CHANGES, "SnapshotStore.changes")
    ax = axes(ax)
    ax.set_xlabel("snapshot taken (UTC)")
    ax.set_ylabel("images per interval (count; removed below 0)")
    integer_axis(ax.yaxis)
    total = int(changes[list(CHANGES)].to_numpy().sum()) if len(changes) else 0
    if title:
        ax.set_title(f"{title} ({plural(total, 'change')})")
    if changes.empty:
        note(ax, "fewer than two comparable snapshots")
        return ax
    x = np.arange(len(changes))
    added = changes["added"].to_numpy(dtype=float)
    modified = changes["modified"].to_numpy(dtype=float)
    removed = changes["removed"].to_numpy(dtype=float)
    ax.bar(x, added, color=CHANGE_COLORS["added"], label="added", width=0.7)
    ax.bar(x, modified, bottom=added, color=CHANGE_COLORS["modified"], label="modified",
           width=0.7)
    ax.bar(x, -removed, color=CHANGE_COLORS["removed"], label="removed", width=0.7)
    ax.axhline(0, color="0.3", linewidth=0.8)
    labels = [f"{t:%Y-%m-%d}\n{t:%H:%M}" for t in pd.DatetimeIndex(changes["taken_at"])]
    step = max(1, int(np.ceil(len(x) / 12)))
    ax.set_xticks(x[::step], labels=labels[::step], fontsize="small")
    ax.legend(fontsize="small", loc="upper left")
    return ax


def diff_plot(d, *, by: str = "status", ax=None, title: str | None = "What changed"):
    """Horizontal bars: images added, removed and modified, stacked by ``by`` (status)."""
    tidy = diff_summary(d, by=by)
    ax = axes(ax)
    ax.set_xlabel("images (count)")
    ax.set_ylabel("change")
    integer_axis(ax.xaxis)
    total = int(tidy["images"].sum())
    if title:
        ax.set_title(f"{title} ({plural(total)})")
    names = list(CHANGES)
    y = np.arange(len(names))
    left = np.zeros(len(names))
    values = tidy[by].astype(object).where(tidy[by].notna(), "(none)")
    for value in dict.fromkeys(values.tolist()):
        counts = (tidy[values == value].groupby("change", observed=False)["images"].sum()
                  .reindex(names, fill_value=0).to_numpy(dtype=float))
        if not counts.any():
            continue
        ax.barh(y, counts, left=left, label=str(value), height=0.6,
                color=COLORS.get(str(value)) if by == "status" else None)
        left += counts
    ax.set_yticks(y, labels=names)
    ax.invert_yaxis()
    if total == 0:
        note(ax, "no changes")
    else:
        ax.legend(title=by, fontsize="small", loc="lower right")
    return ax
