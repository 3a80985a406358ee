"""End to end over real HTTP: waitress on a loopback port, 25 scanners at once, both protocols."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from patches.actors import PatchesSystem
from patches.api import create_app
from patches.config import Config
from patches.http_server import HttpServer
from patches.model import Vulnerability
from tests.helpers import interleaved, jsonl_config
from tests.scanner import Refused, Scan, Scanner

pytestmark = pytest.mark.e2e

PLATFORMS = ("alpine:3.19", "debian:12", "ubuntu:22.04")
PER_PLATFORM = 2000
WINDOW_RECORDS = 16
SCANNERS = 25


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list[Vulnerability]:
    return interleaved(PLATFORMS, PER_PLATFORM)


@pytest.fixture
def config(tmp_path: Path, records: list[Vulnerability]) -> Config:
    return jsonl_config(
        tmp_path,
        records,
        f"""
        [server]
        port = 0
        [sessions]
        max_active = 5
        max_queued = 20
        timeout_seconds = 2
        [window]
        max_records = {WINDOW_RECORDS}
        max_bytes = "1MiB"
        batch_size = 8
        """,
    )


@pytest.fixture
def server(config: Config) -> Iterator[str]:
    with PatchesSystem.start(config) as system:
        http = HttpServer(create_app(system), config.server)
        with http.running():
            yield http.url


def test_every_granted_scanner_gets_exactly_its_platforms_records(
    server: str, records: list[Vulnerability]
) -> None:
    expected = {p: [r.to_wire() for r in records if r.affected_platform == p] for p in PLATFORMS}

    # A scanner that reads one batch, then goes silent while holding an active place.
    stalled = Scanner(server, v1=True)
    stalled_scan = Scan(stalled.open("debian:12"))
    while not stalled_scan.records:
        stalled.poll(stalled_scan)

    scanners = [(Scanner(server, v1=i % 2 == 0), PLATFORMS[i % 3]) for i in range(SCANNERS - 1)]
    opened = threading.Barrier(len(scanners) + 1)
    refusals_checked = threading.Event()

    def run(scanner: Scanner, platform: str) -> tuple[str, Scan]:
        session = scanner.open(platform)
        opened.wait(30)
        refusals_checked.wait(30)  # nobody polls (so nobody finishes) before the queue is tested
        return platform, scanner.drain(session)

    started = time.monotonic()
    with ThreadPoolExecutor(len(scanners)) as pool:
        futures = [pool.submit(run, scanner, platform) for scanner, platform in scanners]
        opened.wait(30)
        # 5 active and 20 queued: the queue is full, so the next scanners are refused.
        refused: list[Refused] = []
        for v1 in (False, True):
            with pytest.raises(Refused) as error:
                Scanner(server, v1=v1).open("alpine:3.19")
            refused.append(error.value)
        refusals_checked.set()
        results = [f.result() for f in futures]
    elapsed = time.monotonic() - started

    for refusal in refused:
        assert refusal.status == 429
        assert refusal.body["code"] == "queue_full"
        assert refusal.retry_after is not None
        assert int(refusal.retry_after) >= 1

    for platform, scan in results:
        assert scan.records == expected[platform]  # all, in source order, none twice
        assert scan.last["done"] is True

    # The silent scanner was expelled (and, a timeout later, forgotten); it did not stall the
    # others: they all finished.
    status, body = stalled.get(f"/?session={stalled_scan.session}")
    assert status == 404
    assert body["code"] in ("session_expired", "unknown_session")

    status, accounting = stalled.get("/v1/status")
    assert status == 200
    windows = accounting["registry"]["windows"]
    assert windows["peakRecords"] <= WINDOW_RECORDS
    assert windows["peakBytes"] <= 1 << 20
    sessions = accounting["registry"]["sessions"]
    assert sessions["expired"] == 1
    assert sessions["finished"] == len(scanners)
    assert sessions["refused"] == 2
    (feed,) = accounting["feeds"]
    for platform in PLATFORMS:  # each record was read from the source once per pass
        assert feed["reads"][platform] == PER_PLATFORM * windows["passes"][platform]

    delivered = sum(len(scan.records) for _, scan in results)
    polls = sum(scan.polls for _, scan in results)
    print(
        f"\ne2e: {delivered} records to {len(results)} scanners in {elapsed:.2f} s "
        f"({delivered / elapsed:,.0f} records/s, {polls} polls, {polls / elapsed:,.0f} polls/s); "
        f"peak window {windows['peakRecords']} records, {windows['peakBytes']} bytes; "
        f"passes {windows['passes']}"
    )


def test_a_queued_scanner_that_stops_polling_is_expelled_too(server: str) -> None:
    holders = [Scanner(server, v1=False) for _ in range(5)]
    scans = [Scan(h.open("debian:12")) for h in holders]
    quiet = Scanner(server, v1=True)
    queued = quiet.open("debian:12")
    status, body = quiet.get(f"/v1/sessions/{queued}")
    assert (status, body["state"]) == (200, "queued")
    # The holders keep polling, so they keep their places; the queued scanner stays silent (any
    # request about it would keep it alive) for longer than the timeout and a sweep.
    silent_until = time.monotonic() + 2 + 1
    pace = threading.Event()
    while time.monotonic() < silent_until:
        for holder, scan in zip(holders, scans, strict=True):
            holder.poll(scan)
        pace.wait(0.05)  # slowly enough not to finish (and free a place) meanwhile
    assert not any(scan.last.get("done") for scan in scans)
    status, body = quiet.get(f"/v1/sessions/{queued}")
    assert status == 404, body
    assert body["code"] == "session_expired"
    for holder, scan in zip(holders, scans, strict=True):
        status, body = holder.get(f"/v1/sessions/{scan.session}")
        assert (status, body["state"]) == (200, "active")
