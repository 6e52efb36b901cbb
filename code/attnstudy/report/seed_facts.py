"""What the v3 results sections say (paper/prose/seed_level.html.j2), from analysis.json's
`seed_level` section (attnstudy.analysis.seed_level) and the sweep's sweep.json:

    context(bundle) -> {"present", "pairs", "verdicts", "mde", "conicity", "lexicon", "rule",
                        "arms", "sweep", "absent", ...}

When the section has pairs, its verdicts are the report's headline verdicts (attnstudy.report
.basis), so there is no second verdict to set beside them. Every value is read or counted from
the results; a measure these results lack is listed in `absent` and the prose says so instead
of showing it.
"""

from __future__ import annotations

import collections
import statistics

from attnstudy.report.style import order
from attnstudy.report.verdicts import PHRASES
from attnstudy.stats.equivalence import mde_from_se

ARM_MODELS = ("additive", "bilstm_mean", "embed_additive", "embed_mean")
ARM_PAIRS = (("additive", "bilstm_mean"), ("embed_additive", "embed_mean"),
             ("additive", "embed_additive"), ("bilstm_mean", "embed_mean"))
ARM_ABLATIONS = ("uniform", "permuted")  # the ablations every attention model of the arm has
WORDS_SHOWN = 12  # most-attended words shown per model


def _within(stat: dict | None) -> str | None:
    """Where a Stat's interval over seeds lies: "above" 0, "below", "includes" 0, or None
    (missing, or one seed: no interval)."""
    if not stat or stat.get("n", 0) < 2 or stat.get("ci_low") is None:
        return None
    return "above" if stat["ci_low"] > 0 else "below" if stat["ci_high"] < 0 else "includes"


def _pairs(sl: dict) -> list[dict]:
    """The section's pair records, each with `finding` (better or worse: shaded)."""
    return [{**p, "finding": p["verdict"] in ("better", "worse")} for p in sl["pairs"]]


def _mde(rows: list[dict], sl: dict) -> dict | None:
    """The MDEs of the pairs with two or more seeds on both sides: range, median, how many
    lie within the margin, and the factor (z_{1-alpha/2} + z_power) they are of the SE."""
    many = [r for r in rows if r["n_seeds_a"] > 1 and r["n_seeds_b"] > 1]
    vals = [r["mde"] for r in many]
    if not vals:
        return None
    margin = sl["margin"]
    seeds = [r["mde_seeds"] for r in rows if r.get("mde_seeds") is not None]
    return {"min": min(vals), "max": max(vals), "median": statistics.median(vals),
            "factor": mde_from_se(1.0, sl["alpha"], sl["power"]),
            "n": len(vals), "below_margin": sum(v <= margin for v in vals),
            "above_margin": [(r["a"], r["b"]) for r in many if r["mde"] > margin],
            "seeds_min": min(seeds, default=None), "seeds_max": max(seeds, default=None)}


def _conicity(sl: dict) -> list[dict]:
    out = []
    for m in order(sl.get("conicity") or {}):
        c = sl["conicity"][m]
        out.append({"model": m, "n_seeds": c["n_seeds"], "states": c["states"],
                    "embeddings": c["embeddings"], "diff": c["states_minus_embeddings"],
                    "where": _within(c["states_minus_embeddings"])})
    return out


def _lexicon(sl: dict) -> list[dict]:
    out = []
    for m in order(sl.get("lexicon") or {}):
        x = sl["lexicon"][m]
        lifts = [v for v in x["lift_per_seed"] if v is not None]
        out.append({"model": m, **x, "lift_min": min(lifts, default=None),
                    "lift_max": max(lifts, default=None),
                    "excess_where": _within(x.get("excess"))})
    return out


def _words(sl: dict) -> list[dict]:
    """Per model with pooled most-attended words: the first WORDS_SHOWN of them, the share of
    lexicon words in a seed's list and how many words every seed lists."""
    top = sl.get("top_words") or {}
    return [{"model": m, **{k: top[m][k] for k in ("n_seeds", "k", "min_count",
                                                   "in_every_seed", "lexicon_share")},
             "words": top[m]["words"][:WORDS_SHOWN]} for m in order(top)]


def _arms(b: dict, sl: dict) -> dict:
    """The non-contextual arm beside the BiLSTM pair: per model accuracy, states conicity,
    attention entropy, the ablations' accuracy changes (analysis.json's `attention` section,
    Stat over seeds) and lexicon lift (each None when not measured); the pairs' rows; the most-
    attended words; the lexicon-lift comparison of attention on embeddings vs BiLSTM states
    with where its interval lies (`_within`); `flat`, their entropy and conicity (`_flat`)."""
    ana = b["analysis"]
    att = ana.get("attention") or {}
    summ, stats, abl = ana["summary"], att.get("statistics") or {}, att.get("ablations") or {}
    models = [m for m in ARM_MODELS if m in summ]
    rows = []
    for m in models:
        ent = ((((stats.get(m) or {}).get("statistics") or {}).get("entropy") or {})
               .get("median") or {}).get("mean")
        rows.append({"model": m, "accuracy": summ[m]["accuracy"],
                     "conicity": ((sl.get("conicity") or {}).get(m) or {}).get("states"),
                     "entropy": ent,
                     **{mode: ((abl.get(m) or {}).get(mode) or {}).get("acc_diff")
                        for mode in ARM_ABLATIONS},
                     "lift": ((sl.get("lexicon") or {}).get(m) or {}).get("lift")})
    by = {(p["a"], p["b"]): p for p in sl["pairs"]}
    pairs = [by[ab] for ab in ARM_PAIRS if ab in by]
    cmp = sl.get("lexicon_arms")
    if cmp:
        cmp = {**cmp, "where": _welch_where(cmp), "no_interval": _no_interval(cmp)}
    return {"rows": rows, "pairs": pairs, "models": models,
            "missing": [m for m in ARM_MODELS if m not in summ],
            "words": _words(sl), "lift": cmp, "flat": _flat(sl.get("flat_arms"))}


