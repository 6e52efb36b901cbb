"""Is attention faithful? Erase the most-attended tokens and compare with erasing random ones.

For a model with attention and a set of reviews:

* token attention: additive -> its weight per token; mhsa -> attention *received* per token (mean
  over heads and over real query positions); transformer -> the same for its last layer;
* erasure: for each k, delete the k most-attended real tokens (or k random real tokens, seeded),
  close the gap and re-pad on the right, always keeping at least one token; record the mean
  |P(positive) change| and the share of flipped decisions (threshold 0.5);
* gradient agreement: per review, the Spearman correlation between token attention and gradient
  importance (L2 norm of d logit / d embedding, through the model's `perturb("embedded")`),
  averaged over reviews with at least two tokens and non-constant scores.

All work runs in fixed-shape batches of one jitted function, so nothing recompiles per review.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from attnstudy.metrics import THRESHOLD
from attnstudy.models.inference import attention_weights
from attnstudy.stats.bootstrap import bootstrap_means, summarize
from attnstudy.stats.tests import spearman


def token_attention(weights, mask):
    """Per-token attention <float32>[b, t] (zero on padding) from a model's sown weights.

    additive [b, t]; mhsa [b, heads, t, t]; transformer [layers, b, heads, t, t] (last layer).
    """
    m = mask.astype(jnp.float32)
    if weights.ndim == 5:
        weights = weights[-1]
    if weights.ndim == 2:
        return weights * m
    if weights.ndim == 4:  # [b, h, q, k]: padded query rows are zero, so sum / real queries
        received = weights.sum(axis=2).mean(axis=1)
        return received / jnp.maximum(m.sum(axis=1, keepdims=True), 1.0) * m
    raise ValueError(f"unexpected attention weights of shape {weights.shape}")


def select_tokens(scores: np.ndarray, lengths: np.ndarray, k: int) -> np.ndarray:
    """<bool>[n, t]: the min(k, length - 1) highest-scoring real tokens per row (ties: earlier)."""
    n, t = scores.shape
    real = np.arange(t)[None, :] < lengths[:, None]
    keyed = np.where(real, scores, -np.inf)
    order = np.argsort(-keyed, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(t), (n, t)), axis=1)
    take = np.minimum(k, np.maximum(lengths - 1, 0))
    return (ranks < take[:, None]) & real


def remove_tokens(ids: np.ndarray, lengths: np.ndarray,
                  remove: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Delete the marked real tokens, keep the rest in order, right-pad with PAD (0)."""
    t = ids.shape[1]
    real = np.arange(t)[None, :] < lengths[:, None]
    keep = real & ~remove
    order = np.argsort(~keep, axis=1, kind="stable")  # kept positions first, in order
    new_len = keep.sum(axis=1).astype(lengths.dtype)
    out = np.take_along_axis(ids, order, axis=1)
    out = np.where(np.arange(t)[None, :] < new_len[:, None], out, 0).astype(ids.dtype)
    return out, new_len


@functools.lru_cache(maxsize=16)
def _compiled(model, batch_size: int, width: int):
    """(forward, importance) of `model` jitted once per process and shape (flax modules hash
    by value, so every seed of a model shares them)."""
    ids = jnp.ones((batch_size, width), jnp.int32)
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), ids, ids > 0))
    if "perturbations" not in shapes:
        raise ValueError("the model has no perturb('embedded') point for gradients")
    zero_shapes = shapes["perturbations"]

    def forward(params, ids, mask):
        logits, weights = attention_weights(model, params, ids, mask)
        if weights is None:
            raise ValueError("faithfulness needs a model with attention")
        return jax.nn.sigmoid(logits), token_attention(weights, mask)

    def importance(params, ids, mask):
        zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), zero_shapes)

        def total_logit(z):
            return model.apply({"params": params, "perturbations": z}, ids, mask).sum()

        grads = jax.tree_util.tree_leaves(jax.grad(total_logit)(zeros))[0]  # [b, t, e]
        return (jnp.linalg.norm(grads, axis=-1) * mask,)

    return jax.jit(forward), jax.jit(importance)


