"""Keeping the C allocator from holding freed memory, so RSS follows what the server holds.

glibc gives each thread its own heap ("arena", up to 8 per core). With dozens of request threads
building reply buffers of a few hundred KiB, freed buffers stay in heaps that are never trimmed and
RSS grows past the data held. Two arenas bound that; blocks above 1 MiB come from mmap and go back
when freed. (A lower mmap threshold returned a little more memory but mapped and faulted in every
reply: at batches of 1,000 records it cost 40 % of the throughput; see docs/performance.md.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

__all__ = ["tune_allocator"]

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune_allocator(arenas: int = 2, mmap_threshold: int = 1024 * 1024) -> bool:
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
