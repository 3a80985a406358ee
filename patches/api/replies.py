"""Turning a poll's :class:`ReadResult` into a response, the same way for both protocols."""

from __future__ import annotations

import falcon

from patches.api.errors import ApiError
from patches.core.results import ReadResult, ReadState

__all__ = ["source_failed", "wait", "waiting_message"]


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
