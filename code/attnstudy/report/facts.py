"""The report context: every value the templates read, computed from one loaded results set.

    context(bundle) -> {name: value}   (bundle from attnstudy.report.results.load)

The templates only format and phrase; anything that needs a comparison, a count, a rank or a
choice of samples is computed here, so a word in the prose follows the numbers it rests on.
"""

from __future__ import annotations

import collections
import datetime as dt
import math
import tomllib

from attnstudy.analysis.sections import PAIR_CONSISTENCY
from attnstudy.config import ROOT
from attnstudy.metrics import LOWER_IS_BETTER, METRIC_LABELS
from attnstudy.report import basis as basis_mod
from attnstudy.report import citation, seed_facts, verdicts, wording
from attnstudy.report.basis import lead, leaders
from attnstudy.report.benchmark import bench_table, settings_grid
from attnstudy.report.figures_attention import heat_scale, pick_heat, pick_short, typical_len
from attnstudy.report.style import baseline_label, order, ratio_css

METRICS = tuple(METRIC_LABELS.items())
N_DISAGREE, N_AGREE, N_HEAT, EXCERPT = 5, 2, 3, 40  # sample-selection rules stated in captions
ABLATIONS = {"uniform": "uniform weights", "permuted": "its own weights permuted",
             "none": "the attention sublayer skipped"}


def _mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


def rules_fixed() -> dict[str, str]:
    """When each claim's rule was fixed (paper/claims.toml `fixed`), by claim id."""
    claims = tomllib.loads((ROOT / "paper" / "claims.toml").read_text(encoding="utf-8"))
    return {c["id"]: c["fixed"] for c in claims["claims"] if c.get("fixed")}


def verdict_class(verdict: str) -> str:
    """The badge colour of a ledger verdict: yes, no, partial or unclear."""
    v = verdict.lower()
    if any(w in v for w in ("partial", "partly", "mixed", "weak")):
        return "partial"
    if any(w in v for w in ("not", "refut", "contradict", "reject", "unsupported", "false")):
        return "no"
    return "yes" if "support" in v or "confirm" in v else "unclear"


def training(runs: list[dict]) -> dict:
    """When, where and at which commit the runs were trained, from each run's own provenance
    (None in results written before runs recorded it): dates, span and commits of the recorded
    runs; `recorded` counts them. `run_min`/`run_max`: training seconds of the shortest and
    longest run (every run records them); `run_wall_min/max`: start to finish of the recorded
    runs, validation and evaluation included."""
    have = [r["provenance"] for r in runs if r.get("provenance")]
    secs = [r["train_seconds"] for r in runs]
    out = {"n_runs": len(runs), "recorded": len(have), "total_train": sum(secs),
           "run_min": min(secs), "run_max": max(secs), "run_wall_min": None,
           "run_wall_max": None, "started": None,
           "finished": None, "span": None, "commits": [], "machines": [], "cpus": [], "cores": [],
           "python": [], "packages": {}, "single_thread": 0}
    if not have:
        return out
    starts = [dt.datetime.fromisoformat(p["started"]) for p in have]
    ends = [dt.datetime.fromisoformat(p["finished"]) for p in have]
    commits = collections.Counter((p.get("git_commit", "unknown"), bool(p.get("git_dirty")))
                                  for p in have)
    packages: dict[str, set] = collections.defaultdict(set)
    for p in have:
        for k, v in (p.get("packages") or {}).items():
            packages[k].add(v)
    threads = [p.get("threads") or {} for p in have]
    walls = [(e - s).total_seconds() for s, e in zip(starts, ends, strict=True)]
    out.update(
        run_wall_min=min(walls), run_wall_max=max(walls),
        started=min(starts).isoformat(), finished=max(ends).isoformat(),
        span=(max(ends) - min(starts)).total_seconds(),
        commits=[{"commit": c, "dirty": d, "runs": k} for (c, d), k in commits.most_common()],
        machines=sorted({f"{p.get('cpu', 'unknown')} ({p.get('cores', '?')} cores)"
                         for p in have}),
        cpus=sorted({p.get("cpu", "unknown") for p in have}),
        cores=sorted({p["cores"] for p in have if p.get("cores")}),
        python=sorted({p["python"] for p in have if p.get("python")}),
        packages={k: sorted(v) for k, v in packages.items()},
        single_thread=sum(bool(t.get("single_thread_xla")) for t in threads))
    return out


