"""Keeping the C allocator from holding freed memory, so RSS follows what the server holds.

glibc gives each thread its own heap ("arena", up to 8 per core) and raises its threshold for
serving large blocks from mmap each time one is freed. In a server whose request threads build
reply buffers of a few hundred KiB, both keep freed buffers in heaps that are never trimmed: RSS
grows well past the data held (measured: 13 MiB on the memory benchmark). Two arenas, and a fixed
128 KiB threshold (large blocks always mmap'd, so given back when freed), avoid that.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

__all__ = ["tune_allocator"]

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune_allocator(arenas: int = 2, mmap_threshold: int = 128 * 1024) -> bool:
    """Apply the settings if the C library is glibc (call before starting threads).

    Returns:
        Whether they were applied; elsewhere the allocator is left as it is.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    applied = bool(mallopt(_M_ARENA_MAX, arenas)) and bool(
        mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
    )
    if not applied:
        log.warning("the C allocator refused the memory settings; RSS may exceed the budget")
    return applied
