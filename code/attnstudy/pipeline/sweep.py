"""The v3 settings sweep: its declaration, its selection rule (pure: no training, no data) and
its runner (`run_sweep`, `attnstudy sweep`), which trains seed-0 runs through pipeline.runs.

paper/sweep_v3.toml declares the stages (review length, learning rate, embedding dropout), each
a grid, the models it is measured on and whether one value is shared by every model ("shared":
the best mean score over the stage's models) or chosen per model ("per_model"). A score is a
sweep run's selected validation point (`training.loop.selection_key` under train.select:
highest validation accuracy, ties to the lower loss). Nothing here can see the test split:
the inputs are validation records only.

A choice at the lowest or highest grid value is flagged (`at_edge`): the grid did not bracket
the optimum. For a per-model stage the runner then trains that model one grid point further on
that side (`extension`: the grid's edge ratio on a log grid, its edge step on a linear one) and
chooses again over the extended grid; a choice still at the (new) edge stays flagged, and a shared
stage (the review length) is flagged only: it was declared so before any v3 run, and the record
says what the length cuts (`longer_than`: the share of training reviews longer than each grid
length), so a reader can judge the flag.

The runner writes build/sweep/sweep.json (every grid point's validation record, the choices,
the edge flags) and build/sweep/sweep_settings.toml, the chosen settings as
[profiles.<profile>...] tables that the retrain lays over its config: `attnstudy build --config
paper/experiment_v3.toml --settings build/sweep/sweep_settings.toml`. That build copies the
sweep record into its results folder (`attach`), so the published results carry the sweep that
chose their settings; until then the sweep stays out of the results the report shows. A run at
a chosen value has the key of the retrain's run of that model and seed (`Config.for_model`), so
the build reuses it from the run cache. How many seeds the retrain trains is decided from the
sweep's run times by pipeline.budget.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from attnstudy.config import MODEL_NAMES, ROOT, Config, from_dict
from attnstudy.errors import UserError
from attnstudy.files import read_toml
from attnstudy.pipeline.budget import seed_count

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
    budget_hours: float = 12.0


def load_sweep(path: Path | str = SWEEP) -> Sweep:
    """The declared sweep, checked; anything malformed is a one-line UserError naming the key."""
    path = Path(path)
    raw = read_toml(path, "the v3 sweep")

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
    budget = seeds.get("budget_hours")
    need(isinstance(budget, int | float) and not isinstance(budget, bool) and budget > 0,
         "seeds.budget_hours must be a positive number")
    return Sweep(sw["seed"], sw["metric"], tuple(stages), lo, hi, float(budget))


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


# the values a setting can take (an extension outside them is not trained)
DOMAIN = {"learning_rate": (0.0, math.inf), "embed_dropout": (0.0, 1.0)}


def extension(stage: Stage, edge: str | None) -> float | None:
    """The grid point one step beyond `edge` ("low" or "high") of a per-model stage: the edge
    value divided (low) or multiplied (high) by its neighbour ratio on a log grid, minus or plus
    the edge step on a linear grid, to one significant digit; None for a shared stage, no edge,
    or a value outside the setting's domain (lower bound included, upper excluded)."""
    v = stage.values
    if edge is None or stage.scope != "per_model" or stage.setting not in DOMAIN:
        return None
    if log_spaced(v):
        nxt = v[0] * v[0] / v[1] if edge == "low" else v[-1] * v[-1] / v[-2]
    else:
        nxt = v[0] - (v[1] - v[0]) if edge == "low" else v[-1] + (v[-1] - v[-2])
    nxt = float(f"{nxt:.1g}")
    lo, hi = DOMAIN[stage.setting]
    return nxt if lo <= nxt < hi and nxt not in v else None


def bucket_edges(max_len: int, edges: tuple[int, ...]) -> tuple[int, ...]:
    """The batch widths for a review length: the declared edges below it, then max_len."""
    return tuple(e for e in edges if e < max_len) + (max_len,)


def log_spaced(values) -> bool:
    """True when a grid's consecutive ratios are equal to within 10% (a log grid)."""
    ratios = [math.log(b / a) for a, b in zip(values, values[1:], strict=False)]
    return all(abs(r - ratios[0]) <= 0.1 * ratios[0] for r in ratios)


# ----------------------------------------------------------------------------- the runner

