"""The record model: its wire shape, validation, and severities."""

from __future__ import annotations

import re

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
    ],
)
def test_invalid_records_are_refused_with_the_reason(text: bytes, reason: str) -> None:
    with pytest.raises(RecordError, match=re.escape(reason)):
        Vulnerability.decode(text)
