"""The v1 API: sessions as resources, and reads by cursor that acknowledge what came before."""

from __future__ import annotations

from typing import Any

import falcon
import orjson

from patches.actors.system import PatchesSystem
from patches.api import bodies
from patches.api.errors import ApiError
from patches.api.limits import MAX_BODY_BYTES, too_large
from patches.api.replies import ReplySlots, source_failed, wait, waiting_message
from patches.core.results import ReadState

__all__ = ["PlatformsResource", "SessionResource", "SessionsResource", "VulnerabilitiesResource"]


#: The largest ``limit`` a read may ask for; above the batch size, the batch size applies.
MAX_LIMIT = 100_000


class SessionsResource:
    """``POST /v1/sessions`` with ``{"platform": P}``: open a session."""

    def __init__(self, system: PatchesSystem) -> None:
        self._system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = _json_body(req)
        if not isinstance(body, dict) or not isinstance(body.get("platform"), str):
            raise ApiError(
                falcon.HTTP_400,
                "invalid_body",
                'the body must be a JSON object {"platform": "<name>"}',
            )
        if unknown := sorted(set(body) - {"platform"}):
            raise ApiError(
                falcon.HTTP_400, "invalid_body", f"unknown field(s): {', '.join(unknown)}"
            )
        view = self._system.open_session(body["platform"])
        resp.status = falcon.HTTP_201
        resp.location = f"/v1/sessions/{view.id}"
        resp.media = bodies.session_body(view)


class SessionResource:
    """``GET /v1/sessions/{id}``: its state; ``DELETE``: end it."""

    def __init__(self, system: PatchesSystem) -> None:
        self._system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, session_id: str) -> None:
        resp.media = bodies.session_body(self._system.session(session_id))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, session_id: str) -> None:
        self._system.close_session(session_id)
        resp.status = falcon.HTTP_204


class VulnerabilitiesResource:
    """``GET /v1/sessions/{id}/vulnerabilities?cursor=N``: the records from position N.

    Asking with N acknowledges every record before N; asking again with the same N returns the same
    records, so a reply lost on the way costs a retry, never a record.
    """

    def __init__(self, system: PatchesSystem, slots: ReplySlots, retry_after: int) -> None:
        self._system = system
        self._slots = slots
        self._retry_after = retry_after
        self._batch_size = system.config.window.batch_size

    def on_get(self, req: falcon.Request, resp: falcon.Response, session_id: str) -> None:
        cursor = req.get_param_as_int("cursor", min_value=0, default=0)
        limit = req.get_param_as_int("limit", min_value=1, max_value=MAX_LIMIT)
        result = self._system.read(session_id, cursor, limit=limit)
        if result.state is ReadState.READY:
            self._slots.send(resp, lambda: bodies.v1_batch(result))
        elif result.state is ReadState.DONE:
            completion = {"total": result.total, "sha256": result.sha256}
            resp.data = bodies.v1_empty(cursor, done=True, extra=completion)
        elif result.state is ReadState.FAILED:
            raise source_failed(result)
        else:
            wait(resp, self._retry_after)
            extra: dict[str, Any] = {
                "state": "queued" if result.state is ReadState.QUEUED else "active"
            }
            if result.queue_position is not None:
                extra["queuePosition"] = result.queue_position
            extra["message"] = waiting_message(result)
            resp.data = bodies.v1_empty(cursor, done=False, extra=extra)


def _json_body(req: falcon.Request) -> Any:
    """The request's JSON body, read within its size limit (a chunked body has no length)."""
    if req.content_type is not None and not req.content_type.startswith(falcon.MEDIA_JSON):
        raise falcon.HTTPUnsupportedMediaType(description="the body must be application/json")
    data = req.bounded_stream.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise too_large()
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ApiError(falcon.HTTP_400, "invalid_json", "the body is not valid JSON") from None


class PlatformsResource:
    """``GET /v1/platforms``: the platforms served."""

    def __init__(self, system: PatchesSystem) -> None:
        self._system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"platforms": list(self._system.platforms())}
