"""The experiment config: one TOML file under `paper/`, resolved for a profile and validated.

Every setting lives in `paper/experiment.toml`; profiles (`smoke`, `quick`, `full`) override it.
Bad configs fail early with one line that names the key, never deep inside training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnstudy.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = ROOT / "paper" / "experiment.toml"
# Outputs (report, results, caches); tests point ATTNSTUDY_BUILD elsewhere to keep build/ intact.
BUILD = Path(os.environ.get("ATTNSTUDY_BUILD") or ROOT / "build")


def output_dir(profile: str) -> Path:
    """Where a profile's report and results go: build/ for the paper (full), build/<profile>/
    for previews, so `just build quick` never overwrites the published results."""
    return BUILD if profile == "full" else BUILD / profile
MODEL_NAMES = ("bilstm", "additive", "mhsa", "bilstm_matched", "transformer", "bilstm_mean",
               "embed_additive", "embed_mean")
MODEL_DESCRIPTIONS = {
    "bilstm": "BiLSTM + masked max-pool (no attention)",
    "additive": "BiLSTM + additive (single-head) attention",
    "mhsa": "BiLSTM + multi-head QKV self-attention + masked mean-pool",
    "bilstm_matched": "BiLSTM + max-pool + dense layer, parameters matched to mhsa (control)",
    "transformer": "embedding + positions -> Transformer encoder, no recurrence (control)",
    "bilstm_mean": "BiLSTM + masked mean-pool = additive attention with uniform weights (control)",
    "embed_additive": "token embeddings + additive attention, no BiLSTM (non-contextual arm)",
    "embed_mean": "token embeddings + masked mean-pool, no BiLSTM (non-contextual control)",
}
PROFILES = ("smoke", "quick", "full")
# Matmul input precision: bfloat16 runs the dots ~1.8x faster on CPUs with AVX512_BF16; they
# still accumulate in float32, and everything else (weights, optimizer, cell state, softmax,
# layer norm, loss) stays float32 either way.
PRECISIONS = ("float32", "bfloat16")
# Which validation point's parameters are evaluated on test: the lowest validation loss, or the
# highest validation accuracy (ties: the lower loss). See training/loop.py.
SELECTIONS = ("val_loss", "val_accuracy")
SPECIAL_TOKENS = 2  # PAD=0, UNK=1


@dataclass(frozen=True)
class DataConfig:
    vocab_size: int = 10000
    max_len: int = 192
    truncation: str = "head_tail"
    val_fraction: float = 0.1
    split_seed: int = 0
    bucket_edges: tuple[int, ...] = (64, 96, 128, 160, 192)
    train_subset: int = 0
    test_subset: int = 0


@dataclass(frozen=True)
class ModelConfig:
    embed_dim: int = 128
    hidden: int = 128
    attention_dim: int = 128
    heads: int = 4
    transformer_layers: int = 1
    transformer_ff: int = 256
    dropout: float = 0.5
    embed_dropout: float = 0.2
    precision: str = "float32"


@dataclass(frozen=True)
class TrainConfig:
    models: tuple[str, ...] = MODEL_NAMES
    seeds: tuple[int, ...] = (0, 1, 2)
    batch_size: int = 64
    steps: int = 250
    learning_rate: float = 1e-3
    warmup_steps: int = 25
    weight_decay: float = 1e-4
    clip_norm: float = 1.0
    eval_every: int = 50
    eval_batch_size: int = 256
    select: str = "val_loss"


@dataclass(frozen=True)
class AnalysisConfig:
    attention_samples: int = 24
    attention_max_len: int = 48
    bootstrap_samples: int = 2000
    length_buckets: int = 4
    faithfulness_reviews: int = 200
    faithfulness_k: tuple[int, ...] = (1, 3, 10)
    seed: int = 0


@dataclass(frozen=True)
class Config:
    profile: str = "full"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def section_hash(self, *sections: str) -> str:
        """Stable short hash of the named sections (all sections but `profile` when none given)."""
        d = self.to_dict()
        keys = sections or ("data", "model", "train", "analysis")
        blob = json.dumps({k: d[k] for k in keys}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def same_experiment(recorded: dict, cfg: Config) -> bool:
    """True when a recorded config (results.json's `config`) describes the experiment `cfg` does:
    every recorded setting has the same value, and settings added to the code since are at their
    defaults (so adding a setting does not unfreeze published results)."""
    now = cfg.to_dict()
    for name, cls in SECTIONS.items():
        if not isinstance(recorded.get(name), dict):
            return False
        old, new, defaults = recorded[name], now[name], dataclasses.asdict(cls())
        if set(old) - set(new):
            return False  # a setting was removed: the recorded experiment is not this one
        for k, v in new.items():
            want = old.get(k, defaults[k])
            if json.dumps(want) != json.dumps(v):  # tuples and lists compare alike
                return False
    return True


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig,
            "analysis": AnalysisConfig}


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _coerce(section: str, name: str, value: Any, default: Any) -> Any:
    where = f"config key {section}.{name}"
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, tuple):
        kind = type(default[0]) if default else int
        ok = isinstance(value, list) and all(isinstance(v, kind) and not isinstance(v, bool)
                                             for v in value)
        value = tuple(value) if ok else value
    else:  # pragma: no cover - every field has a typed default
        ok = True
    if not ok:
        raise UserError(f"{where}: expected {type(default).__name__}, got {value!r}")
    return value


def _build_section(name: str, raw: dict) -> Any:
    cls = SECTIONS[name]
    defaults = cls()
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise UserError(f"unknown config key {name}.{unknown[0]} "
                        f"(known: {', '.join(sorted(known))})")
    values = {k: _coerce(name, k, v, getattr(defaults, k)) for k, v in raw.items()}
    return cls(**values)


def validate(cfg: Config) -> Config:
    """Reject impossible values with one line naming the key."""
    d, m, t, a = cfg.data, cfg.model, cfg.train, cfg.analysis

    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise UserError(f"invalid config: {msg}")

    need(d.vocab_size > SPECIAL_TOKENS, f"data.vocab_size={d.vocab_size} must exceed the "
         f"{SPECIAL_TOKENS} special tokens (PAD, UNK)")
    need(d.max_len > 0, f"data.max_len={d.max_len} must be positive")
    need(d.truncation in ("head", "head_tail"), f"data.truncation={d.truncation!r} must be "
         "'head' or 'head_tail'")
    need(0 < d.val_fraction < 1, f"data.val_fraction={d.val_fraction} must be in (0, 1)")
    need(len(d.bucket_edges) > 0 and all(e > 0 for e in d.bucket_edges)
         and list(d.bucket_edges) == sorted(set(d.bucket_edges)),
         f"data.bucket_edges={list(d.bucket_edges)} must be positive and increasing")
    need(d.bucket_edges[-1] == d.max_len, f"data.bucket_edges must end at data.max_len={d.max_len}")
    need(d.train_subset >= 0 and d.test_subset >= 0, "data.*_subset must be >= 0")
    for k in ("embed_dim", "hidden", "attention_dim", "heads", "transformer_layers",
              "transformer_ff"):
        need(getattr(m, k) > 0, f"model.{k}={getattr(m, k)} must be positive")
    need((2 * m.hidden) % m.heads == 0, f"model.heads={m.heads} must divide the BiLSTM width "
         f"2*hidden={2 * m.hidden}")
    need(m.embed_dim % m.heads == 0, f"model.heads={m.heads} must divide model.embed_dim="
         f"{m.embed_dim} (transformer)")
    need(0 <= m.dropout < 1 and 0 <= m.embed_dropout < 1, "model dropout rates must be in [0, 1)")
    need(m.precision in PRECISIONS, f"model.precision={m.precision!r} must be one of "
         f"{', '.join(map(repr, PRECISIONS))}")
    bad = [x for x in t.models if x not in MODEL_NAMES]
    need(not bad, f"unknown model {bad[0] if bad else ''!r} in train.models "
         f"(known: {', '.join(MODEL_NAMES)})")
    need(len(t.models) > 0 and len(t.seeds) > 0, "train.models and train.seeds must be non-empty")
    need(len(set(t.seeds)) == len(t.seeds), "train.seeds must be distinct")
    for k in ("batch_size", "steps", "eval_every", "eval_batch_size"):
        need(getattr(t, k) > 0, f"train.{k}={getattr(t, k)} must be positive")
    need(t.select in SELECTIONS, f"train.select={t.select!r} must be one of "
         f"{', '.join(map(repr, SELECTIONS))}")
    need(t.learning_rate > 0, f"train.learning_rate={t.learning_rate} must be positive")
    need(t.warmup_steps >= 0 and t.weight_decay >= 0 and t.clip_norm > 0,
         "train.warmup_steps/weight_decay must be >= 0 and clip_norm > 0")
    need(a.bootstrap_samples > 0 and a.length_buckets > 0 and a.attention_samples > 0,
         "analysis counts must be positive")
    need(all(k > 0 for k in a.faithfulness_k), "analysis.faithfulness_k must be positive")
    return cfg


def load_config(profile: str = "full", path: Path | str | None = None) -> Config:
    """Read the TOML, apply `profile`'s overrides and validate."""
    path = Path(path) if path else DEFAULT_CONFIG
    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"config file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"config file {path} is not valid TOML: {e}") from None
    profiles = raw.pop("profiles", {})
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise UserError(f"unknown config section [{unknown[0]}] in {path}")
    merged = _merge(raw, profiles.get(profile, {}) or {})
    unknown = sorted(set(merged) - set(SECTIONS))
    if unknown:
        raise UserError(f"unknown config section [{unknown[0]}] in profile {profile!r}")
    sections = {name: _build_section(name, merged.get(name, {})) for name in SECTIONS}
    return validate(Config(profile=profile, **sections))
