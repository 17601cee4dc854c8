"""imgframe.load_servers against openstacksdk and the bare floor (issue 24, "Measured").

    .venv/bin/python bench/bench_servers.py                          # 100,000 servers
    .venv/bin/python bench/bench_servers.py --servers 20000 --rounds 3   # a quick run

Nova ``/servers/detail``, page size 1000, token auth (a project member), all on the same
embedded server (in its own process, ``_common.Server(..., servers=N)``: a cloud of N servers
over ``--images`` images, of which the caller's project lists its live ones), in one run:

* ``floor``: a plain ``requests.Session`` + ``json`` walking ``/servers/detail?limit=1000``
  by its next links, every server dict kept, no DataFrame; it asks microversion 2.3, as
  imgframe's listing does, so both get the same bytes. It also clocks the time spent inside
  ``session.get`` (``wait_s``: the server rendering the page, plus sending it), the server's
  share of the walk;
* ``imgframe``: ``imgframe.load_servers(endpoint, project_id, token=..., soft_deleted=False,
  check_cells=False, page_size=1000)``: these two options make it the same one listing as
  the floor's (no ``changes-since`` listing of deleted servers, no down-cell probes);
* ``openstacksdk``: ``conn.compute.servers(details=True, limit=1000)`` through an
  ``admin_token`` Connection with ``compute_endpoint_override``, then
  ``pd.DataFrame([s.to_dict() for s in servers])`` (it negotiates its own microversion);
* ``imgframe-default`` (``--default``, one round): ``load_servers(endpoint, project_id,
  token=...)`` as shipped: ``soft_deleted=True`` lists with ``changes-since`` (deleted and
  soft-deleted servers too, so more rows) and ``check_cells=True`` adds two requests. It is
  not comparable row for row with the floor; it shows what the defaults cost.

Every measurement is a fresh interpreter (imports done before the clock starts): wall time,
CPU time of the client process, peak RSS and its growth above the post-import RSS. The server
is warmed by one untimed floor walk (its filtered, sorted listing is cached; pages are
rendered on every request); rounds interleave the methods; medians are reported. Ratios
imgframe/floor and openstacksdk/imgframe are from the same run. Writes
bench/results/bench_servers-<utc>.csv (and bench_servers.csv, the latest).

Run directly as a child only by this script: ``bench_servers.py child METHOD ENDPOINT
PROJECT_ID TOKEN PAGE_SIZE``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from _common import Server, machine, median, print_table, write_csv

METHODS = ("floor", "imgframe", "openstacksdk")
#: the microversion imgframe's listing asks (imgframe.sources.servers.LISTING_MICROVERSION)
MICROVERSION = "2.3"


# --------------------------------------------------------------------------- the clients


def floor(endpoint: str, project_id: str, token: str, page_size: int):
    """requests + json by the next links; returns (servers, seconds inside session.get)."""
    import requests

    session = requests.Session()
    session.headers.update({"X-Auth-Token": token, "Accept": "application/json",
                            "X-OpenStack-Nova-API-Version": MICROVERSION,
                            "OpenStack-API-Version": f"compute {MICROVERSION}"})
    url, params = f"{endpoint}/servers/detail", {"limit": page_size}
    servers: list = []
    waited = 0.0
    while True:
        t0 = time.perf_counter()
        r = session.get(url, params=params, timeout=120)
        waited += time.perf_counter() - t0
        r.raise_for_status()
        data = json.loads(r.content)
        servers.extend(data["servers"])
        links = [link["href"] for link in data.get("servers_links", ())
                 if link.get("rel") == "next"]
        if not links:
            return servers, waited
        url, params = links[0], None


def imgframe_one_listing(endpoint: str, project_id: str, token: str, page_size: int):
    import imgframe

    return imgframe.load_servers(endpoint, project_id, token=token, soft_deleted=False,
                                 check_cells=False, page_size=page_size), None


def imgframe_default(endpoint: str, project_id: str, token: str, page_size: int):
    import imgframe

    return imgframe.load_servers(endpoint, project_id, token=token,
                                 page_size=page_size), None


def openstacksdk_load(endpoint: str, project_id: str, token: str, page_size: int):
    import openstack
    import pandas as pd

    conn = openstack.connect(auth_type="admin_token",
                             auth={"endpoint": endpoint, "token": token},
                             compute_endpoint_override=endpoint)
    servers = conn.compute.servers(details=True, limit=page_size)
    return pd.DataFrame([s.to_dict() for s in servers]), None


CLIENTS = {"floor": (floor, ["requests"]),
           "imgframe": (imgframe_one_listing, ["imgframe", "pandas", "requests"]),
           "imgframe-default": (imgframe_default, ["imgframe", "pandas", "requests"]),
           "openstacksdk": (openstacksdk_load, ["openstack", "pandas"])}


def _rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _child(method: str, endpoint: str, project_id: str, token: str, page_size: int) -> None:
    import gc
    import importlib
    import warnings

    warnings.simplefilter("ignore")
    func, imports = CLIENTS[method]
    for module in imports:
        importlib.import_module(module)
    gc.collect()
    base = _rss_mib()
    w0, c0 = time.perf_counter(), time.process_time()
    out, waited = func(endpoint, project_id, token, page_size)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"method": method, "rows": len(out), "wall_s": wall, "cpu_s": cpu,
              "peak_rss_mib": peak, "grown_mib": peak - base}
    if waited is not None:
        result["wait_s"] = waited
    print("RESULT " + json.dumps(result), flush=True)


def measure(method: str, srv: Server, page_size: int) -> dict:
    """One load by ``method`` in a fresh interpreter; its figures as a dict."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "child", method, srv.endpoint,
           srv.project_id, srv.token, str(page_size)]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


