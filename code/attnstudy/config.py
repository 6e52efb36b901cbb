"""The experiment config: one TOML file under `paper/`, resolved for a profile and validated.

Every setting lives in `paper/experiment.toml` (the code has no defaults); profiles (`smoke`,
`quick`, `full`) override it. The sections are pydantic dataclasses: bad configs fail early with
one line that names the key, never deep inside training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictInt,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.dataclasses import dataclass

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


Int = Annotated[StrictInt, Field()]
Positive = Annotated[StrictInt, Field(gt=0)]
Count = Annotated[StrictInt, Field(ge=0)]
Real = Annotated[float, Strict()]  # int or float from TOML, never a string or bool
Rate = Annotated[float, Strict(), Field(ge=0, lt=1)]
# Every field is required: paper/experiment.toml's base values are the only defaults (except
# the optional per-model tables below, empty unless a config sets them).
SECTION = ConfigDict(extra="forbid")


def _per_model_table(value, info):
    """A TOML table {model: value} as sorted ((model, value), ...) pairs: hashable (configs key
    compiled-function caches) and in one order whatever the file's."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(MODEL_NAMES))
        if unknown:
            raise ValueError(f"{info.field_name} names an unknown model {unknown[0]!r} "
                             f"(known: {', '.join(MODEL_NAMES)})")
        return tuple(sorted(value.items()))
    if isinstance(value, tuple | list) and all(isinstance(p, tuple | list) for p in value):
        return tuple(tuple(p) for p in value)  # already pairs (dataclasses.replace)
    raise ValueError(f"{info.field_name} must be a table of model = value")


# A per-model setting: {model name: value}; the models not listed use the section's value.
PerModelRate = Annotated[tuple[tuple[Literal[MODEL_NAMES], Rate], ...],
                         BeforeValidator(_per_model_table)]
PerModelLR = Annotated[tuple[tuple[Literal[MODEL_NAMES], Annotated[float, Strict(), Field(gt=0)]],
                             ...], BeforeValidator(_per_model_table)]
# The optional tables (section -> field -> the section's shared setting it overrides), left out
# of `Config.to_dict` when empty so configs without them keep their hashes and run keys.
PER_MODEL = {"model": {"embed_dropout_by_model": "embed_dropout"},
             "train": {"learning_rate_by_model": "learning_rate"}}


@dataclass(frozen=True, config=SECTION)
class DataConfig:
    vocab_size: Int  # incl. PAD and UNK
    max_len: Positive
    truncation: Literal["head", "head_tail"]
    val_fraction: Annotated[float, Strict(), Field(gt=0, lt=1)]
    split_seed: Int
    bucket_edges: Annotated[tuple[Positive, ...], Field(min_length=1)]
    train_subset: Count  # 0 = all rows
    test_subset: Count

    @model_validator(mode="after")
    def _check(self):
        if self.vocab_size <= SPECIAL_TOKENS:
            raise ValueError(f"data.vocab_size={self.vocab_size} must exceed the "
                             f"{SPECIAL_TOKENS} special tokens (PAD, UNK)")
        if list(self.bucket_edges) != sorted(set(self.bucket_edges)):
            raise ValueError(f"data.bucket_edges={list(self.bucket_edges)} must be increasing")
        if self.bucket_edges[-1] != self.max_len:
            raise ValueError(f"data.bucket_edges must end at data.max_len={self.max_len}")
        return self


@dataclass(frozen=True, config=SECTION)
class ModelConfig:
    embed_dim: Positive
    hidden: Positive
    attention_dim: Positive
    heads: Positive
    transformer_layers: Positive
    transformer_ff: Positive
    dropout: Rate
    embed_dropout: Rate
    precision: Literal[PRECISIONS]
    embed_dropout_by_model: PerModelRate = ()  # [model.embed_dropout_by_model], e.g. from a sweep

    @model_validator(mode="after")
    def _heads(self):
        if (2 * self.hidden) % self.heads:
            raise ValueError(f"model.heads={self.heads} must divide the BiLSTM width "
                             f"2*hidden={2 * self.hidden}")
        if self.embed_dim % self.heads:
            raise ValueError(f"model.heads={self.heads} must divide model.embed_dim="
                             f"{self.embed_dim} (transformer)")
        return self


@dataclass(frozen=True, config=SECTION)
class TrainConfig:
    models: Annotated[tuple[Literal[MODEL_NAMES], ...], Field(min_length=1)]
    seeds: Annotated[tuple[Int, ...], Field(min_length=1)]
    batch_size: Positive
    steps: Positive
    learning_rate: Annotated[float, Strict(), Field(gt=0)]
    warmup_steps: Count
    weight_decay: Annotated[float, Strict(), Field(ge=0)]
    clip_norm: Annotated[float, Strict(), Field(gt=0)]
    eval_every: Positive
    eval_batch_size: Positive
    select: Literal[SELECTIONS]
    learning_rate_by_model: PerModelLR = ()  # [train.learning_rate_by_model], e.g. from a sweep

    @model_validator(mode="after")
    def _distinct(self):
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"train.seeds={list(self.seeds)} must be distinct")
        return self


