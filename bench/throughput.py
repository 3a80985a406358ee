"""Benchmark 2: records and bytes per second to 256 scanners, against two ceilings; and latency.

Closed loop (wrk, 2 threads, 256 connections): 256 sessions drain one platform in batches of 100
and of 1,000 records. Baselines in the same run, serving the same batch bytes:
- a bare Falcon app on the same waitress settings, replying pre-built bytes (the framework's
  ceiling: Patches if actors, sessions and windows cost nothing);
- nginx serving them as a static file (the machine's ceiling), when nginx is installed.

Open loop (Python asyncio, another process): 1,000 scanners each polling once a second, batches of
100; latency measured from each poll's scheduled time, so a slow answer cannot hide the next.

    .venv/bin/python -m bench.throughput [--seconds 8] [--runs 3]

Goals: >= 80 % of the bare Falcon app's byte rate; p99 < 50 ms open loop.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

from bench.common import (
    Client,
    child,
    jsonl_tail,
    listening,
    machine,
    patches_server,
    table,
)
from bench.synth import write_source
from patches.config import ServerConfig
from patches.model import Vulnerability

HERE = Path(__file__).resolve().parent
PLATFORM = "debian:12"
CONNECTIONS = 256


def patches_config(source: Path, batch: int, max_active: int) -> str:
    return f"""
[server]
port = 0
[sessions]
max_active = {max_active}
max_queued = 100
timeout_seconds = 600
[window]
max_records = 100000
max_bytes = "48MiB"
batch_size = {batch}
[memory]
budget = "96MiB"
{jsonl_tail(source, PLATFORM)}"""


def batch_body(source: Path, batch: int) -> bytes:
    """The bytes Patches sends for a batch of the original protocol, built the same way."""
    records = []
    with source.open("rb") as f:
        for line in f:
            records.append(Vulnerability.decode(line).encode())
            if len(records) == batch:
                break
    return b'{"error":null,"vulnerabilities":[%b],"done":false}' % b",".join(records)


def wrk(
    url: str, seconds: int, script: Path | None = None, args: list[str] | None = None
) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script is not None:
        command += ["-s", str(script)]
    command.append(url)
    if args:
        command += ["--", *args]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return {
        "requests": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "bytes": _bytes(re.search(r"Transfer/sec:\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "errors": float(
            sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
        ),
    }


def _bytes(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30}[unit]


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


@contextmanager
def nginx(body: bytes, workdir: Path) -> Iterator[str | None]:
    """nginx serving ``body`` as a static file, or None when nginx is not installed."""
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if binary is None:
        yield None
        return
    root = workdir / "nginx"
    root.mkdir(exist_ok=True)
    (root / "batch.json").write_bytes(body)
    for path in (workdir, root, root / "batch.json"):  # nginx's workers run unprivileged
        path.chmod(0o755 if path.is_dir() else 0o644)
    port = _free_port()
    (root / "nginx.conf").write_text(f"""
