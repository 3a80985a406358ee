"""The memory budget, asserted from the server's own accounting (bytes held, never times)."""

from __future__ import annotations

import gc
import sys
import tracemalloc
from pathlib import Path

import pytest

from patches.actors import PatchesSystem
from patches.config import ConfigError
from patches.core.budget import (
    MIN_WINDOW_BYTES,
    SESSION_BYTES,
    MemoryBudget,
    record_cost,
    replies_reserve,
    sessions_reserve,
)
from patches.core.results import ReadState, SessionState
from tests.helpers import config_from, drain_all

MIB = 2**20


def test_windows_share_what_the_sessions_reserve_leaves() -> None:
    budget = MemoryBudget(10 * MIB, reserved=2 * MIB, window_max_bytes=3 * MIB)
    assert budget.allocate(1, "a") == 3 * MIB
    assert budget.allocate(2, "b") == 3 * MIB
    assert budget.allocate(3, "c") == 2 * MIB  # what is left, above the minimum
    assert budget.allocate(4, "d") is None
    assert budget.waiting_for_memory("d")
    counters = budget.counters()
    assert (counters.windows_allocated, counters.windows_free) == (8 * MIB, 0)
    assert (counters.windows_open, counters.windows_waiting) == (3, 1)
    budget.release(2)
    assert budget.allocate(5, "d") == 3 * MIB
    assert not budget.waiting_for_memory("d")


def test_a_window_below_the_minimum_is_not_opened() -> None:
    budget = MemoryBudget(MIB + MIN_WINDOW_BYTES - 1, reserved=0, window_max_bytes=MIB)
    assert budget.allocate(1, "a") == MIB
    assert budget.allocate(2, "b") is None


def test_a_budget_that_cannot_hold_a_window_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot hold"):
        MemoryBudget(MIB, reserved=MIB, window_max_bytes=MIB)


def test_the_configuration_refuses_a_budget_too_small(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"\[memory\] budget: .* cannot hold the sessions' reserve"
    ):
        config_from(tmp_path, '[memory]\nbudget = "1MiB"\n[sessions]\nmax_queued = 5000\n')


def test_a_records_cost_is_what_python_holds_for_it() -> None:
    legacy, v1 = b'{"name":"x"}', b'{"name":"x","aliases":["y"]}'
    assert record_cost((legacy, legacy)) == sys.getsizeof(legacy) + 16
    assert record_cost((legacy, v1)) == sys.getsizeof(legacy) + 16 + sys.getsizeof(v1)


def test_one_session_costs_less_than_its_reserve_at_ten_thousand(tmp_path: Path) -> None:
    """Measured on the running system: registry, queue, windows' readers, directory."""
    config = config_from(
        tmp_path,
        """
        [sessions]
        max_active = 100
        max_queued = 10000
        [memory]
        budget = "128MiB"
        [[sources]]
        kind = "demo"
        platforms = ["debian:12", "alpine:3.19"]
        records = 10
        """,
    )
    with PatchesSystem.start(config, ticker=False) as system:
        system.open_session("debian:12")  # warm up: the windows exist before measuring
        system.open_session("alpine:3.19")
        gc.collect()
        tracemalloc.start()
        before, _ = tracemalloc.get_traced_memory()
        sessions = [system.open_session(("debian:12", "alpine:3.19")[i % 2]) for i in range(10_000)]
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        # The views and the list are the test's; the ids in them are the registry's own strings.
        held_by_test = sum(sys.getsizeof(s) for s in sessions) + sys.getsizeof(sessions)
        per_session = (after - before - held_by_test) / 10_000
        counters = system.status().registry.sessions
    assert (counters.active, counters.queued) == (100, 9902)
    print(f"\none session costs {per_session:.0f} bytes at 10,000 sessions")
    assert per_session < SESSION_BYTES <= 2048, per_session


def test_platforms_wait_for_memory_and_the_budget_holds(tmp_path: Path) -> None:
    platforms = ["alpine:3.19", "debian:12", "fedora:40", "ubuntu:22.04"]
    config = config_from(
        tmp_path,
        f"""
        [sessions]
        max_active = 10
        max_queued = 20
        [window]
        max_records = 100000
        max_bytes = "1.5MiB"
        batch_size = 500
        [memory]
        budget = "20MiB"
        [[sources]]
        kind = "demo"
        platforms = {platforms!r}
        records = 12000
        """.replace("'", '"'),
    )
    budget = config.memory.budget
    share = budget - sessions_reserve(10, 20) - replies_reserve()
    with PatchesSystem.start(config, ticker=False) as system:
        sessions = [system.open_session(p) for p in platforms]
        assert [s.state for s in sessions] == [SessionState.ACTIVE] * 3 + [SessionState.QUEUED]
        waiting = system.session(sessions[3].id)
        assert waiting.waiting_for == "memory for its platform's window"
        assert system.read(sessions[3].id).waiting_for == "memory for its platform's window"
        samples = []

        def sample() -> None:
            windows = system.status().registry.windows
            samples.append(windows)

        sample()
        results = drain_all(system, [s.id for s in sessions], limit=120)
        sample()
    assert all(r.last.state is ReadState.DONE and len(r.names) == 12000 for r in results)
    first = samples[0]
    assert first.memory.windows_allocated <= share
    assert [w.max_bytes for w in first.windows] == [int(1.5 * MIB)] * 2 + [share - 3 * MIB]
    for windows in samples:
        assert windows.memory.windows_allocated <= share
        assert windows.held_bytes <= windows.memory.windows_allocated
        assert all(w.peak_bytes <= w.max_bytes for w in windows.windows)
    assert samples[-1].peak_bytes <= 1.5 * MIB
    assert samples[-1].passes == dict.fromkeys(platforms, 1)
