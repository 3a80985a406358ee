"""The memory budget: what the server holds for data, accounted from its own structures.

Everything held for data is counted: each window's records (their encoded bytes plus the Python
objects around them), each session's state (a measured upper bound per session) and the replies
being assembled. Sessions and replies get their reserves first (``max_active + max_queued`` live
sessions and as many remembered after they end; ``REPLY_SLOTS`` replies of at most
``MAX_REPLY_BYTES``, each its only copy until sent); windows share the rest,
each taking at most ``[window] max_bytes``. A platform whose window cannot get at least
``MIN_WINDOW_BYTES`` waits until another window closes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from patches.core.results import EncodedRecord

__all__ = [
    "MAX_REPLY_BYTES",
    "MIN_WINDOW_BYTES",
    "RECORD_OVERHEAD",
    "REPLY_SLOTS",
    "SESSION_BYTES",
    "MemoryBudget",
    "MemoryCounters",
    "record_cost",
    "replies_reserve",
    "sessions_reserve",
]

#: The most one session costs, in the registry and in its window (measured by the tests at 10,000
#: sessions; see tests/test_budget.py).
SESSION_BYTES = 1024

#: What a record costs in a window beyond its bytes: a bytes object's header, and its slots in the
#: window's two lists (one per protocol).
RECORD_OVERHEAD = sys.getsizeof(b"") + 16

#: The smallest window worth opening: below it a pass would crawl.
MIN_WINDOW_BYTES = 256 * 1024

#: The most bytes of records one read returns, whatever the batch size (a record larger than this
#: still goes out, alone): a reply's share of the budget.
MAX_REPLY_BYTES = 512 * 1024

#: Replies held at once, whatever the number of request threads (most of which wait on the
#: actors): a reply takes a slot before its body is joined and frees it once the body is sent.
#: Measured at 256 connections: 8 slots held batches of 1,000 to 16 % of the framework's ceiling,
#: 32 reached 73 % (docs/performance.md).
REPLY_SLOTS = 32


def record_cost(record: EncodedRecord) -> int:
    """The bytes a window holds for a record: both encodings, counted once when they are one."""
    legacy, v1 = record
    cost = len(legacy) + RECORD_OVERHEAD
    return cost if v1 is legacy else cost + sys.getsizeof(v1)


def sessions_reserve(max_active: int, max_queued: int) -> int:
    """Bytes reserved for sessions: the live ones and as many remembered after they end."""
    return 2 * (max_active + max_queued) * SESSION_BYTES


def replies_reserve() -> int:
    """Bytes reserved for replies: one body per slot (the HTTP server sends it without a copy)."""
    return REPLY_SLOTS * MAX_REPLY_BYTES


@dataclass(frozen=True, slots=True)
class MemoryCounters:
    """The budget and its use, for status pages, logs and tests."""

    budget: int
    #: Kept for sessions and for replies; windows share the rest.
    reserved: int
    windows_allocated: int
    windows_free: int
    windows_open: int
    windows_waiting: int


class MemoryBudget:
    """Allowances for windows out of what the sessions' reserve leaves of the budget."""

    def __init__(self, budget: int, reserved: int, window_max_bytes: int) -> None:
        if budget < reserved + min(window_max_bytes, MIN_WINDOW_BYTES):
            raise ValueError("the budget cannot hold its reserves and one window")
        self.budget = budget
        self.reserved = reserved
        self.window_max_bytes = window_max_bytes
        self._allocated: dict[object, int] = {}
        self._waiting: set[str] = set()

    @property
    def windows_share(self) -> int:
        return self.budget - self.reserved

    def allocate(self, window: object, platform: str) -> int | None:
        """An allowance for a new window, or None when too little is free (the platform waits)."""
        free = self.windows_share - sum(self._allocated.values())
        allowance = min(self.window_max_bytes, free)
        if allowance < min(self.window_max_bytes, MIN_WINDOW_BYTES):
            self._waiting.add(platform)
            return None
        self._waiting.discard(platform)
        self._allocated[window] = allowance
        return allowance

    def release(self, window: object) -> None:
        self._allocated.pop(window, None)

    def waiting_for_memory(self, platform: str) -> bool:
        return platform in self._waiting

    def counters(self) -> MemoryCounters:
        allocated = sum(self._allocated.values())
        return MemoryCounters(
            budget=self.budget,
            reserved=self.reserved,
            windows_allocated=allocated,
            windows_free=self.windows_share - allocated,
            windows_open=len(self._allocated),
            windows_waiting=len(self._waiting),
        )
