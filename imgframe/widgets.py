"""An ipywidgets explorer over an images DataFrame: thin glue over ``df.images``.

``imgframe.explore(df)`` returns an :class:`Explorer` (an ``ipywidgets.VBox``); it does
not display itself. Every control change runs one update::

    df.images.select(status=..., name=..., since=..., until=..., column=...)
        -> count (HTML), first rows (HTML), changes_plot (PNG in an Image widget)

No ``Output`` widget is involved, so nothing is cleared and redrawn (no flicker, no
duplicated figures): the chart is one persistent matplotlib ``Figure`` (not registered
with pyplot) rendered to PNG bytes and swapped into an ``Image`` widget.

Controls (attributes, so tests can drive the widget by setting values)::

    ex.status_buttons   # {"ACTIVE": ToggleButton, ...}, one per status present
    ex.name             # Text: exact name, glob ("ubuntu-*") or /regex/
    ex.column           # ToggleButtons: "updated" or "created"
    ex.dates            # SelectionRangeSlider over the days (or weeks, months) in the data
    ex.export_path      # Text
    ex.export_button    # Button
    ex.selection        # the current selection (DataFrame)

The name box updates as you type on frames of up to ``LIVE_TYPING_MAX`` images, and on
Enter (or leaving the box) above that; ``explore(df, live=True)`` (or ``False``) decides.
Status toggles work like filter chips: none pressed means every status; pressing some
restricts the selection to those.
"""

from __future__ import annotations

import html
import io
import re
import time
from pathlib import Path

import ipywidgets as widgets
import pandas as pd

import imgframe.accessor  # noqa: F401  (registers df.images)
from imgframe import plotting
from imgframe.errors import ImgframeError
from imgframe.export import to_csv
from imgframe.status import COLORS

__all__ = ["Explorer", "explore", "human_bytes"]

#: Frames up to this many images update the selection as the name is typed.
LIVE_TYPING_MAX = 50_000
TABLE_COLUMNS = ["name", "status", "updated", "min_ram", "min_disk", "size"]
_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
_NUMERIC = {"min_ram", "min_disk", "size"}


def human_bytes(n) -> str:
    """Bytes in binary units, e.g. ``human_bytes(1536) == "1.5 KiB"``; NA gives ``"–"``."""
    if n is None or pd.isna(n):
        return "–"
    n = float(n)
    for unit in _UNITS:
        if abs(n) < 1024 or unit == _UNITS[-1]:
            return f"{int(n)} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _fmt_int(n, unit: str) -> str:
    return "–" if n is None or pd.isna(n) else f"{int(n):,} {unit}"


def _fmt_time(t) -> str:
    return "–" if t is None or pd.isna(t) else t.strftime("%Y-%m-%d %H:%M")


def parse_name(text: str):
    """The name control's text as a ``select(name=...)`` argument.

    ``""`` gives None (no filter), ``"/ubu.*/"`` a compiled regex, anything else the
    string itself (an exact name or a glob; ``select`` tells them apart).
    Raises ``re.error`` for an invalid regex.
    """
    text = text.strip()
    if not text:
        return None
    if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
        return re.compile(text[1:-1])
    return text


def _periods(times: pd.Series) -> tuple[list[pd.Timestamp], pd.Timedelta | pd.DateOffset, str]:
    """Period starts covering ``times``: days, or weeks/months for long spans."""
    times = times.dropna()
    if times.empty:
        return [], pd.Timedelta(days=1), "%Y-%m-%d"
    lo, hi = times.min(), times.max()
    span = hi - lo
    if span <= pd.Timedelta(days=2 * 366):
        starts = pd.date_range(lo.floor("D"), hi.floor("D"), freq="D")
        step, fmt = pd.Timedelta(days=1), "%Y-%m-%d"
    elif span <= pd.Timedelta(days=15 * 366):
        first = (lo - pd.Timedelta(days=lo.day_of_week)).floor("D")
        starts = pd.date_range(first, hi.floor("D"), freq="7D")
        step, fmt = pd.Timedelta(days=7), "%Y-%m-%d"
    else:
        first = lo.floor("D").replace(day=1)
        starts = pd.date_range(first, hi.floor("D"), freq="MS")
        step, fmt = pd.DateOffset(months=1), "%Y-%m"
    return list(starts), step, fmt


