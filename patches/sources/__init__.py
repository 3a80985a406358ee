"""Source kinds: where vulnerability records come from.

Each kind is a :class:`Source` subclass and a frozen dataclass of its configuration keys; the
configuration's ``[[sources]]`` tables select a kind with ``kind = "..."``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from patches.sources.base import Position, Source, SourceError, SourceRecord, SourceStats
from patches.sources.clair import ClairOptions, ClairSource
from patches.sources.demo import DemoOptions, DemoSource
from patches.sources.jsonl import JsonlOptions, JsonlSource
from patches.sources.osv import OsvOptions, OsvSource

__all__ = [
    "KINDS",
    "Position",
    "Source",
    "SourceError",
    "SourceKind",
    "SourceRecord",
    "SourceStats",
    "build_source",
]


@dataclass(frozen=True)
class SourceKind:
    """A source class and the dataclass that holds its configuration keys."""

    factory: Callable[[str, Any], Source]
    options: type[Any]


KINDS: dict[str, SourceKind] = {
    "clair": SourceKind(ClairSource, ClairOptions),
    "demo": SourceKind(DemoSource, DemoOptions),
    "jsonl": SourceKind(JsonlSource, JsonlOptions),
    "osv": SourceKind(OsvSource, OsvOptions),
}


def build_source(kind: str, name: str, options: Any) -> Source:
    """Instantiate the source of ``kind`` with its validated options."""
    return KINDS[kind].factory(name, options)
