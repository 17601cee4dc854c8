"""Charts of an image catalogue (matplotlib), in seaborn's habits.

Every function takes the data first and keyword-only options, draws on ``ax`` (a new
figure when ``None``), labels its axes with units, writes dates readably, and returns
the Axes. An empty frame gives an empty chart with a note, never an exception::

    from imgframe import plotting
    ax = plotting.status_plot(df)
    plotting.save(ax, "status.png")          # or ax.figure.savefig(...)
    plotting.trend_plot(imgframe.changes_since_trend(client, freq="W"))

matplotlib is imported only when a chart is drawn, so ``import imgframe`` stays light.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import imgframe.accessor  # noqa: F401  (registers df.images)
from imgframe.accessor import freq_name, normalize_freq
from imgframe.errors import InvalidQueryError
from imgframe.status import COLORS, ORDER

__all__ = ["STATUS_COLORS", "axes", "changes_plot", "date_axis", "date_nums", "integer_axis",
           "note", "plural", "requirements_plot", "save", "status_plot", "timeline_plot",
           "trend_plot"]

#: One colour per status, the same in every chart, the report and the explorer.
STATUS_COLORS = COLORS
_OTHER_COLOR = "#b5b5b5"
_OTHER = object()  # the "other" group of changes_plot (a real value could be "other")
_FIGSIZE = (8.0, 4.5)
_PERIOD_DAYS = {"D": 1, "W": 7, "M": 30.4, "Q": 91.3, "Y": 365.2}


# -- shared helpers -------------------------------------------------------------------------


def axes(ax):
    """``ax``, or the Axes of a new figure of the charts' size when it is None."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=_FIGSIZE, layout="constrained")
    return ax


def date_axis(axis) -> None:
    """Readable dates: automatic ticks, concise labels (``2026``, ``Feb``, ``Mar``...)."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=9)
    axis.set_major_locator(locator)
    axis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def date_nums(values) -> np.ndarray:
    """Datetimes (tz-aware UTC or naive UTC) as matplotlib date numbers (days)."""
    import matplotlib.dates as mdates

    index = pd.DatetimeIndex(values)
    if index.tz is not None:
        index = index.tz_convert(None)
    return mdates.date2num(index.to_numpy())


def integer_axis(axis) -> None:
    """Whole-number ticks with thousands separators."""
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter

    axis.set_major_locator(MaxNLocator(integer=True))
    axis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))


def note(ax, text: str) -> None:
    """Write a centred note on an empty chart."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            fontsize="large", color="0.4")


def _frame(df, parameter: str = "df") -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise InvalidQueryError(parameter, "a DataFrame of images from imgframe",
                                type(df).__name__)
    return df


