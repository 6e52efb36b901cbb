"""The measured sections of analysis.json: summary, pairwise tests, length buckets, negation and
probes, faithfulness. Pure functions of the results files (see `analyse`).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from attnstudy.errors import UserError
from attnstudy.metrics import METRICS, decide
from attnstudy.stats.bootstrap import bootstrap_means, paired_bootstrap, summarize
from attnstudy.stats.intervals import mean_ci
from attnstudy.stats.paired import compare_all
from attnstudy.stats.tests import holm, mcnemar

EXTRA = ("train_seconds", "tokens_per_second", "eval_reviews_per_second")
ALPHA = 0.05
NEGATION_STREAM = 4  # the length-controlled negation bootstrap draws from rng [seed, 4, model]
# Pair consistency, defined once (pairs_right) and worded once: the report and the ledger say this.
PAIR_CONSISTENCY = "both sentences classified correctly"
FLIP = {"better": "worse", "worse": "better"}  # a verdict seen from the other model's side


# ----------------------------------------------------------------------------- helpers

def setting(cfg, section: str, key: str):
    sec = cfg[section] if isinstance(cfg, dict) else getattr(cfg, section)
    return sec[key] if isinstance(sec, dict) else getattr(sec, key)


def runs_by_model(results: dict, cfg) -> dict[str, list[dict]]:
    """model -> its runs sorted by seed, models in config order."""
    by: dict[str, list[dict]] = {}
    for r in results["runs"]:
        by.setdefault(r["model"], []).append(r)
    order = [m for m in setting(cfg, "train", "models") if m in by] + sorted(
        m for m in by if m not in setting(cfg, "train", "models"))
    return {m: sorted(by[m], key=lambda r: r["seed"]) for m in order}


def run_probs(pred, runs: list[dict]) -> np.ndarray:
    cols = [f"{r['model']}/seed{r['seed']}" for r in runs]
    missing = [c for c in cols if c not in pred.columns]
    if missing:
        raise UserError(f"test predictions lack column {missing[0]!r}; rebuild the results")
    return np.stack([pred[c].to_numpy(np.float64) for c in cols])  # [seeds, n]


def clean(obj):
    """numpy scalars -> python; non-finite floats -> None (valid JSON)."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# ----------------------------------------------------------------------------- sections

def summary(runs: dict[str, list[dict]]) -> dict:
    out = {}
    for m, rs in runs.items():
        out[m] = {k: mean_ci([r["test"][k] for r in rs]) for k in METRICS}
        for k in EXTRA:
            vals = [r.get(k) for r in rs]
            if all(isinstance(v, int | float) for v in vals):
                out[m][k] = mean_ci(vals)
    return out


def pairwise(correct: dict[str, np.ndarray], n_boot: int, seed: int) -> list[dict]:
    rows = []
    for a, b in itertools.combinations(correct, 2):
        boot = paired_bootstrap(correct[a], correct[b], n_boot, seed)
        mc = mcnemar(correct[a], correct[b])
        rows.append({"a": a, "b": b, "acc_a": float(correct[a].mean()),
                     "acc_b": float(correct[b].mean()), "acc_diff": boot["acc_diff"],
                     "ci_low": boot["ci_low"], "ci_high": boot["ci_high"],
                     "mcnemar_b": mc["b"], "mcnemar_c": mc["c"], "mcnemar_p": mc["p"]})
    for row, adj in zip(rows, holm([r["mcnemar_p"] for r in rows]), strict=True):
        row["mcnemar_p_holm"] = adj
        row["significant"] = bool((row["ci_low"] > 0 or row["ci_high"] < 0) and adj < ALPHA)
    return rows


def length(pred, per_seed: dict[str, np.ndarray], buckets: int, max_len: int) -> dict:
    length = pred["length"].to_numpy(np.int64)
    qs = np.quantile(length, np.linspace(0, 1, buckets + 1)[1:-1])
    edges = [int(length.min())] + sorted({int(math.ceil(q)) for q in qs}
                                         - {int(length.min())}) + [int(length.max()) + 1]
    which = np.searchsorted(np.array(edges), length, side="right") - 1
    out = []
    for i in range(len(edges) - 1):
        sel = which == i
        if not sel.any():
            continue
        out.append({"lo": edges[i], "hi": edges[i + 1], "n": int(sel.sum()),
                    "truncated_share": float((length[sel] > max_len).mean()),
                    "accuracy": {m: float(c[:, sel].mean()) for m, c in per_seed.items()}})
    return {"edges": edges, "buckets": out}


