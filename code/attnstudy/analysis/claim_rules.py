"""The rule of each kind of claim (paper/claims.toml `kind`): evidence + a claim's declared
parameters and thresholds -> (verdict, facts).

`facts` are the plain numbers and names behind the verdict; paper/prose/ledger.txt.j2 words them
into the result sentence. A rule raises NotMeasured when this config lacks what it needs (the
verdict is then inconclusive). Accuracy differences and thresholds are fractions (0.02 = 2 points).

Grading one comparison: "strong" when significant and its difference >= strong, "none" when not
significant or the difference < weak, else "weak". A claim over several comparisons is supported
when all are strong, not supported when all are none, else inconclusive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from attnstudy.analysis.sections import pairs_right
from attnstudy.metrics import decide
from attnstudy.stats.bootstrap import bootstrap_means, paired_bootstrap, summarize
from attnstudy.stats.intervals import mean_ci
from attnstudy.stats.tests import holm, mcnemar

LENGTH_STREAM = 3  # the length bootstrap draws from rng [analysis seed, 3] (since bb09288)


class NotMeasured(Exception):
    """The config did not train or measure what a claim needs; args[0] lists what is missing."""


@dataclass(frozen=True)
class Evidence:
    """What the rules read, built once by `analyse` from the results files.

    runs: model -> its runs sorted by seed; labels <int64>[n] test labels; ens: model ->
    <bool>[n] right by the seed-averaged predictor; pairwise: the pairwise section; probes: the
    probe list; pcorrect: model -> <bool>[seeds, n_probes] (empty without probes); negation: the
    real-review negation section (per-seed means); length_ens: (<bool>[n] shortest bucket,
    <bool>[n] longest) or None; faith: the faithfulness section; baseline: results' baseline
    record, with "probs" <float64>[n] when per-review predictions exist; n_boot, seed: bootstrap;
    ablations: the attention section's ablations (model -> ablation -> summary over seeds).
    """

    runs: dict
    labels: np.ndarray
    ens: dict
    pairwise: list
    probes: list
    pcorrect: dict
    negation: dict
    length_ens: tuple | None
    faith: dict
    baseline: dict
    n_boot: int
    seed: int
    ablations: dict
    per_seed: dict | None = None  # m -> <bool>[seeds, n]: each run's test reviews right

    def seed_accuracy(self, m: str) -> float:
        """m's test accuracy, mean over its seeds (the per-seed basis)."""
        return float(np.mean([r["test"]["accuracy"] for r in self.runs[m]]))

    def probe_ens(self, m: str) -> np.ndarray:
        """<bool>[n_probes]: probes m's seed-averaged predictor gets right."""
        labels = np.array([p.label for p in self.probes])
        return decide(np.mean([r["probes"] for r in self.runs[m]], axis=0)) == labels


def grade(diff: float, significant: bool, strong: float, weak: float) -> str:
    if significant and diff >= strong:
        return "strong"
    if not significant or diff < weak:
        return "none"
    return "weak"


def combine(grades: list[str]) -> str:
    if grades and all(g == "strong" for g in grades):
        return "supported"
    if grades and all(g == "none" for g in grades):
        return "not supported"
    return "inconclusive"


ON_SEED_MEANS, ON_ENSEMBLE = "on per-seed means", "on the seed ensemble"


def other_basis(basis: str, verdict: str) -> dict:
    """The verdict the same rule gives with the accuracies on the other basis (`basis`, said as
    "on per-seed means" / "on the seed ensemble"), its significance tests unchanged: how much the
    verdict depends on which accuracies the rule reads (paper/prose/ledger.txt.j2 words it)."""
    return {"basis": basis, "verdict": verdict}


# ----------------------------------------------------------------------------- kinds

