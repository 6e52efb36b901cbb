"""Evaluating one trained run: test metrics, probe predictions, faithfulness, attention
ablations and statistics (ablations.py, attention_stats.py), conicity of the pooled vectors
(conicity.py), attention mass on sentiment-lexicon words and the most-attended words
(lexicon.py), attention dumps.

Only the checkpoint selected on the validation split reaches this module (`train.select`:
highest validation accuracy or lowest validation loss); the test set is read here and nowhere
earlier.
"""

from __future__ import annotations

import functools
import time

import jax
import numpy as np

from attnstudy.config import Config
from attnstudy.data.batches import eval_batches
from attnstudy.data.encode import PAD, Dataset, Split, encode_texts
from attnstudy.metrics import decide, metrics
from attnstudy.models.attention_ops import ABLATIONS
from attnstudy.models.inference import attention_weights, compiled_predict, predict_probs

FAITHFULNESS_MODELS = ("additive", "mhsa")  # the attention the paper interprets


def attention_rows(cfg: Config, test: Split) -> np.ndarray:
    """A fixed, seeded sample of test rows for the heatmaps: half short enough for token x token
    matrices (<= analysis.attention_max_len tokens), half drawn from all lengths."""
    a = cfg.analysis
    rng = np.random.default_rng(a.seed)
    short = np.flatnonzero(test.lengths <= a.attention_max_len)
    n_short = min(len(short), a.attention_samples // 2)
    picked = list(rng.choice(short, n_short, replace=False)) if n_short else []
    rest = np.setdiff1d(np.arange(len(test)), picked)
    picked += list(rng.choice(rest, min(len(rest), a.attention_samples - n_short), replace=False))
    return np.array(sorted(picked), dtype=np.int64)


def warm(predict, params, split: Split, edges: tuple[int, ...], batch_size: int) -> None:
    """Compile `predict` for every batch shape `predict_probs` will use on `split`: one batch
    per bucket width, so a timed pass measures throughput, not compiling."""
    first = {}
    for width, idx, n_real in eval_batches(split.lengths, edges, batch_size):
        first.setdefault(width, (idx, n_real))
    for width, (idx, n_real) in first.items():
        ids = split.ids[idx, :width]
        np.asarray(jax.nn.sigmoid(predict(params, ids, ids != PAD)[:n_real]))


@functools.lru_cache(maxsize=16)
def _jitted_weights(model):
    """attention_weights(model, ...) jitted once per model (flax modules hash by value)."""
    return jax.jit(lambda p, ids, mask: attention_weights(model, p, ids, mask))


def dump_attention(model, params, test: Split, rows: np.ndarray,
                   max_matrix_len: int, edges: tuple[int, ...]) -> list[dict]:
    """Per sampled review: P(positive), and the attention the model paid.

    additive: "weights" per token; mhsa/transformer: "received" per token (mean over heads and
    real queries; last layer for the transformer) and, for short reviews, "matrix"
    [heads][query][key]. One jitted call per bucket width (padding changes nothing).
    """
    fn = _jitted_weights(model)
    out: dict[int, dict] = {}
    split = Split(test.ids[rows], test.lengths[rows], test.full_lengths[rows],
                  test.labels[rows], test.row_ids[rows], test.negation[rows])
    for width, idx, n_real in eval_batches(split.lengths, edges, len(rows)):
        ids = split.ids[idx, :width]
        logits, w = fn(params, ids, ids != PAD)
        probs = np.asarray(jax.nn.sigmoid(logits))
        w = None if w is None else np.asarray(w)
        for j in range(n_real):
            n = int(split.lengths[idx[j]])
            rec = {"prob": float(probs[j])}
            if w is not None and w.ndim == 2:  # additive [b, t]
                rec["weights"] = w[j, :n].round(5).tolist()
            elif w is not None:  # [b, heads, t, t], or [layers, b, ...]: the last layer
                m = (w[-1, j] if w.ndim == 5 else w[j])[:, :n, :n]
                rec["received"] = (m.sum(axis=1) / n).mean(axis=0).round(5).tolist()
                rec["matrix"] = m.round(4).tolist() if n <= max_matrix_len else None
            out[int(idx[j])] = rec
    return [out[i] for i in range(len(rows))]


def evaluate_run(cfg: Config, name: str, seed: int, ds: Dataset, params, probe_texts: list[str]
                 ) -> tuple[dict, np.ndarray, list[dict], np.ndarray | None]:
    """(record, test probabilities <float32>[n_test], attention dump, lexicon) for one trained
    run; lexicon <float64>[2, n_test] is each test review's (attention mass on lexicon words,
    their share of its real tokens), None for a model without attention weights: the analysis
    resamples reviews with it (the lexicon claim's hierarchical interval)."""
    from attnstudy.evaluation import ablations, attention_stats, conicity, faithfulness, lexicon

    d, t = cfg.data, cfg.train
    test = ds.final_test()  # the final evaluation: the one reader of the test split
    model, predict = compiled_predict(name, cfg.model, len(ds.vocab), d.max_len)
    warm(predict, params, test, d.bucket_edges, t.eval_batch_size)
    started = time.perf_counter()
    probs = predict_probs(predict, params, test, d.bucket_edges, t.eval_batch_size)
    eval_seconds = time.perf_counter() - started
    pred = decide(probs)
    y = test.labels
    confusion = [[int(((y == a) & (pred == b)).sum()) for b in (0, 1)] for a in (0, 1)]
    probe_split = encode_texts(probe_texts, ds.vocab, d)
    probe_probs = predict_probs(predict, params, probe_split, d.bucket_edges, t.eval_batch_size)
    faith = None
    if name in FAITHFULNESS_MODELS:
        rng = np.random.default_rng(cfg.analysis.seed)
        rows = rng.choice(len(test), min(len(test), cfg.analysis.faithfulness_reviews),
                          replace=False)
        faith = faithfulness.measure(model, params, test, np.sort(rows),
                                     list(cfg.analysis.faithfulness_k), cfg.analysis.seed,
                                     bootstrap_samples=cfg.analysis.bootstrap_samples)
    ablated = stats = lex = None
    if name in ABLATIONS:  # one pass: every ablation and the learned weights' statistics
        ablated, stats = ablations.per_review(cfg, name, seed, len(ds.vocab), params, test)
        # the model's own token distribution (column 0: additive's weights, mhsa's attention
        # received averaged over heads) against the VADER lexicon
        lex = np.stack(lexicon.per_review(stats["dist"][:, 0], test.ids, test.mask,
                                          lexicon.lexicon_mask(ds.vocab)))
    record = {
        "test": metrics(y, probs),
        "confusion": confusion,
        "eval_seconds": eval_seconds,
        "eval_reviews_per_second": len(y) / eval_seconds,
        "probes": [round(float(p), 6) for p in probe_probs],
        "faithfulness": faith,
        # from the saved parameters; `probs` above are the unablated model's, as stored
        "ablations": None if ablated is None else ablations.records(cfg, probs, ablated, y),
        "attention_stats": attention_stats.measure(name, stats, test.lengths),
        "conicity": conicity.measure(cfg, name, len(ds.vocab), params, test),
        "lexicon": None if lex is None else lexicon.summary(*lex),
        # the same distribution's most-attended words (no extra forward pass)
        "top_words": None if stats is None else lexicon.top_record(stats["dist"][:, 0], test.ids,
                                                                   test.mask, ds.vocab),
    }
    dump = dump_attention(model, params, test, attention_rows(cfg, test),
                          cfg.analysis.attention_max_len, d.bucket_edges)
    return record, probs, dump, lex
