"""Benchmark 4: the server's RSS growth per open session, at 10,000 sessions.

The server (a separate process) admits 100 active and 10,000 queued sessions; its RSS is measured
before and after opening them. The baseline, in the same run, is the design the project rejects:
one pykka actor per session (a child process starting 1,000 of them).

    .venv/bin/python -m bench.sessions [--sessions 10000]

Goal: under 2 KiB per session.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import Client, RssSampler, child, machine, patches_server, table

ACTORS = 1000


def config(sessions: int) -> str:
    return f"""
[server]
port = 0
[sessions]
max_active = 100
max_queued = {sessions}
timeout_seconds = 600
[memory]
budget = "256MiB"
[state]
path = ":memory:"
[logging]
level = "INFO"
[[sources]]
kind = "demo"
platforms = ["debian:12", "ubuntu:22.04", "alpine:3.19"]
records = 50
"""


def patches_per_session(sessions: int, workdir: Path) -> float:
    with patches_server(config(sessions), workdir) as (url, pid):
        sampler = RssSampler(pid)
        warm = Client(url)
        for platform in ("debian:12", "ubuntu:22.04", "alpine:3.19"):
            warm.open(platform)  # the windows exist before measuring
        time.sleep(0.5)
        before = sampler.rss()

        def open_many(count: int) -> None:
            client = Client(url)
            for i in range(count):
                client.open(("debian:12", "ubuntu:22.04", "alpine:3.19")[i % 3])

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(open_many, [sessions // 8] * 8))
        time.sleep(0.5)
        return (sampler.rss() - before) / (sessions // 8 * 8)


def actor_per_session_baseline() -> float:
    """Runs in a child: RSS growth per pykka actor holding one session's data."""
    import psutil
    import pykka

    class SessionActor(pykka.ThreadingActor):
        def __init__(self, session_id: str) -> None:
            super().__init__()
            self.state = {"id": session_id, "platform": "debian:12", "cursor": 0}

    process = psutil.Process()
    gc.collect()
    before = process.memory_info().rss
    refs = [SessionActor.start(f"{i:032x}") for i in range(ACTORS)]
    time.sleep(0.5)
    after = process.memory_info().rss
    for ref in refs:
        ref.stop()
    return (after - before) / ACTORS


def main() -> None:
    if sys.argv[1:] == ["--baseline-child"]:
        print(f"PER_ACTOR {actor_per_session_baseline():.0f}", flush=True)
        time.sleep(3600)  # the parent reads the figure, then stops us
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="patches-bench-") as tmp:
        patches = patches_per_session(args.sessions, Path(tmp))
    with child(
        ["-m", "bench.sessions", "--baseline-child"],
        ready=lambda line: line.split()[1] if line.startswith("PER_ACTOR") else None,
    ) as (figure, _):
        baseline = float(figure)
    rows = [
        ("Design", "Sessions", "RSS per session", "Goal"),
        ("patches: sessions as data in the registry", f"{args.sessions:,}", f"{patches:,.0f} B",
         "met" if patches < 2048 else "NOT met"),
        ("baseline: one pykka actor per session", f"{ACTORS:,}", f"{baseline:,.0f} B", ""),
    ]  # fmt: skip
    print(f"\nSessions ({machine()})\n")
    print(table(rows))
    print("\nGoal: under 2 KiB per session.")


if __name__ == "__main__":
    main()
