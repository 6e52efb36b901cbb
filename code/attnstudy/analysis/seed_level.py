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
             VADER words), attention mass, token share and excess, over seeds; the mean excess
             with its hierarchical-bootstrap interval (seeds, then reviews)
  lexicon_rule  claims.toml's [[v3_rules]] kind "lexicon_share", evaluated into a verdict
  top_words  per attention model whose runs record their most-attended words: the words pooled
             over seeds (in how many seeds' top lists, mean relative attention there, lexicon
             flag) and the share of lexicon words in each seed's list, over seeds
  lexicon_arms  attention on embeddings vs on BiLSTM states (LIFT_PAIR): the difference of their
             mean lexicon lifts with a Welch 95% interval over seeds
  flat_arms  the same two models: the difference of their attention's median normalised entropy
             and of the conicity of the vectors they weigh, each with a Welch 95% interval over
             seeds (the conicity account of flat weights predicts: less alike vectors, less
             uniform weights)
  absent     the measures and non-contextual models these results do not hold (older runs),
             so the report says so

Every number is computed from results.json and test_predictions.parquet; nothing is chosen here
on test numbers. The bootstrap is seeded (the analysis seed) and bit-identical on rerun.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
from scipy import stats as sps

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
LIFT_PAIR = ("embed_additive", "additive")  # attention on embeddings vs on BiLSTM states


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


def lexicon_excess(pred, runs: dict[str, list[dict]]) -> dict[str, np.ndarray]:
    """{model: <float64>[seeds, n]} per-review excess (attention mass on lexicon words minus
    their token share) of each run, from test_predictions.parquet's lexicon columns
    (pipeline.results.lexicon_columns); models whose runs lack a column are left out (no
    attention weights, or results written before the columns existed)."""
    out = {}
    if "lexicon_share" not in pred.columns:
        return out
    share = pred["lexicon_share"].to_numpy(np.float64)
    for m, rs in runs.items():
        cols = [f"{r['model']}/seed{r['seed']}/lexicon_mass" for r in rs]
        if cols and all(c in pred.columns for c in cols):
            out[m] = np.stack([pred[c].to_numpy(np.float64) for c in cols]) - share
    return out


def lexicon(runs: dict[str, list[dict]], excess: dict[str, np.ndarray] | None = None,
            n_boot: int = 1, seed: int = 0) -> dict:
    """Per model whose runs record lexicon shares: lift, attention mass, token share and
    excess over seeds, and each seed's lift. With the per-review `excess` of a model
    (`lexicon_excess`), `excess_hierarchical`: the mean excess with its hierarchical-bootstrap
    95% interval (seeds, then test reviews; `n_boot` replicates, seeded), the interval the
    lexicon claim's rule declares."""
    out = {}
    for m, rs in runs.items():
        recs = [r["lexicon"] for r in rs if r.get("lexicon")]
        if not recs:
            continue
        out[m] = {"n_seeds": len(recs), "lift_per_seed": [x["lift"] for x in recs],
                  **{k: _stat([x[k] for x in recs])
                     for k in ("lift", "attention_mass", "token_share", "excess")}}
        if excess is not None and m in excess:
            h = eq.hierarchical_mean(excess[m], n_boot, [seed, SEED_STREAM, _pair_id(m, "")])
            out[m]["excess_hierarchical"] = {k: h[k] for k in (
                "mean", "ci_low", "ci_high", "level", "se", "n_boot", "n_seeds", "n_reviews")}
    return out


def top_words(runs: dict[str, list[dict]]) -> dict:
    """Per model whose runs record their most-attended words (runs[].top_words): every word of
    any seed's top list with the number of seeds listing it and its mean relative attention over
    those seeds, most seeds first (then the higher attention, then the word), cut to the runs'
    k; and the share of lexicon words in each seed's list, over seeds."""
    out = {}
    for m, rs in runs.items():
        recs = [r["top_words"] for r in rs if r.get("top_words")]
        if not recs:
            continue
        pooled: dict[str, dict] = {}
        for rec in recs:
            for w in rec["words"]:
                p = pooled.setdefault(w["word"], {"lexicon": w["lexicon"], "rel": []})
                p["rel"].append(w["relative_attention"])
        words = sorted(({"word": w, "n_seeds": len(p["rel"]), "lexicon": p["lexicon"],
                         "relative_attention": float(np.mean(p["rel"]))}
                        for w, p in pooled.items()),
                       key=lambda x: (-x["n_seeds"], -x["relative_attention"], x["word"]))
        shares = [float(np.mean([w["lexicon"] for w in rec["words"]]))
                  for rec in recs if rec["words"]]
        out[m] = {"n_seeds": len(recs), "k": recs[0]["k"], "min_count": recs[0]["min_count"],
                  "words": words[:recs[0]["k"]],
                  "in_every_seed": sum(w["n_seeds"] == len(recs) for w in words),
                  "lexicon_share": _stat(shares)}
    return out


