"""Checkpoints in a portable format (Flax msgpack, no pickle): the resumable state of a run while
it trains, and its best parameters once it has finished.

A checkpoint that cannot be read is never trusted: the run says so in one line and starts over.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jax
from flax import serialization

from attnstudy.files import atomic_write

CHECKPOINT = "checkpoint.msgpack"  # resume state, deleted once the run has finished
BEST = "best_params.msgpack"  # the selected parameters (train.select), the ones evaluated
TRAINED = "trained.json"  # the training record (curve, best step, timings, provenance)


@dataclass
class RunState:
    """Everything a checkpoint holds: enough to continue bit-identically."""

    step: int
    params: dict
    opt_state: object
    best_params: dict
    best_step: int = 0  # the selected validation point's step (train.select; 0: none yet)
    curve: list = field(default_factory=list)
    train_seconds: float = 0.0
    train_tokens: int = 0


def _write(path: Path, tree) -> None:
    with atomic_write(path, "wb") as f:
        f.write(serialization.msgpack_serialize(tree))


def save_state(path: Path, state: RunState) -> None:
    s = jax.device_get(vars(state))
    _write(path, {**{k: serialization.to_state_dict(s[k])
                     for k in ("params", "opt_state", "best_params")},
                  "step": s["step"], "best_step": s["best_step"],
                  "curve": json.dumps(s["curve"]),
                  "train_seconds": s["train_seconds"], "train_tokens": s["train_tokens"]})


def load_state(path: Path, params, opt_state, what: str) -> RunState | None:
    """The saved state (with `params`/`opt_state` as structure templates), or None to start over."""
    if not path.exists():
        return None
    try:
        raw = serialization.msgpack_restore(path.read_bytes())
        return RunState(step=int(raw["step"]),
                        params=serialization.from_state_dict(params, raw["params"]),
                        opt_state=serialization.from_state_dict(opt_state, raw["opt_state"]),
                        best_params=serialization.from_state_dict(params, raw["best_params"]),
                        best_step=int(raw["best_step"]),
                        curve=json.loads(raw["curve"]), train_seconds=float(raw["train_seconds"]),
                        train_tokens=int(raw["train_tokens"]))
    except Exception as e:  # torn or foreign file: start over rather than trust it
        print(f"attnstudy: warning: cannot read the checkpoint {path} ({type(e).__name__}); "
              f"{what} trains from step 0", file=sys.stderr)
        return None


def save_params(path: Path, params) -> None:
    _write(path, serialization.to_state_dict(jax.device_get(params)))


def load_params(path: Path) -> dict | None:
    """A saved parameter tree (nested dicts of numpy arrays), or None when absent."""
    if not path.exists():
        return None
    return serialization.msgpack_restore(path.read_bytes())
