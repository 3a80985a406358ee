"""OSV exports: a zip archive (``<Ecosystem>/all.zip``) or a directory of OSV JSON files.

Entries are read one at a time, in archive (or directory) order, so memory does not grow with the
export's size. One OSV record becomes one Patches record for each platform it affects
(:mod:`patches.sources.osv_records`). A resume position is the offset of the next archive entry, or
the count and path of the last file read from a directory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from patches.model import RecordError
from patches.sources.base import Position, Source, SourceError, SourceRecord
from patches.sources.osv_records import ecosystems_of, osv_to_records
from patches.sources.platforms import osv_platform
from patches.sources.zipstream import ZipFormatError, iter_zip

__all__ = ["OsvOptions", "OsvSource"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OsvOptions:
    """Configuration keys of a ``kind = "osv"`` source."""

    #: A zip export or a directory of ``*.json`` OSV records.
    path: Path
    #: The platforms to serve. When left out: every platform in the export (found by a scan).
    platforms: tuple[str, ...] = ()
    #: Platform names for ecosystems, overriding the rules, e.g. { "Ubuntu:Pro:18.04:LTS" = "..." }.
    ecosystems: dict[str, str] = field(default_factory=dict)


class _Entry:
    __slots__ = ("data", "label", "resume")

    def __init__(self, label: str, data: bytes, resume: Position) -> None:
        self.label = label
        self.data = data
        self.resume = resume


class OsvSource(Source):
    """OSV records from an export, one Patches record per (record, platform)."""

    kind = "osv"

    def __init__(self, name: str, options: OsvOptions) -> None:
        super().__init__(name)
        self.path = options.path
        self._overrides = options.ecosystems
        self._declared = frozenset(options.platforms)
        self._platforms: frozenset[str] | None = None

    def platforms(self) -> frozenset[str]:
        if self._platforms is None:
            found: set[str] = set()
            for entry in self._entries(None):
                try:
                    record = orjson.loads(entry.data)
                except orjson.JSONDecodeError:
                    continue  # reported when a platform's records are read
                if isinstance(record, dict):
                    found.update(osv_platform(e, self._overrides) for e in ecosystems_of(record))
            self._platforms = frozenset(found & self._declared if self._declared else found)
        return self._platforms

    def records(self, platform: str, after: Position | None = None) -> Iterator[SourceRecord]:
        for entry in self._entries(after):
            try:
                converted = osv_to_records(orjson.loads(entry.data), self._overrides)
            except (orjson.JSONDecodeError, RecordError) as e:
                self.stats.count_malformed()
                log.warning("%s: malformed OSV record skipped: %s", entry.label, e)
                continue
            record = converted.get(platform)
            if record is not None:
                self.stats.count_record()
                yield SourceRecord(record, entry.resume)

    def _entries(self, after: Position | None) -> Iterator[_Entry]:
        try:
            if self.path.is_dir():
                yield from self._directory_entries(after)
            else:
                yield from self._zip_entries(after)
        except OSError as e:
            raise SourceError(f"cannot read {self.path}: {e.strerror or e}") from e

    def _zip_entries(self, after: Position | None) -> Iterator[_Entry]:
        if after is not None and not (isinstance(after, int) and after >= 0):
            raise SourceError(f"not a resume position of an OSV archive: {after!r}")
        try:
            for entry in iter_zip(self.path, after or 0):
                if entry.name.endswith(".json"):
                    yield _Entry(f"{self.path}!{entry.name}", entry.data, entry.next_offset)
        except ZipFormatError as e:
            raise SourceError(f"{self.path}: {e}") from e

    def _directory_entries(self, after: Position | None) -> Iterator[_Entry]:
        """Files in directory order (not sorted: sorting would hold every name at once)."""
        skip, last = 0, ""
        if after is not None:
            if not (isinstance(after, tuple | list) and len(after) == 2):
                raise SourceError(f"not a resume position of an OSV directory: {after!r}")
            skip, last = int(after[0]), str(after[1])
        for count, path in enumerate(_walk(self.path), 1):
            relative = path.relative_to(self.path).as_posix()
            if count < skip:
                continue
            if count == skip:
                if relative != last:
                    raise SourceError(
                        f"{self.path} changed since position {after!r}: cannot resume there"
                    )
                continue
            yield _Entry(str(path), path.read_bytes(), (count, relative))


def _walk(top: Path) -> Iterator[Path]:
    with os.scandir(top) as entries:
        for entry in entries:
            if entry.is_dir():
                yield from _walk(Path(entry.path))
            elif entry.name.endswith(".json") and entry.is_file():
                yield Path(entry.path)
