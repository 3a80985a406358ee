"""What every source kind must do, checked for each kind by the same tests."""

from __future__ import annotations

import gc
import itertools
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from patches.model import Vulnerability
from patches.sources import Source, SourceError
from patches.sources.demo import DemoOptions, DemoSource
from patches.sources.jsonl import JsonlOptions, JsonlSource
from tests.helpers import interleaved, write_jsonl


@dataclass
class Case:
    source: Source
    #: Makes the source fail from now on; None for a kind that cannot fail.
    breaker: Callable[[], None] | None


def demo_case(tmp_path: Path) -> Case:
    options = DemoOptions(platforms=("debian:12", "alpine:3.19"), records=120)
    return Case(DemoSource("demo", options), None)


def jsonl_case(tmp_path: Path) -> Case:
    path = write_jsonl(tmp_path / "feed.jsonl", interleaved(("debian:12", "alpine:3.19"), 120))
    return Case(JsonlSource("jsonl", JsonlOptions(path)), path.unlink)


KINDS = {"demo": demo_case, "jsonl": jsonl_case}


@pytest.fixture(params=sorted(KINDS))
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Case:
    made: Case = KINDS[request.param](tmp_path)
    return made


def test_yields_only_valid_records_of_the_platform_asked(case: Case) -> None:
    platforms = case.source.platforms()
    assert platforms
    for platform in platforms:
        items = list(case.source.records(platform))
        assert items
        for item in items:
            assert isinstance(item.record, Vulnerability)
            assert item.record.affected_platform == platform
            assert Vulnerability.decode(item.record.encode()) == item.record


def test_resumes_exactly_after_any_position_it_handed_out(case: Case) -> None:
    platform = sorted(case.source.platforms())[0]
    items = list(case.source.records(platform))
    for cut in sorted({0, 1, len(items) // 2, len(items) - 2, len(items) - 1}):
        resumed = [i.record for i in case.source.records(platform, items[cut].resume)]
        assert resumed == [i.record for i in items[cut + 1 :]]


def test_resume_positions_are_plain_data(case: Case) -> None:
    platform = sorted(case.source.platforms())[0]
    for item in itertools.islice(case.source.records(platform), 5):
        assert isinstance(item.resume, int | str | tuple)


def test_reports_failures_as_a_source_error(case: Case) -> None:
    if case.breaker is None:
        pytest.skip(f"a {case.source.kind} source has nothing that can fail")
    platform = sorted(case.source.platforms())[0]
    iterator = case.source.records(platform)
    first = next(iterator)
    case.breaker()
    with pytest.raises(SourceError):
        list(case.source.records(platform, first.resume))


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_releases_what_it_holds_when_closed(case: Case) -> None:
    """Files, connections and threads opened to read are closed with the iterator and source."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("counting open files needs /proc")
    files, threads = open_files(), threading.active_count()
    platform = sorted(case.source.platforms())[0]
    iterator = case.source.records(platform)
    next(iterator)
    iterator.close()  # type: ignore[attr-defined]
    case.source.close()
    assert open_files() == files
    assert threading.active_count() == threads
    ref = weakref.ref(case.source)
    del case.source, iterator
    gc.collect()
    assert ref() is None
