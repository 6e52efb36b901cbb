"""The claims ledger: each claim's verdict, decided by a rule fixed before the results were seen."""

from __future__ import annotations

import numpy as np

from attnstudy.analysis import stats
from attnstudy.analysis.sections import ALPHA, pairs_right
from attnstudy.metrics import decide

ATTENTION = ("additive", "mhsa")  # the attention models of the seed claims (BiLSTM + attention)
STRUCTURE = ("negation", "double_negation", "contrast")  # probe categories of claim 5


def _pts(x: float) -> str:
    return f"{100 * x:+.2f} points"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _p(p: float) -> str:
    return f"p = {p:.2g}" if p >= 1e-4 else "p < 1e-4"


def _ci(lo: float, hi: float) -> str:
    return f"{100 * lo:+.2f} to {100 * hi:+.2f}"


def _grade(diff: float, significant: bool, strong: float, weak: float) -> str:
    """strong: significant and diff >= strong; none: not significant or diff < weak; else weak."""
    if significant and diff >= strong:
        return "strong"
    if not significant or diff < weak:
        return "none"
    return "weak"


def _combine(grades: list[str]) -> str:
    if grades and all(g == "strong" for g in grades):
        return "supported"
    if grades and all(g == "none" for g in grades):
        return "not supported"
    return "inconclusive"


def _row(claim, source, test, rule, result, verdict) -> dict:
    return {"claim": claim, "source": source, "test": test, "result": result,
            "verdict": verdict, "rule": rule}


# ----------------------------------------------------------------------------- ledger

def _missing(claim, source, test, rule, need) -> dict:
    return _row(claim, source, test, rule, f"not measured: needs {need}, which this config did "
                "not train or measure", "inconclusive")


