"""Session admission: who is active, who waits, who has finished, who is expelled.

At most ``max_active`` sessions are active (reading a window) and ``max_queued`` wait. Waiting
sessions are activated in the order they arrived, among those whose platform can take a new reader
now: a platform's pass accepts readers until it moves past its start; its waiting sessions then
wait for the next pass, and later arrivals for other platforms may go first rather than leave a
place idle.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from patches.core.errors import QueueFull, SessionGone, UnknownPlatform, UnknownSession
from patches.core.results import Completion, SessionState, SessionView

__all__ = [
    "Join",
    "RegistryCounters",
    "RestoredSession",
    "SessionJournal",
    "SessionLimits",
    "SessionRegistry",
    "WindowPool",
]


class Join(Enum):
    """How asking a platform's window to take a new reader went."""

    JOINED = "joined"
    #: The platform's pass has moved past its start: wait for the next one.
    PASS_MOVED_ON = "pass moved on"
    #: The platform has no window and the memory budget cannot fit one now.
    NO_MEMORY = "no memory"


class WindowPool(Protocol):
    """The windows, as the registry drives them: one per platform being served."""

    def join(self, platform: str, session_id: str) -> Join:
        """Make the session a reader of the platform's window, opening one if the budget allows."""

    def waiting_for_memory(self, platform: str) -> bool:
        """The platform's last attempt at a window found too little memory free."""

    def pass_of(self, platform: str) -> int | None:
        """The id of the platform's current pass (its window), if one is open."""

    def release(self, platform: str, session_id: str) -> None:
        """The session no longer reads the platform's window (done, expired, closed)."""

    def close(self, platform: str) -> None:
        """The platform has no active session left: free its window."""

    def idle_readers(self, cutoff: float) -> list[str]:
        """The readers, over every window, not heard from since ``cutoff``.

        Nothing is removed here: the registry ends those sessions, which releases them. A window
        that does not answer in time is left for the next sweep, so no session is half-expelled.
        """

    def touch(self, platform: str, session_id: str, now: float) -> None:
        """The scanner of an active session was heard from at ``now`` (not with a read)."""


