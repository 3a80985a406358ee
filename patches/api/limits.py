"""Limits on what a request may carry, refused early with the API's JSON errors.

The API's requests are small: an id in a path, a cursor in a query, a platform in a body. Anything
much larger is a mistake or an attack, refused before any work. (waitress refuses still larger
requests itself, with plain-text errors: a request line and headers over 64 KiB, a body over 1 MiB.)
"""

from __future__ import annotations

import falcon

from patches.api.errors import ApiError

__all__ = ["MAX_BODY_BYTES", "MAX_PATH_BYTES", "MAX_QUERY_BYTES", "RequestLimits", "too_large"]

MAX_PATH_BYTES = 1024
MAX_QUERY_BYTES = 2048
MAX_BODY_BYTES = 16 * 1024


class RequestLimits:
    """Falcon middleware: 414 for an overlong path or query, 413 for an overlong body."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if len(req.path) > MAX_PATH_BYTES or len(req.query_string) > MAX_QUERY_BYTES:
            raise ApiError(
                falcon.HTTP_414,
                "uri_too_long",
                f"the path may have at most {MAX_PATH_BYTES} bytes and the query {MAX_QUERY_BYTES}",
            )
        if req.content_length is not None and req.content_length > MAX_BODY_BYTES:
            raise too_large()


def too_large() -> ApiError:
    return ApiError(
        falcon.HTTP_413, "payload_too_large", f"a body may have at most {MAX_BODY_BYTES} bytes"
    )