def samples(att: dict, models: list[str], median: int | None = None
            ) -> tuple[list[dict], list[dict]]:
    """(prediction samples, heat-map samples) from attention.json by the rules in the captions:
    the N_DISAGREE reviews with the largest spread of P(positive) across models, then the
    N_AGREE with the smallest; for the additive heat map the N_HEAT reviews of pick_heat (nearest
    the test set's `median` length, one misclassified), with `right` and `top` (the three
    highest-weighted tokens, (token, w * n))."""
    rows = []
    for s in att["samples"]:
        probs = {m: s["probs"][m] for m in models if m in s["probs"]}
        votes = {p >= 0.5 for p in probs.values()}
        rows.append({**s, "spread": max(probs.values()) - min(probs.values()),
                     "disagree": len(votes) > 1, "p": probs,
                     "text": " ".join(s["tokens"][:EXCERPT])
                     + (" …" if len(s["tokens"]) > EXCERPT else "")})
    by_spread = sorted(rows, key=lambda s: (-s["spread"], str(s["id"])))
    chosen = by_spread[:N_DISAGREE] + list(reversed(by_spread[N_DISAGREE:]))[:N_AGREE]
    ids = [s["id"] for s in pick_heat(att, N_HEAT, median)]
    heat = [next(r for r in rows if r["id"] == i) for i in ids]
    octaves = heat_scale(att, median)  # the figures' colour range
    for s in heat:  # (token, weight, w * n, background, text colour): relative to uniform
        n = len(s["tokens"])
        p = s["p"].get("additive")
        s["right"] = p is None or (p >= 0.5) == bool(s["label"])
        w = s["additive"] or []
        s["top"] = [(s["tokens"][i], w[i] * n)
                    for i in sorted(range(len(w)), key=lambda i: -w[i])[:3]]
        s["spans"] = [(tok, w, w * n, *ratio_css(math.log2(max(w * n, 1e-9)), octaves))
                      for tok, w in zip(s["tokens"], s["additive"] or [], strict=False)]
    return chosen, heat


def heat_range(samples: list[dict]) -> dict:
    """Smallest and largest weight relative to uniform (w * n) in the heat maps' samples (the
    pick_short rule): `mhsa` the query x key maps of the first, `additive` and `received` (MHSA,
    all heads) the per-token weights of all; None when there is nothing to show."""
    def span(rows):
        vals = [w * len(r) for r in rows if r for w in r]
        return (min(vals), max(vals)) if vals else None

    if not samples:
        return {"mhsa": None, "additive": None, "received": None}
    first = samples[0]
    return {"mhsa": span(row for head in first["mhsa"] for row in head),
            "additive": span(s.get("additive") for s in samples),
            "received": span(s.get("mhsa_received") for s in samples)}


def _mean_or_none(xs) -> float | None:
    xs = [x for x in xs if x is not None]
    return _mean(xs) if xs else None


