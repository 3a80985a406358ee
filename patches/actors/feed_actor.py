"""The source reader actor: one per configured source, pulling records only when a window asks."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Hashable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

import pykka

from patches.actors.health import HealthBoard
from patches.core.feed import Feed
from patches.core.results import Delivery, FetchRequest
from patches.sources.base import SourceError

if TYPE_CHECKING:
    from patches.actors.window_actor import WindowActor

__all__ = ["FeedActor", "FeedCounters"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FeedCounters:
    """A source reader's accounting: records pulled per platform, retries, failures."""

    source: str
    kind: str
    reads: dict[str, int]
    #: Requests made upstream (HTTP requests to Clair, retries included); 0 for local sources.
    requests: int
    malformed: int
    retries: int
    failures: int
    open_streams: int


class FeedActor(pykka.ThreadingActor):
    """Owns one :class:`Feed`. Windows tell it to fetch; it tells them the records back.

    Backpressure is the protocol itself: it reads only in answer to a window's request, and never
    more than the room that request gives.
    """

    def __init__(self, feed: Feed, health: HealthBoard) -> None:
        super().__init__()
        self._feed = feed
        self._health = health
        #: The window waiting on each stream: told if this reader dies.
        self._waiting: dict[Hashable, pykka.ActorProxy[WindowActor]] = {}

    def platforms(self) -> frozenset[str] | SourceError:
        """The platforms the source serves, or why it could not tell."""
        try:
            return self._feed.source.platforms()
        except SourceError as e:
            return e
        except Exception as e:  # a bug in the source kind: reported, not raised into start-up
            log.exception("source %r failed to list its platforms", self._feed.source.name)
            return SourceError(f"internal error: {e!r}")

    def fetch(
        self,
        stream: Hashable,
        platform: str,
        request: FetchRequest,
        reply_to: pykka.ActorProxy[WindowActor],
    ) -> None:
        """Pull records for ``stream`` and tell them to the window that asked."""
        self._waiting[stream] = reply_to
        delivery = self._feed.fetch(stream, platform, request)
        del self._waiting[stream]
        try:
            reply_to.deliver.defer(stream, delivery)
        except pykka.ActorDeadError:  # the window closed meanwhile: nobody needs the stream
            self._feed.release(stream)

    def release(self, stream: Hashable) -> None:
        """Forget a stream whose window closed."""
        self._feed.release(stream)

    def counters(self) -> FeedCounters:
        source = self._feed.source
        return FeedCounters(
            source=source.name,
            kind=source.kind,
            reads=dict(self._feed.reads),
            requests=source.requests,
            malformed=source.stats.malformed,
            retries=self._feed.retries,
            failures=self._feed.failures,
            open_streams=self._feed.open_streams,
        )

    def on_stop(self) -> None:
        self._feed.close()

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._health.fail(f"source reader {self._feed.source.name!r}", repr(exception_value))
        failed = Delivery(error=f"internal error: the source reader died: {exception_value!r}")
        for stream, window in self._waiting.items():
            with contextlib.suppress(pykka.ActorDeadError):
                window.deliver.defer(stream, failed)
        self._feed.close()
