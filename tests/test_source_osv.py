"""The OSV source: the real Go vulnerability database, read in place, and the conversion rules.

Data: Go vulnerability database, The Go Authors (CC BY 4.0).
"""

from __future__ import annotations

import json
import tracemalloc
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from patches.model import FixedIn, Severity
from patches.sources.base import SourceError
from patches.sources.osv import OsvOptions, OsvSource
from patches.sources.osv_records import osv_to_records
from tests.helpers import shared_data


@pytest.fixture(scope="module")
def go_zip() -> Path:
    return shared_data("osv/Go.zip")


@pytest.fixture(scope="module")
def reference(go_zip: Path) -> list[dict[str, Any]]:
    """Every record of the archive, read with the standard library: the expected values."""
    with zipfile.ZipFile(go_zip) as z:
        return [
            json.loads(z.read(info)) for info in z.infolist() if info.filename.endswith(".json")
        ]


def expected_fixes(record: dict[str, Any]) -> dict[str, set[str | None]]:
    """Package -> fixed versions, straight from the record's ECOSYSTEM and SEMVER ranges."""
    fixes: dict[str, set[str | None]] = {}
    for affected in record.get("affected", []):
        name = affected["package"]["name"]
        versions = {
            event["fixed"]
            for r in affected.get("ranges", [])
            if r["type"] in ("ECOSYSTEM", "SEMVER")
            for event in r["events"]
            if "fixed" in event
        }
        fixes.setdefault(name, set()).update(versions)
    return {name: versions or {None} for name, versions in fixes.items()}


def test_every_go_record_comes_out_with_its_fixed_versions(
    go_zip: Path, reference: list[dict[str, Any]]
) -> None:
    source = OsvSource("go", OsvOptions(go_zip))
    live = [r for r in reference if not r.get("withdrawn")]
    per_platform = Counter(
        "go" for r in live if any(a["package"]["ecosystem"] == "Go" for a in r.get("affected", []))
    )
    assert source.platforms() == set(per_platform)
    got = {item.record.name: item.record for item in source.records("go")}
    assert len(got) == per_platform["go"]
    assert source.stats.malformed == 0
    by_id = {r["id"]: r for r in live}
    assert set(got) == set(by_id)
    for osv_id, record in got.items():
        fixes: dict[str, set[str | None]] = {}
        for fix in record.fixed_in:
            fixes.setdefault(fix.name, set()).add(fix.version)
        assert fixes == expected_fixes(by_id[osv_id]), osv_id
        assert record.aliases == tuple(by_id[osv_id].get("aliases", []))
        assert record.affected_platform == "go"


def test_go_details_links_follow_the_rule(go_zip: Path, reference: list[dict[str, Any]]) -> None:
    got = {
        i.record.name: i.record.details_href
        for i in OsvSource("go", OsvOptions(go_zip)).records("go")
    }
    for record in reference:
        if record.get("withdrawn"):
            continue
        advisories = [r["url"] for r in record.get("references", []) if r["type"] == "ADVISORY"]
        expected = advisories[0] if advisories else record["database_specific"]["url"]
        assert got[record["id"]] == expected


def test_withdrawn_records_are_skipped(go_zip: Path, reference: list[dict[str, Any]]) -> None:
    withdrawn = {r["id"] for r in reference if r.get("withdrawn")}
    assert withdrawn  # the data has some
    names = {i.record.name for i in OsvSource("go", OsvOptions(go_zip)).records("go")}
    assert not names & withdrawn


def test_resumes_exactly_in_the_archive(go_zip: Path) -> None:
    source = OsvSource("go", OsvOptions(go_zip))
    items = list(source.records("go"))
    for cut in (0, 1000, len(items) - 2):
        resumed = [i.record.name for i in source.records("go", items[cut].resume)]
        assert resumed == [i.record.name for i in items[cut + 1 :]]


def test_memory_does_not_grow_with_the_archive(go_zip: Path, tmp_path: Path) -> None:
    """Four times the entries, the same peak: one entry is held at a time."""
    bigger = tmp_path / "bigger.zip"
    with zipfile.ZipFile(go_zip) as src, zipfile.ZipFile(bigger, "w", zipfile.ZIP_DEFLATED) as dst:
        for copy in range(4):
            for info in src.infolist():
                dst.writestr(f"{copy}/{info.filename}", src.read(info))

    def peak(path: Path) -> int:
        source = OsvSource("go", OsvOptions(path, platforms=("go",)))
        tracemalloc.start()
        count = sum(1 for _ in source.records("go"))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert count > 0
        return top

    small, large = peak(go_zip), peak(bigger)
    assert bigger.stat().st_size > 3.5 * go_zip.stat().st_size
    # Holding the export would take three more copies of its 8 MB of records; other threads'
    # allocations (tracemalloc sees them) are the only slack allowed.
    assert large - small < 2 << 20, (small, large)


def test_a_directory_of_records_serves_the_same(go_zip: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(go_zip) as z:
        names = z.namelist()[:300]
        for name in names:
            folder = tmp_path / "osv" / name[3:7]  # by year, as some exports are laid out
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(z.read(name))
    (tmp_path / "osv" / "broken.json").write_text("{not json")
    source = OsvSource("dir", OsvOptions(tmp_path / "osv"))
    items = list(source.records("go"))
    assert source.stats.malformed == 1
    zip_records = {
        i.record.name: i.record for i in OsvSource("z", OsvOptions(go_zip)).records("go")
    }
    assert {i.record.name for i in items} == {n.removesuffix(".json") for n in names} & set(
        zip_records
    )
    assert all(i.record == zip_records[i.record.name] for i in items)
    resumed = [i.record.name for i in source.records("go", items[100].resume)]
    assert resumed == [i.record.name for i in items[101:]]


def test_a_damaged_archive_is_a_source_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SourceError, match=r"broken\.zip"):
        list(OsvSource("b", OsvOptions(broken)).records("go"))


