"""The percentile bootstrap of the study: resampled means, and the one place that turns a
bootstrap distribution into a confidence interval and a two-sided p.

Conventions: "correct" arrays are per-review booleans; accuracy differences are fractions
(0.012 = 1.2 points).
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

EXACT_LEVELS = 64  # values with at most this many distinct levels resample through counts


def bootstrap_means(values, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """<float64>[n_samples] means of `values` <float>[n] resampled with replacement (rows i.i.d.).

    Values with few distinct levels (e.g. correctness differences in {-1, 0, 1}) are resampled
    exactly through multinomial counts of the levels, which is equivalent and O(levels); other
    values through `scipy.stats.bootstrap`, in batches of ~2M drawn indices.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    n = len(x)
    if n == 0:
        raise ValueError("bootstrap needs at least one value")
    levels, counts = np.unique(x, return_counts=True)
    if len(levels) <= EXACT_LEVELS:
        draws = rng.multinomial(n, counts / n, size=n_samples)
        return draws @ levels / n
    res = sps.bootstrap((x,), np.mean, n_resamples=n_samples, batch=max(1, 2_000_000 // n),
                        method="percentile", rng=rng)
    return res.bootstrap_distribution


def summarize(boots, level: float = 0.95) -> dict:
    """{ci_low, ci_high, p} of a bootstrap distribution <float>[n_samples] of a difference:
    the percentile interval at `level` and the two-sided bootstrap p-value
    2 * min(P*(diff <= 0), P*(diff >= 0)), capped at 1."""
    boots = np.asarray(boots, dtype=np.float64)
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    p = min(1.0, 2 * min(float((boots <= 0).mean()), float((boots >= 0).mean())))
    return {"ci_low": float(lo), "ci_high": float(hi), "p": p}


def paired_bootstrap(correct_a, correct_b, n_samples: int, seed: int,
                     level: float = 0.95) -> dict:
    """Accuracy difference a - b with a percentile bootstrap CI over reviews (paired resampling)
    and its two-sided p (`summarize`): {acc_diff, ci_low, ci_high, p}."""
    a = np.asarray(correct_a, dtype=np.float64).ravel()
    b = np.asarray(correct_b, dtype=np.float64).ravel()
    if a.shape != b.shape or len(a) == 0:
        raise ValueError(f"paired arrays must be equal and non-empty: {a.shape} vs {b.shape}")
    d = a - b
    boots = bootstrap_means(d, n_samples, np.random.default_rng(seed))
    return {"acc_diff": float(d.mean()), **summarize(boots, level)}
