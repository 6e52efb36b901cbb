"""Published weights: the first seed's trained parameters of every model of a profile, with the
vocabulary and resolved config they need, so `predict` and `evaluate` work on a fresh clone
without the dataset, the run cache or a network.

    <results>/weights/<model>.msgpack   flax.serialization.to_bytes of the evaluated (best)
                                        parameters, float32: a portable format, no pickle
    <results>/weights/vocab.json        index -> word (PAD=0, UNK=1), built from training rows
    <results>/weights/config.json       the resolved config (`Config.to_dict()`)

results.json's `weights` records each file's sha256 and size; `Published` checks them before
using a file, so damaged or swapped weights are refused in one line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attnstudy.config import Config, from_dict
from attnstudy.errors import UserError
from attnstudy.files import atomic_write, read_json
from attnstudy.keys import file_digest

WEIGHTS = "weights"  # the folder inside a results folder
VOCAB, CONFIG = "vocab.json", "config.json"


def published_seed(cfg: Config) -> int:
    """The seed whose models are published: the profile's first (0), as in attention.json."""
    return cfg.train.seeds[0]


def _write(path: Path, data: bytes) -> dict:
    with atomic_write(path, "wb") as f:
        f.write(data)
    return {"sha256": file_digest(path), "bytes": len(data)}


def export_weights(cfg: Config, out_dir: Path, best_params: Callable[[str, int], dict | None],
                   vocab: list[str]) -> dict:
    """Write every model's published parameters, the vocabulary and the config to `out_dir`.

    `best_params(model, seed)` gives the very parameters evaluated (the pipeline passes its
    run cache's best_params.msgpack). Returns {file name: {"sha256": hex, "bytes": int}} for
    results.json's `weights`.
    """
    from flax import serialization

    seed, record = published_seed(cfg), {}
    for name in cfg.train.models:
        params = best_params(name, seed)
        if params is None:
            raise UserError(f"no trained {name} (seed {seed}) to publish; run `just build "
                            f"{cfg.profile}` first")
        bad = {str(a.dtype) for a in _leaves(params)} - {"float32"}
        if bad:  # a cast would publish numbers other than the evaluated ones
            raise ValueError(f"{name} has {', '.join(sorted(bad))} parameters; expected float32")
        record[f"{name}.msgpack"] = _write(out_dir / f"{name}.msgpack",
                                           serialization.to_bytes(params))
    for f in out_dir.glob("*.msgpack"):  # models no longer in the profile
        if f.name not in record:
            f.unlink()
    record[VOCAB] = _write(out_dir / VOCAB, json.dumps(vocab, ensure_ascii=False).encode())
    record[CONFIG] = _write(out_dir / CONFIG, (json.dumps(cfg.to_dict(), indent=1) + "\n").encode())
    return record


def _leaves(tree) -> list[np.ndarray]:
    if isinstance(tree, dict):
        return [leaf for v in tree.values() for leaf in _leaves(v)]
    return [np.asarray(tree)]


def config_from_dict(d: dict) -> Config:
    """A Config from its `to_dict()` form, checked like a TOML config (one-line errors)."""
    return from_dict(d, CONFIG)


@dataclass(frozen=True)
class Published:
    """A results folder's published weights, checked against its results.json."""

    folder: Path
    record: dict  # results.json's `weights`
    cfg: Config  # the config they were trained with
    vocab: list[str]

    @property
    def seed(self) -> int:
        return published_seed(self.cfg)

    @property
    def models(self) -> list[str]:
        return [f.removesuffix(".msgpack") for f in self.record if f.endswith(".msgpack")]

    def params(self, name: str) -> dict:
        """The parameter tree of `name` (nested dicts of <float32> arrays)."""
        from flax import serialization

        return serialization.msgpack_restore(_checked(self.folder, f"{name}.msgpack", self.record))


def _checked(folder: Path, name: str, record: dict) -> bytes:
    """A published file's bytes, after its sha256 and size matched results.json's."""
    path = folder / name
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read {path} ({e.strerror or e}); restore it with "
                        f"`git checkout -- {path}`") from None
    want = record.get(name) or {}
    if file_digest(path) != want.get("sha256") or len(data) != want.get("bytes"):
        raise UserError(f"{path}: checksum differs from results.json's; the weights were "
                        f"changed or damaged (restore them with `git checkout -- {folder}`)")
    return data


def load_published(folder: Path) -> Published | None:
    """The published weights in `folder` (a results folder's weights/), or None when absent."""
    results = folder.parent / "results.json"
    if not (folder / CONFIG).exists():
        return None
    try:
        record = read_json(results).get("weights")
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict):
        raise UserError(f"{results} records no checksums for the weights in {folder}; "
                        f"rebuild, or restore both with `git checkout`")
    try:
        cfg = config_from_dict(json.loads(_checked(folder, CONFIG, record)))
        vocab = json.loads(_checked(folder, VOCAB, record))
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"{folder}: unreadable config or vocabulary ({type(e).__name__})"
                        ) from None
    return Published(folder, record, cfg, vocab)
