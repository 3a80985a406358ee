"""Faults: replies lost on the way, sources that hang or answer garbage. Nothing lost, ever."""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import urllib3

from patches.actors import PatchesSystem
from patches.api import create_app
from patches.config import Config
from patches.core.results import ReadState
from patches.http_server import HttpServer
from patches.model import Vulnerability
from patches.sources.base import Position, SourceRecord
from patches.sources.demo import DemoOptions, DemoSource
from tests.fake_clair import FakeClair, load_captured
from tests.helpers import ManualClock, drain, interleaved, jsonl_config, shared_data
from tests.lossy_proxy import LossyProxy

PLATFORMS = ("alpine:3.19", "debian:12")


def digest(records: list[dict[str, Any]]) -> str:
    """As docs/protocol.md tells a scanner to compute it."""
    h = hashlib.sha256()
    for record in records:
        h.update(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
    return h.hexdigest()


class PatientScanner:
    """A v1 scanner that retries a lost reply with the same request, as the protocol says."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=10))
        self.lost = 0

    def call(self, method: str, path: str, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        while True:
            try:
                return self.http.request(method, self.url + path, **kwargs)
            except urllib3.exceptions.HTTPError:
                self.lost += 1  # the reply never came: ask again, unchanged

    def scan(self, platform: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        opened = self.call("POST", "/v1/sessions", json={"platform": platform})
        session = opened.json()["id"]  # a lost reply here leaves a session to expire; fine
        records: list[dict[str, Any]] = []
        pause = threading.Event()
        while True:
            reply = self.call(
                "GET", f"/v1/sessions/{session}/vulnerabilities", fields={"cursor": len(records)}
            )
            body = reply.json()
            if reply.status == 202:
                pause.wait(0.005)
                continue
            assert reply.status == 200, body
            records += body["vulnerabilities"]
            if body["done"]:
                return records, body


@pytest.fixture
def records() -> list[Vulnerability]:
    return interleaved(PLATFORMS, 600)


@pytest.fixture
def config(tmp_path: Path, records: list[Vulnerability]) -> Config:
    return jsonl_config(
        tmp_path,
        records,
        """
        [server]
        port = 0
        [sessions]
        max_active = 10
        timeout_seconds = 30
        [window]
        max_records = 64
        batch_size = 25
        """,
    )


def test_replies_lost_on_the_way_lose_no_record_and_repeat_none(
    config: Config, records: list[Vulnerability]
) -> None:
    # A lost reply to opening a session leaves that session behind, holding its window until it
    # expires: a short timeout keeps the test short.
    config = replace(config, sessions=replace(config.sessions, timeout_seconds=1.0))
    with PatchesSystem.start(config) as system:
        server = HttpServer(create_app(system), config.server)
        proxy = LossyProxy(("127.0.0.1", server.port), loss=0.10)
        with server.running(), proxy.running():
            scanners = [PatientScanner(proxy.url) for _ in range(8)]
            results: list[tuple[list[dict[str, Any]], dict[str, Any]]] = [([], {})] * len(scanners)

            def run(index: int) -> None:
                results[index] = scanners[index].scan(PLATFORMS[index % 2])

            threads = [threading.Thread(target=run, args=(i,)) for i in range(len(scanners))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
    assert proxy.dropped > 0.05 * (proxy.dropped + proxy.forwarded)  # replies were lost
    assert sum(s.lost for s in scanners) == proxy.dropped
    for index, (got, last) in enumerate(results):
        platform = PLATFORMS[index % 2]
        expected = [r.to_wire_v1() for r in records if r.affected_platform == platform]
        assert got == expected  # every record once, in order
        assert (last["total"], last["sha256"]) == (len(expected), digest(got))


class HangingSource(DemoSource):
    """Hangs reading until released: an upstream that accepts the request and never answers."""

    def __init__(self) -> None:
        super().__init__("hanging", DemoOptions(platforms=("debian:12",), records=30))
        self.hang = threading.Event()
        self.hang.set()
        self.released = threading.Event()

    def records(self, platform: str, after: Position | None = None) -> Iterator[SourceRecord]:
        if self.hang.is_set():
            self.released.wait(30)
        yield from super().records(platform, after)


def test_a_hanging_source_fails_its_pass_and_the_next_pass_recovers(config: Config) -> None:
    clock = ManualClock()
    hanging = HangingSource()
    healthy = DemoSource("healthy", DemoOptions(platforms=("alpine:3.19",), records=200))
    with PatchesSystem.start(
        config, sources=[hanging, healthy], stall_seconds=5, clock=clock, ticker=False
    ) as system:
        stuck = system.open_session("debian:12")
        other = system.open_session("alpine:3.19")
        assert system.read(stuck.id, 0).state is ReadState.PENDING
        assert len(drain(system, other.id, v1=True).names) == 200  # not stalled by the other
        clock.advance(6)
        system.sweep()  # notices the stall even if nobody polls
        failed = drain(system, stuck.id, v1=True)
        assert failed.last.state is ReadState.FAILED
        assert "did not deliver within 5 s" in (failed.last.error or "")
        hanging.hang.clear()
        hanging.released.set()  # the upstream answers again
        recovered = drain(system, system.open_session("debian:12").id, v1=True)
        assert recovered.last.state is ReadState.DONE
        assert len(recovered.names) == 30


def test_a_clair_answering_garbage_fails_its_sessions_explicitly(config: Config) -> None:
    from patches.sources.clair import ClairOptions, ClairSource

    with FakeClair(load_captured(shared_data("clair-v2.1.0"))) as fake:
        source = ClairSource("clair", ClairOptions(fake.url, platforms=("debian:12",)))
        with PatchesSystem.start(config, sources=[source], retry=_no_retry()) as system:
            fake.garbage_next(100)
            result = drain(system, system.open_session("debian:12").id, v1=False)
            assert result.last.state is ReadState.FAILED
            assert "not JSON" in (result.last.error or "")
            fake.garbage_next(0)
            again = drain(system, system.open_session("debian:12").id, v1=False)
            assert (again.last.state, len(again.names)) == (ReadState.DONE, 2)
        source.close()


def _no_retry() -> Any:
    from patches.core.feed import RetryPolicy

    return RetryPolicy(attempts=1)


def test_the_lossy_proxy_really_loses_replies() -> None:
    """The fault injector itself: replies are dropped at the rate asked, requests all reach."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen = []

    class Echo(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 1 << 16  # one write per reply
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            seen.append(self.path)
            body = self.path.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    try:
        proxy = LossyProxy(upstream.server_address[:2], loss=0.5, seed=1)  # type: ignore[arg-type]
        with proxy.running():
            http = urllib3.PoolManager(retries=False, timeout=5)
            answered = 0
            for i in range(100):
                with contextlib.suppress(urllib3.exceptions.HTTPError):
                    answered += http.request("GET", f"{proxy.url}/{i}").data == f"/{i}".encode()
        assert len(seen) == 100
        assert answered == proxy.forwarded == 100 - proxy.dropped
        assert 30 < proxy.dropped < 70
    finally:
        upstream.shutdown()
        upstream.server_close()
