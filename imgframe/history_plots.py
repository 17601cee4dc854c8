"""Charts of an inventory over time (snapshots) and of a diff, in ``imgframe.plotting``'s habits.

Data first, keyword-only options, ``ax=None`` (a new figure), the Axes returned; an empty
input gives an empty chart with a note::

    from imgframe import history_plots
    history_plots.history_plot(store.history("status"))   # counts per snapshot, per status
    history_plots.changes_plot(store.changes())          # added/removed/modified per interval
    history_plots.diff_plot(imgframe.diff(old, new))     # one diff, per change and status

A chart draws at most ``max_groups`` groups: the largest, and the rest together as
"other (N)". A grouping column of dicts or lists is refused (:func:`check_group_column`
says so before anything is read).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imgframe.diff import CHANGES, diff_summary
from imgframe.errors import InvalidQueryError
from imgframe.plotting import (
    axes,
    date_nums,
    integer_axis,
    note,
    plural,
)
from imgframe.status import COLORS

__all__ = ["CHANGE_COLORS", "MAX_GROUPS", "changes_plot", "check_group_column", "diff_plot",
           "history_plot"]

#: One colour per kind of change, the same in every chart.
CHANGE_COLORS = {"added": "#2a9d55", "removed": "#d1382e", "modified": "#e0a526"}
#: Groups a chart draws by default: the largest, the rest together as "other (N)".
MAX_GROUPS = 10
_OTHER_COLOR = "#b5b5b5"


def check_group_column(frame: pd.DataFrame, by: str | None, *, parameter: str = "by") -> None:
    """Refuse ``by`` unless it is a column of ``frame`` holding plain values (not dicts or
    lists, which cannot be counted per value): call it with one snapshot before charting
    a store's history, so a wrong column fails at once rather than after reading them all.

    >>> check_group_column(pd.DataFrame({"tags": [["a"]]}), "tags")
    Traceback (most recent call last):
    ...
    imgframe.errors.InvalidQueryError: by='tags': column 'tags' holds list values, ...
    """
    if by is None:
        return
    plain = [c for c in frame.columns if _container_kind(frame[c]) is None]
    first = [c for c in ("status", "visibility", "disk_format", "os_type") if c in plain]
    allowed = ("None or a column with plain values, e.g. "
               + ", ".join(repr(c) for c in (first + [c for c in plain if c not in first])[:10]))
    if by not in frame.columns:
        raise InvalidQueryError(parameter, allowed, by, reason="there is no such column")
    kind = _container_kind(frame[by])
    if kind:
        raise InvalidQueryError(parameter, allowed, by, reason=f"column {by!r} holds {kind} "
                                "values, which cannot be counted per value")


def _container_kind(series: pd.Series) -> str | None:
    if series.dtype != object:
        return None
    for value in series.tolist():
        if isinstance(value, dict | list | set | tuple | np.ndarray):
            return type(value).__name__
    return None


def _check_max_groups(max_groups) -> int:
    if isinstance(max_groups, bool) or not isinstance(max_groups, int | np.integer) \
            or max_groups < 2:
        raise InvalidQueryError("max_groups", "an integer >= 2 (the largest groups drawn, the "
                                "rest as one 'other')", max_groups)
    return int(max_groups)


def _capped(totals: pd.Series, max_groups: int) -> tuple[list, list]:
    """(values to draw, values drawn together as "other"): all of them when there are at
    most ``max_groups``, else the ``max_groups - 1`` largest (ties in first-seen order)."""
    values = list(totals.index)
    if len(values) <= max_groups:
        return values, []
    order = sorted(range(len(values)), key=lambda i: -totals.iloc[i])
    keep = sorted(order[: max_groups - 1])
    return [values[i] for i in keep], [values[i] for i in order[max_groups - 1:]]


def _snapshot_time_axis(ax, x: np.ndarray) -> None:
    """Date ticks that read right whether snapshots are seconds, hours or months apart,
    and a sensible window around a single snapshot (one minute each side)."""
    import matplotlib.dates as mdates

    lo, hi = float(np.min(x)), float(np.max(x))
    span = hi - lo                              # days
    pad = max(span * 0.06, 1 / 86400) if span else 1 / 1440    # >= 1 s; 1 min if alone
    ax.set_xlim(lo - pad, hi + pad)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    # seconds read 10:00:05, not a bare "05"
    formatter = mdates.ConciseDateFormatter(
        locator, show_offset=True,
        formats=["%Y", "%b", "%d", "%H:%M", "%H:%M", "%H:%M:%S"],
        zero_formats=["", "%Y", "%b", "%b-%d", "%H:%M", "%H:%M:%S"])
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(formatter)


def _need(df, name: str, columns: tuple, where: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise InvalidQueryError(name, f"a DataFrame from {where}", type(df).__name__)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InvalidQueryError(name, f"a frame with columns {', '.join(columns)} (from "
                                f"{where})", f"a frame lacking {', '.join(missing)}")
    return df


def history_plot(history, *, ax=None, title: str | None = "Images per snapshot",
                 marker: str = "o", max_groups: int = MAX_GROUPS):
    """Images per snapshot over snapshot times: one line per value of the grouping column
    (``store.history("status")``, ``store.history("visibility")``...), or one total line
    (``store.history(None)``). With more than ``max_groups`` values, the largest
    ``max_groups - 1`` (most images over all snapshots) get a line each and the rest one
    line together, "other (N)"."""
    history = _need(history, "history", ("taken_at", "images"), "SnapshotStore.history")
    max_groups = _check_max_groups(max_groups)
    by = next((c for c in history.columns if c not in ("taken_at", "snapshot_id", "images")),
              None)
    if by is not None:
        check_group_column(history, by, parameter="history")
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
        keys = history[by].astype(object).where(history[by].notna(), "(none)").map(str)
        totals = history.groupby(keys, sort=False)["images"].sum()
        drawn, rest = _capped(totals, max_groups)
        lines = [(value, keys == value, COLORS.get(value) if by == "status" else None)
                 for value in drawn]
        if rest:
            lines.append((f"other ({len(rest)})", keys.isin(rest), _OTHER_COLOR))
        for label, pick, color in lines:
            counts = (history[pick].groupby("taken_at")["images"].sum()
                      .reindex(times, fill_value=0))
            ax.plot(x, counts.to_numpy(), marker=marker, markersize=4, label=label,
                    color=color)
        ax.legend(title=by + (f" (largest {len(drawn)} of {len(totals)})" if rest else ""),
                  fontsize="small")
    ax.set_ylim(bottom=0, top=max(1, history.groupby("taken_at")["images"].sum().max()
                                  if by else history["images"].max()) * 1.08)
    _snapshot_time_axis(ax, date_nums(history["taken_at"]))
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


def diff_plot(d, *, by: str = "status", ax=None, title: str | None = "What changed",
              max_groups: int = MAX_GROUPS):
    """Horizontal bars: images added, removed and modified, stacked by ``by`` (status);
    beyond ``max_groups`` values of ``by``, the smaller ones stack as "other (N)"."""
    max_groups = _check_max_groups(max_groups)
    if isinstance(d, pd.DataFrame) and by in d.columns:
        check_group_column(d, by)
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
    values = tidy[by].astype(object).where(tidy[by].notna(), "(none)").map(str)
    totals = tidy.groupby(values, sort=False)["images"].sum()
    totals = totals[totals > 0]
    drawn, rest = _capped(totals, max_groups)
    stacks = [(value, values == value, COLORS.get(value) if by == "status" else None)
              for value in drawn]
    if rest:
        stacks.append((f"other ({len(rest)})", values.isin(rest), _OTHER_COLOR))
    for label, pick, color in stacks:
        counts = (tidy[pick].groupby("change", observed=False)["images"].sum()
                  .reindex(names, fill_value=0).to_numpy(dtype=float))
        ax.barh(y, counts, left=left, label=label, height=0.6, color=color)
        left += counts
    ax.set_yticks(y, labels=names)
    ax.invert_yaxis()
    if total == 0:
        note(ax, "no changes")
    else:
        ax.legend(title=by, fontsize="small", loc="lower right")
    return ax
