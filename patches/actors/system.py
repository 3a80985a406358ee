"""The running actor system and its facade: what the HTTP layer and embedding programs call.

Start-up goes in dependency order with a barrier at each step (source readers, then the registry,
then the supervisor and its ticker); shut-down goes in reverse. Every call on the facade makes at
most one actor round trip on its common path and never waits longer than ``ask_timeout_seconds``.

Embedding::

    from patches.actors import PatchesSystem
    from patches.config import load_config

    with PatchesSystem.start(load_config("conf/patches.toml")) as patches:
        session = patches.open_session("debian:12")
        batch = patches.read(session.id)
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any, TypeVar

import pykka

from patches.actors.directory import SessionDirectory
from patches.actors.feed_actor import FeedActor, FeedCounters
from patches.actors.health import HealthBoard
from patches.actors.registry_actor import RegistryActor, RegistryStatus
from patches.actors.stopping import stop_all
from patches.actors.supervisor import Ticker, TimeoutSupervisor
from patches.actors.window_pool import ActorWindowPool
from patches.config import Config
from patches.core.budget import MemoryBudget, replies_reserve, sessions_reserve
from patches.core.errors import PatchesError, Unavailable, UnknownPlatform
from patches.core.feed import Feed, RetryPolicy
from patches.core.registry import SessionLimits, SessionRegistry
from patches.core.results import ReadResult, ReadState, SessionState, SessionView
from patches.core.window import WindowBounds
from patches.sources import Source, SourceError, build_source
from patches.state.store import StateStore, open_store

__all__ = ["PatchesSystem", "StartupError", "SystemStatus", "new_session_id"]

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_RETRY = RetryPolicy()

#: How long start-up waits for a source to say which platforms it serves.
STARTUP_TIMEOUT = 120.0


class StartupError(Exception):
    """The system could not start; the message says which part and why."""


def new_session_id() -> str:
    """A 128-bit random session id, in hex: unguessable, so it is also the session's credential."""
    return secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class SystemStatus:
    """The server's own accounting: sessions, windows, source reads, health."""

    registry: RegistryStatus
    feeds: tuple[FeedCounters, ...]
    problems: dict[str, str]


_STATE_TO_READ = {
    SessionState.QUEUED: ReadState.QUEUED,
    SessionState.ACTIVE: ReadState.PENDING,
    SessionState.DONE: ReadState.DONE,
    SessionState.FAILED: ReadState.FAILED,
}


