"""Helpers shared by the tests: a manual clock, data files, configurations, an HTTP scanner."""

from __future__ import annotations

import os
import textwrap
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from patches.actors import PatchesSystem
from patches.config import Config, load_config
from patches.core.registry import Join
from patches.core.results import ReadResult, ReadState
from patches.core.window import Window
from patches.model import Vulnerability
from patches.sources.demo import DemoOptions, DemoSource


class ManualClock:
    """A clock that moves only when told, so expiry is tested without sleeping."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def demo_records(platform: str, count: int, seed: int = 7) -> list[Vulnerability]:
    """Realistic records, the same on every run."""
    source = DemoSource("fixture", DemoOptions(platforms=(platform,), records=count, seed=seed))
    return [item.record for item in source.records(platform)]


def write_jsonl(path: Path, records: Iterable[Vulnerability]) -> Path:
    """A jsonl source file of ``records``, one wire record per line."""
    with path.open("wb") as f:
        for record in records:
            f.write(record.encode() + b"\n")
    return path


def interleaved(platforms: Iterable[str], per_platform: int) -> list[Vulnerability]:
    """Records of several platforms, interleaved as they would be in a mixed feed."""
    lists = [demo_records(p, per_platform) for p in platforms]
    return [r for group in zip(*lists, strict=True) for r in group]


def config_from(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Config:
    """A validated configuration from TOML text written to ``tmp_path/patches.toml``."""
    path = tmp_path / "patches.toml"
    path.write_text(textwrap.dedent(text))
    return load_config(path, env=env or {})


def jsonl_config(tmp_path: Path, records: Iterable[Vulnerability], sections: str) -> Config:
    """A configuration of ``sections`` (TOML) serving ``records`` from a jsonl file."""
    write_jsonl(tmp_path / "feed.jsonl", records)
    jsonl = '\n[[sources]]\nkind = "jsonl"\npath = "feed.jsonl"\n'
    return config_from(tmp_path, textwrap.dedent(sections) + jsonl)


def names(payload_records: Iterable[bytes | dict[str, object]]) -> list[str]:
    """The ``name`` of each record, whether given as wire bytes or decoded objects."""
    out = []
    for r in payload_records:
        obj = orjson.loads(r) if isinstance(r, bytes) else r
        out.append(str(obj["name"]))
    return out


def split_payload(payload: bytes) -> list[dict[str, object]]:
    """The records of a batch payload (records joined by commas)."""
    result: list[dict[str, object]] = orjson.loads(b"[" + payload + b"]")
    return result


class LocalWindowPool:
    """A :class:`~patches.core.registry.WindowPool` over plain :class:`Window` objects.

    The registry's logic is tested against real windows, driven in the test's thread.
    """

    def __init__(self, make_window: Callable[[str], Window], clock: ManualClock) -> None:
        self._make = make_window
        self._clock = clock
        self.windows: dict[str, Window] = {}
        self.opened: list[str] = []
        self.closed: list[str] = []
        #: How many windows the memory allows at once.
        self.memory_for_windows = 1000
        self.short_of_memory: set[str] = set()

    def join(self, platform: str, session_id: str) -> Join:
        window = self.windows.get(platform)
        if window is None:
            if len(self.windows) >= self.memory_for_windows:
                self.short_of_memory.add(platform)
                return Join.NO_MEMORY
            self.short_of_memory.discard(platform)
            window = self.windows[platform] = self._make(platform)
            self.opened.append(platform)
        return Join.JOINED if window.join(session_id, self._clock()) else Join.PASS_MOVED_ON

    def waiting_for_memory(self, platform: str) -> bool:
        return platform in self.short_of_memory

    def pass_of(self, platform: str) -> int | None:
        return self.opened.count(platform) if platform in self.windows else None

    def release(self, platform: str, session_id: str) -> None:
        window = self.windows.get(platform)
        if window is not None:
            window.leave(session_id)

    def close(self, platform: str) -> None:
        self.windows.pop(platform, None)
        self.closed.append(platform)

    def idle_readers(self, cutoff: float) -> list[str]:
        return [sid for w in self.windows.values() for sid in w.idle_readers(cutoff)]

    def touch(self, platform: str, session_id: str, now: float) -> None:
        window = self.windows.get(platform)
        if window is not None:
            window.touch(session_id, now)


def drain(system: PatchesSystem, session_id: str, *, v1: bool, limit: float = 30.0) -> DrainResult:
    """Read a session to its end through the facade, as a scanner would; retry while waiting."""
    deadline = time.monotonic() + limit
    got: list[str] = []
    cursor = 0
    waits = 0
    pause = threading.Event()
    while time.monotonic() < deadline:
        result = system.read(session_id, cursor if v1 else None)
        if result.state is ReadState.READY:
            got += names(split_payload(result.payload))
            cursor = result.next_cursor
        elif result.state in (ReadState.DONE, ReadState.FAILED):
            return DrainResult(got, result)
        else:
            waits += 1
            pause.wait(0.002)
    raise AssertionError(f"session {session_id} did not finish within {limit} s ({len(got)} read)")


@dataclass
class DrainResult:
    names: list[str]
    last: ReadResult


def drain_all(
    system: PatchesSystem, session_ids: list[str], *, limit: float = 60.0
) -> list[DrainResult]:
    """Drain sessions concurrently, as scanners do (alternating protocols)."""
    with ThreadPoolExecutor(len(session_ids)) as pool:
        futures = [
            pool.submit(drain, system, sid, v1=i % 2 == 0, limit=limit)
            for i, sid in enumerate(session_ids)
        ]
        return [f.result() for f in futures]


def shared_data(relative: str) -> Path:
    """A file of the shared real data set, read in place; skips the test if it is absent.

    Looked for in ``$SHARED_DATA``, then in ``../shared/data`` beside the repository, then in
    ``/work/shared/data`` (where the development machines keep it, for clones made elsewhere).
    """
    candidates = [Path(os.environ["SHARED_DATA"])] if os.environ.get("SHARED_DATA") else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    candidates.append(Path("/work/shared/data"))
    for base in candidates:
        if (base / relative).exists():
            return base / relative
    pytest.skip(f"the real data set {relative} is not here (set SHARED_DATA to its folder)")
