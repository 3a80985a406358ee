"""The streaming zip reader, against archives written by Python's own zipfile."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from patches.sources.zipstream import ZipFormatError, iter_zip

ENTRIES = {
    f"REC-{i:04d}.json": (b'{"id": "REC-%04d", "pad": "%s"}' % (i, b"x" * i)) for i in range(60)
}


def write_zip(path: Path, *, method: int = zipfile.ZIP_DEFLATED, streamed: bool = False) -> Path:
    """An archive of ENTRIES; ``streamed`` writes to an unseekable stream (data descriptors)."""
    if streamed:
        buffer = io.BytesIO()

        class Unseekable(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, b: bytes) -> int:  # type: ignore[override]
                return buffer.write(b)

        with zipfile.ZipFile(Unseekable(), "w", compression=method) as z:
            for name, data in ENTRIES.items():
                with z.open(name, "w") as member:
                    member.write(data)
        path.write_bytes(buffer.getvalue())
    else:
        with zipfile.ZipFile(path, "w", compression=method) as z:
            z.mkdir("folder")
            for name, data in ENTRIES.items():
                z.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("method", "streamed"),
    [(zipfile.ZIP_DEFLATED, False), (zipfile.ZIP_STORED, False), (zipfile.ZIP_DEFLATED, True)],
)
def test_reads_every_entry_in_order(tmp_path: Path, method: int, streamed: bool) -> None:
    path = write_zip(tmp_path / "a.zip", method=method, streamed=streamed)
    if streamed:
        assert all(i.flag_bits & 0x8 for i in zipfile.ZipFile(path).infolist())
    got = {e.name: e.data for e in iter_zip(path)}
    assert got == ENTRIES
    assert list(got) == list(ENTRIES)


@pytest.mark.parametrize("streamed", [False, True])
def test_starts_at_any_entry_it_reported(tmp_path: Path, streamed: bool) -> None:
    path = write_zip(tmp_path / "a.zip", streamed=streamed)
    entries = list(iter_zip(path))
    for cut in (1, 30, 59):
        rest = [e.name for e in iter_zip(path, entries[cut].offset)]
        assert rest == [e.name for e in entries[cut:]]
    assert list(iter_zip(path, entries[-1].next_offset)) == []


def test_offsets_match_zipfiles_own(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "a.zip")
    offsets = {i.filename: i.header_offset for i in zipfile.ZipFile(path).infolist()}
    assert all(offsets[e.name] == e.offset for e in iter_zip(path))


def test_a_damaged_entry_is_an_error(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "a.zip", method=zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    at = raw.index(b"REC-0003", raw.index(b"REC-0003") + 1)  # inside the stored data
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ZipFormatError, match="CRC-32 mismatch"):
        list(iter_zip(path))


def test_an_oversized_entry_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "a.zip")
    with pytest.raises(ZipFormatError, match="more than 40"):
        list(iter_zip(path, max_entry_bytes=40))


def test_not_a_zip_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(b"this is not an archive")
    with pytest.raises(ZipFormatError, match="no local file header at offset 0"):
        list(iter_zip(path))
