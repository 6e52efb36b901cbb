"""The rerun spread: how far retraining the published runs on another machine moves them.

A bit-identical rerun holds on one machine only (another CPU picks other kernels, and training
amplifies the last bits). `measure(published, rerun)` compares the published results folder with
the results folder of a rerun (the same config and code, some of its seeds, trained and evaluated
on another machine) and returns the record `paper/rerun_spread.toml` holds; the report reads it
(`report.wording.rerun_spread`) and treats model differences no larger than its spread as noise.

    python -m attnstudy rerun-spread /other/build/results   # writes paper/rerun_spread.toml
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import tomli_w

from attnstudy.errors import UserError
from attnstudy.metrics import THRESHOLD


def _read(folder: Path) -> tuple[dict, pd.DataFrame]:
    try:
        res = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        preds = pd.read_parquet(folder / "test_predictions.parquet")
    except (OSError, ValueError) as e:
        raise UserError(f"{folder}: needs results.json and test_predictions.parquet ({e})") from e
    return res, preds


def _without_seeds(config: dict) -> dict:
    return {**config, "train": {k: v for k, v in config["train"].items() if k != "seeds"}}


def _machine(runs: list[dict]) -> str:
    cpus = sorted({(r.get("provenance") or {}).get("cpu") or "not recorded" for r in runs})
    return " / ".join(cpus)


def measure(published: Path, rerun: Path) -> dict:
    """The record of `paper/rerun_spread.toml`: per rerun model x seed, the published and the
    rerun test accuracy, the largest change of a single review's P(positive) and the number of
    test decisions that changed; the two machines' CPUs, the commits their code came from and the
    rerun's setup. The commits may differ; the rerun measures the machine alone when the later
    code retrains the published runs bit for bit on the published CPU."""
    pub, pub_preds = _read(published)
    new, new_preds = _read(rerun)
    if _without_seeds(pub["config"]) != _without_seeds(new["config"]):
        raise UserError(f"{rerun} was built from another config than {published} "
                        "(only the seeds may differ)")
    if not (pub_preds["id"].to_numpy() == new_preds["id"].to_numpy()).all():
        raise UserError(f"{rerun}: its test rows differ from the published ones")
    published_runs = {(r["model"], r["seed"]): r for r in pub["runs"]}
    accuracy, seeds = {}, set()
    for r in new["runs"]:
        key = (r["model"], r["seed"])
        if key not in published_runs:
            raise UserError(f"{rerun}: {key[0]} seed {key[1]} is not a published run")
        col = f"{key[0]}/seed{key[1]}"
        p, q = pub_preds[col].to_numpy(np.float64), new_preds[col].to_numpy(np.float64)
        accuracy[key[0]] = {
            "published": published_runs[key]["test"]["accuracy"],
            "rerun": r["test"]["accuracy"],
            "max_prob_change": float(np.abs(p - q).max()),
            "decisions_changed": int(((p >= THRESHOLD) != (q >= THRESHOLD)).sum()),
        }
        seeds.add(key[1])
    if len(seeds) != 1:
        raise UserError(f"{rerun}: a rerun of one seed is expected, found seeds {sorted(seeds)}")
    runs = new["runs"]
    return {
        "source": "attnstudy rerun-spread: the published runs retrained and evaluated on "
                  "another machine",
        "results_config": pub["config_hash"], "seed": seeds.pop(),
        "same_machine": "bit-identical",
        "published_cpu": _machine([published_runs[r["model"], r["seed"]] for r in runs]),
        "rerun_cpu": _machine(runs),
        "setup": _setup(runs),
        "published_commits": _commits([published_runs[r["model"], r["seed"]] for r in runs]),
        "rerun_commits": _commits(runs),
        "max_prob_change": max(v["max_prob_change"] for v in accuracy.values()),
        "accuracy": accuracy,
    }


def _setup(runs: list[dict]) -> str:
    prov = [r.get("provenance") or {} for r in runs]
    jax = sorted({(p.get("packages") or {}).get("jax", "?") for p in prov})
    single = all((p.get("threads") or {}).get("single_thread_xla") for p in prov)
    workers = "pinned single-threaded workers" if single else "workers"
    return f"jax {', '.join(jax)}, {workers}"


def _commits(runs: list[dict]) -> list[str]:
    return sorted({((r.get("provenance") or {}).get("git_commit") or "not recorded")[:12]
                   for r in runs})


HEADER = ("# How far a rerun on another machine moves the results: the scope of \"reproducible\".\n"
          "# Written by `python -m attnstudy rerun-spread` (attnstudy.analysis.rerun); do not edit "
          "by hand.\n\n")


def to_toml(rec: dict) -> str:
    """`rec` as TOML (tomli-w): the scalars, then one [accuracy.<model>] table per model."""
    return HEADER + tomli_w.dumps(rec)