# -- conversion rules on small records ----------------------------------------------------------

V3_CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
V3_MEDIUM = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N"  # 5.4
V4_HIGH = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N"  # 8.7


def osv(**fields: Any) -> dict[str, Any]:
    return {"id": "OSV-1", "modified": "2024-01-01T00:00:00Z", **fields}


def affected(ecosystem: str, name: str, *ranges: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"package": {"ecosystem": ecosystem, "name": name}, "ranges": list(ranges), **extra}


def semver(*events: dict[str, str], kind: str = "SEMVER") -> dict[str, Any]:
    return {"type": kind, "events": [{"introduced": "0"}, *events]}


def test_one_record_per_platform_with_that_platforms_packages() -> None:
    converted = osv_to_records(
        osv(
            affected=[
                affected(
                    "Debian:11", "openssl", semver({"fixed": "1.1.1k-1+deb11u1"}, kind="ECOSYSTEM")
                ),
                affected(
                    "Ubuntu:22.04:LTS",
                    "openssl",
                    semver({"fixed": "3.0.2-0ubuntu1.6"}, kind="ECOSYSTEM"),
                ),
                affected("Debian:11", "libssl", semver(kind="ECOSYSTEM")),
            ]
        )
    )
    assert set(converted) == {"debian:11", "ubuntu:22.04"}
    assert converted["debian:11"].fixed_in == (
        FixedIn("openssl", "1.1.1k-1+deb11u1"),
        FixedIn("libssl", None),
    )
    assert converted["ubuntu:22.04"].fixed_in == (FixedIn("openssl", "3.0.2-0ubuntu1.6"),)


def test_fixes_on_several_branches_last_affected_and_git_ranges() -> None:
    converted = osv_to_records(
        osv(
            affected=[
                affected(
                    "Go",
                    "stdlib",
                    semver({"fixed": "1.21.8"}, {"introduced": "1.22.0-0"}, {"fixed": "1.22.1"}),
                ),
                affected("Go", "example.com/m", semver({"last_affected": "1.4.0"})),
                affected(
                    "Go",
                    "example.com/git",
                    {
                        "type": "GIT",
                        "repo": "https://x",
                        "events": [{"introduced": "0"}, {"fixed": "abc123"}],
                    },
                ),
            ]
        )
    )
    assert converted["go"].fixed_in == (
        FixedIn("stdlib", "1.21.8"),
        FixedIn("stdlib", "1.22.1"),
        FixedIn("example.com/m", None),
        FixedIn("example.com/git", None),
    )


@pytest.mark.parametrize(
    ("record", "severity"),
    [
        (osv(severity=[{"type": "CVSS_V3", "score": V3_CRITICAL}]), Severity.CRITICAL),
        (osv(severity=[{"type": "CVSS_V3", "score": V3_MEDIUM}]), Severity.MEDIUM),
        (
            osv(
                severity=[
                    {"type": "CVSS_V3", "score": V3_CRITICAL},
                    {"type": "CVSS_V4", "score": V4_HIGH},
                ]
            ),
            Severity.HIGH,
        ),
        (
            osv(
                severity=[{"type": "CVSS_V3", "score": "garbage"}],
                database_specific={"severity": "MODERATE"},
            ),
            Severity.MEDIUM,
        ),
        (osv(database_specific={"severity": "HIGH"}), Severity.HIGH),
        (osv(severity=[{"type": "Ubuntu", "score": "negligible"}]), Severity.NEGLIGIBLE),
        (osv(), Severity.UNKNOWN),
    ],
)
def test_severity_from_cvss_then_database_words(record: dict[str, Any], severity: Severity) -> None:
    record["affected"] = [affected("PyPI", "pkg", semver({"fixed": "1.0"}))]
    assert osv_to_records(record)["pypi"].severity is severity


def test_an_affected_entrys_own_severity_wins() -> None:
    record = osv(
        affected=[
            affected("PyPI", "pkg", semver(), severity=[{"type": "CVSS_V3", "score": V3_CRITICAL}])
        ],
    )
    assert osv_to_records(record)["pypi"].severity is Severity.CRITICAL


def test_details_link_advisory_then_database_url_then_osv_page() -> None:
    packages = [affected("npm", "left-pad", semver())]
    with_advisory = osv(
        affected=packages,
        references=[{"type": "WEB", "url": "https://w"}, {"type": "ADVISORY", "url": "https://a"}],
        database_specific={"url": "https://d"},
    )
    assert osv_to_records(with_advisory)["npm"].details_href == "https://a"
    assert (
        osv_to_records(osv(affected=packages, database_specific={"url": "https://d"}))[
            "npm"
        ].details_href
        == "https://d"
    )
    assert (
        osv_to_records(osv(affected=packages))["npm"].details_href
        == "https://osv.dev/vulnerability/OSV-1"
    )


def test_withdrawn_and_malformed() -> None:
    assert (
        osv_to_records(
            osv(withdrawn="2024-01-01T00:00:00Z", affected=[affected("Go", "m", semver())])
        )
        == {}
    )
    with pytest.raises(ValueError, match="needs an id"):
        osv_to_records({"affected": []})


def test_records_survive_the_wire() -> None:
    record = osv_to_records(osv(aliases=["CVE-2024-1"], affected=[affected("Go", "m", semver())]))[
        "go"
    ]
    legacy, v1 = record.encode_both()
    assert orjson.loads(v1)["aliases"] == ["CVE-2024-1"]
    assert "aliases" not in orjson.loads(legacy)
