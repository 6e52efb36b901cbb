"""Evaluating one trained run: test metrics, probe predictions, faithfulness, attention dumps.

Only the checkpoint with the best validation loss reaches this module; the test set is read
here and nowhere earlier.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from attnstudy import data as data_lib
from attnstudy import models
from attnstudy.config import Config
from attnstudy.stats import metrics
from attnstudy.train import compiled_steps, predict_probs

ATTENTION_MODELS = ("additive", "mhsa", "transformer")


def attention_rows(cfg: Config, test: data_lib.Split) -> np.ndarray:
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


def dump_attention(model, params, test: data_lib.Split, rows: np.ndarray,
                   max_matrix_len: int) -> list[dict]:
    """Per sampled review: P(positive), and the attention the model paid.

    additive: "weights" per token; mhsa/transformer: "received" per token (mean over heads and
    real queries; last layer for the transformer) and, for short reviews, "matrix"
    [heads][query][key].
    """
    out = []
    for r in rows:
        n = int(test.lengths[r])
        ids = test.ids[r:r + 1, :n]
        logits, w = models.attention_weights(model, params, ids, ids != data_lib.PAD)
        rec = {"prob": float(jax.nn.sigmoid(logits[0]))}
        if w is not None:
            w = np.asarray(w)
            if w.ndim == 2:  # additive [1, t]
                rec["weights"] = w[0].round(5).tolist()
            else:
                m = w[-1, 0] if w.ndim == 5 else w[0]  # [heads, t, t]
                rec["received"] = m.mean(axis=(0, 1)).round(5).tolist()
                rec["matrix"] = m.round(4).tolist() if n <= max_matrix_len else None
        out.append(rec)
    return out


def evaluate_run(cfg: Config, name: str, seed: int, ds: data_lib.Dataset, params,
                 probe_texts: list[str]) -> tuple[dict, np.ndarray, list[dict]]:
    """(record, test probabilities <float32>[n_test], attention dump) for one trained run."""
    from attnstudy import faithfulness

    d, t = cfg.data, cfg.train
    model, _, _, predict = compiled_steps(name, cfg.model, t, len(ds.vocab), d.max_len)
    # validation uses the same shapes: warm them so the timing below is throughput, not compile
    predict_probs(predict, params, ds.val, d.bucket_edges, t.eval_batch_size)
    started = time.perf_counter()
    probs = predict_probs(predict, params, ds.test, d.bucket_edges, t.eval_batch_size)
    eval_seconds = time.perf_counter() - started
    pred = (probs > 0.5).astype(int)
    y = ds.test.labels
    confusion = [[int(((y == a) & (pred == b)).sum()) for b in (0, 1)] for a in (0, 1)]
    probe_split = data_lib.encode_texts(probe_texts, ds.vocab, d)
    probe_probs = predict_probs(predict, params, probe_split, d.bucket_edges, t.eval_batch_size)
    faith = None
    if name in ATTENTION_MODELS:
        rng = np.random.default_rng(cfg.analysis.seed)
        rows = rng.choice(len(ds.test), min(len(ds.test), cfg.analysis.faithfulness_reviews),
                          replace=False)
        faith = faithfulness.measure(model, params, ds.test, np.sort(rows),
                                     list(cfg.analysis.faithfulness_k), cfg.analysis.seed)
    record = {
        "test": metrics(y, probs),
        "confusion": confusion,
        "eval_seconds": eval_seconds,
        "eval_reviews_per_second": len(y) / eval_seconds,
        "probes": [round(float(p), 6) for p in probe_probs],
        "faithfulness": faith,
    }
    dump = dump_attention(model, params, ds.test, attention_rows(cfg, ds.test),
                          cfg.analysis.attention_max_len)
    return record, probs, dump
