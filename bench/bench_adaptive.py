"""Benchmark: issue 23's targets for the default load (``workers=None``, adaptive) against
one walk (``workers=1``), side by side in one run, on Nova (a status fan-out), Glance and IMS.

a. **slow server**: every page waits ``--latency`` (1 s) in the server, 40 pages (page
   size 100) per load: the default at least **2.8x** as fast as ``workers=1``. The
   catalogue is ~4,000 images every API lists, their statuses dealt so that Nova's
   ``status=["ACTIVE", "SAVING"]`` has three streams (active, queued, saving) of 14, 13
   and 13 pages. Nova cannot split a stream by creation time (no ``created_at`` filter or
   sort), so that is three streams at most; a second Nova row lists
   ``["ACTIVE", "SAVING", "UNKNOWN"]`` from a catalogue dealt over those six words
   (7,7,7,7,6,6 pages) to show what the fan-out gives when it has the streams.
b. **fast server** (``--fast-images`` 100,000, page size 1000, no delay): the default at
   most **1.05x** ``workers=1``'s time, every source; ``--pairs`` interleaved pairs (the
   order alternating), the median of the pairs' ratios (a pair's two loads run back to
   back, so drift in the machine's speed cancels; one load's time varies by +-20% here).
c. **rate-limited server** (``Faults(rate_limit=R, burst=B)``: 429 with ``Retry-After``
   above R requests a second): the default finishes with no error and **no more 429s**
   than ``workers=1`` gets (counted by the server). Two limits: c1, no page delay and a
   limit below one walk's pace (``--rate-limit``/``--burst``), where one walk is throttled
   too; c2, pages of 0.25 s and 6 requests a second, above one walk's pace (~4 a second)
   but below two streams': the default can learn of it only from a 429; c3, c2's limit
   announced on every answer (``rate_headers``: ``RateLimit-Limit/Remaining/Reset``, as an
   API gateway such as Kong sends them), which the default keeps under.

Each pair's frames are checked equal (``assert_frame_equal``). Servers run in child
processes (bench/_common.Server). Prints a table with PASS/MISS and writes a CSV to
bench/results/.

    .venv/bin/python bench/bench_adaptive.py                 # about 8 minutes
    .venv/bin/python bench/bench_adaptive.py --parts b --pairs 3
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TOKEN, Server, machine, print_table, write_csv  # noqa: E402

from imgframe.client import Client  # noqa: E402

#: statuses dealt over the slow catalogues: pages of 100 per Nova status stream
THREE_STREAMS = {"active": 1399, "queued": 1299, "saving": 1299}
SIX_STREAMS = {"active": 699, "queued": 699, "saving": 699, "deactivated": 699,
               "importing": 599, "uploading": 599}
TWO_STATUSES = ["ACTIVE", "SAVING"]
THREE_STATUSES = ["ACTIVE", "SAVING", "UNKNOWN"]


def clients(srv: Server) -> dict[str, Client]:
    return {"nova": Client(srv.url, srv.project_id, token=TOKEN),
            "glance": Client(srv.glance_endpoint, source="glance", token=TOKEN),
            "ims": Client(srv.ims_endpoint, srv.project_id, source="ims", token=TOKEN)}


def timed(client: Client, workers, options: dict):
    gc.collect()
    t0 = time.perf_counter()
    try:
        df = client.load(progress=False, workers=workers, **options)
    except Exception as exc:  # noqa: BLE001 - a failed load is a figure (c: a MISS)
        return time.perf_counter() - t0, None, f"{type(exc).__name__}: {exc}"[:200]
    return time.perf_counter() - t0, df, None


def streams_of(df) -> str:
    meta = df.attrs["imgframe"]
    parts = meta.get("partitions") or []
    most = (meta.get("concurrency") or {}).get("most_at_once", meta["workers"])
    return f"{len(parts) or 1} ({most} at once)"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def part_a(args, rows: list) -> None:
    cases = [("glance", "glance, all", {}, THREE_STREAMS),
             ("ims", "ims, all", {}, THREE_STREAMS),
             ("nova", "nova ACTIVE+SAVING (3 streams)", {"status": TWO_STATUSES},
              THREE_STREAMS),
             ("nova", "nova +UNKNOWN (6 streams)", {"status": THREE_STATUSES}, SIX_STREAMS)]
    servers: dict = {}
    try:
        for source, label, options, mix in cases:
            key = tuple(mix.items())
            if key not in servers:
                servers[key] = Server(0, mix=mix, latency=args.latency)
            client = clients(servers[key])[source]
            options = {"page_size": args.page_size, **options}
            one_s, one, err1 = timed(client, 1, options)
            auto_s, auto, err = timed(client, None, options)
            if err1 or err:
                raise RuntimeError(f"{label}: {err1 or err}")
            pd.testing.assert_frame_equal(auto, one)
            ratio = one_s / auto_s
            rows.append({"part": "a slow", "case": label, "images": len(one),
                         "pages": one.attrs["imgframe"]["pages"],
                         "w1_s": round(one_s, 2), "default_s": round(auto_s, 2),
                         "ratio": f"{ratio:.2f}x faster", "target": ">= 2.8x",
                         "verdict": verdict(ratio >= 2.8), "streams": streams_of(auto),
                         "requests": f"{one.attrs['imgframe']['requests']}/"
                                     f"{auto.attrs['imgframe']['requests']}"})
            print(rows[-1], flush=True)
    finally:
        for srv in servers.values():
            srv.close()


def part_b(args, rows: list) -> None:
    cases = [("nova", "nova, all (one walk both ways)", {}),
             ("nova", "nova ACTIVE+SAVING", {"status": TWO_STATUSES}),
             ("glance", "glance, all", {}), ("ims", "ims, all", {})]
    with Server(args.fast_images) as srv:
        cs = clients(srv)
        for source, label, options in cases:
            client = cs[source]
            options = {"page_size": args.fast_page_size, **options}
            timed(client, 1, options)            # warm: the server renders each page once
            times: dict = {1: [], None: []}
            frames: dict = {}
            for i in range(args.pairs):
                for workers in ((1, None) if i % 2 == 0 else (None, 1)):
                    seconds, df, err = timed(client, workers, options)
                    if err:
                        raise RuntimeError(f"{label}: {err}")
                    times[workers].append(seconds)
                    frames[workers] = df
            pd.testing.assert_frame_equal(frames[None], frames[1])
            one_s, auto_s = statistics.median(times[1]), statistics.median(times[None])
            ratio = statistics.median(a / b for a, b in zip(times[None], times[1], strict=True))
            rows.append({"part": "b fast", "case": label, "images": len(frames[1]),
                         "pages": frames[1].attrs["imgframe"]["pages"],
                         "w1_s": round(one_s, 3), "default_s": round(auto_s, 3),
                         "ratio": f"{ratio:.3f}x the time", "target": "<= 1.05x",
                         "verdict": verdict(ratio <= 1.05), "streams": streams_of(frames[None]),
                         "requests": f"{frames[1].attrs['imgframe']['requests']}/"
                                     f"{frames[None].attrs['imgframe']['requests']}",
                         "spread": " ".join(f"{a / b:.2f}" for a, b in
                                            zip(times[None], times[1], strict=True))})
            print(rows[-1], flush=True)


def part_c(args, rows: list) -> None:
    limits = [("c1", f"no delay, {args.rate_limit:g}/s burst {args.burst}",
               {"rate_limit": args.rate_limit, "burst": args.burst}),
              ("c2", "0.25 s pages, 6/s burst 2",
               {"latency": 0.25, "rate_limit": 6, "burst": 2}),
              ("c3", "c2, its quota announced",
               {"latency": 0.25, "rate_limit": 6, "burst": 2, "rate_headers": True})]
    cases = [("glance", "glance", {}), ("ims", "ims", {}),
             ("nova", "nova ACTIVE+SAVING", {"status": TWO_STATUSES})]
    with Server(0, mix=THREE_STREAMS) as srv:
        cs = clients(srv)
        for tag, how, faults in limits:
            for source, label, options in cases:
                client = cs[source]
                options = {"page_size": args.page_size, **options}
                srv.set_faults(**faults)
                srv.counters()
                one_s, one, err1 = timed(client, 1, options)
                one_n = srv.counters()
                srv.set_faults(**faults)          # a full bucket again
                srv.counters()
                auto_s, auto, err = timed(client, None, options)
                auto_n = srv.counters()
                ok = err is None and auto_n["throttled"] <= one_n["throttled"]
                if err is None and err1 is None:
                    pd.testing.assert_frame_equal(auto, one)
                rows.append({"part": f"{tag} 429s", "case": f"{label} ({how})",
                             "images": len(one) if one is not None else err1,
                             "pages": one.attrs["imgframe"]["pages"] if one is not None
                             else "", "w1_s": round(one_s, 2), "default_s": round(auto_s, 2),
                             "ratio": f"429s {one_n['throttled']} vs {auto_n['throttled']}"
                                      f"; time {auto_s / one_s:.2f}x",
                             "target": "no error, 429s <= w1's",
                             "verdict": verdict(ok) if err is None else f"MISS ({err})",
                             "streams": streams_of(auto) if auto is not None else "",
                             "requests": f"{one_n['requests']}/{auto_n['requests']}"})
                print(rows[-1], flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["a", "b", "c"], choices="abc")
    parser.add_argument("--latency", type=float, default=1.0, help="a: seconds a page")
    parser.add_argument("--page-size", type=int, default=100, help="a and c")
    parser.add_argument("--fast-images", type=int, default=100_000, help="b")
    parser.add_argument("--fast-page-size", type=int, default=1000, help="b")
    parser.add_argument("--pairs", type=int, default=11, help="b: interleaved pairs")
    parser.add_argument("--rate-limit", type=float, default=5.0, help="c1: requests/s")
    parser.add_argument("--burst", type=int, default=5, help="c1: the bucket's size")
    args = parser.parse_args(argv)
    rows: list = []
    for part in sorted(set(args.parts)):
        {"a": part_a, "b": part_b, "c": part_c}[part](args, rows)
    print()
    print_table(rows, ["part", "case", "images", "pages", "w1_s", "default_s", "ratio",
                       "target", "verdict", "streams", "requests"])
    print(f"\nrequests: workers=1/default (c: as the server counted them); "
          f"streams: of the default load; {machine()}")
    print(f"wrote {write_csv('adaptive', rows)}")


if __name__ == "__main__":
    main()
