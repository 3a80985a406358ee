"""Synthetic sources of realistic records, streamed to disk at a target size (never committed).

Records have the shapes of the real data (a Clair Debian record, an OSV Go record): CVE or GO
names, tracker or advisory links, one to four fixed packages with distribution-style versions,
some unfixed (null), severities spread as trackers spread them. Generation is deterministic.
"""

from __future__ import annotations

import random
from pathlib import Path

import orjson

from patches.model import FixedIn, Severity, Vulnerability

__all__ = ["write_source"]

_PACKAGES = [
    f"{stem}{suffix}"
    for stem in ("openssl", "curl", "libxml2", "glibc", "openssh", "linux", "systemd", "sudo",
                 "nginx", "apache2", "python3", "perl", "git", "bind9", "tiff", "imagemagick",
                 "zlib", "expat", "sqlite3", "postgresql", "libpng", "freetype", "gnutls", "krb5",
                 "xen", "qemu", "firefox-esr", "thunderbird", "chromium", "ffmpeg")
    for suffix in ("", "-dev", "-utils", "2")
]  # fmt: skip


def _record(rng: random.Random, platform: str, index: int) -> Vulnerability:
    year = 2005 + index % 21
    name = f"CVE-{year}-{10000 + index // 21}"
    fixes = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        package = rng.choice(_PACKAGES)
        if rng.random() < 0.08:
            fixes.append(FixedIn(package, None))
        else:
            version = (
                f"{rng.randrange(1, 40)}:{rng.randrange(0, 12)}.{rng.randrange(0, 40)}"
                f".{rng.randrange(0, 30)}-{rng.randrange(1, 9)}+deb12u{rng.randrange(1, 9)}"
            )
            fixes.append(FixedIn(package, version))
    severity = Severity(rng.choices(range(7), weights=(30, 5, 15, 25, 18, 5, 2))[0])
    href = f"https://security-tracker.debian.org/tracker/{name}"
    return Vulnerability(name, platform, href, severity, tuple(fixes))


def write_source(path: Path, size: int, platform: str = "debian:12", seed: int = 1) -> int:
    """Write records of ``platform`` to ``path`` (jsonl) until it holds ``size`` bytes.

    Returns the number of records. Only a chunk of records is in memory at a time.
    """
    rng = random.Random(seed)
    written = count = 0
    with path.open("wb") as f:
        while written < size:
            chunk = b"".join(
                orjson.dumps(_record(rng, platform, count + i).to_wire()) + b"\n"
                for i in range(2000)
            )
            f.write(chunk)
            written += len(chunk)
            count += 2000
    return count