worker_processes 2;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {root}; proxy_temp_path {root}; fastcgi_temp_path {root};
  uwsgi_temp_path {root}; scgi_temp_path {root};
  server {{ listen 127.0.0.1:{port}; root {root}; default_type application/json; }}
}}
""")
    process = subprocess.Popen([binary, "-c", str(root / "nginx.conf"), "-p", str(root)])
    try:
        _wait_for_port(port)
        url = f"http://127.0.0.1:{port}/batch.json"
        with urllib.request.urlopen(url) as answer:  # it serves the batch, not an error page
            if answer.read() != body:
                raise RuntimeError("nginx does not serve the batch file")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_port(port: int) -> None:
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def measure_patches(source: Path, batch: int, seconds: int, workdir: Path) -> dict[str, float]:
    with patches_server(patches_config(source, batch, CONNECTIONS), workdir) as (url, _):
        client = Client(url)
        ids = [client.open(PLATFORM) for _ in range(CONNECTIONS)]
        (workdir / "sessions.txt").write_text("\n".join(ids) + "\n")
        wrk(url + "/", 2, HERE / "wrk_patches.lua", [str(workdir / "sessions.txt")])  # warm-up
        return wrk(url + "/", seconds, HERE / "wrk_patches.lua", [str(workdir / "sessions.txt")])


def measure_bare(body_file: Path, seconds: int) -> dict[str, float]:
    threads = str(ServerConfig().threads)  # the same waitress settings as Patches
    with child(
        ["-m", "bench.bare_falcon", "--body", str(body_file), "--threads", threads],
        ready=listening,
    ) as (url, _):
        wrk(url + "/", 2)
        return wrk(url + "/", seconds)


# -- open loop ----------------------------------------------------------------------------------


async def open_loop(url: str, sessions: list[str], seconds: float) -> list[float]:
    """Each session polled once a second (v1, by cursor); latencies from the scheduled time."""
    host, port = re.match(r"http://([^:]+):(\d+)", url).groups()  # type: ignore[union-attr]
    latencies: list[float] = []
    start = time.monotonic() + 1.0

    async def scanner(index: int, session: str) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        cursor = 0
        tick = 0
        while True:
            scheduled = start + index / len(sessions) + tick
            if scheduled > start + seconds:
                break
            await asyncio.sleep(max(0.0, scheduled - time.monotonic()))
            writer.write(
                f"GET /v1/sessions/{session}/vulnerabilities?cursor={cursor} HTTP/1.1\r\n"
                f"Host: {host}\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: (\d+)", head, re.I).group(1))  # type: ignore[union-attr]
            body = await reader.readexactly(length)
            latencies.append(time.monotonic() - scheduled)
            if head.startswith(b"HTTP/1.1 200"):
                cursor = orjson.loads(
                    body[body.rindex(b'"nextCursor":') - 1 :].replace(b',"', b'{"', 1)
                )["nextCursor"]
            tick += 1
        writer.close()

    await asyncio.gather(*(scanner(i, s) for i, s in enumerate(sessions)))
    return latencies


def measure_open_loop(
    source: Path, scanners: int, seconds: float, workdir: Path
) -> dict[str, float]:
    with patches_server(patches_config(source, 100, scanners), workdir) as (url, _):
        client = Client(url)
        sessions = [client.open(PLATFORM) for _ in range(scanners)]
        client.connection.close()  # the scanners take all 1,000 connections the server allows
        latencies = sorted(asyncio.run(open_loop(url, sessions, seconds)))
    return {
        "polls": len(latencies),
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99)] * 1000,
        "max": latencies[-1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--open-loop-seconds", type=float, default=20)
    parser.add_argument("--scanners", type=int, default=1000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run bench/setup.sh (as root), or install it")
    rows = [("Batch", "Server", "Requests/s", "Records/s", "MB/s", "p50 ms", "p99 ms", "Against")]
    with tempfile.TemporaryDirectory(prefix="patches-bench-") as tmp:
        work = Path(tmp)
        source = work / "source.jsonl"
        write_source(source, 64 * 2**20, PLATFORM)
        for batch in (100, 1000):
            body = batch_body(source, batch)
            (work / "batch.json").write_bytes(body)
            # Interleaved, run by run: the machine's speed drifts from minute to minute, and a
            # ratio is only fair between runs made under the same conditions.
            patches_runs: list[dict[str, float]] = []
            bare_runs: list[dict[str, float]] = []
            nginx_runs: list[dict[str, float]] = []
            with nginx(body, work) as nginx_url:
                for _ in range(args.runs):
                    patches_runs.append(measure_patches(source, batch, args.seconds, work))
                    bare_runs.append(measure_bare(work / "batch.json", args.seconds))
                    if nginx_url:
                        nginx_runs.append(wrk(nginx_url, args.seconds))
            bare_rate = _median(bare_runs)["bytes"]
            patches_rate = _median(patches_runs)["bytes"]
            for name, runs in (
                ("patches", patches_runs),
                ("bare falcon", bare_runs),
                ("nginx", nginx_runs),
            ):
                if not runs:
                    rows.append(
                        (str(batch), name, "-", "-", "-", "-", "-", "nginx not installed: skipped")
                    )
                    continue
                run = _median(runs)
                rate = run["bytes"]  # small 202s ("nothing yet") weigh nothing in it
                against = f"{rate / bare_rate:.0%} of bare falcon"
                if name == "nginx":
                    against = f"patches is {patches_rate / rate:.0%} of it"
                rows.append((
                    str(batch), name, f"{run['requests']:,.0f}", f"{rate / len(body) * batch:,.0f}",
                    f"{rate / 1e6:,.0f}", f"{run['p50']:.1f}", f"{run['p99']:.1f}", against,
                ))  # fmt: skip
                print(" | ".join(rows[-1]), flush=True)
        latency = measure_open_loop(source, args.scanners, args.open_loop_seconds, work)
    print(f"\nThroughput to {CONNECTIONS} scanners ({machine()}); wrk -t2 -c{CONNECTIONS}, "
          f"{args.seconds} s, median of {args.runs} runs\n")  # fmt: skip
    print(table(rows))
    print(
        f"\nOpen loop: {args.scanners} scanners polling once a second for "
        f"{args.open_loop_seconds:g} s (batches of 100): {latency['polls']:,.0f} polls, "
        f"p50 {latency['p50']:.1f} ms, p99 {latency['p99']:.1f} ms, max {latency['max']:.1f} ms "
        f"(goal: p99 < 50 ms)"
    )


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return sorted(runs, key=lambda r: r["requests"])[len(runs) // 2]


if __name__ == "__main__":
    main()
