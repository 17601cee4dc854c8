"""How imgframe's load grows with the catalogue: 1,000 to 1,000,000 images.

    .venv/bin/python bench/bench_scale.py                           # 1k, 10k, 100k, 1M
    .venv/bin/python bench/bench_scale.py --sizes 1000 10000 100000 --rounds 3
    .venv/bin/python bench/bench_scale.py --profile-only 1000000     # cProfile both sides
    .venv/bin/python bench/bench_scale.py --gc-ab 1000000 --rounds 2  # the GC pause, A/B

For each size the embedded server runs in its own process (warmed by one untimed walk);
each load is a fresh interpreter: ``Client.load`` (detail, page size 1000) wall and CPU
time, peak RSS and its growth above the post-import RSS, and the DataFrame's own memory
(``df.memory_usage(deep=True)``) per image. The floor (requests + json, dicts kept, no
DataFrame) is measured alongside, so each size also has its imgframe/floor ratio. Rounds
are medians (sizes of 1,000,000 get one round unless --big-rounds says otherwise).

``--profile-only N`` instead profiles one cold load of N images: the client with cProfile
(bench/results/profile_client_<N>.prof) and the server's request handlers and start-up
(profile_server_<N>.prof, .prof.startup), and prints the top functions of each.
Writes bench/results/bench_scale-<utc>.csv (and bench_scale.csv, the latest).
"""

from __future__ import annotations

import argparse
import sys
import time

from _common import RESULTS, Server, machine, measure, median, print_table, top_functions, write_csv


def run(sizes, rounds: int, big_rounds: int) -> list[dict]:
    rows = []
    for n in sizes:
        t0 = time.perf_counter()
        with Server(n) as srv:
            ready = time.perf_counter() - t0
            warm = measure("floor", srv)  # untimed: renders and caches every page once
            print(f"  {n:>9,} images  server ready in {ready:.1f} s "
                  f"(inventory {srv.inventory_s:.1f} s), cold walk {warm['wall_s']:.1f} s, "
                  f"server RSS {srv.rss_mib():,.0f} MiB", file=sys.stderr, flush=True)
            k = big_rounds if n >= 1_000_000 else rounds
            runs: dict[str, list[dict]] = {"floor": [], "imgframe": []}
            for r in range(k):
                for m in runs:
                    res = measure(m, srv, frame_memory=(m == "imgframe"))
                    runs[m].append(res)
                    print(f"  {n:>9,} images  round {r + 1}  {m:<9} {res['wall_s']:8.3f} s "
                          f"wall  {res['cpu_s']:8.3f} s CPU  {res['peak_rss_mib']:8.1f} MiB",
                          file=sys.stderr, flush=True)
            server_rss = srv.rss_mib()
        img, flo = runs["imgframe"], runs["floor"]
        wall, cpu = median([x["wall_s"] for x in img]), median([x["cpu_s"] for x in img])
        peak, grown = (median([x["peak_rss_mib"] for x in img]),
                       median([x["grown_mib"] for x in img]))
        f_wall, f_cpu = median([x["wall_s"] for x in flo]), median([x["cpu_s"] for x in flo])
        f_grown = median([x["grown_mib"] for x in flo])
        rows_n = img[0]["rows"]
        gc_s = median([x["gc_s"] for x in img])
        rows.append({
            "images": n, "rows": rows_n, "rounds": k,
            "wall_s": wall, "cpu_s": cpu, "us_per_image": wall / rows_n * 1e6,
            "cpu_us_per_image": cpu / rows_n * 1e6, "gc_s": gc_s,
            "gc_share_of_cpu": gc_s / cpu, "gc_full": img[-1]["gc_full_collections"],
            "floor_gc_s": median([x["gc_s"] for x in flo]),
            "peak_rss_mib": peak, "grown_mib": grown,
            "grown_bytes_per_image": grown * 2**20 / rows_n,
            "frame_mib": img[-1]["frame_mib"],
            "frame_bytes_per_image": img[-1]["frame_bytes_per_image"],
            "floor_wall_s": f_wall, "floor_cpu_s": f_cpu, "floor_grown_mib": f_grown,
            "wall_vs_floor": wall / f_wall, "cpu_vs_floor": cpu / f_cpu,
            "server_inventory_s": srv.inventory_s, "server_cold_walk_s": warm["wall_s"],
            "server_rss_mib": server_rss,
        })
    first = rows[0]
    for r in rows:  # growth against the smallest size: 1.0 per image is linear
        r["time_growth_per_image"] = r["us_per_image"] / first["us_per_image"]
        r["cpu_growth_per_image"] = r["cpu_us_per_image"] / first["cpu_us_per_image"]
    return rows


