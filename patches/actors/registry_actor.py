"""The session registry actor: admission, queueing and the windows' lifecycle."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import pykka

from patches.actors.feed_actor import FeedActor
from patches.actors.health import HealthBoard
from patches.actors.window_pool import ActorWindowPool, PoolCounters
from patches.core.errors import PatchesError
from patches.core.registry import RegistryCounters, RestoredSession, SessionRegistry
from patches.core.results import Completion, SessionView
from patches.state.store import Snapshot

__all__ = ["RegistryActor", "RegistryStatus"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RegistryStatus:
    sessions: RegistryCounters
    windows: PoolCounters


class RegistryActor(pykka.ThreadingActor):
    """Owns the :class:`SessionRegistry` and, through its pool, the window actors.

    Asked by request threads and the supervisor; asks only windows, below it. Windows report back
    by ``tell`` (:meth:`session_finished`, :meth:`window_failed`). Expected refusals are returned as
    :class:`PatchesError` values for the caller to raise.
    """

    def __init__(
        self,
        registry: SessionRegistry,
        pool: ActorWindowPool,
        clock: Callable[[], float],
        health: HealthBoard,
    ) -> None:
        super().__init__()
        self._registry = registry
        self._pool = pool
        self._clock = clock
        self._health = health

    def on_start(self) -> None:
        self._pool.bind(self.actor_ref.proxy())

    def restore(self, snapshot: Snapshot) -> int:
        """Take up the sessions and passes of before a restart; return the sessions taken up."""
        by_pass: dict[int, dict[str, int]] = {}
        for saved in snapshot.sessions:
            if saved.state == "active" and saved.pass_id is not None:
                by_pass.setdefault(saved.pass_id, {})[saved.id] = saved.acked
        restored: set[str] = set()
        for pass_id, readers in by_pass.items():
            platform = snapshot.passes.get(pass_id)
            checkpoints = snapshot.checkpoints.get(pass_id, ())
            if platform is not None and self._pool.restore(pass_id, platform, checkpoints, readers):
                restored.update(readers)
        sessions = [
            RestoredSession(s.id, s.platform, s.ticket, active=s.id in restored)
            for s in snapshot.sessions
            if s.state == "queued" or s.id in restored
        ]
        self._registry.restore(sessions, self._clock())
        return len(sessions)

    def open(self, platform: str) -> SessionView | PatchesError:
        try:
            return self._registry.open(platform, self._clock())
        except PatchesError as e:
            return e

    def view(self, session_id: str) -> SessionView | PatchesError:
        try:
            return self._registry.view(session_id, self._clock())
        except PatchesError as e:
            return e

    def close(self, session_id: str) -> PatchesError | None:
        try:
            self._registry.close(session_id)
        except PatchesError as e:
            return e
        return None

    def expire_idle(self, now: float) -> list[str]:
        """Expel sessions not heard from within the timeout (the supervisor's tick)."""
        return self._registry.expire(now)

    def session_finished(self, session_id: str, completion: Completion) -> None:
        """A window says a session has read and acknowledged its whole pass."""
        self._registry.finished(session_id, completion, self._clock())

    def window_failed(self, window_id: int, platform: str, error: str) -> None:
        """A window's pass failed; ignored if that window was already replaced."""
        if self._pool.current(platform) == window_id:
            self._registry.failed(platform, error, self._clock())

    def replace_feed(
        self, old: pykka.ActorRef[FeedActor], new: pykka.ActorProxy[FeedActor]
    ) -> None:
        """A source reader was restarted: new passes read from the new one."""
        self._pool.replace_feed(old, new)

    def status(self) -> RegistryStatus:
        return RegistryStatus(self._registry.counters(), self._pool.counters())

    def on_stop(self) -> None:
        self._pool.stop_all()

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._health.fail("session registry", repr(exception_value))
        self._pool.stop_all()
