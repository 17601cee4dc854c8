"""Shared plumbing for bench_peers, bench_scale and bench_analysis (not a benchmark itself).

* :class:`Server` runs the embedded Nova-compatible server in a *child process* (so its CPU
  and memory never count against the client; the machine has only 2 cores), optionally
  with a token and a per-request cProfile of the server's handler.
* :func:`measure` runs one client load in a *fresh* child process and returns its wall time,
  CPU time (``time.process_time``) and peak RSS (``ru_maxrss``), so that peaks of
  different methods are comparable: every measurement starts from an empty interpreter
  with only that method's imports done (imports are not timed; ``rss_base_mib`` is the
  RSS after them, ``grown_mib`` the peak above it).
* the three ways of listing: ``floor`` (requests + json, no DataFrame), ``imgframe``
  (``Client.load``), ``openstacksdk`` (``conn.compute.images(details=True)`` +
  ``pd.DataFrame([i.to_dict() ...])``).

Run directly only as a child:  ``python bench/_common.py serve N [--token T] [--profile F]
[--latency S] [--servers N] [--mix active=1399,queued=1299] [--rate-limit R --burst B]``
or ``python bench/_common.py measure METHOD ENDPOINT TOKEN PAGE_SIZE [--profile F]``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TOKEN = "bench-token"


# --------------------------------------------------------------------------- the server


class Server:
    """The embedded server in a child process: ``with Server(100_000) as srv: srv.endpoint``.

    ``profile``: a path; the child then profiles every request handler (cProfile, merged
    across the server's threads) and the inventory build, and writes the stats there on exit.
    ``mix``: ``{status: count}`` instead of ``images``' sample (:func:`mixed_inventory`);
    ``rate_limit``/``burst``: ``Faults(rate_limit=..., burst=...)``. While it runs,
    :meth:`counters` reads (and zeroes) its answer counters and :meth:`set_faults` replaces
    its faults.
    """

    def __init__(self, images: int, *, token: str | None = TOKEN, profile: str | None = None,
                 seed: int = 0, latency: float = 0.0, servers: int | None = None,
                 mix: dict[str, int] | None = None, rate_limit: float | None = None,
                 burst: int = 1):
        cmd = [sys.executable, str(Path(__file__).resolve()), "serve", str(images),
               "--seed", str(seed)]
        if mix:
            cmd += ["--mix", ",".join(f"{k}={v}" for k, v in mix.items())]
        if rate_limit is not None:
            cmd += ["--rate-limit", str(rate_limit), "--burst", str(burst)]
        if servers is not None:    # Nova's /servers too: a cloud of about that many servers
            cmd += ["--servers", str(servers)]
        if latency:
            cmd += ["--latency", str(latency)]
        if token:
            cmd += ["--token", token]
        if profile:
            cmd += ["--profile", str(profile)]
        self.token = token
        self.images = images
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True)
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(5)
            raise RuntimeError(f"the server child exited ({self._proc.returncode})")
        info = json.loads(line)
        self.url = info["url"]
        self.endpoint = info["endpoint"]
        self.project_id = info["project_id"]
        self.glance_endpoint = info.get("glance_endpoint")
        self.ims_endpoint = info.get("ims_endpoint")
        self.inventory_s = info["inventory_s"]
        self.start_s = info["start_s"]
        self.pid = self._proc.pid

    def rss_mib(self) -> float:
        return _rss_of(self.pid)

    def _ask(self, line: str) -> dict:
        self._proc.stdin.write(line + "\n")
        self._proc.stdin.flush()
        return json.loads(self._proc.stdout.readline())

    def counters(self) -> dict:
        """The images requests answered since the last call: ``requests``, ``throttled``
        (429s) and ``statuses`` (``{"200": n, ...}``); zeroed after reading."""
        return self._ask("stats")

    def set_faults(self, **faults) -> None:
        """Replace the server's faults: ``Faults(**faults)`` (e.g. ``rate_limit=5``)."""
        self._ask("faults " + json.dumps(faults))

    def close(self) -> dict:
        """Stop the child; returns its closing report (peak RSS, requests)."""
        if self._proc.poll() is not None:
            return {}
        self._proc.stdin.close()
        out = self._proc.stdout.read()
        self._proc.wait(120)
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        return json.loads(lines[-1]) if lines else {}

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def mixed_inventory(mix: dict[str, int], seed: int = 0) -> list[dict]:
    """Sample records that every API lists by default (Nova, Glance and IMS alike: public or
    the project's own private ones, not hidden), ``mix[status]`` of each Glance status, the
    statuses dealt at random over the creation times (the records' other fields are the
    sample's, drawn for their own status)."""
    import random

    from imgframe.server import DEFAULT_PROJECT_ID, sample_inventory

    wanted = sum(mix.values())
    records: list = []
    size = wanted * 2
    while len(records) < wanted:
        records = [r for r in sample_inventory(size, seed=seed)   # IMS: no community
                   if not r["os_hidden"] and (r["visibility"] == "public" or (
                       r["visibility"] == "private" and r["owner"] == DEFAULT_PROJECT_ID))]
        size *= 2
    statuses = [status for status, count in mix.items() for _ in range(count)]
    random.Random(seed).shuffle(statuses)
    return [{**r, "status": status} for r, status in zip(records, statuses, strict=False)]


def _serve_child(images: int, token: str | None, profile: str | None, seed: int,
                 latency: float = 0.0, servers: int | None = None,
                 mix: dict[str, int] | None = None, rate_limit: float | None = None,
                 burst: int = 1) -> None:
    import cProfile
    import pstats
    import threading

    from imgframe.server import Faults, ImageServer, sample_inventory
    from imgframe.server.handler import Handler

    prof_init = cProfile.Profile(time.process_time) if profile else None
    t0 = time.perf_counter()
    if prof_init:
        prof_init.enable()
    inventory = mixed_inventory(mix, seed) if mix else sample_inventory(images, seed=seed)
    t1 = time.perf_counter()
    # latency: every images request (each page) sleeps that long in its handler thread
    srv = ImageServer(inventory, seed=seed, token=token,
                      faults=Faults(latency=latency, rate_limit=rate_limit, burst=burst),
                      servers=False if servers is None else servers).start()
    if prof_init:
        prof_init.disable()
    t2 = time.perf_counter()
    del inventory

    merged: list = []
    lock = threading.Lock()
    if profile:  # cProfile sees one thread only: profile each request, merge them at exit
        original = Handler.do_GET

        def do_get(self):
            prof = cProfile.Profile(time.process_time)
            prof.enable()
            try:
                return original(self)
            finally:
                prof.disable()
                with lock:
                    merged.append(prof)

        Handler.do_GET = do_get

    print(json.dumps({"url": srv.url, "endpoint": srv.endpoint, "project_id": srv.project_id,
                      "glance_endpoint": srv.glance_endpoint, "ims_endpoint": srv.ims_endpoint,
                      "inventory_s": t1 - t0, "start_s": t2 - t1}), flush=True)
    for line in sys.stdin:   # commands, one a line, each answered by one JSON line
        command, _, arg = line.strip().partition(" ")
        if command == "stats":
            stats = srv.stats
            print(json.dumps({"requests": stats.requests, "throttled": stats.throttled,
                              "statuses": {str(k): v for k, v in stats.statuses.items()}}),
                  flush=True)
            stats.reset()
        elif command == "faults":
            srv.faults = Faults(**json.loads(arg))
            print("{}", flush=True)
    requests_served = srv.stats.requests
    srv.stop()
    if profile:
        stats = pstats.Stats(prof_init)
        stats.dump_stats(f"{profile}.startup")
        with lock:
            if merged:
                stats = pstats.Stats(merged[0])
                for p in merged[1:]:
                    stats.add(p)
                stats.dump_stats(profile)
    print(json.dumps({"requests": requests_served, "peak_rss_mib": _peak_rss_mib()}),
          flush=True)


# --------------------------------------------------------------------------- the clients


def floor(endpoint: str, token: str | None, page_size: int) -> list:
    """The floor: the same pages with a plain requests.Session and json; no DataFrame.

    Follows Nova's next links (their marker, on the configured endpoint) until a page has
    none; keeps every image dict, as any user must.
    """
    from urllib.parse import parse_qs, urlsplit

    import requests

    session = requests.Session()
    if token:
        session.headers["X-Auth-Token"] = token
    url = f"{endpoint}/images/detail"
    params = {"limit": page_size}
    images: list = []
    while True:
        r = session.get(url, params=params, timeout=120)
        r.raise_for_status()
        data = json.loads(r.content)
        images.extend(data["images"])
        links = [link["href"] for link in data.get("images_links", ())
                 if link.get("rel") == "next"]
        if not links:
            return images
        params = {"limit": page_size, "marker": parse_qs(urlsplit(links[0]).query)["marker"][0]}


def imgframe_load(endpoint: str, token: str | None, page_size: int):
    from imgframe.client import Client

    return Client(endpoint, token=token).load(page_size=page_size, progress=False)


#: bench_projection's columns (issue 23's target: 1,000,000 images in 6 s and 1 GiB)
PROJECTION = ["id", "name", "status", "created", "updated", "size"]


def imgframe_columns(endpoint: str, token: str | None, page_size: int):
    """``Client.load(columns=PROJECTION)``: a projection, the rest never decoded."""
    from imgframe.client import Client

    return Client(endpoint, token=token).load(page_size=page_size, progress=False,
                                              columns=PROJECTION)


def imgframe_gc_running(endpoint: str, token: str | None, page_size: int):
    """``Client.load`` with the collector left running (as before the pause): an A/B."""
    import contextlib

    try:
        import imgframe.listing.settings as settings
    except ImportError:   # a tree from before imgframe/listing/
        import imgframe.client as settings

        settings._gc_paused = contextlib.nullcontext
    else:
        settings.gc_paused = contextlib.nullcontext
    return imgframe_load(endpoint, token, page_size)


def imgframe_serial(endpoint: str, token: str | None, page_size: int):
    """``Client.load`` without the one-page prefetch (each page requested when needed)."""
    try:
        import imgframe.listing.settings as settings
    except ImportError:   # a tree from before imgframe/listing/
        import imgframe.client as settings
    settings.PREFETCH = False
    return imgframe_load(endpoint, token, page_size)


def openstacksdk_load(endpoint: str, token: str | None, page_size: int):
    """What openstacksdk users write: a Connection, then a DataFrame of to_dict()s."""
    import openstack
    import pandas as pd

    conn = openstack.connect(auth_type="admin_token",
                             auth={"endpoint": endpoint, "token": token},
                             compute_endpoint_override=endpoint)
    images = conn.compute.images(details=True, limit=page_size)
    return pd.DataFrame([i.to_dict() for i in images])


def _root(endpoint: str) -> str:
    """The server's root URL from its Nova endpoint (``{root}/v2.1/{project}``)."""
    return endpoint.split("/v2.1/")[0]


def floor_glance(endpoint: str, token: str | None, page_size: int) -> list:
    """The floor for Glance v2: requests + json, the whole inventory (every visibility, hidden
    images too: two passes), paging by the marker of each page's ``next`` link."""
    import requests

    session = requests.Session()
    if token:
        session.headers["X-Auth-Token"] = token
    url = f"{_root(endpoint)}/image/v2/images"
    images: list = []
    for hidden in ("false", "true"):
        params = {"limit": page_size, "visibility": "all", "os_hidden": hidden}
        while True:
            r = session.get(url, params=params, timeout=120)
            r.raise_for_status()
            data = json.loads(r.content)
            images.extend(data["images"])
            if "next" not in data or not data["images"]:
                break
            params = dict(params, marker=data["images"][-1]["id"])
    return images


def floor_ims(endpoint: str, token: str | None, page_size: int) -> list:
    """The floor for Huawei IMS: requests + json, marker paging until an empty page (a short
    page proves nothing: the maximum page size is undocumented)."""
    import requests

    session = requests.Session()
    if token:
        session.headers["X-Auth-Token"] = token
    url = f"{_root(endpoint)}/ims/v2/cloudimages"
    images: list = []
    params = {"limit": page_size}
    while True:
        r = session.get(url, params=params, timeout=120)
        r.raise_for_status()
        page = json.loads(r.content)["images"]
        if not page:
            return images
        images.extend(page)
        params = {"limit": page_size, "marker": page[-1]["id"]}


def imgframe_glance(endpoint: str, token: str | None, page_size: int):
    from imgframe.client import Client

    return Client(f"{_root(endpoint)}/image", source="glance", token=token).load(
        page_size=page_size, progress=False)


def imgframe_ims(endpoint: str, token: str | None, page_size: int):
    from imgframe.client import Client

    return Client(f"{_root(endpoint)}/ims", source="ims", token=token).load(
        page_size=page_size, progress=False)


METHODS = {"floor": floor, "imgframe": imgframe_load, "openstacksdk": openstacksdk_load,
           "imgframe-gc-running": imgframe_gc_running, "floor-glance": floor_glance,
           "imgframe-serial": imgframe_serial, "imgframe-columns": imgframe_columns,
           "imgframe-glance": imgframe_glance, "floor-ims": floor_ims,
           "imgframe-ims": imgframe_ims}
IMPORTS = {"floor": ["requests"],
           "imgframe": ["imgframe.client", "pandas", "requests"],
           "openstacksdk": ["openstack", "pandas"],
           "imgframe-gc-running": ["imgframe.client", "pandas", "requests"],
           "imgframe-serial": ["imgframe.client", "pandas", "requests"],
           "imgframe-columns": ["imgframe.client", "pandas", "requests"],
           "floor-glance": ["requests"], "floor-ims": ["requests"],
           "imgframe-glance": ["imgframe.client", "pandas", "requests"],
           "imgframe-ims": ["imgframe.client", "pandas", "requests"]}


def _measure_child(method: str, endpoint: str, token: str | None, page_size: int,
                   profile: str | None, frame_memory: bool) -> None:
    import gc
    import importlib
    import warnings

    warnings.simplefilter("ignore")
    for module in IMPORTS[method]:
        importlib.import_module(module)
    func = METHODS[method]
    gc.collect()
    base = _rss_of(os.getpid())
    in_gc = {"s": 0.0, "full": 0, "t": 0.0}

    def gc_clock(phase, info):  # time spent in the cyclic garbage collector
        if phase == "start":
            in_gc["t"] = time.perf_counter()
        else:
            in_gc["s"] += time.perf_counter() - in_gc["t"]
            in_gc["full"] += info["generation"] == 2

    gc.callbacks.append(gc_clock)
    if profile:
        import cProfile

        prof = cProfile.Profile(time.process_time)  # CPU time: the machine may be busy
    w0, c0 = time.perf_counter(), time.process_time()
    if profile:
        prof.enable()
    out = func(endpoint, token, page_size)
    if profile:
        prof.disable()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    gc.callbacks.remove(gc_clock)
    peak = _peak_rss_mib()
    result = {"method": method, "rows": len(out), "wall_s": wall, "cpu_s": cpu,
              "peak_rss_mib": peak, "rss_base_mib": base, "grown_mib": peak - base,
              "gc_s": in_gc["s"], "gc_full_collections": in_gc["full"]}
    if frame_memory and hasattr(out, "memory_usage"):
        result["frame_mib"] = float(out.memory_usage(deep=True).sum()) / 2**20
        result["frame_bytes_per_image"] = (result["frame_mib"] * 2**20 / len(out)
                                           if len(out) else 0.0)
    if profile:
        prof.dump_stats(profile)
    print("RESULT " + json.dumps(result), flush=True)


def measure(method: str, server: Server, page_size: int = 1000, *, profile=None,
            frame_memory: bool = False) -> dict:
    """One load by ``method`` in a fresh interpreter; its figures as a dict."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "measure", method, server.endpoint,
           server.token or "", str(page_size)]
    if profile:
        cmd += ["--profile", str(profile)]
    if frame_memory:
        cmd += ["--frame-memory"]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


# --------------------------------------------------------------------------- reporting


def child_json(code: str, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter with ``env`` added to the environment; the JSON
    object its last line of output printed (bench_ab and bench_merge: a load per process)."""
    done = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, **env),
                          stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _rss_of(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def median(values) -> float:
    return statistics.median(values)


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import pandas as pd

    return (f"{os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}, "
            f"pandas {pd.__version__}, {platform.machine()}, load average "
            f"{os.getloadavg()[0]:.1f} (other work on the machine adds noise to wall times)")


def print_table(rows: list[dict], cols: list[str] | None = None) -> None:
    cols = cols or list(rows[0])
    text = [[_fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in text)) for i, c in enumerate(cols)]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for t in text:
        print("  ".join(v.rjust(w) for v, w in zip(t, widths, strict=True)))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.1f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def write_csv(name: str, rows: list[dict]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}-{stamp}.csv"
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["utc", *cols])
        writer.writeheader()
        for r in rows:
            writer.writerow({"utc": stamp, **r})
    latest = RESULTS / f"{name}.csv"
    latest.write_bytes(path.read_bytes())
    return path


