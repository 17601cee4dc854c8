"""load_many: 1, 8 and 32 sources, each an embedded server with Faults(latency=0.05) per
request (all served by one child process, so the client's CPU is its own): sequential
(one Client.load after another) vs the thread pool (workers=8) vs a Dask LocalCluster
(2 processes x 4 threads). Prints seconds and ratios.

    python bench/bench_many.py [--images 200] [--page-size 50]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings

SIZES = (1, 8, 32)


def _serve(n: int, images: int) -> None:
    from imgframe.server import Faults, ImageServer

    servers = [ImageServer(images, seed=i, token="t", faults=Faults(latency=0.05))
               for i in range(n)]
    for s in servers:
        s.start()
    print(json.dumps([[s.url, s.project_id] for s in servers]), flush=True)
    sys.stdin.read()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--page-size", type=int, default=50)
    args = parser.parse_args()
    import distributed

    import imgframe

    child = subprocess.Popen([sys.executable, __file__, "--serve", str(max(SIZES)),
                              str(args.images)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        urls = json.loads(child.stdout.readline())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=4,
                                               processes=True, dashboard_address=None)
            dask = distributed.Client(cluster)
        rows = []
        for n in SIZES:
            cs = {f"s{i}": imgframe.Client(u, p, token="t") for i, (u, p) in
                  enumerate(urls[:n])}
            t = time.perf_counter()
            seq = [c.load(page_size=args.page_size, progress=False) for c in cs.values()]
            t_seq = time.perf_counter() - t
            t = time.perf_counter()
            df = imgframe.load_many(cs, page_size=args.page_size, workers=8)
            t_thr = time.perf_counter() - t
            t = time.perf_counter()
            dd = imgframe.load_many(cs, page_size=args.page_size, executor=dask.get_executor())
            t_dask = time.perf_counter() - t
            assert len(df) == len(dd) == sum(map(len, seq))
            rows.append((n, len(df), t_seq, t_thr, t_dask))
        dask.close()
        cluster.close()
    finally:
        child.stdin.close()
        child.wait(10)
    print(f"{'sources':>7} {'images':>7} {'sequential':>10} {'threads8':>9} {'dask2x4':>8} "
          f"{'seq/thr':>8} {'seq/dask':>8}")
    for n, rows_n, a, b, c in rows:
        print(f"{n:>7} {rows_n:>7} {a:>9.2f}s {b:>8.2f}s {c:>7.2f}s {a / b:>7.2f}x "
              f"{a / c:>7.2f}x")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        _serve(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
