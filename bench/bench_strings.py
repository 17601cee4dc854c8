"""Benchmark: the string storage of the frame's string columns, pyarrow against Python.

pandas' ``string`` dtype stores its values in Arrow (pyarrow installed) or as Python
``str`` objects. imgframe builds its string columns in the storage pandas picks (issue 9);
this measures what each costs for the same load, each in a fresh interpreter against the
same server (its own process): wall and CPU of ``Client.load``, and the frame's memory
(``memory_usage(deep=True)``, strings counted whole).

    .venv/bin/python bench/bench_strings.py                   # 100,000 images, 3 rounds
    .venv/bin/python bench/bench_strings.py --images 20000 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Server, machine, print_table, write_csv  # noqa: E402

CHILD = """
import json, sys, time
import pandas as pd
pd.set_option("mode.string_storage", sys.argv[1])
from imgframe.client import Client
c = Client(sys.argv[2], token=sys.argv[3] or None)
w, p = time.perf_counter(), time.process_time()
df = c.load(page_size=1000, progress=False)
wall, cpu = time.perf_counter() - w, time.process_time() - p
strings = [col for col in df.columns if isinstance(df[col].dtype, pd.StringDtype)]
assert {df[col].dtype.storage for col in strings} == {sys.argv[1]}
print("RESULT " + json.dumps({"storage": sys.argv[1], "rows": len(df), "wall_s": wall,
      "cpu_s": cpu, "frame_mib": df.memory_usage(deep=True).sum() / 2**20,
      "string_mib": df[strings].memory_usage(deep=True).sum() / 2**20}))
"""


def one(storage: str, srv: Server) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, storage, srv.endpoint, srv.token or ""],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads([ln for ln in out.splitlines() if ln.startswith("RESULT ")][-1][7:])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(machine())
    runs: dict[str, list[dict]] = {"pyarrow": [], "python": []}
    with Server(args.images) as srv:
        one("python", srv)  # warm the server's page cache
        for _ in range(args.rounds):
            for storage in runs:
                runs[storage].append(one(storage, srv))
    rows = []
    for storage, results in runs.items():
        rows.append({"storage": storage, "rows": results[0]["rows"],
                     **{k: statistics.median(r[k] for r in results)
                        for k in ("wall_s", "cpu_s", "frame_mib", "string_mib")}})
    base = rows[1]
    for row in rows:
        for k in ("wall_s", "cpu_s", "frame_mib"):
            row[f"{k}_vs_python"] = row[k] / base[k]
    print_table(rows)
    print(f"wrote {write_csv('strings', rows)}")


if __name__ == "__main__":
    main()
