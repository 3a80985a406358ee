"""Every benchmark, one after another (``make bench``); each prints its own table.

Budget: about 15 minutes on a 2-core machine. Set SHARED_DATA if the real data sets are not in
``../shared/data``.
"""

from __future__ import annotations

import subprocess
import sys
import time

from bench.common import REPO

BENCHMARKS = [
    ("ingest", ["--runs", "3"]),
    ("memory", ["--sizes", "10MiB,100MiB,1GiB", "--runs", "1"]),
    ("throughput", ["--runs", "3"]),
    ("fanout", []),
    ("sessions", []),
    ("burst", []),
]


def main() -> None:
    started = time.monotonic()
    failed = []
    for name, args in BENCHMARKS:
        print(f"\n=== bench.{name} {' '.join(args)}", flush=True)
        t = time.monotonic()
        if subprocess.run([sys.executable, "-m", f"bench.{name}", *args], cwd=REPO).returncode:
            failed.append(name)
        print(f"(bench.{name}: {time.monotonic() - t:.0f} s)", flush=True)
    print(f"\nAll benchmarks: {time.monotonic() - started:.0f} s; failed: {failed or 'none'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
