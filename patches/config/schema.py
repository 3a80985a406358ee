"""Build frozen dataclasses from TOML tables, collecting every problem instead of stopping at one.

A field's type says what a key accepts; ``field(metadata=...)`` adds bounds (``min``, ``max``) and a
one-line ``help``. Unknown keys are errors, with a "did you mean" when a known key is close.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NewType, TypeVar

__all__ = ["ByteSize", "Problems", "build", "parse_size"]

#: An amount of bytes: an integer, or a string with a unit ("64MiB", "512 KB").
ByteSize = NewType("ByteSize", int)

T = TypeVar("T")

_UNITS = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9,
    "kib": 2**10, "mib": 2**20, "gib": 2**30,
    "k": 2**10, "m": 2**20, "g": 2**30,
}  # fmt: skip
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


class Problems:
    """Problems found so far, each already naming where it was found."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def __bool__(self) -> bool:
        return bool(self.items)


def parse_size(value: object) -> int:
    """Bytes from an integer or a size with a unit (``"64MiB"``, ``"1.5 GB"``).

    Raises:
        ValueError: not a size.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and (m := _SIZE.match(value)):
        unit = _UNITS.get(m.group(2).lower())
        if unit is not None:
            return int(float(m.group(1)) * unit)
    raise ValueError(f'expected a size such as 65536 or "64MiB", got {value!r}')


def build(
    cls: type[T],
    table: Mapping[str, Any],
    where: Callable[[str], str],
    problems: Problems,
    *,
    base_dir: Path,
) -> T | None:
    """An instance of dataclass ``cls`` from ``table``; ``None`` (with problems added) if invalid.

    Args:
        where: names a key in messages, e.g. ``"conf/patches.toml: [window] max_records"``.
        base_dir: relative paths are resolved against it (the configuration file's folder).
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    before = len(problems.items)
    for key in table:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.add(where(str(key)), f"unknown key{hint}")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                problems.add(where(name), "missing required key")
            continue
        try:
            values[name] = _convert(table[name], hints[name], f.metadata, base_dir)
        except ValueError as e:
            problems.add(where(name), str(e))
    if len(problems.items) > before:
        return None
    return cls(**values)


def _convert(value: Any, kind: Any, meta: Mapping[str, Any], base_dir: Path) -> Any:
    if kind is ByteSize:
        result: Any = parse_size(value)
    elif kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        result = value
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {value!r}")
        result = value
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        result = float(value)
    elif kind is str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        result = value
    elif kind is Path:
        if not isinstance(value, str) or not value:
            raise ValueError(f"expected a path, got {value!r}")
        path = Path(value).expanduser()
        result = path if path.is_absolute() else base_dir / path
    elif typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {value!r}")
        result = tuple(_convert(v, item, {}, base_dir) for v in value)
    elif typing.get_origin(kind) is dict:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()
        ):
            raise ValueError(f'expected a table of names, such as {{ "a" = "b" }}, got {value!r}')
        result = dict(value)
    elif typing.get_origin(kind) is typing.Literal:
        choices = typing.get_args(kind)
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(map(repr, choices))}, got {value!r}")
        result = value
    elif isinstance(kind, types.UnionType) and type(None) in kind.__args__:
        (inner,) = (a for a in kind.__args__ if a is not type(None))
        result = _convert(value, inner, meta, base_dir)
    else:  # pragma: no cover - a schema bug, not a user error
        raise TypeError(f"unsupported configuration type {kind!r}")
    _check_bounds(result, meta)
    return result


def _check_bounds(value: Any, meta: Mapping[str, Any]) -> None:
    low, high = meta.get("min"), meta.get("max")
    size = len(value) if isinstance(value, tuple | str) else value
    if low is not None and size < low:
        what = "length" if isinstance(value, tuple | str) else "value"
        raise ValueError(f"{what} must be at least {low}, got {size}")
    if high is not None and size > high:
        raise ValueError(f"must be at most {high}, got {size}")
