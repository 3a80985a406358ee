"""HTTP access to a Clair v2 server's API v1, with Clair's retry semantics.

Clair answers errors as ``{"Error": {"Message": ...}}``: 400 (change the request), 404 (no such
namespace or vulnerability), 422 (never retry), 500 (retry unchanged). Unknown routes answer a
plain-text 404. 500s, 502-504s and network errors are retried here with exponential backoff and a
cap; other errors are not.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import orjson
import urllib3
from urllib3.util import Retry, Timeout

from patches.sources.base import SourceError

__all__ = ["ClairClient", "ClairError", "ExpiredPage"]

_RETRIED_STATUSES = frozenset({500, 502, 503, 504})


class ClairError(SourceError):
    """Clair answered an error; ``status`` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Clair answered {status}: {message}")
        self.status = status


class ExpiredPage(ClairError):
    """A page token is invalid or expired (Clair's tokens live one hour)."""


class ClairClient:
    """Thread-safe: one keep-alive connection pool shared by the detail fetchers."""

    def __init__(
        self,
        base_url: str,
        *,
        connections: int,
        timeout_seconds: float,
        retries: int,
        backoff_seconds: float,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = urllib3.PoolManager(
            maxsize=connections,
            block=True,
            headers={"Accept-Encoding": "gzip", "User-Agent": "patches"},
            timeout=Timeout(connect=min(10.0, timeout_seconds), read=timeout_seconds),
            retries=Retry(
                total=retries,
                backoff_factor=backoff_seconds,
                backoff_max=30,
                status_forcelist=_RETRIED_STATUSES,
                allowed_methods=frozenset({"GET"}),
                raise_on_status=False,
                respect_retry_after_header=True,
            ),
        )
        self._lock = threading.Lock()
        #: HTTP requests sent, retries included.
        self.requests = 0

    def namespaces(self) -> list[str]:
        body = self._get("/v1/namespaces")
        return [n["Name"] for n in _list(body.get("Namespaces")) if isinstance(n, dict)]

    def page(self, namespace: str, token: str, limit: int) -> tuple[list[dict[str, Any]], str]:
        """One page of summaries and the token of the next ("" on the last page)."""
        query = f"limit={limit}" + (f"&page={quote(token, safe='')}" if token else "")
        try:
            body = self._get(f"/v1/namespaces/{quote(namespace, safe='')}/vulnerabilities?{query}")
        except ClairError as e:
            if e.status == 400 and "pagination token" in str(e):
                raise ExpiredPage(e.status, str(e)) from None
            raise
        summaries = [s for s in _list(body.get("Vulnerabilities")) if isinstance(s, dict)]
        next_page = body.get("NextPage")
        return summaries, next_page if isinstance(next_page, str) else ""

    def detail(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A vulnerability with its ``FixedIn``; ``None`` if it no longer exists."""
        path = f"/v1/namespaces/{quote(namespace, safe='')}/vulnerabilities/{quote(name, safe='')}"
        try:
            body = self._get(path + "?fixedIn")
        except ClairError as e:
            if e.status == 404:
                return None
            raise
        vulnerability = body.get("Vulnerability")
        if not isinstance(vulnerability, dict):
            raise SourceError(f"GET {path}: no Vulnerability in the answer")
        return vulnerability

    def close(self) -> None:
        self._http.clear()

    def _get(self, path: str) -> dict[str, Any]:
        try:
            response = self._http.request("GET", self.base_url + path)
        except urllib3.exceptions.HTTPError as e:
            self._count(1)
            raise SourceError(f"GET {path}: {e}") from e
        self._count(1 + (len(response.retries.history) if response.retries else 0))
        if response.status != 200:
            raise ClairError(response.status, f"GET {path}: {_message(response)}")
        try:
            body = orjson.loads(response.data)
        except orjson.JSONDecodeError as e:
            raise SourceError(f"GET {path}: the answer is not JSON: {e}") from None
        if not isinstance(body, dict):
            raise SourceError(f"GET {path}: the answer is not a JSON object")
        return body

    def _count(self, requests: int) -> None:
        with self._lock:
            self.requests += requests


def _message(response: urllib3.BaseHTTPResponse) -> str:
    """Clair's error message, from its JSON error or (unknown routes) plain text."""
    try:
        error = orjson.loads(response.data).get("Error", {})
        return str(error.get("Message", "")) or response.reason or ""
    except (orjson.JSONDecodeError, AttributeError):
        return response.data.decode("utf-8", "replace").strip()[:200] or (response.reason or "")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []  # Clair sends null for empty lists
