"""kill -9 of the server mid-stream, a restart on the same state, and nothing lost or repeated."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import urllib3

from patches.model import Vulnerability
from tests.helpers import interleaved, write_jsonl

PLATFORMS = ("alpine:3.19", "debian:12", "ubuntu:22.04")
PER_PLATFORM = 3000
SCANNERS = 50


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def server_process(config: Path, log: list[str]) -> Iterator[subprocess.Popen[str]]:
    """The real server, as operators run it; waits until it listens."""
    process = subprocess.Popen(
        [sys.executable, "-m", "patches", "--config", str(config)],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        log.append(line)
        if "listening on" in line:
            break
    reader = threading.Thread(target=lambda: log.extend(process.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        reader.join(10)
        process.stderr.close()


class Scanner(threading.Thread):
    """A v1 scanner that rides out the server's death: on any connection error it waits and asks
    again with the same cursor."""

    def __init__(self, url: str, platform: str, crash_after: threading.Event) -> None:
        super().__init__()
        self.url = url
        self.platform = platform
        self.crash_after = crash_after
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=5))
        self.records: list[dict[str, Any]] = []
        self.last: dict[str, Any] = {}
        self.session = ""
        self.error: BaseException | None = None

    def call(self, method: str, path: str, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        deadline = time.monotonic() + 60
        pause = threading.Event()
        while True:
            try:
                return self.http.request(method, self.url + path, **kwargs)
            except urllib3.exceptions.HTTPError:
                if time.monotonic() > deadline:
                    raise
                pause.wait(0.05)  # the server is down: try again soon

    def open(self) -> None:
        self.session = self.call("POST", "/v1/sessions", json={"platform": self.platform}).json()[
            "id"
        ]

    def run(self) -> None:
        try:
            pause = threading.Event()
            while True:
                reply = self.call(
                    "GET",
                    f"/v1/sessions/{self.session}/vulnerabilities",
                    fields={"cursor": len(self.records), "limit": 20},
                )
                body = reply.json()
                if reply.status == 202:
                    pause.wait(0.01)
                    continue
                assert reply.status == 200, body
                self.records += body["vulnerabilities"]
                if len(self.records) > PER_PLATFORM // 3:
                    self.crash_after.set()
                if body["done"]:
                    self.last = body
                    return
        except BaseException as e:  # checked by the test
            self.error = e


def digest(records: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for record in records:
        h.update(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
    return h.hexdigest()


def test_a_server_killed_mid_stream_and_restarted_loses_and_repeats_nothing(tmp_path: Path) -> None:
    records: list[Vulnerability] = interleaved(PLATFORMS, PER_PLATFORM)
    write_jsonl(tmp_path / "feed.jsonl", records)
    port = free_port()
    config = tmp_path / "patches.toml"
    config.write_text(
        f"""
[server]
port = {port}
[sessions]
max_active = 30
max_queued = 100
timeout_seconds = 30
[window]
max_records = 200
batch_size = 20
[state]
path = "state.sqlite3"
[[sources]]
kind = "jsonl"
path = "feed.jsonl"
"""
    )
    url = f"http://127.0.0.1:{port}"
    crash_after = threading.Event()
    log: list[str] = []
    scanners = [Scanner(url, PLATFORMS[i % 3], crash_after) for i in range(SCANNERS)]
    with server_process(config, log) as first:
        for scanner in scanners:
            scanner.open()  # 30 active, 20 queued
        for scanner in scanners:
            scanner.start()
        assert crash_after.wait(60)
        first.send_signal(signal.SIGKILL)  # mid-stream, no warning
        first.wait()
    delivered_before = sum(len(s.records) for s in scanners)
    with server_process(config, log) as second:
        for scanner in scanners:
            scanner.join(120)
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0

    assert not [s.error for s in scanners if s.error is not None]
    assert 0 < delivered_before < SCANNERS * PER_PLATFORM
    taken_up = [m for line in log if (m := re.search(r"took up (\d+) session", line))]
    assert taken_up
    assert int(taken_up[0].group(1)) > 0
    for scanner in scanners:
        expected = [r.to_wire_v1() for r in records if r.affected_platform == scanner.platform]
        assert scanner.records == expected  # every record once, in order, across the crash
        assert (scanner.last["total"], scanner.last["sha256"]) == (len(expected), digest(expected))
