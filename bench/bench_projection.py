"""A projection against a full load: ``Client.load(columns=[...])`` of 1,000,000 Nova images.

    .venv/bin/python bench/bench_projection.py                      # 1,000,000 images, 1 round
    .venv/bin/python bench/bench_projection.py --images 100000 --rounds 3

The embedded server runs in its own process (warmed by one untimed projected load: every
page rendered and cached once); each load is a fresh interpreter (``bench/_common.py
measure``): ``Client.load(page_size=1000)`` (every column, the default) and
``Client.load(page_size=1000, columns=["id", "name", "status", "created", "updated",
"size"])``, rounds interleaved, medians. Prints wall and CPU time, peak RSS (``ru_maxrss``)
and its growth above the post-import RSS, the frame's own memory, and the projection's
ratios to the full load measured in the same run; and issue 23's target (at 1,000,000
images: at most 6 s and 1 GiB peak). Writes bench/results/bench_projection-<utc>.csv.
"""

from __future__ import annotations

import argparse
import sys
import time

from _common import PROJECTION, Server, machine, measure, median, print_table, write_csv

TARGET_S = 6.0
TARGET_MIB = 1024.0
METHODS = ("imgframe-columns", "imgframe")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args(argv)
    runs: dict[str, list[dict]] = {m: [] for m in METHODS}
    t0 = time.perf_counter()
    with Server(args.images) as srv:
        warm = measure("imgframe-columns", srv, args.page_size)   # untimed: the page cache
        print(f"  {args.images:,} images: server ready in {time.perf_counter() - t0:.1f} s, "
              f"cold walk {warm['wall_s']:.1f} s", file=sys.stderr, flush=True)
        for r in range(args.rounds):
            for method in METHODS:
                res = measure(method, srv, args.page_size, frame_memory=True)
                runs[method].append(res)
                print(f"  round {r + 1}  {method:16} {res['wall_s']:7.3f} s wall "
                      f"{res['cpu_s']:7.3f} s CPU  {res['peak_rss_mib']:8.1f} MiB peak  "
                      f"{res['rows']:,} rows", file=sys.stderr, flush=True)
    rows = []
    for method in METHODS:
        got = runs[method]
        rows.append({"method": method, "images": args.images, "rows": got[0]["rows"],
                     "rounds": len(got), "wall_s": median(x["wall_s"] for x in got),
                     "cpu_s": median(x["cpu_s"] for x in got),
                     "peak_rss_mib": median(x["peak_rss_mib"] for x in got),
                     "grown_mib": median(x["grown_mib"] for x in got),
                     "frame_mib": median(x["frame_mib"] for x in got)})
    slim, full = rows
    if slim["rows"] != full["rows"]:
        raise SystemExit(f"row counts differ: {slim['rows']} projected, {full['rows']} full")
    for key in ("wall_s", "cpu_s", "peak_rss_mib", "grown_mib", "frame_mib"):
        slim[f"{key}_vs_full"] = slim[key] / full[key]
    print(f"\nbench_projection: Client.load of {args.images:,} Nova images, detail, page size "
          f"{args.page_size}, columns={PROJECTION} against every column; fresh process per "
          f"load; {machine()}")
    print_table(rows, ["method", "rows", "rounds", "wall_s", "cpu_s", "peak_rss_mib",
                       "grown_mib", "frame_mib"])
    print("\nthe projection against the full load (same run): "
          + ", ".join(f"{k} {slim[f'{k}_vs_full']:.3f}x" for k in
                      ("wall_s", "cpu_s", "peak_rss_mib", "grown_mib", "frame_mib")))
    if args.images >= 1_000_000:
        ok = slim["wall_s"] <= TARGET_S and slim["peak_rss_mib"] <= TARGET_MIB
        print(f"target (issue 23, 1,000,000 images): at most {TARGET_S:.0f} s and "
              f"{TARGET_MIB:,.0f} MiB peak: {slim['wall_s']:.2f} s, "
              f"{slim['peak_rss_mib']:,.0f} MiB: {'met' if ok else 'MISSED'}")
    print(f"wrote {write_csv('bench_projection', rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
