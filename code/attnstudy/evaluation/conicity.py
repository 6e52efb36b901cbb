"""How alike are a review's token vectors? Conicity (Mohankumar et al. 2020, "Towards
Transparent and Explainable Attention Models"), per review and run.

conicity(v_1..v_n) = (1/n) sum_t cos(v_t, mean_s v_s) over a review's n real positions: near 1
when every vector points the same way (attention over them can only mix near-copies, so its
weights barely matter), 1/sqrt(n) for n orthogonal vectors of equal length, 1 for a review of
one token. Measured on two sets of vectors of the same review:

  states      what the model aggregates (pools or attends over): the encoder's output, i.e. the
              BiLSTM states (bilstm, bilstm_matched, bilstm_mean, additive, and mhsa, whose
              self-attention reads them); the token embeddings for embed_additive and
              embed_mean (they have no encoder); the last block's output for the transformer
  embeddings  the token embeddings (`nn.Embed`'s output, before dropout): the reference a
              contextual encoder is compared against
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from attnstudy.config import Config, ModelConfig
from attnstudy.data.encode import Split
from attnstudy.evaluation.attention_stats import summarise
from attnstudy.models.classifiers import Encoder, Transformer, build_model
from attnstudy.models.inference import predict_probs_with

SETS = ("states", "embeddings")
TINY = 1e-12  # a zero vector has cosine 0 with anything, not NaN


def conicity(vectors, mask) -> jax.Array:
    """Per review, the mean over real positions of cos(v_t, the mean of the real v).

    vectors <float32>[b, t, d], mask <bool>[b, t] (at least one True per row) -> <float32>[b].
    Padded positions are ignored whatever they hold.
    """
    m = mask[..., None].astype(vectors.dtype)
    n = jnp.maximum(m.sum(1), 1.0)  # [b, 1]
    mean = (vectors * m).sum(1) / n  # [b, d]
    dots = jnp.einsum("btd,bd->bt", vectors, mean)
    norms = jnp.linalg.norm(vectors, axis=-1) * jnp.linalg.norm(mean, axis=-1)[:, None]
    cos = dots / jnp.maximum(norms, TINY)
    return (cos * mask).sum(1) / n[:, 0]


@functools.lru_cache(maxsize=16)
def compiled_conicity(name: str, mcfg: ModelConfig, vocab_size: int, max_len: int):
    """predict(params, ids, mask) -> (logits [b], {"states", "embeddings": <float32>[b]}),
    jitted once per process and model; the vectors are read off the eval forward by
    intercepting the modules that make them (no second code path through the model)."""
    model = build_model(name, mcfg, vocab_size, max_len)
    last_norm = f"block{mcfg.transformer_layers - 1}_norm"

    @jax.jit
    def predict(params, ids, mask):
        found = {}

        def grab(next_fun, args, kwargs, context):
            out = next_fun(*args, **kwargs)
            mod = context.module
            if context.method_name != "__call__":
                return out
            if isinstance(mod, nn.Embed):
                found.setdefault("embeddings", out)
            elif isinstance(mod, Encoder) or (isinstance(model, Transformer)
                                              and mod.name == last_norm):
                found["states"] = out
            return out

        with nn.intercept_methods(grab):
            logits = model.apply({"params": params}, ids, mask)
        return logits, {k: conicity(found[k], mask) for k in SETS}

    return predict


def per_review(cfg: Config, name: str, vocab_size: int, params,
               split: Split) -> dict[str, np.ndarray]:
    """{"states", "embeddings": <float32>[n]}: conicity of every row of `split`."""
    predict = compiled_conicity(name, cfg.model, vocab_size, cfg.data.max_len)
    _, out = predict_probs_with(predict, params, split, cfg.data.bucket_edges,
                                cfg.train.eval_batch_size)
    return out


def measure(cfg: Config, name: str, vocab_size: int, params, split: Split) -> dict:
    """A run's record: {"states", "embeddings"} each summarised over the reviews (mean and
    quantiles, `attention_stats.summarise`)."""
    return {k: summarise(v) for k, v in per_review(cfg, name, vocab_size, params, split).items()}
