"""Platform names from Clair namespaces and OSV ecosystems."""

from __future__ import annotations

import pytest

from patches.sources.platforms import clair_platform, osv_platform


@pytest.mark.parametrize(
    ("namespace", "platform"),
    [
        ("debian:11", "debian:11"),
        ("alpine:v3.11", "alpine:3.11"),
        ("alpine:v3.10", "alpine:3.10"),
        ("ubuntu:18.04", "ubuntu:18.04"),
        ("centos:7", "centos:7"),
        ("Debian:9", "debian:9"),
    ],
)
def test_clair_namespaces(namespace: str, platform: str) -> None:
    assert clair_platform(namespace) == platform


@pytest.mark.parametrize(
    ("ecosystem", "platform"),
    [
        ("Debian:11", "debian:11"),
        ("Debian", "debian"),
        ("Ubuntu:22.04:LTS", "ubuntu:22.04"),
        ("Ubuntu:23.10", "ubuntu:23.10"),
        ("Ubuntu:Pro:18.04:LTS", "ubuntu-pro:18.04"),
        ("Alpine:v3.19", "alpine:3.19"),
        ("Go", "go"),
        ("PyPI", "pypi"),
        ("npm", "npm"),
        ("crates.io", "crates.io"),
        ("Red Hat:rhel_aus:8.4::appstream", "red-hat:rhel_aus:8.4::appstream"),
        ("Rocky Linux:9", "rocky-linux:9"),
    ],
)
def test_osv_ecosystems(ecosystem: str, platform: str) -> None:
    assert osv_platform(ecosystem) == platform


def test_overrides_win() -> None:
    assert osv_platform("Ubuntu:Pro:18.04:LTS", {"Ubuntu:Pro:18.04:LTS": "ubuntu:18.04"}) == (
        "ubuntu:18.04"
    )
    assert clair_platform("centos:7", {"centos:7": "rhel:7"}) == "rhel:7"