def attention_facts(res: dict, ana: dict, summ: dict) -> dict:
    """What the attention captions and prose say, each part empty when these results did not
    measure it: `stats` (analysis attention.statistics: medians over reviews, mean over seeds),
    `learning` (validation entropy from the runs' curves: first, last, at the selected
    checkpoints), `ablations` (one row per model x ablation) and `drops` (rows whose every
    seed's CI lies below 0)."""
    sec = ana.get("attention") or {}

    def med(block: dict, k: str):
        return ((block.get(k) or {}).get("median") or {}).get("mean")

    stats = {}
    for m in order(sec.get("statistics") or {}):
        st = sec["statistics"][m]
        heads = [v for h in st.get("heads") or [] if (v := med(h, "entropy")) is not None]
        stats[m] = {"entropy": med(st["statistics"], "entropy"),
                    "max_weight": med(st["statistics"], "max_weight"),
                    "max_weight_uniform": med(st["uniform"], "max_weight"),
                    "top5": med(st["statistics"], "top5_mass"),
                    "top5_uniform": med(st["uniform"], "top5_mass"),
                    "heads": bool(heads), "heads_min": min(heads, default=None),
                    "heads_max": max(heads, default=None), "n_seeds": st["n_seeds"]}
    learning = {}
    for m in order({r["model"] for r in res["runs"]}):
        runs = [r for r in res["runs"] if r["model"] == m
                and any(c.get("attention") for c in r["curve"])]
        pts = [{c["step"]: c["attention"]["entropy_median"] for c in r["curve"]
                if c.get("attention")} for r in runs]
        steps = sorted(set.intersection(*(set(p) for p in pts))) if pts else []
        if steps:
            learning[m] = {"first_step": steps[0], "first": _mean(p[steps[0]] for p in pts),
                           "last_step": steps[-1], "last": _mean(p[steps[-1]] for p in pts),
                           "at_best": _mean_or_none(p.get(r["best_step"])
                                                    for p, r in zip(pts, runs, strict=True))}
    rows = []
    for m in order(sec.get("ablations") or {}):
        for mode, a in sec["ablations"][m].items():
            d = a["acc_diff"]
            rows.append({"model": m, "ablation": mode, "name": ABLATIONS.get(mode, mode),
                         "learned": summ[m]["accuracy"]["mean"], "accuracy": a["accuracy"]["mean"],
                         "diff": d["mean"], "lo": d["ci_low"], "hi": d["ci_high"],
                         "below": a["seeds_below"], "above": a["seeds_above"],
                         "n_seeds": a["n_seeds"], "dp": a["mean_abs_prob_change"]["mean"],
                         "flipped": a["flipped"]["mean"]})
    return {"stats": stats, "stat_seeds": max((s["n_seeds"] for s in stats.values()), default=0),
            "learning": learning, "ablations": rows,
            "drops": [r for r in rows if r["n_seeds"] and r["below"] == r["n_seeds"]],
            "ablated_models": list(dict.fromkeys(r["model"] for r in rows))}


def negation_facts(ana: dict) -> dict:
    """The length-controlled negation comparison (analysis negation.by_length) and the probes'
    double-negation category, for the negation paragraph, figure and table."""
    by = ana["negation"]["by_length"]
    ms = {m: v for m, v in by["models"].items() if v["diff"] is not None}
    dn = {m: p["by_category"]["double_negation"] for m, p in ana["negation"]["probes"].items()
          if "double_negation" in p.get("by_category", {})}
    pc = {m: v["pair_consistency"] for m, v in dn.items()}
    ranked = sorted(dn, key=lambda m: (-pc[m], m))
    return {"buckets": by["buckets"], "level": by["ci_level"], "models": by["models"],
            "median_with": by["length_median"]["with"],
            "median_without": by["length_median"]["without"],
            "mean_diff": _mean_or_none(v["diff"] for v in ms.values()),
            "mean_raw": _mean_or_none(v["raw_diff"] for v in by["models"].values()),
            "below": [m for m, v in ms.items() if v["ci_high"] < 0],
            "above": [m for m, v in ms.items() if v["ci_low"] > 0],
            "double": None if not dn else {
                "best": ranked[0], "worst": ranked[-1], "scores": dn,
                # every model tied at either end: a tie is never printed as one model's lead
                "tops": [m for m in ranked if pc[m] == pc[ranked[0]]],
                "bottoms": [m for m in ranked if pc[m] == pc[ranked[-1]]],
                "n_pairs": dn[ranked[0]]["n_pairs"],
                "same": len(set(pc.values())) == 1,
                "acc_min": min(v["accuracy"] for v in dn.values()),
                "acc_max": max(v["accuracy"] for v in dn.values()),
                "mean": _mean(v["pair_consistency"] for v in dn.values()),
                "mean_all": _mean(ana["negation"]["probes"][m]["pair_consistency"] for m in dn)}}