def _chart_freq(sel_span: pd.Timedelta | None) -> str:
    """Bars per day up to two months, per week up to a year, then per month."""
    if sel_span is None or sel_span <= pd.Timedelta(days=62):
        return "D"
    if sel_span <= pd.Timedelta(days=366):
        return "W"
    return "M"


class Explorer(widgets.VBox):
    """Status toggles, a name pattern and a date range over an images DataFrame.

    Built by :func:`explore`. ``.selection`` is the current selection; ``.update()``
    recomputes it (every control change calls it); ``.last_update_seconds`` is how long
    the last update took; ``.export()`` does what the export button does.
    """

    def __init__(self, df: pd.DataFrame, *, rows: int = 10, export_path: str = "selection.csv",
                 chart: bool = True, figsize=(7.5, 3.0), live: bool | None = None):
        self.df = df
        self.rows = rows
        self._selection = df.iloc[0:0]
        self._muted = False
        self.last_update_seconds = float("nan")
        self.error: str | None = None

        counts = df.images.status_counts()
        self.status_buttons: dict[str, widgets.ToggleButton] = {}
        for status, n in counts.items():
            if n:
                button = widgets.ToggleButton(
                    value=False, description=f"{status} ({n:,})",
                    tooltip=f"only {status} images (none pressed: every status)",
                    layout=widgets.Layout(width="auto"))
                button.add_class(f"imgframe-status-{status.lower()}")
                button.style.text_color = COLORS.get(status)   # the charts' colour
                self.status_buttons[status] = button
        # live: update on every keystroke; on big frames (where an update with its chart
        # takes a few hundred ms) only on Enter or leaving the box, so typing never queues
        # a backlog of stale updates in the kernel
        live = len(df) <= LIVE_TYPING_MAX if live is None else live
        self.name = widgets.Text(
            value="", placeholder="exact name, glob (ubuntu-*) or /regex/"
            + ("" if live else ", then Enter"),
            description="name", continuous_update=live,
            layout=widgets.Layout(width="24em"))
        self.name.add_class("imgframe-name")
        self.name_message = widgets.HTML("")
        self.name_message.add_class("imgframe-name-message")
        self.column = widgets.ToggleButtons(
            options=["updated", "created"], value="updated",
            tooltips=["date range on the last update", "date range on the creation"],
            style={"button_width": "5.5em"})
        self.dates = widgets.SelectionRangeSlider(
            options=[("–", None)], description="", continuous_update=False, readout=False,
            layout=widgets.Layout(width="28em"))
        self.dates_label = widgets.HTML("")
        self.dates_label.add_class("imgframe-dates-label")
        self.count = widgets.HTML("")
        self.count.add_class("imgframe-count")
        self.table = widgets.HTML("")
        self.table.add_class("imgframe-table")
        self._dpi = 96
        self.chart = widgets.Image(format="png", layout=widgets.Layout(
            width=f"{int(figsize[0] * self._dpi)}px", max_width="100%"))
        self.chart.add_class("imgframe-chart")
        # what Glance and IMS frames add: one dropdown per column that has values
        self.facets: dict[str, widgets.Dropdown] = {}
        for column, label in (("visibility", "visibility"), ("owner", "owner"),
                              ("tags", "tag")):
            options = _facet_options(df, column)
            if options:
                box = widgets.Dropdown(options=[("any", None)] + options, value=None,
                                       description=label,
                                       layout=widgets.Layout(width="18em"))
                box.add_class(f"imgframe-{label}")
                self.facets[label] = box
        self.export_path = widgets.Text(value=export_path, description="CSV",
                                        layout=widgets.Layout(width="24em"))
        self.export_button = widgets.Button(description="Export selection", icon="download")
        self.export_message = widgets.HTML("")
        self.export_message.add_class("imgframe-export-message")
        # one Figure, not registered with pyplot (so never shown twice); matplotlib is
        # imported here so that `import imgframe` stays light. A fixed layout: constrained
        # layout would cost a second draw on every update.
        self._figure = None
        if chart:
            from matplotlib.figure import Figure

            self._figure = Figure(figsize=figsize)
        else:
            self.chart.layout.display = "none"

        self._set_date_options()
        for button in self.status_buttons.values():
            button.observe(self._on_change, "value")
        self.name.observe(self._on_change, "value")
        for box in self.facets.values():
            box.observe(self._on_change, "value")
        self.dates.observe(self._on_change, "index")
        self.column.observe(self._on_column, "value")
        self.export_button.on_click(lambda _: self.export())

        super().__init__([
            widgets.HBox(list(self.status_buttons.values())),
            widgets.HBox([self.name, self.name_message]),
            widgets.HBox(list(self.facets.values())),
            widgets.HBox([self.column, self.dates, self.dates_label]),
            self.count,
            self.table,
            self.chart,
            widgets.HBox([self.export_path, self.export_button, self.export_message]),
        ])
        self.add_class("imgframe-explorer")
        self.update()

    # -- the selection -----------------------------------------------------------------

    @property
    def selection(self) -> pd.DataFrame:
        """The rows the controls currently select (0 rows while they are invalid)."""
        return self._selection

    @property
    def statuses(self) -> tuple[str, ...]:
        """The statuses pressed (empty: every status)."""
        return tuple(s for s, b in self.status_buttons.items() if b.value)

    def query(self) -> dict:
        """The ``df.images.select`` arguments the controls stand for.

        Raises ``re.error`` for an invalid ``/regex/``.
        """
        since = until = None
        starts = self._starts
        if starts:
            lo, hi = self.dates.index
            if (lo, hi) != (0, len(starts) - 1):  # the full range keeps rows without a time
                since = starts[lo]
                until = starts[hi] + self._step - pd.Timedelta(1, "ns")
        query = {
            "status": list(self.statuses) or None,
            "name": parse_name(self.name.value),
            "since": since,
            "until": until,
            "column": self.column.value,
        }
        for label, box in self.facets.items():
            if box.value is not None:
                query[label] = box.value
        return query

    def update(self) -> pd.DataFrame:
        """Recompute the selection and refresh the count, table and chart together."""
        started = time.perf_counter()
        try:
            query = self.query()
            selection = self.df.images.select(**query)
        except (re.error, ImgframeError, ValueError) as exc:
            self.error = _message(exc)
            self.name_message.value = (
                f'<span style="color:#b00020">⚠ {html.escape(self.error)}</span>')
            # no valid selection: nothing is selected and nothing can be exported, rather
            # than keep (and export) whatever the last valid pattern selected
            self._selection = self.df.iloc[0:0]
            self.count.value = (
                f"<b>no valid selection</b> (0 of {len(self.df):,} images): fix the name "
                "pattern")
            self.table.value = "<i>no valid selection</i>"
            self.export_button.disabled = True
            self.export_button.tooltip = "fix the name pattern first"
            if self._figure is not None:
                self.chart.value = self._chart_png(self._selection,
                                                   {"column": self.column.value})
            self.last_update_seconds = time.perf_counter() - started
            return self._selection
        self.error = None
        self.name_message.value = ""
        self.export_button.disabled = False
        self.export_button.tooltip = ""
        self.dates_label.value = self._range_text(query)
        self._selection = selection
        self.count.value = (
            f"<b>{len(selection):,}</b> of {len(self.df):,} images")
        self.table.value = self._table_html(selection)
        if self._figure is not None:
            self.chart.value = self._chart_png(selection, query)
        self.last_update_seconds = time.perf_counter() - started
        return selection

    # -- export ------------------------------------------------------------------------

    def export(self) -> Path | None:
        """Write the selection with imgframe's safe CSV export to the path in the box.

        Writes nothing (and returns None) while the controls are invalid.
        """
        path = Path(self.export_path.value.strip() or "selection.csv").expanduser()
        if self.error is not None:
            self.export_message.value = (
                f'<span style="color:#b00020">⚠ nothing written: no valid selection '
                f"({html.escape(self.error)})</span>")
            return None
        try:
            to_csv(self._selection, path, safe=True)
        except (OSError, ImgframeError, ValueError) as exc:
            self.export_message.value = (
                f'<span style="color:#b00020">⚠ could not write {html.escape(str(path))}: '
                f"{html.escape(_message(exc))}</span>")
            return None
        where = path.resolve()
        self.export_message.value = (
            f"wrote {len(self._selection):,} images to <code>{html.escape(str(where))}</code>")
        return where

    # -- internals ---------------------------------------------------------------------

    def _on_change(self, _change) -> None:
        if not self._muted:
            self.update()

    def _on_column(self, _change) -> None:
        self._set_date_options()
        self.update()

    def _set_date_options(self) -> None:
        starts, step, fmt = _periods(self.df[self.column.value])
        self._starts, self._step = starts, step
        self._muted = True
        try:
            if starts:
                self.dates.options = [(t.strftime(fmt), i) for i, t in enumerate(starts)]
                self.dates.index = (0, len(starts) - 1)
                self.dates.disabled = False
            else:
                self.dates.options = [("no dates", 0)]
                self.dates.index = (0, 0)
                self.dates.disabled = True
        finally:
            self._muted = False

    def _range_text(self, query: dict) -> str:
        if not self._starts:
            return f"<i>no {self.column.value} times</i>"
        lo, hi = self.dates.index
        until = self._starts[hi] + self._step - pd.Timedelta(1, "ns")
        text = f"{self._starts[lo]:%Y-%m-%d} – {until:%Y-%m-%d}"
        if query["since"] is None:
            text += " (all)"
        return html.escape(text)

    def _table_html(self, selection: pd.DataFrame) -> str:
        head = selection.head(self.rows)
        if head.empty:
            return "<i>no images match</i>"
        cells = {
            "name": ["–" if pd.isna(v) else v for v in head["name"]],
            "status": ["–" if pd.isna(v) else str(v) for v in head["status"]],
            "updated": [_fmt_time(t) for t in head["updated"]],
            "min_ram": [_fmt_int(v, "MB") for v in head["min_ram"]],
            "min_disk": [_fmt_int(v, "GB") for v in head["min_disk"]],
            "size": [human_bytes(v) for v in head["size"]],
        }
        # inline styles: a notebook's own table CSS (right-aligned cells) must not win
        style = {c: "padding:1px 10px;white-space:nowrap;text-align:"
                 + ("right" if c in _NUMERIC else "left") for c in TABLE_COLUMNS}
        style["name"] += ";max-width:36em;overflow:hidden;text-overflow:ellipsis"
        header = "".join(f'<th style="{style[c]}">{c}</th>' for c in TABLE_COLUMNS)
        body = "".join(
            "<tr>" + "".join(f'<td style="{style[c]}">{html.escape(cells[c][i])}</td>'
                             for c in TABLE_COLUMNS) + "</tr>"
            for i in range(len(head)))
        more = len(selection) - len(head)
        note = f"<div><i>… and {more:,} more</i></div>" if more > 0 else ""
        return (f'<table class="imgframe-rows" style="border-collapse:collapse">'
                f"<thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>{note}")

    def _chart_png(self, selection: pd.DataFrame, query: dict) -> bytes:
        fig = self._figure
        fig.clear()
        ax = fig.add_subplot()
        fig.subplots_adjust(left=0.09, right=0.98, bottom=0.19, top=0.89)
        column = query["column"]
        times = selection[column].dropna()
        span = (times.max() - times.min()) if len(times) else None
        plotting.changes_plot(selection, freq=_chart_freq(span), by="status", column=column,
                              ax=ax)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=self._dpi)
        return buf.getvalue()