def _pair(ev: Evidence, a: str, b: str, t: dict) -> dict:
    """a - b from the pairwise section (seed-averaged predictors, Holm over all pairs), with
    both models' per-seed mean accuracies; significant when its CI excludes 0 and the
    Holm-adjusted McNemar p < alpha."""
    p = next(p for p in ev.pairwise if {p["a"], p["b"]} == {a, b})
    s = 1 if p["a"] == a else -1
    lo, hi = sorted((s * p["ci_low"], s * p["ci_high"]))
    diff, p_holm = s * p["acc_diff"], p["mcnemar_p_holm"]
    sig = (lo > 0 or hi < 0) and p_holm < t["alpha"]
    return {"a": a, "b": b, "acc_a": ev.seed_accuracy(a), "acc_b": ev.seed_accuracy(b),
            "diff": diff, "ci_low": lo, "ci_high": hi, "p_holm": p_holm, "significant": bool(sig)}


def pairwise(c: dict, t: dict, ev: Evidence) -> tuple[str, dict]:
    """Test accuracy a - b for each declared pair (`_pair`), graded by the thresholds; the
    accuracies reported are per-seed means, the test is on the seed-averaged predictors."""
    have = set(ev.runs)
    absent = [m for m in c["requires"] if m not in have]
    pairs = [(a, b) for a, b in c["pairs"] if {a, b} <= have]
    if absent or not pairs:
        raise NotMeasured([f"runs of {m}" for m in absent] or ["runs of both models of a pair"])
    rows = [_pair(ev, a, b, t) for a, b in pairs]
    for r in rows:
        r["grade"] = grade(r["diff"], r["significant"], t["strong"], t["weak"])
    other = combine([grade(r["acc_a"] - r["acc_b"], r["significant"], t["strong"], t["weak"])
                     for r in rows])
    return combine([r["grade"] for r in rows]), {"pairs": rows,
                                                 "other_basis": other_basis(ON_SEED_MEANS, other)}


def probe_accuracy(c: dict, t: dict, ev: Evidence) -> tuple[str, dict]:
    """Probe accuracy of each model in `versus` minus the reference's; McNemar per model, Holm
    over the claim's comparisons."""
    ref = c["reference"]
    versus = [m for m in c["versus"] if m in ev.pcorrect]
    if ref not in ev.pcorrect or not versus:
        raise NotMeasured([f"probe predictions of {ref} and of {' or '.join(c['versus'])}"])
    right = {m: ev.probe_ens(m) for m in [ref, *versus]}
    raw = [mcnemar(right[m], right[ref])["p"] for m in versus]
    seed = {m: float(ev.pcorrect[m].mean()) for m in [ref, *versus]}  # per-seed means
    rows, other = [], []
    for m, p in zip(versus, holm(raw), strict=True):
        diff = float(right[m].mean() - right[ref].mean())
        rows.append({"model": m, "accuracy": float(right[m].mean()), "diff": diff, "p_holm": p,
                     "seed_accuracy": seed[m],
                     "grade": grade(diff, p < t["alpha"], t["strong"], t["weak"])})
        other.append(grade(seed[m] - seed[ref], p < t["alpha"], t["strong"], t["weak"]))
    return combine([r["grade"] for r in rows]), {
        "reference": ref, "reference_accuracy": float(right[ref].mean()),
        "reference_seed_accuracy": seed[ref], "n_probes": len(ev.probes), "models": rows,
        "other_basis": other_basis(ON_SEED_MEANS, combine(other))}


