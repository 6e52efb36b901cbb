"""analysis.json's `seed_level` section: the v3 comparisons at the unit of replication, the
training run (issue #27), and the per-model measures that say why attention is flat.

  pairs      for every pair of models and the claims' pairs (`pair_list`): the difference
             of per-seed mean test accuracies, its hierarchical-bootstrap interval (seeds, then
             the same test reviews; attnstudy.stats.equivalence), the bootstrap TOST against the
             margin of paper/claims.toml [equivalence], the Welch seed TOST, the minimum detectable
             difference (MDE) at the declared power, and the verdict (attnstudy.stats.verdicts:
             better / worse / equivalent / inconclusive, with the rerun spread)
  models     per model: seeds, per-seed mean accuracy (Student-t 95% over seeds) and mean
             selected validation accuracy (what "best_validation_model" picks)
  conicity   per model whose runs record it: states and embeddings conicity (per run the mean
             over test reviews), the mean over seeds with its spread, and states - embeddings
  lexicon    per attention model whose runs record it: lift (attention mass / token share on
             VADER words), attention mass, token share and excess, over seeds
  lexicon_rule  claims.toml's [[v3_rules]] kind "lexicon_share", evaluated into a verdict
  absent     the measures and non-contextual models these results do not hold (older runs),
             so the report says so

Every number is computed from results.json and test_predictions.parquet; nothing is chosen here
on test numbers. The bootstrap is seeded (the analysis seed) and bit-identical on rerun.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from attnstudy.errors import UserError
from attnstudy.files import read_toml
from attnstudy.stats import equivalence as eq
from attnstudy.stats import verdicts
from attnstudy.stats.intervals import mean_ci

BASELINE = "baseline"  # the TF-IDF baseline: one deterministic fit, a "model" with one seed
BEST_VAL = "best_validation_model"
# The headline pairs beyond every model against the BiLSTM (A first: "A - B"), with the reason
# the report gives for each: the attention arms against their uniform-weight twins, and across
# the two families (contextual BiLSTM states vs non-contextual embeddings).
ARMS = ((("additive", "bilstm_mean"), "learned vs uniform weights, on BiLSTM states"),
        (("embed_additive", "embed_mean"), "learned vs uniform weights, on embeddings"),
        (("additive", "embed_additive"), "additive attention: BiLSTM states vs embeddings"),
        (("bilstm_mean", "embed_mean"), "mean-pool: BiLSTM states vs embeddings"))
REFERENCE = "bilstm"
NON_CONTEXTUAL = ("embed_additive", "embed_mean")
SEED_STREAM = 1  # seed draws come from rng [seed, SEED_STREAM, pair id]; reviews from [seed, 0]
LEXICON_VERDICTS = ("supported", "partly supported", "not supported", "inconclusive")


def settings(claims: Path | str) -> tuple[dict, list[dict]]:
    """([equivalence] of paper/claims.toml, checked; its [[v3_rules]] list)."""
    raw = read_toml(Path(claims), "the claims ledger")
    e = raw.get("equivalence")
    if not isinstance(e, dict):
        raise UserError(f"{claims}: needs an [equivalence] table (margin, alpha, power, "
                        f"bootstrap_samples)")
    for key, ok in (("margin", lambda v: 0 < v < 1), ("alpha", lambda v: 0 < v < 0.5),
                    ("power", lambda v: 0 < v < 1), ("bootstrap_samples", lambda v: v >= 100)):
        v = e.get(key)
        if isinstance(v, bool) or not isinstance(v, int | float) or not ok(v):
            raise UserError(f"{claims}: [equivalence] {key} is missing or out of range ({v!r})")
    rules = raw.get("v3_rules") or []
    return e, rules if isinstance(rules, list) else []


def best_validation_model(runs: dict[str, list[dict]]) -> str | None:
    """The model with the highest mean over seeds of its selected validation accuracy (the
    point at each run's best_step); ties to the earlier model in config order."""
    def val(r: dict) -> float | None:
        return next((c["val_accuracy"] for c in r.get("curve") or []
                     if c["step"] == r["best_step"]), None)

    means = {m: float(np.mean(v)) for m, rs in runs.items()
             if (v := [x for r in rs if (x := val(r)) is not None])}
    return max(means, key=lambda m: (means[m], -list(means).index(m))) if means else None


def pair_list(models: list[str], rules: list[dict], best: str | None,
              baseline: bool) -> list[dict]:
    """[{"a", "b", "why": [reasons]}]: every model vs the BiLSTM, the attention arms, the pairs
    of the claims' seed_difference rules, then every other pair of models (config order); each
    unordered pair once (its first orientation), pairs with a model these results lack left
    out."""
    have = set(models) | ({BASELINE} if baseline else set())
    todo = [((m, REFERENCE), f"vs {REFERENCE}") for m in models if m != REFERENCE]
    todo += list(ARMS)
    for r in rules:
        if r.get("kind") == "seed_difference":
            todo += [((a if a != BEST_VAL else best, b if b != BEST_VAL else best),
                      f"claim {r.get('id')}") for a, b in r.get("pairs") or []]
    out: dict[frozenset, dict] = {}
    for (a, b), why in todo:
        if a is None or b is None or a == b or not {a, b} <= have:
            continue
        out.setdefault(frozenset((a, b)), {"a": a, "b": b, "why": []})["why"].append(why)
    # then every other pair of models: the report decides each headline comparison (the
    # leaders sentence compares the top model with every other one) on these records only
    for i, a in enumerate(models):
        for b in models[i + 1:]:
            out.setdefault(frozenset((a, b)), {"a": a, "b": b, "why": ["model pair"]})
    return list(out.values())


def _pair_id(a: str, b: str) -> int:
    return zlib.crc32(f"{a}|{b}".encode())


def compare(a: str, b: str, correct: dict, acc: dict, e: dict, spread: float | None,
            seed: int) -> dict:
    """One pair's record: the difference of per-seed means with its hierarchical interval,
    TOSTs, MDEs and verdict. correct {name: <bool>[seeds, n]}, acc {name: <float64>[seeds,
    n_boot]} (review_resampled_accuracy)."""
    alpha, margin, power = e["alpha"], e["margin"], e["power"]
    per_a, per_b = correct[a].mean(1), correct[b].mean(1)  # per-seed accuracies
    diff = float(per_a.mean() - per_b.mean())
    boot = eq.seed_bootstrap_diff(acc[a], acc[b], [seed, SEED_STREAM, _pair_id(a, b)],
                                  level=1 - alpha)
    tost = eq.bootstrap_tost(boot["samples"], margin, alpha)
    many = len(per_a) >= 2 and len(per_b) >= 2
    with np.errstate(divide="ignore", invalid="ignore"):  # seeds that agree exactly: p NaN
        seed_t = eq.seed_tost(per_a, per_b, margin, alpha) if many else None
    sd = eq.pooled_sd(per_a, per_b) if many else None
    v = verdicts.decide(diff, boot["ci_low"], boot["ci_high"], margin, spread,
                        equivalence=tost["equivalent"])
    return {"a": a, "b": b, "n_seeds_a": len(per_a), "n_seeds_b": len(per_b),
            "n_reviews": int(correct[a].shape[1]), "acc_a": float(per_a.mean()),
            "acc_b": float(per_b.mean()), "diff": diff, "ci_low": boot["ci_low"],
            "ci_high": boot["ci_high"], "ci_level": boot["level"], "se": boot["se"],
            "p_two_sided": boot["p_two_sided"],
            "tost": {k: tost[k] for k in ("p", "p_lower", "p_upper", "ci_low", "ci_high",
                                          "ci_level", "equivalent")},
            "seed_tost": None if seed_t is None else {
                k: seed_t[k] for k in ("p", "p_lower", "p_upper", "df", "equivalent")},
            "mde": eq.mde_from_se(boot["se"], alpha, power),
            "mde_seeds": (eq.mde_seed(len(per_a), sd, len(per_b), alpha, power)
                          if many else None),
            "seed_sd": sd, "verdict": v.word, "noise": v.noise, "verdict_why": v.why}


def _stat(values) -> dict | None:
    x = [float(v) for v in values if isinstance(v, int | float) and np.isfinite(v)]
    return mean_ci(x) if x else None


def conicity(runs: dict[str, list[dict]]) -> dict:
    """Per model whose runs record conicity: states, embeddings and states - embeddings over
    seeds (each run's mean over test reviews; Student-t 95% over seeds)."""
    out = {}
    for m, rs in runs.items():
        recs = [r["conicity"] for r in rs if r.get("conicity")]
        if not recs:
            continue
        st = [c["states"]["mean"] for c in recs]
        em = [c["embeddings"]["mean"] for c in recs]
        out[m] = {"n_seeds": len(recs), "states": _stat(st), "embeddings": _stat(em),
                  "states_minus_embeddings": _stat(
                      [s - x for s, x in zip(st, em, strict=True)
                       if s is not None and x is not None]),
                  "per_seed": {"states": st, "embeddings": em}}
    return out


def lexicon(runs: dict[str, list[dict]]) -> dict:
    """Per model whose runs record lexicon shares: lift, attention mass, token share and
    excess over seeds, and each seed's lift."""
    out = {}
    for m, rs in runs.items():
        recs = [r["lexicon"] for r in rs if r.get("lexicon")]
        if not recs:
            continue
        out[m] = {"n_seeds": len(recs), "lift_per_seed": [x["lift"] for x in recs],
                  **{k: _stat([x[k] for x in recs])
                     for k in ("lift", "attention_mass", "token_share", "excess")}}
    return out


def lexicon_rule(rule: dict, lex: dict) -> dict:
    """claims.toml's lexicon_share rule on the `lexicon` records: "supported" when the mean
    lift >= lift_strong, every seed's lift > 1 and the 95% interval of the mean excess lies
    above 0; "partly supported" when the mean lift >= lift_weak with that interval above 0;
    "not supported" otherwise; "inconclusive" when the model has fewer than two seeds with a
    lift (no interval). The interval is Student-t over seeds of each run's mean excess: the
    runs record per-run means, not per-review values, so the review level of the declared
    hierarchical interval cannot be resampled from these results (`interval` says so)."""
    m, th = rule.get("model"), rule.get("thresholds") or {}
    base = {"id": rule.get("id"), "claim": rule.get("claim"), "model": m,
            "reference": list(rule.get("reference") or []), "thresholds": th,
            "interval": "Student-t 95% over seeds of each run's mean excess (per-review "
                        "excess is not recorded, so reviews are not resampled)"}
    rec = lex.get(m)
    lifts = [x for x in (rec or {}).get("lift_per_seed", []) if x is not None]
    if rec is None or len(lifts) < 2 or rec["excess"] is None:
        return {**base, "verdict": "inconclusive", "measured": False,
                "why": "fewer than two seeds with a lexicon record"}
    mean_lift, ex = float(np.mean(lifts)), rec["excess"]
    above = ex["ci_low"] > 0
    if mean_lift >= th["lift_strong"] and min(lifts) > 1 and above:
        word = "supported"
    elif mean_lift >= th["lift_weak"] and above:
        word = "partly supported"
    else:
        word = "not supported"
    return {**base, "verdict": word, "measured": True, "mean_lift": mean_lift,
            "min_lift": min(lifts), "n_seeds": len(lifts), "excess": ex,
            "excess_above_0": bool(above)}


def section(runs: dict[str, list[dict]], per_seed: dict[str, np.ndarray], baseline_probs,
            labels: np.ndarray, claims: Path | str, seed: int) -> dict:
    """The `seed_level` section (module docstring). per_seed {model: <bool>[seeds, n]} in run
    order; baseline_probs <float>[n] or None (the TF-IDF baseline's P(positive))."""
    e, rules = settings(claims)
    spread = verdicts.rerun_spread()
    correct = dict(per_seed)
    if baseline_probs is not None:
        correct[BASELINE] = ((np.asarray(baseline_probs) >= 0.5) == labels)[None, :]
    best = best_validation_model(runs)
    pairs = pair_list(list(runs), rules, best, baseline_probs is not None)
    n_boot = int(e["bootstrap_samples"])
    used = list(dict.fromkeys(x for p in pairs for x in (p["a"], p["b"])))
    acc = eq.review_resampled_accuracy({k: correct[k] for k in used}, n_boot, seed) \
        if used else {}
    rows = [{**compare(p["a"], p["b"], correct, acc, e, spread and spread["max"], seed),
             "why": p["why"]} for p in pairs]
    con, lex = conicity(runs), lexicon(runs)
    rule = next((r for r in rules if r.get("kind") == "lexicon_share"), None)
    return {
        "basis": "difference of per-seed mean test accuracies; hierarchical bootstrap over "
                 "seeds, then the same test reviews (paired)",
        "margin": e["margin"], "alpha": e["alpha"], "power": e["power"], "n_boot": n_boot,
        "seed": seed, "rerun_spread": None if spread is None else {
            "max": spread["max"], "worst": spread["worst"],
            "results_config": spread.get("results_config")},
        "best_validation_model": best,
        "models": {m: {"n_seeds": len(rs), "accuracy": mean_ci(correct[m].mean(1)),
                       "seeds": [r["seed"] for r in rs]} for m, rs in runs.items()},
        "pairs": rows, "conicity": con, "lexicon": lex,
        "lexicon_rule": lexicon_rule(rule, lex) if rule else None,
        "absent": {"measures": [k for k, v in (("conicity", con), ("lexicon", lex)) if not v],
                   "models": [m for m in NON_CONTEXTUAL if m not in runs]},
    }
