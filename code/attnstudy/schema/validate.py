"""validate_results: each results file against its model (attnstudy.schema.models), then the
checks across files: one config_hash, a run for every model x seed, the Parquet columns and rows.

The report calls this before rendering, so files from an older schema, a different config or a
half-finished build are refused with one line instead of being rendered silently.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from attnstudy.errors import UserError
from attnstudy.schema.models import FILES, SCHEMA_VERSION, PredictionColumns


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise UserError(f"{where}: {msg}; rebuild with `just build <profile>`")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"missing {path}; run `just build <profile>`") from None
    except (ValueError, UnicodeDecodeError):
        raise UserError(f"{path} is not valid JSON (an interrupted write?); rerun "
                        "`just build <profile>`") from None


def _where(loc: tuple) -> str:
    """('runs', 3, 'test', 'f1') -> 'runs[3].test.f1'"""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def _first_error(e: ValidationError) -> str:
    """The first problem of a ValidationError, in one line (and how many more there are)."""
    err = e.errors(include_url=False)[0]
    field = _where(err["loc"])
    if err["type"] == "missing":
        msg = f"missing field {field!r}"
    elif err["type"] == "extra_forbidden":
        msg = f"undocumented field {field!r}"
    else:
        msg = f"field {field!r}: {err['msg']} (got {type(err['input']).__name__})"
    more = e.error_count() - 1
    return msg + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")


def _load(folder: Path, name: str) -> dict:
    """Read and check one JSON file: its schema version first, then its model."""
    path = folder / name
    obj = _read_json(path)
    _need(isinstance(obj, dict), str(path), "not a JSON object")
    _need(obj.get("schema_version") == SCHEMA_VERSION, str(path),
          f"schema version {obj.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    try:
        FILES[name].model_validate(obj)
    except ValidationError as e:
        _need(False, str(path), _first_error(e))
    return obj


def _check_predictions(path: Path, runs: set, n_test: int) -> None:
    import pandas as pd

    try:
        preds = pd.read_parquet(path)
    except FileNotFoundError:
        raise UserError(f"missing {path}; run `just build <profile>`") from None
    except Exception:
        raise UserError(f"{path} is not a readable Parquet file; rerun `just build`") from None
    api = pd.api.types
    kinds = {str: api.is_string_dtype, int: lambda d: api.is_integer_dtype(d)
             and not api.is_bool_dtype(d), bool: api.is_bool_dtype, float: api.is_float_dtype}
    cols = {name: f.annotation for name, f in PredictionColumns.model_fields.items()}
    cols.update({f"{m}/seed{s}": float for m, s in sorted(runs)})
    cols.update({c: float for c in preds.columns  # optional: the lexicon columns, when present
                 if c == "lexicon_share" or c.endswith("/lexicon_mass")})
    for name, kind in cols.items():
        _need(name in preds.columns, str(path), f"missing column {name!r}")
        _need(kinds[kind](preds[name].dtype), str(path),
              f"column {name!r} is {preds[name].dtype}, should be {kind.__name__}")
    _need(len(preds) == n_test, str(path),
          f"{len(preds)} rows, results.json says {n_test} test reviews")


def validate_results(folder: Path) -> dict:
    """Validate results.json, analysis.json, attention.json and test_predictions.parquet.

    Returns {"results", "analysis", "attention"} as loaded (plain dicts). Raises UserError on
    any mismatch, with one line naming the file and the first problem.
    """
    folder = Path(folder)
    res = _load(folder, "results.json")
    where = str(folder / "results.json")
    models, seeds = res["config"]["train"]["models"], res["config"]["train"]["seeds"]
    seen: set = set()
    for r in res["runs"]:
        key = (r["model"], r["seed"])
        _need(key not in seen, where, f"two runs for {key}")
        seen.add(key)
    missing = sorted({(m, s) for m in models for s in seeds} - seen)
    _need(not missing, where, f"no run for {missing[0] if missing else ''}")
    _need(set(res["models"]) == set(models), where,
          "models table does not match config.train.models")

    out = {"results": res}
    for name in ("analysis", "attention"):
        obj = _load(folder, f"{name}.json")
        _need(obj["config_hash"] == res["config_hash"], str(folder / f"{name}.json"),
              f"config hash {obj['config_hash']!r} differs from results.json's "
              f"{res['config_hash']!r} (files from different builds)")
        out[name] = obj
    _check_predictions(folder / "test_predictions.parquet", seen, res["data"]["rows"]["test"])
    return out