def length_drop(c: dict, t: dict, ev: Evidence) -> tuple[str, dict]:
    """Accuracy drop shortest -> longest length bucket; the reference's drop minus each other
    model's, with a bootstrap CI over reviews (short and long buckets resampled separately)."""
    ref = c["reference"]
    versus = [m for m in c["versus"] if m in ev.runs]
    if ref not in ev.runs or not versus or ev.length_ens is None:
        raise NotMeasured([f"runs of {ref} and of {' or '.join(c['versus'])}",
                           "at least 2 length buckets"])
    short, long_ = ev.length_ens
    rng = np.random.default_rng([ev.seed, LENGTH_STREAM])
    acc = {m: {"short": float(ev.ens[m][short].mean()), "long": float(ev.ens[m][long_].mean())}
           for m in [ref, *versus]}
    seed_acc = None if ev.per_seed is None else {  # per-seed means, as the length figure
        m: {"short": float(ev.per_seed[m][:, short].mean()),
            "long": float(ev.per_seed[m][:, long_].mean())} for m in [ref, *versus]}
    rows, other = [], []
    for m in versus:
        gap = {w: ev.ens[ref][sel].astype(float) - ev.ens[m][sel]
               for w, sel in (("short", short), ("long", long_))}
        boots = (bootstrap_means(gap["short"], ev.n_boot, rng)
                 - bootstrap_means(gap["long"], ev.n_boot, rng))
        ci = summarize(boots, 1 - t["alpha"])
        lo, hi = ci["ci_low"], ci["ci_high"]
        excess = ((acc[ref]["short"] - acc[ref]["long"]) - (acc[m]["short"] - acc[m]["long"]))
        rows.append({"model": m, "excess": excess, "ci_low": float(lo), "ci_high": float(hi),
                     "grade": grade(excess, lo > 0, t["strong"], t["weak"])})
        if seed_acc:
            drop = {k: v["short"] - v["long"] for k, v in seed_acc.items()}
            other.append(grade(drop[ref] - drop[m], lo > 0, t["strong"], t["weak"]))
    return combine([r["grade"] for r in rows]), {
        "reference": ref, "accuracy": acc, "seed_accuracy": seed_acc, "models": rows,
        "other_basis": other_basis(ON_SEED_MEANS, combine(other)) if seed_acc else None}


def faithfulness(c: dict, t: dict, ev: Evidence) -> tuple[str, dict]:
    """Erasure: top-k beats random at every k and, at the largest k, every seed's CI is above 0
    (strong); top-k does not beat random at the largest k or no seed's CI is above 0 (none).
    Gradient agreement: mean Spearman >= spearman_strong (strong), < spearman_weak (none).
    Supported when both are strong, not supported when either is none."""
    f = ev.faith.get(c["model"])
    if not f:
        raise NotMeasured([f"faithfulness of {c['model']}"])
    above = [tp > rd for tp, rd in zip(f["top_drop"], f["random_drop"], strict=True)]
    seeds_ok = f.get("seeds_top_above_random")
    seeds_last = None if seeds_ok is None else int(seeds_ok[-1])
    rho = f["grad_spearman"]
    erase = ("strong" if all(above) and seeds_last == f["n_seeds"] else
             "none" if not above[-1] or seeds_last == 0 else "weak")
    grad = ("weak" if rho is None else "strong" if rho >= t["spearman_strong"] else
            "none" if rho < t["spearman_weak"] else "weak")
    verdict = ("not supported" if "none" in (erase, grad) else
               "supported" if (erase, grad) == ("strong", "strong") else "inconclusive")
    return verdict, {"model": c["model"], "k": f["k"][-1], "top_drop": f["top_drop"][-1],
                     "random_drop": f["random_drop"][-1], "top_flip": f["top_flip"][-1],
                     "random_flip": f["random_flip"][-1], "k_above": sum(above),
                     "n_k": len(above), "seeds_above": seeds_last, "n_seeds": f["n_seeds"],
                     "spearman": rho, "erase": erase, "gradient": grad}


def probe_consistency(c: dict, t: dict, ev: Evidence) -> tuple[str, dict]:
    """Pair consistency on the declared probe categories, the model vs the best other; McNemar
    on pairs (seed-averaged predictors); real reviews with negation not below the others' mean."""
    m, cats = c["model"], set(c["categories"])
    others = [o for o in ev.pcorrect if o != m]
    if m not in ev.pcorrect or not others or not any(p.category in cats for p in ev.probes):
        raise NotMeasured([f"probe predictions of {m} and another model",
                           f"probes of {', '.join(c['categories'])}"])
    real, real_others = ev.negation[m]["with"], float(np.mean([ev.negation[o]["with"]
                                                               for o in others]))
    ens_right = {o: pairs_right(ev.probes, ev.probe_ens(o), cats) for o in ev.pcorrect}

    def decide_on(cons: dict) -> tuple[str, str, float]:
        best = max(others, key=lambda o: cons[o])
        p, gap = mcnemar(ens_right[m], ens_right[best])["p"], cons[m] - cons[best]
        if (cons[m] >= t["consistency_strong"] and gap >= t["margin"] and p < t["alpha"]
                and real >= real_others):
            return "supported", best, p
        if cons[m] < t["consistency_weak"] or gap <= 0:
            return "not supported", best, p
        return "inconclusive", best, p

    cons = {o: float(pairs_right(ev.probes, ev.pcorrect[o], cats).mean()) for o in ev.pcorrect}
    verdict, best, p = decide_on(cons)
    other = decide_on({o: float(r.mean()) for o, r in ens_right.items()})[0]
    return verdict, {"model": m, "consistency": cons[m], "best": best,
                     "best_consistency": cons[best], "gap": cons[m] - cons[best], "p": p,
                     "real_with": real, "real_others": real_others,
                     "other_basis": other_basis(ON_ENSEMBLE, other)}


