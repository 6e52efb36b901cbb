"""Paired comparisons of several models on the same items, decided by exact tests (statsmodels).

    exact_mcnemar(correct_a, correct_b) -> {"b", "c", "p"}
    compare_all(correct, alpha)         -> one row per pair of models, Holm-adjusted

Kept apart from attnstudy.stats.tests, which enters the evaluation's cache key: that module's
McNemar switches to the chi-square approximation at 25 discordant pairs, this one never does
(the probe set is small, so the exact binomial test costs nothing).
"""

from __future__ import annotations

import itertools

import numpy as np
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests


def exact_mcnemar(correct_a, correct_b) -> dict:
    """McNemar's exact test on paired correctness <bool>[n] of models A and B on the same items:
    b = A right and B wrong, c = A wrong and B right; p the two-sided binomial p of b against
    Binomial(b + c, 1/2) (1 when there is no discordant item)."""
    a = np.asarray(correct_a).astype(bool).ravel()
    bb = np.asarray(correct_b).astype(bool).ravel()
    if a.shape != bb.shape:
        raise ValueError(f"paired arrays must be equal: {a.shape} vs {bb.shape}")
    b, c = int((a & ~bb).sum()), int((~a & bb).sum())
    if b + c == 0:
        return {"b": 0, "c": 0, "p": 1.0}
    r = sm_mcnemar([[0, b], [c, 0]], exact=True)  # only the discordant cells enter the test
    return {"b": b, "c": c, "p": min(1.0, float(r.pvalue))}


def compare_all(correct: dict[str, np.ndarray], alpha: float = 0.05) -> list[dict]:
    """Every pair (a, b) of `correct` (model -> <bool>[n], same items in the same order), in
    insertion order: accuracies, b, c, the exact McNemar p, the Holm-adjusted p over all pairs
    and the verdict for a against b: "better" (adjusted p < alpha and b > c), "worse" (adjusted
    p < alpha and b < c) or "inconclusive". No test here says two models are equivalent, so
    "equivalent" is never returned."""
    rows = []
    for a, b in itertools.combinations(correct, 2):
        t = exact_mcnemar(correct[a], correct[b])
        rows.append({"a": a, "b": b, "acc_a": float(np.mean(correct[a])),
                     "acc_b": float(np.mean(correct[b])), "a_right_only": t["b"],
                     "b_right_only": t["c"], "p": t["p"]})
    adjusted = multipletests([r["p"] for r in rows], method="holm")[1] if rows else []
    for r, adj in zip(rows, adjusted, strict=True):
        r["p_holm"] = float(adj)
        r["verdict"] = ("inconclusive" if adj >= alpha else
                        "better" if r["a_right_only"] > r["b_right_only"] else "worse")
    return rows
