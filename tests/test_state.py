"""The durable state: saved, loaded, and taken up by a restarted system."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from patches.actors import PatchesSystem
from patches.core.errors import UnknownSession
from patches.core.feed import Feed
from patches.core.results import Checkpoint, ReadResult, ReadState, SessionState
from patches.core.window import Window, WindowBounds
from patches.sources.demo import DemoOptions, DemoSource
from patches.state import StateStore
from tests.helpers import config_from, drain, names, split_payload

PLATFORM = "debian:12"


def test_the_store_keeps_sessions_passes_and_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = StateStore(path)
    store.open_pass(7, PLATFORM)
    for position, resume in ((0, None), (100, (4096, 100)), (200, (8192, 200))):
        store.save_checkpoint(7, Checkpoint(position, 0, resume))
    store.save_session("a" * 32, PLATFORM, "active", 1, 7)
    store.save_session("b" * 32, PLATFORM, "queued", 2, None)
    store.save_session("c" * 32, PLATFORM, "queued", 3, None)
    store.save_acks([("a" * 32, 150)])
    store.forget_session("c" * 32)
    store.forget_checkpoints_below(7, 150)
    store.close()

    snapshot = StateStore(path).load()  # as a restarted server reads it
    assert [(s.id[0], s.state, s.pass_id, s.acked) for s in snapshot.sessions] == [
        ("a", "active", 7, 150),
        ("b", "queued", None, 0),
    ]
    assert snapshot.passes == {7: PLATFORM}
    assert snapshot.checkpoints[7] == (
        Checkpoint(100, 0, (4096, 100)),
        Checkpoint(200, 0, (8192, 200)),
    )


def test_a_closed_pass_leaves_nothing_behind(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite3")
    store.open_pass(1, PLATFORM)
    store.save_checkpoint(1, Checkpoint(0, 0, None))
    store.close_pass(1)
    snapshot = store.load()
    assert (snapshot.passes, snapshot.checkpoints) == ({}, {})


def read(window: Window, sid: str, cursor: int | None) -> ReadResult:
    result = window.read(sid, cursor, 0.0)
    assert isinstance(result, ReadResult), result
    return result


def drain_window(window: Window, feed: Feed, sid: str, cursor: int) -> tuple[list[str], ReadResult]:
    got: list[str] = []
    while True:
        while (request := window.next_fetch()) is not None:
            window.deliver(feed.fetch("stream", PLATFORM, request))
        result = read(window, sid, cursor)
        if result.state is ReadState.DONE:
            return got, result
        if result.state is ReadState.READY:
            got += names(split_payload(result.payload))
            cursor = result.next_cursor


def test_a_restored_pass_resumes_at_a_checkpoint_and_rebuilds_its_digest() -> None:
    source = DemoSource("demo", DemoOptions(platforms=(PLATFORM,), records=500))
    expected = [item.record for item in source.records(PLATFORM)]
    bounds = WindowBounds(max_records=64, max_bytes=1 << 20, batch_size=20)

    before = Window(PLATFORM, bounds, 1)
    before.join("s", 0.0)
    feed = Feed(source)
    cursor = 0
    checkpoints: list[Checkpoint] = []
    while cursor < 230:
        while (request := before.next_fetch()) is not None:
            before.deliver(feed.fetch("stream", PLATFORM, request))
        checkpoints += before.take_checkpoints()
        result = read(before, "s", cursor)
        cursor = result.next_cursor
    feed.close()
    # The crash: only the checkpoints and the acknowledged cursor (a little behind) survive.
    saved_ack = 200
    checkpoint = max((c for c in checkpoints if c.position <= saved_ack), key=lambda c: c.position)
    assert 0 < checkpoint.position <= saved_ack

    after = Window.restored(PLATFORM, bounds, 1, None, checkpoint, {"s": saved_ack}, 0.0)
    fresh = Feed(DemoSource("demo", DemoOptions(platforms=(PLATFORM,), records=500)))
    got, done = drain_window(after, fresh, "s", cursor)  # the scanner asks with its own cursor
    assert got == [r.name for r in expected[cursor:]]
    full = hashlib.sha256(b"".join(r.encode() + b"\n" for r in expected)).hexdigest()
    assert (done.total, done.sha256) == (500, full)
    assert fresh.reads[PLATFORM] == checkpoint.position + (500 - checkpoint.position)


def test_a_restored_reader_refuses_a_cursor_behind_what_it_acknowledged() -> None:
    bounds = WindowBounds(max_records=64, max_bytes=1 << 20, batch_size=20)
    window = Window.restored(PLATFORM, bounds, 1, None, Checkpoint(0, 0, None), {"s": 40}, 0.0)
    conflict = window.read("s", 10, 0.0)
    assert not isinstance(conflict, ReadResult)
    assert conflict is not None
    assert conflict.acknowledged == 40


@pytest.fixture
def config_text(tmp_path: Path) -> str:
    return """
    [sessions]
    max_active = 2
    max_queued = 10
    [window]
    max_records = 50
    batch_size = 10
    [state]
    path = "state.sqlite3"
    [[sources]]
    kind = "demo"
    platforms = ["debian:12", "alpine:3.19"]
    records = 300
    """


def test_a_restarted_system_takes_up_its_sessions_where_they_were(
    tmp_path: Path, config_text: str
) -> None:
    config = config_from(tmp_path, config_text)
    assert config.state.path == tmp_path / "state.sqlite3"
    with PatchesSystem.start(config, ticker=False) as system:
        reading = system.open_session("debian:12")
        other = system.open_session("alpine:3.19")
        first, second = (system.open_session(p) for p in ("debian:12", "alpine:3.19"))
        assert (first.state, second.state) == (SessionState.QUEUED, SessionState.QUEUED)
        cursor = 0
        early: list[str] = []
        while cursor < 120:
            result = system.read(reading.id, cursor)
            if result.state is ReadState.READY:
                early += names(split_payload(result.payload))
                cursor = result.next_cursor
        system.sweep()  # the acknowledged cursor is made durable

    with PatchesSystem.start(config_from(tmp_path, config_text), ticker=False) as system:
        assert system.session(reading.id).state is SessionState.ACTIVE
        assert system.session(other.id).state is SessionState.ACTIVE
        assert [system.session(s.id).queue_position for s in (first, second)] == [1, 2]
        rest: list[str] = []
        while True:
            result = system.read(reading.id, cursor)
            if result.state is ReadState.DONE:
                break
            if result.state is ReadState.READY:
                rest += names(split_payload(result.payload))
                cursor = result.next_cursor
        source = DemoSource("check", DemoOptions(platforms=("debian:12",), records=300))
        expected = [i.record for i in source.records("debian:12")]
        assert early + rest == [r.name for r in expected]
        digest = hashlib.sha256(b"".join(r.encode_both()[1] + b"\n" for r in expected))
        assert (result.total, result.sha256) == (300, digest.hexdigest())
        assert drain(system, other.id, v1=True).last.state is ReadState.DONE


def test_in_memory_state_keeps_nothing(tmp_path: Path, config_text: str) -> None:
    text = config_text.replace('path = "state.sqlite3"', 'path = ":memory:"')
    with PatchesSystem.start(config_from(tmp_path, text), ticker=False) as system:
        session = system.open_session("debian:12")
    assert not (tmp_path / ":memory:").exists()
    with (
        PatchesSystem.start(config_from(tmp_path, text), ticker=False) as system,
        pytest.raises(UnknownSession),
    ):
        system.session(session.id)
