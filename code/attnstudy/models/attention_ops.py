"""Attention weights as data (JAX, jit-friendly): the ablations the attention modules apply in
place of their learned weights, and per-review statistics of the weights.

A weight array has its distribution on the last axis (keys / tokens) and is zero wherever
`valid` is False; `valid` is a boolean array broadcastable to it (additive: the token mask
[b, t]; mhsa: real query x real key, [b, 1, q, k]), so a padded query row is all False.

Ablation modes (the `mode` field of `classifiers.AdditiveAttention` / `SelfAttention`):

  learned   the trained weights
  uniform   1/n on each of a row's n real tokens (Wiegreffe & Pinter 2019): additive attention
            becomes exactly a masked mean-pool, i.e. the `bilstm_mean` control
  permuted  each row's own weights shuffled among its real tokens (Jain & Wallace 2019); the
            permutation comes from the "ablation" rng collection; padding is never touched
  none      mhsa only: the attention sublayer is skipped (see `classifiers.SelfAttention`)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

MODES = ("learned", "uniform", "permuted", "none")
# The attention the paper interprets, and the ablations measured for each (evaluation).
ABLATIONS = {"additive": ("uniform", "permuted"), "mhsa": ("uniform", "permuted", "none"),
             "embed_additive": ("uniform", "permuted")}
TOP_K = 5  # statistics: the mass on the TOP_K highest-weighted tokens
PACKED_MAX = 512  # permute: rows up to 511 entries pack (random rank, position) in 23 + 9 bits


def uniform(valid) -> jax.Array:
    """<float32>[..., t]: 1/n over each row's n valid entries, 0 elsewhere (and on empty rows)."""
    v = valid.astype(jnp.float32)
    return v / jnp.maximum(v.sum(-1, keepdims=True), 1.0)


def permute(weights, valid, key) -> jax.Array:
    """Each row's weights shuffled uniformly at random among its valid entries.

    A row's multiset of weights is kept and invalid entries keep their value (zero), wherever
    they sit: the i-th valid position (in order) receives the weight of the i-th entry of a
    random ordering of the valid positions. weights <float32>[..., t], valid <bool> broadcastable
    to it (e.g. [b, 1, q, k] for [b, heads, q, k]), key a PRNG key -> <float32>[..., t].

    The random ordering: valid positions by u ~ U[0, 1) per entry, ties in position order.
    Rows shorter than PACKED_MAX sort one uint32 per entry (u's 23 bits, then the position;
    XLA sorts a single integer operand several times faster than keys with values); longer
    rows sort (u, weight) pairs. The i-th valid position is a running count of the mask.
    """
    t = weights.shape[-1]
    u = jax.random.uniform(key, weights.shape)  # multiples of 2^-23
    if t < PACKED_MAX:
        bits = max(t - 1, 1).bit_length()
        packed = ((u * 2.0**23).astype(jnp.uint32) << bits) | jnp.arange(t, dtype=jnp.uint32)
        packed = jnp.where(valid, packed, jnp.uint32(2**32 - 1))  # valid ones <= 2^32 - 2
        source = (jax.lax.sort(packed, is_stable=False) & (2**bits - 1)).astype(jnp.int32)
        # slots past a row's valid entries hold no position; they are never read below
        shuffled = jnp.take_along_axis(weights, source, axis=-1, mode="clip")
    else:
        order = jnp.where(valid, u - 2.0, jnp.arange(t, dtype=jnp.float32))
        _, shuffled = jax.lax.sort_key_val(order, weights, is_stable=True)
    rank = jnp.maximum(jnp.cumsum(valid, axis=-1, dtype=jnp.int32) - 1, 0)  # of a valid entry
    rank = jnp.broadcast_to(rank, weights.shape)
    return jnp.where(valid, jnp.take_along_axis(shuffled, rank, axis=-1), weights)


