"""The durable state: what a restarted server needs to go on where it stopped.

An embedded SQLite database in WAL mode holds the live sessions (platform, state, place in the
queue, pass), each pass's checkpoints (the source position reached at a stream position) and each
active session's acknowledged cursor. Every write is its own transaction; with WAL and
``synchronous=NORMAL`` a process killed at any moment (``kill -9``) loses no committed write (a
power cut may lose the last ones, which is safe: see below).

What may be lost is only ever recent: an acknowledgement written a sweep late, a checkpoint of a
delivery. Both are safe to lose: a v1 scanner sends its cursor again (the server accepts any
cursor at or after the last one it recorded), and an older checkpoint only means re-reading a
little more of the source.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patches.core.results import Checkpoint
from patches.sources.base import Position

__all__ = ["SavedSession", "Snapshot", "StateStore", "open_store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    platform TEXT NOT NULL,
    state TEXT NOT NULL,
    ticket INTEGER NOT NULL,
    pass_id INTEGER,
    acked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS passes (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    pass_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    source_index INTEGER NOT NULL,
    resume TEXT,
    PRIMARY KEY (pass_id, position)
);
"""


@dataclass(frozen=True, slots=True)
class SavedSession:
    id: str
    platform: str
    state: str
    ticket: int
    pass_id: int | None
    acked: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    sessions: tuple[SavedSession, ...]
    passes: dict[int, str]
    checkpoints: dict[int, tuple[Checkpoint, ...]]


def open_store(path: Path) -> StateStore:
    """The store at ``path``; a file named ``:memory:`` keeps the state in memory only."""
    return StateStore(":memory:" if path.name == ":memory:" else path)


class StateStore:
    """The database; safe to use from several actors' threads (one lock, short transactions)."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    # -- sessions (the registry) -----------------------------------------------------------------

    def save_session(
        self, session_id: str, platform: str, state: str, ticket: int, pass_id: int | None
    ) -> None:
        self._write(
            "INSERT INTO sessions (id, platform, state, ticket, pass_id) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET state = excluded.state, pass_id = excluded.pass_id",
            (session_id, platform, state, ticket, pass_id),
        )

    def forget_session(self, session_id: str) -> None:
        self._write("DELETE FROM sessions WHERE id = ?", (session_id,))

    # -- passes (the windows) --------------------------------------------------------------------

    def open_pass(self, pass_id: int, platform: str) -> None:
        self._write(
            "INSERT OR REPLACE INTO passes (id, platform) VALUES (?, ?)", (pass_id, platform)
        )

    def close_pass(self, pass_id: int) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM checkpoints WHERE pass_id = ?", (pass_id,))
            self._db.execute("DELETE FROM passes WHERE id = ?", (pass_id,))
            self._db.execute("COMMIT")

    def save_checkpoint(self, pass_id: int, checkpoint: Checkpoint) -> None:
        self._write(
            "INSERT OR REPLACE INTO checkpoints (pass_id, position, source_index, resume) "
            "VALUES (?, ?, ?, ?)",
            (pass_id, checkpoint.position, checkpoint.source_index, _dump(checkpoint.resume)),
        )

    def forget_checkpoints_below(self, pass_id: int, position: int) -> None:
        """Checkpoints below the last one at or under ``position`` will never be needed again."""
        self._write(
            "DELETE FROM checkpoints WHERE pass_id = ? AND position < ("
            "SELECT MAX(position) FROM checkpoints WHERE pass_id = ? AND position <= ?)",
            (pass_id, pass_id, position),
        )

    def save_acks(self, acks: Iterable[tuple[str, int]]) -> None:
        rows = list(acks)
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "UPDATE sessions SET acked = ? WHERE id = ?", [(a, s) for s, a in rows]
            )
            self._db.execute("COMMIT")

    # -- restart ---------------------------------------------------------------------------------

    def load(self) -> Snapshot:
        with self._lock:
            sessions = tuple(
                SavedSession(*row)
                for row in self._db.execute(
                    "SELECT id, platform, state, ticket, pass_id, acked FROM sessions "
                    "ORDER BY ticket"
                )
            )
            passes = dict(self._db.execute("SELECT id, platform FROM passes"))
            checkpoints: dict[int, list[Checkpoint]] = {}
            for pass_id, position, source_index, resume in self._db.execute(
                "SELECT pass_id, position, source_index, resume FROM checkpoints "
                "ORDER BY pass_id, position"
            ):
                checkpoints.setdefault(pass_id, []).append(
                    Checkpoint(position, source_index, _load(resume))
                )
        return Snapshot(sessions, passes, {k: tuple(v) for k, v in checkpoints.items()})

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, parameters: tuple[Any, ...]) -> None:
        with self._lock:
            self._db.execute(sql, parameters)


def _dump(position: Position | None) -> str | None:
    return None if position is None else json.dumps(position)


def _load(text: str | None) -> Position | None:
    if text is None:
        return None
    value = json.loads(text)
    return tuple(value) if isinstance(value, list) else value
