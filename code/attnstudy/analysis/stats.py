"""Small, pure statistics of the analysis: seed intervals, bootstrap, McNemar, Holm, Spearman.

Conventions: "correct" arrays are per-review booleans; accuracy differences are fractions
(0.012 = 1.2 points). The decision rule and the test metrics live in `attnstudy.metrics`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps


def mean_ci(values, level: float = 0.95) -> dict:
    """Mean with a Student-t confidence interval over seeds: {mean, std, ci_low, ci_high, n}.

    `std` is the sample standard deviation (ddof=1); with one value the interval is the mean
    itself and std is 0.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    n = len(x)
    if n == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(x.mean())
    if n == 1:
        return {"mean": mean, "std": 0.0, "ci_low": mean, "ci_high": mean, "n": 1}
    std = float(x.std(ddof=1))
    half = float(sps.t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def bootstrap_means(values, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """<float64>[n_samples] means of `values` resampled with replacement (rows i.i.d.).

    Values with few distinct levels (e.g. correctness differences in {-1, 0, 1}) are resampled
    exactly through multinomial counts of the levels, which is equivalent and O(levels).
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    n = len(x)
    if n == 0:
        raise ValueError("bootstrap needs at least one value")
    levels, counts = np.unique(x, return_counts=True)
    if len(levels) <= 64:
        draws = rng.multinomial(n, counts / n, size=n_samples)
        return draws @ levels / n
    out = np.empty(n_samples)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, n_samples, chunk):
        m = min(chunk, n_samples - start)
        out[start:start + m] = x[rng.integers(0, n, size=(m, n))].mean(axis=1)
    return out


def paired_bootstrap(correct_a, correct_b, n_samples: int, seed: int,
                     level: float = 0.95) -> dict:
    """Accuracy difference a - b with a percentile bootstrap CI over reviews (paired resampling).

    p is the two-sided bootstrap p-value 2 * min(P*(diff <= 0), P*(diff >= 0)), capped at 1.
    """
    a = np.asarray(correct_a, dtype=np.float64).ravel()
    b = np.asarray(correct_b, dtype=np.float64).ravel()
    if a.shape != b.shape or len(a) == 0:
        raise ValueError(f"paired arrays must be equal and non-empty: {a.shape} vs {b.shape}")
    d = a - b
    boots = bootstrap_means(d, n_samples, np.random.default_rng(seed))
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    p = min(1.0, 2 * min(float((boots <= 0).mean()), float((boots >= 0).mean())))
    return {"acc_diff": float(d.mean()), "ci_low": float(lo), "ci_high": float(hi), "p": p}


def mcnemar(correct_a, correct_b) -> dict:
    """McNemar's test on paired correctness: b = a right & b wrong, c = a wrong & b right.

    Exact two-sided binomial test (statistic = min(b, c)) when b + c < 25, else the chi-square
    statistic with continuity correction (|b - c| - 1)^2 / (b + c), one degree of freedom.
    No discordant pairs: statistic 0, p 1.
    """
    a = np.asarray(correct_a).astype(bool).ravel()
    bb = np.asarray(correct_b).astype(bool).ravel()
    if a.shape != bb.shape:
        raise ValueError(f"paired arrays must be equal: {a.shape} vs {bb.shape}")
    b = int((a & ~bb).sum())
    c = int((~a & bb).sum())
    if b + c == 0:
        return {"b": 0, "c": 0, "statistic": 0.0, "p": 1.0}
    if b + c < 25:
        p = float(sps.binomtest(b, b + c, 0.5).pvalue)
        return {"b": b, "c": c, "statistic": float(min(b, c)), "p": min(1.0, p)}
    stat = (abs(b - c) - 1) ** 2 / (b + c)
    return {"b": b, "c": c, "statistic": float(stat), "p": float(sps.chi2.sf(stat, 1))}


def holm(pvalues) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given, monotone, capped at 1)."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return [float(x) for x in adjusted]


def spearman(x, y) -> float:
    """Spearman rank correlation (scipy); NaN when fewer than 2 values or either is constant."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"spearman needs equal shapes: {x.shape} vs {y.shape}")
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(sps.spearmanr(x, y).statistic)
