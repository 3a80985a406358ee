"""The HTTP API through the real Falcon app and real actors: every status code, every shape."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import falcon
import falcon.testing
import pykka
import pytest

from patches.actors import PatchesSystem
from patches.api import create_app
from patches.api.replies import ReplySlots
from patches.config import Config
from patches.core.budget import REPLY_SLOTS
from patches.core.errors import Unavailable
from patches.core.feed import RetryPolicy
from patches.model import Vulnerability
from patches.sources.base import Position, Source, SourceError, SourceRecord
from patches.sources.demo import DemoOptions, DemoSource
from tests.helpers import ManualClock, interleaved, jsonl_config

PLATFORMS = ("alpine:3.19", "debian:12")
PER_PLATFORM = 40


@pytest.fixture
def records() -> list[Vulnerability]:
    return interleaved(PLATFORMS, PER_PLATFORM)


@pytest.fixture
def config(tmp_path: Path, records: list[Vulnerability]) -> Config:
    return jsonl_config(
        tmp_path,
        records,
        """
        [server]
        retry_after_seconds = 2
        [sessions]
        max_active = 2
        max_queued = 2
        timeout_seconds = 30
        [window]
        max_records = 100
        batch_size = 15
        """,
    )


@pytest.fixture
def system(config: Config, clock: ManualClock) -> Iterator[PatchesSystem]:
    with PatchesSystem.start(config, clock=clock, ticker=False) as running:
        yield running


@pytest.fixture
def client(system: PatchesSystem) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(system))


def expected(records: list[Vulnerability], platform: str) -> list[dict[str, Any]]:
    return [r.to_wire() for r in records if r.affected_platform == platform]


def scanner_digest(records: list[dict[str, Any]]) -> str:
    """The digest as docs/protocol.md tells a scanner to compute it, from decoded records."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def assert_error(result: falcon.testing.Result, status: int, code: str) -> dict[str, Any]:
    """Every error is JSON: a string ``error``, a stable ``code``, maybe ``details``."""
    assert result.status_code == status, result.text
    assert result.headers["content-type"] == "application/json"
    body: dict[str, Any] = result.json
    assert set(body) <= {"error", "code", "details"}
    assert isinstance(body["error"], str)
    assert body["error"]
    assert body["code"] == code
    return body


def open_legacy(client: falcon.testing.TestClient, platform: str = "debian:12") -> str:
    result = client.simulate_get("/", params={"platform": platform})
    assert result.status_code == 200
    session: str = result.json["session"]
    return session


def drain_legacy(client: falcon.testing.TestClient, session: str) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        result = client.simulate_get("/", params={"session": session})
        if result.status_code == 202:
            PAUSE.wait(0.001)
            continue
        assert result.status_code == 200
        if result.json["done"]:
            return got
        got += result.json["vulnerabilities"]
    raise AssertionError("the session did not finish")


PAUSE = threading.Event()


def until_not_202(call: Callable[[], falcon.testing.Result]) -> falcon.testing.Result:
    """Poll as a scanner does while told "nothing yet" (sooner than Retry-After says)."""
    deadline = time.monotonic() + 30
    result = call()
    while result.status_code == 202 and time.monotonic() < deadline:
        PAUSE.wait(0.001)
        result = call()
    return result


# -- the original protocol --------------------------------------------------------------------


