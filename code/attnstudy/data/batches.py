"""Length-bucketed batches: training batches per (seed, epoch), evaluation batches by length."""

from __future__ import annotations

import numpy as np


def bucket_of(lengths: np.ndarray, edges: tuple[int, ...]) -> np.ndarray:
    """Index of the smallest edge >= length, per row."""
    return np.searchsorted(np.asarray(edges), lengths, side="left")


def epoch_batches(lengths: np.ndarray, edges: tuple[int, ...], batch_size: int, seed: int,
                  epoch: int) -> list[tuple[int, np.ndarray]]:
    """Training batches for one epoch as (width, row indices), deterministic in (seed, epoch).

    Rows are shuffled, grouped by length bucket, cut into full batches (each bucket's remainder
    is left out of this epoch; the shuffle leaves out different rows each epoch) and the batches
    shuffled again, so a batch is padded only up to its bucket's edge.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    buckets = bucket_of(lengths[order], edges)
    batches = []
    for b, width in enumerate(edges):
        rows = order[buckets == b]
        for start in range(0, len(rows) - batch_size + 1, batch_size):
            batches.append((width, rows[start:start + batch_size]))
    if not batches:  # tiny data: one batch of everything, padded to the widest edge
        take = order[:batch_size]
        batches = [(edges[-1], np.resize(take, batch_size))]
    return [batches[i] for i in rng.permutation(len(batches))]


def eval_batches(lengths: np.ndarray, edges: tuple[int, ...],
                 batch_size: int) -> list[tuple[int, np.ndarray, int]]:
    """Evaluation batches over every row once: (width, indices padded to batch_size, n_real).

    Rows are sorted by length so each batch is narrow; the last batch of a bucket repeats
    its first row to fill the fixed shape, and only the first `n_real` outputs are kept.
    """
    order = np.argsort(lengths, kind="stable")
    buckets = bucket_of(lengths[order], edges)
    out = []
    for b, width in enumerate(edges):
        rows = order[buckets == b]
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            padded = np.concatenate([chunk, np.full(batch_size - len(chunk), chunk[0])])
            out.append((width, padded, len(chunk)))
    return out

