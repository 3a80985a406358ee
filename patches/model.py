"""The vulnerability record, the one thing every layer of Patches speaks.

A record is validated and encoded to its wire JSON once, when it enters the server; from then on the
server moves those bytes around and never encodes the record again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson

__all__ = ["FixedIn", "RecordError", "Severity", "Vulnerability"]


class RecordError(ValueError):
    """A record does not have the wire shape; the message says which field and why."""


class Severity(IntEnum):
    """Severity on the scanners' 0..6 scale, lowest to highest."""

    UNKNOWN = 0
    NEGLIGIBLE = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    URGENT = 5
    CRITICAL = 6


@dataclass(frozen=True, slots=True)
class FixedIn:
    """A package of the platform and the version that fixes it.

    ``version`` is ``None`` when no fixed version exists yet: every version of the package is
    affected. It is sent as JSON ``null``, never as a string a scanner could compare.
    """

    name: str
    version: str | None


@dataclass(frozen=True, slots=True)
class Vulnerability:
    """One vulnerability as it affects one platform."""

    name: str
    affected_platform: str
    details_href: str
    severity: Severity
    fixed_in: tuple[FixedIn, ...] = ()
    #: Other identifiers of the same vulnerability (a CVE for a GHSA...); sent by the v1 API only.
    aliases: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        """The record as the original protocol spells it (camelCase keys, in this order)."""
        return {
            "name": self.name,
            "affectedPlatform": self.affected_platform,
            "detailsHref": self.details_href,
            "severity": int(self.severity),
            "fixedIn": [{"name": f.name, "version": f.version} for f in self.fixed_in],
        }

    def to_wire_v1(self) -> dict[str, Any]:
        """The record as the v1 API spells it: the original shape, plus ``aliases`` if any."""
        wire = self.to_wire()
        if self.aliases:
            wire["aliases"] = list(self.aliases)
        return wire

    def encode(self) -> bytes:
        """The original protocol's JSON of this record: what its replies are built from."""
        return _compact(orjson.dumps(self.to_wire()))

    def encode_both(self) -> tuple[bytes, bytes]:
        """The JSON for each protocol; the same object twice when they do not differ."""
        legacy = self.encode()
        return legacy, (_compact(orjson.dumps(self.to_wire_v1())) if self.aliases else legacy)

    @classmethod
    def from_wire(cls, obj: object) -> Vulnerability:
        """Validate a decoded wire record and build it.

        Raises:
            RecordError: a field is missing, unknown or of the wrong type.
        """
        if not isinstance(obj, Mapping):
            raise RecordError(f"a record is a JSON object, got {type(obj).__name__}")
        unknown = set(obj) - _WIRE_KEYS
        if unknown:
            raise RecordError(f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
        name = _text(obj, "name")
        platform = _text(obj, "affectedPlatform")
        href = obj.get("detailsHref", "")
        if not isinstance(href, str):
            raise RecordError("detailsHref must be a string")
        severity = obj.get("severity", 0)
        if isinstance(severity, bool) or not isinstance(severity, int) or not 0 <= severity <= 6:
            raise RecordError(f"severity must be an integer from 0 to 6, got {severity!r}")
        fixes = obj.get("fixedIn")
        fixes = [] if fixes is None else fixes
        if not isinstance(fixes, list):
            raise RecordError("fixedIn must be a list")
        fixed_in = []
        for i, fix in enumerate(fixes):
            if not isinstance(fix, Mapping):
                raise RecordError(f"fixedIn[{i}] must be an object")
            if "version" not in fix:
                raise RecordError(f"fixedIn[{i}].version is required (null when no fix exists)")
            version = None if fix["version"] is None else _text(fix, "version", f"fixedIn[{i}].")
            fixed_in.append(FixedIn(_text(fix, "name", f"fixedIn[{i}]."), version))
        aliases = obj.get("aliases")
        aliases = [] if aliases is None else aliases
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
            raise RecordError("aliases must be a list of non-empty strings")
        return cls(name, platform, href, Severity(severity), tuple(fixed_in), tuple(aliases))

    @classmethod
    def decode(cls, data: bytes | str) -> Vulnerability:
        """Parse one wire record from JSON text.

        Raises:
            RecordError: the text is not JSON or not a valid record.
        """
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise RecordError(f"not valid JSON: {e}") from None
        return cls.from_wire(obj)


def _compact(encoded: bytes) -> bytes:
    """An exact-size copy of orjson's output, for bytes that are kept.

    orjson writes into a 4 KiB buffer and shrinks it in place: the allocation keeps its place in
    the heap, so a kept record pins about 4 KiB of memory however short it is (measured: a record
    of 206 bytes held 4,120 bytes of RSS, its copy 250). Windows keep records: copy them.
    """
    return memoryview(encoded).tobytes()


_WIRE_KEYS = frozenset(
    {"name", "affectedPlatform", "detailsHref", "severity", "fixedIn", "aliases"}
)


def _text(obj: Mapping[str, Any], key: str, where: str = "") -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise RecordError(f"{where}{key} must be a non-empty string")
    return value
