"""The benchmark's timing: contenders taken in turns, each timed after one untimed call."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import pytest

from attnstudy.bench.bench import interleaved


def test_a_switch_between_contenders_is_not_timed():
    """A contender whose first call after another's is slow (fresh pages after the other
    framework's step) is timed at its steady speed."""
    last = {"who": None}

    def contender(name: str, steady: float, after_switch: float):
        def call():
            time.sleep(after_switch if last["who"] != name else steady)
            last["who"] = name
        return call

    times = interleaved({"jax": contender("jax", 0.001, 0.03),
                         "torch": contender("torch", 0.002, 0.002)}, repeats=5)
    assert {k: len(v) for k, v in times.items()} == {"jax": 5, "torch": 5}
    assert statistics.median(times["jax"]) < 0.015  # the 30 ms switch cost stays out
    assert statistics.median(times["torch"]) >= 0.002


def _row(model: str, step_ms: float, forward=100.0, backward=300.0, update=5.0) -> dict:
    from attnstudy.bench.tables import step_over_stages

    row = {"model": model, "precision": "bfloat16", "jax_ms": step_ms,
           "stages": {"jax": {"forward_ms": forward, "backward_ms": backward,
                              "update_ms": update}}}
    return row | {"step_over_stages": step_over_stages(row)}


def test_a_step_slower_than_its_stages_is_flagged():
    """The mhsa anomaly of issue #25 (a 750 ms step taking 1,130+ ms in some processes) is what
    `just bench` flags: a step more than 10% slower than its forward + backward + update."""
    from attnstudy.bench.tables import slow_steps

    rows = [_row("bilstm", 420.0), _row("mhsa", 1130.0, 250.0, 490.0, 10.0)]
    assert rows[0]["step_over_stages"] == 420.0 / 405.0
    flagged = slow_steps(rows)
    assert len(flagged) == 1 and flagged[0].startswith("mhsa bfloat16: step 1.51x")
    assert slow_steps([_row("mhsa", 1.09 * 750.0, 250.0, 490.0, 10.0)]) == []


_FAULTS_SCRIPT = """
import ctypes, resource, sys
from attnstudy.heap import reuse_freed_memory
if sys.argv[1] == "reuse":
    assert reuse_freed_memory()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
size = 512 * 2**20  # like XLA's per-call temporary buffer: malloc'd, filled, freed, every step
faults = []
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    p = libc.malloc(size)
    ctypes.memset(p, 1, size)
    libc.free(p)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(faults[-1])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
def test_a_freed_large_buffer_is_reused_without_page_faults():
    """`heap.reuse_freed_memory` (the mhsa anomaly's fix): the third malloc/fill/free of a
    512 MB buffer faults no pages in; glibc's default faults every page in again each time
    (131k faults with 4 KiB pages, 256 if the kernel gives huge pages to every mapping)."""
    def faults(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", _FAULTS_SCRIPT, mode], check=True,
                             capture_output=True, text=True, env=os.environ | {
                                 "GLIBC_TUNABLES": ""})
        return int(out.stdout.strip())

    assert faults("default") >= 200
    assert faults("reuse") < 50
