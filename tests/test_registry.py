"""Session admission: active and queued bounds, first come first served, expiry, endings."""

from __future__ import annotations

import itertools

import pytest

from patches.core.errors import QueueFull, SessionGone, UnknownPlatform, UnknownSession
from patches.core.registry import SessionLimits, SessionRegistry
from patches.core.results import Completion, Delivery, SessionState
from patches.core.window import Window, WindowBounds
from tests.helpers import LocalWindowPool, ManualClock

PLATFORMS = ("alpine:3.19", "debian:12", "ubuntu:22.04")


def make_registry(
    clock: ManualClock, max_active: int = 2, max_queued: int = 3, timeout: float = 30.0
) -> tuple[SessionRegistry, LocalWindowPool]:
    pool = LocalWindowPool(
        lambda platform: Window(platform, WindowBounds(10, 1 << 20, 5), 1), clock
    )
    ids = (f"s{i}" for i in itertools.count(1))
    registry = SessionRegistry(
        SessionLimits(max_active, max_queued, timeout), PLATFORMS, pool, lambda: next(ids)
    )
    return registry, pool


def done(total: int) -> Completion:
    return Completion(total, "0" * 64, "1" * 64)


def move_pass_past_its_start(pool: LocalWindowPool, platform: str, sessions: list[str]) -> None:
    """Make the platform's pass drop its first record, so it accepts no new reader."""
    window = pool.windows[platform]
    request = window.next_fetch()
    assert request is not None
    record = b'{"name":"x"}'
    window.deliver(Delivery(((record, record),) * 5))
    for sid in sessions:
        window.read(sid, 0, 0.0)
        window.read(sid, 5, 0.0)
    assert not window.joinable


def test_sessions_are_active_up_to_max_active_then_queued_in_order(clock: ManualClock) -> None:
    registry, pool = make_registry(clock)
    views = [registry.open("debian:12", clock()) for _ in range(5)]
    assert [v.state for v in views] == [SessionState.ACTIVE] * 2 + [SessionState.QUEUED] * 3
    assert [v.queue_position for v in views[2:]] == [1, 2, 3]
    assert pool.windows["debian:12"].readers == 2
    assert registry.counters().active == 2


def test_past_the_queue_bound_opening_is_refused(clock: ManualClock) -> None:
    registry, _ = make_registry(clock, max_active=1, max_queued=2)
    for _ in range(3):
        registry.open("debian:12", clock())
    with pytest.raises(QueueFull, match="queue is full"):
        registry.open("debian:12", clock())
    counters = registry.counters()
    assert (counters.queued, counters.refused, counters.opened) == (2, 1, 3)


def test_an_unknown_platform_is_refused_naming_those_served(clock: ManualClock) -> None:
    registry, _ = make_registry(clock)
    with pytest.raises(UnknownPlatform) as refused:
        registry.open("windows:95", clock())
    assert refused.value.served == PLATFORMS
    assert "debian:12" in str(refused.value)


def test_a_finished_session_frees_its_place_for_the_first_in_the_queue(clock: ManualClock) -> None:
    registry, _ = make_registry(clock, max_active=1, max_queued=5)
    first = registry.open("debian:12", clock())
    queued = [registry.open("alpine:3.19", clock()) for _ in range(2)]
    registry.finished(first.id, done(10), now=clock())
    assert registry.view(queued[0].id, clock()).state is SessionState.ACTIVE
    second = registry.view(queued[1].id, clock())
    assert (second.state, second.queue_position) == (SessionState.QUEUED, 1)
    ended = registry.view(first.id, clock())
    assert (ended.state, ended.total) == (SessionState.DONE, 10)


def test_finishing_twice_changes_nothing(clock: ManualClock) -> None:
    registry, _ = make_registry(clock)
    session = registry.open("debian:12", clock())
    registry.finished(session.id, done(10), clock())
    registry.finished(session.id, done(99), clock())
    assert registry.view(session.id, clock()).total == 10
    assert registry.counters().finished == 1


