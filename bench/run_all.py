"""Run every benchmark in bench/ (each ``bench_*.py``) in turn, one after the other.

    .venv/bin/python bench/run_all.py                  # all, with their default sizes
    .venv/bin/python bench/run_all.py --quick          # small sizes, a few minutes
    .venv/bin/python bench/run_all.py --only peers scale

``make bench`` calls this. Benchmarks run one at a time (never two at once: the machine has
2 cores and the 1,000,000-image runs need several GiB), each in its own interpreter, its
output streamed as it goes; each writes its table as CSV to bench/results/. Exit status is 1
if any benchmark failed (crashed), 0 otherwise; missed targets are reported, not failures.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Smaller arguments for --quick (a bench not listed runs with its defaults).
QUICK = {
    "bench_peers": ["--sizes", "10000", "--rounds", "2"],
    "bench_scale": ["--sizes", "1000", "10000", "100000", "--rounds", "2"],
    "bench_analysis": ["--images", "100000", "--repeat", "3"],
    "bench_load": ["--images", "20000", "--rounds", "3"],
    "bench_server": ["--sizes", "1000", "10000", "--seconds", "1"],
    "bench_trend": ["--images", "20000"],
    "bench_refresh": ["--images", "20000", "--rounds", "2"],
    "bench_floors": ["--images", "100000"],
    "bench_projection": ["--images", "100000", "--rounds", "2"],
    "bench_adaptive": ["--latency", "0.2", "--fast-images", "20000", "--pairs", "3"],
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes, not tens)")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="run only these (e.g. peers scale, or bench_peers)")
    args = parser.parse_args(argv)

    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        wanted = {n if n.startswith("bench_") else f"bench_{n}" for n in args.only}
        unknown = wanted - {s.stem for s in scripts}
        if unknown:
            parser.error(f"no such benchmark: {', '.join(sorted(unknown))} "
                         f"(have {', '.join(s.stem for s in scripts)})")
        scripts = [s for s in scripts if s.stem in wanted]

    summary = []
    for script in scripts:
        extra = QUICK.get(script.stem, []) if args.quick else []
        print(f"\n===== {script.name} {' '.join(extra)}".rstrip(), flush=True)
        t0 = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *extra], cwd=HERE.parent)
        summary.append((script.name, code, time.perf_counter() - t0))

    print("\n===== summary")
    for name, code, seconds in summary:
        print(f"{name:<22} {'ok' if code == 0 else f'FAILED (exit {code})':<16} "
              f"{seconds:8.1f} s")
    return 0 if all(code == 0 for _, code, _ in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
