"""Which window actor serves each active session: the one shortcut on the poll path.

The registry actor alone writes it (when it activates or ends a session); request threads only look
up. With it a poll costs one actor round trip (to the session's window) instead of two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pykka import ActorProxy

    from patches.actors.window_actor import WindowActor

__all__ = ["SessionDirectory"]


class SessionDirectory:
    """Session id to window proxy. Single writer; dict reads and writes are atomic in CPython."""

    def __init__(self) -> None:
        self._windows: dict[str, ActorProxy[WindowActor]] = {}

    def publish(self, session_id: str, window: ActorProxy[WindowActor]) -> None:
        self._windows[session_id] = window

    def withdraw(self, session_id: str) -> None:
        self._windows.pop(session_id, None)

    def lookup(self, session_id: str) -> ActorProxy[WindowActor] | None:
        return self._windows.get(session_id)

    def __len__(self) -> int:
        return len(self._windows)
