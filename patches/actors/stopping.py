"""Stopping actors without ever hanging a shutdown on one that does not answer."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import pykka

__all__ = ["stop_all"]

log = logging.getLogger(__name__)


def stop_all(refs: Iterable[pykka.ActorRef[Any]], timeout: float) -> list[str]:
    """Stop actors one after another, in the order given; return those that did not stop in time.

    An actor busy past ``timeout`` (a source in a long retry) is logged and left to stop when it
    can (its stop message is queued); the others are stopped regardless.
    """
    stuck = []
    for ref in refs:
        try:
            ref.stop(block=True, timeout=timeout)
        except pykka.Timeout:
            log.error("%s did not stop within %g s; leaving it to stop on its own", ref, timeout)
            stuck.append(str(ref))
    return stuck
