"""The Clair source against a fake Clair built from a real Clair v2.1.0's responses."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patches.model import FixedIn, Severity
from patches.sources.base import SourceError
from patches.sources.clair import ClairOptions, ClairSource
from tests.fake_clair import ClairData, FakeClair, load_captured
from tests.helpers import shared_data


@pytest.fixture(scope="module")
def captured() -> Path:
    return shared_data("clair-v2.1.0")


@pytest.fixture(scope="module")
def data(captured: Path) -> ClairData:
    return load_captured(captured)


@pytest.fixture(scope="module")
def recorded(captured: Path) -> list[dict[str, Any]]:
    """debian:11's vulnerabilities as the real server answered them, in its order."""
    with gzip.open(captured / "debian-11.recording.jsonl.gz", "rt") as f:
        return [
            json.loads(line)["body"]["Vulnerability"]
            for line in f
            if "?fixedIn" in json.loads(line)["path"]
        ]


@pytest.fixture
def fake(data: ClairData) -> Iterator[FakeClair]:
    with FakeClair(data) as server:
        yield server


def clair(fake: FakeClair, **options: Any) -> ClairSource:
    options.setdefault("request_backoff_seconds", 0.0)
    return ClairSource("clair", ClairOptions(fake.url, **options))


def expected_fixes(vulnerability: dict[str, Any]) -> tuple[FixedIn, ...]:
    return tuple(
        FixedIn(f["Name"], None if f["Version"] == "None" else f["Version"])
        for f in vulnerability.get("FixedIn") or []
    )


def test_walks_a_whole_namespace_in_the_servers_order(
    fake: FakeClair, recorded: list[dict[str, Any]]
) -> None:
    source = clair(fake)
    records = [item.record for item in source.records("debian:11")]
    source.close()
    assert [r.name for r in records] == [v["Name"] for v in recorded]
    assert len(records) == 1724
    for record, vulnerability in zip(records, recorded, strict=True):
        assert record.fixed_in == expected_fixes(vulnerability)
        assert record.details_href == vulnerability["Link"]
        assert record.severity is Severity.UNKNOWN  # every severity in this data is Unknown
        assert record.affected_platform == "debian:11"
    assert fake.requests["detail"] == 1724
    assert fake.requests["list"] == 18  # pages of 100
    assert fake.requests["gzipped"] == sum(fake.requests.values()) - fake.requests["gzipped"]


def test_details_are_fetched_concurrently_within_the_bound(data: ClairData) -> None:
    with FakeClair(data, latency=0.005) as fake:
        source = clair(fake, concurrency=8)
        names = [item.record.name for item in source.records("debian:11")]
        source.close()
    assert len(names) == 1724
    assert 2 <= fake.max_in_flight <= 8 + 1  # the details, and at most one list page


def test_one_at_a_time_gives_the_same_records(fake: FakeClair) -> None:
    concurrent, sequential = clair(fake), clair(fake, concurrency=1)
    assert list(concurrent.records("debian:9")) == list(sequential.records("debian:9"))
    assert [i.record for i in concurrent.records("debian:11")] == [
        i.record for i in sequential.records("debian:11")
    ]
    concurrent.close()
    sequential.close()


def test_namespaces_map_to_platforms(fake: FakeClair) -> None:
    source = clair(fake, namespaces={"debian:9": "debian:stretch"})
    assert source.platforms() == {
        "alpine:3.10", "alpine:3.11", "debian:10", "debian:11", "debian:12", "debian:stretch",
    }  # fmt: skip
    (alpine,) = [item.record for item in source.records("alpine:3.11")]
    assert alpine.affected_platform == "alpine:3.11"
    assert alpine.fixed_in == (FixedIn("ansible", "2.9.3-r0"),)
    (stretch,) = [item.record for item in source.records("debian:stretch")]
    assert [f.name for f in stretch.fixed_in] == ["linux", "qemu", "xen", "amd64-microcode"]
    source.close()


def test_declared_platforms_spare_asking_clair(fake: FakeClair) -> None:
    source = clair(fake, platforms=("debian:12",))
    assert source.platforms() == {"debian:12"}
    assert fake.requests["namespaces"] == 0
    source.close()


