"""Turning a poll's :class:`ReadResult` into a response, the same way for both protocols."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable

import falcon

from patches.api.errors import ApiError
from patches.core.budget import REPLY_SLOTS
from patches.core.errors import Unavailable
from patches.core.results import ReadResult, ReadState

__all__ = ["ReplySlots", "source_failed", "wait", "waiting_message"]


class ReplySlots:
    """At most ``REPLY_SLOTS`` batch replies held at once: what the memory budget reserves.

    A reply takes a slot before its body is joined and gives it back once the body is sent. The
    body is handed to the HTTP server as a file (WSGI's ``file_wrapper``): waitress queues it
    without copying it and sends it from its event loop, so the request thread is free at once and
    the body is the reply's only copy. Request threads beyond the slots wait for one.
    """

    def __init__(self, wait_seconds: float, slots: int = REPLY_SLOTS) -> None:
        self._slots = threading.BoundedSemaphore(slots)
        self._wait = wait_seconds

    def send(self, resp: falcon.Response, build: Callable[[], bytes]) -> None:
        """Build a body in a slot and make it the response's, with the slot tied to it."""
        if not self._slots.acquire(timeout=self._wait):
            raise Unavailable("every reply slot stayed busy; retry later")
        try:
            body = build()
        except BaseException:
            self._slots.release()
            raise
        resp.stream = _Body(body, self._slots.release)
        resp.content_length = len(body)


class _Body(io.BytesIO):
    """A reply body (sharing the bytes, not copying them) that frees its slot when closed.

    The WSGI server closes what it has sent, or what it gives up on when the client goes away;
    and a file object is closed when it is collected, so a slot is never lost.
    """

    def __init__(self, body: bytes, release: Callable[[], None]) -> None:
        super().__init__(body)
        self._release: Callable[[], None] | None = release

    def close(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()
        super().close()


def waiting_message(result: ReadResult) -> str:
    if result.state is ReadState.QUEUED:
        return (
            f"no vulnerabilities prepared yet: the session is queued (position "
            f"{result.queue_position}, waiting for {result.waiting_for or 'a free place'}); "
            "poll again to keep it"
        )
    return "no vulnerabilities prepared yet: the next records are being fetched"


def wait(resp: falcon.Response, retry_after: int) -> None:
    """Mark a response as "nothing yet, come back": 202 with ``Retry-After``."""
    resp.status = falcon.HTTP_202
    resp.set_header("Retry-After", str(retry_after))


def source_failed(result: ReadResult) -> ApiError:
    """A failed pass is an upstream failure (502): the list is incomplete and must not look done."""
    return ApiError(
        falcon.HTTP_502,
        "source_failed",
        result.error or "a source failed",
        details={"state": "failed"},
    )