def top_functions(profile_path: str, n: int = 15, sort: str = "tottime") -> str:
    """The top of a cProfile dump as text."""
    import io
    import pstats

    buf = io.StringIO()
    stats = pstats.Stats(str(profile_path), stream=buf)
    stats.strip_dirs().sort_stats(sort).print_stats(n)
    lines = buf.getvalue().splitlines()
    start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
    head = [ln for ln in lines[:start] if "function calls" in ln]
    return "\n".join(head + lines[start:])


def _main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("images", type=int)
    s.add_argument("--token")
    s.add_argument("--profile")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--latency", type=float, default=0.0)
    s.add_argument("--servers", type=int, default=None)
    s.add_argument("--mix", default=None, help="status=count,... (mixed_inventory)")
    s.add_argument("--rate-limit", type=float, default=None)
    s.add_argument("--burst", type=int, default=1)
    m = sub.add_parser("measure")
    m.add_argument("method", choices=sorted(METHODS))
    m.add_argument("endpoint")
    m.add_argument("token")
    m.add_argument("page_size", type=int)
    m.add_argument("--profile")
    m.add_argument("--frame-memory", action="store_true")
    args = parser.parse_args(argv)
    if args.cmd == "serve":
        mix = ({k: int(v) for k, v in (p.split("=") for p in args.mix.split(","))}
               if args.mix else None)
        _serve_child(args.images, args.token, args.profile, args.seed, args.latency,
                     args.servers, mix, args.rate_limit, args.burst)
    else:
        _measure_child(args.method, args.endpoint, args.token or None, args.page_size,
                       args.profile, args.frame_memory)


if __name__ == "__main__":
    _main()
