"""A/B of whole loads between source trees of imgframe (say, a git worktree of the last
release against this one), with the floor, in one run.

    git worktree add /tmp/imgframe-prev <commit>
    .venv/bin/python bench/bench_ab.py /tmp/imgframe-prev . --rounds 5
    .venv/bin/python bench/bench_ab.py /tmp/imgframe-prev . --api glance --no-prefetch

One embedded server (its own process) serves 100,000 images; each load is a fresh
interpreter that imports ``imgframe`` from the tree given (``sys.path``), times
``Client(...).load(page_size=1000)`` (wall, CPU, peak RSS), and the floor (requests +
json over the same pages, bench/_common.py) is measured alongside. Rounds interleave the
trees; medians; ratios are against the floor of the same run. ``--no-prefetch`` adds each
tree once more with ``PREFETCH = False`` (``imgframe.listing.settings``). Writes
bench/results/bench_ab-<utc>.csv.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _common import Server, child_json, machine, median, print_table, write_csv

HERE = Path(__file__).resolve().parent

CHILD = r'''
import json, os, resource, sys, time
tree = os.environ["TREE"]
sys.path.insert(0, os.environ["BENCH"])
if tree != "floor":
    sys.path.insert(0, tree)
    try:
        import imgframe.listing.settings as settings
    except ImportError:   # a tree from before imgframe/listing/
        import imgframe.client as settings
    settings.PREFETCH = not os.environ.get("NO_PREFETCH")
import pandas, requests
import _common
api, ep, token = os.environ["API"], os.environ["ENDPOINT"], os.environ["TOKEN"]
kind = "floor" if tree == "floor" else "imgframe"
load = _common.METHODS[kind if api == "nova" else f"{kind}-{api}"]   # imgframe: the tree's
w, c = time.perf_counter(), time.process_time()
out = load(ep, token, 1000)
print(json.dumps({"wall_s": time.perf_counter() - w, "cpu_s": time.process_time() - c,
                  "rows": len(out),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def measure(tree: str, srv: Server, api: str, prefetch: bool = True) -> dict:
    extra = {} if prefetch else {"NO_PREFETCH": "1"}
    return child_json(CHILD, TREE=tree, BENCH=str(HERE), API=api, ENDPOINT=srv.endpoint,
                      TOKEN=srv.token or "", **extra)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", help="imgframe source trees (directories)")
    parser.add_argument("--api", choices=["nova", "glance", "ims"], default="nova")
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-prefetch", action="store_true")
    args = parser.parse_args(argv)
    variants = [("floor", "floor", True)]
    for tree in args.trees:
        path = str(Path(tree).resolve())
        if not (Path(path) / "imgframe" / "client.py").is_file():
            parser.error(f"{tree}: no imgframe/client.py there")
        variants.append((tree, path, True))
        if args.no_prefetch:
            variants.append((f"{tree} (prefetch off)", path, False))
    runs: dict[str, list[dict]] = {label: [] for label, _, _ in variants}
    with Server(args.images) as srv:
        measure("floor", srv, args.api)   # warm the server's rendered pages
        for r in range(args.rounds):
            for label, path, prefetch in variants:
                res = measure(path, srv, args.api, prefetch)
                runs[label].append(res)
                print(f"  round {r + 1}  {label:<40} {res['wall_s']:7.3f} s wall "
                      f"{res['cpu_s']:7.3f} s CPU", file=sys.stderr, flush=True)
    floor = {k: median([x[k] for x in runs["floor"]]) for k in ("wall_s", "cpu_s")}
    rows = []
    for label, _, _ in variants:
        stat = {k: median([x[k] for x in runs[label]])
                for k in ("wall_s", "cpu_s", "peak_rss_mib")}
        rows.append({"api": args.api, "tree": label, "rows": runs[label][0]["rows"],
                     **stat, "wall_vs_floor": stat["wall_s"] / floor["wall_s"],
                     "cpu_vs_floor": stat["cpu_s"] / floor["cpu_s"]})
    print(f"\nbench_ab: {args.api}, {args.images:,} images, page size 1000, median of "
          f"{args.rounds} rounds, fresh process per load; {machine()}")
    print_table(rows)
    print(f"wrote {write_csv('bench_ab', rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
