"""The v3 rules of paper/claims.toml [[v3_rules]] (issue #27), applied to analysis.json's
`seed_level` section: (claim, rule, seed_level, evidence) -> (verdict, facts).

Which results they decide (`applies`): the v3 rules were fixed in 4352253 before any v3 run, for
v3's results; the v2 results were seen before that, so their ledger keeps the v2 rules of
[[claims]] (deciding them by rules written afterwards would move a rule after its result). Every
analysis now has a seed_level section (v2's re-derived one too), so the marker of results made
after the rules is in the runs: they record conicity and the lexicon share, which only the
evaluation since b34d43f (after 4352253) records (`seed_level.absent.measures` is empty).

The rules (`rule` text in claims.toml; verdicts "supported" = the text's "holds", "partly
supported" = "partly", "not supported" = "fails", "inconclusive"):

  seed_difference   each listed pair's seed-level verdict (better / worse / equivalent /
                    inconclusive, attnstudy.stats.verdicts, as the report's seed-level table
                    shows it): supported when every pair is better (and, with thresholds.strong,
                    every difference of per-seed means is >= strong; else partly supported); not
                    supported when any pair is equivalent or worse; else inconclusive. The pair
                    best_validation_model is the section's best_validation_model.
  + ablations       for the claim whose v2 kind is attention_ablation the pairs are its control
                    and the ablation part keeps the v2 rule (claim_rules.ablation_rows, the
                    [[claims]] thresholds): supported when every ablation is a drop and every
                    pair better; not supported when no ablation changed accuracy in any seed and
                    every pair is equivalent or worse; else inconclusive.
  lexicon_share     the verdict seed_level.lexicon_rule recorded (analysis.seed_level).

Facts hold the pair records as the seed-level section has them, oriented as the rule lists
them (A - B), and the section's margin, alpha and rerun spread: the ledger's sentences
(paper/prose/ledger.txt.j2) word these same values.
"""

from __future__ import annotations

from pathlib import Path

from attnstudy.analysis.claim_rules import Evidence, NotMeasured, ablation_rows
from attnstudy.errors import UserError
from attnstudy.files import read_toml

VERDICTS = ("supported", "partly supported", "not supported", "inconclusive")
V3_KINDS = ("seed_difference", "lexicon_share")
BEST_VAL, BASELINE = "best_validation_model", "baseline"  # as analysis.seed_level names them
FLIP = {"better": "worse", "worse": "better"}


MARKERS = ("conicity", "lexicon")  # recorded only by evaluations after the rules were fixed


def applies(seed_level: dict | None) -> bool:
    """Whether these results are decided by the v3 rules (module docstring): a seed_level
    section whose runs record the v3 measures that mark an evaluation made after the rules were
    fixed (MARKERS; measures added later, such as the most-attended words, do not decide it)."""
    absent = ((seed_level or {}).get("absent") or {}).get("measures")
    return absent is not None and not set(MARKERS) & set(absent)


def load_rules(path: Path | str, claim_ids) -> dict[str, dict]:
    """[[v3_rules]] of `path` by claim id, checked: a known kind, the id of a [[claims]]
    entry, `fixed`, and [a, b] pairs for seed_difference. A one-line UserError otherwise."""
    rules = read_toml(Path(path), "the claims ledger").get("v3_rules") or []
    out = {}
    for i, r in enumerate(rules):
        where = f"{path}: v3 rule {r.get('id', f'#{i + 1}')!r}"
        if r.get("kind") not in V3_KINDS:
            raise UserError(f"{where}: kind must be one of {', '.join(V3_KINDS)}")
        if r.get("id") not in claim_ids:
            raise UserError(f"{where}: no [[claims]] entry has this id")
        if r["id"] in out:
            raise UserError(f"{where}: declared twice")
        if not isinstance(r.get("fixed"), str) or not isinstance(r.get("thresholds", {}), dict):
            raise UserError(f"{where}: needs `fixed` (text) and `thresholds` (a table)")
        pairs = r.get("pairs")
        if r["kind"] == "seed_difference" and not (
                isinstance(pairs, list) and pairs
                and all(isinstance(p, list) and len(p) == 2 for p in pairs)):
            raise UserError(f"{where}: 'pairs' must be a list of [a, b] model pairs")
        out[r["id"]] = r
    return out


def equivalence(sl: dict) -> dict:
    """The settings every seed-level verdict was decided with (margin, alpha, rerun spread)."""
    spread = sl.get("rerun_spread") or {}
    return {"margin": sl["margin"], "alpha": sl["alpha"], "power": sl["power"],
            "spread": spread.get("max"), "best_validation_model": sl.get("best_validation_model")}


