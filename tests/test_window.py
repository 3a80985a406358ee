"""The sliding window: bounds, sliding, cursors, completion, failure, expiry. No threads."""

from __future__ import annotations

import hashlib
import itertools
import random

import pytest

from patches.core.budget import MAX_REPLY_BYTES, record_cost
from patches.core.errors import CursorConflict
from patches.core.feed import Feed
from patches.core.results import Delivery, ReadResult, ReadState
from patches.core.window import Window, WindowBounds
from patches.sources.demo import DemoOptions, DemoSource
from tests.helpers import names, split_payload

PLATFORM = "debian:12"


def demo_feed(records: int, seed: int = 1) -> Feed:
    return Feed(
        DemoSource(f"demo-{seed}", DemoOptions(platforms=(PLATFORM,), records=records, seed=seed))
    )


def expected_names(*feeds: Feed) -> list[str]:
    out = []
    for feed in feeds:
        source = feed.source
        assert isinstance(source, DemoSource)
        out += [r.record.name for r in DemoSource(source.name, source.options).records(PLATFORM)]
    return out


def pump(window: Window, feeds: list[Feed]) -> int:
    """Answer the window's fetch requests until it asks for nothing; return how many it made."""
    requests = 0
    while (request := window.next_fetch()) is not None:
        requests += 1
        window.deliver(feeds[request.source_index].fetch("stream", PLATFORM, request))
    return requests


def read(window: Window, sid: str, cursor: int | None, now: float = 0.0) -> ReadResult:
    result = window.read(sid, cursor, now)
    assert isinstance(result, ReadResult), result
    return result


def drain_v1(window: Window, feeds: list[Feed], sid: str) -> list[str]:
    got: list[str] = []
    cursor = 0
    while True:
        pump(window, feeds)
        result = read(window, sid, cursor)
        if result.state is ReadState.DONE:
            return got
        assert result.state is ReadState.READY
        got += names(split_payload(result.payload))
        cursor = result.next_cursor


def test_a_single_reader_gets_every_record_in_order_within_bounds() -> None:
    feed = demo_feed(500)
    window = Window(PLATFORM, WindowBounds(max_records=16, max_bytes=1 << 20, batch_size=5), 1)
    assert window.join("a", 0.0)
    assert drain_v1(window, [feed], "a") == expected_names(feed)
    counters = window.counters()
    assert counters.peak_records == 16
    assert counters.received == 500
    ((session, completion),) = window.take_finished()
    assert (session, completion.total) == ("a", 500)


def test_readers_at_different_speeds_slide_the_window_within_its_bounds() -> None:
    feed = demo_feed(1200)
    bounds = WindowBounds(max_records=40, max_bytes=6000, batch_size=7)
    window = Window(PLATFORM, bounds, 1)
    readers = {sid: (0, []) for sid in "abcde"}
    cursors = dict.fromkeys(readers, 0)
    got: dict[str, list[str]] = {sid: [] for sid in readers}
    done: set[str] = set()
    for sid in readers:
        assert window.join(sid, 0.0)
    rng = random.Random(5)
    while len(done) < len(readers):
        pump(window, [feed])
        counters = window.counters()
        assert counters.held_records <= bounds.max_records
        assert counters.held_bytes <= bounds.max_bytes
        sid = rng.choice(sorted(set(readers) - done))
        result = read(window, sid, cursors[sid])
        if result.state is ReadState.DONE:
            done.add(sid)
        elif result.state is ReadState.READY:
            got[sid] += names(split_payload(result.payload))
            cursors[sid] = result.next_cursor
    expected = expected_names(feed)
    assert all(got[sid] == expected for sid in readers)
    assert window.counters().received == 1200  # each record entered the window once


def test_the_slowest_reader_holds_the_window_until_it_moves() -> None:
    feed = demo_feed(100)
    window = Window(PLATFORM, WindowBounds(max_records=10, max_bytes=1 << 20, batch_size=10), 1)
    window.join("fast", 0.0)
    window.join("slow", 0.0)
    pump(window, [feed])
    fast = read(window, "fast", 0)
    assert fast.count == 10
    assert read(window, "fast", 10).state is ReadState.PENDING  # nothing new: slow holds it all
    assert pump(window, [feed]) == 0
    assert window.counters().held_records == 10
    read(window, "slow", 0)
    read(window, "slow", 10)  # acknowledges the ten: the window slides
    assert window.counters().held_records == 0
    pump(window, [feed])
    assert read(window, "fast", 10).count == 10


def test_the_same_cursor_returns_the_same_records() -> None:
    feed = demo_feed(50)
    window = Window(PLATFORM, WindowBounds(max_records=20, max_bytes=1 << 20, batch_size=8), 1)
    window.join("a", 0.0)
    pump(window, [feed])
    first = read(window, "a", 0)
    again = read(window, "a", 0)  # the reply was lost: ask again
    assert first == again
    assert read(window, "a", 8).cursor == 8


