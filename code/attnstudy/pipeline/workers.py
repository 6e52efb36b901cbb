"""Process-per-core execution of training runs.

XLA's CPU backend uses two cores poorly for these models (small per-time-step matmuls), so the
pipeline trains several runs side by side instead: one worker process per core, each pinned to
its core with single-threaded XLA (`attnstudy.cores`). The CLI process that trains alone is set
up the same way, which keeps every result independent of the number of workers (bit for bit).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from attnstudy.config import Config
from attnstudy.cores import one_core_per_process, usable_cores
from attnstudy.errors import UserError

BAR_ROW = 0  # terminal row of this process's progress bar (one per worker)
# Relative cost of a run (full profile: mhsa's step takes about twice the others'); within a
# seed, the workers start the costliest runs first.
RELATIVE_COST = {"mhsa": 2.0}


def worker_count(requested: int | None, pending: int) -> int:
    """Training processes to use: `requested`, else $ATTNSTUDY_WORKERS, else one per core."""
    value = requested if requested is not None else (
        os.environ.get("ATTNSTUDY_WORKERS") or len(usable_cores()))
    try:
        n = int(value)
    except ValueError:
        raise UserError(f"ATTNSTUDY_WORKERS must be a whole number, got {value!r}") from None
    if n < 1:
        raise UserError(f"the number of workers must be at least 1, got {n}")
    return max(1, min(n, pending))


def cost_order(pending: list) -> list:
    """Seed by seed in seed order, the costliest model first: the workers start on different
    models (the second to need a model loads its compiled steps from the persistent cache
    instead of compiling them again), long runs start early, and short ones even out the end.
    Seed order, whatever finished before: a retrain cut short, or moved to another machine
    (pipeline.carry), holds the same seeds of every model, never one model's seeds from one
    CPU and another model's from another."""
    return sorted(pending, key=lambda ms: (ms[1], -RELATIVE_COST.get(ms[0], 1.0)))


def run_in_workers(job, cfg: Config, pending: list, n: int) -> None:
    """`job(cfg, model, seed, position)` for every (model, seed) of `pending`, in `n`
    single-threaded worker processes (`job` must be a module-level function)."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    order = cost_order(pending)
    ctx = mp.get_context("spawn")  # a fresh interpreter with the environment set above
    slots = ctx.Queue()
    for i in range(n):
        slots.put(i)
    with ProcessPoolExecutor(n, mp_context=ctx, initializer=_worker_init,
                             initargs=(slots, os.getpid())) as pool:
        futures = [pool.submit(job, cfg, m, s, f"[{i + 1}/{len(order)}] ")
                   for i, (m, s) in enumerate(order)]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f.exception() for f in done if f.exception() is not None), None)
        if failed is not None:
            for other in futures:
                other.cancel()  # runs already training finish and are kept
            if isinstance(failed, BrokenProcessPool):
                raise UserError("a training worker died (out of memory?); finished runs and "
                                "checkpoints are kept: rerun to resume, or use --workers 1")
            raise failed


def die_with_parent(parent: int) -> None:
    """End this process when its parent `parent` dies, even by `kill -9`.

    An orphaned pool worker would otherwise sleep on its task queue (whose writing end it holds
    itself, so it never reads end of file) with its gigabyte of memory, until killed by hand.
    Linux delivers the signal when the *thread* that started the process ends: the pool starts
    its workers from the thread that submits, here the driver's main thread.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    else:  # no parent-death signal: watch for being adopted by another process
        def watch():
            while os.getppid() == parent:
                time.sleep(1)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def _worker_init(slots, parent: int) -> None:
    global BAR_ROW
    die_with_parent(parent)
    slot = BAR_ROW = slots.get()
    cores = usable_cores()
    one_core_per_process(cores[slot % len(cores)])
    from attnstudy.models.inference import enable_compile_cache

    enable_compile_cache()
