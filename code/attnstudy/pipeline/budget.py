"""How many seeds the v3 retrain trains: the rule of paper/sweep_v3.toml [seeds], applied to
the sweep's own runs before any final run (pipeline.sweep.run_sweep records the result).

    seed_count(sweep, seeds, stages, final_runs, base_len) -> {"seeds", "goal_fits", ...}
"""

from __future__ import annotations

import statistics
from typing import Protocol


class Rule(Protocol):  # pipeline.sweep.Sweep, as far as the rule reads it
    min_seeds: int
    goal_seeds: int
    budget_hours: float


def seed_count(sw: Rule, seeds: tuple[int, ...], stages: list[dict],
               final_runs: dict[str, str], base_len: int | None = None) -> dict:
    """How many of the config's `seeds` the retrain trains, decided before any final run by
    the rule of paper/sweep_v3.toml [seeds]: the goal when the sweep plus the goal's seeds fit
    `budget_hours` of wall time on two workers, else the minimum. A run's time is the median
    training seconds (evaluation excluded) of its model's sweep runs at its review length: the
    learning rate and dropout leave the work unchanged (every run trains the same steps), and a
    median is not moved by one run that a pause or a busy machine stretched. A run that two
    stages share (the run cache reused it) counts once. `base_len`: the review length of stages
    before the length stage. A config listing fewer than `minimum` seeds (a preview profile)
    keeps its seeds."""
    chosen, runs = _timed(stages, base_len)
    groups: dict[tuple[str, int | None], list[float]] = {}
    for m, n, secs in runs:
        groups.setdefault((m, n), []).append(secs)
    cost = {k: statistics.median(v) for k, v in groups.items()}
    per_model = {m: cost[(m, chosen)] for m in final_runs}
    sweep_h = sum(cost[(m, n)] for m, n, _ in runs) / 2 / 3600
    retrain_h = sum(per_model.values()) * (sw.goal_seeds - 1) / 2 / 3600
    fits = sweep_h + retrain_h <= sw.budget_hours
    count = (len(seeds) if len(seeds) < sw.min_seeds
             else min(len(seeds), sw.goal_seeds if fits else sw.min_seeds))
    return {"minimum": sw.min_seeds, "goal": sw.goal_seeds, "budget_hours": sw.budget_hours,
            "sweep_hours": sweep_h, "goal_retrain_hours": retrain_h, "goal_fits": fits,
            "run_seconds": per_model, "seeds": list(seeds[:count]),
            "basis": "median training seconds of each model's sweep runs at the review "
                     "length, two workers, evaluation excluded"}


def _timed(stages: list[dict], base_len: int | None = None
           ) -> tuple[int | None, list[tuple[str, int | None, float]]]:
    """The review length the sweep chose (`base_len` without a length stage) and each distinct
    sweep run (by run key) as (model, its review length, training seconds)."""
    st = next((s for s in stages if s.get("setting") == "max_len"), None)
    chosen = int(next(iter(st["choices"].values()))["value"]) if st else base_len
    runs, length = {}, base_len
    for s in stages:
        for p in s["runs"]:
            runs.setdefault(p["run_key"], (p["model"], int(p["value"]) if s is st else length,
                                           p["train_seconds"]))
        length = chosen if s is st else length
    return chosen, list(runs.values())
