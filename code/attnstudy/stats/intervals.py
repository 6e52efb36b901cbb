"""Confidence intervals that need no resampling: a Student-t interval over seeds and the Wilson
score interval of a proportion (statsmodels)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint


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


def wilson(p, n: int, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of proportions `p` <float>[...] observed on `n` items each:
    (low, high), both shaped like `p`."""
    p = np.asarray(p, dtype=np.float64)
    lo, hi = proportion_confint(p * n, n, alpha=1 - level, method="wilson")
    return np.asarray(lo), np.asarray(hi)
