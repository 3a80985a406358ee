"""The configuration's typed shape: one frozen dataclass per TOML section.

Defaults here are the shipped defaults; ``patches/default.toml`` documents them for operators.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from patches.config.schema import ByteSize

__all__ = [
    "Config",
    "LoggingConfig",
    "MemoryConfig",
    "ServerConfig",
    "SessionsConfig",
    "SourceCommon",
    "SourceConfig",
    "StateConfig",
    "WindowConfig",
]


@dataclass(frozen=True)
class ServerConfig:
    """``[server]``: where and how the HTTP server listens."""

    host: str = "127.0.0.1"
    port: int = field(default=9001, metadata={"min": 0, "max": 65535})
    #: waitress worker threads. A poll's thread mostly waits on an actor: with 8, 256 busy
    #: connections collapsed to 113 requests/s; 64 served 3,300 (docs/performance.md).
    threads: int = field(default=64, metadata={"min": 1, "max": 512})
    #: Connections held open at once (waitress ``connection_limit``).
    connection_limit: int = field(default=4096, metadata={"min": 1})
    #: How long a request waits for an actor before it answers 503.
    ask_timeout_seconds: float = field(default=5.0, metadata={"min": 0.01})
    #: The ``Retry-After`` given to scanners told to come back later.
    retry_after_seconds: int = field(default=1, metadata={"min": 1, "max": 3600})


@dataclass(frozen=True)
class SessionsConfig:
    """``[sessions]``: admission and expiry."""

    max_active: int = field(default=64, metadata={"min": 1})
    max_queued: int = field(default=1000, metadata={"min": 0})
    #: A session not heard from for this long is expelled, queued or active.
    timeout_seconds: float = field(default=60.0, metadata={"min": 0.1})


@dataclass(frozen=True)
class WindowConfig:
    """``[window]``: the bounds of each platform's cache window and the size of a batch."""

    max_records: int = field(default=10_000, metadata={"min": 1})
    max_bytes: ByteSize = field(default=ByteSize(16 * 2**20), metadata={"min": 1024})
    batch_size: int = field(default=500, metadata={"min": 1})


@dataclass(frozen=True)
class MemoryConfig:
    """``[memory]``: the most the server holds for data, all windows and sessions together."""

    budget: ByteSize = field(default=ByteSize(64 * 2**20), metadata={"min": 2**20})


@dataclass(frozen=True)
class StateConfig:
    """``[state]``: where the durable state lives, so a restarted server goes on where it stopped.

    A file name ``:memory:`` keeps it in memory (nothing survives a restart; for tests).
    """

    path: Path = Path("patches-state.sqlite3")


@dataclass(frozen=True)
class LoggingConfig:
    """``[logging]``."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


@dataclass(frozen=True)
class SourceCommon:
    """Keys every ``[[sources]]`` table may have, whatever its kind."""

    name: str = field(default="", metadata={"min": 1})
    #: Attempts at reading a failing source before its sessions are told it failed.
    retries: int = field(default=4, metadata={"min": 1, "max": 100})
    #: First pause between attempts; it doubles each time, up to 30 s.
    retry_backoff_seconds: float = field(default=0.5, metadata={"min": 0.0})
    #: A fetch not answered within this (a source that hangs) fails the pass, so its sessions are
    #: told instead of waiting for ever. Leave room for the retries.
    stall_seconds: float = field(default=300.0, metadata={"min": 0.1})


@dataclass(frozen=True)
class SourceConfig:
    """One ``[[sources]]`` table: its kind, a unique name, retries and the kind's options."""

    kind: str
    name: str
    options: Any
    retries: int = 4
    retry_backoff_seconds: float = 0.5
    stall_seconds: float = 300.0


@dataclass(frozen=True)
class Config:
    """The whole configuration, validated."""

    server: ServerConfig = ServerConfig()
    sessions: SessionsConfig = SessionsConfig()
    window: WindowConfig = WindowConfig()
    memory: MemoryConfig = MemoryConfig()
    state: StateConfig = StateConfig()
    logging: LoggingConfig = LoggingConfig()
    sources: tuple[SourceConfig, ...] = ()
    #: Where the configuration came from, for messages.
    origin: str = "<defaults>"

    @property
    def sweep_seconds(self) -> float:
        """How often idle sessions are looked for: a tenth of the timeout, within 50 ms..1 s."""
        return max(0.05, min(1.0, self.sessions.timeout_seconds / 10))