def ledger(models, pairwise, ens_correct, pcorrect, probes, neg, length_ens, faith, runs,
            baseline, pred, n_boot, seed) -> list[dict]:
    have = set(models)

    def pair(a, b):  # (diff, ci_low, ci_high, holm p, significant), oriented a - b
        p = next(p for p in pairwise if {p["a"], p["b"]} == {a, b})
        s = 1 if p["a"] == a else -1
        lo, hi = sorted((s * p["ci_low"], s * p["ci_high"]))
        return s * p["acc_diff"], lo, hi, p["mcnemar_p_holm"], p["significant"]

    def pair_text(a, b):
        d, lo, hi, p, _ = pair(a, b)
        return f"{a} - {b} = {_pts(d)} (95% CI {_ci(lo, hi)}, Holm {_p(p)})"

    def versus(claim, source, test, a, b, strong, weak):
        rule = (f"supported if {a} beats {b} significantly (bootstrap CI excludes 0 and Holm-"
                f"corrected McNemar p < 0.05) by >= {100 * strong:g} points; not supported if "
                f"not significant or the difference is < {100 * weak:g} points; else inconclusive")
        if not {a, b} <= have:
            return _missing(claim, source, test, rule, f"models {a} and {b}")
        d, *_, sig = pair(a, b)
        return _row(claim, source, test, rule, pair_text(a, b) + ".",
                    _combine([_grade(d, sig, strong, weak)]))

    rows = []
    # (1) attention models vs bilstm
    c, t = "Attention models are dramatically better than the BiLSTM without attention", \
        ("test accuracy of additive and mhsa vs both BiLSTMs without attention, bilstm and the "
         "parameter-matched bilstm_matched (seed-averaged predictors, paired)")
    rule = ("supported if every attention model (additive, mhsa) beats every BiLSTM without "
            "attention significantly (CI excludes 0, Holm-corrected McNemar p < 0.05) by >= 2 "
            "points; not supported if every comparison is not significant or < 1 point better; "
            "else inconclusive")
    att = [m for m in ATTENTION if m in have]
    plain = [m for m in ("bilstm", "bilstm_matched") if m in have]
    if "bilstm" not in have or not att:
        rows.append(_missing(c, "seed", t, rule, "bilstm and additive or mhsa"))
    else:
        duels = [(m, b) for m in att for b in plain]
        grades = [_grade(pair(m, b)[0], pair(m, b)[4], 0.02, 0.01) for m, b in duels]
        rows.append(_row(c, "seed", t, rule, "; ".join(pair_text(m, b) for m, b in duels) + ".",
                         _combine(grades)))

    # (2) bilstm misses sentiment cues: probe accuracy
    c, t = "The no-attention model misses key sentiment cues", \
        "accuracy on the minimal-pair probes: bilstm vs additive and mhsa (seed-averaged, McNemar)"
    rule = ("supported if every attention model is >= 5 points more accurate than bilstm on the "
            "probes with Holm-corrected McNemar p < 0.05; not supported if every one is not "
            "significant or < 2 points better; else inconclusive")
    if "bilstm" not in pcorrect or not [m for m in att if m in pcorrect]:
        rows.append(_missing(c, "seed", t, rule, "probe predictions of bilstm and additive/mhsa"))
    else:
        labels = np.array([p.label for p in probes])
        pens = {m: decide(np.mean([r["probes"] for r in runs[m]], axis=0)) == labels
                for m in ["bilstm", *att]}
        tests = [(m, pens[m].mean() - pens["bilstm"].mean(),
                  stats.mcnemar(pens[m], pens["bilstm"])["p"]) for m in att]
        adj = stats.holm([p for *_, p in tests])
        grades = [_grade(d, p < ALPHA, 0.05, 0.02) for (_, d, _), p in zip(tests, adj, strict=True)]
        res = f"bilstm probe accuracy {_pct(pens['bilstm'].mean())}; " + "; ".join(
            f"{m} {_pct(pens[m].mean())} ({_pts(d)}, Holm {_p(p)})"
            for (m, d, _), p in zip(tests, adj, strict=True)) + f" over {len(probes)} probes."
        rows.append(_row(c, "seed", t, rule, res, _combine(grades)))

    # (3) length sensitivity
    c, t = "The no-attention model is sensitive to sentence length", \
        ("accuracy drop from the shortest to the longest review-length bucket (seed-averaged "
         "predictors); bilstm's drop minus each attention model's, bootstrap CI over reviews")
    rule = ("supported if bilstm's drop exceeds that of every attention model (additive, mhsa) by "
            ">= 2 points with a bootstrap 95% CI above 0; not supported if for every one the CI "
            "includes 0 or the excess is < 1 point; else inconclusive")
    if "bilstm" not in have or not att or length_ens is None:
        rows.append(_missing(c, "seed", t, rule, "bilstm, additive or mhsa, >= 2 length buckets"))
    else:
        short, long_ = length_ens
        rng = np.random.default_rng([seed, 3])
        grades, parts = [], []
        drop = {m: ens_correct[m][short].mean() - ens_correct[m][long_].mean()
                for m in ["bilstm", *att]}
        for m in att:
            gap = {w: ens_correct["bilstm"][sel].astype(float) - ens_correct[m][sel]
                   for w, sel in (("short", short), ("long", long_))}
            boots = (stats.bootstrap_means(gap["short"], n_boot, rng)
                     - stats.bootstrap_means(gap["long"], n_boot, rng))
            lo, hi = np.quantile(boots, [0.025, 0.975])
            excess = drop["bilstm"] - drop[m]
            grades.append(_grade(excess, lo > 0, 0.02, 0.01))
            parts.append(f"excess over {m} {_pts(excess)} (95% CI {_ci(lo, hi)})")
        res = ("accuracy shortest -> longest length bucket: " + ", ".join(
            f"{m} {_pct(ens_correct[m][short].mean())} -> {_pct(ens_correct[m][long_].mean())}"
            for m in drop) + "; bilstm's " + "; ".join(parts) + ".")
        rows.append(_row(c, "seed", t, rule, res, _combine(grades)))

    # (4) additive attention faithfulness
    c, t = "Additive attention focuses on sentiment words", \
        ("faithfulness proxy for additive: erasing the top-k attended tokens vs k random tokens "
         "(mean |change in P(positive)|, per-run bootstrap CI over reviews) and Spearman "
         "correlation of attention with gradient importance")
    rule = ("supported if top-k erasure beats random at every k, at the largest k in every seed "
            "(per-run CI above 0), and mean Spearman >= 0.3; not supported if top-k does not beat "
            "random at the largest k (or no seed's CI is above 0) or Spearman < 0.1; else "
            "inconclusive")
    f = faith.get("additive")
    if not f:
        rows.append(_missing(c, "seed", t, rule, "faithfulness of additive"))
    else:
        above = [tp > rd for tp, rd in zip(f["top_drop"], f["random_drop"], strict=True)]
        seeds_ok = f.get("seeds_top_above_random")
        rho = f["grad_spearman"]
        last_ok = seeds_ok is not None and seeds_ok[-1] == f["n_seeds"]
        no_seed = seeds_ok is not None and seeds_ok[-1] == 0
        erase = ("strong" if all(above) and last_ok else
                 "none" if not above[-1] or no_seed else "weak")
        grad = ("weak" if rho is None else "strong" if rho >= 0.3 else
                "none" if rho < 0.1 else "weak")
        res = (f"k={f['k'][-1]}: top {f['top_drop'][-1]:.3f} vs random {f['random_drop'][-1]:.3f} "
               f"mean |change|, flips {_pct(f['top_flip'][-1])} vs {_pct(f['random_flip'][-1])}; "
               f"top above random at {sum(above)}/{len(above)} k"
               + (f", CI above 0 in {seeds_ok[-1]}/{f['n_seeds']} seeds at k={f['k'][-1]}"
                  if seeds_ok is not None else "")
               + "; Spearman with gradient importance "
               + ("n/a" if rho is None else f"{rho:.2f}") + ".")
        verdict = ("not supported" if "none" in (erase, grad) else
                   "supported" if (erase, grad) == ("strong", "strong") else "inconclusive")
        rows.append(_row(c, "seed", t, rule, res, verdict))

    # (5) mhsa and negation/structure
    c, t = "Multi-head attention understands negation and structure", \
        ("pair consistency (both members right) on negation, double_negation and contrast probes, "
         "mhsa vs every other model (McNemar on pairs, seed-averaged); accuracy on real test "
         "reviews with negation cues")
    rule = ("supported if mhsa's consistency is >= 80%, >= 5 points above every other model with "
            "McNemar p < 0.05 vs the best other, and its accuracy on real reviews with negation is "
            "not below the other models' mean; not supported if its consistency is < 60% or not "
            "above the best other model; else inconclusive")
    others = [m for m in pcorrect if m != "mhsa"]
    if "mhsa" not in pcorrect or not others or not any(p.category in STRUCTURE for p in probes):
        rows.append(_missing(c, "seed", t, rule, "mhsa, another model and structure probes"))
    else:
        labels = np.array([p.label for p in probes])
        cons = {m: float(pairs_right(probes, pcorrect[m], set(STRUCTURE)).mean()) for m in pcorrect}
        pens = {m: pairs_right(probes, decide(np.mean([r["probes"] for r in runs[m]], axis=0))
                          == labels, set(STRUCTURE)) for m in pcorrect}
        best = max(others, key=lambda m: cons[m])
        p = stats.mcnemar(pens["mhsa"], pens[best])["p"]
        real_ok = neg["mhsa"]["with"] >= np.mean([neg[m]["with"] for m in others])
        gap = cons["mhsa"] - cons[best]
        if cons["mhsa"] >= 0.8 and gap >= 0.05 and p < ALPHA and real_ok:
            verdict = "supported"
        elif cons["mhsa"] < 0.6 or gap <= 0:
            verdict = "not supported"
        else:
            verdict = "inconclusive"
        res = (f"mhsa consistency {_pct(cons['mhsa'])} vs best other {best} {_pct(cons[best])} "
               f"({_pts(gap)}, McNemar {_p(p)}); real reviews with negation: mhsa "
               f"{_pct(neg['mhsa']['with'])} vs others' mean "
               f"{_pct(np.mean([neg[m]['with'] for m in others]))}.")
        rows.append(_row(c, "seed", t, rule, res, verdict))

    # (6), (7) our controls
    rows.append(versus("Attention helps beyond parameter count", "ours",
                       "test accuracy, mhsa vs bilstm_matched (same size, no attention)",
                       "mhsa", "bilstm_matched", 0.01, 0.005))
    rows.append(versus("Recurrence matters: attention alone (transformer) is not enough", "ours",
                       "test accuracy, mhsa (BiLSTM + attention) vs transformer (attention only)",
                       "mhsa", "transformer", 0.01, 0.005))

    # (8) baseline
    c, t = "Small neural models beat a TF-IDF baseline", \
        ("test accuracy of the model with the best mean validation accuracy vs TF-IDF + logistic "
         "regression on the same test reviews")
    rule = ("supported if the best neural model is significantly more accurate than the baseline "
            "(paired: CI excludes 0 and McNemar p < 0.05; without per-review baseline "
            "probabilities: the seed t-interval lies above the baseline); else not supported")
    base_acc = (baseline or {}).get("test", {}).get("accuracy")
    if base_acc is None or not models:
        rows.append(_missing(c, "ours", t, rule, "the baseline and a neural model"))
    else:
        def val_acc(m):
            accs = [next((pt["val_accuracy"] for pt in r.get("curve", [])
                          if pt.get("step") == r.get("best_step")), r["test"]["accuracy"])
                    for r in runs[m]]
            return float(np.mean(accs))
        best = max(models, key=val_acc)
        probs = baseline.get("probs")
        if probs is not None and len(probs) == len(pred):
            bc = decide(np.asarray(probs)) == pred["label"].to_numpy()
            bt = stats.paired_bootstrap(ens_correct[best], bc, n_boot, seed)
            p = stats.mcnemar(ens_correct[best], bc)["p"]
            sig = (bt["ci_low"] > 0 or bt["ci_high"] < 0) and p < ALPHA
            d = bt["acc_diff"]
            res = (f"{best} {_pct(ens_correct[best].mean())} vs baseline {_pct(float(bc.mean()))}: "
                   f"{_pts(d)} (95% CI {_ci(bt['ci_low'], bt['ci_high'])}, "
                   f"McNemar {_p(p)}).")
        else:
            ci = stats.mean_ci([r["test"]["accuracy"] for r in runs[best]])
            d = ci["mean"] - base_acc
            sig = ci["n"] > 1 and (ci["ci_low"] > base_acc or ci["ci_high"] < base_acc)
            res = (f"{best} {_pct(ci['mean'])} (95% CI {_pct(ci['ci_low'])}-{_pct(ci['ci_high'])}, "
                   f"{ci['n']} seeds) vs baseline {_pct(base_acc)}: {_pts(d)}.")
        rows.append(_row(c, "ours", t, rule, res,
                         "supported" if _grade(d, sig, 0.0, 0.0) == "strong" else "not supported"))
    return rows


