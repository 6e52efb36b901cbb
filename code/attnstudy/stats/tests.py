"""Hypothesis tests on paired predictions: McNemar, Holm's correction, Spearman (statsmodels and
scipy).

Conventions: "correct" arrays are per-review booleans <bool>[n] of two models on the same reviews.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests

EXACT_BELOW = 25  # discordant pairs under which McNemar's binomial test is exact


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
    # Only the discordant cells enter the test; the concordant ones are given as 0.
    r = sm_mcnemar([[0, b], [c, 0]], exact=b + c < EXACT_BELOW, correction=True)
    return {"b": b, "c": c, "statistic": float(r.statistic), "p": min(1.0, float(r.pvalue))}


def holm(pvalues) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given, monotone, capped at 1)."""
    p = np.asarray(pvalues, dtype=np.float64)
    if len(p) == 0:
        return []
    return [float(x) for x in multipletests(p, method="holm")[1]]


def spearman(x, y) -> float:
    """Spearman rank correlation (scipy); NaN when fewer than 2 values or either is constant."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"spearman needs equal shapes: {x.shape} vs {y.shape}")
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(sps.spearmanr(x, y).statistic)