def ablate(weights, valid, mode: str, key=None) -> jax.Array:
    """The weights a module uses in `mode` ("learned", "uniform" or "permuted")."""
    if mode == "learned":
        return weights
    if mode == "uniform":
        return uniform(jnp.broadcast_to(valid, weights.shape)).astype(weights.dtype)
    if mode == "permuted":
        return permute(weights, valid, key)
    raise ValueError(f"attention mode {mode!r} replaces no weights (known: {', '.join(MODES)})")


# ----------------------------------------------------------------------------- statistics

def normalised_entropy(weights, valid) -> jax.Array:
    """H(w) / log n per row, n = the row's valid entries: 1 for uniform weights, 0 for one-hot.

    A row with n = 1 gets 1: its only distribution is uniform (the uniform ablation leaves it
    unchanged). Rows with n = 0 (padded queries) also give 1; callers average over real rows only.
    <float32>[..., t] -> [...].
    """
    valid = jnp.broadcast_to(valid, weights.shape)
    n = valid.sum(-1)
    safe = jnp.where(valid & (weights > 0), weights, 1.0)
    h = -(jnp.where(valid, weights, 0.0) * jnp.log(safe)).sum(-1)
    return jnp.where(n > 1, h / jnp.log(jnp.maximum(n, 2).astype(weights.dtype)), 1.0)


def top_mass(weights, k: int) -> jax.Array:
    """Mass on the k highest weights of each row: <float32>[..., t] -> [...]."""
    return jax.lax.top_k(weights, min(k, weights.shape[-1]))[0].sum(-1)


def received(weights, mask) -> jax.Array:
    """Attention received per key, mean over real queries: [b, heads, q, k] -> [b, heads, k].

    Padded query rows are zero, so this is the column sum over the n real queries / n; each
    head's result is a distribution over the real tokens.
    """
    n = jnp.maximum(mask.sum(-1), 1).astype(weights.dtype)
    return weights.sum(axis=2) / n[:, None, None]


def review_stats(weights, mask) -> dict:
    """Per-review statistics of a model's sown weights, in one jitted pass.

    weights: additive <float32>[b, t]; mhsa [b, heads, t, t]. mask <bool>[b, t].
    Returns arrays [b, c], c = 1 for additive, 1 + heads for mhsa (column 0: the mean over
    heads of the attention received, the distribution the heatmaps and faithfulness use;
    columns 1.. each head's received attention):
      "dist"           [b, c, t] the token distribution itself (zero on padding)
      "entropy"        its normalised entropy; "max_weight" its largest weight (= top-1 mass);
      "top5_mass"      its mass on the TOP_K highest-weighted tokens
      "row_entropy"    (mhsa) mean over real queries of each query row's normalised entropy
      "row_max_weight" (mhsa) mean over real queries of each query row's largest weight
    """
    m = mask[:, None, :]
    if weights.ndim == 2:
        dist = weights[:, None, :]
        rows = None
    elif weights.ndim == 4:
        heads = received(weights, mask)  # [b, h, t]
        dist = jnp.concatenate([heads.mean(1, keepdims=True), heads], axis=1)
        n_q = jnp.maximum(mask.sum(-1), 1).astype(weights.dtype)[:, None]
        q_mask = mask[:, None, :].astype(weights.dtype)  # [b, 1, q]

        def over_queries(per_row):  # [b, h, q] -> [b, 1 + h]: mean over real queries
            per_head = (per_row * q_mask).sum(-1) / n_q
            return jnp.concatenate([per_head.mean(1, keepdims=True), per_head], axis=1)

        rows = {"row_entropy": over_queries(normalised_entropy(weights, mask[:, None, None, :])),
                "row_max_weight": over_queries(weights.max(-1))}
    else:
        raise ValueError(f"no review statistics for attention of shape {weights.shape}")
    out = {"dist": dist, "entropy": normalised_entropy(dist, m), "max_weight": dist.max(-1),
           "top5_mass": top_mass(dist, TOP_K)}
    return out | (rows or {})
