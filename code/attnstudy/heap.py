"""Heap settings for every process that runs XLA steps (issue #25: the mhsa step anomaly).

XLA's CPU runtime mallocs each call's temporary buffer and frees it when the call ends: one
allocation of the executable's `memory_analysis().temp_size_in_bytes`, 1.2 GB for the mhsa
bfloat16 training step at T=400 (bilstm: 0.4 GB). glibc serves a request that large with a fresh
`mmap` and unmaps it on `free`, so every step faults its whole temporary buffer in again and the
kernel zeroes every page of it: measured on AMD EPYC (one pinned core, single-threaded XLA), an
mhsa bf16 step spent as much CPU time in the kernel as in XLA's own code (342k page faults per
step with 4 KiB pages; 1.4k with glibc's huge pages, at no lower cost). What that costs depends
on the kernel's state (free huge pages, compaction, the other processes on the host), not on
the program: the likely reason the same executable ran at 750 ms in one process and
1,130-1,300 ms in others (not reproduced here: the machine was shared).

`reuse_freed_memory()` makes glibc serve large requests from the heap and keep freed memory
there, so a step reuses the pages the previous step had mapped: no page faults after the first
step (a jitted call with a 512 MB temporary buffer: 131k page faults per call before, 0 after).
All three settings are needed: XLA runs a call on its own threads, and a thread's arena other
than the main one falls back to `mmap` for a large request whatever `M_MMAP_MAX` says, so every
thread must share the main arena (`M_ARENA_MAX` 1; XLA runs single-threaded here anyway).

Numbers are unaffected (only where buffers live changes); the price is that a process
keeps its peak heap (about 2 GB for a T=400 mhsa run) until it exits.
"""

from __future__ import annotations

import ctypes
import sys

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
KEEP = 2**31 - 1  # bytes of free memory at the heap's top glibc may keep (mallopt takes an int)


def reuse_freed_memory() -> bool:
    """Tell glibc malloc to use one arena, never to mmap a chunk and never to trim the heap;
    True if set.

    A no-op returning False where there is no glibc `mallopt` (macOS, musl). Call it early in
    a process, before jax starts its threads (a thread keeps the arena it first used); it holds
    for the process's lifetime.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(k, v) == 1 for k, v in ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0),
                                                (M_TRIM_THRESHOLD, KEEP)))
