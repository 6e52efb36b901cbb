"""One core per process with single-threaded XLA: how every process that trains or evaluates
runs (the CLI, its worker processes, Ray tasks and the benchmark).

XLA splits some reductions by its thread count, so thread settings would change the last bits of
a result; pinned this way, the number of processes is a speed setting, never a result's.
"""

from __future__ import annotations

import os

from attnstudy.heap import reuse_freed_memory
from attnstudy.keys import SINGLE_THREAD_XLA


def usable_cores() -> list[int]:
    """The cores this command may use (recorded before `one_core_per_process` pins it)."""
    if os.environ.get("ATTNSTUDY_CORES"):
        return [int(c) for c in os.environ["ATTNSTUDY_CORES"].split(",")]
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def one_core_per_process(core: int | None = None) -> set[int] | None:
    """Pin the calling thread to one core with single-threaded XLA; return the old affinity.

    Call it before jax computes anything in the process: XLA sizes its thread pool then, and
    its threads inherit this thread's affinity. Every run trains and evaluates this way, in the
    CLI and in its workers alike: XLA splits some reductions by its thread count, so thread
    settings would otherwise change the last bits of the results (seen on the smoke profile).
    One core per process is also the fastest use of the machine (see `pipeline.runs.run_all`).
    """
    cores = usable_cores()
    os.environ["ATTNSTUDY_CORES"] = ",".join(map(str, cores))  # for spawned workers
    flags = os.environ.get("XLA_FLAGS", "")
    if SINGLE_THREAD_XLA not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {SINGLE_THREAD_XLA}".strip()
    os.environ.setdefault("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1")  # read at process start
    reuse_freed_memory()  # no fresh pages for XLA's per-step buffers (attnstudy.heap)
    if not hasattr(os, "sched_setaffinity"):
        return None
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cores[0] if core is None else core})
    return previous
