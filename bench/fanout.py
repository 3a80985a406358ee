"""Benchmark 3: upstream reads per record delivered, with 1,000 scanners on one platform.

1,000 sessions join one pass and drain it; the server's own counters give the records read from
the source and the passes made. The baseline is the same fleet arriving one by one, too late to
join (each new pass reads the source again): reads grow with passes, never with scanners.

    .venv/bin/python -m bench.fanout [--scanners 1000] [--records 20000]

Goal: exactly one upstream read per record per pass.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import orjson

from bench.common import Client, jsonl_tail, machine, patches_server, table
from bench.synth import write_source

PLATFORM = "debian:12"


def config(source: Path, scanners: int) -> str:
    return f"""
[server]
port = 0
[sessions]
max_active = {scanners}
max_queued = {scanners}
timeout_seconds = 600
[window]
max_records = 50000
max_bytes = "16MiB"
batch_size = 1000
{jsonl_tail(source, PLATFORM)}"""


def run(
    source: Path, records: int, scanners: int, workdir: Path, *, together: bool
) -> dict[str, float]:
    with patches_server(config(source, scanners), workdir) as (url, _):
        opener = Client(url)
        delivered = 0
        lock = threading.Lock()
        started = time.monotonic()
        if together:
            sessions = [opener.open(PLATFORM) for _ in range(scanners)]
            groups = [sessions[i::50] for i in range(50)]

            def drain_group(group: list[str]) -> None:
                nonlocal delivered
                client = Client(url)
                got = sum(client.drain(s) for s in group)
                with lock:
                    delivered += got

            threads = [threading.Thread(target=drain_group, args=(g,)) for g in groups]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        else:  # one after another: each finds the previous pass over and starts another
            for _ in range(scanners):
                delivered += opener.drain(opener.open(PLATFORM))
        seconds = time.monotonic() - started
        _, body = opener.request("GET", "/v1/status")
        accounting = orjson.loads(body)
    reads = sum(feed["reads"].get(PLATFORM, 0) for feed in accounting["feeds"])
    passes = accounting["registry"]["windows"]["passes"][PLATFORM]
    assert delivered == records * scanners, (delivered, records, scanners)
    return {"delivered": delivered, "reads": reads, "passes": passes, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scanners", type=int, default=1000)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--baseline-scanners", type=int, default=10)
    args = parser.parse_args()
    rows = [("Arrival", "Scanners", "Records delivered", "Upstream reads", "Passes",
             "Reads per record per pass", "Time")]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="patches-bench-") as tmp:
        work = Path(tmp)
        source = work / "source.jsonl"
        records = write_source(source, args.records * 270, PLATFORM)
        for together, scanners in ((True, args.scanners), (False, args.baseline_scanners)):
            result = run(source, records, scanners, work, together=together)
            per = result["reads"] / (records * result["passes"])
            rows.append((
                "together (one pass)" if together else "one after another (baseline)",
                f"{scanners:,}", f"{result['delivered']:,.0f}", f"{result['reads']:,.0f}",
                f"{result['passes']:.0f}", f"{per:.3f}", f"{result['seconds']:.1f} s",
            ))  # fmt: skip
            print(" | ".join(rows[-1]), flush=True)
    print(f"\nFan-out ({machine()}): {records:,} records in the source\n")
    print(table(rows))


if __name__ == "__main__":
    main()
