"""Glance v2 and Huawei IMS loads against their floors, beside Nova's, in one run.

    .venv/bin/python bench/bench_sources.py                 # 100,000 images, 3 rounds
    .venv/bin/python bench/bench_sources.py --images 20000 --rounds 2

One embedded server (its own process) serves the same catalogue through all three APIs.
For each API the floor is a user's requests + json loop over the same pages, keeping every
image dict, no DataFrame (Glance: the whole inventory, every visibility and hidden images,
as imgframe's default; IMS: marker paging until an empty page, since a short page proves
nothing there), and imgframe is ``Client(..., source=...).load(page_size=1000)``. Every
measurement is a fresh interpreter; rounds interleave; medians. Writes
bench/results/bench_sources-<utc>.csv.
"""

from __future__ import annotations

import argparse

from _common import Server, machine, measure, median, print_table, write_csv

PAIRS = (("nova", "floor", "imgframe"), ("glance", "floor-glance", "imgframe-glance"),
         ("ims", "floor-ims", "imgframe-ims"))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args(argv)
    print(machine())
    results: dict[str, list[dict]] = {}
    with Server(args.images) as srv:
        for _, floor, _mine in PAIRS:   # warm every route's page cache
            measure(floor, srv, args.page_size)
        for r in range(args.rounds):
            for _, floor, mine in PAIRS:
                for method in (floor, mine):
                    out = measure(method, srv, args.page_size)
                    results.setdefault(method, []).append(out)
                    print(f"  round {r + 1}  {method:16} {out['wall_s']:7.3f} s wall "
                          f"{out['cpu_s']:7.3f} s CPU  {out['rows']:,} rows", flush=True)
    rows = []
    for api, floor, mine in PAIRS:
        f, m = results[floor], results[mine]
        assert {x["rows"] for x in f} == {x["rows"] for x in m}, (api, "row counts differ")
        fw, mw = median(x["wall_s"] for x in f), median(x["wall_s"] for x in m)
        fc, mc = median(x["cpu_s"] for x in f), median(x["cpu_s"] for x in m)
        rows.append({"api": api, "rows": m[0]["rows"], "floor_wall_s": fw, "imgframe_wall_s": mw,
                     "wall_vs_floor": mw / fw, "cpu_vs_floor": mc / fc,
                     "floor_grown_mib": median(x["grown_mib"] for x in f),
                     "imgframe_grown_mib": median(x["grown_mib"] for x in m)})
    print_table(rows)
    print(f"wrote {write_csv('bench_sources', rows)}")


if __name__ == "__main__":
    main()
