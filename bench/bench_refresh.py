"""Benchmark: ``client.refresh(old)`` after 1% of the catalogue changed, against a full load.

The embedded server runs in its own process with N images (default 100,000) and serves them
through every source (Nova's proxy, Glance v2, Huawei IMS; ``--sources`` picks). Per source
a full load is saved as a snapshot; then the server changes 1% of the catalogue (0.8%
updated, 0.1% added, 0.1% deleted). Each measurement is a fresh interpreter (imports done
before the clock):

* ``full load``: ``client.load()`` of the whole catalogue (what you would do without refresh)
* ``refresh``: ``client.refresh(old)`` with ``old`` already in memory (read untimed)
* ``read + refresh``: ``SnapshotStore.load()`` of the old snapshot, then the refresh

Rounds interleave the three after one untimed warm-up of each; medians are shown. Once, the
refreshed frame is checked to equal a fresh load (``assert_frame_equal``).

    .venv/bin/python bench/bench_refresh.py                     # 100,000 images, 3 rounds
    .venv/bin/python bench/bench_refresh.py --images 20000 --rounds 2 --sources glance
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, median, print_table, write_csv  # noqa: E402

SERVER = r"""
import datetime as dt, json, sys
import numpy as np
from imgframe.server import ImageServer
srv = ImageServer(int(sys.argv[1]), seed=0).start()
VIEWS = ("detail", "list", "glance", "ims")
srv.warm(VIEWS)
print(json.dumps({"nova": srv.url, "glance": srv.glance_endpoint, "ims": srv.ims_endpoint,
                  "project_id": srv.project_id}), flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "change":
        share, rng = float(cmd[1]), np.random.default_rng(int(cmd[2]))
        ids = [r["id"] for r in srv.images]
        k = max(1, int(len(ids) * share))
        pick = rng.choice(len(ids), size=k, replace=False).tolist()
        n_upd, n_del = int(k * 0.8), int(k * 0.1)
        for i in pick[:n_upd]:
            srv.update_image(ids[i], name=f"updated-{i}", properties={"bench": i})
        for i in pick[n_upd:n_upd + n_del]:
            srv.remove_image(ids[i])
        for j in range(k - n_upd - n_del):
            srv.add_image({"id": f"bench-added-{j:06d}", "name": f"added {j}",
                           "status": "active", "min_ram": 512, "min_disk": 10,
                           "size": 2**30, "properties": {"os_distro": "ubuntu"}})
        srv.warm(VIEWS)
        print(json.dumps({"updated": n_upd, "deleted": n_del,
                          "added": k - n_upd - n_del, "images": len(srv.catalog)}), flush=True)
srv.stop()
"""

CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import pandas as pd
import imgframe
method, source, url, project, store_dir = sys.argv[1:6]
client = (imgframe.Client(url, project) if source == "nova" else
          imgframe.Client(url, project, source=source, token="bench"))
store = imgframe.SnapshotStore(store_dir)
if method == "save":
    store.save(client.load(progress=False))
    print("RESULT {}", flush=True)
    sys.exit()
old = store.load() if method == "refresh" else None
w0, c0 = time.perf_counter(), time.process_time()
if method == "full load":
    out = client.load(progress=False)
elif method == "refresh":
    out = client.refresh(old, progress=False)
elif method == "read + refresh":
    out = client.refresh(store.load(), progress=False)
elif method == "verify":
    out = client.refresh(store.load(), progress=False)
    pd.testing.assert_frame_equal(out, client.load(progress=False))
wall, cpu = time.perf_counter() - w0, time.process_time() - c0
info = out.attrs["imgframe"]
print("RESULT " + json.dumps({"method": method, "rows": len(out), "wall_s": wall,
      "cpu_s": cpu, "requests": info["requests"], "pages": info["pages"],
      "mode": info.get("refresh", {}).get("mode", "")}), flush=True)
"""

METHODS = ("full load", "refresh", "read + refresh")


def child(method: str, source: str, url: str, project: str, store: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, method, source, url, project, store],
                          stdout=subprocess.PIPE, text=True, check=True)
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--changed", type=float, default=0.01, help="share changed (0.01)")
    parser.add_argument("--sources", default="nova,glance,ims",
                        help="comma-separated: nova, glance, ims (default all three)")
    args = parser.parse_args(argv)
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]

    print(f"# refresh after {args.changed:.1%} of {args.images:,} images changed; {machine()}")
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(args.images)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(server.stdout.readline())
        project = info["project_id"]
        with tempfile.TemporaryDirectory() as tmp:
            stores = {src: str(Path(tmp) / src) for src in sources}
            for src in sources:
                child("save", src, info[src], project, stores[src])
            t0 = time.perf_counter()
            server.stdin.write(f"change {args.changed} 1\n")
            server.stdin.flush()
            changes = json.loads(server.stdout.readline())
            print(f"# server changed: {changes} in {time.perf_counter() - t0:.1f} s")
            plan = [(src, m) for src in sources for m in METHODS]
            for src, method in plan:                          # untimed warm-up
                child(method, src, info[src], project, stores[src])
            runs: dict = {key: [] for key in plan}
            for _ in range(args.rounds):
                for src, method in plan:
                    runs[src, method].append(child(method, src, info[src], project,
                                                   stores[src]))
            verified = {src: child("verify", src, info[src], project, stores[src])
                        for src in sources}
    finally:
        server.stdin.close()
        server.wait(60)
    rows = []
    for src in sources:
        full = median([r["wall_s"] for r in runs[src, "full load"]])
        full_cpu = median([r["cpu_s"] for r in runs[src, "full load"]])
        for method in METHODS:
            wall = median([r["wall_s"] for r in runs[src, method]])
            cpu = median([r["cpu_s"] for r in runs[src, method]])
            last = runs[src, method][-1]
            rows.append({"images": args.images, "changed": f"{args.changed:.1%}",
                         "source": src, "method": method, "rows": last["rows"],
                         "requests": last["requests"], "wall_s": round(wall, 3),
                         "cpu_s": round(cpu, 3), "wall_vs_full": round(wall / full, 3),
                         "cpu_vs_full": round(cpu / full_cpu, 3), "mode": last["mode"]})
    print_table(rows)
    for src, v in verified.items():
        print(f"# verified ({src}): the refreshed frame equals a fresh load ({v['rows']:,} rows)")
    print(f"# wrote {write_csv('refresh', rows)}")


if __name__ == "__main__":
    main()
