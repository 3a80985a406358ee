"""What a source of vulnerability records must and may implement.

A source is a plugin: the server asks it which platforms it serves and for an iterator over one
platform's records. Every record comes with a *resume position*: handing that position back to
:meth:`Source.records` starts a new iterator at the record that followed, which is how a window
refills after a failure and how a restarted server resumes without reading again what it already
served.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import NamedTuple, TypeAlias

from patches.model import Vulnerability

__all__ = ["Position", "Source", "SourceError", "SourceRecord", "SourceStats"]

#: An opaque resume position. Sources choose its content; it must be JSON-encodable (ints, strings
#: and tuples of them) so that it can be stored and handed back after a restart.
Position: TypeAlias = int | str | tuple[int | str, ...]


class SourceRecord(NamedTuple):
    """A record and the position to resume from to get the records after it."""

    record: Vulnerability
    resume: Position


class SourceError(Exception):
    """The source cannot deliver records right now (I/O, upstream or format failure).

    Readers retry a source that raises it, resuming from the last position they received, and
    report it to the platform's sessions once the retries are spent.
    """


class SourceStats:
    """Counters a source keeps about what it read; safe to read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records = 0
        self.malformed = 0

    def count_record(self) -> None:
        with self._lock:
            self.records += 1

    def count_malformed(self) -> None:
        with self._lock:
            self.malformed += 1


class Source:
    """Base class of every source kind.

    Subclasses MUST implement :meth:`platforms` and :meth:`records`, and MAY implement
    :meth:`close`. A source is used from one thread at a time (its reader's), but several iterators
    over different platforms may be open at once.
    """

    #: The ``kind`` that selects this class in the configuration.
    kind: str = ""

    def __init__(self, name: str) -> None:
        self.name = name
        self.stats = SourceStats()

    def platforms(self) -> frozenset[str]:
        """The platforms this source holds records for (MUST).

        Raises:
            SourceError: the source cannot be read to find out.
        """
        raise NotImplementedError

    def records(self, platform: str, after: Position | None = None) -> Iterator[SourceRecord]:
        """Iterate over the records of ``platform``, in the source's order (MUST).

        Args:
            platform: one of :meth:`platforms`.
            after: a ``resume`` position this source handed out earlier, or ``None`` to start from
                the first record.

        Raises:
            SourceError: while iterating, when the source fails; the caller may resume from the
                last position it received.
        """
        raise NotImplementedError

    @property
    def requests(self) -> int:
        """Requests made upstream, for sources that make any (MAY); 0 otherwise."""
        return 0

    def close(self) -> None:
        """Release what the source holds: files, connections (MAY)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