def test_opening_a_session_answers_both_id_names(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/", params={"platform": "debian:12"})
    assert result.status_code == 200
    body = result.json
    assert body["error"] is None
    assert re.fullmatch(r"[0-9a-f]{32}", body["session"])
    assert body["requestID"] == body["session"]


def test_polling_delivers_the_whole_list_then_done(
    client: falcon.testing.TestClient, records: list[Vulnerability]
) -> None:
    session = open_legacy(client)
    assert drain_legacy(client, session) == expected(records, "debian:12")
    done = client.simulate_get("/", params={"requestID": session})  # the earliest name works too
    assert done.status_code == 200
    assert done.json == {
        "error": None,
        "vulnerabilities": [],
        "done": True,
        "total": PER_PLATFORM,
        "sha256": scanner_digest(expected(records, "debian:12")),
    }


def test_a_batch_is_the_original_shape(client: falcon.testing.TestClient) -> None:
    session = open_legacy(client)
    result = until_not_202(lambda: client.simulate_get("/", params={"session": session}))
    assert result.status_code == 200
    assert result.json["error"] is None
    assert len(result.json["vulnerabilities"]) == 15
    assert set(result.json["vulnerabilities"][0]) == {
        "name", "affectedPlatform", "detailsHref", "severity", "fixedIn",
    }  # fmt: skip


def test_a_queued_session_is_told_to_retry(client: falcon.testing.TestClient) -> None:
    open_legacy(client)
    open_legacy(client)
    queued = open_legacy(client)
    result = client.simulate_get("/", params={"session": queued})
    assert result.status_code == 202
    assert result.headers["retry-after"] == "2"
    assert result.json["error"] is None
    assert result.json["vulnerabilities"] == []
    assert "queued (position 1, waiting for a free place)" in result.json["message"]


def test_a_full_queue_is_refused_with_429(client: falcon.testing.TestClient) -> None:
    for _ in range(4):
        open_legacy(client)
    result = client.simulate_get("/", params={"platform": "debian:12"})
    assert_error(result, 429, "queue_full")
    assert result.headers["retry-after"] == "2"


def test_an_unknown_platform_is_404_naming_those_served(client: falcon.testing.TestClient) -> None:
    body = assert_error(
        client.simulate_get("/", params={"platform": "plan9"}), 404, "unknown_platform"
    )
    assert body["details"] == {"platforms": list(PLATFORMS)}
    assert "alpine:3.19, debian:12" in body["error"]


def test_an_unknown_session_is_404(client: falcon.testing.TestClient) -> None:
    assert_error(client.simulate_get("/", params={"session": "f" * 32}), 404, "unknown_session")


def test_an_expired_session_is_404_saying_so(
    client: falcon.testing.TestClient, system: PatchesSystem, clock: ManualClock
) -> None:
    session = open_legacy(client)
    clock.advance(31)
    system.sweep()
    body = assert_error(
        client.simulate_get("/", params={"session": session}), 404, "session_expired"
    )
    assert "not heard from within 30 s" in body["error"]


def test_missing_parameters_are_400(client: falcon.testing.TestClient) -> None:
    assert_error(client.simulate_get("/"), 400, "missing_parameter")
    assert_error(client.simulate_get("/", params={"session": ""}), 400, "missing_parameter")


def test_a_poll_that_also_names_the_platform_polls_as_the_original_did(
    client: falcon.testing.TestClient,
) -> None:
    session = open_legacy(client)
    both = until_not_202(
        lambda: client.simulate_get("/", params={"platform": "debian:12", "requestID": session})
    )
    assert both.status_code == 200
    assert len(both.json["vulnerabilities"]) == 15
    unknown = client.simulate_get("/", params={"platform": "debian:12", "session": "ab"})
    assert_error(unknown, 404, "unknown_session")


# -- the v1 API ---------------------------------------------------------------------------------


def post_session(client: falcon.testing.TestClient, platform: str = "debian:12") -> dict[str, Any]:
    result = client.simulate_post("/v1/sessions", json={"platform": platform})
    assert result.status_code == 201, result.text
    assert result.headers["location"] == f"/v1/sessions/{result.json['id']}"
    body: dict[str, Any] = result.json
    return body


def read_v1(client: falcon.testing.TestClient, session: str, cursor: int) -> falcon.testing.Result:
    return client.simulate_get(f"/v1/sessions/{session}/vulnerabilities", params={"cursor": cursor})


def test_v1_sessions_open_and_show_their_state(client: falcon.testing.TestClient) -> None:
    first = post_session(client)
    assert first == {"id": first["id"], "platform": "debian:12", "state": "active"}
    post_session(client, "alpine:3.19")
    third = post_session(client)
    assert (third["state"], third["queuePosition"]) == ("queued", 1)
    shown = client.simulate_get(f"/v1/sessions/{third['id']}")
    assert shown.status_code == 200
    assert shown.json == third


def test_v1_reads_by_cursor_and_a_repeated_cursor_gets_the_same_records(
    client: falcon.testing.TestClient, records: list[Vulnerability]
) -> None:
    session = post_session(client)["id"]
    got: list[dict[str, Any]] = []
    cursor = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        result = read_v1(client, session, cursor)
        if result.status_code == 202:
            assert result.json["nextCursor"] == cursor
            PAUSE.wait(0.001)
            continue
        assert result.status_code == 200
        if result.json["done"]:
            assert result.json["total"] == PER_PLATFORM
            break
        assert read_v1(client, session, cursor).content == result.content  # a lost reply
        assert result.json["cursor"] == cursor
        got += result.json["vulnerabilities"]
        cursor = result.json["nextCursor"]
    assert result.json["done"]
    assert got == expected(records, "debian:12")
    assert result.json["sha256"] == scanner_digest(got)
    shown = client.simulate_get(f"/v1/sessions/{session}").json
    assert (shown["state"], shown["total"], shown["sha256"]) == (
        "done",
        len(got),
        scanner_digest(got),
    )


def test_v1_cursor_conflicts_are_409(client: falcon.testing.TestClient) -> None:
    session = post_session(client)["id"]
    body = assert_error(read_v1(client, session, 7), 409, "cursor_conflict")
    assert body["details"] == {"acknowledged": 0, "delivered": 0}


@pytest.mark.parametrize("cursor", ["-1", "abc", "1.5"])
def test_v1_a_malformed_cursor_is_400(client: falcon.testing.TestClient, cursor: str) -> None:
    session = post_session(client)["id"]
    result = client.simulate_get(
        f"/v1/sessions/{session}/vulnerabilities", query_string=f"cursor={cursor}"
    )
    assert_error(result, 400, "invalid_parameter")


def test_v1_a_queued_session_reads_202(client: falcon.testing.TestClient) -> None:
    post_session(client)
    post_session(client)
    queued = post_session(client)["id"]
    result = read_v1(client, queued, 0)
    assert result.status_code == 202
    assert result.headers["retry-after"] == "2"
    assert result.json["state"] == "queued"
    assert result.json["queuePosition"] == 1
    assert result.json["vulnerabilities"] == []
    assert result.json["done"] is False


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"platform": 12}, 400, "invalid_body"),
        ([], 400, "invalid_body"),
        ({"platform": "debian:12", "colour": "red"}, 400, "invalid_body"),
        ({"platform": "beos"}, 404, "unknown_platform"),
    ],
)
def test_v1_bad_session_requests(
    client: falcon.testing.TestClient, body: object, status: int, code: str
) -> None:
    assert_error(client.simulate_post("/v1/sessions", json=body), status, code)


