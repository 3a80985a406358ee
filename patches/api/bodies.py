"""Reply bodies built around records that were encoded once, when they entered the server.

A batch's records are the window's own bytes objects; a reply joins them, with its envelope, in a
single copy: no record is decoded, encoded or copied twice per scanner.
"""

from __future__ import annotations

from typing import Any

import orjson

from patches.core.results import ReadResult, SessionView

__all__ = [
    "legacy_batch",
    "legacy_done",
    "legacy_opened",
    "legacy_waiting",
    "session_body",
    "v1_batch",
    "v1_empty",
]


def legacy_opened(session_id: str) -> bytes:
    """The original protocol's answer to opening a session (both names for the id)."""
    return orjson.dumps({"error": None, "session": session_id, "requestID": session_id})


def legacy_batch(result: ReadResult) -> bytes:
    return _enclose(b'{"error":null,"vulnerabilities":[', result.records, b'],"done":false}')


def legacy_waiting(message: str) -> bytes:
    return orjson.dumps({"error": None, "vulnerabilities": [], "done": False, "message": message})


def legacy_done(result: ReadResult) -> bytes:
    return orjson.dumps(
        {
            "error": None,
            "vulnerabilities": [],
            "done": True,
            "total": result.total,
            "sha256": result.sha256,
        }
    )


def v1_batch(result: ReadResult) -> bytes:
    suffix = b'],"cursor":%d,"nextCursor":%d,"done":false}' % (result.cursor, result.next_cursor)
    return _enclose(b'{"vulnerabilities":[', result.records, suffix)


def _enclose(prefix: bytes, records: tuple[bytes, ...], suffix: bytes) -> bytes:
    """``prefix + b",".join(records) + suffix`` in one copy of the records (not two)."""
    if not records:
        return prefix + suffix
    parts = list(records)
    parts[0] = prefix + parts[0]
    parts[-1] = parts[-1] + suffix
    return b",".join(parts)


def v1_empty(cursor: int, *, done: bool, extra: dict[str, Any]) -> bytes:
    body: dict[str, Any] = {"vulnerabilities": [], "cursor": cursor, "nextCursor": cursor}
    body["done"] = done
    body.update(extra)
    return orjson.dumps(body)


def session_body(view: SessionView) -> dict[str, Any]:
    """A session as the v1 API shows it; fields that do not apply are left out."""
    body: dict[str, Any] = {"id": view.id, "platform": view.platform, "state": view.state.value}
    if view.queue_position is not None:
        body["queuePosition"] = view.queue_position
    if view.waiting_for is not None:
        body["waitingFor"] = view.waiting_for
    if view.completion is not None:
        body["total"] = view.completion.total
        body["sha256"] = view.completion.sha256_v1
    if view.error is not None:
        body["error"] = view.error
    return body
