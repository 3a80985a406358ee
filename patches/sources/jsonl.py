"""A file of records in the wire format, one JSON object per line.

The file is read line by line, never whole, so its size does not matter. A record's
``affectedPlatform`` says which platform it belongs to; one file may hold several platforms.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from patches.model import RecordError, Vulnerability
from patches.sources.base import Position, Source, SourceError, SourceRecord

__all__ = ["JsonlOptions", "JsonlSource"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JsonlOptions:
    """Configuration keys of a ``kind = "jsonl"`` source."""

    path: Path
    #: The platforms in the file. When left out, the file is scanned once at start-up to find them.
    platforms: tuple[str, ...] = ()


class JsonlSource(Source):
    """Records from a JSON-lines file. Resume positions are ``(byte offset, line number)``."""

    kind = "jsonl"

    def __init__(self, name: str, options: JsonlOptions) -> None:
        super().__init__(name)
        self.path = options.path
        self._platforms = frozenset(options.platforms) or None

    def platforms(self) -> frozenset[str]:
        if self._platforms is None:
            found = set()
            for _, _, line in self._lines(0, 0):
                try:
                    obj = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # reported when a platform's records are read
                if isinstance(obj, dict) and isinstance(obj.get("affectedPlatform"), str):
                    found.add(obj["affectedPlatform"])
            self._platforms = frozenset(found)
        return self._platforms

    def records(self, platform: str, after: Position | None = None) -> Iterator[SourceRecord]:
        offset, line_no = (0, 0) if after is None else _parse_position(after)
        for end, number, line in self._lines(offset, line_no):
            try:
                record = Vulnerability.decode(line)
            except RecordError as e:
                self.stats.count_malformed()
                log.warning("%s:%d: malformed record skipped: %s", self.path, number, e)
                continue
            if record.affected_platform == platform:
                self.stats.count_record()
                yield SourceRecord(record, (end, number))

    def _lines(self, offset: int, line_no: int) -> Iterable[tuple[int, int, bytes]]:
        """Non-blank lines from ``offset``, with the offset after each and its line number."""
        try:
            with self.path.open("rb") as f:
                f.seek(offset)
                for raw in f:
                    offset += len(raw)
                    line_no += 1
                    line = raw.strip()
                    if line:
                        yield offset, line_no, line
        except OSError as e:
            raise SourceError(f"cannot read {self.path}: {e.strerror or e}") from e


def _parse_position(position: Position) -> tuple[int, int]:
    if (
        isinstance(position, tuple | list)
        and len(position) == 2
        and all(isinstance(p, int) and p >= 0 for p in position)
    ):
        return int(position[0]), int(position[1])
    raise SourceError(f"not a jsonl resume position: {position!r}")