def test_v1_bodies_must_be_json(client: falcon.testing.TestClient) -> None:
    not_json = client.simulate_post(
        "/v1/sessions", body="platform=debian", headers={"content-type": "text/plain"}
    )
    assert_error(not_json, 415, "unsupported_media_type")
    broken = client.simulate_post(
        "/v1/sessions", body="{oops", headers={"content-type": "application/json"}
    )
    assert_error(broken, 400, "invalid_json")
    empty = client.simulate_post("/v1/sessions", headers={"content-type": "application/json"})
    assert_error(empty, 400, "invalid_json")


def test_v1_queue_full_is_429(client: falcon.testing.TestClient) -> None:
    for _ in range(4):
        post_session(client)
    result = client.simulate_post("/v1/sessions", json={"platform": "debian:12"})
    assert_error(result, 429, "queue_full")
    assert result.headers["retry-after"] == "2"


def test_v1_deleting_a_session_ends_it(client: falcon.testing.TestClient) -> None:
    session = post_session(client)["id"]
    assert client.simulate_delete(f"/v1/sessions/{session}").status_code == 204
    assert_error(client.simulate_delete(f"/v1/sessions/{session}"), 404, "unknown_session")
    assert_error(client.simulate_get(f"/v1/sessions/{session}"), 404, "unknown_session")
    assert_error(read_v1(client, session, 0), 404, "unknown_session")


