"""What every source kind must do, checked for each kind by the same tests."""

from __future__ import annotations

import itertools
import os
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from patches.model import Vulnerability
from patches.sources import KINDS, Source, SourceError
from patches.sources.clair import ClairOptions, ClairSource
from patches.sources.demo import DemoOptions, DemoSource
from patches.sources.jsonl import JsonlOptions, JsonlSource
from patches.sources.osv import OsvOptions, OsvSource
from tests.fake_clair import FakeClair, load_captured
from tests.helpers import interleaved, shared_data, write_jsonl


@dataclass
class Case:
    source: Source
    #: Makes the source fail from now on; None for a kind that cannot fail.
    breaker: Callable[[], None] | None


def demo_case(tmp_path: Path, stack: ExitStack) -> Case:
    options = DemoOptions(platforms=("debian:12", "alpine:3.19"), records=120)
    return Case(DemoSource("demo", options), None)


def jsonl_case(tmp_path: Path, stack: ExitStack) -> Case:
    path = write_jsonl(tmp_path / "feed.jsonl", interleaved(("debian:12", "alpine:3.19"), 120))
    return Case(JsonlSource("jsonl", JsonlOptions(path)), path.unlink)


def osv_case(tmp_path: Path, stack: ExitStack) -> Case:
    """A slice of the real Go database, in a zip of its own (so that it can be broken)."""
    path = tmp_path / "Go.zip"
    with zipfile.ZipFile(shared_data("osv/Go.zip")) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist()[:300]:
            dst.writestr(info, src.read(info))
    return Case(OsvSource("osv", OsvOptions(path)), path.unlink)


def clair_case(tmp_path: Path, stack: ExitStack) -> Case:
    fake = stack.enter_context(FakeClair(load_captured(shared_data("clair-v2.1.0"))))
    options = ClairOptions(fake.url, page_size=60, request_retries=1, request_backoff_seconds=0)
    return Case(ClairSource("clair", options), lambda: fake.fail_next(10**6))


CASES = {"clair": clair_case, "demo": demo_case, "jsonl": jsonl_case, "osv": osv_case}


def test_every_kind_is_covered() -> None:
    assert set(CASES) == set(KINDS)


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    with ExitStack() as stack:
        made: Case = CASES[request.param](tmp_path, stack)
        yield made
        made.source.close()


def test_yields_only_valid_records_of_the_platform_asked(case: Case) -> None:
    platforms = case.source.platforms()
    assert platforms
    served = 0
    for platform in platforms:
        items = list(case.source.records(platform))
        served += bool(items)
        for item in items:
            assert isinstance(item.record, Vulnerability)
            assert item.record.affected_platform == platform
            assert Vulnerability.decode(item.record.encode_both()[1]) == item.record
    assert served


def busiest(source: Source) -> str:
    """A platform with a few records at least."""
    return next(
        p
        for p in sorted(source.platforms())
        if len(list(itertools.islice(source.records(p), 3))) == 3
    )


def test_resumes_exactly_after_any_position_it_handed_out(case: Case) -> None:
    platform = busiest(case.source)
    items = list(case.source.records(platform))
    assert len(items) > 2
    for cut in sorted({0, 1, len(items) // 2, len(items) - 2, len(items) - 1}):
        resumed = [i.record for i in case.source.records(platform, items[cut].resume)]
        assert resumed == [i.record for i in items[cut + 1 :]]


def test_resume_positions_are_plain_data(case: Case) -> None:
    """Ints, strings and tuples of them: what can be stored as JSON and handed back."""
    platform = busiest(case.source)
    for item in itertools.islice(case.source.records(platform), 5):
        assert isinstance(item.resume, int | str | tuple)
        flat = item.resume if isinstance(item.resume, tuple) else (item.resume,)
        assert all(isinstance(part, int | str) for part in flat)


def test_reports_failures_as_a_source_error(case: Case) -> None:
    if case.breaker is None:
        pytest.skip(f"a {case.source.kind} source has nothing that can fail")
    platform = busiest(case.source)
    iterator = case.source.records(platform)
    first = next(iterator)
    iterator.close()  # type: ignore[attr-defined]
    case.breaker()
    with pytest.raises(SourceError):
        list(case.source.records(platform, first.resume))


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_releases_what_it_holds_when_closed(case: Case) -> None:
    """Files, connections and threads opened to read are closed with the iterator and source."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("counting open files needs /proc")
    platform = busiest(case.source)
    case.source.close()  # what finding the busiest platform opened
    files, threads = open_files(), threading.active_count()
    iterator = case.source.records(platform)
    next(iterator)
    iterator.close()  # type: ignore[attr-defined]
    case.source.close()
    # A fake server in this process closes its side of the connections a moment later.
    settled = threading.Event()
    deadline = time.monotonic() + 5
    while not (open_files() <= files and threading.active_count() <= threads):
        assert time.monotonic() < deadline, (open_files(), files, threading.active_count(), threads)
        settled.wait(0.01)