def _welch_where(w: dict) -> str | None:
    """`_within` for a seed_level.welch record."""
    return _within({"n": min(w["n_seeds_a"], w["n_seeds_b"]), "ci_low": w["ci_low"],
                    "ci_high": w["ci_high"]})


def _no_interval(w: dict) -> str:
    return ("a single seed on one side" if min(w["n_seeds_a"], w["n_seeds_b"]) < 2
            else "no spread over seeds")


def _flat(f: dict | None) -> dict | None:
    """The arms' entropy and conicity comparison (seed_level.flat_arms) with the account it
    bears out. The conicity account predicts less uniform weights (lower entropy) over the
    less alike vectors (lower conicity), so it is decided by where the two intervals of A - B
    lie: "consistent" (both on the same side of 0), "against" (opposite sides), "open"
    (conicity differs, entropy not shown to), "untestable" (conicity not shown to differ),
    "no_interval" (either record has none; `no_interval` says why)."""
    if not f:
        return None
    ent, cone = _welch_where(f["entropy"]), _welch_where(f["conicity"])
    account = ("no_interval" if ent is None or cone is None else "untestable"
               if cone == "includes" else "open" if ent == "includes"
               else "consistent" if ent == cone else "against")
    lacking = next((f[k] for k, w in (("conicity", cone), ("entropy", ent)) if w is None),
                   f["entropy"])
    return {**f, "entropy_where": ent, "conicity_where": cone, "account": account,
            "less_alike": f["a"] if cone == "below" else f["b"] if cone == "above" else None,
            "no_interval": _no_interval(lacking)}


def sweep_tables(sweep: dict | None) -> list[dict]:
    """One table per sweep stage: {"setting", "scope", "values" (the declared grid, then any
    one-point extension the runner trained past an end), "extended" [bool per value], "rows":
    [{"model", "scores" [val_accuracy per value, None where not run], "chosen", "edge"}],
    "shared" (the mean row of a shared stage or None)}."""
    if not sweep:
        return []
    out = []
    for st in sweep["stages"]:
        declared = list(st["values"])  # as declared: ints for lengths, floats for rates
        points = {(p["model"], float(p["value"])): p["val_accuracy"] for p in st["runs"]}
        extra = sorted({v for _, v in points} - {float(v) for v in declared})
        values = sorted(declared + extra, key=float)
        choices = st.get("choices") or {}
        rows = []
        for m in order(st["models"]):
            c = choices.get(m) or {}
            rows.append({"model": m, "scores": [points.get((m, float(v))) for v in values],
                         "chosen": c.get("value"), "edge": c.get("edge")})
        shared = None
        if st.get("scope") == "shared" and choices:
            c = next(iter(choices.values()))
            scores = {float(k): x for k, x in (c.get("scores") or {}).items()}
            shared = {"scores": [scores.get(float(v)) for v in values], "chosen": c.get("value"),
                      "edge": c.get("edge")}
        out.append({"setting": st["setting"], "scope": st.get("scope"), "values": values,
                    "extended": [v in extra for v in values], "rows": rows, "shared": shared,
                    "n_runs": len(st["runs"])})
    return out


def edge_choices(sweep: dict | None) -> list[dict]:
    """The sweep's `at_edge` flags for the prose, a shared stage's once (model None), each with
    "extended": whether the flagged value lies past the declared grid, i.e. the choice sits at
    the declared one-point extension."""
    if not sweep:
        return []
    stages = {st["setting"]: st for st in sweep.get("stages", [])}
    out, seen = [], set()
    for e in sweep.get("at_edge") or []:
        st = stages.get(e["setting"], {})
        shared = st.get("scope") == "shared"
        if shared and e["setting"] in seen:
            continue
        seen.add(e["setting"])
        declared = {float(v) for v in st.get("values", [])}
        out.append({**e, "model": None if shared else e["model"],
                    "extended": bool(declared) and float(e["value"]) not in declared})
    return out


def context(b: dict) -> dict:
    """The v3 sections' context (module docstring)."""
    sl = (b["analysis"] or {}).get("seed_level")
    sweep = b.get("sweep")
    base = {"present": sl is not None, "sweep": sweep_tables(sweep), "phrases": PHRASES,
            "sweep_record": sweep, "at_edge": edge_choices(sweep)}
    if sl is None:
        return {**base, "absent": {"measures": ["conicity", "lexicon"], "models": []}}
    rows = _pairs(sl)
    seeds = [v["n_seeds"] for v in sl["models"].values()]
    return {**base, "sl": sl, "pairs": rows,
            "verdicts": collections.Counter(r["verdict"] for r in rows),
            "noise": [r for r in rows if r["noise"]],
            "mde": _mde(rows, sl), "seeds_min": min(seeds, default=0),
            "seeds_max": max(seeds, default=0), "conicity": _conicity(sl),
            "lexicon": _lexicon(sl), "rule": sl.get("lexicon_rule"), "arms": _arms(b, sl),
            "absent": sl.get("absent") or {"measures": [], "models": []}}
