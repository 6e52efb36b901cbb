"""Does the attention do anything? The trained parameters evaluated with their attention
weights replaced, on the whole test split (additive and mhsa, every seed).

Ablations (`attention_ops.ABLATIONS`; the modules' `mode`, see attnstudy.models.attention_ops):

  uniform   1/n on each of the n real tokens, every query row for mhsa (Wiegreffe & Pinter
            2019); for additive this is exactly bilstm_mean's masked mean-pool of the same states
  permuted  each row of weights shuffled among its real tokens (Jain & Wallace 2019), seeded by
            (analysis.seed, run seed), padding untouched
  none      mhsa only: the attention sublayer skipped, the block's output is LayerNorm(h)

Per ablation: test accuracy; its change vs the unablated model (ablated - learned, a fraction)
with a paired bootstrap CI over reviews (`paired_bootstrap`, analysis.seed); the mean
|change in P(positive)|; the share of reviews whose decision flips. The unablated model's
predictions are never recomputed here: they are passed in.

Cost: one pass over the split (`per_review`) serves every ablation and the learned weights'
statistics (attention_stats.py): per batch the encoder runs once and its states feed the
learned attention and each ablated one, in one jitted call per bucket width. The encoder's
states, the permutation keys and the batches are those of one pass per mode, so every number
is the same, bit for bit (tests/test_eval_cost.py holds it to the per-mode passes).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from attnstudy.config import Config, ModelConfig
from attnstudy.data.batches import eval_batches
from attnstudy.data.encode import PAD, Split
from attnstudy.metrics import decide
from attnstudy.models import attention_ops
from attnstudy.models.attention_ops import ABLATIONS
from attnstudy.models.classifiers import Encoder, build_model
from attnstudy.models.inference import attention_weights
from attnstudy.stats.bootstrap import paired_bootstrap

LEVEL = 0.95  # confidence level of the recorded CIs (claims.toml's ablation claim checks it)


def _encoder_call(context) -> bool:
    return isinstance(context.module, Encoder) and context.method_name == "__call__"


@functools.lru_cache(maxsize=16)
def compiled_pass(name: str, mcfg: ModelConfig, vocab_size: int, max_len: int):
    """run(params, ids, mask, key) -> ({mode: ablated logits <float32>[b]}, statistics), jitted
    once per process and model (one compile per bucket width).

    The statistics are `attention_ops.review_stats` of the learned weights, "dist" zero-padded to
    max_len so every bucket width gives the same shape. The encoder runs once: its states are
    kept from the learned forward and handed to each ablated module (same parameters, mode set)
    in place of running it again; `key` feeds the "ablation" rng collection as in one apply.
    """
    model = build_model(name, mcfg, vocab_size, max_len)
    ablated = {mode: model.clone(attention_mode=mode) for mode in ABLATIONS[name]}

    @jax.jit
    def run(params, ids, mask, key):
        states = []

        def keep(next_fun, args, kwargs, context):
            out = next_fun(*args, **kwargs)
            if _encoder_call(context):
                states.append(out)
            return out

        def reuse(next_fun, args, kwargs, context):
            return states[0] if _encoder_call(context) else next_fun(*args, **kwargs)

        with nn.intercept_methods(keep):
            _, weights = attention_weights(model, params, ids, mask)
        st = attention_ops.review_stats(weights, mask)
        st["dist"] = jnp.pad(st["dist"], ((0, 0), (0, 0), (0, max_len - ids.shape[1])))
        with nn.intercept_methods(reuse):
            logits = {mode: m.apply({"params": params}, ids, mask, rngs={"ablation": key})
                      for mode, m in ablated.items()}
        return logits, st

    return run


def per_review(cfg: Config, name: str, seed: int, vocab_size: int, params,
               split: Split) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """({ablation: P(positive) <float32>[n]}, {statistic: <float32>[n, c]}) for every row of
    `split` in one pass (statistics as `attention_ops.review_stats`, "dist" [n, c, max_len]).

    Batch i permutes with key fold_in(key([analysis.seed, seed]), i), so it is reproducible;
    P(positive) is the sigmoid of each batch's real rows, as `inference.predict_probs` takes it.
    """
    run = compiled_pass(name, cfg.model, vocab_size, cfg.data.max_len)
    base = jax.random.fold_in(jax.random.key(cfg.analysis.seed), seed)
    pending = []
    for i, (width, idx, n_real) in enumerate(eval_batches(split.lengths, cfg.data.bucket_edges,
                                                           cfg.train.eval_batch_size)):
        ids = split.ids[idx, :width]
        res = run(params, ids, ids != PAD, jax.random.fold_in(base, i))
        pending.append((idx[:n_real], res, n_real))  # dispatch now, fetch later
    probs = {mode: np.zeros(len(split), np.float32) for mode in ABLATIONS[name]}
    per: dict[str, np.ndarray] = {}
    for rows, (logits, st), n_real in pending:
        for mode, x in logits.items():
            probs[mode][rows] = np.asarray(jax.nn.sigmoid(x[:n_real]))
        for k, v in st.items():
            v = np.asarray(v)[:n_real]
            per.setdefault(k, np.zeros((len(split), *v.shape[1:]), v.dtype))[rows] = v
    return probs, per


def compare(probs: np.ndarray, ablated: np.ndarray, labels: np.ndarray, n_boot: int,
            seed: int) -> dict:
    """One ablation's record from the learned and ablated P(positive) <float>[n] of a run."""
    right, right_ablated = decide(probs) == labels, decide(ablated) == labels
    boot = paired_bootstrap(right_ablated, right, n_boot, seed, LEVEL)
    return {"accuracy": float(right_ablated.mean()), "acc_diff": boot["acc_diff"],
            "ci_low": boot["ci_low"], "ci_high": boot["ci_high"], "p": boot["p"],
            "ci_level": LEVEL,
            "mean_abs_prob_change": float(np.abs(ablated.astype(np.float64) - probs).mean()),
            "flipped": float((decide(ablated) != decide(probs)).mean())}


def records(cfg: Config, probs: np.ndarray, ablated: dict[str, np.ndarray],
            labels: np.ndarray) -> dict:
    """{ablation: record} from the unablated model's P(positive) (as stored) and `per_review`'s
    ablated ones, in `ABLATIONS` order."""
    a = cfg.analysis
    return {mode: compare(probs, p, labels, a.bootstrap_samples, a.seed)
            for mode, p in ablated.items()}