def baseline(c: dict, t: dict, ev: Evidence) -> tuple[str, dict]:
    """The model with the best mean validation accuracy vs the TF-IDF baseline: paired
    (bootstrap CI + McNemar) with per-review baseline probabilities, else the seeds' t-interval
    against the baseline's accuracy. Supported when significant and diff >= margin."""
    base_acc = (ev.baseline or {}).get("test", {}).get("accuracy")
    if base_acc is None or not ev.runs:
        raise NotMeasured(["the baseline and a neural model"])

    def val_acc(m):
        return float(np.mean([next((pt["val_accuracy"] for pt in r.get("curve", [])
                                    if pt.get("step") == r.get("best_step")),
                                   r["test"]["accuracy"]) for r in ev.runs[m]]))

    def decided(diff: float, sig: bool) -> str:
        ok = grade(diff, sig, t["margin"], t["margin"]) == "strong"
        return "supported" if ok else "not supported"

    best = max(ev.runs, key=val_acc)
    # per-seed means: the seeds' t-interval against the baseline (the rule's unpaired form)
    ci = mean_ci([r["test"]["accuracy"] for r in ev.runs[best]], 1 - t["alpha"])
    sig = ci["n"] > 1 and (ci["ci_low"] > base_acc or ci["ci_high"] < base_acc)
    facts = {"best": best, "paired": False, "accuracy": ci["mean"], "ci_low": ci["ci_low"],
             "ci_high": ci["ci_high"], "n_seeds": ci["n"], "baseline_accuracy": base_acc,
             "diff": ci["mean"] - base_acc, "other_basis": None}
    probs = ev.baseline.get("probs")
    if probs is not None and len(probs) == len(ev.labels):
        right = decide(np.asarray(probs)) == ev.labels
        bt = paired_bootstrap(ev.ens[best], right, ev.n_boot, ev.seed, 1 - t["alpha"])
        p = mcnemar(ev.ens[best], right)["p"]
        other = other_basis(ON_SEED_MEANS, decided(facts["diff"], sig))
        sig = (bt["ci_low"] > 0 or bt["ci_high"] < 0) and p < t["alpha"]
        facts = {"best": best, "paired": True, "accuracy": float(ev.ens[best].mean()),
                 "seed_accuracy": ci["mean"], "baseline_accuracy": float(right.mean()),
                 "diff": bt["acc_diff"], "ci_low": bt["ci_low"], "ci_high": bt["ci_high"],
                 "p": p, "other_basis": other}
    return decided(facts["diff"], sig), facts