def negation_real(pred, per_seed: dict[str, np.ndarray]) -> dict:
    neg = pred["negation"].to_numpy(bool)
    return {m: {"with": float(c[:, neg].mean()) if neg.any() else float("nan"),
                "without": float(c[:, ~neg].mean()) if (~neg).any() else float("nan"),
                "n_with": int(neg.sum()), "n_without": int((~neg).sum())}
            for m, c in per_seed.items()}


def negation_by_length(pred, per_seed: dict[str, np.ndarray], edges: list[int], n_boot: int,
                       seed: int, level: float = 0.95) -> dict:
    """Accuracy with minus without a negation cue, compared within the length buckets `edges`
    (the `length` section's) and combined Mantel-Haenszel style: bucket b's difference weighs
    w_b = n_with_b * n_without_b / n_b (0 when either group is empty), so that cues being more
    common in long reviews, which every model finds harder, is not counted as negation.

    A review's correctness is its mean over seeds (<bool>[seeds, n] per model). The CI is a
    percentile bootstrap resampling reviews within each bucket x cue cell (cell sizes and weights
    fixed); p is two-sided as in `paired_bootstrap`. `raw_diff` is the unadjusted gap.
    """
    lens = pred["length"].to_numpy(np.int64)
    neg = pred["negation"].to_numpy(bool)
    which = np.searchsorted(np.asarray(edges), lens, side="right") - 1
    cells = []  # per non-empty bucket: (bucket, with-cue mask, without-cue mask, raw weight)
    for i in range(len(edges) - 1):
        inb = which == i
        if inb.any():
            yes, no = inb & neg, inb & ~neg
            n1, n0 = int(yes.sum()), int(no.sum())
            cells.append((i, yes, no, n1 * n0 / (n1 + n0)))
    total = sum(w for *_, w in cells)
    out = {"ci_level": level,
           "length_median": {"with": float(np.median(lens[neg])) if neg.any() else None,
                             "without": float(np.median(lens[~neg])) if (~neg).any() else None},
           "buckets": [{"lo": edges[i], "hi": edges[i + 1], "n_with": int(yes.sum()),
                        "n_without": int(no.sum()), "weight": w / total if total else 0.0,
                        "accuracy": {}} for i, yes, no, w in cells],
           "models": {}}
    for k, (m, c) in enumerate(per_seed.items()):
        right = c.mean(axis=0)  # [n]
        rng = np.random.default_rng([seed, NEGATION_STREAM, k])
        diff, boots = 0.0, np.zeros(n_boot)
        for b, (_, yes, no, w) in zip(out["buckets"], cells, strict=True):
            b["accuracy"][m] = {"with": float(right[yes].mean()) if yes.any() else None,
                                "without": float(right[no].mean()) if no.any() else None}
            if w:
                diff += w / total * (right[yes].mean() - right[no].mean())
                boots += w / total * (bootstrap_means(right[yes], n_boot, rng)
                                      - bootstrap_means(right[no], n_boot, rng))
        raw = (float(right[neg].mean() - right[~neg].mean()) if neg.any() and (~neg).any()
               else None)
        if not total:
            out["models"][m] = {"diff": None, "ci_low": None, "ci_high": None, "p": None,
                                "raw_diff": raw}
            continue
        out["models"][m] = {"diff": float(diff), **summarize(boots, level), "raw_diff": raw}
    return out


def probe_correct(runs: dict[str, list[dict]], probes: list) -> dict[str, np.ndarray]:
    """model -> <bool>[seeds, n_probes] correctness (empty dict without probes)."""
    if not probes:
        return {}
    labels = np.array([p.label for p in probes])
    out = {}
    for m, rs in runs.items():
        for r in rs:
            if len(r.get("probes") or []) != len(probes):
                raise UserError(f"run {m}/seed{r['seed']} has {len(r.get('probes') or [])} probe "
                                f"predictions for {len(probes)} probes; re-evaluate the runs")
        out[m] = decide(np.array([r["probes"] for r in rs])) == labels
    return out


