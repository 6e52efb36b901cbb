"""Training one (model, seed) run under the shared budget, checkpointed and resumable.

Every model gets the same optimizer (AdamW, warmup + cosine decay, global-norm clipping), batch
size, step budget, dropout and per-seed data order. Validation loss and accuracy are measured
every `eval_every` steps; the parameters of the point `train.select` prefers (lowest loss, or
highest accuracy with ties to the lower loss) are the ones evaluated on test.
A checkpoint is written (atomically) at every validation point, so a killed run resumes from
there and reaches the same final parameters as an uninterrupted one.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from attnstudy.config import Config, ModelConfig, TrainConfig
from attnstudy.data.batches import epoch_batches
from attnstudy.data.encode import PAD, Dataset
from attnstudy.errors import UserError
from attnstudy.metrics import decide, log_loss
from attnstudy.models.classifiers import build_model, init_params
from attnstudy.models.inference import (
    compiled_predict,
    compiled_predict_entropy,
    predict_probs_with,
)
from attnstudy.training.checkpoints import CHECKPOINT, RunState, load_state, save_state


class NonFiniteLoss(UserError):
    """Training diverged (NaN or inf loss)."""


def make_optimizer(t: TrainConfig) -> optax.GradientTransformation:
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, t.learning_rate, max(t.warmup_steps, 1), max(t.steps, t.warmup_steps + 1),
        end_value=0.1 * t.learning_rate)
    return optax.chain(optax.clip_by_global_norm(t.clip_norm),
                       optax.adamw(schedule, weight_decay=t.weight_decay))


@functools.lru_cache(maxsize=16)
def compiled_steps(name: str, mcfg: ModelConfig, tcfg: TrainConfig, vocab_size: int,
                   max_len: int):
    """(model, optimizer, train_step) for one model; jitted once per process and shape.

    Cached so every seed of a model reuses the same compiled step (one compile per bucket
    width, not per run).
    """
    model = build_model(name, mcfg, vocab_size, max_len)
    tx = make_optimizer(tcfg)

    def loss_fn(params, ids, mask, labels, rng):
        logits = model.apply({"params": params}, ids, mask, train=True, rngs={"dropout": rng})
        return optax.sigmoid_binary_cross_entropy(logits, labels).mean()

    @jax.jit
    def train_step(params, opt_state, ids, mask, labels, rng):
        loss, grads = jax.value_and_grad(loss_fn)(params, ids, mask, labels, rng)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return model, tx, train_step


def selection_key(select: str, point: dict) -> tuple[float, ...]:
    """Sort key of a validation point under `train.select`: the smallest is the best."""
    if select == "val_accuracy":
        return (-point["val_accuracy"], point["val_loss"])
    return (point["val_loss"],)


def curve_attention(att: dict) -> dict:
    """A curve point's attention record from per-review validation entropies [n, c] (column 0
    the model's token distribution, then one per head for mhsa; attention_ops.review_stats)."""
    ent = att["entropy"]
    q25, q50, q75 = np.quantile(ent[:, 0], [0.25, 0.5, 0.75])
    rows = att.get("row_entropy")
    return {"entropy_median": float(q50), "entropy_q25": float(q25), "entropy_q75": float(q75),
            "heads_entropy_median": ([float(x) for x in np.median(ent[:, 1:], axis=0)]
                                     if ent.shape[1] > 1 else None),
            "row_entropy_median": None if rows is None else float(np.median(rows[:, 0]))}


def train_run(cfg: Config, name: str, seed: int, ds: Dataset, run_dir: Path,
              progress=None, stop_after: int | None = None) -> RunState:
    """Train `name` with `seed` for cfg.train.steps steps; resume from run_dir's checkpoint.

    `progress(step, loss)` is called after each validation point; `stop_after` (tests only)
    stops after that many steps as if the process had been killed.
    """
    t, d = cfg.train, cfg.data
    model, tx, train_step = compiled_steps(name, cfg.model, t, len(ds.vocab), d.max_len)
    # models with attention report its entropy from the same validation pass
    predict = (compiled_predict_entropy(name, cfg.model, len(ds.vocab), d.max_len)
               or compiled_predict(name, cfg.model, len(ds.vocab), d.max_len)[1])
    ckpt = run_dir / CHECKPOINT
    params = init_params(model, seed, d.max_len)
    opt_state = tx.init(params)
    state = load_state(ckpt, params, opt_state, f"{name} seed {seed}")
    if state is None:
        state = RunState(step=0, params=params, opt_state=opt_state, best_params=params)
    dropout_key = jax.random.key(seed + 1_000_003)
    per_epoch = len(epoch_batches(ds.train.lengths, d.bucket_edges, t.batch_size, seed, 0))
    params, opt_state = state.params, state.opt_state
    losses: list = []
    epoch, batches = -1, []
    started = time.perf_counter()
    while state.step < t.steps:
        e, pos = divmod(state.step, per_epoch)
        if e != epoch:  # the batch order is a pure function of (seed, epoch): resumable
            epoch, batches = e, epoch_batches(ds.train.lengths, d.bucket_edges, t.batch_size,
                                              seed, e)
        width, rows = batches[pos]
        ids = ds.train.ids[rows, :width]
        params, opt_state, loss = train_step(params, opt_state, ids, ids != PAD,
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
            probs, att = predict_probs_with(predict, params, ds.val, d.bucket_edges,
                                            t.eval_batch_size)
            val_loss = log_loss(ds.val.labels, probs)
            point = {"step": state.step, "train_loss": float(step_losses.mean()),
                     "val_loss": val_loss,
                     "val_accuracy": float((decide(probs) == ds.val.labels).mean()),
                     # for time-to-accuracy: cumulative, so a resumed run continues the count
                     "train_seconds": state.train_seconds, "train_tokens": state.train_tokens}
            if att:
                point["attention"] = curve_attention(att)
            state.curve.append(point)
            best = next((p for p in state.curve if p["step"] == state.best_step), None)
            if best is None or selection_key(t.select, point) < selection_key(t.select, best):
                state.best_step = state.step
                state.best_params = params
            state.params, state.opt_state = params, opt_state
            save_state(ckpt, state)
            losses = []
            if progress:
                progress(state.step, point)
            started = time.perf_counter()
        if stop_after is not None and state.step >= stop_after:
            break
    return state