def test_v1_platforms(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/v1/platforms")
    assert result.status_code == 200
    assert result.json == {"platforms": list(PLATFORMS)}


def test_v1_status_shows_the_servers_own_accounting(client: falcon.testing.TestClient) -> None:
    session = open_legacy(client)
    drain_legacy(client, session)
    status = client.simulate_get("/v1/status").json
    assert status["registry"]["sessions"]["finished"] == 1
    assert status["registry"]["windows"]["peakRecords"] <= 100
    assert status["feeds"][0]["reads"] == {"debian:12": PER_PLATFORM}
    assert status["problems"] == {}


def test_health_is_200_then_503_with_the_reason(
    client: falcon.testing.TestClient, system: PatchesSystem
) -> None:
    assert client.simulate_get("/v1/health").json == {"status": "ok"}
    (registry,) = pykka.ActorRegistry.get_by_class_name("RegistryActor")
    registry.stop()
    system.sweep()
    body = assert_error(client.simulate_get("/v1/health"), 503, "unhealthy")
    assert body["details"]["problems"]["session registry"] == "stopped"
    unavailable = client.simulate_get("/", params={"platform": "debian:12"})
    assert_error(unavailable, 503, "unavailable")
    assert unavailable.headers["retry-after"] == "2"


def test_unknown_routes_and_methods_get_json_errors(client: falcon.testing.TestClient) -> None:
    body = assert_error(client.simulate_get("/nowhere"), 404, "not_found")
    assert body["error"] == "Not Found: GET /nowhere"
    assert_error(client.simulate_post("/"), 405, "method_not_allowed")
    assert_error(client.simulate_put("/v1/platforms"), 405, "method_not_allowed")


# -- waiting for records and failing sources ---------------------------------------------------


class GatedSource(Source):
    """Yields nothing until its gate opens, then demo records; or fails, if told to."""

    kind = "gated"

    def __init__(self, fail: bool = False) -> None:
        super().__init__("gated")
        self.gate = threading.Event()
        self.fail = fail
        self.inner = DemoSource("inner", DemoOptions(platforms=("debian:12",), records=20))

    def platforms(self) -> frozenset[str]:
        return self.inner.platforms()

    def records(self, platform: str, after: Position | None = None) -> Iterator[SourceRecord]:
        self.gate.wait(10)
        if self.fail:
            raise SourceError("the upstream answered 500 five times")
        yield from self.inner.records(platform, after)


@pytest.fixture
def gated(config: Config) -> Iterator[tuple[GatedSource, falcon.testing.TestClient]]:
    source = GatedSource()
    with PatchesSystem.start(config, sources=[source]) as system:
        yield source, falcon.testing.TestClient(create_app(system))
        source.gate.set()


def test_records_not_fetched_yet_are_202_on_both_protocols(
    gated: tuple[GatedSource, falcon.testing.TestClient],
) -> None:
    source, client = gated
    legacy = open_legacy(client)
    v1 = post_session(client)["id"]
    waiting = client.simulate_get("/", params={"session": legacy})
    assert waiting.status_code == 202
    assert waiting.headers["retry-after"] == "2"
    assert waiting.json["message"].endswith("the next records are being fetched")
    pending = read_v1(client, v1, 0)
    assert pending.status_code == 202
    assert (pending.json["state"], pending.json["done"]) == ("active", False)
    source.gate.set()
    assert len(drain_legacy(client, legacy)) == 20


def test_a_failed_source_is_502_on_both_protocols_never_done(config: Config) -> None:
    source = GatedSource(fail=True)
    source.gate.set()
    with PatchesSystem.start(config, sources=[source], retry=RetryPolicy(2, 0.0)) as system:
        client = falcon.testing.TestClient(create_app(system))
        legacy = open_legacy(client)
        v1 = post_session(client)["id"]
        body = assert_error(
            until_not_202(lambda: client.simulate_get("/", params={"session": legacy})),
            502,
            "source_failed",
        )
        assert "the upstream answered 500 five times" in body["error"]
        assert body["details"] == {"state": "failed"}
        # v1 may have joined this pass or (queued meanwhile) the next one: both fail the same way.
        assert_error(until_not_202(lambda: read_v1(client, v1, 0)), 502, "source_failed")
        shown = client.simulate_get(f"/v1/sessions/{v1}").json
        assert shown["state"] == "failed"
        assert "500 five times" in shown["error"]


def test_a_reply_holds_its_slot_until_the_server_has_taken_it() -> None:
    slots = ReplySlots(wait_seconds=0.05, slots=1)
    first, second = falcon.Response(), falcon.Response()
    slots.send(first, lambda: b"[1]")
    with pytest.raises(Unavailable, match="reply slot"):
        slots.send(second, lambda: b"[2]")  # the first is not sent yet
    assert first.stream is not None
    assert first.stream.read() == b"[1]"  # type: ignore[union-attr]
    first.stream.close()  # type: ignore[union-attr]
    slots.send(second, lambda: b"[2]")
    assert second.content_length == "3"


def test_replies_give_their_slots_back(client: falcon.testing.TestClient) -> None:
    """More batch replies than slots, one after another: none waits for a slot."""
    session = open_legacy(client)
    assert len(drain_legacy(client, session)) == PER_PLATFORM  # 3 batches
    for _ in range(3 * REPLY_SLOTS):
        opened = post_session(client, "alpine:3.19")["id"]
        assert until_not_202(lambda s=opened: read_v1(client, s, 0)).status_code == 200
        client.simulate_delete(f"/v1/sessions/{opened}")


# -- limits ---------------------------------------------------------------------------------------


def test_an_overlong_query_or_path_is_414(client: falcon.testing.TestClient) -> None:
    assert_error(
        client.simulate_get("/", query_string="session=" + "a" * 3000), 414, "uri_too_long"
    )
    assert_error(client.simulate_get("/v1/sessions/" + "a" * 2000), 414, "uri_too_long")


def test_an_overlong_body_is_413(client: falcon.testing.TestClient) -> None:
    big = b'{"platform": "' + b"x" * 20_000 + b'"}'
    told = client.simulate_post(
        "/v1/sessions", body=big, headers={"content-type": "application/json"}
    )
    assert_error(told, 413, "payload_too_large")


def test_v1_a_scanner_may_ask_for_smaller_batches(client: falcon.testing.TestClient) -> None:
    session = post_session(client)["id"]
    result = until_not_202(
        lambda: client.simulate_get(
            f"/v1/sessions/{session}/vulnerabilities", params={"cursor": 0, "limit": 4}
        )
    )
    assert result.status_code == 200
    assert (len(result.json["vulnerabilities"]), result.json["nextCursor"]) == (4, 4)
    more = client.simulate_get(  # more than the batch size (15): the batch size
        f"/v1/sessions/{session}/vulnerabilities", params={"cursor": 4, "limit": 1000}
    )
    assert len(more.json["vulnerabilities"]) == 15
    for bad in ("0", "100001", "-3"):
        refused = client.simulate_get(
            f"/v1/sessions/{session}/vulnerabilities", query_string=f"cursor=0&limit={bad}"
        )
        assert_error(refused, 400, "invalid_parameter")
