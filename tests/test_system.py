"""The running actor system, through the facade that the HTTP layer and embedders use."""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pykka
import pytest

from patches.actors import PatchesSystem, StartupError
from patches.actors.supervisor import MAX_RESTARTS
from patches.config import Config
from patches.core.errors import (
    CursorConflict,
    QueueFull,
    SessionGone,
    Unavailable,
    UnknownPlatform,
    UnknownSession,
)
from patches.core.results import ReadState, SessionState
from patches.model import Vulnerability
from patches.sources.base import Position, Source, SourceError, SourceRecord
from patches.sources.demo import DemoOptions, DemoSource
from tests.helpers import ManualClock, drain, drain_all, interleaved, jsonl_config

PLATFORMS = ("alpine:3.19", "debian:12", "ubuntu:22.04")
PER_PLATFORM = 300


@pytest.fixture
def records() -> list[Vulnerability]:
    return interleaved(PLATFORMS, PER_PLATFORM)


@pytest.fixture
def config(tmp_path: Path, records: list[Vulnerability]) -> Config:
    return jsonl_config(
        tmp_path,
        records,
        """
        [sessions]
        max_active = 3
        max_queued = 4
        timeout_seconds = 30
        [window]
        max_records = 32
        max_bytes = "64KiB"
        batch_size = 10
        """,
    )


@pytest.fixture
def system(config: Config, clock: ManualClock) -> Iterator[PatchesSystem]:
    with PatchesSystem.start(config, clock=clock, ticker=False) as running:
        yield running


def expected(records: list[Vulnerability], platform: str) -> list[str]:
    return [r.name for r in records if r.affected_platform == platform]


def test_serves_each_platform_its_records_in_source_order_on_both_protocols(
    system: PatchesSystem, records: list[Vulnerability]
) -> None:
    assert system.platforms() == PLATFORMS
    for platform, v1 in zip(PLATFORMS, (True, False, True), strict=True):
        session = system.open_session(platform)
        assert session.state is SessionState.ACTIVE
        result = drain(system, session.id, v1=v1)
        assert result.names == expected(records, platform)
        assert (result.last.state, result.last.total) == (ReadState.DONE, PER_PLATFORM)
        assert system.session(session.id).state is SessionState.DONE


def test_readers_of_a_platform_share_one_read_of_the_source(
    system: PatchesSystem, records: list[Vulnerability]
) -> None:
    sessions = [system.open_session("debian:12") for _ in range(3)]
    results = drain_all(system, [s.id for s in sessions])
    assert all(r.names == expected(records, "debian:12") for r in results)
    status = system.status()
    (feed,) = status.feeds
    assert feed.reads == {"debian:12": PER_PLATFORM}  # once for three readers
    assert status.registry.windows.passes == {"debian:12": 1}
    assert status.registry.windows.peak_records <= 32
    assert status.registry.windows.peak_bytes <= 64 * 1024


def test_queued_sessions_are_activated_when_places_free(
    system: PatchesSystem, records: list[Vulnerability]
) -> None:
    active = [system.open_session(p) for p in PLATFORMS]
    waiting = system.open_session("debian:12")
    assert waiting.state is SessionState.QUEUED
    assert waiting.queue_position == 1
    assert system.read(waiting.id).state is ReadState.QUEUED
    results = drain_all(system, [s.id for s in [*active, waiting]])
    for session, result in zip([*active, waiting], results, strict=True):
        assert result.names == expected(records, session.platform)
    assert system.status().registry.sessions.finished == 4


def test_refusals_are_explicit(system: PatchesSystem) -> None:
    with pytest.raises(
        UnknownPlatform, match=re.escape("served: alpine:3.19, debian:12, ubuntu:22.04")
    ):
        system.open_session("windows:95")
    for _ in range(3 + 4):
        system.open_session("debian:12")
    with pytest.raises(QueueFull):
        system.open_session("debian:12")
    with pytest.raises(UnknownSession):
        system.read("0" * 32)


def test_platform_names_match_without_regard_to_case(system: PatchesSystem) -> None:
    assert system.open_session("DEBIAN:12").platform == "debian:12"


def test_a_cursor_conflict_is_raised_to_the_caller(system: PatchesSystem) -> None:
    session = system.open_session("debian:12")
    with pytest.raises(CursorConflict, match="past the records delivered"):
        system.read(session.id, 5)


def test_asking_about_an_active_session_keeps_it_alive(
    system: PatchesSystem, clock: ManualClock
) -> None:
    watched = system.open_session("debian:12")
    clock.advance(20)
    system.session(watched.id)
    clock.advance(15)
    assert system.sweep() == []
    clock.advance(20)
    assert system.sweep() == [watched.id]


def test_silent_sessions_are_expelled_on_a_sweep_and_the_others_go_on(
    system: PatchesSystem, clock: ManualClock, records: list[Vulnerability]
) -> None:
    stalled = system.open_session("debian:12")
    live = system.open_session("debian:12")
    system.read(stalled.id, 0)
    clock.advance(20)
    system.read(live.id, 0)
    clock.advance(15)
    assert system.sweep() == [stalled.id]
    with pytest.raises(SessionGone):
        system.read(stalled.id)
    assert drain(system, live.id, v1=True).names == expected(records, "debian:12")