def pairs_right(probes: list, correct: np.ndarray, cats=None) -> np.ndarray:
    """<bool>[..., pairs]: the one definition of pair consistency (PAIR_CONSISTENCY): both
    members of a minimal pair right, for pairs in `cats` (all when None). `correct` is
    <bool>[..., n_probes] in probe order; every pair_id has two rows (attnstudy.data.probes)."""
    idx: dict[str, list[int]] = {}
    for i, p in enumerate(probes):
        if cats is None or p.category in cats:
            idx.setdefault(p.pair_id, []).append(i)
    cols = np.array(list(idx.values())).reshape(-1, 2)
    return correct[..., cols[:, 0]] & correct[..., cols[:, 1]]


def probe_ensemble(runs: dict[str, list[dict]], probes: list) -> dict[str, np.ndarray]:
    """model -> <bool>[n_probes]: the probes its seed-averaged predictor (mean P(positive) over
    seeds, thresholded) gets right, as the test-set pairwise comparisons use (empty without
    probes; call after probe_correct, which checks the runs' probe predictions)."""
    if not probes:
        return {}
    labels = np.array([p.label for p in probes])
    return {m: decide(np.mean([r["probes"] for r in rs], axis=0)) == labels
            for m, rs in runs.items()}


def negation_probes(probes: list, pcorrect: dict[str, np.ndarray],
                    ens: dict[str, np.ndarray] | None = None) -> dict:
    """Per model: probe accuracy and pair consistency (per-seed means), per category too; with
    `ens` (probe_ensemble), `versus`: the model against each other model on the probes, by an
    exact McNemar test on the seed-averaged predictors, Holm-adjusted over all pairs of models
    (stats.paired.compare_all): "better", "worse" or "inconclusive", never "equivalent" (no
    test of equivalence is run: the probe set is too small for one to pass)."""
    cats = sorted({p.category for p in probes})
    out = {}
    versus = {m: {} for m in pcorrect}  # each pair twice, once from each side
    for r in compare_all({m: ens[m] for m in pcorrect}, ALPHA) if ens else []:
        tested = {"p": r["p"], "p_holm": r["p_holm"]}
        versus[r["a"]][r["b"]] = {**tested, "diff": r["acc_a"] - r["acc_b"],
                                  "verdict": r["verdict"], "only_this": r["a_right_only"],
                                  "only_other": r["b_right_only"]}
        versus[r["b"]][r["a"]] = {**tested, "diff": r["acc_b"] - r["acc_a"],
                                  "verdict": FLIP.get(r["verdict"], r["verdict"]),
                                  "only_this": r["b_right_only"], "only_other": r["a_right_only"]}
    for m, c in pcorrect.items():
        out[m] = {"accuracy": float(c.mean()),
                  "pair_consistency": float(pairs_right(probes, c).mean()), "by_category": {}}
        if ens:
            out[m]["ens_accuracy"] = float(ens[m].mean())
            out[m]["versus"] = versus[m]
        for cat in cats:
            sel = np.array([p.category == cat for p in probes])
            pc = pairs_right(probes, c, {cat})
            out[m]["by_category"][cat] = {"accuracy": float(c[:, sel].mean()),
                                          "pair_consistency": float(pc.mean()),
                                          "n_pairs": int(pc.shape[-1])}
    return out


def faithfulness(runs: dict[str, list[dict]]) -> dict:
    out = {}
    for m, rs in runs.items():
        fs = [r["faithfulness"] for r in rs if r.get("faithfulness")]
        if not fs:
            continue
        agg = {"k": list(fs[0]["k"]), "n_seeds": len(fs)}
        for key in ("top_drop", "random_drop", "top_flip", "random_flip"):
            agg[key] = np.mean([f[key] for f in fs], axis=0).tolist()
        rhos = [f["grad_spearman"] for f in fs if f.get("grad_spearman") is not None]
        agg["grad_spearman"] = float(np.mean(rhos)) if rhos else None
        if all("drop_diff_ci_low" in f for f in fs):
            agg["seeds_top_above_random"] = np.sum(
                [np.array(f["drop_diff_ci_low"]) > 0 for f in fs], axis=0).tolist()
        out[m] = agg
    return out


