"""Load the configuration: embedded defaults, the operator's file, then ``PATCHES_*`` variables.

Every problem is collected and reported at once, each naming the file (or variable) and the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from patches.config.model import (
    Config,
    LoggingConfig,
    MemoryConfig,
    ServerConfig,
    SessionsConfig,
    SourceCommon,
    SourceConfig,
    StateConfig,
    WindowConfig,
)
from patches.config.schema import Problems, build
from patches.core.budget import MIN_WINDOW_BYTES, replies_reserve, sessions_reserve
from patches.sources import KINDS

__all__ = ["ConfigError", "default_config_text", "load_config"]

ENV_PREFIX = "PATCHES_"
_SECTIONS: dict[str, type[Any]] = {
    "server": ServerConfig,
    "sessions": SessionsConfig,
    "window": WindowConfig,
    "memory": MemoryConfig,
    "state": StateConfig,
    "logging": LoggingConfig,
}


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists every reason, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


def default_config_text() -> str:
    """The embedded default configuration, as shipped in the package."""
    return resources.files("patches").joinpath("default.toml").read_text(encoding="utf-8")


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """The validated configuration.

    Args:
        path: the operator's TOML file; ``None`` serves the embedded defaults alone. Its sections
            override the defaults key by key; its ``[[sources]]``, if any, replace the defaults'.
        env: variables to read ``PATCHES_<SECTION>_<KEY>`` overrides from (``os.environ`` if None).

    Raises:
        ConfigError: with every problem found.
    """
    problems = Problems()
    merged = _parse("<embedded default.toml>", default_config_text(), problems)
    origins: dict[tuple[str, str], str] = {}
    origin, base_dir = "<embedded default.toml>", Path.cwd()
    if path is not None:
        path = Path(path)
        origin, base_dir = str(path), path.resolve().parent
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError([f"{path}: cannot read the configuration: {e}"]) from None
        _merge(merged, _parse(origin, text, problems))
    _apply_env(merged, os.environ if env is None else env, origins, problems)

    def where(section: str) -> Callable[[str], str]:
        return lambda key: origins.get((section, key), f"{origin}: [{section}] {key}")

    for section in merged:
        if section not in _SECTIONS and section != "sources":
            close = difflib.get_close_matches(section, [*_SECTIONS, "sources"], n=1)
            hint = f" (did you mean [{close[0]}]?)" if close else ""
            problems.add(f"{origin}: [{section}]", f"unknown section{hint}")
    sections: dict[str, Any] = {
        name: build(
            cls, _table(merged, name, origin, problems), where(name), problems, base_dir=base_dir
        )
        for name, cls in _SECTIONS.items()
    }
    sources = _sources(merged.get("sources"), origin, problems, base_dir)
    if problems:
        raise ConfigError(problems.items)
    config = Config(**sections, sources=sources, origin=origin)
    _cross_check(config, problems)
    if problems:
        raise ConfigError(problems.items)
    return config


def _parse(origin: str, text: str, problems: Problems) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        problems.add(origin, f"not valid TOML: {e}")
        return {}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> None:
    for section, value in override.items():
        if section == "sources" or not isinstance(value, dict) or section not in base:
            base[section] = value
        else:
            base[section] = {**base[section], **value}


def _apply_env(
    merged: dict[str, Any],
    env: Mapping[str, str],
    origins: dict[tuple[str, str], str],
    problems: Problems,
) -> None:
    for variable, raw in env.items():
        if not variable.startswith(ENV_PREFIX):
            continue
        name = variable[len(ENV_PREFIX) :].lower()
        section = next((s for s in _SECTIONS if name.startswith(s + "_")), None)
        if section is None:
            problems.add(
                f"environment variable {variable}",
                f"names no configuration key; use {ENV_PREFIX}<SECTION>_<KEY> "
                f"with a section among {', '.join(_SECTIONS)}",
            )
            continue
        key = name[len(section) + 1 :]
        merged.setdefault(section, {})[key] = _env_value(raw)
        origins[(section, key)] = f"environment variable {variable} ([{section}] {key})"


def _env_value(raw: str) -> Any:
    """A variable's value read as a TOML value (``5``, ``2.5``, ``true``), else as a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _table(merged: dict[str, Any], name: str, origin: str, problems: Problems) -> dict[str, Any]:
    table = merged.get(name, {})
    if not isinstance(table, dict):
        problems.add(f"{origin}: {name}", "must be a table ([section])")
        return {}
    return table


def _sources(
    tables: Any, origin: str, problems: Problems, base_dir: Path
) -> tuple[SourceConfig, ...]:
    if not isinstance(tables, list):
        problems.add(f"{origin}: sources", "must be an array of tables, written [[sources]]")
        return ()
    if not tables:
        problems.add(f"{origin}: [[sources]]", "at least one source is required")
        return ()
    result = []
    seen: set[str] = set()
    for number, table in enumerate(tables, 1):
        where = f"{origin}: [[sources]] #{number}"
        if not isinstance(table, dict):
            problems.add(where, "must be a table")
            continue
        options = dict(table)
        kind = options.pop("kind", None)
        if kind not in KINDS:
            problems.add(
                f"{where} kind", f"expected one of {', '.join(map(repr, KINDS))}, got {kind!r}"
            )
            continue
        common_keys = {f.name for f in dataclasses.fields(SourceCommon)}
        common_table = {k: options.pop(k) for k in list(options) if k in common_keys}
        common_table.setdefault("name", f"{kind}-{number}")
        key_where = _namer(f"{where} ({kind})")
        common = build(SourceCommon, common_table, key_where, problems, base_dir=base_dir)
        built = build(KINDS[kind].options, options, key_where, problems, base_dir=base_dir)
        if common is None or built is None:
            continue
        if common.name in seen:
            problems.add(key_where("name"), f"{common.name!r} is the name of another source")
        seen.add(common.name)
        result.append(
            SourceConfig(
                kind,
                common.name,
                built,
                common.retries,
                common.retry_backoff_seconds,
                common.stall_seconds,
            )
        )
    return tuple(result)


def _namer(prefix: str) -> Callable[[str], str]:
    return lambda key: f"{prefix} {key}"


def _cross_check(config: Config, problems: Problems) -> None:
    window, server, sessions, origin = config.window, config.server, config.sessions, config.origin
    for_sessions = sessions_reserve(sessions.max_active, sessions.max_queued)
    for_replies = replies_reserve()
    smallest = min(window.max_bytes, MIN_WINDOW_BYTES)
    if config.memory.budget < for_sessions + for_replies + smallest:
        problems.add(
            f"{origin}: [memory] budget",
            f"{config.memory.budget} bytes cannot hold the sessions' reserve ({for_sessions} bytes "
            f"for max_active + max_queued = {sessions.max_active + sessions.max_queued}), the "
            f"replies' ({for_replies} bytes) and one window of "
            f"{smallest} bytes; raise it to at least {for_sessions + for_replies + smallest} "
            "or admit fewer sessions",
        )
    if window.batch_size > window.max_records:
        problems.add(
            f"{origin}: [window] batch_size",
            f"must not exceed max_records ({window.max_records}), got {window.batch_size}",
        )
    if server.retry_after_seconds >= sessions.timeout_seconds:
        problems.add(
            f"{origin}: [server] retry_after_seconds",
            f"must be shorter than [sessions] timeout_seconds ({sessions.timeout_seconds:g}), "
            "or scanners that obey it would expire while waiting",
        )
