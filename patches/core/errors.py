"""The domain's refusals, raised to callers of the actor system and mapped to HTTP by the API.

They cross actor boundaries as return values (an actor returns the error, the caller's thread raises
it), so expected refusals never take the exception path inside an actor.
"""

from __future__ import annotations

__all__ = [
    "CursorConflict",
    "PatchesError",
    "QueueFull",
    "SessionGone",
    "Unavailable",
    "UnknownPlatform",
    "UnknownSession",
]


class PatchesError(Exception):
    """Base of every refusal; ``code`` is its stable machine-readable name."""

    code = "error"


class UnknownPlatform(PatchesError):
    """No configured source serves the platform."""

    code = "unknown_platform"

    def __init__(self, platform: str, served: tuple[str, ...]) -> None:
        super().__init__(f"unknown platform {platform!r}; served: {', '.join(served) or 'none'}")
        self.platform = platform
        self.served = served


class QueueFull(PatchesError):
    """Every active place is taken and the queue is at its bound."""

    code = "queue_full"

    def __init__(self, max_queued: int) -> None:
        super().__init__(f"the session queue is full ({max_queued} waiting); retry later")
        self.max_queued = max_queued


class UnknownSession(PatchesError):
    """No such session: never opened, ended and forgotten, or closed."""

    code = "unknown_session"

    def __init__(self, session_id: str) -> None:
        super().__init__(f"unknown session {session_id!r}")
        self.session_id = session_id


class SessionGone(UnknownSession):
    """The session was expelled because its scanner stopped polling."""

    code = "session_expired"

    def __init__(self, session_id: str, timeout_seconds: float) -> None:
        PatchesError.__init__(
            self,
            f"session {session_id!r} expired: not heard from within {timeout_seconds:g} s; "
            "open a new session",
        )
        self.session_id = session_id


class CursorConflict(PatchesError):
    """A cursor before the acknowledged one, or past what was delivered."""

    code = "cursor_conflict"

    def __init__(self, cursor: int, acknowledged: int, delivered: int) -> None:
        if cursor < acknowledged:
            why = f"cursor {cursor} is before the acknowledged cursor {acknowledged}"
        else:
            why = f"cursor {cursor} is past the records delivered so far ({delivered})"
        super().__init__(why)
        self.cursor = cursor
        self.acknowledged = acknowledged
        self.delivered = delivered


class Unavailable(PatchesError):
    """A part of the server did not answer in time or has stopped; the server is unhealthy."""

    code = "unavailable"