# where a per-model setting lives in the config: (section, per-model table)
TABLES = {"learning_rate": ("train", "learning_rate_by_model"),
          "embed_dropout": ("model", "embed_dropout_by_model")}


def apply(cfg: Config, settings: dict[str, dict[str, float]]) -> Config:
    """`cfg` with chosen settings {setting: {model: value}} (max_len: one value for every
    model, with the batch widths cut to it; the others go into the per-model tables)."""
    d = cfg.to_dict()
    lengths = set((settings.get("max_len") or {}).values())
    if len(lengths) > 1:
        raise UserError(f"sweep: one max_len for every model, not {sorted(lengths)}")
    if lengths:
        n = int(lengths.pop())
        d["data"]["max_len"] = n
        d["data"]["bucket_edges"] = list(bucket_edges(n, tuple(cfg.data.bucket_edges)))
    for setting, (section, table) in TABLES.items():
        if settings.get(setting):
            d[section][table] = {**d[section].get(table, {}), **settings[setting]}
    return from_dict(d, "the sweep's config")


def selected_point(record: dict) -> dict:
    """A trained run's selected validation point (the one at its best step)."""
    return next(p for p in record["curve"] if p["step"] == record["best_step"])


def _points(cfg: Config, settings: dict, value: float, which: list[str], seed: int,
            n_workers: int | None, extended: bool) -> list[dict]:
    """Train (or find in the run cache) seed `seed` of models `which` under `settings`, and
    return each run's selected validation point at grid value `value`."""
    from attnstudy.pipeline import runs

    out = []
    for rec in runs.run_all(apply(cfg, settings), which, [seed], n_workers, evaluate=False):
        p = selected_point(rec)
        out.append({"model": rec["model"], "value": value, "run_key": rec["run_key"],
                    "best_step": rec["best_step"], "steps": rec["steps"],
                    "train_seconds": rec["train_seconds"],
                    "val_accuracy": p["val_accuracy"], "val_loss": p["val_loss"],
                    "extended": extended})
    return out


def run_sweep(cfg: Config, sw: Sweep, n_workers: int | None = None) -> dict:
    """Train every stage's grid (seed `sw.seed`, earlier stages' choices applied), choose on
    validation, and return the sweep record (`write_sweep` stores it). Stage models outside
    cfg.train.models are left out; the runs train only (no evaluation: the test split is
    never loaded into the runs' dataset)."""
    from attnstudy.data.encode import load_dataset
    from attnstudy.pipeline import cache

    models = tuple(cfg.train.models)
    chosen: dict[str, dict[str, float]] = {}
    stages = []
    for stage in sw.stages:
        on = tuple(m for m in stage.models if m in models)
        if not on:
            raise UserError(f"sweep {stage.setting}: none of its models "
                            f"({', '.join(stage.models)}) is in train.models")
        if stage.setting == "max_len" and stage.scope != "shared":
            raise UserError("sweep max_len: one review length is shared by every model")
        points = []
        for v in stage.values:
            points += _points(cfg, {**chosen, stage.setting: dict.fromkeys(on, v)}, v, list(on),
                              sw.seed, n_workers, extended=False)
        local = Stage(stage.setting, stage.values, on, stage.scope)
        choice = select(local, points, applies_to=models if stage.scope == "shared" else None)
        # a per-model choice at an edge: one point further on that side, then choose again
        beyond: dict[float, list[str]] = {}
        for m in on if stage.scope == "per_model" else ():
            nxt = extension(local, choice[m]["edge"])
            if nxt is not None:
                beyond.setdefault(nxt, []).append(m)
        for v, which in sorted(beyond.items()):
            points += _points(cfg, {**chosen, stage.setting: dict.fromkeys(which, v)}, v, which,
                              sw.seed, n_workers, extended=True)
            for m in which:
                grid = Stage(stage.setting, tuple(sorted((*stage.values, v))), (m,), "per_model")
                choice[m] = select(grid, [p for p in points if p["model"] == m])[m]
        chosen[stage.setting] = {m: c["value"] for m, c in choice.items()}
        stages.append({"setting": stage.setting, "scope": stage.scope, "values": stage.values,
                       "models": on, "runs": points, "choices": {
                           m: {**c, "scores": {str(k): x for k, x in c["scores"].items()}}
                           for m, c in choice.items()}})
    final = apply(cfg, chosen)
    fitting = load_dataset(final.data).without_test()
    fingerprint = fitting.fingerprint
    swept = {pt["run_key"] for st in stages for pt in st["runs"]}
    final_runs = {m: cache.run_dir(final, m, sw.seed, fingerprint).name for m in models}
    seeds = seed_count(sw, tuple(cfg.train.seeds), stages, final_runs, cfg.data.max_len)
    final = from_dict({**final.to_dict(), "train": {**final.to_dict()["train"],
                                                    "seeds": seeds["seeds"]}}, "the sweep's config")
    return {"profile": cfg.profile, "seed": sw.seed, "metric": sw.metric,
            "select": cfg.train.select, "config": cfg.to_dict(), "stages": stages,
            "chosen": {m: {s: v[m] for s, v in chosen.items() if m in v} for m in models},
            "at_edge": [{"setting": st["setting"], "model": m, "value": c["value"],
                         "edge": c["edge"]} for st in stages for m, c in st["choices"].items()
                        if c["at_edge"] and m in st["models"]],
            "final_config": final.to_dict(), "seeds": seeds,
            "longer_than": longer_than(fitting, _length_grid(sw)),
            # the retrain's seed-`seed` run of each model, and whether the sweep trained it
            "final_runs": {m: {"run_key": k, "trained_by_sweep": k in swept}
                           for m, k in final_runs.items()}}


