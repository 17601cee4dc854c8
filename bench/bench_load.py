"""Benchmark: ``client.load`` of N detail images against a minimal baseline, same run.

The baseline is what a user would write by hand: requests + json + ``pd.DataFrame`` of the
raw dicts (no typing, no link flattening, no checks), paging with ``limit``/``marker``.
Both page the same embedded server, which runs in a *separate process* so that its CPU
time and memory are not counted against either side. Runs alternate (baseline, loader,
baseline, ...) after one untimed warm-up of each; wall times are medians. Peak Python
memory (tracemalloc) is measured in a separate, untimed pass.

    .venv/bin/python bench/bench_load.py                  # 100,000 images, 5 rounds
    .venv/bin/python bench/bench_load.py --images 20000 --rounds 3

Prints a table and writes a CSV to bench/results/ (gitignored).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pandas as pd
import requests

from imgframe.client import Client

SERVER = """
import sys
from imgframe.server import ImageServer
srv = ImageServer(int(sys.argv[1]), seed=0).start()
print(srv.url, srv.project_id, flush=True)
sys.stdin.read()
srv.stop()
"""


def start_server(n: int):
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(n)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    url, project = proc.stdout.readline().split()
    return proc, url, project


def baseline(url: str, project: str, page_size: int) -> pd.DataFrame:
    """requests + json + pd.DataFrame of the raw dicts: the minimum that gets every image."""
    session = requests.Session()
    rows: list = []
    marker = None
    while True:
        params = {"limit": page_size}
        if marker:
            params["marker"] = marker
        r = session.get(f"{url}/v2.1/{project}/images/detail", params=params, timeout=60)
        r.raise_for_status()
        page = json.loads(r.content)["images"]
        rows.extend(page)
        if len(page) < page_size:
            break
        marker = page[-1]["id"]
    return pd.DataFrame(rows)


def loader(url: str, project: str, page_size: int) -> pd.DataFrame:
    return Client(url, project).load(page_size=page_size, progress=False)


def timed(func, *args):
    """Wall seconds and this process's CPU seconds (the server is another process)."""
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    out = func(*args)
    return time.perf_counter() - t0, time.process_time() - c0, out


def peak_mib(func, *args) -> float:
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    out = func(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del out
    return peak / 2**20


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)

    proc, url, project = start_server(args.images)
    try:
        methods = {"baseline": baseline, "client.load": loader}
        times: dict[str, list[float]] = {m: [] for m in methods}
        cpu: dict[str, list[float]] = {m: [] for m in methods}
        rows = {}
        for name, func in methods.items():  # warm-up (server caches, imports)
            rows[name] = len(func(url, project, args.page_size))
        for _ in range(args.rounds):
            for name, func in methods.items():
                seconds, cpu_seconds, _df = timed(func, url, project, args.page_size)
                times[name].append(seconds)
                cpu[name].append(cpu_seconds)
                del _df
        peaks = {name: peak_mib(func, url, project, args.page_size)
                 for name, func in methods.items()}
    finally:
        proc.stdin.close()
        proc.wait(10)

    base = statistics.median(times["baseline"])
    base_min = min(times["baseline"])
    base_cpu = statistics.median(cpu["baseline"])
    table = []
    for name in methods:
        med = statistics.median(times[name])
        med_cpu = statistics.median(cpu[name])
        table.append({"method": name, "images": rows[name], "median_s": round(med, 3),
                      "min_s": round(min(times[name]), 3), "max_s": round(max(times[name]), 3),
                      "cpu_s": round(med_cpu, 3), "peak_mib": round(peaks[name], 1),
                      "ratio": round(med / base, 3),
                      "ratio_min": round(min(times[name]) / base_min, 3),
                      "ratio_cpu": round(med_cpu / base_cpu, 3)})
    print(f"{args.images} images requested, page size {args.page_size}, {args.rounds} rounds, "
          f"Python {platform.python_version()}, pandas {pd.__version__}, "
          f"{os.cpu_count()} CPUs")
    header = (f"{'method':<12} {'images':>8} {'median s':>9} {'min s':>7} {'max s':>7} "
              f"{'CPU s':>7} {'peak MiB':>9} {'ratio':>6} {'r(min)':>7} {'r(CPU)':>7}")
    print(header)
    print("-" * len(header))
    for r in table:
        print(f"{r['method']:<12} {r['images']:>8} {r['median_s']:>9.3f} {r['min_s']:>7.3f} "
              f"{r['max_s']:>7.3f} {r['cpu_s']:>7.3f} {r['peak_mib']:>9.1f} {r['ratio']:>6.2f} "
              f"{r['ratio_min']:>7.2f} {r['ratio_cpu']:>7.2f}")
    ratio = table[1]["ratio"]
    print(f"target: client.load within 1.25x of the baseline (median wall time) -> "
          f"{'MET' if ratio <= 1.25 else 'NOT MET'} ({ratio:.2f}x; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"bench_load-{stamp}.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(table[0]) + ["page_size", "rounds", "utc"])
        writer.writeheader()
        for r in table:
            writer.writerow({**r, "page_size": args.page_size, "rounds": args.rounds,
                             "utc": stamp})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