def welch(la: list[float], lb: list[float]) -> dict:
    """mean(la) - mean(lb) over seeds with a Welch 95% interval (None with fewer than two seeds
    on either side or no spread: no interval) and whether every seed of one side lies above
    every seed of the other ("a_above", "b_above" or None)."""
    lo = hi = None
    # no spread at all (np.ptp, not np.var: the mean of equal floats can round off them)
    if len(la) >= 2 and len(lb) >= 2 and np.ptp(la) + np.ptp(lb) > 0:
        ci = sps.ttest_ind(la, lb, equal_var=False).confidence_interval(0.95)
        lo, hi = float(ci.low), float(ci.high)
    return {"mean_a": float(np.mean(la)), "mean_b": float(np.mean(lb)),
            "diff": float(np.mean(la) - np.mean(lb)), "ci_low": lo, "ci_high": hi,
            "ci_level": 0.95, "n_seeds_a": len(la), "n_seeds_b": len(lb),
            "separated": "a_above" if min(la) > max(lb) else
                         "b_above" if min(lb) > max(la) else None}


def lexicon_arms(lex: dict, pair: tuple[str, str] = LIFT_PAIR) -> dict | None:
    """A - B on mean lexicon lift over seeds for `pair` (`welch`); None when either model lacks
    lexicon records."""
    a, b = pair
    la, lb = ([x for x in (lex.get(m) or {}).get("lift_per_seed", []) if x is not None]
              for m in pair)
    if not la or not lb:
        return None
    w = welch(la, lb)
    return {"a": a, "b": b, "lift_a": w.pop("mean_a"), "lift_b": w.pop("mean_b"), **w}


def flat_arms(runs: dict[str, list[dict]], con: dict,
              pair: tuple[str, str] = LIFT_PAIR) -> dict | None:
    """How uniform the weights are, and why, across the arms: for `pair` (attention over
    embeddings, over BiLSTM states), A - B of the attention's median normalised entropy over
    test reviews (runs[].attention_stats, 1 = uniform) and of the conicity of the vectors it weighs
    (`conicity`'s states), each a `welch` record. The conicity account predicts that the
    weights are less uniform over the less alike vectors. None when either model lacks either
    record."""
    ent = {m: [r["attention_stats"]["entropy"]["q50"] for r in runs.get(m, [])
               if ((r.get("attention_stats") or {}).get("entropy") or {}).get("q50") is not None]
           for m in pair}
    cone = {m: [x for x in ((con.get(m) or {}).get("per_seed") or {}).get("states", [])
                if x is not None] for m in pair}
    if not all(ent[m] and cone[m] for m in pair):
        return None
    a, b = pair
    return {"a": a, "b": b, "entropy": welch(ent[a], ent[b]),
            "conicity": welch(cone[a], cone[b])}


def lexicon_rule(rule: dict, lex: dict) -> dict:
    """claims.toml's lexicon_share rule on the `lexicon` records: "supported" when the mean
    lift >= lift_strong, every seed's lift > 1 and the 95% interval of the mean excess lies
    above 0; "partly supported" when the mean lift >= lift_weak with that interval above 0;
    "not supported" otherwise; "inconclusive" when the model has fewer than two seeds with a
    lift (no interval). The interval is the declared one, the hierarchical bootstrap of the
    mean excess (seeds, then test reviews: `excess_hierarchical`); results written before the
    per-review lexicon columns existed fall back to Student-t over seeds of each run's mean
    excess, and `interval` says which was used."""
    m, th = rule.get("model"), rule.get("thresholds") or {}
    base = {"id": rule.get("id"), "claim": rule.get("claim"), "model": m,
            "reference": list(rule.get("reference") or []), "thresholds": th}
    rec = lex.get(m)
    hier = (rec or {}).get("excess_hierarchical")
    base["interval"] = ("hierarchical bootstrap 95% of the mean excess: seeds, then test "
                        "reviews" if hier else "Student-t 95% over seeds of each run's mean "
                        "excess (these results hold no per-review excess, so reviews are not "
                        "resampled)")
    lifts = [x for x in (rec or {}).get("lift_per_seed", []) if x is not None]
    if rec is None or len(lifts) < 2 or rec["excess"] is None:
        return {**base, "verdict": "inconclusive", "measured": False,
                "why": "fewer than two seeds with a lexicon record"}
    mean_lift = float(np.mean(lifts))
    ex = {"mean": hier["mean"], "ci_low": hier["ci_low"], "ci_high": hier["ci_high"]} \
        if hier else rec["excess"]
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
            labels: np.ndarray, claims: Path | str, seed: int,
            excess: dict[str, np.ndarray] | None = None) -> dict:
    """The `seed_level` section (module docstring). per_seed {model: <bool>[seeds, n]} in run
    order; baseline_probs <float>[n] or None (the TF-IDF baseline's P(positive)); excess
    {model: <float64>[seeds, n]} the per-review lexicon excess (`lexicon_excess`)."""
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
    con, lex, top = conicity(runs), lexicon(runs, excess, n_boot, seed), top_words(runs)
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
        "top_words": top, "lexicon_arms": lexicon_arms(lex), "flat_arms": flat_arms(runs, con),
        "absent": {"measures": [k for k, v in (("conicity", con), ("lexicon", lex),
                                               ("top_words", top)) if not v],
                   "models": [m for m in NON_CONTEXTUAL if m not in runs]},
    }
