"""Charts of a usage frame (:func:`imgframe.usage`), in :mod:`imgframe.plotting`'s habits:
data first, keyword-only options, ``ax=None`` draws a new figure, the Axes is returned::

    from imgframe import usage_plots
    u = imgframe.usage(images, servers, volumes)
    usage_plots.usage_plot(u)                 # images per verdict, stacked by kind
    usage_plots.storage_plot(u)               # bytes per verdict

The verdict colours (:data:`VERDICT_COLORS`) are the same in these charts, the report and
the dashboard. ``unknown`` is grey on purpose: it is not ``unused``. Pure: matplotlib is
imported only when a chart is drawn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imgframe.errors import InvalidQueryError
from imgframe.plotting import axes, integer_axis, note, plural

__all__ = ["KIND_COLORS", "VERDICTS", "VERDICT_COLORS", "human_bytes", "reason_counts",
           "scope_summary", "storage_plot", "usage_plot", "verdict_counts"]

#: the verdicts, in the order people read them (as :data:`imgframe.usage.VERDICTS`)
VERDICTS = ("in use", "unused", "unknown")
#: one colour per verdict, the same in every chart, the report and the dashboard
VERDICT_COLORS = {"in use": "#2a9d55", "unused": "#d1382e", "unknown": "#8c8c8c"}
#: one colour per kind (:data:`imgframe.kinds.IMAGE_KINDS`)
KIND_COLORS = {"image": "#3274c7", "snapshot": "#e09a2b", "backup": "#7b5ea7",
               "volume-backed snapshot": "#2aa1a6", "shelved-server image": "#a15d3a"}
_OTHER_COLOR = "#b5b5b5"
_BY = ("kind", "visibility", None)
_UNITS = ((1024 ** 4, "TiB"), (1024 ** 3, "GiB"), (1024 ** 2, "MiB"), (1024, "KiB"), (1, "B"))


def _usage_frame(frame, parameter: str = "usage_frame") -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame) or "verdict" not in frame.columns:
        got = type(frame).__name__ if not isinstance(frame, pd.DataFrame) else \
            "a DataFrame without a 'verdict' column"
        raise InvalidQueryError(parameter, "the frame imgframe.usage() returns", got)
    return frame


def _verdicts(frame: pd.DataFrame) -> pd.Series:
    return frame["verdict"].astype("string")


def human_bytes(n: float) -> str:
    """``"1.5 GiB"``, ``"0 B"``."""
    for factor, unit in _UNITS:
        if abs(n) >= factor:
            return f"{n / factor:,.1f} {unit}" if factor > 1 else f"{int(n):,} B"
    return "0 B"


def usage_plot(usage_frame, *, by: str | None = "kind", ax=None,
               title: str | None = "Images per verdict", annotate: bool = True):
    """Bars of images per verdict (``in use``, ``unused``, ``unknown``; zeros kept), each
    stacked by ``by`` (``"kind"``, ``"visibility"`` or ``None`` for plain bars).

    ``annotate`` writes each verdict's total above its bar. A legend names the groups.
    """
    frame = _usage_frame(usage_frame)
    if by not in _BY:
        raise InvalidQueryError("by", "one of 'kind', 'visibility' or None", repr(by))
    ax = axes(ax)
    verdicts = _verdicts(frame)
    totals = verdicts.value_counts().reindex(list(VERDICTS), fill_value=0).astype("int64")
    x = np.arange(len(VERDICTS))
    if by is None:
        bars = ax.bar(list(VERDICTS), totals.to_numpy(), width=0.7,
                      color=[VERDICT_COLORS[v] for v in VERDICTS])
    else:
        groups = frame[by].astype("string").fillna("(none)") if by in frame.columns else \
            pd.Series("(none)", index=frame.index, dtype="string")
        table = pd.crosstab(verdicts, groups).reindex(list(VERDICTS), fill_value=0)
        order = [k for k in KIND_COLORS if k in table.columns] if by == "kind" else []
        order += sorted(c for c in table.columns if c not in order)
        bottom = np.zeros(len(VERDICTS))
        bars = None
        for group in order:
            values = table[group].to_numpy().astype(float)
            if not values.any():
                continue
            bars = ax.bar(x, values, bottom=bottom, width=0.7, label=str(group),
                          color=KIND_COLORS.get(group, _OTHER_COLOR) if by == "kind"
                          else None, edgecolor="white", linewidth=0.5)
            bottom += values
        ax.set_xticks(x, list(VERDICTS))
        for tick, verdict in zip(ax.get_xticklabels(), VERDICTS, strict=True):
            tick.set_color(VERDICT_COLORS[verdict])
        if bars is not None:
            ax.legend(title=by, loc="upper right", fontsize="small")
    if annotate:
        top = max(1, int(totals.max()))
        for i, v in enumerate(totals):
            ax.text(i, v + top * 0.01, f"{v:,}", ha="center", va="bottom")
    ax.set_xlabel("verdict")
    ax.set_ylabel("images (count)")
    integer_axis(ax.yaxis)
    ax.set_ylim(0, max(1, int(totals.max())) * 1.15)
    if title:
        ax.set_title(f"{title}" + (f" by {by}" if by else "") + f" ({plural(len(frame))})")
    if len(frame) == 0:
        note(ax, "no images")
    return ax


def storage_plot(usage_frame, *, ax=None, title: str | None = "Storage per verdict",
                 annotate: bool = True):
    """Bars of image bytes (``size``) per verdict. Images without a size count as 0 and
    the chart says how many there were."""
    frame = _usage_frame(usage_frame)
    ax = axes(ax)
    verdicts = _verdicts(frame)
    size = pd.to_numeric(frame["size"], errors="coerce") if "size" in frame.columns else \
        pd.Series(np.nan, index=frame.index)
    sums = size.fillna(0).groupby(verdicts.to_numpy()).sum()
    sums = sums.reindex(list(VERDICTS), fill_value=0).astype("float64")
    factor, unit = next(((f, u) for f, u in _UNITS if sums.max() >= f), (1, "B"))
    bars = ax.bar(list(VERDICTS), (sums / factor).to_numpy(), width=0.7,
                  color=[VERDICT_COLORS[v] for v in VERDICTS])
    if annotate:
        ax.bar_label(bars, labels=[human_bytes(v) for v in sums], padding=2)
    ax.set_xlabel("verdict")
    ax.set_ylabel(f"image size ({unit})")
    ax.set_ylim(0, max(1.0, float((sums / factor).max())) * 1.15)
    if title:
        ax.set_title(f"{title} ({human_bytes(float(sums.sum()))})")
    unsized = int(size.isna().sum())
    if unsized:
        ax.text(0.99, 0.97, f"{plural(unsized)} without a size counted as 0",
                transform=ax.transAxes, ha="right", va="top", fontsize="small", color="0.3")
    if len(frame) == 0:
        note(ax, "no images")
    return ax


# -- words ----------------------------------------------------------------------------------


def _listing(scope: dict | None, word: str) -> str:
    if not scope:
        return f"{word}: not read" if word == "volumes" else f"{word}: scope not recorded"
    if scope.get("all_projects"):
        where = "all projects"
    else:
        projects = scope.get("projects") or []
        where = ("project " if len(projects) == 1 else "projects ") + \
            (", ".join(map(str, projects)) or "(none)")
    who = scope.get("caller")
    role = {True: "admin", False: "non-admin"}.get(scope.get("admin"))
    as_whom = f" as {who}" + (f" ({role})" if role else "") if who else \
        (f" as {role}" if role else "")
    parts = [f"{word} ({scope.get('source')}): {where}{as_whom}",
             "every page" if scope.get("every_page") else "NOT every page"]
    if word == "servers":
        cells = scope.get("cells")
        if cells is not None:
            parts.append(f"cells {cells}")
        parts.append("soft-deleted included" if scope.get("soft_deleted")
                     else "soft-deleted NOT included")
    return ", ".join(parts)


def scope_summary(usage_frame) -> str:
    """One short paragraph saying what the verdicts of a usage frame rest on: the
    servers' and volumes' listings (projects, as whom, pages, cells, soft-deleted),
    whether that scope was complete, and why not."""
    info = (getattr(usage_frame, "attrs", None) or {}).get("imgframe", {})
    scope = info.get("scope") if isinstance(info, dict) else None
    if not isinstance(scope, dict):
        return "Scope: not recorded (this frame did not come from imgframe.usage)."
    volumes = scope.get("volumes") if scope.get("volumes_read", True) else None
    text = [_listing(scope.get("servers"), "servers") + ";",
            _listing(volumes, "volumes") + "."]
    if scope.get("cells_assumed_up"):
        text.append("Cells assumed up (--assume-cells-up / assume_cells_up=True).")
    down = int(scope.get("down_cell_servers") or 0)
    if down:
        text.append(f"{plural(down, 'server')} in cells that did not answer.")
    if scope.get("complete"):
        text.append("Scope complete: an image with no referrer is 'unused' unless its "
                    "reasons say otherwise.")
    else:
        gaps = ", ".join(str(g) for g in scope.get("gaps") or []) or "see reasons"
        text.append(f"Scope incomplete ({gaps}): an image with no referrer seen is "
                    "'unknown', not 'unused'.")
    return " ".join(text)


def verdict_counts(usage_frame) -> dict:
    """``{"in use": n, "unused": n, "unknown": n}`` (zeros kept)."""
    frame = _usage_frame(usage_frame)
    counts = _verdicts(frame).value_counts()
    return {v: int(counts.get(v, 0)) for v in VERDICTS}


def reason_counts(usage_frame, verdict: str = "unknown") -> pd.Series:
    """How many images of ``verdict`` carry each reason code (the part before ``:``),
    most frequent first: why they are ``unknown``, say."""
    frame = _usage_frame(usage_frame)
    if verdict not in VERDICTS:
        raise InvalidQueryError("verdict", f"one of {', '.join(VERDICTS)}", verdict)
    rows = frame.loc[_verdicts(frame).eq(verdict).fillna(False).to_numpy(), "reasons"]
    codes = [sorted({str(r).split(":", 1)[0] for r in reasons})
             for reasons in rows if isinstance(reasons, (list, tuple, np.ndarray))]
    counts = pd.Series([c for cs in codes for c in cs], dtype="string").value_counts()
    counts.index.name, counts.name = "reason", "images"
    return counts.astype("int64")
