"""`evaluate --input FILE` with labels: each model's accuracy on the file with a percentile
bootstrap 95% CI over reviews, and paired differences between models (paired bootstrap CI, p,
Holm-adjusted p), all from attnstudy.stats, the statistics of the report."""

from __future__ import annotations

import itertools
import math

import numpy as np

from attnstudy.metrics import decide, metrics
from attnstudy.stats.bootstrap import bootstrap_means, paired_bootstrap, summarize
from attnstudy.stats.tests import holm

LEVEL = 0.95


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None  # ROC-AUC is NaN with one class present


def compare(probs: dict[tuple[str, int], list[float]], labels: np.ndarray,
            sources: dict[tuple[str, int], str], n_boot: int, seed: int) -> dict:
    """Accuracy per run and paired differences between models on one labelled file.

    probs: (model, seed) -> P(positive) <float>[n], aligned with labels <int>[n]. A model with
    several seeds enters the pairs as its seed-averaged predictor (as in the report's pairwise
    table). Returns {"n", "ci_level", "bootstrap_samples", "runs": [...], "pairwise": [...]}.
    """
    y = np.asarray(labels, np.int64)
    runs = []
    for (m, s), ps in probs.items():
        p = np.asarray(ps, np.float64)
        boots = bootstrap_means(decide(p) == y, n_boot, np.random.default_rng(seed))
        ci = summarize(boots, LEVEL)
        met = metrics(y, p)
        runs.append({"model": m, "seed": s, "source": sources[(m, s)], "n": len(y),
                     "accuracy": met["accuracy"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"],
                     "f1": met["f1"], "roc_auc": _finite(met["roc_auc"])})
    seeds: dict[str, list[int]] = {}
    for m, s in probs:
        seeds.setdefault(m, []).append(s)
    correct = {m: decide(np.mean([probs[(m, s)] for s in ss], axis=0)) == y
               for m, ss in seeds.items()}
    pairs = [{"a": a, "b": b, "seeds_a": seeds[a], "seeds_b": seeds[b],
              **paired_bootstrap(correct[a], correct[b], n_boot, seed, LEVEL)}
             for a, b in itertools.combinations(correct, 2)]
    for row, adjusted in zip(pairs, holm([r["p"] for r in pairs]), strict=True):
        row["p_holm"] = adjusted
    return {"n": len(y), "ci_level": LEVEL, "bootstrap_samples": n_boot, "runs": runs,
            "pairwise": pairs}


def print_comparison(result: dict) -> None:
    for r in result["runs"]:
        auc = "n/a" if r["roc_auc"] is None else f"{r['roc_auc']:.4f}"
        print(f"{r['model']}/seed{r['seed']}: n={r['n']}  accuracy {r['accuracy']:.4f} "
              f"(95% CI {r['ci_low']:.4f}-{r['ci_high']:.4f})  F1 {r['f1']:.4f}  ROC-AUC {auc}"
              f"  [{r['source']}]")
    if not result["pairwise"]:
        return
    many = any(len(r["seeds_a"]) > 1 or len(r["seeds_b"]) > 1 for r in result["pairwise"])
    basis = "seed-averaged predictors" if many else "one seed per model"
    print(f"\npaired differences in share correct, a - b ({basis}; paired "
          f"bootstrap 95% CI over the {result['n']} reviews, {result['bootstrap_samples']} "
          "samples; p two-sided, Holm-adjusted over all pairs):")
    for r in result["pairwise"]:
        print(f"  {r['a']:>14} - {r['b']:<14} {r['acc_diff']:+.4f}  "
              f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]  p={r['p']:.3f}  "
              f"p_holm={r['p_holm']:.3f}")
