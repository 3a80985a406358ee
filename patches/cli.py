"""``patches-server``: load the configuration, start the actors, serve HTTP, stop on a signal."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from patches.actors import PatchesSystem, StartupError
from patches.allocator import tune_allocator
from patches.api import create_app
from patches.config import ConfigError, default_config_text, load_config
from patches.http_server import HttpServer
from patches.logs import configure_logging

__all__ = ["main"]

log = logging.getLogger("patches")


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGINT or SIGTERM; return the process's exit status."""
    parser = argparse.ArgumentParser(
        prog="patches-server", description="Serve vulnerability feeds to fleets of scanners."
    )
    parser.add_argument(
        "--config", type=Path, help="TOML configuration (default: the embedded default)"
    )
    parser.add_argument(
        "--print-default-config",
        action="store_true",
        help="print the embedded default configuration, with every key, and exit",
    )
    args = parser.parse_args(argv)
    if args.print_default_config:
        print(default_config_text(), end="")
        return 0
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"patches-server: {e}", file=sys.stderr)
        return 2
    configure_logging(config.logging.level)
    tune_allocator()  # before any thread starts: the actors' and waitress's
    try:
        system = PatchesSystem.start(config)
    except StartupError as e:
        log.error("cannot start: %s", e)
        return 1
    with system:  # stops the actors, in reverse order, after the server
        try:
            server = HttpServer(create_app(system), config.server)
        except OSError as e:
            log.error("cannot listen on %s:%d: %s", config.server.host, config.server.port, e)
            return 1
        _stop_on_signals(server)
        log.info("listening on %s (configuration: %s)", server.url, config.origin)
        server.serve()
        log.info("HTTP server stopped; stopping actors")
    return 0


def _stop_on_signals(server: HttpServer) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        # Not from the handler itself: it may have interrupted the loop holding the trigger's lock.
        threading.Thread(target=server.request_stop, daemon=True).start()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
