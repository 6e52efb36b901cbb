"""analysis.json's `attention` section: does the attention do anything? Pure functions of the
runs' records (results.json), per attention model over its seeds (Student-t 95% CI, `mean_ci`):

  ablations   runs[].ablations: accuracy, accuracy change (ablated - learned, fractions), mean
              |change in P(positive)|, flipped decisions, and how many seeds' paired bootstrap
              CIs over reviews lie below / above 0
  statistics  runs[].attention_stats: per statistic the per-run median, mean and 5/25/75/95%
              quantiles over reviews, the uniform reference, and (mhsa) the same per head
  learning    runs[].curve[].attention: the validation entropy median at each step every seed
              recorded, i.e. when during training the attention moves away from uniform
"""

from __future__ import annotations

import numpy as np

from attnstudy.stats.intervals import mean_ci

ABLATION_KEYS = ("accuracy", "acc_diff", "mean_abs_prob_change", "flipped")
QUANTILES = ("q05", "q25", "q75", "q95")  # of the per-review distribution; q50 is "median"
STATISTICS = ("entropy", "max_weight", "top5_mass", "position_spearman", "row_entropy",
              "row_max_weight")


def over_seeds(values) -> dict | None:
    """mean_ci of the values that are numbers; None when there are none."""
    x = [v for v in values if isinstance(v, int | float) and np.isfinite(v)]
    return mean_ci(x) if x else None


def ablations(runs: dict[str, list[dict]]) -> dict:
    out: dict = {}
    for m, rs in runs.items():
        recs = [r["ablations"] for r in rs if r.get("ablations")]
        if not recs:
            continue
        out[m] = {}
        for mode in recs[0]:
            per = [rec[mode] for rec in recs if mode in rec]
            out[m][mode] = {k: over_seeds([a[k] for a in per]) for k in ABLATION_KEYS} | {
                "seeds_below": sum(a["ci_high"] < 0 for a in per),
                "seeds_above": sum(a["ci_low"] > 0 for a in per), "n_seeds": len(per)}
    return out


def _block(blocks: list[dict]) -> dict:
    """{statistic: {"median", "mean", "q05", "q25", "q75", "q95"} over seeds, or None} from
    per-run statistic blocks (each the run's summary over reviews, `Dist`)."""
    out = {}
    for k in STATISTICS:
        dists = [b[k] for b in blocks if b.get(k)]
        out[k] = None if not dists else {
            "median": over_seeds([d["q50"] for d in dists]),
            "mean": over_seeds([d["mean"] for d in dists]),
            **{q: over_seeds([d[q] for d in dists]) for q in QUANTILES}}
    return out


def statistics(runs: dict[str, list[dict]]) -> dict:
    out = {}
    for m, rs in runs.items():
        recs = [r["attention_stats"] for r in rs if r.get("attention_stats")]
        if not recs:
            continue
        heads = recs[0].get("heads")
        out[m] = {"source": recs[0]["source"], "n_seeds": len(recs), "statistics": _block(recs),
                  "uniform": {k: v for k, v in _block([r["uniform"] for r in recs]).items()
                              if v is not None},
                  "heads": None if not heads else [_block([r["heads"][h] for r in recs])
                                                   for h in range(len(heads))]}
    return out


def learning(runs: dict[str, list[dict]]) -> dict:
    out = {}
    for m, rs in runs.items():
        points = [{p["step"]: p["attention"] for p in r.get("curve", []) if p.get("attention")}
                  for r in rs]
        steps = sorted(set.intersection(*(set(p) for p in points))) if points else []
        if not steps:
            continue
        rows = []
        for s in steps:
            at = [p[s] for p in points]
            heads = at[0].get("heads_entropy_median")
            rows.append({"step": s,
                         "entropy_median": over_seeds([a["entropy_median"] for a in at]),
                         "heads_entropy_median": None if not heads else [
                             over_seeds([a["heads_entropy_median"][h] for a in at])
                             for h in range(len(heads))]})
        out[m] = rows
    return out


def attention(runs: dict[str, list[dict]]) -> dict:
    """The section (see the module docstring); empty mappings when nothing was recorded (runs
    evaluated before the ablations existed)."""
    return {"ablations": ablations(runs), "statistics": statistics(runs),
            "learning": learning(runs)}
