"""The benchmark's timing: contenders taken in turns, each timed after one untimed call."""

from __future__ import annotations

import statistics
import time

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
