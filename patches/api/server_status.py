"""``GET /v1/health`` and ``GET /v1/status``: is the server well, and what does it hold."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import falcon

from patches.actors.system import PatchesSystem
from patches.api.errors import ApiError

__all__ = ["HealthResource", "StatusResource"]


class HealthResource:
    """200 when every actor is alive and answering, else 503 naming what is wrong."""

    def __init__(self, system: PatchesSystem) -> None:
        self._system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        problems = self._system.health.problems()
        if problems:
            raise ApiError(
                falcon.HTTP_503,
                "unhealthy",
                "unhealthy: " + "; ".join(f"{k}: {v}" for k, v in sorted(problems.items())),
                details={"problems": problems},
            )
        resp.media = {"status": "ok"}


class StatusResource:
    """The server's own accounting: sessions, windows (records and bytes held), source reads."""

    def __init__(self, system: PatchesSystem) -> None:
        self._system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = _camel(dataclasses.asdict(self._system.status()))


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel_key(k): _camel(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_camel(v) for v in value]
    return value


def _camel_key(key: Any) -> Any:
    if not isinstance(key, str) or ":" in key:  # platform names stay as they are
        return key
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)
