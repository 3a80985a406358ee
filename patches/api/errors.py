"""Every error the API returns, in one shape: ``{"error": message, "code": name[, "details"]}``.

``error`` is a human-readable string (the original protocol's scanners read it as such) and ``code``
a stable machine-readable name. Refusals from the actor system are mapped to statuses here, once.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import falcon
import orjson

from patches.core.errors import (
    CursorConflict,
    PatchesError,
    QueueFull,
    Unavailable,
    UnknownPlatform,
    UnknownSession,
)

__all__ = ["ApiError", "error_document", "install_error_handling"]

log = logging.getLogger(__name__)


class ApiError(falcon.HTTPError):
    """An HTTP error with the API's ``code`` and optional ``details``."""

    def __init__(
        self,
        status: str,
        error_code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, description=message, headers=headers)
        self.error_code = error_code
        self.details = details


def error_body(req: falcon.Request, error: falcon.HTTPError) -> dict[str, Any]:
    """The JSON object for any HTTP error, ours or Falcon's (404 route, 405, bad parameter...)."""
    code = getattr(error, "error_code", None) or _slug(error.title)
    message = error.description or f"{_phrase(error.title)}: {req.method} {req.path}"
    body: dict[str, Any] = {"error": message, "code": code}
    details = getattr(error, "details", None)
    if details:
        body["details"] = details
    return body


def _serialize(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    resp.data = orjson.dumps(error_body(req, error))
    resp.content_type = falcon.MEDIA_JSON


def error_document(status: str, message: str) -> bytes:
    """An error in the API's shape for a status line (``"431 Request Header Fields Too Large"``);
    for errors answered before the application runs."""
    return orjson.dumps({"error": message, "code": _slug(status)})


def _phrase(title: str) -> str:
    """``"404 Not Found"`` -> ``"Not Found"``."""
    return re.sub(r"^\d+\s*", "", title)


def _slug(title: str) -> str:
    """``"404 Not Found"`` -> ``"not_found"``."""
    return re.sub(r"[^a-z0-9]+", "_", _phrase(title).lower()).strip("_") or "error"


def install_error_handling(app: falcon.App[Any, Any], retry_after: int) -> None:
    """Register the error serializer and the mapping of domain refusals to HTTP statuses."""
    retry = {"Retry-After": str(retry_after)}

    def refusal(req: falcon.Request, resp: falcon.Response, e: PatchesError, _: Any) -> None:
        if isinstance(e, UnknownPlatform):
            raise ApiError(falcon.HTTP_404, e.code, str(e), details={"platforms": list(e.served)})
        if isinstance(e, UnknownSession):
            raise ApiError(falcon.HTTP_404, e.code, str(e))
        if isinstance(e, QueueFull):
            raise ApiError(falcon.HTTP_429, e.code, str(e), headers=retry)
        if isinstance(e, CursorConflict):
            details = {"acknowledged": e.acknowledged, "delivered": e.delivered}
            raise ApiError(falcon.HTTP_409, e.code, str(e), details=details)
        if isinstance(e, Unavailable):
            raise ApiError(falcon.HTTP_503, e.code, str(e), headers=retry)
        raise ApiError(falcon.HTTP_500, e.code, str(e))

    def crash(req: falcon.Request, resp: falcon.Response, e: Exception, _: Any) -> None:
        if isinstance(e, falcon.HTTPError):  # pragma: no cover - Falcon routes these elsewhere
            raise e
        log.exception("unhandled error serving %s %s", req.method, req.relative_uri)
        raise ApiError(falcon.HTTP_500, "internal_error", "internal server error")

    app.set_error_serializer(_serialize)
    app.add_error_handler(Exception, crash)
    app.add_error_handler(PatchesError, refusal)
