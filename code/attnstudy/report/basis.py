"""The one basis every headline comparison of the report is decided on (issue #26).

    basis(analysis)                       -> "seed" | "welch"
    comparator(analysis, margin, spread)  -> cmp(a, b): the headline comparison of a and b
    welch(pairwise, summ, margin, spread) -> cmp on the Welch basis (all model pairs)
    seed(section)                         -> cmp on analysis.json's seed_level records
    ensemble(pairwise, margin, spread)    -> the seed-ensemble rows (secondary basis)
    leaders(ranking, cmp), lead(ranking, cmp)

When analysis.json has `seed_level` pairs (attnstudy.analysis.seed_level), every headline
comparison is that pair's record as the analysis decided it: the difference of per-seed mean
accuracies, the hierarchical-bootstrap interval (seeds, then the same test reviews), the
bootstrap TOST against the declared margin and the verdict with the rerun-spread rule; nothing is
re-decided here. Pairs the analysis did not compare have no headline comparison (cmp -> None).
Without the section (results analysed before it existed) the basis is the difference of per-seed
means with a Welch 95% interval over seeds, decided by attnstudy.stats.verdicts.decide.

A comparison is a dict oriented so that diff = acc(a) - acc(b): a, b, diff, lo, hi, level,
verdict, noise, finding, better, worse, relation, spread (the rerun spread its verdict used),
basis; seed-level ones add tost, mde, n_seeds_a/b. Inputs and outputs are fractions.
"""

from __future__ import annotations

import collections

from attnstudy.report import verdicts

FLIP = {"better": "worse", "worse": "better"}


def basis(ana: dict) -> str:
    """"seed" when analysis.json has seed-level pair records, else "welch"."""
    return "seed" if ((ana.get("seed_level") or {}).get("pairs")) else "welch"


def _record(a: str, b: str, diff: float, lo: float, hi: float, level: float, word: str,
            noise: bool, spread: float | None, name: str, **extra) -> dict:
    return {"a": a, "b": b, "diff": diff, "lo": lo, "hi": hi, "level": level, "verdict": word,
            "noise": noise, "finding": word in ("better", "worse"), "better": word == "better",
            "worse": word == "worse", "relation": verdicts.PHRASES[word], "spread": spread,
            "basis": name, "tost": None, "mde": None, **extra}


def welch(pairwise: list[dict], summ: dict, margin: float, spread: float | None = None):
    """cmp(a, b) on the Welch basis: the difference of per-seed mean accuracies with a Welch 95%
    interval over seeds (verdicts.per_seed, not adjusted for multiplicity), decided by
    verdicts.decide with the declared margin and the rerun spread; None for a pair that
    analysis.json's pairwise section does not hold."""
    pairs = {frozenset((p["a"], p["b"])) for p in pairwise}

    def cmp(a: str, b: str) -> dict | None:
        if frozenset((a, b)) not in pairs or a == b:
            return None
        ps = verdicts.per_seed(summ[a]["accuracy"], summ[b]["accuracy"])
        v = verdicts.decide(ps["diff"], ps["lo"], ps["hi"], margin, spread)
        return _record(a, b, ps["diff"], ps["lo"], ps["hi"], 0.95, v.word, v.noise, spread,
                       "welch")
    return cmp


def seed(section: dict):
    """cmp(a, b) from the seed_level section's pair records, turned round when the record
    compares b - a (the interval negated, better and worse swapped); None for a pair the
    analysis did not compare."""
    spread = (section.get("rerun_spread") or {}).get("max")
    by = {}
    for p in section["pairs"]:
        by[(p["a"], p["b"])] = (p, 1)
        by.setdefault((p["b"], p["a"]), (p, -1))

    def cmp(a: str, b: str) -> dict | None:
        if (a, b) not in by:
            return None
        p, s = by[(a, b)]
        lo, hi = sorted((s * p["ci_low"], s * p["ci_high"]))
        t = p["tost"]
        tlo, thi = sorted((s * t["ci_low"], s * t["ci_high"]))
        word = p["verdict"] if s == 1 else FLIP.get(p["verdict"], p["verdict"])
        return _record(a, b, s * p["diff"], lo, hi, p["ci_level"], word, p["noise"], spread,
                       "seed", tost={**t, "ci_low": tlo, "ci_high": thi}, mde=p["mde"],
                       n_seeds_a=p["n_seeds_a" if s == 1 else "n_seeds_b"],
                       n_seeds_b=p["n_seeds_b" if s == 1 else "n_seeds_a"])
    return cmp


def comparator(ana: dict, margin: float, spread: float | None = None):
    """The headline cmp(a, b) on the basis these results support (module docstring)."""
    if basis(ana) == "seed":
        return seed(ana["seed_level"])
    return welch(ana["pairwise"], ana["summary"], margin, spread)


def headline_pairs(ana: dict, cmp) -> list[dict]:
    """Every headline comparison, as the basis's table lists them."""
    src = ana["seed_level"]["pairs"] if basis(ana) == "seed" else ana["pairwise"]
    return [cmp(p["a"], p["b"]) for p in src]


def ensemble(pairwise: list[dict], margin: float, spread: float | None = None) -> list[dict]:
    """The secondary basis, seed ensembles (analysis.json pairwise: paired bootstrap CI
    unadjusted, McNemar p Holm-adjusted when recorded), decided by the same rule on its own
    interval; one row per recorded pair, as recorded (diff = acc_a - acc_b)."""
    out = []
    for p in pairwise:
        v = verdicts.decide(p["acc_diff"], p["ci_low"], p["ci_high"], margin, spread)
        out.append({**_record(p["a"], p["b"], p["acc_diff"], p["ci_low"], p["ci_high"], 0.95,
                              v.word, v.noise, spread, "ensemble"),
                    "sig": bool(p["significant"]), "p": p["mcnemar_p"],
                    "p_holm": p.get("mcnemar_p_holm"), "row": p})
    return out


def leaders(ranking: list[str], cmp) -> list[str]:
    """The model with the highest mean accuracy and every model not shown to be worse than it
    (verdict other than "worse"; a pair not compared counts as not shown): the prose calls one
    model the most accurate only when this list has one entry, and never calls the rest a tie."""
    top = ranking[0]
    return [top] + [m for m in ranking[1:] if not ((c := cmp(top, m)) and c["better"])]


def lead(ranking: list[str], cmp) -> dict:
    """The top model's comparisons by verdict: `open` (not shown worse than the top),
    `equivalent`, `inconclusive`, `noise` (inconclusive as within the rerun spread), `beaten`,
    and `uncompared` (pairs the basis holds no comparison for: open, but never called
    inconclusive)."""
    top, by = ranking[0], collections.defaultdict(list)
    for m in ranking[1:]:
        c = cmp(top, m)
        word = "uncompared" if c is None else c["verdict"]
        by["beaten" if word == "better" else word].append(m)
        if c and c["noise"]:
            by["noise"].append(m)
    return {"open": [m for m in ranking[1:] if m not in by["beaten"]], "beaten": by["beaten"],
            "equivalent": by["equivalent"], "inconclusive": by["inconclusive"],
            "noise": by["noise"], "uncompared": by["uncompared"]}
