"""Run every benchmark: `python -m bench` (or `make bench`); `python -m bench NAME` runs one.

Each bench/bench_*.py module has a `main()` that prints its figures as ratios against the baseline it
names. Copy the latest figures into docs/benchmarks.md.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def main(argv: list[str]) -> None:
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    wanted = [n for n in names if not argv or any(a in n for a in argv)]
    for name in wanted:
        print(f"\n=== {name} ===", flush=True)
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
