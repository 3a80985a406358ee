"""Deterministic, realistic-looking records, so that a fresh server has something to serve.

Record ``i`` of a platform is computed from ``(seed, platform, i)`` alone, so resuming at any
position costs nothing and two servers with the same seed serve the same lists.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from patches.model import FixedIn, Severity, Vulnerability
from patches.sources.base import Position, Source, SourceError, SourceRecord

__all__ = ["DemoOptions", "DemoSource"]


@dataclass(frozen=True)
class DemoOptions:
    """Configuration keys of a ``kind = "demo"`` source."""

    platforms: tuple[str, ...] = ("debian:12", "ubuntu:22.04", "alpine:3.19")
    records: int = 2000
    seed: int = 1


_PACKAGES = (
    "openssl", "curl", "libxml2", "glibc", "openssh", "linux", "systemd", "sudo", "nginx",
    "apache2", "python3", "perl", "git", "bind9", "tiff", "imagemagick", "zlib", "expat", "sqlite3",
    "postgresql", "libpng", "freetype", "busybox", "musl", "gnutls", "krb5", "libssh2", "vim",
    "tar", "gzip", "xz-utils", "libwebp", "ffmpeg", "samba", "cups", "dbus", "polkit", "qemu",
)  # fmt: skip

#: Weights of severities 0..6, roughly as they occur in distribution trackers.
_SEVERITY_WEIGHTS = (8, 6, 20, 35, 22, 7, 2)


@dataclass(frozen=True)
class _Flavour:
    href: str
    revision: str


_FLAVOURS = {
    "debian": _Flavour("https://security-tracker.debian.org/tracker/{}", "-{r}+deb{major}u{u}"),
    "ubuntu": _Flavour("https://ubuntu.com/security/{}", "-{r}ubuntu0.{u}"),
    "alpine": _Flavour("https://security.alpinelinux.org/vuln/{}", "-r{u}"),
}
_GENERIC = _Flavour("https://nvd.nist.gov/vuln/detail/{}", "")


class DemoSource(Source):
    """Generated records; resume positions are record indexes."""

    kind = "demo"

    def __init__(self, name: str, options: DemoOptions) -> None:
        super().__init__(name)
        self.options = options

    def platforms(self) -> frozenset[str]:
        return frozenset(self.options.platforms)

    def records(self, platform: str, after: Position | None = None) -> Iterator[SourceRecord]:
        if platform not in self.options.platforms:
            return
        if after is not None and not (isinstance(after, int) and after >= 0):
            raise SourceError(f"not a demo resume position: {after!r}")
        for index in range(0 if after is None else after, self.options.records):
            self.stats.count_record()
            yield SourceRecord(self.record(platform, index), index + 1)

    def record(self, platform: str, index: int) -> Vulnerability:
        """Record ``index`` of ``platform``: the same for the same seed, on every machine."""
        rng = random.Random(f"{self.options.seed}:{platform}:{index}")
        family, _, release = platform.partition(":")
        flavour = _FLAVOURS.get(family.lower(), _GENERIC)
        year = 2014 + index % 13
        name = f"CVE-{year}-{1000 + (index // 13) * 5 + rng.randrange(5)}"
        major = release.split(".")[0] or "1"
        fixes = []
        for package in rng.sample(_PACKAGES, rng.choice((1, 1, 1, 1, 2, 2, 3))):
            upstream = f"{rng.randrange(1, 10)}.{rng.randrange(0, 30)}.{rng.randrange(0, 20)}"
            revision = flavour.revision.format(
                r=rng.randrange(1, 6), major=major, u=rng.randrange(1, 9)
            )
            fixes.append(FixedIn(package, upstream + revision))
        severity = Severity(rng.choices(range(7), weights=_SEVERITY_WEIGHTS)[0])
        return Vulnerability(name, platform, flavour.href.format(name), severity, tuple(fixes))