def test_a_cursor_before_the_acknowledged_one_or_past_the_delivered_is_a_conflict() -> None:
    feed = demo_feed(50)
    window = Window(PLATFORM, WindowBounds(max_records=20, max_bytes=1 << 20, batch_size=8), 1)
    window.join("a", 0.0)
    pump(window, [feed])
    read(window, "a", 0)
    read(window, "a", 8)
    behind = window.read("a", 3, 0.0)
    assert isinstance(behind, CursorConflict)
    assert (behind.cursor, behind.acknowledged, behind.delivered) == (3, 8, 16)
    ahead = window.read("a", 17, 0.0)
    assert isinstance(ahead, CursorConflict)
    assert "past the records delivered" in str(ahead)


def test_the_original_protocol_acknowledges_each_batch_on_the_next_poll() -> None:
    feed = demo_feed(30)
    window = Window(PLATFORM, WindowBounds(max_records=30, max_bytes=1 << 20, batch_size=10), 1)
    window.join("a", 0.0)
    pump(window, [feed])
    got = []
    for _ in range(3):
        result = read(window, "a", None)
        assert window.counters().held_records == 30 - result.cursor  # the previous batch is gone
        got += names(split_payload(result.payload))
    assert got == expected_names(feed)
    pump(window, [feed])
    assert read(window, "a", None).state is ReadState.DONE
    ((session, completion),) = window.take_finished()
    assert (session, completion.total) == ("a", 30)
    assert window.read("a", None, 0.0) is None  # no longer a reader


def test_done_only_after_the_sources_are_exhausted_and_everything_acknowledged() -> None:
    feed = demo_feed(10)
    window = Window(PLATFORM, WindowBounds(max_records=10, max_bytes=1 << 20, batch_size=10), 1)
    window.join("a", 0.0)
    pump(window, [feed])
    assert read(window, "a", 0).count == 10
    assert not window.counters().exhausted  # the feed has not said "no more" yet
    assert read(window, "a", 10).state is ReadState.PENDING
    pump(window, [feed])
    done = read(window, "a", 10)
    assert (done.state, done.total) == (ReadState.DONE, 10)


def test_sources_are_read_one_after_another_in_order() -> None:
    first, second = demo_feed(25, seed=1), demo_feed(15, seed=2)
    window = Window(PLATFORM, WindowBounds(max_records=8, max_bytes=1 << 20, batch_size=4), 2)
    window.join("a", 0.0)
    assert drain_v1(window, [first, second], "a") == expected_names(first, second)
    assert window.source_index == 2


def test_the_byte_bound_holds_and_a_record_that_does_not_fit_waits() -> None:
    feed = demo_feed(200)
    window = Window(PLATFORM, WindowBounds(max_records=1000, max_bytes=2000, batch_size=3), 1)
    window.join("a", 0.0)
    got = []
    cursor = 0
    while True:
        pump(window, [feed])
        assert window.counters().held_bytes <= 2000
        result = read(window, "a", cursor)
        if result.state is ReadState.DONE:
            break
        if result.state is ReadState.READY:
            got += names(split_payload(result.payload))
            cursor = result.next_cursor
    assert got == expected_names(feed)
    assert window.counters().peak_bytes <= 2000


def test_a_record_larger_than_the_window_fails_the_pass_explicitly() -> None:
    feed = demo_feed(5)
    window = Window(PLATFORM, WindowBounds(max_records=10, max_bytes=50, batch_size=3), 1)
    window.join("a", 0.0)
    pump(window, [feed])
    result = read(window, "a", 0)
    assert result.state is ReadState.FAILED
    assert result.error is not None
    assert "larger than the window's max_bytes" in result.error


def test_a_source_error_fails_every_reader_and_the_window_stops_asking() -> None:
    window = Window(PLATFORM, WindowBounds(max_records=10, max_bytes=1 << 20, batch_size=3), 1)
    window.join("a", 0.0)
    window.join("b", 0.0)
    assert window.next_fetch() is not None
    window.deliver(Delivery(error="source 'x' failed: boom"))
    for sid in "ab":
        result = read(window, sid, 0)
        assert (result.state, result.error) == (ReadState.FAILED, "source 'x' failed: boom")
    assert window.next_fetch() is None
    assert not window.joinable


def test_only_one_fetch_is_in_flight_and_none_without_readers() -> None:
    window = Window(PLATFORM, WindowBounds(max_records=10, max_bytes=1 << 20, batch_size=3), 1)
    assert window.next_fetch() is None
    window.join("a", 0.0)
    request = window.next_fetch()
    assert request is not None
    assert (request.max_records, request.max_bytes, request.capacity_bytes) == (
        10,
        1 << 20,
        1 << 20,
    )
    assert window.next_fetch() is None


def test_idle_readers_are_found_and_leaving_releases_what_they_held() -> None:
    feed = demo_feed(100)
    window = Window(PLATFORM, WindowBounds(max_records=10, max_bytes=1 << 20, batch_size=10), 1)
    window.join("live", now=0.0)
    window.join("dead", now=0.0)
    window.join("watching", now=0.0)
    pump(window, [feed])
    read(window, "live", 0, now=5.0)
    read(window, "live", 10, now=6.0)
    read(window, "watching", 0, now=1.0)
    read(window, "watching", 10, now=1.0)
    window.touch("watching", now=5.5)  # its scanner asked about its session
    assert window.counters().held_records == 10  # "dead" has acknowledged nothing
    assert window.idle_readers(cutoff=4.0) == ["dead"]
    assert window.readers == 3  # finding them removes nothing: the registry ends them
    window.leave("dead")
    assert window.counters().held_records == 0
    assert window.read("dead", 0, 7.0) is None


