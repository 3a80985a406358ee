"""Benchmark 1: the server's memory against the size of its source, Patches versus a naive server.

For each size, a synthetic source is streamed to a temporary directory; the server (a separate
process) serves it for one full pass to 10 scanners draining it at once, while 1,000 more sessions
wait in the queue (polling now and then, as scanners do). The server's RSS is sampled all along.

    .venv/bin/python -m bench.memory [--sizes 10MiB,100MiB,1GiB] [--runs 1]

Goal: Patches' peak RSS <= its idle RSS + budget + 10 %, the same whatever the size.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    Client,
    RssSampler,
    child,
    jsonl_tail,
    listening,
    machine,
    patches_server,
    table,
)
from bench.synth import write_source
from patches.config import parse_size

BUDGET = 64 * 2**20
SCANNERS = 10
QUEUED = 1000
PLATFORM = "debian:12"
MIB = 2**20


def patches_config(source: Path) -> str:
    return f"""
[server]
port = 0
[sessions]
max_active = {SCANNERS}
max_queued = {QUEUED + 10}
timeout_seconds = 600
[window]
max_records = 1000000
max_bytes = {BUDGET}
batch_size = 1000
[memory]
budget = {BUDGET}
{jsonl_tail(source, PLATFORM)}"""


@dataclass
class Run:
    idle: int
    peak: int
    records: int
    seconds: float


def serve_once(server: AbstractContextManager[tuple[str, int]], queued: int) -> Run:
    """One full pass to SCANNERS scanners, with ``queued`` sessions waiting; RSS sampled."""
    with server as (url, pid):
        sampler = RssSampler(pid)
        time.sleep(0.5)  # let start-up settle before calling it idle
        idle = sampler.rss()
        with sampler:
            clients = [Client(url) for _ in range(SCANNERS)]
            sessions = [c.open(PLATFORM) for c in clients]
            waiting = Client(url)
            parked = [waiting.open(PLATFORM) for _ in range(queued)]
            stop = threading.Event()

            def keep_alive() -> None:
                """The queued scanners poll now and then, as real ones do."""
                poller = Client(url)
                while not stop.wait(5):
                    for session in parked:
                        if stop.is_set():
                            return
                        poller.request("GET", f"/v1/sessions/{session}")

            poller = threading.Thread(target=keep_alive, daemon=True)
            poller.start()
            started = time.monotonic()
            with ThreadPoolExecutor(SCANNERS) as pool:
                counts = list(
                    pool.map(lambda cs: cs[0].drain(cs[1]), zip(clients, sessions, strict=True))
                )
            seconds = time.monotonic() - started
            stop.set()
            poller.join()
        assert len(set(counts)) == 1, counts  # every scanner got the whole list
        return Run(idle, sampler.peak, counts[0], seconds)


def naive(source: Path) -> Callable[[], AbstractContextManager[tuple[str, int]]]:
    return lambda: child(
        ["-m", "bench.naive_server", "--source", str(source), "--batch-size", "1000"],
        ready=listening,
    )


def patches(source: Path, workdir: Path) -> Callable[[], AbstractContextManager[tuple[str, int]]]:
    return lambda: patches_server(patches_config(source), workdir)


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.peak)[len(runs) // 2]


def sizes(text: str) -> Iterator[tuple[str, int]]:
    for part in text.split(","):
        yield part.strip(), parse_size(part.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10MiB,100MiB,1GiB")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--queued", type=int, default=QUEUED)
    args = parser.parse_args()
    rows = [("Source", "Records", "Server", "Idle RSS", "Peak RSS", "Growth", "Goal", "Pass")]
    with tempfile.TemporaryDirectory(prefix="patches-bench-") as tmp:
        work = Path(tmp)
        for label, size in sizes(args.sizes):
            source = work / f"source-{label}.jsonl"
            write_source(source, size, PLATFORM)
            for name, server in (("patches", patches(source, work)), ("naive", naive(source))):
                run = median_run([serve_once(server(), args.queued) for _ in range(args.runs)])
                growth = run.peak - run.idle
                goal = ""
                if name == "patches":
                    goal = "met" if run.peak <= run.idle + BUDGET * 1.1 else "NOT met"
                rows.append((
                    label, f"{run.records:,}", name, f"{run.idle / MIB:.0f} MiB",
                    f"{run.peak / MIB:.0f} MiB", f"{growth / MIB:+.0f} MiB", goal,
                    f"{run.seconds:.0f} s",
                ))  # fmt: skip
                print(" | ".join(rows[-1]), flush=True)
            source.unlink()
    print(
        f"\nMemory against source size ({machine()}): budget {BUDGET // MIB} MiB, "
        f"{SCANNERS} scanners draining, {args.queued} queued; median of {args.runs} run(s)\n"
    )
    print(table(rows))
    print(f"\nGoal: peak <= idle + budget + 10 % = idle + {BUDGET * 1.1 / MIB:.1f} MiB.")


if __name__ == "__main__":
    main()
