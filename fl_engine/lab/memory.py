"""Giving a finished lab run's memory back to the system (issue 21).

A run at 8,000 nodes allocates and frees hundreds of megabytes of tensors a round (minibatch
windows, gradients, the models sent). Dropping the last reference frees them to the C allocator,
but glibc keeps freed memory in its arenas (one per thread that ever allocated, so one per lab
worker thread) and the process's resident size stays near its peak: measured 1.1-1.5 GiB kept
after runs ended. `release_memory` collects what only cycles still hold and asks glibc to hand
every arena's free pages back (`malloc_trim(0)`); elsewhere (no glibc) it only collects.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache
from typing import Any


@cache
def _libc() -> Any | None:
    """glibc, if this process runs on it (None on musl, macOS, Windows)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


def release_memory() -> bool:
    """Collect garbage, then return the allocator's free pages to the system; True if glibc
    trimmed (its answer: some memory was released)."""
    gc.collect()
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


def resident_mib() -> float:
    """This process's resident memory now, in MiB (Linux `/proc/self/statm`; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
