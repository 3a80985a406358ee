"""What is wrong with the server right now, as seen by its actors and the supervisor."""

from __future__ import annotations

import threading

__all__ = ["HealthBoard"]


class HealthBoard:
    """Problems by component, written by actors as they fail and read by health checks.

    A plain thread-safe object rather than an actor, so that a failing actor can always report and a
    health check can always answer, whatever else is stuck.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problems: dict[str, str] = {}

    def fail(self, component: str, reason: str) -> None:
        with self._lock:
            self._problems[component] = reason

    def clear(self, component: str) -> None:
        with self._lock:
            self._problems.pop(component, None)

    def problems(self) -> dict[str, str]:
        with self._lock:
            return dict(self._problems)

    @property
    def healthy(self) -> bool:
        with self._lock:
            return not self._problems
