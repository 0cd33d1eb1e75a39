"""Reuse freed memory instead of handing it back to the kernel (glibc's malloc only).

glibc serves a large block (over its mmap threshold, or over 64 MB in a thread's own arena) with
fresh pages and unmaps it when it is freed, so every large torch CPU tensor is zero-filled page
by page as it is first written. Griffin-Lim on 60 s of stereo allocates 85 MB spectra every
iteration: 2.3 M page faults, more than half of its CPU time. One arena and high mmap and trim
thresholds keep those blocks in the heap for the next tensor (what preloading jemalloc or
tcmalloc would do). The price: a process keeps its peak heap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # mallopt parameters (malloc.h)
LARGEST = 2**31 - 1


def reuse_freed_memory() -> bool:
    """Tune glibc's malloc for large tensors; False (and nothing changed) elsewhere. Call before
    the threads that allocate tensors start: a thread keeps the arena it first got."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # not glibc (macOS, musl without mallopt, Windows)
        return False
    done = all([mallopt(parameter, value) == 1 for parameter, value in (
        (M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, LARGEST), (M_TRIM_THRESHOLD, LARGEST))])
    if not done:
        log.debug("mallopt refused a setting: large tensors may still cost page faults")
    return done
