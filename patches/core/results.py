"""Immutable values that cross actor boundaries: read results, session views, fetch requests."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from patches.sources.base import Position

__all__ = [
    "Checkpoint",
    "Completion",
    "Delivery",
    "EncodedRecord",
    "FetchRequest",
    "ReadResult",
    "ReadState",
    "SessionState",
    "SessionView",
]


class SessionState(StrEnum):
    """Where a session is in its life."""

    QUEUED = "queued"
    ACTIVE = "active"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"


class ReadState(StrEnum):
    """What a poll for records found."""

    #: Records are in ``records``.
    READY = "ready"
    #: Active, but the next records are not in the window yet: retry shortly.
    PENDING = "pending"
    #: Still waiting for an active place: retry shortly.
    QUEUED = "queued"
    #: Every record of the pass was delivered and acknowledged.
    DONE = "done"
    #: A source failed; ``error`` says which and why. The list is incomplete: never treat as done.
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Completion:
    """How a scanner proves it received a whole pass: the records' count and SHA-256 digests.

    A digest is SHA-256 over the records in order, each as its JSON bytes followed by a line
    feed; one for each protocol's record shape (they differ where the v1 API adds ``aliases``).
    """

    total: int
    sha256_original: str
    sha256_v1: str

    def sha256(self, v1: bool) -> str:
        return self.sha256_v1 if v1 else self.sha256_original


@dataclass(frozen=True, slots=True)
class ReadResult:
    """One poll's answer: the batch's encoded records, the window's own bytes (never copied)."""

    state: ReadState
    records: tuple[bytes, ...] = ()
    count: int = 0
    #: The session's cursor this batch starts at, and the one to ask with next.
    cursor: int = 0
    next_cursor: int = 0
    #: Records in the whole pass, once known (when done).
    total: int | None = None
    #: The SHA-256 digest of the pass in this protocol's shape (when done).
    sha256: str | None = None
    queue_position: int | None = None
    error: str | None = None
    waiting_for: str | None = None

    @property
    def payload(self) -> bytes:
        """The records as the inside of a JSON array (a copy: for embedders and tests)."""
        return b",".join(self.records)


@dataclass(frozen=True, slots=True)
class SessionView:
    """A session as the registry knows it."""

    id: str
    platform: str
    state: SessionState
    #: 1-based place in the queue, when queued.
    queue_position: int | None = None
    total: int | None = None
    error: str | None = None
    #: What a queued session waits for: a free place, its platform's next pass, or memory.
    waiting_for: str | None = None
    #: The pass's count and digests, once the session is done.
    completion: Completion | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """At stream ``position``, a pass was reading source ``source_index``; resuming that source at
    ``resume`` (None: at its start) gives the record at ``position``."""

    position: int
    source_index: int
    resume: Position | None


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """A window's request for more records: never more than its free room."""

    source_index: int
    max_records: int
    max_bytes: int
    #: The window's whole byte bound: a record larger than this can never be held.
    capacity_bytes: int
    #: Where the source's stream starts, if not at its beginning (a pass restored after a
    #: restart); used when the stream is opened.
    start: Position | None = None
    #: Not records but a digest: hash the first ``hash_count`` records of the source into
    #: ``hashes`` (original shape, v1 shape), keeping none (a restored pass rebuilding its digest).
    hash_count: int = 0
    hashes: tuple[Any, Any] | None = None


#: A record encoded for the original protocol and for the v1 API (the same object when equal).
EncodedRecord = tuple[bytes, bytes]


@dataclass(frozen=True, slots=True)
class Delivery:
    """Records a source reader sends a window, in source order."""

    records: tuple[EncodedRecord, ...] = ()
    #: The source has no more records for this platform.
    exhausted: bool = False
    #: The source failed after its retries; the pass cannot be completed.
    error: str | None = None
    #: Bytes of the next record, when it did not fit in the room given.
    next_size: int | None = None
    #: Where to resume the source to get the record after the last one delivered.
    resume: Position | None = None
    #: For a digest request: how many records were hashed.
    hashed: int = 0
