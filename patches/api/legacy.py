"""``GET /``: the original scanner protocol, unchanged for the scanners that speak it."""

from __future__ import annotations

import falcon

from patches.actors.system import PatchesSystem
from patches.api import bodies
from patches.api.errors import ApiError
from patches.api.replies import ReplySlots, source_failed, wait, waiting_message
from patches.core.results import ReadState

__all__ = ["LegacyResource"]


class LegacyResource:
    """``?platform=P`` opens a session; ``?session=ID`` (or ``?requestID=ID``) polls it."""

    def __init__(self, system: PatchesSystem, slots: ReplySlots, retry_after: int) -> None:
        self._system = system
        self._slots = slots
        self._retry_after = retry_after

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        session_id = req.get_param("session") or req.get_param("requestID")
        platform = req.get_param("platform")
        # With both, the original server polled the session: scanners that keep the platform in
        # their poll URL rely on it.
        if session_id is None and platform is not None:
            resp.data = bodies.legacy_opened(self._system.open_session(platform).id)
            return
        if session_id is None:
            raise ApiError(
                falcon.HTTP_400,
                "missing_parameter",
                "missing query parameter: platform=<name> opens a session, "
                "session=<id> (or requestID=<id>) polls one",
            )
        result = self._system.read(session_id)
        if result.state is ReadState.READY:
            self._slots.send(resp, lambda: bodies.legacy_batch(result))
        elif result.state is ReadState.DONE:
            resp.data = bodies.legacy_done(result)
        elif result.state is ReadState.FAILED:
            raise source_failed(result)
        else:
            wait(resp, self._retry_after)
            resp.data = bodies.legacy_waiting(waiting_message(result))
