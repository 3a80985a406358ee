"""The jsonl source: line by line, several platforms per file, malformed lines reported."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from patches.sources.base import SourceError
from patches.sources.jsonl import JsonlOptions, JsonlSource
from tests.helpers import interleaved, write_jsonl

PLATFORMS = ("debian:12", "alpine:3.19")


def test_serves_the_platforms_in_the_file_each_in_file_order(tmp_path: Path) -> None:
    records = interleaved(PLATFORMS, 30)
    source = JsonlSource("f", JsonlOptions(write_jsonl(tmp_path / "f.jsonl", records)))
    assert source.platforms() == frozenset(PLATFORMS)
    for platform in PLATFORMS:
        got = [item.record for item in source.records(platform)]
        assert got == [r for r in records if r.affected_platform == platform]


def test_declared_platforms_spare_the_scan(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "f.jsonl", interleaved(PLATFORMS, 3))
    source = JsonlSource("f", JsonlOptions(path, platforms=("debian:12",)))
    assert source.platforms() == {"debian:12"}


def test_malformed_lines_are_reported_with_file_and_line_counted_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = interleaved(("debian:12",), 3)
    path = tmp_path / "f.jsonl"
    path.write_bytes(
        good[0].encode() + b"\n"
        + b"{this is not json\n"
        + b"\n"
        + good[1].encode() + b"\n"
        + b'{"name": "CVE-1", "affectedPlatform": "debian:12", "severity": 9}\n'
        + good[2].encode() + b"\n"
    )  # fmt: skip
    source = JsonlSource("f", JsonlOptions(path))
    with caplog.at_level(logging.WARNING):
        got = [item.record for item in source.records("debian:12")]
    assert got == good
    assert source.stats.malformed == 2
    assert f"{path}:2: malformed record skipped" in caplog.text
    assert f"{path}:5: malformed record skipped" in caplog.text


def test_resumes_after_any_record_it_handed_out(tmp_path: Path) -> None:
    records = interleaved(PLATFORMS, 20)
    source = JsonlSource("f", JsonlOptions(write_jsonl(tmp_path / "f.jsonl", records)))
    items = list(source.records("alpine:3.19"))
    for cut in (0, 7, 19):
        rest = [item.record for item in source.records("alpine:3.19", items[cut].resume)]
        assert rest == [item.record for item in items[cut + 1 :]]


def test_a_missing_file_is_a_source_error(tmp_path: Path) -> None:
    source = JsonlSource("f", JsonlOptions(tmp_path / "absent.jsonl"))
    with pytest.raises(SourceError, match="cannot read"):
        source.platforms()
    with pytest.raises(SourceError, match="cannot read"):
        list(source.records("debian:12"))


def test_a_foreign_resume_position_is_refused(tmp_path: Path) -> None:
    source = JsonlSource("f", JsonlOptions(write_jsonl(tmp_path / "f.jsonl", [])))
    with pytest.raises(SourceError, match="not a jsonl resume position"):
        list(source.records("debian:12", "page-2"))