def test_unfixed_packages_and_severity_names(fake: FakeClair) -> None:
    source = clair(fake)
    glibc, openssh = (item.record for item in source.records("debian:12"))
    source.close()
    assert glibc.fixed_in == (FixedIn("glibc", "2.36-9+deb12u3"),)
    assert openssh.fixed_in == (
        FixedIn("openssh", "1:9.2p1-2+deb12u3"),
        FixedIn("openssh-unfixed-demo", None),  # Clair's "None": no fix yet
    )
    assert openssh.severity is Severity.HIGH


def test_an_empty_namespace_has_no_records(fake: FakeClair) -> None:
    source = clair(fake)
    assert list(source.records("debian:10")) == []  # Clair answers {"Vulnerabilities": null}
    source.close()


def test_the_limit_zero_trap_ends_instead_of_looping(fake: FakeClair) -> None:
    # The configuration refuses page_size = 0; even so, an empty page with a NextPage ends the walk.
    source = ClairSource("clair", ClairOptions(fake.url, page_size=0))
    assert list(source.records("debian:11")) == []
    assert fake.requests["list"] == 1
    source.close()


def test_expired_page_tokens_lose_and_repeat_nothing(
    fake: FakeClair, recorded: list[dict[str, Any]]
) -> None:
    source = clair(fake, page_size=50)
    names = []
    for count, item in enumerate(source.records("debian:11"), 1):
        names.append(item.record.name)
        if count in (120, 700, 1650):
            fake.expire_tokens()  # a slow pass: its next page token is now stale
    source.close()
    assert names == [v["Name"] for v in recorded]


def test_resumes_after_any_record_even_once_its_token_expired(
    fake: FakeClair, recorded: list[dict[str, Any]]
) -> None:
    source = clair(fake, page_size=100)
    items = list(source.records("debian:11"))
    fake.expire_tokens()
    for cut in (99, 100, 1722):
        resumed = [i.record.name for i in source.records("debian:11", items[cut].resume)]
        assert resumed == [v["Name"] for v in recorded[cut + 1 :]], cut
    source.close()


def test_server_errors_and_dropped_connections_are_retried(fake: FakeClair) -> None:
    source = clair(fake, request_retries=3)
    fake.fail_next(2)
    first = [i.record.name for i in source.records("debian:12")]
    fake.drop_next(2)
    second = [i.record.name for i in source.records("debian:12")]
    source.close()
    assert first == second == ["CVE-2023-4911", "CVE-2024-6387"]
    assert fake.requests["failed"] == 2
    assert fake.requests["dropped"] == 2


def test_server_errors_past_the_retries_are_a_source_error(fake: FakeClair) -> None:
    source = clair(fake, request_retries=2)
    fake.fail_next(100)
    with pytest.raises(SourceError, match="Clair answered 500"):
        list(source.records("debian:12"))
    assert fake.requests["failed"] == 3  # the first try and two retries
    source.close()


def test_refusals_are_not_retried(fake: FakeClair) -> None:
    source = clair(fake, request_retries=5)
    fake.fail_next(1, status=422)
    with pytest.raises(SourceError, match="Clair answered 422"):
        list(source.records("debian:12"))
    assert fake.requests["failed"] == 1
    source.close()


def test_a_wrong_url_reports_clairs_plain_text_404(fake: FakeClair) -> None:
    source = ClairSource("clair", ClairOptions(fake.url + "/api"))
    with pytest.raises(SourceError, match="404 page not found"):
        source.platforms()
    source.close()


def test_an_unreachable_clair_is_a_source_error() -> None:
    source = ClairSource(
        "clair", ClairOptions("http://127.0.0.1:9", request_retries=1, request_backoff_seconds=0)
    )
    with pytest.raises(SourceError, match="GET /v1/namespaces"):
        source.platforms()
    source.close()


def test_a_foreign_resume_position_is_refused(fake: FakeClair) -> None:
    source = clair(fake)
    with pytest.raises(SourceError, match="not a Clair resume position"):
        list(source.records("debian:12", 42))
    source.close()