def profile(n: int) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    server_prof = RESULTS / f"profile_server_{n}.prof"
    client_prof = RESULTS / f"profile_client_{n}.prof"
    with Server(n, profile=str(server_prof)) as srv:
        res = measure("imgframe", srv, profile=str(client_prof))
    print(f"profiled one cold load of {n:,} images ({res['rows']:,} rows): "
          f"{res['wall_s']:.1f} s wall, {res['cpu_s']:.1f} s client CPU (under cProfile)")
    for title, path, sort in (
            ("client, by own time", client_prof, "tottime"),
            ("client, cumulative", client_prof, "cumulative"),
            ("server requests, by own time", server_prof, "tottime"),
            ("server start-up (inventory + index), by own time",
             f"{server_prof}.startup", "tottime")):
        print(f"\n=== {title}: {path}")
        print(top_functions(str(path), 18, sort))


def gc_ab(n: int, rounds: int) -> None:
    """Client.load with the cyclic GC paused (as shipped) against it left running."""
    rows = []
    with Server(n) as srv:
        measure("floor", srv)
        for r in range(rounds):
            for m in ("imgframe-gc-running", "imgframe"):
                res = measure(m, srv)
                rows.append({"images": n, "round": r + 1, **res})
    print(f"\nbench_scale --gc-ab: Client.load of {n:,} images, collector running vs paused; "
          f"{machine()}")
    print_table(rows, ["images", "round", "method", "wall_s", "cpu_s", "gc_s",
                       "gc_full_collections", "peak_rss_mib"])
    print(f"wrote {write_csv('bench_scale_gc_ab', rows)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[1000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big-rounds", type=int, default=1,
                        help="rounds at 1,000,000 images and above")
    parser.add_argument("--profile-only", type=int, metavar="N",
                        help="profile one load of N images (client and server) instead")
    parser.add_argument("--gc-ab", type=int, metavar="N",
                        help="A/B of N images: the collector paused (as shipped) or running")
    args = parser.parse_args(argv)
    if args.gc_ab:
        gc_ab(args.gc_ab, args.rounds)
        return 0
    if args.profile_only:
        profile(args.profile_only)
        return 0
    rows = run(args.sizes, args.rounds, args.big_rounds)
    print(f"\nbench_scale: Client.load, detail, page size 1000, fresh process per "
          f"measurement; {machine()}")
    print_table(rows, ["images", "rows", "wall_s", "cpu_s", "cpu_us_per_image",
                       "cpu_growth_per_image", "peak_rss_mib", "grown_mib",
                       "grown_bytes_per_image", "frame_bytes_per_image", "wall_vs_floor",
                       "cpu_vs_floor"])
    print("\ncyclic garbage collector inside the load (gc.callbacks): seconds, share of CPU")
    print_table(rows, ["images", "gc_s", "gc_share_of_cpu", "gc_full", "floor_gc_s"])
    print("\nserver side (its own process): inventory build, first (cold) walk, RSS")
    print_table(rows, ["images", "server_inventory_s", "server_cold_walk_s", "server_rss_mib"])
    path = write_csv("bench_scale", rows)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