FACET_MAX = 200   # more distinct values than this make a dropdown useless


def _facet_options(df: pd.DataFrame, column: str) -> list[tuple[str, str]]:
    """``[("public (1,234)", "public"), ...]``, most frequent first, for a column's values
    (each tag of a ``tags`` list counts); empty if the column is missing or all NA."""
    if column not in df.columns:
        return []
    values = df[column]
    if column == "tags":
        values = pd.Series([t for tags in values if isinstance(tags, list) for t in tags],
                           dtype=object)
    counts = values.dropna().astype(str).value_counts()
    if counts.empty or len(counts) > FACET_MAX:
        return []
    return [(f"{v} ({n:,})", v) for v, n in counts.items()]


def _message(exc: BaseException) -> str:
    if isinstance(exc, re.error):
        return f"invalid regular expression: {exc}"
    return str(exc)


def explore(df: pd.DataFrame, **options) -> Explorer:
    """An :class:`Explorer` over ``df`` (a frame from ``client.load``); display it yourself.

    >>> from imgframe.frame import empty_frame
    >>> ex = explore(empty_frame())    # in a notebook: imgframe.explore(client.load())
    >>> len(ex.selection)
    0
    >>> ex                             # doctest: +SKIP
    (the last expression of a cell shows it)
    """
    return Explorer(df, **options)
