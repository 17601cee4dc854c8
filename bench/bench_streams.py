"""Benchmark: ``client.load(workers=N)`` against one walk (``workers=1``) on a slow server.

The embedded server runs in a child process (bench/_common.Server) and every images request
waits ``--latency`` seconds in its handler thread (``Faults(latency=...)``), as a real
cloud's detail page does (0.3-1 s). Over about 40 pages (4,000 images, page_size 100):

* Glance and IMS whole-inventory loads: ``workers=4`` (concurrent ``created_at`` ranges,
  imgframe/listing/ranges.py) against ``workers=1``; target >= 2.8x;
* a Nova ``status=["SAVING", "UNKNOWN"]`` fan-out (five status streams) concurrent
  against sequential;
* a small load (one page per stream) both ways: what concurrency costs when there is
  nothing to split (the probes and the extra ranges), which is why the default is 1.

Every pair is checked to give the same frame (``assert_frame_equal``). Prints a table and
writes a CSV to bench/results/.

    .venv/bin/python bench/bench_streams.py                  # latency 1.0 s
    .venv/bin/python bench/bench_streams.py --latency 0.25 --images 4000 --page-size 100
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, TOKEN, Server  # noqa: E402

from imgframe.client import Client  # noqa: E402


def timed(client: Client, **options):
    t0 = time.perf_counter()
    df = client.load(progress=False, **options)
    return time.perf_counter() - t0, df


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    rows = []
    with Server(args.images, latency=args.latency) as srv:
        clients = {
            "glance": Client(srv.glance_endpoint, source="glance", token=TOKEN),
            "ims": Client(srv.ims_endpoint, srv.project_id, source="ims", token=TOKEN),
            "nova": Client(srv.url, srv.project_id, token=TOKEN),
        }
        cases = [
            ("glance", "glance inventory", {"page_size": args.page_size}),
            ("ims", "ims inventory", {"page_size": args.page_size}),
            ("nova", "nova SAVING+UNKNOWN", {"page_size": max(1, args.page_size // 10),
                                             "status": ["SAVING", "UNKNOWN"]}),
            ("glance", "glance small (1 page)", {"page_size": 1000, "status": "SAVING"}),
        ]
        for source, label, options in cases:
            client = clients[source]
            one_s, one = timed(client, workers=1, **options)
            many_s, many = timed(client, workers=args.workers, **options)
            pd.testing.assert_frame_equal(many, one)
            meta_one, meta = one.attrs["imgframe"], many.attrs["imgframe"]
            pages = [p["pages"] for p in meta["partitions"]]
            rows.append({
                "case": label, "images": len(one), "workers": args.workers,
                "requests_1": meta_one["requests"], "requests_n": meta["requests"],
                "seconds_1": round(one_s, 2), "seconds_n": round(many_s, 2),
                "speedup": round(one_s / many_s, 2),
                "streams_n": len(pages), "pages_per_stream": " ".join(map(str, pages)),
            })
            print(f"{label:24} {len(one):6} images  workers=1 {one_s:6.2f} s "
                  f"({meta_one['requests']} req)  workers={args.workers} {many_s:6.2f} s "
                  f"({meta['requests']} req)  {one_s / many_s:4.2f}x  pages/stream {pages}",
                  flush=True)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"streams-{stamp}.csv"
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"latency {args.latency} s per request, page_size {args.page_size}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}; wrote {out}")


if __name__ == "__main__":
    main()
