"""Fuzzing the running server while scanners drain it: no 500, every error in the documented shape.

Two fuzzers against a real waitress server on loopback:
- schemathesis generates requests from ``docs/openapi.yaml`` (valid and invalid ones) and checks
  each reply against it (status codes, content types, bodies, headers);
- Hypothesis sends raw bytes: arbitrary paths, query strings, bodies and headers, non-UTF-8 and
  oversized ones.
Meanwhile scanners drain their platforms, and must get every record.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import positive_data_acceptance

from patches.actors import PatchesSystem
from patches.api import create_app
from patches.http_server import HttpServer
from patches.model import Vulnerability
from tests.helpers import interleaved, jsonl_config
from tests.scanner import Scan, Scanner

REPO = Path(__file__).resolve().parent.parent
SCHEMA = schemathesis.openapi.from_path(REPO / "docs" / "openapi.yaml")
PLATFORMS = ("alpine:3.19", "debian:12")
EXAMPLES = 500  # per operation and generation mode; the raw fuzzer sends four times as many


class Fleet:
    """Scanners draining, slowly, in the background, for as long as the fuzzing lasts."""

    def __init__(self, url: str, count: int) -> None:
        self.scanners = [Scanner(url, v1=i % 2 == 0, pause=0.005) for i in range(count)]
        self.scans = [Scan(s.open(PLATFORMS[i % 2])) for i, s in enumerate(self.scanners)]
        self.errors: list[BaseException] = []
        self._go_on = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(s, scan))
            for s, scan in zip(self.scanners, self.scans, strict=True)
        ]

    def _run(self, scanner: Scanner, scan: Scan) -> None:
        pace = threading.Event()
        try:
            while not scanner.poll(scan):
                if not self._go_on.is_set():
                    pace.wait(0.02)  # trickle while the fuzzers run
        except BaseException as e:  # reported by finish()
            self.errors.append(e)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def finish(self) -> list[Scan]:
        self._go_on.set()
        for thread in self._threads:
            thread.join(60)
        assert not self.errors, self.errors
        return self.scans


@pytest.fixture(scope="module")
def records() -> list[Vulnerability]:
    return interleaved(PLATFORMS, 1500)


@pytest.fixture
def server(tmp_path: Path, records: list[Vulnerability]) -> Iterator[str]:
    config = jsonl_config(
        tmp_path,
        records,
        """
        [server]
        port = 0
        [sessions]
        max_active = 8
        max_queued = 50
        timeout_seconds = 30
        [window]
        max_records = 100
        batch_size = 20
        """,
    )
    with PatchesSystem.start(config) as system:
        http_server = HttpServer(create_app(system), config.server)
        with http_server.running():
            yield http_server.url


def expected(records: list[Vulnerability], platform: str, v1: bool) -> list[dict[str, Any]]:
    return [
        r.to_wire_v1() if v1 else r.to_wire() for r in records if r.affected_platform == platform
    ]


def raw(url: str, request: bytes) -> tuple[int, str, bytes]:
    port = int(url.rsplit(":", 1)[1])
    method = request.split(b" ", 1)[0].decode("latin-1")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock, method=method)  # HEAD: no body follows
        response.begin()
        return response.status, response.getheader("Content-Type", ""), response.read()


def assert_documented_error(status: int, content_type: str, body: bytes) -> None:
    assert status < 500, body
    if status >= 400:
        assert content_type == "application/json", body
        error = orjson.loads(body)
        assert set(error) <= {"error", "code", "details"}
        assert isinstance(error["error"], str)
        assert isinstance(error["code"], str)


@pytest.fixture
def fleet(server: str) -> Iterator[Fleet]:
    running = Fleet(server, 4)
    running.start()
    yield running
    running.finish()  # idempotent: also when the test failed before finishing it


def test_fuzzing_finds_no_server_error_and_scanners_mid_stream_get_everything(
    server: str, fleet: Fleet, records: list[Vulnerability]
) -> None:
    cases = {"schemathesis": 0, "raw": 0}

    for result in SCHEMA.get_all_operations():
        operation = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES // 2,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: schemathesis.Case) -> None:
                response = case.call(base_url=server)
                cases["schemathesis"] += 1
                assert response.status_code < 500, response.text
                if response.status_code in (413, 414):  # too large: refused, in our shape
                    content_type = response.headers.get("content-type", [""])[0]
                    assert_documented_error(response.status_code, content_type, response.content)
                    return
                # GET / needs one of its parameters, which OpenAPI cannot say: without any, a
                # "valid" request is rightly refused (400).
                excluded = [positive_data_acceptance] if case.operation.path == "/" else []
                case.validate_response(response, excluded_checks=excluded)

            try:
                check()
            except Unsatisfiable:
                assert mode is schemathesis.GenerationMode.NEGATIVE  # nothing there to get wrong

    token = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40).map(
        lambda s: s.encode()
    )
    junk = st.binary(max_size=60)
    paths = st.sampled_from(
        [b"/", b"/v1/sessions", b"/v1/sessions/{}", b"/v1/sessions/{}/vulnerabilities",
         b"/v1/platforms", b"/v1/status", b"/v1/health", b"/{}", b"/v1/{}"]
    )  # fmt: skip

    @settings(max_examples=EXAMPLES * 4, deadline=None, database=None)
    @given(
        method=st.sampled_from([b"GET", b"POST", b"DELETE", b"PUT", b"HEAD", b"PATCH"]),
        path=paths,
        segment=st.one_of(token, junk),
        query=st.one_of(token, junk, st.binary(min_size=2000, max_size=5000)),
        body=st.one_of(st.just(b""), junk, token, st.binary(min_size=16_000, max_size=20_000)),
        header=st.one_of(st.just(b"1"), token, junk),
    )
    def check_raw(
        method: bytes, path: bytes, segment: bytes, query: bytes, body: bytes, header: bytes
    ) -> None:
        target = path.replace(b"{}", _printable(segment)) + b"?" + _printable(query)
        request = (
            method + b" " + target + b" HTTP/1.1\r\nHost: x\r\nX-Fuzz: " + _printable(header)
            + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
            + body
        )  # fmt: skip
        status, content_type, reply = raw(server, request)
        cases["raw"] += 1
        if method != b"HEAD":
            assert_documented_error(status, content_type, reply)
        else:
            assert status < 500

    check_raw()

    scans = fleet.finish()
    for index, scan in enumerate(scans):
        v1 = index % 2 == 0
        assert scan.records == expected(records, PLATFORMS[index % 2], v1)
    print(
        f"\nfuzzing: {cases['schemathesis']} schemathesis cases, {cases['raw']} raw cases, 0 errors"
    )
    assert cases["schemathesis"] >= len(list(SCHEMA.get_all_operations())) * 10
    assert cases["raw"] >= EXAMPLES


def _printable(value: bytes) -> bytes:
    """Bytes that can stand in a request line or header: no CR, LF or spaces (anything else)."""
    return value.replace(b"\r", b"%0D").replace(b"\n", b"%0A").replace(b" ", b"%20") or b"x"
