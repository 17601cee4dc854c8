"""Analysis on a loaded catalogue: df.images select, changes, changed_since and one explorer
update, on 1,000,000 rows, each against the plain-pandas way of getting the same answer.

    .venv/bin/python bench/bench_analysis.py                  # 1,000,000 images
    .venv/bin/python bench/bench_analysis.py --images 100000 --repeat 3

The frame is built once, by ``Client.load`` from the embedded server running in its own
process (which is then stopped, so it uses no CPU or memory during the timings). Each
operation runs ``--repeat`` times; the median is reported with its ratio to the plain-pandas
baseline timed in the same run (a baseline gives the same counts or rows, without
imgframe's validation, tidy output or time-zone handling). The explorer figures are the
time from setting a control's value to ``.selection`` holding the new rows (the count,
table and chart are refreshed in the same call), against ``df.images.select`` alone.
Writes bench/results/bench_analysis-<utc>.csv (and bench_analysis.csv, the latest).
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
import time

import numpy as np
import pandas as pd
from _common import Server, machine, median, print_table, write_csv

import imgframe  # noqa: F401  (registers df.images)
from imgframe.client import Client


def build_frame(n: int) -> tuple[pd.DataFrame, float]:
    with Server(n) as srv:
        t0 = time.perf_counter()
        df = Client(srv.endpoint, token=srv.token).load(progress=False)
        return df, time.perf_counter() - t0


def timed(func, repeat: int) -> tuple[float, float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - t0)
    return median(times), min(times), out


def _size(out) -> int:
    return len(out) if hasattr(out, "__len__") else int(out)


def operations(df: pd.DataFrame):
    """(name, imgframe call, plain-pandas baseline) triples."""
    newest = df["updated"].max()
    since = (newest - pd.Timedelta(days=180)).floor("D")
    until = (newest - pd.Timedelta(days=30)).floor("D")
    glob = "ubuntu-22.04*"
    regex = fnmatch.translate(glob)
    cutoffs = pd.date_range(end=newest.floor("D"), periods=52, freq="7D")
    upd = df["updated"]

    def pandas_changed_since(statuses=None):
        if statuses is None:
            return [int((upd >= c).sum()) for c in cutoffs]
        return [int(((upd >= c) & (df["status"] == s)).sum())
                for c in cutoffs for s in statuses]

    return [
        ("select status=ACTIVE",
         lambda: df.images.select(status="ACTIVE"),
         lambda: df[df["status"] == "ACTIVE"]),
        ("select name glob 'ubuntu-22.04*'",
         lambda: df.images.select(name=glob),
         lambda: df[df["name"].str.match(regex, na=False)]),
        ("select since/until (updated)",
         lambda: df.images.select(since=since, until=until),
         lambda: df[(upd >= since) & (upd <= until)]),
        ("select status+name+since",
         lambda: df.images.select(status=["ACTIVE", "SAVING"], name=glob, since=since),
         lambda: df[df["status"].isin(["ACTIVE", "SAVING"])
                    & df["name"].str.match(regex, na=False) & (upd >= since)]),
        ("status_counts",
         lambda: df.images.status_counts(),
         lambda: df["status"].value_counts()),
        ("changes freq=W",
         lambda: df.images.changes("W"),
         lambda: df.resample("W-MON", on="updated", closed="left", label="left").size()),
        ("changes freq=M by=status",
         lambda: df.images.changes("M", by="status"),
         lambda: df.groupby([pd.Grouper(key="updated", freq="MS"), "status"],
                            observed=False).size()),
        ("changed_since 52 weekly cutoffs",
         lambda: df.images.changed_since(cutoffs),
         lambda: pandas_changed_since()),
        ("changed_since 52 cutoffs x 2 statuses",
         lambda: df.images.changed_since(cutoffs, status=["ACTIVE", "SAVING"]),
         lambda: pandas_changed_since(["ACTIVE", "SAVING"])),
    ]


def explorer_updates(df: pd.DataFrame, repeat: int) -> list[dict]:
    """Time explore(df), then each control change until .selection holds the new rows."""
    t0 = time.perf_counter()
    ex = imgframe.explore(df)
    built = time.perf_counter() - t0
    rows = [{"operation": "explore(df) (first update included)", "median_s": built,
             "min_s": built, "result_rows": len(ex.selection)}]
    n_dates = len(ex.dates.options)

    def changes():
        button = next(iter(ex.status_buttons.values()))
        yield "press a status button", lambda: setattr(button, "value", True), \
            lambda: setattr(button, "value", False)
        yield "type a name glob", lambda: setattr(ex.name, "value", "ubuntu-2*"), \
            lambda: setattr(ex.name, "value", "")
        yield "move the date range", \
            lambda: setattr(ex.dates, "index", (n_dates // 2, n_dates - 1)), \
            lambda: setattr(ex.dates, "index", (0, n_dates - 1))

    for name, do, undo in changes():
        walls, selects = [], []
        for _ in range(repeat):
            before = ex.selection
            t0 = time.perf_counter()
            do()
            wall = time.perf_counter() - t0
            assert ex.selection is not before, "the control change did not update"
            walls.append(wall)
            query = ex.query()
            t0 = time.perf_counter()
            df.images.select(**query)
            selects.append(time.perf_counter() - t0)
            n_sel = len(ex.selection)
            undo()
        rows.append({"operation": f"explorer: {name}", "median_s": median(walls),
                     "min_s": min(walls), "result_rows": n_sel,
                     "baseline": "df.images.select alone", "baseline_s": median(selects),
                     "ratio": median(walls) / median(selects)})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    df, load_s = build_frame(args.images)
    print(f"built the frame: {len(df):,} rows in {load_s:.1f} s "
          f"({df.memory_usage(deep=True).sum() / 2**20:,.0f} MiB)", file=sys.stderr)
    rows = []
    for name, ours, theirs in operations(df):
        med, low, out = timed(ours, args.repeat)
        b_med, _b_low, b_out = timed(theirs, args.repeat)
        rows.append({"operation": name, "median_s": med, "min_s": low,
                     "result_rows": _size(out), "baseline": "plain pandas",
                     "baseline_s": b_med, "ratio": med / b_med})
        print(f"  {name:<40} {med:8.4f} s   pandas {b_med:8.4f} s", file=sys.stderr,
              flush=True)
    rows += explorer_updates(df, args.repeat)
    for r in rows:
        r["rows_in_frame"] = len(df)
    print(f"\nbench_analysis: {len(df):,} rows, median of {args.repeat}; {machine()}")
    print_table(rows, ["operation", "result_rows", "median_s", "min_s", "baseline_s", "ratio"])
    print("ratio = imgframe / baseline (below 1: faster than the plain-pandas way)")
    path = write_csv("bench_analysis", rows)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
