"""The demo source: deterministic and realistic."""

from __future__ import annotations

import re

from patches.model import Severity
from patches.sources.demo import DemoOptions, DemoSource

OPTIONS = DemoOptions(platforms=("debian:12", "ubuntu:22.04", "alpine:3.19"), records=300)


def test_the_same_seed_gives_the_same_records_and_another_seed_others() -> None:
    a = [r.record for r in DemoSource("a", OPTIONS).records("debian:12")]
    b = [r.record for r in DemoSource("b", OPTIONS).records("debian:12")]
    c = DemoSource("c", DemoOptions(OPTIONS.platforms, 300, seed=2))
    assert a == b
    assert a != [r.record for r in c.records("debian:12")]


def test_records_look_like_each_distributions_own() -> None:
    source = DemoSource("d", OPTIONS)
    styles = {
        "debian:12": (r"^https://security-tracker\.debian\.org/tracker/", r"\+deb12u\d$"),
        "ubuntu:22.04": (r"^https://ubuntu\.com/security/", r"ubuntu0\.\d$"),
        "alpine:3.19": (r"^https://security\.alpinelinux\.org/vuln/", r"-r\d$"),
    }
    for platform, (href, version) in styles.items():
        records = [item.record for item in source.records(platform)]
        assert len(records) == 300
        assert len({r.name for r in records}) == 300  # names are unique within a platform
        for record in records:
            assert re.fullmatch(r"CVE-\d{4}-\d{4,}", record.name)
            assert re.match(href, record.details_href)
            assert record.details_href.endswith(record.name)
            assert 1 <= len(record.fixed_in) <= 3
            assert all(re.search(version, f.version) for f in record.fixed_in)
        assert {r.severity for r in records} >= {Severity.LOW, Severity.MEDIUM, Severity.HIGH}


def test_an_unknown_platform_yields_nothing() -> None:
    assert list(DemoSource("d", OPTIONS).records("windows:95")) == []