# --------------------------------------------------------------------------- the run


def run(n_servers: int, n_images: int, rounds: int, osdk_rounds: int, page_size: int,
        default: bool) -> tuple[list[dict], float]:
    t0 = time.perf_counter()
    with Server(n_images, servers=n_servers) as srv:
        started = time.perf_counter() - t0
        print(f"  server up in {started:.1f} s ({n_servers:,} servers over {n_images:,} "
              "images)", file=sys.stderr, flush=True)
        measure("floor", srv, page_size)   # warm: the server's filtered, sorted listing
        runs: dict[str, list[dict]] = {m: [] for m in (*METHODS, "imgframe-default")}
        for r in range(rounds):
            for m in METHODS:
                if m == "openstacksdk" and r >= osdk_rounds:
                    continue
                runs[m].append(measure(m, srv, page_size))
                _progress(r, runs[m][-1])
        if default:
            runs["imgframe-default"].append(measure("imgframe-default", srv, page_size))
            _progress(0, runs["imgframe-default"][-1])
    runs = {m: r for m, r in runs.items() if r}
    keys = ("wall_s", "cpu_s", "peak_rss_mib", "grown_mib")
    stats = {m: {k: median([x[k] for x in runs[m]]) for k in keys} for m in runs}
    rows = []
    for m in runs:
        s = stats[m]
        row = {"servers": n_servers, "method": m, "rows": runs[m][0]["rows"],
               "runs": len(runs[m]), "wall_s": s["wall_s"],
               "wall_min_s": min(x["wall_s"] for x in runs[m]), "cpu_s": s["cpu_s"],
               "peak_rss_mib": s["peak_rss_mib"], "grown_mib": s["grown_mib"],
               "wall_vs_floor": s["wall_s"] / stats["floor"]["wall_s"],
               "cpu_vs_floor": s["cpu_s"] / stats["floor"]["cpu_s"],
               "wall_vs_imgframe": s["wall_s"] / stats["imgframe"]["wall_s"],
               "cpu_vs_imgframe": s["cpu_s"] / stats["imgframe"]["cpu_s"],
               "peak_vs_floor": s["peak_rss_mib"] / stats["floor"]["peak_rss_mib"]}
        if m == "floor":
            row["wait_s"] = median([x["wait_s"] for x in runs[m]])
        rows.append(row)
    return rows, started


def _progress(r: int, res: dict) -> None:
    print(f"  round {r + 1}  {res['method']:<16} {res['rows']:>9,} rows {res['wall_s']:8.3f} s "
          f"wall  {res['cpu_s']:8.3f} s CPU  {res['peak_rss_mib']:8.1f} MiB",
          file=sys.stderr, flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=100_000,
                        help="servers in the embedded cloud (default 100,000)")
    parser.add_argument("--images", type=int, default=10_000,
                        help="images they boot from (default 10,000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--openstacksdk-rounds", type=int, default=None,
                        help="rounds for openstacksdk (slow; default: --rounds; 0 skips it)")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--default", action="store_true",
                        help="also one round of load_servers with its default options")
    args = parser.parse_args(argv)
    osdk_rounds = args.rounds if args.openstacksdk_rounds is None else args.openstacksdk_rounds

    rows, started = run(args.servers, args.images, args.rounds, osdk_rounds, args.page_size,
                        args.default)
    print(f"\nbench_servers: Nova /servers/detail of a project member, page size "
          f"{args.page_size}, {args.servers:,} servers in the cloud over {args.images:,} "
          f"images (server built in {started:.0f} s), median of {args.rounds} rounds, fresh "
          f"process per measurement; {machine()}")
    print("imgframe = load_servers(..., soft_deleted=False, check_cells=False): one listing, "
          "like the floor's; imgframe-default = load_servers as shipped (more rows: deleted "
          "and soft-deleted servers too)")
    print_table(rows, ["method", "rows", "runs", "wall_s", "wall_min_s", "cpu_s",
                       "peak_rss_mib", "grown_mib", "wall_vs_floor", "cpu_vs_floor",
                       "wall_vs_imgframe", "cpu_vs_imgframe"])
    by = {r["method"]: r for r in rows}
    fl, im = by["floor"], by["imgframe"]
    print(f"\nthe floor waited {fl['wait_s']:.2f} s of its {fl['wall_s']:.2f} s inside "
          f"session.get ({fl['wait_s'] / fl['wall_s']:.0%}: the server rendering and sending "
          f"pages; the rest is the client's json and list work)")
    line = (f"imgframe/floor {im['wall_vs_floor']:.2f}x wall, {im['cpu_vs_floor']:.2f}x CPU, "
            f"{im['peak_vs_floor']:.2f}x peak RSS")
    if "openstacksdk" in by:
        os_ = by["openstacksdk"]
        line += (f"; openstacksdk/imgframe {os_['wall_vs_imgframe']:.1f}x wall, "
                 f"{os_['cpu_vs_imgframe']:.1f}x CPU")
    print(line)
    path = write_csv("bench_servers", rows)
    print(f"wrote {path}")
    return 0  # figures are reported, not enforced


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        _child(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]))
    else:
        sys.exit(main())
