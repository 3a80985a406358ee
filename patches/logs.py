"""Logging set-up for the server process."""

from __future__ import annotations

import logging

__all__ = ["configure_logging"]


def configure_logging(level: str) -> None:
    """Log to stderr; make actor failures visible and keep waitress's busy-queue chatter out.

    pykka logs a dying actor at ERROR, which must be seen. waitress logs a ``waitress.queue``
    WARNING for every request that waits for a free thread: under load that is noise, not news.
    """
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", force=True
    )
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
