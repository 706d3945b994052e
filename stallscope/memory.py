"""Keep the process's resident memory close to what it holds.

A capture arrives from worker processes as many column arrays of a few hundred KB to a few MB.
glibc serves blocks that large with mmap and gives them back when freed, but each such free
raises its mmap threshold, so the next arrays of that size come from the heap instead and stay
resident as holes once freed: on a 1 GB log that was ~100 MB of peak RSS holding nothing.
Fixing the threshold keeps large blocks on mmap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
MMAP_THRESHOLD_BYTES = 256 << 10


def keep_large_blocks_unmapped() -> bool:
    """Fix glibc's mmap threshold (Linux with glibc only); whether it was set."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # another C library (musl): nothing to tune
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
