"""Load one results set for the report, validated by the one schema check.

    load(Path("build/results")) -> {"results", "analysis", "attention": dicts,
                                    "predictions": DataFrame (one row per test review),
                                    "bench": dict | None, "swept": bool,
                                    "sweep": dict | None (sweep.json)}

`attnstudy.schema.validate_results` decides whether the results set is usable (schema version,
config hash across files, fields, runs, parquet columns); a refusal is a one-line UserError.
bench.json is optional and versioned on its own (written by `attnstudy bench`, not by the build).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from attnstudy.errors import UserError
from attnstudy.schema import validate_results


def load(results_dir: Path) -> dict:
    d = Path(results_dir)
    bundle = validate_results(d)
    bundle["predictions"] = pd.read_parquet(d / "test_predictions.parquet")
    bundle["bench"] = _bench(d / "bench.json", bundle["results"]["config_hash"])
    bundle["swept"] = (d / "sweep.json").is_file()  # settings chosen by the validation sweep
    bundle["sweep"] = _sweep(d / "sweep.json") if bundle["swept"] else None
    final = (bundle["sweep"] or {}).get("final_config")
    if final is not None and final != bundle["results"]["config"]:
        # a build without --settings since: the record no longer says how these were chosen
        raise UserError(f"{d / 'sweep.json'} chose another config than results.json's; delete it "
                        "or rebuild with --settings beside it")
    return bundle


def _sweep(path: Path) -> dict:
    """sweep.json (attnstudy.pipeline.sweep.run_sweep): its stages with every grid point's
    validation record, the choices and the edge flags."""
    try:
        sweep = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"cannot read {path}: {e}; rerun `attnstudy sweep`") from None
    if not isinstance(sweep, dict) or not isinstance(sweep.get("stages"), list):
        raise UserError(f"{path} has no `stages` list; rerun `attnstudy sweep`")
    return sweep


def _bench(path: Path, config_hash: str) -> dict | None:
    if not path.is_file():
        return None
    try:
        bench = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"cannot read {path}: {e}; rerun `just bench`") from None
    if not isinstance(bench, dict):
        raise UserError(f"{path} is not a JSON object; rerun `just bench`")
    if bench.get("config_hash", config_hash) != config_hash:  # only when it names one
        raise UserError(f"{path}: config hash {bench['config_hash']!r} differs from results.json's "
                        f"{config_hash!r} (files from different configs); rerun `just bench`")
    return bench
