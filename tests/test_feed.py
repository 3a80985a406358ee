"""Source feeds: backpressure, resumable retries, and failures reported, never swallowed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from patches.core.budget import record_cost
from patches.core.feed import Feed, RetryPolicy
from patches.core.results import EncodedRecord, FetchRequest
from patches.model import Vulnerability
from patches.sources.base import Position, Source, SourceError, SourceRecord
from patches.sources.demo import DemoOptions, DemoSource

PLATFORM = "debian:12"
NO_WAIT = RetryPolicy(attempts=3, backoff_seconds=0.0)


def demo(records: int = 100) -> DemoSource:
    return DemoSource("demo", DemoOptions(platforms=(PLATFORM,), records=records))


def request(records: int = 1000, size: int = 1 << 20, capacity: int = 1 << 20) -> FetchRequest:
    return FetchRequest(0, records, size, capacity)


class FlakySource(Source):
    """Wraps a source and fails at given record indexes, a given number of times each."""

    kind = "flaky"

    def __init__(self, inner: Source, fail_at: dict[int, int]) -> None:
        super().__init__("flaky")
        self.inner = inner
        self.fail_at = dict(fail_at)
        self.opened: list[Position | None] = []

    def platforms(self) -> frozenset[str]:
        return self.inner.platforms()

    def records(self, platform: str, after: Position | None = None) -> Iterator[SourceRecord]:
        self.opened.append(after)
        start = 0 if after is None else int(after)  # type: ignore[arg-type]
        for index, item in enumerate(self.inner.records(platform, after), start):
            if self.fail_at.get(index, 0) > 0:
                self.fail_at[index] -= 1
                raise SourceError(f"upstream hiccup at record {index}")
            yield item


def wire_names(records: tuple[EncodedRecord, ...] | list[EncodedRecord]) -> list[str]:
    return [Vulnerability.decode(legacy).name for legacy, _ in records]


def size(records: tuple[EncodedRecord, ...]) -> int:
    return sum(map(record_cost, records))


def all_names(source: Source) -> list[str]:
    return [r.record.name for r in source.records(PLATFORM)]


def test_never_more_records_or_bytes_than_the_room_given() -> None:
    feed = Feed(demo())
    first = feed.fetch("s", PLATFORM, request(records=7))
    assert len(first.records) == 7
    sized = feed.fetch("s", PLATFORM, request(size=1000))
    assert size(sized.records) <= 1000
    assert sized.next_size is not None
    assert size(sized.records) + sized.next_size > 1000


def test_a_record_that_did_not_fit_comes_first_next_time() -> None:
    feed = Feed(demo(60))
    got: list[EncodedRecord] = []
    while True:
        delivery = feed.fetch("s", PLATFORM, request(records=1000, size=700))
        got += delivery.records
        if delivery.exhausted:
            break
    assert wire_names(got) == all_names(demo(60))
    assert feed.reads[PLATFORM] == 60  # each record pulled from the source once
    assert feed.open_streams == 0


def test_a_failing_source_is_retried_from_where_it_stopped() -> None:
    source = FlakySource(demo(50), fail_at={10: 2, 11: 1, 30: 1})
    sleeps: list[float] = []
    feed = Feed(source, RetryPolicy(attempts=3, backoff_seconds=0.25), sleep=sleeps.append)
    delivery = feed.fetch("s", PLATFORM, request())
    assert delivery.error is None
    assert delivery.exhausted
    assert wire_names(delivery.records) == all_names(demo(50))
    assert source.opened == [None, 10, 10, 11, 30]  # reopened after the last record pulled
    assert feed.retries == 4
    assert sleeps == [0.25, 0.5, 0.25, 0.25]  # exponential backoff, afresh for each record


def test_a_source_failing_past_its_retries_is_reported_with_what_came_before() -> None:
    source = FlakySource(demo(50), fail_at={20: 99})
    feed = Feed(source, NO_WAIT, sleep=lambda _: None)
    delivery = feed.fetch("s", PLATFORM, request())
    assert delivery.error is not None
    assert "source 'flaky' failed" in delivery.error
    assert "record 20" in delivery.error
    assert not delivery.exhausted
    assert len(delivery.records) == 20
    assert feed.failures == 1


def test_a_bug_in_a_source_is_contained_and_reported() -> None:
    class Broken(DemoSource):
        def records(self, platform: str, after: Position | None = None) -> Iterator[SourceRecord]:
            raise KeyError("oops")

    feed = Feed(Broken("broken", DemoOptions(platforms=(PLATFORM,))), NO_WAIT)
    delivery = feed.fetch("s", PLATFORM, request())
    assert delivery.error is not None
    assert "internal error" in delivery.error


def test_a_record_of_another_platform_breaks_the_contract() -> None:
    class Wrong(DemoSource):
        def records(self, platform: str, after: Position | None = None) -> Iterator[SourceRecord]:
            yield from super().records("alpine:3.19", after)

    source = Wrong("wrong", DemoOptions(platforms=(PLATFORM, "alpine:3.19")))
    delivery = Feed(source, NO_WAIT).fetch("s", PLATFORM, request())
    assert delivery.error is not None
    assert "'alpine:3.19' when asked for 'debian:12'" in delivery.error


def test_a_record_larger_than_the_window_is_an_error_not_a_stall() -> None:
    delivery = Feed(demo()).fetch("s", PLATFORM, request(size=100, capacity=100))
    assert delivery.error is not None
    assert "larger than the window's max_bytes" in delivery.error


def test_streams_are_independent_and_released() -> None:
    feed = Feed(demo(10))
    a = feed.fetch("a", PLATFORM, request(records=4))
    b = feed.fetch("b", PLATFORM, request(records=10))
    assert wire_names(a.records) == wire_names(b.records)[:4]
    assert feed.open_streams == 2
    feed.release("a")
    feed.release("b")
    assert feed.open_streams == 0


@pytest.mark.parametrize("attempts", [1, 2])
def test_attempts_bound_the_tries(attempts: int) -> None:
    source = FlakySource(demo(5), fail_at={0: 99})
    feed = Feed(source, RetryPolicy(attempts=attempts, backoff_seconds=0), sleep=lambda _: None)
    assert feed.fetch("s", PLATFORM, request()).error is not None
    assert len(source.opened) == attempts
