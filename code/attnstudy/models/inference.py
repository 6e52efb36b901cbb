"""Inference with a trained model: one jitted forward per model, batched P(positive), and the
attention read-out. Training (validation), evaluation, faithfulness and `predict` share these.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from attnstudy.config import BUILD, ModelConfig
from attnstudy.data.batches import eval_batches
from attnstudy.data.encode import PAD, Split
from attnstudy.models import attention_ops
from attnstudy.models.classifiers import Transformer, build_model


def enable_compile_cache(path: Path | None = None) -> None:
    """Persist XLA executables across processes: a rebuild or test run skips most compiles.

    In `path`, else $ATTNSTUDY_COMPILE_CACHE (the tests share one across their build folders),
    else the build folder's cache/jax."""
    path = path or os.environ.get("ATTNSTUDY_COMPILE_CACHE") or BUILD / "cache" / "jax"
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@functools.lru_cache(maxsize=16)
def compiled_predict(name: str, mcfg: ModelConfig, vocab_size: int, max_len: int):
    """(model, predict) with predict(params, ids, mask) -> logits <float32>[b], jitted once per
    process and model (every seed reuses it; one compile per bucket width)."""
    model = build_model(name, mcfg, vocab_size, max_len)

    @jax.jit
    def predict(params, ids, mask):
        return model.apply({"params": params}, ids, mask)

    return model, predict


def predict_probs(predict, params, split: Split, edges, batch_size: int) -> np.ndarray:
    """P(positive) for every row of `split`, in row order. <float32>[n]."""
    return predict_probs_with(predict, params, split, edges, batch_size)[0]


def predict_probs_with(predict, params, split: Split, edges, batch_size: int,
                       extra_args=None) -> tuple[np.ndarray, dict]:
    """(P(positive) <float32>[n], {name: <float32>[n, ...]}) for every row, in row order.

    `predict(params, ids, mask, *extra_args(i))` returns logits [b], or (logits, {name: [b,
    ...]}) for per-review extras; `extra_args(i)` gives batch i's further arguments (an rng key).
    """
    out = np.zeros(len(split), np.float32)
    extras: dict[str, np.ndarray] = {}
    pending = []
    for i, (width, idx, n_real) in enumerate(eval_batches(split.lengths, edges, batch_size)):
        ids = split.ids[idx, :width]
        res = predict(params, ids, ids != PAD, *(extra_args(i) if extra_args else ()))
        pending.append((idx[:n_real], res, n_real))  # dispatch now, fetch later
    for rows, res, n_real in pending:
        logits, more = res if isinstance(res, tuple) else (res, {})
        out[rows] = np.asarray(jax.nn.sigmoid(logits[:n_real]))
        for k, v in more.items():
            v = np.asarray(v)[:n_real]
            extras.setdefault(k, np.zeros((len(split), *v.shape[1:]), v.dtype))[rows] = v
    return out, extras


@functools.lru_cache(maxsize=16)
def compiled_predict_entropy(name: str, mcfg: ModelConfig, vocab_size: int, max_len: int):
    """predict(params, ids, mask) -> (logits [b], {"entropy", "row_entropy"?: <float32>[b, c]})
    for the models of `attention_ops.ABLATIONS` (validation: one pass gives loss and attention
    entropy; columns as in `attention_ops.review_stats`), else None."""
    if name not in attention_ops.ABLATIONS:
        return None
    model = build_model(name, mcfg, vocab_size, max_len)

    @jax.jit
    def predict(params, ids, mask):
        logits, weights = attention_weights(model, params, ids, mask)
        st = attention_ops.review_stats(weights, mask)
        return logits, {k: st[k] for k in ("entropy", "row_entropy") if k in st}

    return predict


def attention_weights(model: nn.Module, params, ids, mask):
    """(logits, weights) in eval mode; weights is None for models without attention.

    additive: <float32>[b, t]; mhsa: [b, heads, t, t]; transformer: [layers, b, heads, t, t].
    """
    logits, state = model.apply({"params": params}, ids, mask, mutable=["intermediates"])
    if isinstance(model, Transformer):  # stacked in layer order, even with one layer
        inter = state["intermediates"]
        return logits, jnp.stack([inter[f"block{i}_attention"]["attention"][0]
                                  for i in range(model.cfg.transformer_layers)])
    found = [v for _, v in sorted(jax.tree_util.tree_flatten_with_path(
        state.get("intermediates", {}))[0], key=lambda kv: str(kv[0]))]
    if not found:
        return logits, None
    return logits, found[0] if len(found) == 1 else jnp.stack(found)
