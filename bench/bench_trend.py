"""Benchmark: the server-side changes-since trend with workers=1 against workers=8.

52 weekly cutoffs over a catalogue of 100,000 sample images on the embedded server,
ids only (the list endpoint), with no added latency and with a small per-request latency
that mimics a network round trip. Also times the same counts from a loaded frame
(``df.images.changed_since``). Prints a table and writes a CSV to bench/results/.

    .venv/bin/python bench/bench_trend.py                     # defaults below
    .venv/bin/python bench/bench_trend.py --images 20000 --latency 0 0.005 --repeat 3
    .venv/bin/python bench/bench_trend.py --in-process     # server shares the GIL

By default the server runs in a child process, as a real cloud would be elsewhere;
``--in-process`` shows what happens when client and server share one interpreter.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

import imgframe.accessor  # noqa: F401  (registers df.images)
from imgframe.client import Client
from imgframe.server import Faults, ImageServer, sample_inventory
from imgframe.trends import changes_since_trend, trend_cutoffs

RESULTS = Path(__file__).resolve().parent / "results"


def _serve(conn, images: int, seed: int) -> None:
    """Child process: run the embedded server and obey simple commands from the pipe."""
    inventory = sample_inventory(images, seed=seed)
    newest = max(r["updated_at"] for r in inventory if r["updated_at"] is not None)
    with ImageServer(inventory, seed=seed) as srv:
        conn.send((srv.endpoint, newest))
        while True:
            command, value = conn.recv()
            if command == "latency":
                srv.faults = Faults(latency=value)
            elif command == "reset":
                srv.stats.reset()
            elif command == "stats":
                conn.send((srv.stats.requests, srv.stats.max_in_flight))
                continue
            elif command == "stop":
                conn.send(None)
                return
            conn.send(None)


class Server:
    """The embedded server, in this process or (default) in a child process, so that the
    client's threads do not share one interpreter lock with the server, as over a network."""

    def __init__(self, images: int, seed: int, in_process: bool):
        self.in_process = in_process
        if in_process:
            inventory = sample_inventory(images, seed=seed)
            self.newest = max(r["updated_at"] for r in inventory if r["updated_at"] is not None)
            self._srv = ImageServer(inventory, seed=seed).__enter__()
            self.endpoint = self._srv.endpoint
        else:
            ctx = mp.get_context("spawn")
            self._conn, child = ctx.Pipe()
            self._proc = ctx.Process(target=_serve, args=(child, images, seed), daemon=True)
            self._proc.start()
            self.endpoint, self.newest = self._conn.recv()

    def _ask(self, command, value=None):
        self._conn.send((command, value))
        return self._conn.recv()

    def set_latency(self, seconds: float) -> None:
        if self.in_process:
            self._srv.faults = Faults(latency=seconds)
        else:
            self._ask("latency", seconds)

    def reset(self) -> None:
        self._srv.stats.reset() if self.in_process else self._ask("reset")

    def stats(self) -> tuple[int, int]:
        if self.in_process:
            return self._srv.stats.requests, self._srv.stats.max_in_flight
        return self._ask("stats")

    def close(self) -> None:
        if self.in_process:
            self._srv.__exit__(None, None, None)
        else:
            self._ask("stop")
            self._proc.join(10)


def run(args) -> list[dict]:
    began = time.perf_counter()
    server = Server(args.images, args.seed, args.in_process)
    where = "this process" if args.in_process else "a child process"
    print(f"server with {args.images:,} images ready in {time.perf_counter() - began:.1f}s "
          f"({where})", file=sys.stderr)
    rows = []
    try:
        client = Client(server.endpoint)
        end = pd.Timestamp(server.newest).floor("D")   # the last cutoff: the newest change's day
        cutoffs = trend_cutoffs(end - pd.Timedelta(weeks=args.weeks - 1), end, "W")
        assert len(cutoffs) == args.weeks, len(cutoffs)
        reference = None
        for latency in args.latency:
            server.set_latency(latency)
            for workers in args.workers:
                times = []
                for _ in range(args.repeat):
                    server.reset()
                    began = time.perf_counter()
                    trend = changes_since_trend(client, cutoffs=cutoffs, workers=workers)
                    times.append(time.perf_counter() - began)
                if reference is None:
                    reference = trend
                assert trend.equals(reference), "the trend changed between runs"
                requests, in_flight = server.stats()
                rows.append({
                    "source": "server", "latency_ms": round(latency * 1000, 1),
                    "workers": workers, "seconds": round(statistics.median(times), 3),
                    "runs": len(times), "requests": requests, "max_in_flight": in_flight,
                    "ids_listed": int(trend["images"].sum()),
                })
        server.set_latency(0.0)
        server.reset()
        began = time.perf_counter()
        df = client.load(progress=False)
        load_s = time.perf_counter() - began
        requests, in_flight = server.stats()
        began = time.perf_counter()
        local = df.images.changed_since(cutoffs)
        local_s = time.perf_counter() - began
        assert local.equals(reference), "frame and server disagree"
        rows.append({"source": "frame: detail load", "latency_ms": 0.0, "workers": 1,
                     "seconds": round(load_s, 3), "runs": 1, "requests": requests,
                     "max_in_flight": in_flight, "ids_listed": len(df)})
        rows.append({"source": "frame: changed_since", "latency_ms": 0.0, "workers": 1,
                     "seconds": round(local_s, 4), "runs": 1, "requests": 0,
                     "max_in_flight": 0, "ids_listed": 0})
    finally:
        server.close()
    for row in rows:
        base = next((r for r in rows if r["source"] == "server" and r["workers"] == 1
                     and r["latency_ms"] == row["latency_ms"]), None)
        row["speedup_vs_1"] = (round(base["seconds"] / row["seconds"], 2)
                               if base and row["source"] == "server" else "")
        row["server"] = where
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.01],
                        help="seconds added to each images request (default: 0 and 0.01)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--in-process", action="store_true",
                        help="run the server in this process (shares the GIL with the client)")
    args = parser.parse_args(argv)

    rows = run(args)
    header = ["source", "latency_ms", "workers", "seconds", "speedup_vs_1", "requests",
              "max_in_flight", "ids_listed", "runs", "server"]
    print(f"\nchanges-since trend: {args.weeks} weekly cutoffs, {args.images:,} images, "
          f"server in {rows[0]['server']} "
          f"(python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs)")
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in header]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row[h]).rjust(w) for h, w in zip(header, widths, strict=True)))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    tag = "inproc" if args.in_process else "subproc"
    path = RESULTS / f"bench_trend_{args.images}_{tag}_{stamp}.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
