"""The record model: its wire shape, validation, and severities."""

from __future__ import annotations

import os
import re
import sys

import orjson
import pytest

from patches.model import FixedIn, RecordError, Severity, Vulnerability

MISSION_EXAMPLE = {
    "name": "CVE-2021-3711",
    "affectedPlatform": "debian:11",
    "detailsHref": "https://security-tracker.debian.org/tracker/CVE-2021-3711",
    "severity": 4,
    "fixedIn": [{"name": "openssl", "version": "1.1.1k-1+deb11u1"}],
}


def test_encodes_exactly_the_wire_shape() -> None:
    record = Vulnerability(
        "CVE-2021-3711",
        "debian:11",
        "https://security-tracker.debian.org/tracker/CVE-2021-3711",
        Severity.HIGH,
        (FixedIn("openssl", "1.1.1k-1+deb11u1"),),
    )
    encoded = record.encode()
    assert orjson.loads(encoded) == MISSION_EXAMPLE
    assert list(orjson.loads(encoded)) == list(MISSION_EXAMPLE)  # key order as documented


def test_decoding_the_wire_shape_round_trips() -> None:
    record = Vulnerability.decode(orjson.dumps(MISSION_EXAMPLE))
    assert record.severity is Severity.HIGH
    assert record.fixed_in == (FixedIn("openssl", "1.1.1k-1+deb11u1"),)
    assert Vulnerability.decode(record.encode()) == record


def test_severity_scale_is_the_scanners_scale() -> None:
    assert [s.name for s in sorted(Severity)] == [
        "UNKNOWN", "NEGLIGIBLE", "LOW", "MEDIUM", "HIGH", "URGENT", "CRITICAL",
    ]  # fmt: skip
    assert [int(s) for s in sorted(Severity)] == list(range(7))


def test_an_unfixed_package_has_a_null_version_never_a_string() -> None:
    record = Vulnerability("CVE-1", "debian:12", "", Severity.HIGH, (FixedIn("openssh", None),))
    assert orjson.loads(record.encode())["fixedIn"] == [{"name": "openssh", "version": None}]
    assert Vulnerability.decode(record.encode()) == record


def test_aliases_are_in_the_v1_shape_only() -> None:
    record = Vulnerability("GO-2024-1", "go", "", Severity.UNKNOWN, (), ("CVE-2024-1", "GHSA-x"))
    legacy, v1 = record.encode_both()
    assert "aliases" not in orjson.loads(legacy)
    assert orjson.loads(v1) == {**orjson.loads(legacy), "aliases": ["CVE-2024-1", "GHSA-x"]}
    assert Vulnerability.decode(v1) == record
    plain = Vulnerability("CVE-2", "go", "", Severity.LOW)
    first, second = plain.encode_both()
    assert first is second  # held once when the shapes do not differ


def test_missing_fixed_in_and_href_default_to_empty() -> None:
    record = Vulnerability.decode(b'{"name": "CVE-1", "affectedPlatform": "p", "severity": 0}')
    assert record.fixed_in == ()
    assert record.details_href == ""


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "a record is a JSON object"),
        (b'{"affectedPlatform": "p"}', "name must be a non-empty string"),
        (b'{"name": "x", "affectedPlatform": ""}', "affectedPlatform must be a non-empty string"),
        (b'{"name": "x", "affectedPlatform": "p", "severity": 7}', "severity must be an integer"),
        (
            b'{"name": "x", "affectedPlatform": "p", "severity": true}',
            "severity must be an integer",
        ),
        (b'{"name": "x", "affectedPlatform": "p", "fixedIn": {}}', "fixedIn must be a list"),
        (
            b'{"name": "x", "affectedPlatform": "p", "fixedIn": [{"name": "a"}]}',
            "fixedIn[0].version",
        ),
        (b'{"name": "x", "affectedPlatform": "p", "colour": "red"}', "unknown field(s): colour"),
        (b'{"name": "x", "affectedPlatform": "p", "aliases": "CVE-1"}', "aliases must be a list"),
    ],
)
def test_invalid_records_are_refused_with_the_reason(text: bytes, reason: str) -> None:
    with pytest.raises(RecordError, match=re.escape(reason)):
        Vulnerability.decode(text)


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reading RSS needs /proc")
def test_a_kept_record_costs_its_size_not_a_hidden_buffer() -> None:
    """orjson's output pins a 4 KiB buffer; encoded records, which windows keep, must not."""
    record = Vulnerability.decode(orjson.dumps(MISSION_EXAMPLE))
    before = rss()
    kept = [record.encode_both() for _ in range(50_000)]
    per_record = (rss() - before) / len(kept)
    assert per_record < 2 * sys.getsizeof(kept[0][0]), per_record