def _length_grid(sw: Sweep) -> tuple[int, ...]:
    return tuple(int(v) for st in sw.stages if st.setting == "max_len" for v in st.values)


def longer_than(ds, lengths: tuple[int, ...]) -> dict[str, float]:
    """Share of the training and validation reviews with more tokens than each review length
    (what truncation at that length cuts); the test split is not read."""
    import numpy as np

    full = np.concatenate([ds.train.full_lengths, ds.val.full_lengths])
    return {str(n): float((full > n).mean()) for n in lengths}


def settings_toml(record: dict) -> str:
    """The sweep's choices as a settings file for `load_config(..., settings=)` (the values
    are numbers and model names only, so they are written directly)."""
    p, final = record["profile"], record["final_config"]
    lines = [f"# The v3 sweep's choices (validation only; {SWEEP_JSON} beside this file).",
             "# Retrain with: --config <the experiment> --settings <this file>", "",
             f"[profiles.{p}.data]", f"max_len = {final['data']['max_len']}",
             f"bucket_edges = {list(final['data']['bucket_edges'])}", "",
             f"[profiles.{p}.train]  # the seed count decided by [seeds] of the sweep",
             f"seeds = {list(final['train']['seeds'])}"]
    for section, table in TABLES.values():
        values = final[section].get(table, {})
        if values:
            lines += ["", f"[profiles.{p}.{section}.{table}]"]
            lines += [f"{m} = {float(v)!r}" for m, v in sorted(values.items())]
    return "\n".join(lines) + "\n"


SWEEP_JSON, SETTINGS_TOML = "sweep.json", "sweep_settings.toml"


def sweep_dir(profile: str) -> Path:
    """Where `attnstudy sweep` writes by default: build/sweep (build/<profile>/sweep)."""
    from attnstudy.config import output_dir

    return output_dir(profile) / "sweep"


def write_sweep(record: dict, out_dir: Path) -> tuple[Path, Path]:
    """Store the sweep record and its settings file in `out_dir`."""
    from attnstudy.files import atomic_write, write_json

    write_json(out_dir / SWEEP_JSON, record)
    with atomic_write(out_dir / SETTINGS_TOML, "w") as f:
        f.write(settings_toml(record))
    return out_dir / SWEEP_JSON, out_dir / SETTINGS_TOML


def attach(cfg: Config, settings: Path, results: Path) -> Path | None:
    """Copy the sweep record beside `settings` (a sweep_settings.toml) into the results folder
    `results`, after checking that it chose exactly the config being built; None when the
    settings file has no sweep record beside it (settings written by hand)."""
    from attnstudy.files import read_json, write_json

    src = Path(settings).parent / SWEEP_JSON
    if not src.is_file():
        return None
    record = read_json(src)
    if record.get("final_config") != json.loads(json.dumps(cfg.to_dict())):  # as stored
        raise UserError(f"{src}: its chosen settings are not the config being built (was "
                        f"{Path(settings).name} edited, or the experiment changed since?)")
    write_json(results / SWEEP_JSON, record)
    return results / SWEEP_JSON
