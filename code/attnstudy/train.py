"""Training one (model, seed) run under the shared budget, checkpointed and resumable.

Every model gets the same optimizer (AdamW, warmup + cosine decay, global-norm clipping), batch
size, step budget, dropout and per-seed data order. Validation loss is measured every
`eval_every` steps; the parameters with the best validation loss are the ones evaluated on test.
A checkpoint is written (atomically) at every validation point, so a killed run resumes from
there and reaches the same final parameters as an uninterrupted one.
"""

from __future__ import annotations

import functools
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from attnstudy import data as data_lib
from attnstudy import models
from attnstudy.config import Config, ModelConfig, TrainConfig
from attnstudy.errors import UserError
from attnstudy.io import atomic_write

CHECKPOINT = "checkpoint.pkl"


def enable_compile_cache(path: Path | None = None) -> None:
    """Persist XLA executables across processes: a rebuild or test run skips most compiles."""
    from attnstudy.config import ROOT

    jax.config.update("jax_compilation_cache_dir", str(path or ROOT / "build" / "cache" / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


class NonFiniteLoss(UserError):
    """Training diverged (NaN or inf loss)."""


@dataclass
class RunState:
    """Everything a checkpoint holds: enough to continue bit-identically."""

    step: int
    params: dict
    opt_state: object
    best_params: dict
    best_step: int = 0
    best_val_loss: float = float("inf")
    curve: list = field(default_factory=list)
    train_seconds: float = 0.0
    train_tokens: int = 0


def make_optimizer(t: TrainConfig) -> optax.GradientTransformation:
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, t.learning_rate, max(t.warmup_steps, 1), max(t.steps, t.warmup_steps + 1),
        end_value=0.1 * t.learning_rate)
    return optax.chain(optax.clip_by_global_norm(t.clip_norm),
                       optax.adamw(schedule, weight_decay=t.weight_decay))


@functools.lru_cache(maxsize=16)
def compiled_steps(name: str, mcfg: ModelConfig, tcfg: TrainConfig, vocab_size: int,
                   max_len: int):
    """(model, optimizer, train_step, predict) for one model; jitted once per process and shape.

    Cached so every seed of a model reuses the same compiled functions (one compile per bucket
    width, not per run).
    """
    model = models.build_model(name, mcfg, vocab_size, max_len)
    tx = make_optimizer(tcfg)

    def loss_fn(params, ids, mask, labels, rng):
        logits = model.apply({"params": params}, ids, mask, train=True, rngs={"dropout": rng})
        return optax.sigmoid_binary_cross_entropy(logits, labels).mean()

    @jax.jit
    def train_step(params, opt_state, ids, mask, labels, rng):
        loss, grads = jax.value_and_grad(loss_fn)(params, ids, mask, labels, rng)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def predict(params, ids, mask):
        return model.apply({"params": params}, ids, mask)

    return model, tx, train_step, predict


def predict_probs(predict, params, split: data_lib.Split, edges, batch_size: int) -> np.ndarray:
    """P(positive) for every row of `split`, in row order. <float32>[n]."""
    out = np.zeros(len(split), np.float32)
    pending = []
    for width, idx, n_real in data_lib.eval_batches(split.lengths, edges, batch_size):
        ids = split.ids[idx, :width]
        logits = predict(params, ids, ids != data_lib.PAD)  # dispatch now, fetch later
        pending.append((idx[:n_real], logits, n_real))
    for rows, logits, n_real in pending:
        out[rows] = np.asarray(jax.nn.sigmoid(logits[:n_real]))
    return out


def _log_loss(labels: np.ndarray, probs: np.ndarray) -> float:
    p = np.clip(probs.astype(np.float64), 1e-7, 1 - 1e-7)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def _save(path: Path, state: RunState) -> None:
    with atomic_write(path, "wb") as f:
        pickle.dump(jax.device_get(vars(state)), f, protocol=pickle.HIGHEST_PROTOCOL)


def _load(path: Path) -> RunState | None:
    try:
        with path.open("rb") as f:
            return RunState(**pickle.load(f))
    except FileNotFoundError:
        return None
    except Exception:  # torn or foreign file: start over rather than trust it
        return None


def train_run(cfg: Config, name: str, seed: int, ds: data_lib.Dataset, run_dir: Path,
              progress=None, stop_after: int | None = None) -> RunState:
    """Train `name` with `seed` for cfg.train.steps steps; resume from run_dir's checkpoint.

    `progress(step, loss)` is called after each validation point; `stop_after` (tests only)
    stops after that many steps as if the process had been killed.
    """
    t, d = cfg.train, cfg.data
    model, tx, train_step, predict = compiled_steps(name, cfg.model, t, len(ds.vocab), d.max_len)
    ckpt = run_dir / CHECKPOINT
    state = _load(ckpt)
    if state is None:
        params = models.init_params(model, seed, d.max_len)
        state = RunState(step=0, params=params, opt_state=tx.init(params), best_params=params)
    dropout_key = jax.random.key(seed + 1_000_003)
    per_epoch = len(data_lib.epoch_batches(ds.train.lengths, d.bucket_edges, t.batch_size, seed, 0))
    params, opt_state = state.params, state.opt_state
    losses: list = []
    epoch, batches = -1, []
    started = time.perf_counter()
    while state.step < t.steps:
        e, pos = divmod(state.step, per_epoch)
        if e != epoch:  # the batch order is a pure function of (seed, epoch): resumable
            epoch, batches = e, data_lib.epoch_batches(ds.train.lengths, d.bucket_edges,
                                                       t.batch_size, seed, e)
        width, rows = batches[pos]
        ids = ds.train.ids[rows, :width]
        params, opt_state, loss = train_step(params, opt_state, ids, ids != data_lib.PAD,
                                             ds.train.labels[rows].astype(np.float32),
                                             jax.random.fold_in(dropout_key, state.step))
        losses.append(loss)
        state.train_tokens += int(ds.train.lengths[rows].sum())
        state.step += 1
        if state.step % t.eval_every == 0 or state.step == t.steps:
            step_losses = np.asarray(jnp.stack(losses))
            bad = np.flatnonzero(~np.isfinite(step_losses))
            if len(bad):
                raise NonFiniteLoss(f"{name} seed {seed}: loss is {step_losses[bad[0]]} at step "
                                    f"{state.step - len(losses) + bad[0] + 1}; lower "
                                    "train.learning_rate or check the data")
            state.train_seconds += time.perf_counter() - started
            probs = predict_probs(predict, params, ds.val, d.bucket_edges, t.eval_batch_size)
            val_loss = _log_loss(ds.val.labels, probs)
            point = {"step": state.step, "train_loss": float(step_losses.mean()),
                     "val_loss": val_loss,
                     "val_accuracy": float(((probs >= 0.5) == ds.val.labels).mean())}
            state.curve.append(point)
            if val_loss < state.best_val_loss:
                state.best_val_loss, state.best_step = val_loss, state.step
                state.best_params = params
            state.params, state.opt_state = params, opt_state
            _save(ckpt, state)
            losses = []
            if progress:
                progress(state.step, point)
            started = time.perf_counter()
        if stop_after is not None and state.step >= stop_after:
            break
    return state
