"""The claims ledger: each claim of paper/claims.toml, decided by its kind's rule with the
thresholds declared there.

A ledger row is {"id", "claim", "source", "test", "kind", "metric", "basis", "thresholds",
"verdict", "facts"}: "facts" are the numbers behind the verdict (see
attnstudy.analysis.claim_rules). The sentences that state each rule and result are the report's
(attnstudy.report.ledger_text, from paper/prose/ledger.txt.j2), worded from the same values.

v3 results (attnstudy.analysis.claim_rules_v3): a claim with a [[v3_rules]] entry is decided by
that rule from the seed-level section; its row's kind, thresholds and facts are the v3 rule's.
In v3 results every row adds "rule_set" ("v3_rules" or "claims": which table of claims.toml
decided it), "rule_fixed" (that entry's `fixed`) and "rule_commit" (its `commit`, or None).
Rows of v2 results are exactly what they were before the v3 rules existed.
"""

from __future__ import annotations

from pathlib import Path

from attnstudy.analysis import claim_rules_v3 as v3_rules
from attnstudy.analysis.claim_rules import KINDS, Evidence, NotMeasured
from attnstudy.config import ROOT
from attnstudy.errors import UserError
from attnstudy.files import read_toml

CLAIMS = ROOT / "paper" / "claims.toml"
COMMON = {"id": str, "claim": str, "source": str, "test": str, "kind": str, "metric": str,
          "basis": (str, dict), "thresholds": dict, "fixed": str}
SOURCES = ("seed", "ours")


# ----------------------------------------------------------------------------- claims.toml

def load_claims(path: Path | str = CLAIMS) -> list[dict]:
    """The claims of `path`, checked: common keys, a known kind, its keys, thresholds and basis.
    Anything malformed is a one-line UserError naming the file and the claim."""
    path = Path(path)
    raw = read_toml(path, "the claims ledger")
    claims = raw.get("claims")
    if not isinstance(claims, list) or not claims:
        raise UserError(f"{path}: needs a [[claims]] table per claim")
    seen = set()
    for i, c in enumerate(claims):
        _check(c, f"{path}: claim {c.get('id', f'#{i + 1}')!r}")
        if c["id"] in seen:
            raise UserError(f"{path}: claim {c['id']!r} is declared twice")
        seen.add(c["id"])
    return claims


def _check(c: dict, where: str) -> None:
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise UserError(f"{where}: {msg}")

    for key, typ in COMMON.items():
        need(key in c, f"missing key {key!r}")
        need(isinstance(c[key], typ), f"{key!r} has the wrong type")
    need(c["kind"] in KINDS, f"unknown kind {c['kind']!r} (known: {', '.join(KINDS)})")
    need(c["source"] in SOURCES, f"source must be one of {', '.join(SOURCES)}")
    kind = KINDS[c["kind"]]
    for key, typ in kind.params.items():
        need(key in c, f"missing key {key!r} (kind {c['kind']})")
        need(isinstance(c[key], typ), f"{key!r} has the wrong type")
    t = c["thresholds"]
    for key in kind.thresholds:
        need(key in t, f"missing key 'thresholds.{key}' (kind {c['kind']})")
        need(isinstance(t[key], int | float) and not isinstance(t[key], bool),
             f"'thresholds.{key}' must be a number")
    extra = sorted(set(c) - set(COMMON) - set(kind.params)) + sorted(
        f"thresholds.{k}" for k in set(t) - set(kind.thresholds))
    need(not extra, f"unknown key {(extra or [''])[0]!r} (kind {c['kind']})")
    need(c["basis"] == kind.basis, f"basis {c['basis']!r} is not what kind {c['kind']} "
         f"computes ({kind.basis!r})")
    if c["kind"] == "pairwise":
        need(all(isinstance(p, list) and len(p) == 2 for p in c["pairs"]),
             "'pairs' must be a list of [a, b] model pairs")
    if c["kind"] == "attention_ablation":
        need(len(c["control"]) == 2, "'control' must be one [a, b] model pair")


# ----------------------------------------------------------------------------- the ledger

def ledger(ev: Evidence, path: Path | str = CLAIMS, seed_level: dict | None = None) -> list[dict]:
    """One row per claim of `path`, in its order (see the module docstring). With the
    `seed_level` section of results the v3 rules apply to (claim_rules_v3.applies), a claim
    with a [[v3_rules]] entry is decided by it, and every row says which rule decided it."""
    claims = load_claims(path)
    v3 = v3_rules.load_rules(path, {c["id"] for c in claims}) if v3_rules.applies(
        seed_level) else None
    rows = []
    for c in claims:
        rule = (v3 or {}).get(c["id"])
        if rule is not None:
            rows.append(_v3_row(c, rule, seed_level, ev))
            continue
        kind = KINDS[c["kind"]]
        try:
            verdict, facts = kind.rule(c, c["thresholds"], ev)
        except NotMeasured as e:
            verdict, facts = "inconclusive", {"missing": list(e.args[0])}
        row = {"id": c["id"], "claim": c["claim"], "source": c["source"], "test": c["test"],
               "kind": c["kind"], "metric": c["metric"], "basis": c["basis"],
               "thresholds": c["thresholds"]}
        if v3 is not None:  # v3 results: say that this claim keeps its v2 rule
            row |= {"rule_set": "claims", "rule_fixed": c["fixed"], "rule_commit": None}
        rows.append({**row, "verdict": verdict, "facts": facts})
    return rows


def _v3_row(c: dict, rule: dict, sl: dict, ev: Evidence) -> dict:
    """A claim decided by its [[v3_rules]] entry: its kind, thresholds and `fixed` are the
    rule's; "test" the declared measure (the seed-level basis, or the lexicon metric)."""
    verdict, facts = v3_rules.decide(c, rule, sl, ev)
    seed_diff = rule["kind"] == "seed_difference"
    return {"id": c["id"], "claim": c["claim"], "source": c["source"],
            "test": (("inference-time ablations as in the v2 rule; control pairs: " if
                      c["kind"] == "attention_ablation" else "") + sl["basis"])
            if seed_diff else rule["metric"],
            "kind": rule["kind"],
            "metric": "test accuracy (difference of per-seed means)" if seed_diff else
            "attention lift on sentiment-lexicon words (per-seed mean)",
            "basis": "per-seed mean", "thresholds": rule.get("thresholds") or {},
            "rule_set": "v3_rules", "rule_fixed": rule["fixed"],
            "rule_commit": rule.get("commit"), "verdict": verdict, "facts": facts}