def probe_verdicts(ana: dict) -> dict:
    """The probes' comparisons as the text words them: the model with the highest probe accuracy
    (`top`, per-seed mean) and, from its side, the models it is `better` than, `worse` than and
    `inconclusive` against, by the exact McNemar verdicts of analysis.json (negation.probes[m]
    .versus, Holm-adjusted over all pairs); `findings`: every pair with a verdict other than
    inconclusive, as (better model, worse model, Holm p); `tested`: False for results without
    them."""
    probes = ana["negation"]["probes"]
    rank = sorted(probes, key=lambda m: -probes[m]["accuracy"])
    counts = {"n_models": len(rank), "n_pairs": len(rank) * (len(rank) - 1) // 2}
    if not rank or probes[rank[0]].get("versus") is None:
        return {"top": rank[0] if rank else None, "tested": False, **counts}
    top, versus = rank[0], probes[rank[0]]["versus"]
    out = {v: [m for m in rank[1:] if versus[m]["verdict"] == v]
           for v in ("better", "worse", "inconclusive")}
    findings = [(a, b, v["p_holm"]) if v["verdict"] == "better" else (b, a, v["p_holm"])
                for i, a in enumerate(rank) for b in rank[i + 1:]
                for v in [probes[a]["versus"][b]] if v["verdict"] != "inconclusive"]
    return {"top": top, "tested": True, **out, **counts, "findings": findings}


def context(b: dict) -> dict:
    res, ana, att = b["results"], b["analysis"], b["attention"]
    models = order(res["models"])
    summ = ana["summary"]
    runs = collections.defaultdict(list)
    for r in res["runs"]:
        runs[r["model"]].append(r)
    ranking = sorted(models, key=lambda m: -summ[m]["accuracy"]["mean"])
    timing = [{"model": m, "params": res["models"][m]["params"],
               "train": _mean(r["train_seconds"] for r in runs[m]),
               "tps": _mean(r["tokens_per_second"] for r in runs[m]),
               "eval_rps": _mean(r["eval_reviews_per_second"] for r in runs[m]),
               "best_step": _mean(r["best_step"] for r in runs[m]),
               "steps": _mean(r["steps"] for r in runs[m])} for m in models]
    median = typical_len(res)
    pred_samples, heat_samples = samples(att, models, median)
    octaves = heat_scale(att, median)
    fixed = rules_fixed()
    ledger = [{**row, "cls": verdict_class(row["verdict"]), "fixed": fixed.get(row.get("id"))}
              for row in ana["ledger"]]
    faith = ana.get("faithfulness") or {}
    buckets = ana["length"]["buckets"]
    config_rows = [(sec, k, ", ".join(map(str, v)) if isinstance(v, list) else v)
                   for sec, vals in res["config"].items() if isinstance(vals, dict)
                   for k, v in vals.items()]
    base_acc = (ana["baseline"].get("test") or {}).get("accuracy")
    short = pick_short(att, 2)
    spread = wording.rerun_spread()
    margin = verdicts.margin()
    noise = spread["max"] if spread else None
    cmp = basis_mod.comparator(ana, margin, noise)
    pairs = basis_mod.headline_pairs(ana, cmp)
    on_seed = basis_mod.basis(ana) == "seed"
    welch = basis_mod.welch(ana["pairwise"], summ, margin, noise)
    welch_pairs = [welch(p["a"], p["b"]) for p in ana["pairwise"]]
    ens_rows = basis_mod.ensemble(ana["pairwise"], margin, noise)
    return {
        "res": res, "ana": ana, "att": att, "cfg": res["config"], "data": res["data"],
        "prov": res["provenance"], "train": training(res["runs"]),
        "grouping": res["data"].get("grouping") or "film",  # results before v2: always film
        "models": models, "summ": summ, "ranking": ranking, "best": ranking[0],
        "worst": ranking[-1], "leaders": leaders(ranking, cmp), "metrics": METRICS,
        "lead": lead(ranking, cmp),
        "best_by_metric": {k: (min if k in LOWER_IS_BETTER else max)(
            models, key=lambda m, k=k: summ[m][k]["mean"]) for k, _ in METRICS},
        "above_baseline": [m for m in models if base_acc is not None
                           and summ[m]["accuracy"]["mean"] > base_acc],
        "cmp": cmp, "citation": citation.facts(citation.load(), res),
        "swept": b.get("swept", False), "v3": seed_facts.context(b),
        "pairs": pairs, "margin": margin,
        # the one basis of every headline comparison (report.basis); the Welch rows of every
        # model pair are the headline table without seed-level records, else a secondary one
        "basis": {"name": "seed" if on_seed else "welch",
                  "table": "tab-seed-level" if on_seed else "tab-pairwise",
                  "sl": ana["seed_level"] if on_seed else None,
                  # model pairs with no headline comparison (only the secondary tables show them)
                  "uncompared": [c for c in welch_pairs if not cmp(c["a"], c["b"])]},
        "welch_pairs": welch_pairs,
        "ens_rows": ens_rows,
        # seed-ensemble accuracy of each model (secondary basis), as the pairwise rows record it
        "ens_acc": {m: acc for p in ana["pairwise"]
                    for m, acc in ((p["a"], p["acc_a"]), (p["b"], p["acc_b"]))},
        "findings": [c for c in pairs if c["finding"]],
        "pair_verdicts": collections.Counter(c["verdict"] for c in pairs),
        "noise_verdicts": [c for c in pairs if c["noise"]],
        "sig_pairs": [p for p in ana["pairwise"] if p["significant"]],
        # pairs whose seed ensembles rank the two models the other way round from the per-seed
        # means of Table 3: said in the text, since a reader compares the two tables
        "basis_flips": [{**p, "seed_diff": summ[p["a"]]["accuracy"]["mean"]
                         - summ[p["b"]]["accuracy"]["mean"]} for p in ana["pairwise"]
                        if (summ[p["a"]]["accuracy"]["mean"] - summ[p["b"]]["accuracy"]["mean"])
                        * p["acc_diff"] < 0],
        "holm": any("mcnemar_p_holm" in p for p in ana["pairwise"]),
        "baseline": ana["baseline"], "baseline_label": baseline_label(ana["baseline"].get("name")),
        "seeds": sorted({r["seed"] for r in res["runs"]}), "n_runs": len(res["runs"]),
        "params": {m: res["models"][m]["params"] for m in models}, "timing": timing,
        "total_train": sum(r["train_seconds"] for r in res["runs"]),
        "buckets": buckets, "len_first": _mean(buckets[0]["accuracy"].values()),
        "len_last": _mean(buckets[-1]["accuracy"].values()),
        "neg": ana["negation"], "octaves": octaves,
        # the token highlights' colour key: one swatch per octave of w * n
        "heat_key": [(k, *ratio_css(float(k), octaves)) for k in range(-octaves, octaves + 1)],
        "neg_len": negation_facts(ana), "pair_rule": PAIR_CONSISTENCY,
        "attn": attention_facts(res, ana, summ),
        "attn_claim": next((r for r in ledger if r.get("id") == "attention-weights-matter"), None),
        "probe_rank": sorted(ana["negation"]["probes"],
                             key=lambda m: -ana["negation"]["probes"][m]["accuracy"]),
        "probe_cmp": probe_verdicts(ana),
        "probe_pairs": {m: sum(c.get("n_pairs", 0) for c in p.get("by_category", {}).values())
                        for m, p in ana["negation"]["probes"].items()},
        "n_test": len(b["predictions"]), "n_neg": int(b["predictions"]["negation"].sum()),
        "faith": faith, "faith_facts": wording.faithfulness(res, ana, ledger),
        "proto": wording.protocol(res), "recurrence": wording.recurrence(ledger),
        "gap": wording.baseline_gap(res, ana, b.get("sweep"), ranking[0],
                                    cmp(ranking[0], "baseline")),
        # Holm-significant seed-ensemble rows: those the table calls rerun noise, and whether any
        # is no larger than the spread (an equivalent one is, without being noise)
        "spread": spread, "noise_pairs": [r["row"] for r in ens_rows if r["sig"] and r["noise"]],
        "small_sig": bool(spread) and any(p["significant"] and verdicts.within_spread(
            p["acc_diff"], spread["max"]) for p in ana["pairwise"]),
        "mhsa_sample": short[0] if short else None, "received_n": len(short),
        "heat_range": heat_range(short),
        "heat_span": (min((r for s in heat_samples for _, _, r, *_ in s["spans"]), default=None),
                      max((r for s in heat_samples for _, _, r, *_ in s["spans"]), default=None)),
        "pred_samples": pred_samples, "heat_samples": heat_samples,
        "disagree_count": sum(s["disagree"] for s in pred_samples),
        "rule": {"disagree": N_DISAGREE, "agree": N_AGREE, "heat": N_HEAT, "excerpt": EXCERPT},
        "ledger": ledger, "verdicts": collections.Counter(r["verdict"] for r in ledger),
        "seed_claims": [r for r in ledger if r.get("source") == "seed"],
        "config_rows": config_rows, "bench": b["bench"], "bench_table": bench_table(b["bench"]),
        "bench_grid": settings_grid(b["bench"]),
    }