def oriented(sl: dict, a: str, b: str) -> dict | None:
    """The seed-level record of a - b (the section keeps each pair once, in either order)."""
    for p in sl.get("pairs") or []:
        if (p["a"], p["b"]) == (a, b):
            return dict(p)
        if (p["a"], p["b"]) == (b, a):
            tost = dict(p.get("tost") or {})
            if "ci_low" in tost:
                tost["ci_low"], tost["ci_high"] = -tost["ci_high"], -tost["ci_low"]
            return {**p, "a": a, "b": b, "n_seeds_a": p["n_seeds_b"], "n_seeds_b": p["n_seeds_a"],
                    "acc_a": p["acc_b"], "acc_b": p["acc_a"], "diff": -p["diff"],
                    "ci_low": -p["ci_high"], "ci_high": -p["ci_low"], "tost": tost,
                    "verdict": FLIP.get(p["verdict"], p["verdict"])}
    return None


def _pairs(rule: dict, sl: dict) -> list[dict]:
    """The rule's pairs as seed-level records (a - b), best_validation_model resolved."""
    best = sl.get("best_validation_model")
    named = [[best if m == BEST_VAL else m for m in p] for p in rule["pairs"]]
    found = [oriented(sl, a, b) if a and b else None for a, b in named]
    missing = [f"the seed-level comparison {a or 'the best validation model'} - {b}"
               for (a, b), f in zip(named, found, strict=True) if f is None]
    if missing:
        raise NotMeasured(missing)
    keep = ("a", "b", "n_seeds_a", "n_seeds_b", "acc_a", "acc_b", "diff", "ci_low", "ci_high",
            "ci_level", "tost", "mde", "verdict", "noise", "verdict_why")
    return [{k: f.get(k) for k in keep} for f in found]


def every_pair(words: list[str], diffs: list[float], strong: float | None) -> str:
    """The seed_difference verdict over a claim's pairs (module docstring)."""
    if any(w in ("equivalent", "worse") for w in words):
        return "not supported"
    if words and all(w == "better" for w in words):
        if strong is not None and not all(d >= strong for d in diffs):
            return "partly supported"
        return "supported"
    return "inconclusive"


def seed_difference(c: dict, rule: dict, sl: dict, ev: Evidence) -> tuple[str, dict]:
    """A seed_difference rule (with the ablation part for an attention_ablation claim)."""
    t = rule.get("thresholds") or {}
    if c["kind"] == "attention_ablation":
        missing, (abl, pairs) = [], (None, None)
        try:
            abl = ablation_rows(c, c["thresholds"], ev)
        except NotMeasured as x:
            missing += x.args[0]
        try:
            pairs = _pairs(rule, sl)
        except NotMeasured as x:
            missing += x.args[0]
        if missing:
            raise NotMeasured(missing)
        words = [p["verdict"] for p in pairs]
        if all(r["drop"] for r in abl) and all(w == "better" for w in words):
            verdict = "supported"
        elif not any(r["changed"] for r in abl) and all(w in ("equivalent", "worse")
                                                        for w in words):
            verdict = "not supported"
        else:
            verdict = "inconclusive"
        return verdict, {"pairs": pairs, "ablations": abl}
    pairs = _pairs(rule, sl)
    verdict = every_pair([p["verdict"] for p in pairs], [p["diff"] for p in pairs],
                         t.get("strong"))
    for p in pairs:
        p["strong"] = None if "strong" not in t else bool(p["diff"] >= t["strong"])
    return verdict, {"pairs": pairs}


def lexicon_share(c: dict, rule: dict, sl: dict, ev: Evidence) -> tuple[str, dict]:
    """The lexicon_share rule, as analysis.seed_level evaluated it (`lexicon_rule`)."""
    lex = sl.get("lexicon_rule")
    if not lex:
        raise NotMeasured([f"the lexicon share of {rule.get('model')}"])
    if lex["verdict"] not in VERDICTS:
        raise ValueError(f"lexicon_rule verdict {lex['verdict']!r} is not one of {VERDICTS}")
    return lex["verdict"], {"lexicon": lex}


RULES = {"seed_difference": seed_difference, "lexicon_share": lexicon_share}


def decide(c: dict, rule: dict, sl: dict, ev: Evidence) -> tuple[str, dict]:
    """(verdict, facts) of claim `c` by its v3 `rule`, the facts with the settings the pair
    verdicts were decided with ("equivalence"); not measured -> inconclusive, with "missing"."""
    try:
        verdict, facts = RULES[rule["kind"]](c, rule, sl, ev)
    except NotMeasured as e:
        verdict, facts = "inconclusive", {"missing": list(e.args[0])}
    return verdict, {**facts, "equivalence": equivalence(sl)}
