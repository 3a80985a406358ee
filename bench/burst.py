"""A burst of session opens: the queue's bound holds and everyone beyond it is told so.

The server (default settings: 64 active, 1,000 queued, a 64 MiB budget; the demo data) has
scanners draining; then 5,000 session opens arrive at once from 50 threads, half on each protocol.
Expected: as many sessions as places and queue allow, explicit 429s with Retry-After for the
rest, no error of any other kind, RSS within the budget, and the draining scanners going on.

    .venv/bin/python -m bench.burst [--opens 5000]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

from bench.common import Client, RssSampler, machine, patches_server, table
from patches.config import MemoryConfig

PLATFORMS = ("debian:12", "ubuntu:22.04", "alpine:3.19")
CONFIG = """
[server]
port = 0
[sessions]
timeout_seconds = 600
[window]
batch_size = 50
[state]
path = ":memory:"
[[sources]]
kind = "demo"
platforms = ["debian:12", "ubuntu:22.04", "alpine:3.19"]
records = 5000000
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--opens", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=50)
    args = parser.parse_args()
    budget = MemoryConfig().budget
    with tempfile.TemporaryDirectory(prefix="patches-bench-") as tmp:
        with patches_server(CONFIG, Path(tmp)) as (url, pid):
            sampler = RssSampler(pid)
            time.sleep(0.5)
            idle = sampler.rss()
            with sampler:
                drainers = [Client(url) for _ in range(6)]
                sessions = [c.open(PLATFORMS[i % 3]) for i, c in enumerate(drainers)]
                progress = [0] * len(drainers)
                stop = threading.Event()

                def drain(index: int) -> None:
                    client, session = drainers[index], sessions[index]
                    while not stop.is_set():
                        status, body = client.request(
                            "GET",
                            f"/v1/sessions/{session}/vulnerabilities?cursor={progress[index]}",
                        )
                        if status == 200:
                            progress[index] = orjson.loads(body)["nextCursor"]

                threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(drainers))]
                for t in threads:
                    t.start()
                time.sleep(1)
                before = sum(progress)
                outcomes: Counter[str] = Counter()
                lock = threading.Lock()

                def burst(index: int) -> None:
                    client = Client(url)
                    for n in range(args.opens // args.threads):
                        platform = PLATFORMS[n % 3]
                        if index % 2:
                            status, body = client.request(
                                "POST", "/v1/sessions", orjson.dumps({"platform": platform})
                            )
                        else:
                            status, body = client.request("GET", f"/?platform={platform}")
                        kind = {200: "opened", 201: "opened", 429: "refused (429)"}.get(
                            status, f"error {status}"
                        )
                        explicit = status != 429 or (
                            orjson.loads(body)["code"] == "queue_full"
                            and client.last_headers.get("Retry-After", "").isdigit()
                        )
                        with lock:
                            outcomes[kind] += 1
                            if not explicit:
                                outcomes["error: a 429 without its code or Retry-After"] += 1

                started = time.monotonic()
                with ThreadPoolExecutor(args.threads) as pool:
                    list(pool.map(burst, range(args.threads)))
                seconds = time.monotonic() - started
                during = sum(progress) - before
                time.sleep(1)
                after = sum(progress) - before - during
                stop.set()
                for t in threads:
                    t.join()
                _, status_body = Client(url).request("GET", "/v1/status")
        sessions_counters = orjson.loads(status_body)["registry"]["sessions"]
    errors = sum(v for k, v in outcomes.items() if k.startswith("error"))
    opens = f"{sum(outcomes.values()):,} in {seconds:.1f} s from {args.threads} threads"
    counts = f"{sessions_counters['active']} / {sessions_counters['queued']}"
    growth = f"{(sampler.peak - idle) / 2**20:.0f} MiB (budget {budget // 2**20} MiB)"
    rows = [
        ("Measure", "Value"),
        ("session opens", opens),
        ("opened (active or queued)", f"{outcomes['opened']:,}"),
        ("refused, 429 queue_full + Retry-After", f"{outcomes['refused (429)']:,}"),
        ("other answers (errors)", f"{errors:,}"),
        ("server's own count: active / queued", counts),
        ("peak RSS growth", growth),
        ("records to the draining scanners during the burst", f"{during:,}"),
        ("records to them in the second after", f"{after:,}"),
    ]
    print(f"\nBurst of session opens ({machine()})\n")
    print(table(rows))


if __name__ == "__main__":
    main()
