"""Helpers shared by the benchmarks: data locations, child processes, medians, tables."""

from __future__ import annotations

import http.client
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import orjson

REPO = Path(__file__).resolve().parent.parent


def shared_data(relative: str) -> Path | None:
    """A file of the shared real data set, or None (the benchmark says so and skips that row)."""
    candidates = [Path(os.environ["SHARED_DATA"])] if os.environ.get("SHARED_DATA") else []
    candidates += [REPO.parent / "shared" / "data", Path("/work/shared/data")]
    return next((base / relative for base in candidates if (base / relative).exists()), None)


def jsonl_tail(source: Path, platform: str) -> str:
    """The end of every benchmark's configuration: no state kept, INFO logs, one jsonl source."""
    return f"""[state]
path = ":memory:"
[logging]
level = "INFO"
[[sources]]
kind = "jsonl"
path = "{source}"
platforms = ["{platform}"]
"""


@contextmanager
def child(args: Sequence[str], *, ready: Callable[[str], str | None]) -> Iterator[tuple[str, int]]:
    """Run ``python args...`` from the repository; yield what ``ready`` finds in its output, and
    the process id. The output after that is drained in a thread (a full pipe would block it)."""
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            found = ready(line)
            if found is not None:
                break
        else:
            raise RuntimeError(f"{args} exited before it was ready")
        threading.Thread(target=process.stdout.read, daemon=True).start()
        yield found, process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def median_of(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def table(rows: list[tuple[str, ...]]) -> str:
    """A Markdown table; the first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def listening(line: str) -> str | None:
    """The URL a server prints (or logs) once it listens."""
    marker = "listening on "
    if marker not in line:
        return None
    return line.split(marker, 1)[1].split()[0]


@contextmanager
def patches_server(config: str, workdir: Path) -> Iterator[tuple[str, int]]:
    """The real server, as a separate process, on ``config`` (TOML text); yields (url, pid)."""
    path = workdir / "patches.toml"
    path.write_text(config)
    with child(["-m", "patches", "--config", str(path)], ready=listening) as (url, pid):
        yield url, pid


class RssSampler:
    """Samples a process's resident memory every ``interval`` seconds, in a thread."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        import psutil

        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.peak = 0
        self.samples = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        rss: int = self._process.memory_info().rss
        return rss

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            self.samples += 1
            self._stop.wait(self._interval)


class Client:
    """A lean scanner client (keep-alive, http.client): counts records, does not decode them."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.last_headers: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        self.last_headers = dict(response.getheaders())
        return response.status, response.read()

    def open(self, platform: str) -> str:
        status, body = self.request("POST", "/v1/sessions", orjson.dumps({"platform": platform}))
        if status != 201:
            raise RuntimeError(f"opening a session answered {status}: {body[:200]!r}")
        return str(orjson.loads(body)["id"])

    def drain(self, session: str, pause: float = 0.005) -> int:
        """Read a session to its end (v1 API); return the records received."""
        cursor = 0
        idle = threading.Event()
        while True:
            status, body = self.request(
                "GET", f"/v1/sessions/{session}/vulnerabilities?cursor={cursor}"
            )
            if status == 202:
                idle.wait(pause)
                continue
            if status != 200:
                raise RuntimeError(f"a poll answered {status}: {body[:200]!r}")
            tail = orjson.loads(body[body.rindex(b'],"cursor"') + 1 :].replace(b',"', b'{"', 1))
            cursor = tail["nextCursor"]
            if tail["done"]:
                return int(cursor)