def test_closing_a_session_frees_its_place(system: PatchesSystem) -> None:
    sessions = [system.open_session("debian:12") for _ in range(4)]
    assert sessions[3].state is SessionState.QUEUED
    system.close_session(sessions[0].id)
    with pytest.raises(UnknownSession):
        system.session(sessions[0].id)


class BrokenSource(Source):
    """A source whose every read fails."""

    kind = "broken"

    def platforms(self) -> frozenset[str]:
        return frozenset({"debian:12"})

    def records(self, platform: str, after: Position | None = None) -> Iterator[SourceRecord]:
        raise SourceError("upstream is down")


def test_a_failed_source_gives_its_sessions_an_error_and_other_platforms_go_on(
    config: Config,
) -> None:
    demo = DemoSource("demo", DemoOptions(platforms=("alpine:3.19",), records=50))
    with PatchesSystem.start(config, sources=[BrokenSource("broken"), demo]) as system:
        failing = system.open_session("debian:12")
        healthy = system.open_session("alpine:3.19")
        result = drain(system, failing.id, v1=True)
        assert result.last.state is ReadState.FAILED
        assert result.last.error is not None
        assert "upstream is down" in result.last.error
        view = system.session(failing.id)
        assert view.state is SessionState.FAILED
        assert len(drain(system, healthy.id, v1=False).names) == 50


def test_a_window_that_dies_fails_its_sessions_and_the_platform_recovers(
    system: PatchesSystem, caplog: pytest.LogCaptureFixture
) -> None:
    session = system.open_session("debian:12")
    window = system.directory.lookup(session.id)
    assert window is not None
    window.deliver.defer("stream", None)  # a malformed message: the window's handler raises
    result = drain(system, session.id, v1=True)
    assert result.last.state is ReadState.FAILED
    assert "internal error in the window" in (result.last.error or "")
    assert "Unhandled exception in WindowActor" in caplog.text
    # The next session starts a fresh pass in a new window; the dead one is no longer a problem.
    assert drain(system, system.open_session("debian:12").id, v1=True).last.state is ReadState.DONE
    assert system.health.problems() == {}


def test_a_dead_source_reader_fails_its_passes_and_is_restarted(
    system: PatchesSystem, records: list[Vulnerability]
) -> None:
    (feed,) = pykka.ActorRegistry.get_by_class_name("FeedActor")
    feed.stop()
    session = system.open_session("alpine:3.19")
    result = drain(system, session.id, v1=False)
    assert result.last.state is ReadState.FAILED
    assert "the source reader has stopped" in (result.last.error or "")
    system.sweep()  # the supervisor restarts it
    assert system.health.problems() == {}
    (restarted,) = pykka.ActorRegistry.get_by_class_name("FeedActor")
    assert restarted != feed
    again = drain(system, system.open_session("alpine:3.19").id, v1=True)
    assert again.names == expected(records, "alpine:3.19")


def test_a_reader_that_keeps_dying_is_left_dead_and_reported(system: PatchesSystem) -> None:
    for _ in range(MAX_RESTARTS + 1):
        (feed,) = pykka.ActorRegistry.get_by_class_name("FeedActor")
        feed.stop()
        system.sweep()
    assert pykka.ActorRegistry.get_by_class_name("FeedActor") == []
    assert system.health.problems() == {"source reader 'jsonl-1'": "stopped 4 times"}


class StuckSource(DemoSource):
    """Blocks reading until released: a source in a very long retry."""

    def __init__(self) -> None:
        super().__init__("stuck", DemoOptions(platforms=("debian:12",), records=5))
        self.release = threading.Event()

    def records(self, platform: str, after: Position | None = None) -> Iterator[SourceRecord]:
        self.release.wait(30)
        yield from super().records(platform, after)


def test_stopping_does_not_hang_on_a_busy_actor(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    impatient = replace(config, server=replace(config.server, ask_timeout_seconds=0.2))
    source = StuckSource()
    system = PatchesSystem.start(impatient, sources=[source], ticker=False)
    system.open_session("debian:12")  # the reader is now blocked inside the source
    (feed,) = pykka.ActorRegistry.get_by_class_name("FeedActor")
    system.stop()  # returns although the reader cannot stop yet
    assert "did not stop within 0.2 s" in caplog.text
    source.release.set()
    assert feed.actor_stopped.wait(10)  # its stop was queued: it stops once free


def test_a_stopped_registry_makes_calls_fail_fast_and_the_server_unhealthy(
    system: PatchesSystem,
) -> None:
    (registry,) = pykka.ActorRegistry.get_by_class_name("RegistryActor")
    registry.stop()
    with pytest.raises(Unavailable, match="has stopped"):
        system.open_session("debian:12")
    system.sweep()
    assert system.health.problems()["session registry"] == "stopped"
    system.sweep()  # still dead: the problem stays
    assert system.health.problems()["session registry"] == "stopped"


def test_start_up_fails_clearly_when_a_source_cannot_list_its_platforms(
    tmp_path: Path, config: Config
) -> None:
    (tmp_path / "feed.jsonl").unlink()
    with pytest.raises(StartupError, match="cannot list its platforms: cannot read"):
        PatchesSystem.start(config)


def test_stop_is_idempotent_and_stops_every_actor(config: Config) -> None:
    ids = (f"{i:032x}" for i in itertools.count())
    system = PatchesSystem.start(config, new_id=lambda: next(ids))
    assert system.open_session("debian:12").id == f"{0:032x}"
    system.stop()
    system.stop()
    assert pykka.ActorRegistry.get_all() == []
