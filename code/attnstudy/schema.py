"""Checks that a results folder matches its documented schema (build/results/README.md).

The report calls this before rendering, so files from an older schema, a different config or a
half-finished build are refused with one line instead of being rendered silently.
"""

from __future__ import annotations

import json
from pathlib import Path

from attnstudy.errors import UserError
from attnstudy.metrics import METRICS

SCHEMA_VERSION = 2
# The results set one build writes (bench.json, written by `bench`, is optional and separate).
RESULT_FILES = ("results.json", "test_predictions.parquet", "attention.json", "analysis.json")
RUN_KEYS = {"model": str, "seed": int, "run_key": str, "params": int, "steps": int,
            "best_step": int, "curve": list, "test": dict, "confusion": list,
            "train_seconds": float, "tokens_per_second": float, "eval_seconds": float,
            "eval_reviews_per_second": float, "probes": list}
TOP_KEYS = {"schema_version": int, "profile": str, "config": dict, "config_hash": str,
            "data": dict, "models": dict, "runs": list, "provenance": dict}
ANALYSIS_KEYS = ("summary", "pairwise", "baseline", "length", "negation", "faithfulness", "ledger")


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise UserError(f"{where}: {msg}; rebuild with `just build <profile>`")


def _typed(obj: dict, keys: dict, where: str) -> None:
    for k, kind in keys.items():
        _need(k in obj, where, f"missing field {k!r}")
        ok = isinstance(obj[k], int | float) if kind is float else isinstance(obj[k], kind)
        _need(ok and not (kind is int and isinstance(obj[k], bool)), where,
              f"field {k!r} should be {kind.__name__}")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"missing {path}; run `just build <profile>`") from None
    except (ValueError, UnicodeDecodeError):
        raise UserError(f"{path} is not valid JSON (an interrupted write?); rerun "
                        "`just build <profile>`") from None


def validate_results(folder: Path) -> dict:
    """Validate results.json, analysis.json, attention.json and test_predictions.parquet.

    Returns {"results", "analysis", "attention"} as loaded. Raises UserError on any mismatch.
    """
    import pandas as pd

    res = _read_json(folder / "results.json")
    where = str(folder / "results.json")
    _need(res.get("schema_version") == SCHEMA_VERSION, where,
          f"schema version {res.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    _typed(res, TOP_KEYS, where)
    models = set(res["config"]["train"]["models"])
    seeds = set(res["config"]["train"]["seeds"])
    seen = set()
    for i, run in enumerate(res["runs"]):
        _typed(run, RUN_KEYS, f"{where} runs[{i}]")
        for m in METRICS:
            _need(isinstance(run["test"].get(m), int | float), f"{where} runs[{i}]",
                  f"missing test metric {m!r}")
        seen.add((run["model"], run["seed"]))
    missing = {(m, s) for m in models for s in seeds} - seen
    _need(not missing, where, f"no run for {sorted(missing)[0] if missing else ''}")
    _need(set(res["models"]) == models, where, "models table does not match config.train.models")

    out = {"results": res}
    for name in ("analysis", "attention"):
        obj = _read_json(folder / f"{name}.json")
        w = str(folder / f"{name}.json")
        _need(obj.get("schema_version") == SCHEMA_VERSION, w,
              f"schema version {obj.get('schema_version')!r}, expected {SCHEMA_VERSION}")
        _need(obj.get("config_hash") == res["config_hash"], w,
              f"config hash {obj.get('config_hash')!r} differs from results.json's "
              f"{res['config_hash']!r} (files from different builds)")
        out[name] = obj
    for k in ANALYSIS_KEYS:
        _need(k in out["analysis"], str(folder / "analysis.json"), f"missing field {k!r}")
    _need(isinstance(out["attention"].get("samples"), list), str(folder / "attention.json"),
          "missing samples")

    path = folder / "test_predictions.parquet"
    try:
        preds = pd.read_parquet(path)
    except FileNotFoundError:
        raise UserError(f"missing {path}; run `just build <profile>`") from None
    except Exception:
        raise UserError(f"{path} is not a readable Parquet file; rerun `just build`") from None
    cols = {"id", "label", "length", "negation"} | {f"{m}/seed{s}" for m, s in seen}
    absent = sorted(cols - set(preds.columns))
    _need(not absent, str(path), f"missing column {absent[0] if absent else ''!r}")
    _need(len(preds) == res["data"]["rows"]["test"], str(path),
          f"{len(preds)} rows, results.json says {res['data']['rows']['test']} test reviews")
    return out
