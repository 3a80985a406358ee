"""The window actor: one per platform being served, owning that platform's :class:`Window`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Hashable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

import pykka

from patches.actors.health import HealthBoard
from patches.core.errors import CursorConflict
from patches.core.results import Completion, Delivery, ReadResult
from patches.core.window import Window, WindowCounters
from patches.state.store import StateStore

if TYPE_CHECKING:
    from patches.actors.feed_actor import FeedActor
    from patches.actors.registry_actor import RegistryActor

__all__ = ["WindowActor", "health_name"]

log = logging.getLogger(__name__)


def _finished(
    session_id: str, completion: Completion
) -> Callable[[pykka.ActorProxy[RegistryActor]], object]:
    return lambda registry: registry.session_finished.defer(session_id, completion)


def health_name(window_id: int) -> str:
    """How a window is named on the health board."""
    return f"window {window_id}"


class WindowActor(pykka.ThreadingActor):
    """Serves reads from its window and keeps it filled.

    Asked by the registry (join, idle readers) and by request threads (read); tells its source
    readers to fetch, and tells the registry, upward, when a session has read everything or the
    pass failed. It never asks anyone, so it cannot take part in a deadlock.
    """

    def __init__(
        self,
        window_id: int,
        window: Window,
        feeds: Sequence[pykka.ActorProxy[FeedActor]],
        registry: pykka.ActorProxy[RegistryActor],
        clock: Callable[[], float],
        health: HealthBoard,
        store: StateStore | None = None,
    ) -> None:
        super().__init__()
        self.window_id = window_id
        self._window = window
        self._store = store
        self._feeds = tuple(feeds)
        self._registry = registry
        self._clock = clock
        self._health = health
        self._self: pykka.ActorProxy[WindowActor] | None = None

    def on_start(self) -> None:
        self._self = self.actor_ref.proxy()

    def join(self, session_id: str) -> bool:
        """Add a reader at the start of the pass; False once the pass has moved on."""
        joined = self._window.join(session_id, self._clock())
        self._pump()
        return joined

    def leave(self, session_id: str) -> None:
        self._window.leave(session_id)
        self._pump()

    def read(
        self, session_id: str, cursor: int | None, limit: int | None = None
    ) -> ReadResult | CursorConflict | None:
        """A session's next batch (see :meth:`Window.read`); ``None`` if not a reader here."""
        result = self._window.read(session_id, cursor, self._clock(), limit)
        self._pump()
        return result

    def idle_readers(self, cutoff: float) -> list[str]:
        """Readers silent since ``cutoff``. A sweep also looks for a stalled fetch, and makes the
        readers' acknowledged cursors durable (a second late at most: v1 scanners send theirs
        again after a restart, so nothing is lost)."""
        self._pump()
        if self._store is not None:
            self._store.save_acks(self._window.take_acks())
            self._store.forget_checkpoints_below(self.window_id, self._window.slowest)
        return self._window.idle_readers(cutoff)

    def touch(self, session_id: str, now: float) -> None:
        self._window.touch(session_id, now)

    def deliver(self, stream: Hashable, delivery: Delivery) -> None:
        """Records from a source reader, in answer to this window's last fetch."""
        self._window.deliver(delivery)
        if self._store is not None:
            for checkpoint in self._window.take_checkpoints():
                self._store.save_checkpoint(self.window_id, checkpoint)
        if self._window.error is not None:
            self._report_failure()
        self._pump()

    def counters(self) -> WindowCounters:
        return self._window.counters()

    def _pump(self) -> None:
        """Ask for more records when there is room; tell the registry who has finished.

        Never raises: it runs after a read was served, and that answer must not be lost.
        """
        now = self._clock()
        if self._window.check_stalled(now):
            self._report_failure()
        request = self._window.next_fetch(now)
        if request is not None:
            feed = self._feeds[request.source_index]
            try:
                feed.fetch.defer(self.window_id, self._window.platform, request, self._self)
            except pykka.ActorDeadError:
                self._window.fail("internal error: the source reader has stopped")
                self._report_failure()
        for session_id, completion in self._window.take_finished():
            self._tell_registry(_finished(session_id, completion))

    def _report_failure(self) -> None:
        platform, error = self._window.platform, self._window.error or "internal error"
        log.error("platform %s: pass %d failed: %s", platform, self.window_id, error)
        self._tell_registry(lambda r: r.window_failed.defer(self.window_id, platform, error))

    def _tell_registry(self, tell: Callable[[pykka.ActorProxy[RegistryActor]], object]) -> None:
        try:
            tell(self._registry)
        except pykka.ActorDeadError:
            log.error("platform %s: the session registry has stopped", self._window.platform)

    def on_stop(self) -> None:
        if self._store is not None:  # a clean stop loses not even a sweep's acknowledgements
            self._store.save_acks(self._window.take_acks())
        for feed in self._feeds:
            with contextlib.suppress(pykka.ActorDeadError):
                feed.release.defer(self.window_id)

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._health.fail(health_name(self.window_id), f"died: {exception_value!r}")
        self._window.fail(f"internal error in the window: {exception_value!r}")
        self._report_failure()
        self.on_stop()
