"""How fast does imgframe.server serve detail pages? (limit=1000)

    .venv/bin/python bench/bench_server.py [--sizes 1000 100000] [--seconds 3]

For each catalogue size: the time to build the inventory and the server, then detail pages per
second at limit=1000 walking the whole listing by its next links: "cold" (first walk, every
image rendered) and "warm" (fragments cached), with one client and with four clients at once.
The server runs in its own process (as `imgframe serve` would); the client reads raw bytes over
keep-alive connections and takes the next link from the end of the body, so the figures are the
server's, not a JSON parser's. Prints a table and writes bench/results/bench_server.csv.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

from _common import print_table, write_csv

SERVER = """
import json, sys, time
from imgframe.server import ImageServer, sample_inventory
t0 = time.perf_counter()
inventory = sample_inventory(int(sys.argv[1]), seed=0)
t1 = time.perf_counter()
srv = ImageServer(inventory).start()
t2 = time.perf_counter()
print(json.dumps({"port": srv.port, "project_id": srv.project_id, "inventory_s": t1 - t0,
                  "server_init_s": t2 - t1}), flush=True)
sys.stdin.read()
srv.stop()
"""

NEXT = re.compile(rb'"images_links": \[\{"rel": "next", "href": "([^"]+)"\}\]\}$')


def walk(conn: http.client.HTTPConnection, path: str) -> tuple[int, int, int]:
    """Follow next links from `path`; returns (pages, images, bytes)."""
    pages = images = size = 0
    while path:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{resp.status} for {path}: {body[:200]!r}")
        pages += 1
        size += len(body)
        images += body.count(b'"OS-EXT-IMG-SIZE:size"')
        m = NEXT.search(body[-400:])
        if m:
            parts = urlsplit(m.group(1).decode())
            path = f"{parts.path}?{parts.query}"
        else:
            path = None
    return pages, images, size


def rate(host: str, port: int, path: str, seconds: float, clients: int) -> dict:
    """Walk repeatedly with `clients` threads for about `seconds`; totals and rates."""
    totals = {"pages": 0, "images": 0, "bytes": 0}
    lock = threading.Lock()
    start = time.perf_counter()

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=60)
        while time.perf_counter() - start < seconds:
            pages, images, size = walk(conn, path)
            with lock:
                totals["pages"] += pages
                totals["images"] += images
                totals["bytes"] += size
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {**totals, "seconds": elapsed}


def bench(n: int, seconds: float) -> list[dict]:
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(n)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        host, port = "127.0.0.1", info["port"]
        path = f"/v2.1/{info['project_id']}/images/detail?limit=1000"
        conn = http.client.HTTPConnection(host, port, timeout=60)
        conn.request("GET", "/v2.1")           # connect and warm the handler, not the images
        conn.getresponse().read()
        cold_start = time.perf_counter()
        pages, images, size = walk(conn, path)
        conn.close()
        cold = {"pages": pages, "images": images, "bytes": size,
                "seconds": time.perf_counter() - cold_start}
        measured = [("cold", 1, cold)]
        for clients in (1, 4):
            measured.append(("warm", clients, rate(host, port, path, seconds, clients)))
        filt = f"/v2.1/{info['project_id']}/images/detail?limit=1000&status=active" \
               f"&changes-since=2025-06-01T00:00:00Z"
        f_start = time.perf_counter()
        conn = http.client.HTTPConnection(host, port, timeout=60)
        pages, images, size = walk(conn, filt)
        conn.close()
        measured.append(("filtered-first", 1, {"pages": pages, "images": images, "bytes": size,
                                               "seconds": time.perf_counter() - f_start}))
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    rows = []
    for phase, clients, m in measured:
        rows.append({
            "images": n, "phase": phase, "clients": clients,
            "inventory_s": round(info["inventory_s"], 3),
            "server_init_s": round(info["server_init_s"], 3),
            "pages": m["pages"], "seconds": round(m["seconds"], 3),
            "pages_per_s": round(m["pages"] / m["seconds"], 1),
            "images_per_s": round(m["images"] / m["seconds"]),
            "mb_per_s": round(m["bytes"] / m["seconds"] / 1e6, 1),
        })
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    rows = []
    for n in args.sizes:
        rows += bench(n, args.seconds)
    print_table(rows)
    out = write_csv("bench_server", rows)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
