"""Does the attention do anything? The trained parameters evaluated with their attention
weights replaced, on the whole test split (additive and mhsa, every seed).

Ablations (`attention.ABLATIONS`; the modules' `mode`, see attnstudy.models.attention):

  uniform   1/n on each of the n real tokens, every query row for mhsa (Wiegreffe & Pinter
            2019); for additive this is exactly bilstm_mean's masked mean-pool of the same states
  permuted  each row of weights shuffled among its real tokens (Jain & Wallace 2019), seeded by
            (analysis.seed, run seed), padding untouched
  none      mhsa only: the attention sublayer skipped, the block's output is LayerNorm(h)

Per ablation: test accuracy; its change vs the unablated model (ablated - learned, a fraction)
with a paired bootstrap CI over reviews (`stats.paired_bootstrap`, analysis.seed); the mean
|change in P(positive)|; the share of reviews whose decision flips. The unablated model's
predictions are never recomputed here: they are passed in.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from attnstudy.analysis import stats
from attnstudy.config import Config, ModelConfig
from attnstudy.data.encode import Split
from attnstudy.metrics import decide
from attnstudy.models.attention import ABLATIONS
from attnstudy.models.classifiers import build_model
from attnstudy.models.inference import predict_probs_with

LEVEL = 0.95  # confidence level of the recorded CIs (claims.toml's ablation claim checks it)


@functools.lru_cache(maxsize=16)
def compiled_ablation(name: str, mode: str, mcfg: ModelConfig, vocab_size: int, max_len: int):
    """predict(params, ids, mask, key) -> logits <float32>[b] of `name` in attention `mode`:
    the same module with `attention_mode` set (same parameters), jitted once per process."""
    model = build_model(name, mcfg, vocab_size, max_len).clone(attention_mode=mode)

    @jax.jit
    def predict(params, ids, mask, key):
        return model.apply({"params": params}, ids, mask, rngs={"ablation": key})

    return predict


def ablated_probs(name: str, mode: str, cfg: Config, vocab_size: int, params, split: Split,
                  seed: int) -> np.ndarray:
    """P(positive) <float32>[n] of every row of `split` with the attention ablated; batch i
    permutes with key fold_in(key([analysis.seed, seed]), i), so it is reproducible."""
    predict = compiled_ablation(name, mode, cfg.model, vocab_size, cfg.data.max_len)
    base = jax.random.fold_in(jax.random.key(cfg.analysis.seed), seed)
    return predict_probs_with(predict, params, split, cfg.data.bucket_edges,
                              cfg.train.eval_batch_size,
                              extra_args=lambda i: (jax.random.fold_in(base, i),))[0]


def compare(probs: np.ndarray, ablated: np.ndarray, labels: np.ndarray, n_boot: int,
            seed: int) -> dict:
    """One ablation's record from the learned and ablated P(positive) <float>[n] of a run."""
    right, right_ablated = decide(probs) == labels, decide(ablated) == labels
    boot = stats.paired_bootstrap(right_ablated, right, n_boot, seed, LEVEL)
    return {"accuracy": float(right_ablated.mean()), "acc_diff": boot["acc_diff"],
            "ci_low": boot["ci_low"], "ci_high": boot["ci_high"], "p": boot["p"],
            "ci_level": LEVEL,
            "mean_abs_prob_change": float(np.abs(ablated.astype(np.float64) - probs).mean()),
            "flipped": float((decide(ablated) != decide(probs)).mean())}


def measure(cfg: Config, name: str, seed: int, vocab_size: int, params, split: Split,
            probs: np.ndarray) -> dict | None:
    """{ablation: record} for a model of `ABLATIONS` (None for the others); `probs` are the
    unablated model's P(positive) on `split`, as stored."""
    if name not in ABLATIONS:
        return None
    a = cfg.analysis
    return {mode: compare(probs, ablated_probs(name, mode, cfg, vocab_size, params, split, seed),
                          split.labels, a.bootstrap_samples, a.seed)
            for mode in ABLATIONS[name]}
