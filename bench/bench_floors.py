"""Benchmark: what a load cannot go below, as built on Python objects (issue 11's floors).

The embedded server (a child process) serves N detail images (default 1,000,000); their
pages are walked once and saved to a temporary file, then read back by a *fresh* process per
measurement, so neither HTTP nor the server shares the machine with it:

* ``read``: the bytes only
* ``decode``: imgframe's typed msgspec decode of each page (Nova's ``_DETAIL`` decoder),
  results dropped
* ``metadata``: the same decode, only the ``metadata`` dicts kept (what the frame keeps)
* ``interned-page`` / ``interned-walk``: ``metadata``, with repeated string values made one
  object (one table per page / for the whole walk): what sharing the strings costs and saves
* ``frame``: the decode and imgframe's frame builder: the whole load minus HTTP

and, from the parent, ``receive``: the same pages over HTTP with requests (the body in one
read, as the client reads it), warm server, nothing decoded. Beside them, the real
``Client.load`` and the floor (``_common.measure``). Imports are done before the clock;
*peak* is the process's ``ru_maxrss``.

    .venv/bin/python bench/bench_floors.py                  # 1,000,000 images (a few minutes)
    .venv/bin/python bench/bench_floors.py --images 100000
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from collections import deque
from itertools import chain, repeat
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    TOKEN,
    Server,
    _peak_rss_mib,
    _rss_of,
    machine,
    measure,
    print_table,
    write_csv,
)

MODES = ("read", "decode", "metadata", "interned-page", "interned-walk", "frame")


def _pages(path: str):
    with open(path, "rb") as f:
        while header := f.read(4):
            yield f.read(struct.unpack("<I", header)[0])


def _intern(metas: list, seen: dict) -> None:
    """Each string value of the dicts ``metas`` made the one object ``seen`` has for it, in
    place (C-level where a page has no unhashable value)."""
    metas = [m for m in metas if m]
    values = list(chain.from_iterable(map(dict.values, metas)))
    try:
        shared = list(map(seen.setdefault, values, values))
    except TypeError:   # a list among the values
        keep = seen.setdefault
        shared = [keep(v, v) if type(v) is str else v for v in values]
    it = iter(shared)
    deque(map(dict.update, metas, map(zip, map(dict.keys, metas), repeat(it))), 0)


def _child(mode: str, path: str) -> None:
    import gc

    import pandas  # noqa: F401 - imported before the clock, as a load has it
    import pyarrow  # noqa: F401

    from imgframe.sources import nova

    decoder = nova._DETAIL.decoder
    builder = nova.SOURCE.builder(True)
    base = _rss_of(os.getpid())
    gc.disable()   # as Client.load pauses it
    kept: list = []
    seen: dict = {}
    n = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for body in _pages(path):
        if mode == "read":
            continue
        images = decoder.decode(body).images
        n += len(images)
        if mode == "frame":
            builder.add(images)
        elif mode != "decode":
            metas = [i.metadata for i in images]
            if mode.startswith("interned"):
                if mode == "interned-page":
                    seen = {}
                _intern(metas, seen)
            kept.extend(metas)
    if mode == "frame":
        kept.append(builder.frame())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"images": n, "wall_s": wall, "cpu_s": cpu, "peak_rss_mib": _peak_rss_mib(),
                      "rss_base_mib": base}))


def _session():
    import requests

    session = requests.Session()
    session.headers["X-Auth-Token"] = TOKEN
    return session


def _dump(srv: Server, path: str, page_size: int) -> list:
    """Walk the detail pages once into ``path``; returns the markers of the walk."""
    session = _session()
    url, markers = f"{srv.endpoint}/images/detail", [None]
    with open(path, "wb") as f:
        while True:
            params = {"limit": page_size, **({"marker": markers[-1]} if markers[-1] else {})}
            body = session.get(url, params=params, timeout=300).content
            f.write(struct.pack("<I", len(body)) + body)
            links = [link["href"] for link in json.loads(body).get("images_links", ())
                     if link.get("rel") == "next"]
            if not links:
                return markers
            markers.append(parse_qs(urlsplit(links[0]).query)["marker"][0])


def _receive(srv: Server, markers: list, page_size: int) -> dict:
    session = _session()
    url, total = f"{srv.endpoint}/images/detail", 0
    t0, c0 = time.perf_counter(), time.process_time()
    for marker in markers:
        params = {"limit": page_size, **({"marker": marker} if marker else {})}
        response = session.get(url, params=params, stream=True, timeout=300)
        total += len(response.raw.read(decode_content=True))
        response.close()
    return {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
            "bytes_mib": total / 2**20}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, Server(args.images) as srv:
        path = str(Path(tmp) / "pages.bin")
        markers = _dump(srv, path, args.page_size)   # also warms the server's page cache
        print(f"  {len(markers)} pages, {Path(path).stat().st_size / 2**20:,.0f} MiB",
              flush=True)
        for mode in MODES:
            out = subprocess.run([sys.executable, __file__, "child", mode, path], check=True,
                                 capture_output=True, text=True).stdout
            rows.append({"what": mode, **json.loads(out.splitlines()[-1])})
            print(f"  {mode}: {rows[-1]['wall_s']:.2f} s", flush=True)
        rows.append({"what": "receive", **_receive(srv, markers, args.page_size)})
        for method in ("imgframe", "floor"):
            got = measure(method, srv, args.page_size)
            rows.append({"what": f"load: {method}", **{k: got[k] for k in got
                                                        if k in ("wall_s", "cpu_s",
                                                                 "peak_rss_mib")}})
    floor = rows[-1]["wall_s"]
    for row in rows:
        row["wall_vs_floor"] = row["wall_s"] / floor
    print(f"\nbench_floors: {args.images:,} detail images, page size {args.page_size}; "
          f"{machine()}")
    print_table(rows, ["what", "images", "wall_s", "cpu_s", "peak_rss_mib", "rss_base_mib",
                       "bytes_mib", "wall_vs_floor"])
    print(f"wrote {write_csv('bench_floors', rows)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        _child(*sys.argv[2:4])
    else:
        main()
