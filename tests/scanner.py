"""A scanner, as the fleet runs it: opens a session over HTTP and drains it, on either protocol."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import urllib3


class Refused(Exception):
    """The server refused to open a session."""

    def __init__(self, status: int, body: dict[str, Any], retry_after: str | None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.retry_after = retry_after


@dataclass
class Scan:
    """What one scanner received."""

    session: str
    records: list[dict[str, Any]] = field(default_factory=list)
    polls: int = 0
    waits: int = 0
    last: dict[str, Any] = field(default_factory=dict)


class Scanner:
    """Speaks the original protocol (``v1=False``) or the v1 API, with keep-alive connections.

    It polls again after ``pause`` seconds when told to wait (a real scanner would honour
    ``Retry-After``; tests poll faster to finish sooner).
    """

    def __init__(
        self, base_url: str, *, v1: bool, pause: float = 0.01, timeout: float = 10
    ) -> None:
        self.base = base_url
        self.v1 = v1
        self.pause = pause
        self.http = urllib3.PoolManager(
            maxsize=1, retries=False, timeout=urllib3.Timeout(total=timeout)
        )
        self._idle = threading.Event()

    def open(self, platform: str) -> str:
        if self.v1:
            response = self.http.request(
                "POST", f"{self.base}/v1/sessions", json={"platform": platform}
            )
            if response.status == 201:
                return str(response.json()["id"])
        else:
            response = self.http.request("GET", f"{self.base}/", fields={"platform": platform})
            if response.status == 200:
                return str(response.json()["session"])
        raise Refused(response.status, response.json(), response.headers.get("Retry-After"))

    def poll(self, scan: Scan) -> bool:
        """One poll; True when the session is finished."""
        if self.v1:
            url = f"{self.base}/v1/sessions/{scan.session}/vulnerabilities"
            response = self.http.request("GET", url, fields={"cursor": len(scan.records)})
        else:
            response = self.http.request("GET", f"{self.base}/", fields={"session": scan.session})
        scan.polls += 1
        body = orjson.loads(response.data)
        scan.last = body
        if response.status == 202:
            scan.waits += 1
            self._idle.wait(self.pause)
            return False
        if response.status != 200:
            raise AssertionError(f"poll answered {response.status}: {body}")
        scan.records += body["vulnerabilities"]
        return bool(body["done"])

    def drain(self, session: str, limit: float = 120.0) -> Scan:
        scan = Scan(session)
        deadline = time.monotonic() + limit
        while not self.poll(scan):
            if time.monotonic() > deadline:
                raise AssertionError(f"session {session} unfinished after {limit} s")
        return scan

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        response = self.http.request("GET", f"{self.base}{path}")
        return response.status, orjson.loads(response.data)
