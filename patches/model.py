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
    """A package of the platform and the version that fixes it."""

    name: str
    version: str


@dataclass(frozen=True, slots=True)
class Vulnerability:
    """One vulnerability as it affects one platform."""

    name: str
    affected_platform: str
    details_href: str
    severity: Severity
    fixed_in: tuple[FixedIn, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        """The record as the scanners' protocol spells it (camelCase keys, in this order)."""
        return {
            "name": self.name,
            "affectedPlatform": self.affected_platform,
            "detailsHref": self.details_href,
            "severity": int(self.severity),
            "fixedIn": [{"name": f.name, "version": f.version} for f in self.fixed_in],
        }

    def encode(self) -> bytes:
        """The wire JSON of this record: what every reply that carries it is built from."""
        return orjson.dumps(self.to_wire())

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
            fixed_in.append(
                FixedIn(
                    _text(fix, "name", f"fixedIn[{i}]."), _text(fix, "version", f"fixedIn[{i}].")
                )
            )
        return cls(name, platform, href, Severity(severity), tuple(fixed_in))

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


_WIRE_KEYS = frozenset({"name", "affectedPlatform", "detailsHref", "severity", "fixedIn"})


def _text(obj: Mapping[str, Any], key: str, where: str = "") -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise RecordError(f"{where}{key} must be a non-empty string")
    return value
