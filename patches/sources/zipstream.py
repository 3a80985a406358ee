"""Reading a zip archive's entries in order, one at a time, from any local header onward.

:mod:`zipfile` starts by loading the archive's whole central directory: hundreds of megabytes of
Python objects for an export of a million records. This reader walks the local file headers instead,
so it holds one entry at a time, and it can start at the offset of any local header it reported,
which is what resuming a source needs. It reads stored and deflated entries, with or without data
descriptors, and Zip64 sizes; it checks every entry's CRC-32.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

__all__ = ["ZipEntry", "ZipFormatError", "iter_zip"]

_LOCAL = b"PK\x03\x04"
_CENTRAL = b"PK\x01\x02"
_END = b"PK\x05\x06"
_END64 = b"PK\x06\x06"
_DESCRIPTOR = b"PK\x07\x08"
_HEADER = struct.Struct("<HHHHHIIIHH")
_STORED, _DEFLATED = 0, 8
_CHUNK = 1 << 16


class ZipFormatError(Exception):
    """The archive is damaged or uses a feature this reader does not support."""


class ZipEntry(NamedTuple):
    name: str
    data: bytes
    #: Offset of the local header of this entry, and of the one after it.
    offset: int
    next_offset: int


def iter_zip(path: Path, start: int = 0, max_entry_bytes: int = 64 << 20) -> Iterator[ZipEntry]:
    """The file entries of the archive at ``path``, from the local header at ``start`` on.

    Directories are skipped. An entry larger than ``max_entry_bytes`` once inflated is an error
    (a record that size is a broken or hostile archive), so memory stays bounded.

    Raises:
        ZipFormatError: a damaged archive, an encrypted entry, an unsupported method.
        OSError: the file cannot be read.
    """
    with path.open("rb") as f:
        f.seek(start)
        offset = start
        while True:
            signature = f.read(4)
            if signature in (_CENTRAL, _END, _END64) or (not signature and offset > 0):
                return
            if signature != _LOCAL:
                raise ZipFormatError(f"no local file header at offset {offset}")
            name, data = _read_entry(f, offset, max_entry_bytes)
            next_offset = f.tell()
            if not name.endswith("/"):
                yield ZipEntry(name, data, offset, next_offset)
            offset = next_offset


def _read_entry(f: BinaryIO, offset: int, limit: int) -> tuple[str, bytes]:
    header = f.read(_HEADER.size)
    if len(header) != _HEADER.size:
        raise ZipFormatError(f"truncated local header at offset {offset}")
    _, flags, method, _, _, crc, csize, usize, name_len, extra_len = _HEADER.unpack(header)
    raw_name = f.read(name_len)
    name = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
    extra = f.read(extra_len)
    if flags & 0x1:
        raise ZipFormatError(f"{name}: encrypted entries are not supported")
    if method not in (_STORED, _DEFLATED):
        raise ZipFormatError(f"{name}: compression method {method} is not supported")
    zip64 = csize == 0xFFFFFFFF or usize == 0xFFFFFFFF
    if zip64:
        usize, csize = _zip64_sizes(extra, usize, csize, name)
    if flags & 0x8:  # sizes and CRC follow the data, in a data descriptor
        if method != _DEFLATED:
            raise ZipFormatError(f"{name}: a stored entry with a data descriptor is not supported")
        data = _inflate_until_end(f, name, limit)
        crc = _read_descriptor(f, name, zip64)
    else:
        if usize > limit:
            raise ZipFormatError(f"{name}: {usize} bytes inflated, more than {limit}")
        compressed = f.read(csize)
        if len(compressed) != csize:
            raise ZipFormatError(f"{name}: truncated data")
        data = compressed if method == _STORED else _inflate(compressed, name, limit)
        if len(data) != usize:
            raise ZipFormatError(f"{name}: {len(data)} bytes inflated, header says {usize}")
    if zlib.crc32(data) != crc:
        raise ZipFormatError(f"{name}: CRC-32 mismatch")
    return name, data


def _inflate(compressed: bytes, name: str, limit: int) -> bytes:
    inflater = zlib.decompressobj(-15)
    try:
        data = inflater.decompress(compressed, limit + 1)
    except zlib.error as e:
        raise ZipFormatError(f"{name}: {e}") from None
    if len(data) > limit:
        raise ZipFormatError(f"{name}: more than {limit} bytes inflated")
    return data


def _inflate_until_end(f: BinaryIO, name: str, limit: int) -> bytes:
    """Inflate a deflate stream of unknown length; leave ``f`` just after it."""
    inflater = zlib.decompressobj(-15)
    parts: list[bytes] = []
    size = 0
    while not inflater.eof:
        chunk = f.read(_CHUNK)
        if not chunk:
            raise ZipFormatError(f"{name}: truncated data")
        try:
            part = inflater.decompress(chunk)
        except zlib.error as e:
            raise ZipFormatError(f"{name}: {e}") from None
        size += len(part)
        if size > limit:
            raise ZipFormatError(f"{name}: more than {limit} bytes inflated")
        parts.append(part)
    f.seek(-len(inflater.unused_data), 1)
    return b"".join(parts)


def _read_descriptor(f: BinaryIO, name: str, zip64: bool) -> int:
    size = 8 if zip64 else 4
    first = f.read(4)
    if first == _DESCRIPTOR:
        first = f.read(4)
    rest = f.read(2 * size)
    if len(first) != 4 or len(rest) != 2 * size:
        raise ZipFormatError(f"{name}: truncated data descriptor")
    crc: int = struct.unpack("<I", first)[0]
    return crc


def _zip64_sizes(extra: bytes, usize: int, csize: int, name: str) -> tuple[int, int]:
    position = 0
    while position + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, position)
        body = extra[position + 4 : position + 4 + length]
        if tag == 0x0001:
            values = iter(struct.unpack_from(f"<{len(body) // 8}Q", body))
            if usize == 0xFFFFFFFF:
                usize = next(values, usize)
            if csize == 0xFFFFFFFF:
                csize = next(values, csize)
            return usize, csize
        position += 4 + length
    raise ZipFormatError(f"{name}: Zip64 sizes announced but missing")