class PatchesSystem:
    """The actors of one server, started from a :class:`Config`; a context manager.

    Methods raise :class:`~patches.core.errors.PatchesError` subclasses for refusals, and
    :class:`~patches.core.errors.Unavailable` when an actor is dead or does not answer in time.
    """

    def __init__(self, config: Config, *, clock: Callable[[], float]) -> None:
        # Use PatchesSystem.start(); __init__ only holds the parts.
        self.config = config
        self.health = HealthBoard()
        self.directory = SessionDirectory()
        self._clock = clock
        self._timeout = config.server.ask_timeout_seconds
        self._feed_refs: list[pykka.ActorRef[FeedActor]] = []
        self._feeds: list[pykka.ActorProxy[FeedActor]] = []
        self._registry_ref: pykka.ActorRef[RegistryActor] | None = None
        self._registry: pykka.ActorProxy[RegistryActor] | None = None
        self._pool: ActorWindowPool | None = None
        self._store: StateStore | None = None
        self._supervisor_ref: pykka.ActorRef[TimeoutSupervisor] | None = None
        self._ticker: Ticker | None = None
        self._platforms: dict[str, str] = {}
        self._stopped = False

    # -- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        config: Config,
        *,
        sources: Sequence[Source] | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        stall_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        new_id: Callable[[], str] = new_session_id,
        ticker: bool = True,
    ) -> PatchesSystem:
        """Start every actor and return the running system.

        Args:
            sources: source instances to serve instead of the configuration's ``[[sources]]``
                (for programs that bring their own).
            retry: how the ``sources`` given are retried (configured sources have their own).
            stall_seconds: how long the ``sources`` given may leave a fetch unanswered.
            clock: monotonic seconds; injected by tests.
            new_id: session id generator; injected by tests.
            ticker: sweep for idle sessions every ``Config.sweep_seconds``; tests that drive
                expiry with :meth:`sweep` and an injected clock turn it off.

        Raises:
            StartupError: a source cannot say what it serves, or two sources share a name.
        """
        system = cls(config, clock=clock)
        try:
            system._start(sources, retry, stall_seconds, new_id, ticker)
        except BaseException:
            system.stop()
            raise
        return system

    def _start(
        self,
        sources: Sequence[Source] | None,
        retry: RetryPolicy,
        stall_seconds: float,
        new_id: Callable[[], str],
        ticker: bool,
    ) -> None:
        config = self.config
        if sources is None:
            sources = [build_source(s.kind, s.name, s.options) for s in config.sources]
            retries = [RetryPolicy(s.retries, s.retry_backoff_seconds) for s in config.sources]
            stalls = [s.stall_seconds for s in config.sources]
        else:
            retries = [retry for _ in sources]
            stalls = [stall_seconds for _ in sources]
        by_platform: dict[str, list[tuple[pykka.ActorProxy[FeedActor], float]]] = {}
        for source, retry, stall in zip(sources, retries, stalls, strict=True):
            ref = FeedActor.start(Feed(source, retry), self.health)
            self._feed_refs.append(ref)
            proxy = ref.proxy()
            self._feeds.append(proxy)
            try:
                platforms = proxy.platforms().get(timeout=STARTUP_TIMEOUT)
            except pykka.Timeout:
                raise StartupError(
                    f"source {source.name!r} did not list its platforms "
                    f"within {STARTUP_TIMEOUT:g} s"
                ) from None
            if isinstance(platforms, SourceError):
                raise StartupError(f"source {source.name!r} cannot list its platforms: {platforms}")
            for platform in platforms:
                by_platform.setdefault(platform, []).append((proxy, stall))
        if not by_platform:
            raise StartupError("no source serves any platform")
        self._platforms = {p.lower(): p for p in sorted(by_platform)}
        window, sessions = config.window, config.sessions
        self._store = store = open_store(config.state.path)
        snapshot = store.load()
        budget = MemoryBudget(
            config.memory.budget,
            sessions_reserve(sessions.max_active, sessions.max_queued) + replies_reserve(),
            window.max_bytes,
        )
        pool = self._pool = ActorWindowPool(
            WindowBounds(window.max_records, window.max_bytes, window.batch_size),
            budget,
            by_platform,
            self.directory,
            self.health,
            self._clock,
            self._timeout,
            store,
        )
        registry = SessionRegistry(
            SessionLimits(sessions.max_active, sessions.max_queued, sessions.timeout_seconds),
            sorted(by_platform),
            pool,
            new_id,
            store,
        )
        self._registry_ref = RegistryActor.start(registry, pool, self._clock, self.health)
        self._registry = self._registry_ref.proxy()
        restored = self._registry.restore(snapshot).get(timeout=STARTUP_TIMEOUT)  # and a barrier
        if restored:
            log.info("took up %d session(s) from %s", restored, config.state.path)
        watched: dict[str, pykka.ActorRef[Any]] = {"session registry": self._registry_ref}
        restarters: dict[str, Callable[[], pykka.ActorRef[Any]]] = {}
        for index, (source, retry) in enumerate(zip(sources, retries, strict=True)):
            name = f"source reader {source.name!r}"
            watched[name] = self._feed_refs[index]
            restarters[name] = partial(self._restart_feed, index, source, retry)
        self._supervisor_ref = TimeoutSupervisor.start(
            self._registry, watched, self._clock, self._timeout, self.health, restarters
        )
        if ticker:
            self._ticker = Ticker(self._supervisor_ref.proxy(), config.sweep_seconds, self._timeout)
            self._ticker.start()
        log.info(
            "serving %d platform(s) from %d source(s): %s",
            len(by_platform), len(sources), ", ".join(sorted(by_platform)),
        )  # fmt: skip

    def _restart_feed(
        self, index: int, source: Source, retry: RetryPolicy
    ) -> pykka.ActorRef[FeedActor]:
        """A new reader for a source whose reader died (called by the supervisor).

        New passes read from it; the passes its predecessor was serving failed, explicitly.
        """
        ref = FeedActor.start(Feed(source, retry), self.health)
        old, self._feed_refs[index] = self._feed_refs[index], ref
        self._feeds[index] = ref.proxy()
        self._registry_proxy().replace_feed.defer(old, self._feeds[index])
        return ref

    def stop(self) -> None:
        """Stop every actor this system started, in reverse order of start. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._ticker is not None:
            self._ticker.stop(timeout=self._timeout)
        refs: list[pykka.ActorRef[Any]] = []
        if self._supervisor_ref is not None:
            refs.append(self._supervisor_ref)
        if self._registry_ref is not None:
            refs.append(self._registry_ref)  # stops its windows first
        refs += reversed(self._feed_refs)
        stop_all(refs, timeout=self._timeout)
        if self._pool is not None and (left := self._pool.stop_all()):
            log.error("bug: %d window(s) outlived the session registry; stopped them", left)
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> PatchesSystem:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the scanners' operations ----------------------------------------------------------------

    def platforms(self) -> tuple[str, ...]:
        """The platforms served, sorted."""
        return tuple(self._platforms.values())

    def open_session(self, platform: str) -> SessionView:
        """Open a session for ``platform`` (matched without regard to case).

        Raises:
            UnknownPlatform, QueueFull, Unavailable.
        """
        canonical = self._platforms.get(platform.lower())
        if canonical is None:
            raise UnknownPlatform(platform, self.platforms())
        view: SessionView = self._ask(lambda: self._registry_proxy().open(canonical))
        return view

    def session(self, session_id: str) -> SessionView:
        """A session's state; polling it keeps a queued session alive.

        Raises:
            UnknownSession (or SessionGone, if it expired), Unavailable.
        """
        view: SessionView = self._ask(lambda: self._registry_proxy().view(session_id))
        return view

    def read(
        self, session_id: str, cursor: int | None = None, *, limit: int | None = None
    ) -> ReadResult:
        """The session's next batch, acknowledging everything before ``cursor``.

        One round trip to the session's window when it is active; one to the registry otherwise.
        ``cursor=None`` is the original protocol: continue after the last batch handed out.
        ``limit`` asks for fewer records than the batch size (more gives the batch size).

        Raises:
            UnknownSession, SessionGone, CursorConflict, Unavailable.
        """
        window = self.directory.lookup(session_id)
        if window is not None:
            try:
                result: ReadResult | None = self._ask(
                    lambda: window.read(session_id, cursor, limit), dead_ok=True
                )
            except pykka.ActorDeadError:
                result = None  # the window closed or died meanwhile: the registry knows the rest
            if result is not None:
                return result
        view = self.session(session_id)
        state = _STATE_TO_READ[view.state]
        # ACTIVE here means the registry has not yet heard that the session finished, or has
        # activated it a moment ago: answer "retry shortly", which loses nothing.
        completion = view.completion
        return ReadResult(
            state,
            total=view.total,
            sha256=None if completion is None else completion.sha256(v1=cursor is not None),
            queue_position=view.queue_position,
            error=view.error,
            waiting_for=view.waiting_for,
        )

    def close_session(self, session_id: str) -> None:
        """End a session and forget it.

        Raises:
            UnknownSession, Unavailable.
        """
        self._ask(lambda: self._registry_proxy().close(session_id))

    def sweep(self) -> list[str]:
        """Run one supervisor tick now (health check and expiry); return the expelled sessions.

        The ticker does this every ``Config.sweep_seconds``; tests and embedding programs with an
        injected clock call it to expire sessions deterministically.
        """
        if self._supervisor_ref is None:
            raise Unavailable("the actor system is not running")
        supervisor = self._supervisor_ref.proxy()
        expelled: list[str] = self._ask(supervisor.tick)
        return expelled

    # -- operators' views ------------------------------------------------------------------------

    def status(self) -> SystemStatus:
        """The server's accounting, gathered from every long-lived actor."""
        registry = self._ask(lambda: self._registry_proxy().status())
        feeds = tuple(self._ask(feed.counters) for feed in self._feeds)
        return SystemStatus(registry, feeds, self.health.problems())

    # -- helpers ---------------------------------------------------------------------------------

    def _registry_proxy(self) -> pykka.ActorProxy[RegistryActor]:
        if self._registry is None:
            raise Unavailable("the actor system is not running")
        return self._registry

    def _ask(self, call: Callable[[], Any], *, dead_ok: bool = False) -> Any:
        """Make one ask with the request timeout; raise refusals the actor returned as values.

        Args:
            dead_ok: let :class:`pykka.ActorDeadError` through for the caller to handle, instead
                of turning it into :class:`Unavailable`.
        """
        try:
            result = call().get(timeout=self._timeout)
        except pykka.Timeout:
            raise Unavailable(
                f"the server did not answer within {self._timeout:g} s; retry later"
            ) from None
        except pykka.ActorDeadError as e:
            if dead_ok:
                raise
            raise Unavailable(f"a part of the server has stopped: {e}") from None
        if isinstance(result, PatchesError):
            raise result
        return result
