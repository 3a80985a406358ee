"""Helpers shared by the benchmarks: data locations, child processes, medians, tables."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def shared_data(relative: str) -> Path | None:
    """A file of the shared real data set, or None (the benchmark says so and skips that row)."""
    candidates = [Path(os.environ["SHARED_DATA"])] if os.environ.get("SHARED_DATA") else []
    candidates += [REPO.parent / "shared" / "data", Path("/work/shared/data")]
    return next((base / relative for base in candidates if (base / relative).exists()), None)


@contextmanager
def child(args: Sequence[str], *, ready: Callable[[str], str | None]) -> Iterator[str]:
    """Run ``python args...`` from the repository; yield what ``ready`` finds in its first lines."""
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
        yield found
    finally:
        process.terminate()
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
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