def plural(n: int, word: str = "image") -> str:
    """``"1 image"``, ``"1,200 images"``."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def save(ax, path, *, dpi: int = 100, close: bool = True) -> Path:
    """Write the chart holding ``ax`` (an Axes or a Figure) to ``path``; return the path.

    The format follows the suffix (``.png``, ``.svg``, ``.pdf``). The figure is closed
    afterwards unless ``close=False``, so scripts drawing many charts do not leak memory.
    """
    figure = ax if hasattr(ax, "savefig") else ax.figure
    path = Path(path)
    figure.savefig(path, dpi=dpi)
    if close:
        import matplotlib.pyplot as plt

        plt.close(figure)
    return path


# -- charts ---------------------------------------------------------------------------------


def status_plot(df, *, ax=None, title: str | None = "Images per status",
                annotate: bool = True):
    """Bars of images per status (ACTIVE, SAVING, UNKNOWN, ERROR, DELETED; zeros kept).

    ``df``: a frame of images, or the Series ``df.images.status_counts()`` returns.
    ``annotate`` writes each count above its bar.
    """
    if isinstance(df, pd.Series):
        counts = df.reindex(list(ORDER), fill_value=0).astype("int64")
    else:
        counts = _frame(df).images.status_counts()
    ax = axes(ax)
    names = [str(s) for s in counts.index]
    bars = ax.bar(names, counts.to_numpy(), color=[COLORS[s] for s in names],
                  width=0.7)
    total = int(counts.sum())
    if annotate:
        ax.bar_label(bars, labels=[f"{v:,}" for v in counts], padding=2)
    ax.set_xlabel("status")
    ax.set_ylabel("images (count)")
    integer_axis(ax.yaxis)
    ax.set_ylim(0, max(1, counts.max()) * 1.12)
    if title:
        ax.set_title(f"{title} ({plural(total)})")
    if total == 0:
        note(ax, "no images")
    return ax


def changes_plot(df, *, freq: str = "W", by: str | None = None, column: str = "updated",
                 ax=None, title: str | None = None, max_groups: int = 8):
    """Images changed per period as bars, stacked by ``by`` (e.g. ``"status"``).

    Uses ``df.images.changes(freq, by, column)``: one bar per period (``D``, ``W``,
    ``M``, ``Q``, ``Y``; empty periods show as gaps at zero). With ``by`` on a column
    with more than ``max_groups`` values, the smaller ones are drawn together as
    "other (N)"; missing values are a group of their own, "(none)".
    ``column="created"`` charts images created instead. Images without that time are
    left out, and the chart says how many.
    """
    code = normalize_freq(freq)
    tidy = _frame(df).images.changes(code, by=by, column=column)
    word = freq_name(code)
    verb = "changed" if column == "updated" else "created"
    ax = axes(ax)
    ax.set_xlabel(f"{word} (start, UTC)")
    ax.set_ylabel(f"images {verb} per {word} (count)")
    ax.set_title(title if title is not None else
                 f"Images {verb} per {word}" + (f" by {by}" if by else "")
                 + f" ({plural(int(tidy['count'].sum()))})")
    integer_axis(ax.yaxis)
    left_out = tidy.attrs.get("left_out", 0)
    if left_out:
        ax.text(0.99, 0.97, f"{plural(left_out)} without an {column!r} time left out",
                transform=ax.transAxes, ha="right", va="top", fontsize="small",
                color="0.3", bbox={"facecolor": "white", "edgecolor": "0.8", "alpha": 0.9})
    if tidy.empty or tidy["count"].sum() == 0:
        note(ax, "no images with a time to chart")
        return ax
    periods = pd.DatetimeIndex(tidy["period"].drop_duplicates())
    x = date_nums(periods)
    width = _PERIOD_DAYS[code] * 0.85
    if by is None:
        ax.bar(x, tidy["count"].to_numpy(), width=width, align="edge", color="#3274c7",
               label="images")
    else:
        # changes() gives every (period, group) pair, period-major: a period x group grid.
        n_groups = len(tidy) // len(periods)
        grid = tidy["count"].to_numpy().reshape(len(periods), n_groups)
        groups = list(tidy[by].iloc[:n_groups])
        totals = grid.sum(axis=0)
        order = [i for i in range(n_groups) if totals[i] > 0]
        columns = [(groups[i], grid[:, i]) for i in order]
        if by != "status" and len(columns) > max_groups:
            order.sort(key=lambda i: -totals[i])          # stable: ties keep their order
            keep, rest = sorted(order[: max_groups - 1]), order[max_groups - 1:]
            columns = [(groups[i], grid[:, i]) for i in keep]
            columns.append((_OTHER, grid[:, rest].sum(axis=1)))
        bottom = np.zeros(len(periods))
        for group, values in columns:
            heights = values.astype(float)
            if group is _OTHER:
                label, color = f"other ({len(rest)})", _OTHER_COLOR
            else:
                label = "(none)" if pd.isna(group) else str(group)
                color = COLORS.get(label) if by == "status" else None
            ax.bar(x, heights, width=width, bottom=bottom, align="edge", label=label,
                   color=color)
            bottom += heights
        ax.legend(title=by, fontsize="small", loc="upper left")
    date_axis(ax.xaxis)
    ax.set_xlim(x[0] - width * 0.2, x[-1] + _PERIOD_DAYS[code] * 1.05)
    return ax


def trend_plot(trend, *, ax=None, title: str | None = "Images changed since each cutoff",
               label: str | None = None, marker: str = "o"):
    """The changes-since curve: images with ``updated >= cutoff`` against the cutoff.

    ``trend``: the tidy frame of ``imgframe.changes_since_trend`` or
    ``df.images.changed_since`` (``cutoff``, ``images``, optionally ``status``: one line
    per status). ``label`` names the single line in a legend (e.g. the cloud).
    """
    trend = _frame(trend, "trend")
    missing = [c for c in ("cutoff", "images") if c not in trend.columns]
    if missing:
        raise InvalidQueryError("trend", "a frame with columns cutoff, images (from "
                                "changes_since_trend or df.images.changed_since)",
                                f"a frame lacking {', '.join(missing)}")
    ax = axes(ax)
    ax.set_xlabel("cutoff (UTC)")
    ax.set_ylabel("images changed since cutoff (count)")
    if title:
        source = trend.attrs.get("imgframe_trend", {}).get("source")
        ax.set_title(title + (" (asked the server)" if source == "server" else ""))
    integer_axis(ax.yaxis)
    if trend.empty:
        note(ax, "no cutoffs")
        return ax
    if "status" in trend.columns:
        for status, group in trend.groupby("status", observed=True, sort=False):
            group = group.sort_values("cutoff")
            ax.plot(date_nums(group["cutoff"]), group["images"].to_numpy(), marker=marker,
                    markersize=4, label=str(status), color=COLORS.get(str(status)))
        ax.legend(title="status", fontsize="small")
    else:
        trend = trend.sort_values("cutoff")
        ax.plot(date_nums(trend["cutoff"]), trend["images"].to_numpy(), marker=marker,
                markersize=4, color="#3274c7", label=label or "images")
        if label:
            ax.legend(fontsize="small")
    ax.set_ylim(bottom=0, top=max(1, trend["images"].max()) * 1.08)
    date_axis(ax.xaxis)
    return ax


def timeline_plot(df, *, ax=None, title: str | None = "Created against last updated"):
    """Each image as a point: when it was created (x) against when it last changed (y),
    coloured by status, with the ``updated = created`` diagonal (never-changed images
    sit on it). Images without an ``updated`` time are counted in a note."""
    df = _frame(df)
    ax = axes(ax)
    ax.set_xlabel("created (UTC)")
    ax.set_ylabel("last updated (UTC)")
    created = pd.DatetimeIndex(pd.to_datetime(df["created"], utc=True))
    updated = pd.DatetimeIndex(pd.to_datetime(df["updated"], utc=True))
    ok = ~(created.isna() | updated.isna())
    if title:
        ax.set_title(f"{title} ({plural(int(ok.sum()))})")
    if not ok.any():
        note(ax, "no images" if len(df) == 0 else "no images with both times")
        return ax
    x, y = date_nums(created[ok]), date_nums(updated[ok])
    status = df.images._status_values().to_numpy(dtype=object, na_value=None)[ok]
    for s in ORDER:
        pick = status == s
        if pick.any():
            ax.plot(x[pick], y[pick], linestyle="none", marker="o", markersize=3,
                    alpha=0.6, color=COLORS[s], label=f"{s} ({pick.sum():,})",
                    rasterized=len(x) > 5000)
    low, high = min(x.min(), y.min()), max(x.max(), y.max())
    pad = max((high - low) * 0.03, 0.5)
    ax.plot([low - pad, high + pad], [low - pad, high + pad], color="0.6", linewidth=1,
            linestyle="--", label="never updated")
    ax.set_xlim(low - pad, high + pad)
    ax.set_ylim(low - pad, high + pad)
    date_axis(ax.xaxis)
    date_axis(ax.yaxis)
    ax.legend(title="status", fontsize="small", loc="upper left")
    missing = int((~ok).sum())
    if missing:
        ax.text(0.99, 0.01, f"{plural(missing)} without an updated time not shown",
                transform=ax.transAxes, ha="right", va="bottom", fontsize="small",
                color="0.4")
    return ax


def requirements_plot(df, *, ax=None, title: str | None = "Minimum RAM against minimum disk",
                      annotate: bool = True):
    """One circle per (min_ram, min_disk) pair, its area proportional to the number of
    images asking for it; ``annotate`` writes the count beside each circle (up to 60).

    The axes list the values that occur, evenly spaced and in order (requirements come
    in steps like 512, 1,024, 2,048 MB that a linear axis would crowd into a corner).
    """
    df = _frame(df)
    ax = axes(ax)
    ax.set_xlabel("min_ram (MB)")
    ax.set_ylabel("min_disk (GB)")
    pairs = df[["min_ram", "min_disk"]].dropna()
    counts = (pairs.groupby(["min_ram", "min_disk"], observed=True).size()
              .rename("images").reset_index())
    if title:
        ax.set_title(f"{title} ({plural(len(pairs))})")
    if counts.empty:
        note(ax, "no images" if len(df) == 0 else "no images with both requirements")
        return ax
    ram_values = np.unique(counts["min_ram"].to_numpy(dtype="int64"))
    disk_values = np.unique(counts["min_disk"].to_numpy(dtype="int64"))
    x = np.searchsorted(ram_values, counts["min_ram"].to_numpy(dtype="int64"))
    y = np.searchsorted(disk_values, counts["min_disk"].to_numpy(dtype="int64"))
    n = counts["images"].to_numpy()
    sizes = 30 + 900 * n / n.max()
    ax.scatter(x, y, s=sizes, color="#3274c7", alpha=0.55, edgecolor="#1d4f8f",
               linewidth=0.8)
    if annotate and len(counts) <= 60:
        for xi, yi, ni in zip(x, y, n, strict=True):
            ax.annotate(f"{ni:,}", (xi, yi), xytext=(7, 5), textcoords="offset points",
                        fontsize="x-small")
    for axis, values in ((ax.xaxis, ram_values), (ax.yaxis, disk_values)):
        step = max(1, int(np.ceil(len(values) / 16)))     # at most 16 tick labels
        ticks = np.arange(0, len(values), step)
        axis.set_ticks(ticks, labels=[f"{v:,}" for v in values[ticks]])
    ax.set_xlim(-0.7, len(ram_values) - 0.3)
    ax.set_ylim(-0.7, len(disk_values) - 0.3)
    ax.grid(True, color="0.92", linewidth=0.8)
    ax.set_axisbelow(True)
    dropped = len(df) - len(pairs)
    if dropped:
        ax.text(0.99, 0.01, f"{plural(dropped)} with an unknown requirement not shown",
                transform=ax.transAxes, ha="right", va="bottom", fontsize="small",
                color="0.4")
    return ax
