"""The sliding cache window over one platform's record stream.

The window holds a contiguous slice ``[base, base + len)`` of the stream, bounded in records and in
encoded bytes. Each reader (an active session) has its own cursor; the window drops what every
reader has acknowledged and asks for more while it has room, so the stream is read once for all its
readers, and memory depends on the bounds alone.

Positions are stream positions; a reader's cursor counts from the position where it joined
(``start``), so readers that began at different places can share one window.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from patches.core.budget import MAX_REPLY_BYTES, record_cost
from patches.core.errors import CursorConflict
from patches.core.results import (
    Checkpoint,
    Completion,
    Delivery,
    FetchRequest,
    ReadResult,
    ReadState,
)
from patches.sources.base import Position

__all__ = ["Window", "WindowBounds", "WindowCounters"]

#: The most records one fetch asks a source for: what a reader builds before the window has it.
MAX_FETCH_RECORDS = 10_000


@dataclass(frozen=True, slots=True)
class WindowBounds:
    """The most a window may hold, and how many records a read returns at most."""

    max_records: int
    max_bytes: int
    batch_size: int


@dataclass(frozen=True, slots=True)
class WindowCounters:
    """What a window holds and has held: its own accounting, for status pages and tests."""

    platform: str
    readers: int
    #: Its bounds: the bytes are its allowance out of the memory budget.
    max_records: int
    max_bytes: int
    held_records: int
    held_bytes: int
    peak_records: int
    peak_bytes: int
    received: int
    exhausted: bool
    error: str | None


@dataclass(slots=True)
class _Reader:
    start: int
    #: Everything before ``acked`` is acknowledged: the window may drop it.
    acked: int
    #: The end of what was handed out; a cursor past it would skip records. Unknown (``_UNKNOWN``)
    #: for a reader restored after a restart until its first read: its scanner's cursor, at or
    #: after the acknowledged one, is trusted.
    sent: int
    last_contact: float


_UNKNOWN = -1


class Window:
    """One platform's window; a plain class, driven by its actor (or a test) one call at a time."""

    def __init__(
        self,
        platform: str,
        bounds: WindowBounds,
        sources: int,
        stall_seconds: tuple[float, ...] | None = None,
    ) -> None:
        """
        Args:
            sources: how many sources serve the platform; they are read one after another.
            stall_seconds: for each source, how long a fetch may go unanswered before the pass
                fails (a source that hangs); None waits for ever.
        """
        if sources < 1:
            raise ValueError("a window needs at least one source")
        self.platform = platform
        self.bounds = bounds
        self._sources = sources
        self._stall_seconds = stall_seconds
        self._fetch_started = 0.0
        self._source_index = 0
        #: The records as the original protocol sends them, and as the v1 API does.
        self._records: list[bytes] = []
        self._records_v1: list[bytes] = []
        self._base = 0
        self._bytes = 0
        self._readers: dict[str, _Reader] = {}
        self._finished: list[tuple[str, Completion]] = []
        #: Digests of the pass so far, for each protocol's shape; final once exhausted.
        self._sha_original = hashlib.sha256()
        self._sha_v1 = hashlib.sha256()
        self._completion: Completion | None = None
        self._in_flight = False
        self._next_size = 0
        self._exhausted = False
        self._error: str | None = None
        self._peak_records = 0
        self._peak_bytes = 0
        #: The stream position after the last record received.
        self._received = 0
        #: Where the current source's stream starts, if not at its beginning (a restored pass).
        self._start_resume: Position | None = None
        #: Checkpoints reached since the actor last took them (to make them durable).
        self._checkpoints: list[Checkpoint] = []
        #: A restored pass first re-reads its prefix, to rebuild its digest: records left to hash,
        #: and the source being hashed.
        self._prefix_left = 0
        self._prefix_source = 0
        self._saved_acks: dict[str, int] = {}
        #: The longest record held: while batch_size of them fit in a reply, reads need not
        #: measure their batch.
        self._longest = 0

    @classmethod
    def restored(
        cls,
        platform: str,
        bounds: WindowBounds,
        sources: int,
        stall_seconds: tuple[float, ...] | None,
        checkpoint: Checkpoint,
        readers: Mapping[str, int],
        now: float,
    ) -> Window:
        """A pass taken up after a restart, at a checkpoint at or below its readers' cursors.

        Its readers keep their acknowledged cursors. Before serving on, it re-reads its prefix
        (hashing, not keeping it), because a digest's state cannot be saved.
        """
        window = cls(platform, bounds, sources, stall_seconds)
        window._base = window._received = checkpoint.position
        window._source_index = checkpoint.source_index
        window._start_resume = checkpoint.resume
        window._exhausted = checkpoint.source_index >= sources
        window._prefix_left = checkpoint.position
        for session_id, acked in readers.items():
            window._readers[session_id] = _Reader(0, max(acked, checkpoint.position), _UNKNOWN, now)
            window._saved_acks[session_id] = acked
        return window

    # -- readers ---------------------------------------------------------------------------------

    @property
    def joinable(self) -> bool:
        """A new reader would get the whole pass: nothing was dropped yet and no source failed."""
        return self._base == 0 and self._error is None

    def join(self, session_id: str, now: float) -> bool:
        """Add a reader at the start of the pass; False if the pass has moved past its start."""
        if session_id in self._readers:
            return True
        if not self.joinable:
            return False
        self._readers[session_id] = _Reader(self._base, self._base, self._base, now)
        return True

    def leave(self, session_id: str) -> None:
        """Remove a reader (closed, expired); what only it held can be dropped."""
        if self._readers.pop(session_id, None) is not None:
            self._release()

    def idle_readers(self, cutoff: float) -> list[str]:
        """The readers not heard from since ``cutoff`` (the registry then ends them)."""
        return [sid for sid, r in self._readers.items() if r.last_contact < cutoff]

    def touch(self, session_id: str, now: float) -> None:
        """Note that a reader's scanner was heard from (it asked about its session)."""
        reader = self._readers.get(session_id)
        if reader is not None:
            reader.last_contact = max(reader.last_contact, now)

    def fail(self, error: str) -> None:
        """End the pass in error (a source reader is gone): every reader is told ``error``."""
        if self._error is None:
            self._error = error
        self._in_flight = False

    @property
    def readers(self) -> int:
        return len(self._readers)

    def take_finished(self) -> list[tuple[str, Completion]]:
        """Readers that read the whole pass since the last call, with the pass's completion."""
        finished, self._finished = self._finished, []
        return finished

    # -- reading ---------------------------------------------------------------------------------

    def read(
        self, session_id: str, cursor: int | None, now: float, limit: int | None = None
    ) -> ReadResult | CursorConflict | None:
        """The next batch for a reader; ``None`` if it is not a reader of this window.

        Args:
            cursor: the reader's cursor to read from, acknowledging everything before it, with
                records in the v1 API's shape; ``None`` is the original protocol: continue after
                what was handed out last (acknowledging it), records in the original shape.
            limit: at most this many records (never more than the batch size).
        """
        reader = self._readers.get(session_id)
        if reader is None:
            return None
        reader.last_contact = now
        sent = sys.maxsize if reader.sent == _UNKNOWN else reader.sent
        if cursor is None:
            position = reader.acked if reader.sent == _UNKNOWN else reader.sent
        else:
            position = reader.start + cursor
        if not reader.acked <= position <= sent:
            return CursorConflict(position - reader.start, reader.acked - reader.start,
                                  sent - reader.start)  # fmt: skip
        if self._error is not None:
            return ReadResult(ReadState.FAILED, cursor=position - reader.start, error=self._error)
        if position > reader.acked:
            reader.acked = position
            self._release()
        end = self._base + len(self._records)
        relative = position - reader.start
        if position >= end:
            if not self._exhausted:
                return ReadResult(ReadState.PENDING, cursor=relative, next_cursor=relative)
            completion = self._complete()
            del self._readers[session_id]
            self._finished.append((session_id, completion))
            self._release()
            return ReadResult(
                ReadState.DONE,
                cursor=relative,
                next_cursor=relative,
                total=completion.total,
                sha256=completion.sha256(v1=cursor is not None),
            )
        first = position - self._base
        records = self._records if cursor is None else self._records_v1
        size = self.bounds.batch_size if limit is None else min(limit, self.bounds.batch_size)
        batch = records[first : first + size]
        if self._longest * len(batch) > MAX_REPLY_BYTES:
            batch = _within_reply(batch)
        reader.sent = max(reader.sent, position + len(batch))
        return ReadResult(
            ReadState.READY,
            records=tuple(batch),
            count=len(batch),
            cursor=relative,
            next_cursor=relative + len(batch),
        )

    # -- filling ---------------------------------------------------------------------------------

    def next_fetch(self, now: float = 0.0) -> FetchRequest | None:
        """What to ask the sources for now, if anything; at most one request is in flight.

        The window asks only while it has readers and room for at least half a batch (or for the
        next record, whose size the last delivery told), so it never runs ahead of its bounds and
        does not chatter one record at a time.
        """
        if self._in_flight or self._error is not None or not self._readers:
            return None
        if self._prefix_left > 0:
            self._in_flight = True
            self._fetch_started = now
            return FetchRequest(
                self._prefix_source,
                0,
                0,
                self.bounds.max_bytes,
                hash_count=self._prefix_left,
                hashes=(self._sha_original, self._sha_v1),
            )
        if self._exhausted:
            return None
        room_records = min(self.bounds.max_records - len(self._records), MAX_FETCH_RECORDS)
        room_bytes = self.bounds.max_bytes - self._bytes
        wanted = max(1, min(self.bounds.batch_size, self.bounds.max_records) // 2)
        if room_records < wanted and self._records:
            return None
        if room_records < 1 or room_bytes < max(1, self._next_size):
            return None
        self._in_flight = True
        self._fetch_started = now
        start, self._start_resume = self._start_resume, None  # the stream opens with this fetch
        return FetchRequest(
            self._source_index, room_records, room_bytes, self.bounds.max_bytes, start
        )

    def check_stalled(self, now: float) -> bool:
        """Fail the pass if its fetch has gone unanswered too long; True if it did now."""
        if not self._in_flight or self._stall_seconds is None or self._error is not None:
            return False
        limit = self._stall_seconds[self._source_index]
        if now - self._fetch_started <= limit:
            return False
        self.fail(f"source #{self._source_index + 1} did not deliver within {limit:g} s")
        return True

    def deliver(self, delivery: Delivery) -> None:
        """Take the records a source sent in answer to :meth:`next_fetch`."""
        self._in_flight = False
        if self._prefix_left > 0:
            self._took_prefix(delivery)
            return
        records = delivery.records
        size = sum(map(record_cost, records))
        if len(self._records) + len(records) > self.bounds.max_records or (
            self._bytes + size > self.bounds.max_bytes
        ):
            self._error = "internal error: a source reader sent more than the room it was given"
            return
        self._records.extend(legacy for legacy, _ in records)
        self._records_v1.extend(v1 for _, v1 in records)
        for legacy, v1 in records:
            self._sha_original.update(legacy + b"\n")
            self._sha_v1.update(v1 + b"\n")
        if records:
            self._longest = max(self._longest, max(len(v1) for _, v1 in records))
        self._bytes += size
        self._received += len(records)
        if records and not delivery.exhausted and delivery.error is None:
            self._checkpoints.append(
                Checkpoint(self._received, self._source_index, delivery.resume)
            )
        self._peak_records = max(self._peak_records, len(self._records))
        self._peak_bytes = max(self._peak_bytes, self._bytes)
        self._release()  # records every reader has already acknowledged need not stay
        self._next_size = delivery.next_size or 0
        if delivery.error is not None:
            self._error = delivery.error
        elif delivery.exhausted:
            self._source_index += 1
            self._next_size = 0
            self._exhausted = self._source_index >= self._sources
            self._checkpoints.append(Checkpoint(self._received, self._source_index, None))

    def _took_prefix(self, delivery: Delivery) -> None:
        if delivery.error is not None:
            self._error = delivery.error
            return
        self._prefix_left -= delivery.hashed
        if self._prefix_left > 0 and delivery.exhausted:
            self._prefix_source += 1
            if self._prefix_source >= self._sources:
                self._error = "the sources hold fewer records than before the restart"

    def take_checkpoints(self) -> list[Checkpoint]:
        """Checkpoints reached since the last call, for the actor to make durable."""
        checkpoints, self._checkpoints = self._checkpoints, []
        return checkpoints

    def take_acks(self) -> list[tuple[str, int]]:
        """Readers' acknowledged cursors that moved since the last call (to make durable)."""
        moved = [
            (sid, r.acked)
            for sid, r in self._readers.items()
            if self._saved_acks.get(sid) != r.acked
        ]
        self._saved_acks.update(moved)
        for sid in [sid for sid in self._saved_acks if sid not in self._readers]:
            del self._saved_acks[sid]
        return moved

    @property
    def slowest(self) -> int:
        """The lowest acknowledged stream position among the readers (the base if none)."""
        return min((r.acked for r in self._readers.values()), default=self._base)

    @property
    def source_index(self) -> int:
        """The source being read now (sources are read one after another, in order)."""
        return self._source_index

    @property
    def error(self) -> str | None:
        return self._error

    def counters(self) -> WindowCounters:
        return WindowCounters(
            platform=self.platform,
            readers=len(self._readers),
            max_records=self.bounds.max_records,
            max_bytes=self.bounds.max_bytes,
            held_records=len(self._records),
            held_bytes=self._bytes,
            peak_records=self._peak_records,
            peak_bytes=self._peak_bytes,
            received=self._received,
            exhausted=self._exhausted,
            error=self._error,
        )

    def _complete(self) -> Completion:
        """The pass's count and digests (every reader starts at the pass's start, today)."""
        if self._completion is None:
            self._completion = Completion(
                self._received, self._sha_original.hexdigest(), self._sha_v1.hexdigest()
            )
        return self._completion

    def _release(self) -> None:
        """Drop the records every reader has acknowledged (never more than the window holds: a
        restored reader's cursor may be ahead of what has arrived yet)."""
        if not self._readers:
            return
        low = min(r.acked for r in self._readers.values())
        drop = min(low - self._base, len(self._records))
        if drop > 0:
            self._bytes -= sum(
                map(record_cost, zip(self._records[:drop], self._records_v1[:drop], strict=True))
            )
            del self._records[:drop]
            del self._records_v1[:drop]
            self._base += drop


def _within_reply(batch: list[bytes]) -> list[bytes]:
    """The first records of ``batch`` that fit in a reply; at least one."""
    size = 0
    for count, record in enumerate(batch):
        size += len(record) + 1
        if size > MAX_REPLY_BYTES:
            return batch[: max(count, 1)]
    return batch