@dataclass(frozen=True, config=SECTION)
class AnalysisConfig:
    attention_samples: Positive
    attention_max_len: Positive
    bootstrap_samples: Positive
    length_buckets: Positive
    faithfulness_reviews: Count
    faithfulness_k: tuple[Positive, ...]
    seed: Int


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Config:
    profile: Literal[PROFILES]
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    analysis: AnalysisConfig

    def to_dict(self) -> dict[str, Any]:
        """The config as plain values; empty per-model tables are left out (configs that set
        none keep the hash and the recorded form they had before the tables existed), set ones
        are {model: value} tables as in the TOML."""
        d = dataclasses.asdict(self)
        for section, fields in PER_MODEL.items():
            for f in fields:
                table = d[section].pop(f)
                if table:
                    d[section][f] = {m: v for m, v in table}
        return d

    def for_model(self, name: str) -> Config:
        """The config one model trains with: its per-model settings replace the shared ones and
        the tables are emptied, so a run depends only on its model's *effective* values (a
        sweep run at the chosen value has the key of the final run that uses it)."""
        sections = {}
        for section, fields in PER_MODEL.items():
            sec, changes = getattr(self, section), {}
            for f, shared in fields.items():
                table = dict(getattr(sec, f))
                changes[f] = ()
                if name in table:
                    changes[shared] = table[name]
            sections[section] = dataclasses.replace(sec, **changes)
        return dataclasses.replace(self, **sections)

    def section_hash(self, *sections: str) -> str:
        """Stable short hash of the named sections (all sections but `profile` when none given)."""
        d = self.to_dict()
        keys = sections or ("data", "model", "train", "analysis")
        blob = json.dumps({k: d[k] for k in keys}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# Settings added after results were first published, with the value the code used before they
# existed: a recorded config without them ran with that value (see `same_experiment`).
ADDED_SETTINGS = {"model": {"precision": "float32"}, "train": {"select": "val_loss"}}


def same_experiment(recorded: dict, cfg: Config) -> bool:
    """True when a recorded config (results.json's `config`) describes the experiment `cfg` does:
    every recorded setting has the same value, and settings added to the code since (listed in
    ADDED_SETTINGS) have the value the code used before (so adding a setting does not unfreeze
    published results)."""
    now = cfg.to_dict()
    for name in SECTIONS:
        if not isinstance(recorded.get(name), dict):
            return False
        old, new, before = recorded[name], now[name], ADDED_SETTINGS.get(name, {})
        if set(old) - set(new) or set(new) - set(old) - set(before):
            return False  # a setting was removed, or a new one is not in ADDED_SETTINGS
        for k, v in new.items():
            want = old.get(k, before.get(k))
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


def _key(loc: tuple) -> str:
    """('train', 'models', 1) -> 'train.models[1]'"""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


TYPES = {"int_type": "int", "float_type": "float", "string_type": "str", "tuple_type": "list",
         "dataclass_type": "table", "bool_type": "bool"}


def _one_line(e: ValidationError, where: str) -> str:
    """The first problem of a config ValidationError as one line that names the key."""
    err = e.errors(include_url=False)[0]
    key, kind, value = _key(err["loc"]), err["type"], err.get("input")
    if kind == "missing":
        return (f"config key {key} is missing from {where} (every setting is set there; "
                "the code has no defaults)")
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        known = sorted(f.name for f in dataclasses.fields(SECTIONS[err["loc"][0]]))
        return f"unknown config key {key} (known: {', '.join(known)})"
    if kind in TYPES:
        return f"config key {key}: expected {TYPES[kind]}, got {value!r}"
    if kind == "value_error":
        return f"invalid config: {err['msg'].removeprefix('Value error, ')}"
    msg = err["msg"][0].lower() + err["msg"][1:]
    return f"invalid config: {key}={value!r}: {msg}"


def from_dict(d: dict, where: str = "the config") -> Config:
    """A validated Config from its `to_dict()` form (or a resolved TOML); one-line UserError."""
    try:
        return TypeAdapter(Config).validate_python(d)
    except ValidationError as e:
        raise UserError(_one_line(e, where)) from None


def validate(cfg: Config) -> Config:
    """`cfg` checked again as a whole (a Config built with dataclasses.replace is checked per
    section already)."""
    return from_dict(cfg.to_dict())


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"config file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"config file {path} is not valid TOML: {e}") from None


def load_config(profile: str = "full", path: Path | str | None = None,
                settings: Path | str | None = None) -> Config:
    """Read the TOML, apply `profile`'s overrides and validate.

    `settings` is a file of chosen settings laid over the result, e.g. the sweep's
    (`attnstudy sweep` writes one: [profiles.<profile>.data] max_len, [profiles.<profile>.train.
    learning_rate_by_model], ...); it must be for `profile`."""
    path = Path(path) if path else DEFAULT_CONFIG
    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    raw = _read_toml(path)
    profiles = raw.pop("profiles", {})
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise UserError(f"unknown config section [{unknown[0]}] in {path}")
    merged = _merge(raw, profiles.get(profile, {}) or {})
    unknown = sorted(set(merged) - set(SECTIONS))
    if unknown:
        raise UserError(f"unknown config section [{unknown[0]}] in profile {profile!r}")
    if settings is not None:
        over = _read_toml(Path(settings))
        chosen = over.pop("profiles", None)
        if over or not isinstance(chosen, dict) or profile not in chosen:
            raise UserError(f"settings file {settings} has no [profiles.{profile}] settings "
                            f"(it holds {', '.join(chosen or {}) or 'none'})")
        unknown = sorted(set(chosen[profile]) - set(SECTIONS))
        if unknown:
            raise UserError(f"unknown config section [{unknown[0]}] in {settings}")
        merged = _merge(merged, chosen[profile])
    return from_dict({"profile": profile, **merged}, str(path))