def test_a_platform_whose_pass_has_moved_on_waits_and_others_go_first(clock: ManualClock) -> None:
    registry, pool = make_registry(clock, max_active=3, max_queued=5)
    reader = registry.open("debian:12", clock())
    move_pass_past_its_start(pool, "debian:12", [reader.id])
    late = registry.open("debian:12", clock())
    assert late.state is SessionState.QUEUED  # a place is free, but it would miss the start
    other = registry.open("alpine:3.19", clock())
    assert other.state is SessionState.ACTIVE
    registry.finished(reader.id, done(5), clock())  # the pass ends; the next one starts for "late"
    assert registry.view(late.id, clock()).state is SessionState.ACTIVE
    assert pool.opened.count("debian:12") == 2
    assert "debian:12" in pool.closed


def test_waiting_sessions_are_activated_first_come_first_served(clock: ManualClock) -> None:
    registry, _ = make_registry(clock, max_active=1, max_queued=5)
    active = registry.open("debian:12", clock())
    order = [registry.open(p, clock()).id for p in ("ubuntu:22.04", "alpine:3.19", "debian:12")]
    activated = []
    current = active.id
    for _ in order:
        registry.finished(current, done(1), clock())
        (current,) = [s for s in order if registry.view(s, clock()).state is SessionState.ACTIVE]
        activated.append(current)
    assert activated == order


def test_silent_queued_sessions_expire_and_polling_keeps_them(clock: ManualClock) -> None:
    registry, pool = make_registry(clock, max_active=1, max_queued=5, timeout=30)
    active = registry.open("debian:12", clock())
    polled = registry.open("debian:12", clock())
    silent = registry.open("debian:12", clock())
    clock.advance(20)
    registry.view(polled.id, clock())
    pool.windows["debian:12"].read(active.id, 0, clock())
    clock.advance(15)
    registry.expire(clock())
    with pytest.raises(SessionGone, match="expired"):
        registry.view(silent.id, clock())
    assert registry.view(polled.id, clock()).queue_position == 1


def test_silent_active_sessions_are_expelled_and_their_place_given(clock: ManualClock) -> None:
    registry, pool = make_registry(clock, max_active=1, max_queued=5, timeout=30)
    stalled = registry.open("debian:12", clock())
    waiting = registry.open("alpine:3.19", clock())
    clock.advance(31)
    registry.view(waiting.id, clock())  # the waiting scanner keeps polling
    assert registry.expire(clock()) == [stalled.id]
    with pytest.raises(SessionGone):
        registry.view(stalled.id, clock())
    assert registry.view(waiting.id, clock()).state is SessionState.ACTIVE
    assert "debian:12" in pool.closed
    assert registry.counters().expired == 1


def test_ended_sessions_are_forgotten_after_the_timeout(clock: ManualClock) -> None:
    registry, _ = make_registry(clock, timeout=30)
    session = registry.open("debian:12", clock())
    registry.finished(session.id, done(3), clock())
    clock.advance(29)
    registry.expire(clock())
    assert registry.view(session.id, clock()).state is SessionState.DONE
    clock.advance(2)
    registry.expire(clock())
    with pytest.raises(UnknownSession):
        registry.view(session.id, clock())


def test_a_failed_source_fails_the_active_sessions_and_the_queue_starts_afresh(
    clock: ManualClock,
) -> None:
    registry, pool = make_registry(clock, max_active=1, max_queued=5)
    active = registry.open("debian:12", clock())
    queued = registry.open("debian:12", clock())
    registry.failed("debian:12", "source 'x' failed: boom", clock())
    failed = registry.view(active.id, clock())
    assert (failed.state, failed.error) == (SessionState.FAILED, "source 'x' failed: boom")
    assert registry.view(queued.id, clock()).state is SessionState.ACTIVE
    assert pool.opened.count("debian:12") == 2


def test_closing_a_session_frees_its_place_and_forgets_it(clock: ManualClock) -> None:
    registry, pool = make_registry(clock, max_active=1, max_queued=5)
    active = registry.open("debian:12", clock())
    queued = registry.open("ubuntu:22.04", clock())
    registry.close(active.id)
    with pytest.raises(UnknownSession):
        registry.view(active.id, clock())
    assert registry.view(queued.id, clock()).state is SessionState.ACTIVE
    assert pool.windows["ubuntu:22.04"].readers == 1
    registry.close(queued.id)
    with pytest.raises(UnknownSession):
        registry.close(queued.id)
