"""The timeout supervisor: a ticker, and an actor that expels silent sessions on every tick.

pykka has no timers, so a small thread (the ticker) asks the supervisor to tick at a fixed interval.
Each tick also checks that the long-lived actors are still alive: a dead one that can be restarted
is (a few times at most), any other turns the server unhealthy instead of leaving requests to time
out unexplained.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pykka

from patches.actors.health import HealthBoard

if TYPE_CHECKING:
    from patches.actors.registry_actor import RegistryActor

__all__ = ["MAX_RESTARTS", "Ticker", "TimeoutSupervisor"]

#: Restarts of one actor before it is left dead (and the server unhealthy): a fault that comes
#: back at once is a bug to fix, not to hide.
MAX_RESTARTS = 3

log = logging.getLogger(__name__)


class TimeoutSupervisor(pykka.ThreadingActor):
    """Expels sessions whose scanners stopped polling, so none can stall a window for ever."""

    def __init__(
        self,
        registry: pykka.ActorProxy[RegistryActor],
        watched: Mapping[str, pykka.ActorRef[Any]],
        clock: Callable[[], float],
        ask_timeout: float,
        health: HealthBoard,
        restarters: Mapping[str, Callable[[], pykka.ActorRef[Any]]] | None = None,
    ) -> None:
        super().__init__()
        self._registry = registry
        self._watched = dict(watched)
        self._restarters = dict(restarters or {})
        self._restarts: dict[str, int] = {}
        self._clock = clock
        self._timeout = ask_timeout
        self._health = health

    def tick(self) -> list[str]:
        """Check the watched actors, then expel idle sessions; return the expelled ids."""
        for name, ref in list(self._watched.items()):
            if not ref.is_alive():
                self._restart_or_report(name)
        try:
            expelled: list[str] = self._registry.expire_idle(self._clock()).get(
                timeout=self._timeout
            )
        except pykka.ActorDeadError:
            self._health.fail("session registry", "stopped")
            return []
        except pykka.Timeout:
            self._health.fail("session registry", f"did not answer within {self._timeout:g} s")
            return []
        self._health.clear("session registry")  # it answered: whatever slowed it has passed
        if expelled:
            log.info("expelled %d idle session(s)", len(expelled))
        return expelled

    def _restart_or_report(self, name: str) -> None:
        restart = self._restarters.get(name)
        done = self._restarts.get(name, 0)
        if restart is None or done >= MAX_RESTARTS:
            self._health.fail(name, "stopped" if restart is None else f"stopped {done + 1} times")
            return
        self._restarts[name] = done + 1
        self._watched[name] = restart()
        self._health.clear(name)
        log.warning("%s had stopped; restarted it (%d of %d)", name, done + 1, MAX_RESTARTS)


class Ticker:
    """A daemon thread that asks an actor to ``tick()`` every ``interval`` seconds until stopped."""

    def __init__(self, target: pykka.ActorProxy[Any], interval: float, timeout: float) -> None:
        self._target = target
        self._interval = interval
        self._timeout = timeout
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="patches-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop ticking and wait for the thread to end."""
        self._stopped.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._target.tick().get(timeout=self._timeout)
            except pykka.ActorDeadError:
                return
            except pykka.Timeout:
                log.warning("the supervisor did not finish a tick within %.1f s", self._timeout)
