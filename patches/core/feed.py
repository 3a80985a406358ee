"""Pulling one source's records for the windows that ask, never more than the room they give.

A feed keeps one open stream per window (a window is one pass over one platform). Records are
encoded here, once, as they enter the server. A failing source is retried with exponential backoff,
resuming from the position of the last record pulled, so a retry neither loses nor repeats a record;
once the retries are spent the failure is reported in the delivery.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass

import tenacity

from patches.core.budget import record_cost
from patches.core.results import Delivery, EncodedRecord, FetchRequest
from patches.sources.base import Position, Source, SourceError, SourceRecord

__all__ = ["Feed", "RetryPolicy"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a failing source is tried again."""

    attempts: int = 4
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0


class _Stream:
    __slots__ = ("delivered", "iterator", "pending", "platform", "position")

    def __init__(self, platform: str, start: Position | None = None) -> None:
        self.platform = platform
        self.iterator: Iterator[SourceRecord] | None = None
        #: Resume position of the last record pulled from the source (delivered or pending).
        self.position: Position | None = start
        #: Resume position of the last record delivered: what a checkpoint records.
        self.delivered: Position | None = start
        #: A pulled record that did not fit in the room given, with its resume position; it goes
        #: first next time.
        self.pending: tuple[EncodedRecord, Position | None] | None = None


class _Exhausted(Exception):
    """The source has no more records for the stream's platform."""


class _Broken(Exception):
    """The source broke its contract; retrying would not help."""


class Feed:
    """One source's streams; a plain class, driven by its reader actor (or a test)."""

    def __init__(
        self,
        source: Source,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.source = source
        self._retry = retry
        self._sleep = sleep
        self._streams: dict[Hashable, _Stream] = {}
        #: Records pulled from the source, per platform: the fan-out accounting.
        self.reads: Counter[str] = Counter()
        self.retries = 0
        self.failures = 0

    def fetch(self, stream: Hashable, platform: str, request: FetchRequest) -> Delivery:
        """Pull up to the request's room of ``platform``'s records for ``stream``.

        A stream opens at ``request.start`` (a restored pass), else at the source's beginning.
        """
        if request.hash_count:
            return self._hash(platform, request)
        state = self._streams.get(stream)
        if state is None:
            state = self._streams[stream] = _Stream(platform, request.start)
        records: list[EncodedRecord] = []
        size = 0
        while len(records) < request.max_records:
            try:
                if state.pending is not None:
                    data, resume = state.pending
                else:
                    data = self._pull(state)
                    resume = state.position
            except _Exhausted:
                self.release(stream)
                return Delivery(tuple(records), exhausted=True)
            except (SourceError, _Broken) as e:
                return self._failure(stream, records, str(e))
            except Exception as e:  # a bug in a source kind: contained, logged, reported
                log.exception("source %r raised an unexpected error", self.source.name)
                return self._failure(stream, records, f"internal error: {e!r}")
            data_size = record_cost(data)
            if data_size > request.capacity_bytes:
                self.release(stream)
                return Delivery(
                    tuple(records),
                    error=f"source {self.source.name!r}: a record of {data_size} bytes is larger "
                    f"than the window's max_bytes ({request.capacity_bytes}); raise it",
                )
            if size + data_size > request.max_bytes:
                state.pending = (data, resume)
                return Delivery(tuple(records), next_size=data_size, resume=state.delivered)
            state.pending = None
            state.delivered = resume
            records.append(data)
            size += data_size
        return Delivery(tuple(records), resume=state.delivered)

    def _hash(self, platform: str, request: FetchRequest) -> Delivery:
        """Hash the first ``request.hash_count`` records, from the source's start, keeping none."""
        assert request.hashes is not None
        original, v1 = request.hashes
        state = _Stream(platform)
        hashed = 0
        try:
            while hashed < request.hash_count:
                legacy, shaped = self._pull(state)
                original.update(legacy + b"\n")
                v1.update(shaped + b"\n")
                hashed += 1
        except _Exhausted:
            return Delivery(exhausted=True, hashed=hashed)
        except (SourceError, _Broken) as e:
            self.failures += 1
            return Delivery(error=f"source {self.source.name!r} failed: {e}", hashed=hashed)
        finally:
            if state.iterator is not None:
                _close(state.iterator)
        return Delivery(hashed=hashed)

    def _failure(self, stream: Hashable, records: list[EncodedRecord], why: str) -> Delivery:
        self.failures += 1
        self.release(stream)
        return Delivery(tuple(records), error=f"source {self.source.name!r} failed: {why}")

    def release(self, stream: Hashable) -> None:
        """Forget a stream (its window closed or it ended), closing its iterator."""
        state = self._streams.pop(stream, None)
        if state is not None and state.iterator is not None:
            _close(state.iterator)

    def close(self) -> None:
        for stream in list(self._streams):
            self.release(stream)
        try:
            self.source.close()
        except Exception:  # a plugin's cleanup must not take its reader down
            log.exception("source %r failed to close", self.source.name)

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def _pull(self, state: _Stream) -> EncodedRecord:
        """The next record's bytes, retrying a failing source from where it stopped.

        The first try is made outside tenacity: it is the path of every record, and building a
        retry state for each would cost more than reading the record.
        """
        try:
            return self._pull_once(state)
        except SourceError as error:
            if self._retry.attempts <= 1:
                raise
            self.retries += 1
            self._log_retry(1, error)
            self._sleep(min(self._retry.backoff_seconds, self._retry.max_backoff_seconds))
        retrying = tenacity.Retrying(  # attempts 2..n, the backoff going on doubling
            stop=tenacity.stop_after_attempt(self._retry.attempts - 1),
            wait=tenacity.wait_exponential(
                multiplier=2 * self._retry.backoff_seconds, max=self._retry.max_backoff_seconds
            ),
            retry=tenacity.retry_if_exception_type(SourceError),
            before_sleep=self._before_retry,
            sleep=self._sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return self._pull_once(state)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _pull_once(self, state: _Stream) -> EncodedRecord:
        if state.iterator is None:
            state.iterator = iter(self.source.records(state.platform, state.position))
        try:
            item = next(state.iterator)
        except StopIteration:
            raise _Exhausted from None
        except SourceError:
            state.iterator = None  # reopened from state.position on the next attempt
            raise
        except OSError as e:
            state.iterator = None
            raise SourceError(str(e)) from e
        if item.record.affected_platform != state.platform:
            raise _Broken(
                f"yielded a record of {item.record.affected_platform!r} "
                f"when asked for {state.platform!r}"
            )
        state.position = item.resume
        self.reads[state.platform] += 1
        return item.record.encode_both()

    def _before_retry(self, retry_state: tenacity.RetryCallState) -> None:
        self.retries += 1
        outcome = retry_state.outcome
        self._log_retry(
            retry_state.attempt_number + 1, outcome.exception() if outcome is not None else None
        )

    def _log_retry(self, attempt: int, error: BaseException | None) -> None:
        log.warning(
            "source %r failed (attempt %d of %d), retrying: %s",
            self.source.name,
            attempt,
            self._retry.attempts,
            error,
        )


def _close(iterator: Iterator[SourceRecord]) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # a plugin's cleanup must not take its reader down
            log.exception("a source iterator failed to close")