def test_each_protocol_reads_its_own_shape() -> None:
    record = b'{"name":"GO-1"}'
    with_aliases = b'{"name":"GO-1","aliases":["CVE-1"]}'
    window = Window(PLATFORM, WindowBounds(max_records=10, max_bytes=1 << 20, batch_size=10), 1)
    window.join("legacy", 0.0)
    window.join("v1", 0.0)
    assert window.next_fetch() is not None
    window.deliver(Delivery(((record, with_aliases), (record, record))))
    assert read(window, "legacy", None).records == (record, record)
    assert read(window, "v1", 0).records == (with_aliases, record)
    assert window.counters().held_bytes == (
        record_cost((record, with_aliases)) + record_cost((record, record))
    )


def test_a_failed_pass_stops_fetching_and_tells_every_reader() -> None:
    window = Window(PLATFORM, WindowBounds(max_records=10, max_bytes=1 << 20, batch_size=3), 1)
    window.join("a", 0.0)
    assert window.next_fetch() is not None
    window.fail("internal error: the source reader has stopped")
    assert window.next_fetch() is None
    assert read(window, "a", 0).error == "internal error: the source reader has stopped"


def test_a_new_reader_can_join_only_while_the_pass_is_at_its_start() -> None:
    feed = demo_feed(100)
    window = Window(PLATFORM, WindowBounds(max_records=10, max_bytes=1 << 20, batch_size=5), 1)
    assert window.join("first", 0.0)
    pump(window, [feed])
    read(window, "first", 0)
    assert window.join("early", 0.0)  # nothing dropped yet: it gets the whole pass
    read(window, "first", 5)
    read(window, "early", 0)
    read(window, "early", 5)  # now both acknowledged the first five: they are dropped
    assert not window.joinable
    assert not window.join("late", 0.0)


@pytest.mark.parametrize("sources", [0, -1])
def test_a_window_needs_a_source(sources: int) -> None:
    with pytest.raises(ValueError, match="at least one source"):
        Window(PLATFORM, WindowBounds(1, 1024, 1), sources)


def test_a_reply_never_carries_more_than_its_share_of_the_budget() -> None:
    big = b'{"name":"%s"}' % (b"x" * 100_000)
    window = Window(PLATFORM, WindowBounds(max_records=50, max_bytes=16 << 20, batch_size=20), 1)
    window.join("a", 0.0)
    assert window.next_fetch() is not None
    window.deliver(Delivery(((big, big),) * 12))
    first = read(window, "a", 0)
    assert first.count == MAX_REPLY_BYTES // (len(big) + 1)
    assert sum(len(r) + 1 for r in first.records) <= MAX_REPLY_BYTES
    counts = [first.count]
    while (result := read(window, "a", sum(counts))).state is ReadState.READY:
        counts.append(result.count)
    assert counts == [5, 5, 2]


def test_a_record_larger_than_a_reply_still_goes_out_alone() -> None:
    huge = b'{"name":"%s"}' % (b"x" * (MAX_REPLY_BYTES + 10))
    window = Window(PLATFORM, WindowBounds(max_records=50, max_bytes=16 << 20, batch_size=20), 1)
    window.join("a", 0.0)
    assert window.next_fetch() is not None
    window.deliver(Delivery(((huge, huge), (b"{}", b"{}"))))
    assert read(window, "a", 0).records == (huge,)


def test_a_done_reader_gets_the_digest_of_the_records_as_its_protocol_sent_them() -> None:
    records = [
        (b'{"name":"%d"}' % i, b'{"name":"%d","aliases":["A-%d"]}' % (i, i)) for i in range(7)
    ]
    window = Window(PLATFORM, WindowBounds(max_records=3, max_bytes=1 << 20, batch_size=2), 1)
    window.join("legacy", 0.0)
    window.join("v1", 0.0)
    received: dict[str, list[bytes]] = {"legacy": [], "v1": []}
    cursor = 0
    results = {}
    feed = iter(records)
    while len(results) < 2:
        if (request := window.next_fetch()) is not None:
            batch = tuple(itertools.islice(feed, request.max_records))
            window.deliver(Delivery(batch, exhausted=len(batch) < request.max_records))
        for sid in ("legacy", "v1"):
            if sid in results:
                continue
            result = read(window, sid, None if sid == "legacy" else cursor)
            if result.state is ReadState.READY:
                received[sid] += result.records
                if sid == "v1":
                    cursor = result.next_cursor
            elif result.state is ReadState.DONE:
                results[sid] = result
    for sid, shape in (("legacy", 0), ("v1", 1)):
        assert received[sid] == [r[shape] for r in records]
        expected = hashlib.sha256(b"".join(r[shape] + b"\n" for r in records)).hexdigest()
        assert (results[sid].total, results[sid].sha256) == (7, expected)