class _Runner:
    """Fixed-shape jitted forward (P(positive), token attention) and gradient importance."""

    def __init__(self, model, params, batch_size: int, width: int):
        self.params, self.batch, self.width = params, batch_size, width
        self._forward, self._importance = _compiled(model, batch_size, width)

    def _batched(self, fn, ids: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        """fn over fixed-shape batches (the last one filled by repeating a row); fn returns a
        tuple of per-row arrays, concatenated here."""
        n, b = len(ids), self.batch
        outs = []
        for start in range(0, n, b):
            idx = np.arange(start, min(start + b, n))
            idx = np.concatenate([idx, np.full(b - len(idx), idx[0])])  # fill the fixed shape
            mask = np.arange(self.width)[None, :] < lengths[idx, None]
            res = fn(self.params, jnp.asarray(ids[idx]), jnp.asarray(mask))
            outs.append((res, min(b, n - start)))  # dispatch now, fetch below
        outs = [[np.asarray(x)[:keep] for x in res] for res, keep in outs]
        return [np.concatenate(xs) for xs in zip(*outs, strict=True)]

    def forward(self, ids, lengths) -> tuple[np.ndarray, np.ndarray]:
        """(P(positive) <float32>[n], token attention <float32>[n, t])."""
        p, att = self._batched(self._forward, ids, lengths)
        return p, att

    def importance(self, ids, lengths) -> np.ndarray:
        """Gradient importance <float32>[n, t]: |d logit / d embedding| per token."""
        return self._batched(self._importance, ids, lengths)[0]


def measure(model, params, split, rows, k_list, seed: int, batch_size: int = 64,
            bootstrap_samples: int = 1000) -> dict:
    """Erasure and gradient-agreement faithfulness of `model` on `split` rows `rows`.

    Returns (lists aligned with `k`):
      {"k": [int], "top_drop": [float], "random_drop": [float], "top_flip": [float],
       "random_flip": [float], "drop_diff_ci_low": [float], "drop_diff_ci_high": [float],
       "grad_spearman": float | None, "n_reviews": int, "n_spearman": int}
    top/random_drop = mean |P(positive) after - before| when erasing the k most-attended / k
    random real tokens; *_flip = share of reviews whose decision changes; drop_diff_ci_* =
    percentile bootstrap 95% CI over reviews of mean(|top change| - |random change|).
    """
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        raise ValueError("faithfulness needs at least one review")
    ids = np.asarray(split.ids)[rows]
    lengths = np.asarray(split.lengths)[rows].astype(np.int64)
    runner = _Runner(model, params, min(batch_size, len(rows)), ids.shape[1])
    p0, att = runner.forward(ids, lengths)
    grad = runner.importance(ids, lengths)

    rhos = [spearman(att[i, :n], grad[i, :n]) for i, n in enumerate(lengths)]
    rhos = [r for r in rhos if np.isfinite(r)]

    rng = np.random.default_rng(seed)
    boot_rng = np.random.default_rng([seed, 1])
    out: dict = {"k": [], "top_drop": [], "random_drop": [], "top_flip": [], "random_flip": [],
                 "drop_diff_ci_low": [], "drop_diff_ci_high": []}
    base_pos = p0 >= THRESHOLD
    for k in k_list:
        k = int(k)
        changes = {}
        for kind, scores in (("top", att), ("random", rng.random(att.shape))):
            new_ids, new_len = remove_tokens(ids, lengths, select_tokens(scores, lengths, k))
            p = runner.forward(new_ids, new_len)[0]
            changes[kind] = (np.abs(p - p0), (p >= THRESHOLD) != base_pos)
        diff = changes["top"][0] - changes["random"][0]
        ci = summarize(bootstrap_means(diff, bootstrap_samples, boot_rng), 0.95)
        out["k"].append(k)
        for kind in ("top", "random"):
            out[f"{kind}_drop"].append(float(changes[kind][0].mean()))
            out[f"{kind}_flip"].append(float(changes[kind][1].mean()))
        out["drop_diff_ci_low"].append(ci["ci_low"])
        out["drop_diff_ci_high"].append(ci["ci_high"])
    out["grad_spearman"] = float(np.mean(rhos)) if rhos else None
    out["n_reviews"] = int(len(rows))
    out["n_spearman"] = len(rhos)
    return out
