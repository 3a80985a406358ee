"""Ingest rates of the sources: Clair (sequential versus concurrent, 20 ms away and on loopback)
and OSV (the real Go database). Prints a Markdown table of medians.

    .venv/bin/python -m bench.ingest [--runs 3]

The fake Clair (built from a real Clair v2.1.0's responses) runs in its own process, so that it
does not share the client's interpreter lock.
"""

from __future__ import annotations

import argparse
import itertools
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import urllib3

from bench.common import child, machine, median_of, shared_data, table
from patches.sources.clair import ClairOptions, ClairSource
from patches.sources.osv import OsvOptions, OsvSource

NAMESPACE = "debian:11"
SEQUENTIAL_SAMPLE = 300  # records: the sequential walk 20 ms away takes 6 s for these


def clair_rate(url: str, concurrency: int, limit: int | None) -> float:
    """Records per second of a ClairSource walking debian:11 (the first ``limit`` records)."""
    source = ClairSource(
        "bench", ClairOptions(url, concurrency=concurrency, platforms=(NAMESPACE,))
    )
    started = time.perf_counter()
    count = sum(1 for _ in itertools.islice(source.records(NAMESPACE), limit))
    elapsed = time.perf_counter() - started
    source.close()
    return count / elapsed


def server_capacity(url: str, names: list[str], threads: int) -> float:
    """Detail requests per second the fake answers to ``threads`` keep-alive clients."""
    http = urllib3.PoolManager(maxsize=threads, headers={"Accept-Encoding": "gzip"})
    path = f"{url}/v1/namespaces/debian%3A11/vulnerabilities/{{}}?fixedIn"
    lock = threading.Lock()
    todo = iter(names)

    def work() -> None:
        while True:
            with lock:
                name = next(todo, None)
            if name is None:
                return
            assert http.request("GET", path.format(name)).status == 200

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(work) for _ in range(threads)]:
            future.result()
    return len(names) / (time.perf_counter() - started)


@contextmanager
def fake_clair(latency: float) -> Iterator[str]:
    """The fake Clair in its own process; yields its URL."""
    with child(
        ["-m", "tests.fake_clair", "--latency", str(latency)],
        ready=lambda line: line.strip() if line.startswith("http://") else None,
    ) as (url, _):
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = [("Source", "Set-up", "Records/s (median)", "Against")]
    if shared_data("clair-v2.1.0") is None:
        print("skipping Clair: the captured responses are not here (set SHARED_DATA)")
    else:
        with fake_clair(0.020) as url:
            sequential = median_of(args.runs, lambda: clair_rate(url, 1, SEQUENTIAL_SAMPLE))
            concurrent = median_of(args.runs, lambda: clair_rate(url, 32, None))
        rows.append(
            ("clair", "20 ms latency, 1 at a time (the original)", f"{sequential:,.0f}", "baseline")
        )
        rows.append(
            (
                "clair",
                "20 ms latency, 32 in flight",
                f"{concurrent:,.0f}",
                f"{concurrent / sequential:.1f}x the baseline",
            )
        )
        with fake_clair(0.0) as url:
            source = ClairSource("names", ClairOptions(url, platforms=(NAMESPACE,)))
            names = [s[1]["Name"] for s in source._walk(NAMESPACE, None)]
            source.close()
            capacity = median_of(args.runs, lambda: server_capacity(url, names, 32))
            loopback = median_of(args.runs, lambda: clair_rate(url, 32, None))
        rows.append(
            (
                "clair",
                "loopback, the fake's own capacity (32 clients)",
                f"{capacity:,.0f}",
                "ceiling",
            )
        )
        rows.append(
            (
                "clair",
                "loopback, 32 in flight",
                f"{loopback:,.0f}",
                f"{loopback / capacity:.0%} of the ceiling",
            )
        )
    go = shared_data("osv/Go.zip")
    if go is None:
        print("skipping OSV: Go.zip is not here (set SHARED_DATA)")
    else:

        def osv_rate() -> float:
            source = OsvSource("go", OsvOptions(go, platforms=("go",)))
            started = time.perf_counter()
            count = sum(1 for _ in source.records("go"))
            return count / (time.perf_counter() - started)

        rows.append(("osv", "Go.zip, 4,291 records", f"{median_of(args.runs, osv_rate):,.0f}", ""))
    print(f"\nIngest rates ({machine()}; medians of {args.runs} runs)\n")
    print(table(rows))


if __name__ == "__main__":
    main()
