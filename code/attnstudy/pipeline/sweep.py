"""The v3 settings sweep's declaration and its selection rule (pure: no training, no data).

paper/sweep_v3.toml declares the stages (review length, learning rate, embedding dropout), each
a grid, the models it is measured on and whether one value is shared by every model ("shared":
the best mean score over the stage's models) or chosen per model ("per_model"). A score is a
sweep run's selected validation point (`training.loop.selection_key` under train.select:
highest validation accuracy, ties to the lower loss). Nothing here can see the test split:
the inputs are validation records only.

A choice at the lowest or highest grid value is flagged (`at_edge`): the grid did not bracket
the optimum, and the protocol extends it on that side before the retrain.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from attnstudy.config import MODEL_NAMES, ROOT
from attnstudy.errors import UserError

SWEEP = ROOT / "paper" / "sweep_v3.toml"
SETTINGS = ("max_len", "learning_rate", "embed_dropout")
SCOPES = ("shared", "per_model")


@dataclass(frozen=True)
class Stage:
    setting: str  # one of SETTINGS
    values: tuple[float, ...]  # the grid, increasing
    models: tuple[str, ...]
    scope: str  # "shared" or "per_model"


@dataclass(frozen=True)
class Sweep:
    seed: int
    metric: str
    stages: tuple[Stage, ...]
    min_seeds: int
    goal_seeds: int


def load_sweep(path: Path | str = SWEEP) -> Sweep:
    """The declared sweep, checked; anything malformed is a one-line UserError naming the key."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: missing; the v3 sweep is declared there") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: not valid TOML ({e})") from None

    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise UserError(f"{path}: {msg}")

    sw, seeds = raw.get("sweep"), raw.get("seeds")
    need(isinstance(sw, dict) and isinstance(seeds, dict), "needs [sweep] and [seeds] tables")
    need(sw.get("metric") == "val_accuracy", "sweep.metric must be \"val_accuracy\"")
    need(isinstance(sw.get("seed"), int), "sweep.seed must be an integer")
    order = sw.get("stages")
    need(isinstance(order, list) and sorted(order) == sorted(SETTINGS),
         f"sweep.stages must list each of {', '.join(SETTINGS)} once")
    stages = []
    for name in order:
        st = sw.get(name)
        need(isinstance(st, dict), f"missing [sweep.{name}]")
        values = st.get("values")
        need(isinstance(values, list) and len(values) >= 3
             and all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0
                     for v in values) and values == sorted(set(values)),
             f"sweep.{name}.values must be >= 3 positive, increasing numbers")
        models = tuple(MODEL_NAMES) if st.get("models") == "all" else st.get("models")
        need(isinstance(models, list | tuple) and models and set(models) <= set(MODEL_NAMES),
             f"sweep.{name}.models must be \"all\" or known model names")
        need(st.get("scope") in SCOPES, f"sweep.{name}.scope must be one of {', '.join(SCOPES)}")
        need(st.get("ties") == "smaller", f"sweep.{name}.ties must be \"smaller\"")
        stages.append(Stage(name, tuple(values), tuple(models), st["scope"]))
    lo, hi = seeds.get("minimum"), seeds.get("goal")
    need(isinstance(lo, int) and isinstance(hi, int) and 5 <= lo <= hi,
         "seeds.minimum and seeds.goal must be integers with 5 <= minimum <= goal")
    return Sweep(sw["seed"], sw["metric"], tuple(stages), lo, hi)


def score_key(point: dict) -> tuple[float, float]:
    """Sort key of a sweep run's selected validation point: the smallest is the best."""
    return (-point["val_accuracy"], point["val_loss"])


def _grid(stage: Stage, model: str, points: dict) -> list[tuple[float, dict]]:
    missing = [v for v in stage.values if (model, v) not in points]
    if missing:
        raise UserError(f"sweep {stage.setting}: no validation result for {model} at "
                        f"{', '.join(map(str, missing))}")
    return [(v, points[model, v]) for v in stage.values]


def _choice(stage: Stage, scored: list[tuple[float, tuple]], scores: dict) -> dict:
    """The best (value, key) of `scored`, ties to the smaller value, and its edge flag."""
    value = min(scored, key=lambda vk: (vk[1], vk[0]))[0]
    edge = ("low" if value == stage.values[0] else "high" if value == stage.values[-1]
            else None)
    return {"value": value, "at_edge": edge is not None, "edge": edge, "scores": scores}


def select(stage: Stage, results: list[dict], applies_to: tuple[str, ...] | None = None) -> dict:
    """The stage's choice from its sweep runs' validation records.

    results: one record per run, {"model", "value" (the grid value), "val_accuracy",
    "val_loss"} (the run's selected validation point). Returns {model: {"value", "at_edge",
    "edge" ("low", "high" or None), "scores" {value: val_accuracy}}} for a per_model stage, and
    for a shared stage the same single choice under every model of `applies_to` (default: the
    stage's models), whose "scores" hold the mean over the stage's models. Raises UserError
    when a grid point of a stage model is missing.
    """
    points = {}
    for r in results:
        key = (r["model"], float(r["value"]))
        if key in points:
            raise UserError(f"sweep {stage.setting}: two results for {key[0]} at {key[1]}")
        points[key] = r
    if stage.scope == "per_model":
        out = {}
        for m in stage.models:
            grid = _grid(stage, m, points)
            out[m] = _choice(stage, [(v, score_key(p)) for v, p in grid],
                             {v: p["val_accuracy"] for v, p in grid})
        return out
    grids = [_grid(stage, m, points) for m in stage.models]
    n = len(grids)
    mean = [(v, (-sum(g[i][1]["val_accuracy"] for g in grids) / n,
                 sum(g[i][1]["val_loss"] for g in grids) / n))
            for i, v in enumerate(stage.values)]
    choice = _choice(stage, mean, {v: -k[0] for v, k in mean})
    return dict.fromkeys(applies_to or stage.models, choice)


def bucket_edges(max_len: int, edges: tuple[int, ...]) -> tuple[int, ...]:
    """The batch widths for a review length: the declared edges below it, then max_len."""
    return tuple(e for e in edges if e < max_len) + (max_len,)


def log_spaced(values) -> bool:
    """True when a grid's consecutive ratios are equal to within 10% (a log grid)."""
    ratios = [math.log(b / a) for a, b in zip(values, values[1:], strict=False)]
    return all(abs(r - ratios[0]) <= 0.1 * ratios[0] for r in ratios)
