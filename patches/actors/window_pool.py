"""The registry's windows: starting, joining, expelling from and stopping one actor per platform.

Used only from the registry actor's thread; every ask it makes goes downward, to a window.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import pykka

from patches.actors.directory import SessionDirectory
from patches.actors.health import HealthBoard
from patches.actors.stopping import stop_all
from patches.actors.window_actor import WindowActor, health_name
from patches.core.budget import MemoryBudget, MemoryCounters
from patches.core.registry import Join
from patches.core.results import Checkpoint
from patches.core.window import Window, WindowBounds, WindowCounters
from patches.state.store import StateStore

if TYPE_CHECKING:
    from patches.actors.feed_actor import FeedActor
    from patches.actors.registry_actor import RegistryActor

__all__ = ["ActorWindowPool", "PoolCounters"]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PoolCounters:
    """Windows now open, passes started per platform, the most any window held, the budget."""

    windows: tuple[WindowCounters, ...]
    passes: dict[str, int]
    peak_records: int
    peak_bytes: int
    #: Bytes the open windows hold now, all together.
    held_bytes: int
    memory: MemoryCounters


@dataclass(frozen=True, slots=True)
class _Open:
    window_id: int
    ref: pykka.ActorRef[WindowActor]
    proxy: pykka.ActorProxy[WindowActor]


class ActorWindowPool:
    """The :class:`~patches.core.registry.WindowPool` of a running server: one actor per window."""

    def __init__(
        self,
        bounds: WindowBounds,
        budget: MemoryBudget,
        feeds: Mapping[str, list[tuple[pykka.ActorProxy[FeedActor], float]]],
        directory: SessionDirectory,
        health: HealthBoard,
        clock: Callable[[], float],
        ask_timeout: float,
        store: StateStore | None = None,
    ) -> None:
        self._bounds = bounds
        self._store = store
        self._budget = budget
        self._feeds = feeds
        self._directory = directory
        self._health = health
        self._clock = clock
        self._timeout = ask_timeout
        self._registry: pykka.ActorProxy[RegistryActor] | None = None
        self._open: dict[str, _Open] = {}
        #: Windows whose pass has moved past its start (they refused a reader once: for good).
        self._moved_on: set[int] = set()
        self._ids = itertools.count(1)
        self._passes: Counter[str] = Counter()
        self._peak_records = 0
        self._peak_bytes = 0

    def bind(self, registry: pykka.ActorProxy[RegistryActor]) -> None:
        """Give the pool the registry that its windows report to."""
        self._registry = registry

    def current(self, platform: str) -> int | None:
        """The id of the platform's open window, if any."""
        window = self._open.get(platform)
        return None if window is None else window.window_id

    # -- WindowPool ------------------------------------------------------------------------------

    def join(self, platform: str, session_id: str) -> Join:
        window = self._open.get(platform) or self._start(platform, next(self._ids), None)
        if window is None:
            return Join.NO_MEMORY
        if window.window_id in self._moved_on:
            return Join.PASS_MOVED_ON  # a pass never comes back to its start: no need to ask
        if not self._ask(window, lambda w: w.join(session_id), default=False):
            self._moved_on.add(window.window_id)
            return Join.PASS_MOVED_ON
        self._directory.publish(session_id, window.proxy)
        return Join.JOINED

    def waiting_for_memory(self, platform: str) -> bool:
        return self._budget.waiting_for_memory(platform)

    def replace_feed(
        self, old: pykka.ActorRef[FeedActor], new: pykka.ActorProxy[FeedActor]
    ) -> None:
        """A source reader was restarted: windows opened from now on read from ``new``."""
        for feeds in self._feeds.values():
            for index, (feed, stall) in enumerate(feeds):
                if feed.actor_ref == old:
                    feeds[index] = (new, stall)

    def pass_of(self, platform: str) -> int | None:
        return self.current(platform)

    def restore(
        self,
        pass_id: int,
        platform: str,
        checkpoints: Sequence[Checkpoint],
        readers: Mapping[str, int],
    ) -> bool:
        """Take up a pass of before a restart, at its last checkpoint at or below its readers'
        cursors; False if it cannot be (platform no longer served, or no memory for it)."""
        self._ids = itertools.count(max(next(self._ids), pass_id + 1))
        if platform not in self._feeds or platform in self._open:
            return False
        slowest = min(readers.values(), default=0)
        checkpoint = max(
            (c for c in checkpoints if c.position <= slowest),
            key=lambda c: c.position,
            default=Checkpoint(0, 0, None),
        )
        window = self._start(
            platform,
            pass_id,
            lambda bounds, feeds, stall: Window.restored(
                platform, bounds, feeds, stall, checkpoint, readers, self._clock()
            ),
        )
        if window is None:
            return False
        for session_id in readers:
            self._directory.publish(session_id, window.proxy)
        log.info(
            "platform %s: pass %d taken up at record %d for %d session(s)",
            platform, pass_id, checkpoint.position, len(readers),
        )  # fmt: skip
        return True

    def release(self, platform: str, session_id: str) -> None:
        self._directory.withdraw(session_id)
        window = self._open.get(platform)
        if window is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                window.proxy.leave.defer(session_id)

    def touch(self, platform: str, session_id: str, now: float) -> None:
        window = self._open.get(platform)
        if window is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                window.proxy.touch.defer(session_id, now)

    def close(self, platform: str) -> None:
        window = self._open.pop(platform, None)
        if window is None:
            return
        counters = self._ask(window, lambda w: w.counters(), default=None)
        if counters is not None:
            self._peak_records = max(self._peak_records, counters.peak_records)
            self._peak_bytes = max(self._peak_bytes, counters.peak_bytes)
            log.info(
                "platform %s: pass %d closed after %d records (peak %d records, %d bytes held)",
                platform, window.window_id, counters.received,
                counters.peak_records, counters.peak_bytes,
            )  # fmt: skip
        window.ref.stop(block=False)
        self._moved_on.discard(window.window_id)
        self._budget.release(window.window_id)
        if self._store is not None:
            self._store.close_pass(window.window_id)
        self._health.clear(health_name(window.window_id))  # the next pass gets a new window

    def idle_readers(self, cutoff: float) -> list[str]:
        idle: list[str] = []
        for window in list(self._open.values()):
            idle += self._ask(window, lambda w: w.idle_readers(cutoff), default=[])
        return idle

    # -- accounting and shutdown -----------------------------------------------------------------

    def counters(self) -> PoolCounters:
        windows = tuple(
            c for w in list(self._open.values())
            if (c := self._ask(w, lambda w: w.counters(), default=None)) is not None
        )  # fmt: skip
        return PoolCounters(
            windows=windows,
            passes=dict(self._passes),
            peak_records=max([self._peak_records, *(c.peak_records for c in windows)]),
            peak_bytes=max([self._peak_bytes, *(c.peak_bytes for c in windows)]),
            held_bytes=sum(c.held_bytes for c in windows),
            memory=self._budget.counters(),
        )

    def stop_all(self) -> int:
        """Stop every window (the server is shutting down); return how many there were."""
        windows = list(self._open.values())
        self._open.clear()
        for window in windows:
            self._budget.release(window.window_id)
        stop_all((window.ref for window in windows), timeout=self._timeout)
        return len(windows)

    def _start(
        self,
        platform: str,
        window_id: int,
        make: Callable[[WindowBounds, int, tuple[float, ...]], Window] | None,
    ) -> _Open | None:
        """Open a window if the budget allows one; None (the platform waits) if not.

        ``make`` builds a restored window; a new pass gets a fresh one, recorded in the store.
        """
        if self._registry is None:
            raise RuntimeError("the window pool is not bound to a registry")
        was_waiting = self._budget.waiting_for_memory(platform)
        allowance = self._budget.allocate(window_id, platform)
        if allowance is None:
            if not was_waiting:
                log.info(
                    "platform %s waits for memory: %s",
                    platform, _memory_line(self._budget.counters()),
                )  # fmt: skip
            return None
        feeds = [feed for feed, _ in self._feeds[platform]]
        stall = tuple(stall for _, stall in self._feeds[platform])
        bounds = WindowBounds(self._bounds.max_records, allowance, self._bounds.batch_size)
        if make is None:
            logic = Window(platform, bounds, len(feeds), stall)
            if self._store is not None:
                self._store.open_pass(window_id, platform)
                self._store.save_checkpoint(window_id, Checkpoint(0, 0, None))
        else:
            logic = make(bounds, len(feeds), stall)
        ref = WindowActor.start(
            window_id, logic, feeds, self._registry, self._clock, self._health, self._store
        )
        window = self._open[platform] = _Open(window_id, ref, ref.proxy())
        self._passes[platform] += 1
        log.info(
            "platform %s: pass %d opened with a window of %d bytes; %s",
            platform, window_id, allowance, _memory_line(self._budget.counters()),
        )  # fmt: skip
        return window

    def _ask(
        self,
        window: _Open,
        call: Callable[[pykka.ActorProxy[WindowActor]], pykka.Future[T]],
        default: T,
    ) -> T:
        """Ask a window, with a timeout; a dead or stuck window is reported, never waited on."""
        try:
            return call(window.proxy).get(timeout=self._timeout)
        except pykka.ActorDeadError:
            return default  # it reported its death to the health board and to the registry
        except pykka.Timeout:
            self._health.fail(health_name(window.window_id), f"no answer in {self._timeout:g} s")
            return default


def _memory_line(memory: MemoryCounters) -> str:
    return (
        f"memory: {memory.windows_allocated} of {memory.budget - memory.reserved} bytes given to "
        f"{memory.windows_open} window(s); {memory.reserved} kept for sessions and replies"
    )