def attention_ablation(c: dict, t: dict, ev: Evidence) -> tuple[str, dict]:
    """Do the learned weights matter? Per model of `models` and ablation of `ablations`
    (runs[].ablations, summarised over seeds): a "drop" when the mean accuracy change over seeds
    is <= -drop and every seed's paired bootstrap CI lies below 0; "changed" when any seed's CI
    excludes 0. Plus `control`: its first model vs the second (`_pair`). Supported: every
    ablation a drop and the control pair significant with the first ahead; not supported: no
    ablation changed in any seed and the pair is not significant; else inconclusive."""
    first, second = c["control"]
    missing = [f"runs of {m}" for m in (first, second) if m not in ev.runs]
    rows = ablation_rows(c, t, ev, missing)
    pair = _pair(ev, first, second, t)

    def decide_on(diff: float) -> str:
        if all(r["drop"] for r in rows) and pair["significant"] and diff > 0:
            return "supported"
        if not any(r["changed"] for r in rows) and not pair["significant"]:
            return "not supported"
        return "inconclusive"

    return decide_on(pair["diff"]), {
        "ablations": rows, "control": pair,
        "other_basis": other_basis(ON_SEED_MEANS, decide_on(pair["acc_a"] - pair["acc_b"]))}


def ablation_rows(c: dict, t: dict, ev: Evidence, missing: list[str] = ()) -> list[dict]:
    """The ablation part of the attention_ablation rule, per model of `models` and ablation of
    `ablations`: "drop" and "changed" as that rule's docstring says (the v3 rule of the same
    claim keeps this part). Raises NotMeasured with `missing` plus any absent ablations."""
    lacking = [m for m in c["models"] if set(c["ablations"]) - set(ev.ablations.get(m, {}))]
    missing = ([f"{'/'.join(c['ablations'])} ablations of {', '.join(lacking)}"]
               if lacking else []) + list(missing)
    if missing:
        raise NotMeasured(missing)
    rows = []
    for m in c["models"]:
        for a in c["ablations"]:
            s = ev.ablations[m][a]
            if any(r["ablations"][a]["ci_level"] != t["ci_level"] for r in ev.runs[m]
                   if r.get("ablations")):
                raise NotMeasured([f"ablation CIs of {m} at the {t['ci_level']:g} level"])
            diff = s["acc_diff"]["mean"]
            n = s["n_seeds"]
            rows.append({"model": m, "ablation": a, "diff": diff, "accuracy":
                         s["accuracy"]["mean"], "seeds_below": s["seeds_below"],
                         "seeds_above": s["seeds_above"], "n_seeds": n,
                         "drop": bool(diff <= -t["drop"] and s["seeds_below"] == n),
                         "changed": s["seeds_below"] + s["seeds_above"] > 0})
    return rows


# ----------------------------------------------------------------------------- registry

@dataclass(frozen=True)
class Kind:
    """A kind of claim: its rule, the claim keys it reads (name -> type), its thresholds and
    the basis its numbers have (what claims.toml must say)."""

    rule: Callable[[dict, dict, Evidence], tuple[str, dict]]
    params: dict
    thresholds: tuple[str, ...]
    basis: str | dict
    verdicts: tuple[str, ...] = ("supported", "not supported", "inconclusive")


SEED_AVG = "seed-averaged predictor"
PER_SEED = "per-seed mean"
KINDS = {
    "pairwise": Kind(pairwise, {"pairs": list, "requires": list},
                     ("strong", "weak", "alpha"), {"accuracy": PER_SEED, "test": SEED_AVG}),
    "probe_accuracy": Kind(probe_accuracy, {"reference": str, "versus": list},
                           ("strong", "weak", "alpha"), SEED_AVG),
    "length_drop": Kind(length_drop, {"reference": str, "versus": list},
                        ("strong", "weak", "alpha"), SEED_AVG),
    "faithfulness": Kind(faithfulness, {"model": str}, ("spearman_strong", "spearman_weak"),
                         PER_SEED),
    "probe_consistency": Kind(probe_consistency, {"model": str, "categories": list},
                              ("consistency_strong", "consistency_weak", "margin", "alpha"),
                              {"consistency": PER_SEED, "mcnemar": SEED_AVG,
                               "negation_reviews": PER_SEED}),
    "baseline": Kind(baseline, {}, ("margin", "alpha"),
                     {"paired": SEED_AVG, "unpaired": PER_SEED},
                     ("supported", "not supported")),
    "attention_ablation": Kind(attention_ablation, {"models": list, "ablations": list,
                                                    "control": list},
                               ("drop", "ci_level", "alpha"),
                               {"ablations": PER_SEED, "control": SEED_AVG}),
}
