"""Serving a WSGI app with waitress, and stopping it cleanly from another thread or a signal."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import waitress
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

from patches.api.errors import error_document
from patches.config import ServerConfig

__all__ = ["HttpServer"]

log = logging.getLogger(__name__)


class HttpServer:
    """One waitress server, bound at construction (so ``port`` is known, even for port 0)."""

    def __init__(self, app: Any, config: ServerConfig) -> None:
        self._server = waitress.create_server(
            app,
            host=config.host,
            port=config.port,
            threads=config.threads,
            connection_limit=config.connection_limit,
            # select() cannot watch descriptors above 1024; poll() can, and we allow 1000 clients.
            asyncore_use_poll=True,
            ident="patches",
            clear_untrusted_proxy_headers=True,
            # Backstops: the API refuses smaller excesses itself, with JSON errors (api/limits.py).
            max_request_header_size=64 * 1024,
            max_request_body_size=1024 * 1024,
        )
        self._server.channel_class = _JsonErrorChannel
        # waitress warns on every request that waits for a free thread: noise under load.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        self.host = config.host
        self.port: int = self._server.effective_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def serve(self) -> None:
        """Serve until :meth:`request_stop`; then let in-flight requests finish."""
        try:
            self._server.run()
        finally:
            self._server.task_dispatcher.shutdown(timeout=5)

    def request_stop(self) -> None:
        """Make :meth:`serve` return. Safe from any thread (not from a signal handler itself)."""
        self._server.trigger.pull_trigger(self._close_all)

    def _close_all(self) -> None:
        # Runs on the server's loop thread: closing every dispatcher empties the map, ending run().
        wasyncore.close_all(self._server._map, ignore_all=True)

    @contextmanager
    def running(self) -> Iterator[HttpServer]:
        """Serve on a background thread for the duration of the block (tests, embedding)."""
        thread = threading.Thread(target=self.serve, name=f"waitress:{self.port}", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.request_stop()
            thread.join(10)
            if thread.is_alive():  # pragma: no cover - reported, never hangs the caller
                log.error("the HTTP server did not stop within 10 s")


class _JsonErrorTask(ErrorTask):  # type: ignore[misc]
    """waitress's answer to a request it cannot parse (bad request line, headers too large),
    in the API's JSON error shape instead of plain text."""

    def execute(self) -> None:
        error = self.request.error
        status = f"{error.code} {error.reason}"
        body = error_document(status, f"{error.reason}: {error.body}")
        self.status = status
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _JsonErrorChannel(HTTPChannel):  # type: ignore[misc]
    error_task_class = _JsonErrorTask
