"""The merge of Glance's two streams (os_hidden false and true) inside whole loads, between
source trees of imgframe, in fresh processes (the cold case: what a user's load pays).

    git worktree add /tmp/imgframe-prev <commit>
    .venv/bin/python bench/bench_merge.py /tmp/imgframe-prev . --rounds 8

One embedded server (its own process) serves 100,000 images; each load is a fresh
interpreter that imports ``imgframe`` from the tree given, wraps the tree's
``merge_frames`` (as ``imgframe.sources.base`` calls it) and times it within
``Client(...).load(page_size=1000)``: wall, user and system CPU, minor page faults, and the
transparent huge pages the machine faulted in meanwhile (``/proc/vmstat``; every 2 MiB
page is zeroed by the kernel, the cost of a merge's fresh memory). Rounds interleave the
trees; medians; ratios are against the first tree, in the same run. The frames each tree
returns are compared. Writes bench/results/bench_merge-<utc>.csv.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from _common import Server, child_json, machine, median, print_table, write_csv

HERE = Path(__file__).resolve().parent

CHILD = r'''
import json, os, resource, sys, time
sys.path.insert(0, os.environ["TREE"])
sys.path.insert(0, os.environ["BENCH"])
import imgframe.sources.base as base
import _common

def thp():
    try:
        with open("/proc/vmstat") as fh:
            return next(int(ln.split()[1]) for ln in fh if ln.startswith("thp_fault_alloc "))
    except (OSError, StopIteration):
        return 0

merge, calls = base.merge_frames, []
def timed(frames):
    r, h, w = resource.getrusage(resource.RUSAGE_SELF), thp(), time.perf_counter()
    out = merge(frames)
    w, s = time.perf_counter() - w, resource.getrusage(resource.RUSAGE_SELF)
    calls.append({"merge_s": w, "user_s": s.ru_utime - r.ru_utime,
                  "sys_s": s.ru_stime - r.ru_stime, "faults": s.ru_minflt - r.ru_minflt,
                  "huge_pages": thp() - h, "streams": [len(f) for f in frames]})
    return out
base.merge_frames = timed
w = time.perf_counter()
df = _common.imgframe_glance(os.environ["ENDPOINT"], os.environ["TOKEN"], 1000)
w = time.perf_counter() - w
if os.environ.get("OUT"):
    df.to_pickle(os.environ["OUT"])
assert len(calls) == 1, calls
print(json.dumps({"load_s": w, "rows": len(df), **calls[0]}))
'''

KEYS = ("merge_s", "user_s", "sys_s", "faults", "huge_pages", "load_s")


def measure(tree: str, srv: Server, out: str | None) -> dict:
    return child_json(CHILD, TREE=tree, BENCH=str(HERE), ENDPOINT=srv.endpoint,
                      TOKEN=srv.token or "", OUT=out or "")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", help="imgframe source trees (directories)")
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args(argv)
    trees = [str(Path(t).resolve()) for t in args.trees]
    for tree, given in zip(trees, args.trees, strict=True):
        if not (Path(tree) / "imgframe" / "frame.py").is_file():
            parser.error(f"{given}: no imgframe/frame.py there")
    runs: dict[str, list[dict]] = {t: [] for t in args.trees}
    outs = [str(HERE / "results" / f".bench_merge-{i}.pkl") for i in range(len(trees))]
    (HERE / "results").mkdir(exist_ok=True)
    with Server(args.images) as srv:
        for r in range(args.rounds):
            for i, (label, tree) in enumerate(zip(args.trees, trees, strict=True)):
                res = measure(tree, srv, outs[i] if r == 0 else None)
                runs[label].append(res)
                print(f"  round {r + 1}  {label:<30} merge {res['merge_s']:.3f} s "
                      f"(user {res['user_s']:.3f}, sys {res['sys_s']:.3f}, "
                      f"{res['huge_pages']} huge pages)", file=sys.stderr, flush=True)
    import pandas as pd

    first = pd.read_pickle(outs[0])
    same = []
    for out in outs:
        same.append(first.equals(pd.read_pickle(out)))
        os.unlink(out)
    rows = []
    for label, equal in zip(args.trees, same, strict=True):
        stat = {k: median([x[k] for x in runs[label]]) for k in KEYS}
        rows.append({"tree": label, "rows": runs[label][0]["rows"],
                     "streams": "+".join(map(str, runs[label][0]["streams"])), **stat,
                     "max_merge_s": max(x["merge_s"] for x in runs[label]),
                     "frame_equal": equal})
    base = rows[0]
    for row in rows:
        row["merge_vs_first"] = row["merge_s"] / base["merge_s"]
        row["cpu_vs_first"] = ((row["user_s"] + row["sys_s"])
                               / (base["user_s"] + base["sys_s"]))
    print(f"\nbench_merge: Glance, {args.images:,} images, page size 1000, median of "
          f"{args.rounds} rounds, fresh process per load; {machine()}")
    print_table(rows)
    print(f"wrote {write_csv('bench_merge', rows)}")
    return 0 if all(same) else 1


if __name__ == "__main__":
    sys.exit(main())