class SessionJournal(Protocol):
    """Where live sessions are made durable (the state store), so a restart can take them up."""

    def save_session(
        self, session_id: str, platform: str, state: str, ticket: int, pass_id: int | None
    ) -> None: ...

    def forget_session(self, session_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class RestoredSession:
    """A live session as it was before a restart; active ones with their pass restored or not."""

    id: str
    platform: str
    ticket: int
    active: bool


@dataclass(frozen=True, slots=True)
class SessionLimits:
    max_active: int
    max_queued: int
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class RegistryCounters:
    active: int
    queued: int
    #: Ended sessions remembered (for at most a timeout; at most max_active + max_queued).
    ended: int
    opened: int
    refused: int
    expired: int
    finished: int
    failed: int


@dataclass(slots=True)
class _Session:
    id: str
    platform: str
    ticket: int
    state: SessionState
    last_contact: float
    completion: Completion | None = None
    error: str | None = None


class SessionRegistry:
    """Sessions and their admission; a plain class, driven by its actor (or a test)."""

    def __init__(
        self,
        limits: SessionLimits,
        platforms: Iterable[str],
        windows: WindowPool,
        new_id: Callable[[], str],
        journal: SessionJournal | None = None,
    ) -> None:
        self.limits = limits
        self.platforms = tuple(platforms)
        self._windows = windows
        self._new_id = new_id
        self._journal = journal
        self._tickets = itertools.count()
        self._live: dict[str, _Session] = {}
        #: Sessions that ended, kept for ``timeout_seconds`` so their scanner learns how.
        self._ended: dict[str, tuple[_Session, float]] = {}
        self._queues: dict[str, dict[str, None]] = {}
        self._queued_tickets: list[int] = []
        self._active: dict[str, set[str]] = {}
        self._active_count = 0
        self._opened = self._refused = self._expired = self._finished = self._failed = 0

    # -- scanners' requests ----------------------------------------------------------------------

    def open(self, platform: str, now: float) -> SessionView:
        """Open a session: active if a place is free and its platform can take it, else queued.

        Raises:
            UnknownPlatform: no source serves ``platform``.
            QueueFull: it would have to wait and the queue is at its bound.
        """
        if platform not in self.platforms:
            raise UnknownPlatform(platform, self.platforms)
        session = _Session(self._new_id(), platform, next(self._tickets), SessionState.QUEUED, now)
        self._live[session.id] = session
        self._enqueue(session)
        self._activate()
        if (
            session.state is SessionState.QUEUED
            and len(self._queued_tickets) > self.limits.max_queued
        ):
            self._dequeue(session)
            del self._live[session.id]
            self._refused += 1
            raise QueueFull(self.limits.max_queued)
        self._opened += 1
        if session.state is SessionState.QUEUED:
            self._save(session)
        return self._view(session)

    def restore(self, sessions: Iterable[RestoredSession], now: float) -> None:
        """Take up the live sessions of before a restart, in their order.

        Active ones must already be readers of their restored windows; waiting ones keep their
        places in the queue. Sessions of platforms no longer served are forgotten.
        """
        for saved in sorted(sessions, key=lambda s: s.ticket):
            if saved.platform not in self.platforms:
                if self._journal is not None:
                    self._journal.forget_session(saved.id)
                continue
            state = SessionState.ACTIVE if saved.active else SessionState.QUEUED
            session = _Session(saved.id, saved.platform, saved.ticket, state, now)
            self._live[session.id] = session
            if saved.active:
                self._active.setdefault(session.platform, set()).add(session.id)
                self._active_count += 1
            else:
                self._enqueue(session)
        tickets = [s.ticket for s in self._live.values()]
        self._tickets = itertools.count(max(tickets, default=-1) + 1)
        self._activate()

    def view(self, session_id: str, now: float) -> SessionView:
        """A session's state; hearing from a queued session keeps it alive.

        Raises:
            UnknownSession: never opened, closed, or ended long enough ago to be forgotten.
            SessionGone: expelled for not polling.
        """
        session = self._live.get(session_id)
        if session is not None:
            if session.state is SessionState.QUEUED:
                session.last_contact = now
            else:
                self._windows.touch(session.platform, session_id, now)
            return self._view(session)
        ended = self._ended.get(session_id)
        if ended is None:
            raise UnknownSession(session_id)
        if ended[0].state is SessionState.EXPIRED:
            raise SessionGone(session_id, self.limits.timeout_seconds)
        return self._view(ended[0])

    def close(self, session_id: str) -> None:
        """End a session at its scanner's request and forget it.

        Raises:
            UnknownSession: no such live session.
        """
        session = self._live.get(session_id)
        if session is None:
            if self._ended.pop(session_id, None) is None:
                raise UnknownSession(session_id)
            return
        self._end(session, SessionState.DONE, now=None)
        self._activate()

    # -- events from windows and the timeout supervisor ------------------------------------------

    def finished(self, session_id: str, completion: Completion, now: float) -> None:
        """A session read its whole pass. Idempotent: a late or repeated event changes nothing."""
        session = self._live.get(session_id)
        if session is None or session.state is not SessionState.ACTIVE:
            return
        session.completion = completion
        self._finished += 1
        self._end(session, SessionState.DONE, now)
        self._activate()

    def failed(self, platform: str, error: str, now: float) -> None:
        """A source of ``platform`` failed: its active sessions end in the failed state.

        Their scanners are told the error (never a silent "done"); waiting sessions of the
        platform stay queued and will start a fresh pass.
        """
        for session_id in list(self._active.get(platform, ())):
            session = self._live[session_id]
            session.error = error
            self._failed += 1
            self._end(session, SessionState.FAILED, now)
        self._activate()

    def expire(self, now: float) -> list[str]:
        """Expel every session not heard from within the timeout; forget old ended sessions."""
        cutoff = now - self.limits.timeout_seconds
        expelled = [s.id for s in self._live.values()
                    if s.state is SessionState.QUEUED and s.last_contact < cutoff]  # fmt: skip
        expelled += self._windows.idle_readers(cutoff)
        for session_id in expelled:
            session = self._live.get(session_id)
            if session is not None:
                self._expired += 1
                self._end(session, SessionState.EXPIRED, now)
        for session_id, (_, ended_at) in list(self._ended.items()):
            if ended_at < cutoff:
                del self._ended[session_id]
        self._activate()
        return expelled

    # -- accounting ------------------------------------------------------------------------------

    def counters(self) -> RegistryCounters:
        return RegistryCounters(
            active=self._active_count,
            queued=len(self._queued_tickets),
            ended=len(self._ended),
            opened=self._opened,
            refused=self._refused,
            expired=self._expired,
            finished=self._finished,
            failed=self._failed,
        )

    def active_sessions(self, platform: str) -> frozenset[str]:
        return frozenset(self._active.get(platform, ()))

    # -- internals -------------------------------------------------------------------------------

    def _save(self, session: _Session) -> None:
        if self._journal is not None:
            pass_id = (
                self._windows.pass_of(session.platform)
                if session.state is SessionState.ACTIVE
                else None
            )
            self._journal.save_session(
                session.id, session.platform, session.state.value, session.ticket, pass_id
            )

    def _view(self, session: _Session) -> SessionView:
        position = waiting_for = None
        if session.state is SessionState.QUEUED:
            position = bisect.bisect_left(self._queued_tickets, session.ticket) + 1
            waiting_for = self._waiting_for(session.platform)
        return SessionView(
            session.id,
            session.platform,
            session.state,
            position,
            None if session.completion is None else session.completion.total,
            session.error,
            waiting_for,
            session.completion,
        )

    def _waiting_for(self, platform: str) -> str:
        if self._active_count >= self.limits.max_active:
            return "a free place"
        if self._windows.waiting_for_memory(platform):
            return "memory for its platform's window"
        if platform in self._active:
            return "the next pass over its platform"
        return "a free place"

    def _enqueue(self, session: _Session) -> None:
        self._queues.setdefault(session.platform, {})[session.id] = None
        self._queued_tickets.append(session.ticket)  # tickets grow: the list stays sorted

    def _dequeue(self, session: _Session) -> None:
        queue = self._queues[session.platform]
        del queue[session.id]
        if not queue:
            del self._queues[session.platform]
        del self._queued_tickets[bisect.bisect_left(self._queued_tickets, session.ticket)]

    def _activate(self) -> None:
        """Fill free places, oldest waiting session first among platforms that can take one."""
        blocked: set[str] = set()
        while self._active_count < self.limits.max_active:
            heads = [
                (self._live[next(iter(queue))].ticket, platform)
                for platform, queue in self._queues.items()
                if platform not in blocked
            ]
            if not heads:
                return
            _, platform = min(heads)
            session = self._live[next(iter(self._queues[platform]))]
            if self._windows.join(platform, session.id) is not Join.JOINED:
                blocked.add(platform)
                continue
            self._dequeue(session)
            session.state = SessionState.ACTIVE
            self._active.setdefault(platform, set()).add(session.id)
            self._active_count += 1
            self._save(session)

    def _end(self, session: _Session, state: SessionState, now: float | None) -> None:
        """Take a live session out of the queue or its window; remember how it ended."""
        if session.state is SessionState.QUEUED:
            self._dequeue(session)
        elif session.state is SessionState.ACTIVE:
            active = self._active[session.platform]
            active.discard(session.id)
            self._active_count -= 1
            self._windows.release(session.platform, session.id)
            if not active:
                del self._active[session.platform]
                self._windows.close(session.platform)
        del self._live[session.id]
        if self._journal is not None:
            self._journal.forget_session(session.id)
        session.state = state
        if now is not None:
            self._ended[session.id] = (session, now)
            if len(self._ended) > self.limits.max_active + self.limits.max_queued:
                del self._ended[next(iter(self._ended))]  # the oldest: memory stays bounded
