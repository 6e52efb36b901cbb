"""build/results/README.md, generated from the models: one table per file of every field's path,
type and description. `python -m attnstudy schema` prints it; tests/test_schema.py checks the
committed README equals it, so the documentation cannot drift from what is validated.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel

from attnstudy.schema.models import FILES, RESULT_FILES, SCHEMA_VERSION, PredictionColumns

INTRO = """\
Everything in the report is computed from these files. They are written atomically (temp file +
rename) by `python -m attnstudy build|train`; `attnstudy.schema.validate_results` checks them
against the models in `attnstudy.schema.models`, from which this file is generated
(`python -m attnstudy schema > build/results/README.md`; edit the models, not this file).
A results set belongs to one resolved config: `config_hash` in every file must agree, and the
report refuses to render files from another config or another `schema_version`.

Types are JSON types; `{<model>: T}` is an object whose keys are model names (likewise
`<metric>`, `<category>`, ...); a path `a[].b` is field `b` of each element of list `a`.
results.json and attention.json allow no other fields; analysis.json may carry more than
listed. `test_predictions.parquet` has exactly one row per test review."""

BENCH = """\
## bench.json

Optional, written by `python -m attnstudy bench` and not checked by `validate_results`: per model
the JAX and PyTorch median ms per training step, tokens/s, the JAX/PyTorch speed ratio, GFLOP/s
against the measured SGEMM peak, evaluation reviews/s and jit compile seconds, plus the machine
(`cpu`: its model name, since kernels and speeds differ between CPUs) and shapes. Top-level
`models` and `kernels` are the `setting` ("one core": pinned, single-threaded XLA, one torch
thread; how the build trains) at `precision` (the config's `model.precision`); `settings[]` holds
every measured setting (`setting`, `cores`, `torch_threads`, `xla_flags`, `sgemm_peak_gflops`,
`kernels`, and `models` rows at each `precision`, float32 and bfloat16, with per-stage `stages`).
Files written before the settings lack `settings`, `setting` and `precision` (their rows are
float32); the report reads both."""


def _doc(model: type[BaseModel]) -> str:
    """A model's own docstring as one paragraph ('' when it only inherits one)."""
    own = model.__dict__.get("__doc__")
    return " ".join(inspect.cleandoc(own).split()) if own else ""


Rows = list[tuple[str, str, str]]  # (path, type, description)


def _type(ann, path: str, keys: list[str], seen: dict) -> tuple[str, Rows]:
    """(readable type, rows of nested fields) of an annotation found at `path`; a model already
    listed in this file (in `seen`, model -> path) is referred to instead of listed again."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is Annotated:
        return _type(args[0], path, keys, seen)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        text, rows = _type(rest[0], path, keys, seen) if len(rest) == 1 else ("any", [])
        return f"{text} or null", rows
    if origin is Literal:
        return " or ".join(json.dumps(a) for a in args), []
    if origin is list:
        text, rows = _type(args[0], f"{path}[]", keys, seen)
        return f"list[{text}]", rows
    if origin is dict:
        if args[1] is Any:
            return "object", []
        key = keys[0] if keys else "<key>"
        text, rows = _type(args[1], f"{path}.{key}", keys[1:], seen)
        return f"{{{key}: {text}}}", rows
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        if ann in seen:
            return f"object like {seen[ann]}", []
        seen[ann] = path
        return "object", _fields(ann, f"{path}.", seen)
    return ("any" if ann is Any else ann.__name__), []


def _fields(model: type[BaseModel], prefix: str = "", seen: dict | None = None) -> Rows:
    """(path, type, description) of every field of `model`, nested fields after their parent."""
    out, seen = [], {} if seen is None else seen
    for name, f in model.model_fields.items():
        path = prefix + (f.alias or name)
        extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
        text, rows = _type(f.annotation, path, list(extra.get("keys", [])), seen)
        if not f.is_required():
            text += ", optional"
        nested = typing.get_args(f.annotation) or (f.annotation,)
        sub = next((a for a in nested if isinstance(a, type) and issubclass(a, BaseModel)), None)
        out.append((path, text, f.description or (_doc(sub) if sub else "")))
        out += rows
    return out


def _table(rows: Rows, head: str = "field") -> str:
    lines = [f"| {head} | type | description |", "|---|---|---|"]
    for path, text, desc in rows:
        cells = (f"`{path}`", f"`{text}`", desc)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def schema_markdown() -> str:
    """The text of build/results/README.md."""
    parts = [f"# build/results: what the pipeline writes (schema version {SCHEMA_VERSION})", INTRO]
    for name in RESULT_FILES:
        if name == "test_predictions.parquet":
            parts += [f"## {name}", _doc(PredictionColumns),
                      _table(_fields(PredictionColumns), "column")]
        else:
            parts += [f"## {name}", _doc(FILES[name]), _table(_fields(FILES[name]))]
    parts.append(BENCH)
    return "\n\n".join(parts) + "\n"
