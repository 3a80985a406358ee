"""``create_app``: the Falcon application, wired to a running actor system."""

from __future__ import annotations

import falcon
import falcon.media
import orjson

from patches.actors.system import PatchesSystem
from patches.api.errors import install_error_handling
from patches.api.legacy import LegacyResource
from patches.api.limits import RequestLimits
from patches.api.replies import ReplySlots
from patches.api.server_status import HealthResource, StatusResource
from patches.api.v1 import (
    PlatformsResource,
    SessionResource,
    SessionsResource,
    VulnerabilitiesResource,
)

__all__ = ["create_app"]


def create_app(system: PatchesSystem) -> falcon.App[falcon.Request, falcon.Response]:
    """The WSGI application serving both protocols for ``system``."""
    retry_after = system.config.server.retry_after_seconds
    app = falcon.App(media_type=falcon.MEDIA_JSON, middleware=[RequestLimits()])
    json = falcon.media.JSONHandler(dumps=orjson.dumps, loads=orjson.loads)
    app.req_options.media_handlers[falcon.MEDIA_JSON] = json
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = json
    app.req_options.strip_url_path_trailing_slash = True
    install_error_handling(app, retry_after)
    slots = ReplySlots(wait_seconds=system.config.server.ask_timeout_seconds)

    app.add_route("/", LegacyResource(system, slots, retry_after))
    app.add_route("/v1/sessions", SessionsResource(system))
    app.add_route("/v1/sessions/{session_id}", SessionResource(system))
    app.add_route(
        "/v1/sessions/{session_id}/vulnerabilities",
        VulnerabilitiesResource(system, slots, retry_after),
    )
    app.add_route("/v1/platforms", PlatformsResource(system))
    app.add_route("/v1/health", HealthResource(system))
    app.add_route("/v1/status", StatusResource(system))
    return app
