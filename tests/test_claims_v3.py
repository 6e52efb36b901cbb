"""The ledger on the v3 rules (paper/claims.toml [[v3_rules]], analysis.claim_rules_v3): each v3
rule reaches each of its outcomes from synthetic seed-level records whose pair verdicts come from
the report's own rule (stats.verdicts.decide); the sentences word the same values; v2 results
keep the v2 ledger."""

from __future__ import annotations

import json
import subprocess
import tomllib

import numpy as np
import pytest

from attnstudy.analysis import claim_rules_v3 as v3
from attnstudy.analysis import claims as ledger_mod
from attnstudy.analysis.claim_rules import Evidence
from attnstudy.config import ROOT
from attnstudy.report.ledger_text import worded
from attnstudy.stats.verdicts import decide

MARGIN, ALPHA, SPREAD = 0.005, 0.05, 0.0072
# (diff, ci_low, ci_high) that stats.verdicts.decide words as each verdict (margin 0.5 points,
# rerun spread 0.72 points); "better_weak" is better but below the 2-point "dramatically"
CASE = {"better": (0.03, 0.02, 0.04), "better_weak": (0.012, 0.008, 0.016),
        "equivalent": (0.001, -0.003, 0.004), "worse": (-0.02, -0.03, -0.01),
        "inconclusive": (0.004, -0.004, 0.012), "noise": (0.005, 0.001, 0.009)}


def pair(a: str, b: str, case: str) -> dict:
    """A seed-level pair record (analysis.seed_level.compare's keys), verdict by the real rule."""
    d, lo, hi = CASE[case]
    v = decide(d, lo, hi, MARGIN, SPREAD)
    return {"a": a, "b": b, "n_seeds_a": 5, "n_seeds_b": 5, "n_reviews": 1000,
            "acc_a": 0.88 + d / 2, "acc_b": 0.88 - d / 2, "diff": d, "ci_low": lo, "ci_high": hi,
            "ci_level": 0.95, "se": 0.002, "p_two_sided": 0.01,
            "tost": {"p": 0.2, "p_lower": 0.01, "p_upper": 0.2, "ci_low": lo + 0.001,
                     "ci_high": hi - 0.001, "ci_level": 0.9, "equivalent": False},
            "seed_tost": None, "mde": 0.006, "mde_seeds": None, "seed_sd": 0.002,
            "verdict": v.word, "noise": v.noise, "verdict_why": v.why, "why": ["test"]}


BEATS = [("additive", "bilstm"), ("additive", "bilstm_matched"), ("mhsa", "bilstm"),
         ("mhsa", "bilstm_matched")]


def section(cases: dict | None = None, lexicon: dict | None = None, best: str = "mhsa",
            absent: tuple = ()) -> dict:
    """A seed_level section: every pair the v3 rules read, "inconclusive" unless `cases` says
    otherwise ({(a, b): case}); a (b, a) key stores the pair reversed."""
    want = [*BEATS, ("mhsa", "transformer"), (best, "baseline"), ("additive", "bilstm_mean"),
            ("embed_additive", "embed_mean")]
    cases = cases or {}
    pairs = []
    for a, b in want:
        if (b, a) in cases:  # stored the other way round, as the section may
            pairs.append(pair(b, a, cases[(b, a)]))
        elif cases.get((a, b)) != "absent":
            pairs.append(pair(a, b, cases.get((a, b), "inconclusive")))
    return {"basis": "difference of per-seed mean test accuracies; hierarchical bootstrap over "
                     "seeds, then the same test reviews (paired)",
            "margin": MARGIN, "alpha": ALPHA, "power": 0.8, "n_boot": 1000, "seed": 0,
            "rerun_spread": {"max": SPREAD, "worst": "bilstm", "results_config": None},
            "best_validation_model": best, "models": {}, "pairs": pairs, "conicity": {},
            "lexicon": {}, "lexicon_rule": lexicon,
            "absent": {"measures": list(absent), "models": []}}


def lexicon(verdict: str, lift: float = 1.3) -> dict:
    rec = {"id": "additive-faithful", "claim": "Additive attention focuses on sentiment words",
           "model": "additive", "reference": ["embed_additive"],
           "thresholds": {"lift_strong": 1.5, "lift_weak": 1.1},
           "interval": "Student-t 95% over seeds of each run's mean excess", "verdict": verdict}
    if verdict == "inconclusive":
        return {**rec, "measured": False, "why": "fewer than two seeds with a lexicon record"}
    return {**rec, "measured": True, "mean_lift": lift, "min_lift": lift - 0.1, "n_seeds": 5,
            "excess": {"mean": 0.02, "ci_low": 0.01, "ci_high": 0.03, "std": 0.01, "n": 5},
            "excess_above_0": True}


def ablations(drop: bool, changed: bool) -> dict:
    """ev.ablations for additive and mhsa, 5 seeds: a 2-point drop below 0 in every seed, no
    change in any seed, or (drop False, changed True) a change in some seeds."""
    s = ({"acc_diff": {"mean": -0.02}, "seeds_below": 5, "seeds_above": 0} if drop else
         {"acc_diff": {"mean": -0.001}, "seeds_below": 2 if changed else 0, "seeds_above": 0})
    rec = {**s, "accuracy": {"mean": 0.86}, "n_seeds": 5}
    return {m: {"uniform": dict(rec), "permuted": dict(rec)} for m in ("additive", "mhsa")}


def evidence(abl: dict | None = None) -> Evidence:
    """Evidence without runs: the v2-ruled claims are not measured, the ablations as given."""
    runs = {m: [{"seed": s, "ablations": {"uniform": {"ci_level": 0.95},
                                          "permuted": {"ci_level": 0.95}}} for s in range(5)]
            for m in (abl or {})}
    return Evidence(runs=runs, labels=np.zeros(1), ens={}, pairwise=[], probes=[], pcorrect={},
                    negation={}, length_ens=None, faith={}, baseline={}, n_boot=10, seed=0,
                    ablations=abl or {})


def ledger(sl: dict, abl: dict | None = None) -> dict[str, dict]:
    rows = worded({"ledger": ledger_mod.ledger(evidence(abl), seed_level=sl)})["ledger"]
    json.dumps(rows, allow_nan=False)
    return {r["id"]: r for r in rows}


ALL_BETTER = {p: "better" for p in BEATS}
CASES = [  # (claim id, seed_level section, ablations, verdict)
    ("attention-beats-bilstm", section(ALL_BETTER), None, "supported"),
    ("attention-beats-bilstm", section(ALL_BETTER | {BEATS[2]: "better_weak"}), None,
     "partly supported"),
    ("attention-beats-bilstm", section(ALL_BETTER | {BEATS[3]: "equivalent"}), None,
     "not supported"),
    ("attention-beats-bilstm", section({BEATS[0]: "worse"}), None, "not supported"),
    ("attention-beats-bilstm", section(ALL_BETTER | {BEATS[1]: "noise"}), None, "inconclusive"),
    ("attention-beyond-size", section({("mhsa", "bilstm_matched"): "better_weak"}), None,
     "supported"),
    ("attention-beyond-size", section({("bilstm_matched", "mhsa"): "better"}), None,
     "not supported"),  # stored reversed: mhsa - bilstm_matched is "worse"
    ("attention-beyond-size", section({("mhsa", "bilstm_matched"): "inconclusive"}), None,
     "inconclusive"),
    ("recurrence-matters", section({("mhsa", "transformer"): "better"}), None, "supported"),
    ("recurrence-matters", section({("mhsa", "transformer"): "equivalent"}), None,
     "not supported"),
    ("recurrence-matters", section({("mhsa", "transformer"): "noise"}), None, "inconclusive"),
    ("beats-tfidf", section({("additive", "baseline"): "better"}, best="additive"), None,
     "supported"),
    ("beats-tfidf", section({("baseline", "mhsa"): "better"}), None, "not supported"),
    ("beats-tfidf", section({("mhsa", "baseline"): "inconclusive"}), None, "inconclusive"),
    ("attention-weights-matter", section({("additive", "bilstm_mean"): "better",
                                          ("embed_additive", "embed_mean"): "better"}),
     ablations(True, True), "supported"),
    ("attention-weights-matter", section({("additive", "bilstm_mean"): "equivalent",
                                          ("embed_additive", "embed_mean"): "worse"}),
     ablations(False, False), "not supported"),
    ("attention-weights-matter", section({("additive", "bilstm_mean"): "better",
                                          ("embed_additive", "embed_mean"): "better"}),
     ablations(False, True), "inconclusive"),  # control says yes, ablations barely move
    ("attention-weights-matter", section({("additive", "bilstm_mean"): "equivalent",
                                          ("embed_additive", "embed_mean"): "equivalent"}),
     ablations(True, True), "inconclusive"),  # ablations say yes, control says no
    ("additive-faithful", section(lexicon=lexicon("supported", 1.7)), None, "supported"),
    ("additive-faithful", section(lexicon=lexicon("partly supported")), None,
     "partly supported"),
    ("additive-faithful", section(lexicon=lexicon("not supported", 1.0)), None,
     "not supported"),
    ("additive-faithful", section(lexicon=lexicon("inconclusive")), None, "inconclusive"),
]


@pytest.mark.parametrize("cid,sl,abl,verdict", CASES,
                         ids=[f"{c}-{v}-{i}" for i, (c, _, _, v) in enumerate(CASES)])
def test_v3_rule_reaches_verdict(cid, sl, abl, verdict):
    r = ledger(sl, abl)[cid]
    assert r["verdict"] == verdict, (r["rule"], r["result"])
    assert r["rule_set"] == "v3_rules"
    # measured, except the lexicon rule's own inconclusive (fewer than two seeds with a lift)
    assert ("not measured" in r["result"]) == (cid == "additive-faithful"
                                               and verdict == "inconclusive"), r["result"]
    assert r["rule_commit"] and r["rule_fixed"].startswith("branch science, 2026-12-03")


def test_every_v3_rule_reaches_each_of_its_outcomes():
    rules = v3.load_rules(ledger_mod.CLAIMS, {c["id"] for c in ledger_mod.load_claims()})
    reached = {(cid, v) for cid, _, _, v in CASES}
    for cid, r in rules.items():
        # "partly" exists where the rule text says so: a strong threshold, or the lexicon rule
        want = set(v3.VERDICTS) - ({"partly supported"} if "partly" not in r["rule"] else set())
        assert {v for c, v in reached if c == cid} == want, cid


def test_pair_verdicts_in_the_ledger_are_the_seed_level_records():
    """The ledger's pair words and numbers are the section's (oriented as the rule lists the
    pair), so the ledger cannot disagree with the report's seed-level table."""
    sl = section({("bilstm_matched", "mhsa"): "better", **ALL_BETTER})
    r = ledger(sl)["attention-beyond-size"]
    (p,) = r["facts"]["pairs"]
    stored = next(q for q in sl["pairs"] if {q["a"], q["b"]} == {"mhsa", "bilstm_matched"})
    assert (stored["a"], stored["verdict"]) == ("bilstm_matched", "better")
    assert (p["a"], p["b"], p["verdict"]) == ("mhsa", "bilstm_matched", "worse")
    assert (p["diff"], p["ci_low"], p["ci_high"]) == (-stored["diff"], -stored["ci_high"],
                                                       -stored["ci_low"])
    assert (p["acc_a"], p["acc_b"]) == (stored["acc_b"], stored["acc_a"])
    assert r["result"] == ("mhsa - bilstm_matched = -3.00 points between per-seed means "
                           "(86.5% vs 89.5%, 5 / 5 seeds; 95% CI -4.00 to -2.00 over seeds and "
                           "reviews; TOST p = 0.2): worse.")


def test_sentences_state_the_rule_from_the_declared_values():
    rows = ledger(section(ALL_BETTER | {BEATS[1]: "noise"}, lexicon=lexicon("supported", 1.7)),
                  ablations(True, True))
    r = rows["attention-beats-bilstm"]
    assert r["rule"].startswith("supported if every pair (additive vs bilstm, additive vs "
                                "bilstm_matched, mhsa vs bilstm, mhsa vs bilstm_matched) is "
                                "better by >= 2 points; partly supported if every pair is better;")
    assert "0.72-point rerun spread" in r["rule"] and "within ±0.5 points" in r["rule"]
    assert "TOST at alpha = 0.05" in r["rule"] and "baseline" not in r["rule"]
    assert r["test"] == section()["basis"]
    assert "additive - bilstm_matched = +0.50 points" in r["result"]
    assert ": inconclusive (within the rerun spread);" in r["result"]
    assert r["thresholds"] == {"strong": 0.02} and r["kind"] == "seed_difference"
    t = rows["beats-tfidf"]
    assert "the model with the best mean validation accuracy (mhsa) vs the TF-IDF baseline" in (
        t["rule"]) and "enters the bootstrap as a model with one seed" in t["rule"]
    w = rows["attention-weights-matter"]
    assert ">= 0.5 points (mean over seeds)" in w["rule"]  # the v2 ablation threshold
    assert "additive uniform -2.00 points (CI below 0 in 5/5 seeds)" in w["result"]
    x = rows["additive-faithful"]
    assert "mean lift over seeds is >= 1.5" in x["rule"] and ">= 1.1" in x["rule"]
    assert x["result"].startswith("additive: mean lift 1.70 over 5 seeds (lowest seed 1.60)")
    assert x["kind"] == "lexicon_share"
    # the claims without a v3 rule keep their v2 rule, and say so
    for cid in ("bilstm-misses-cues", "bilstm-length", "mhsa-structure"):
        assert rows[cid]["rule_set"] == "claims" and rows[cid]["rule_commit"] is None
        assert rows[cid]["rule_fixed"] == "bb09288 (2026-11-28)"
        assert rows[cid]["result"].startswith("not measured")  # no runs in this evidence


def test_a_missing_pair_is_not_measured():
    rows = ledger(section({("mhsa", "transformer"): "absent", ("mhsa", "baseline"): "absent"}))
    r = rows["recurrence-matters"]
    assert r["verdict"] == "inconclusive"
    assert r["result"].startswith("not measured: needs the seed-level comparison mhsa - "
                                  "transformer")
    assert rows["beats-tfidf"]["facts"]["missing"] == [
        "the seed-level comparison mhsa - baseline"]
    r = rows["attention-weights-matter"]  # no ablation records either: both said
    assert r["facts"]["missing"][0].startswith("uniform/permuted ablations of additive, mhsa")


def test_v2_results_keep_the_v2_ledger():
    """A seed_level section whose runs lack the v3 measures (v2's, re-derived) or no section
    at all: the ledger is the v2 ledger, row for row, with no v3 keys."""
    ev = evidence(ablations(True, True))
    v2 = ledger_mod.ledger(ev)
    assert ledger_mod.ledger(ev, seed_level=section(ALL_BETTER, absent=("conicity", "lexicon"))
                             ) == v2
    assert ledger_mod.ledger(ev, seed_level=section(ALL_BETTER, absent=("lexicon",))) == v2
    assert not any("rule_set" in r for r in v2)
    assert not v3.applies(None) and v3.applies(section())
    # a measure added after the rules (the most-attended words) does not decide which rules
    assert v3.applies(section(absent=("top_words",)))
    assert not v3.applies({"absent": {}})  # a section that does not say what it lacks


def test_v3_commit_is_the_one_that_fixed_the_rules():
    """Each [[v3_rules]] `commit` added the [[v3_rules]] table, and the rules (pairs, rule
    text, thresholds) at that commit are today's: nothing moved after it."""
    now = tomllib.loads(ledger_mod.CLAIMS.read_text(encoding="utf-8"))["v3_rules"]
    commits = {r.get("commit") for r in now}
    assert len(commits) == 1 and None not in commits
    (commit,) = commits
    try:
        old = subprocess.run(["git", "show", f"{commit}:paper/claims.toml"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        first = subprocess.run(["git", "log", "--format=%h", "--reverse", "-S", "[[v3_rules]]",
                                "--", "paper/claims.toml"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("no git history here (a source archive)")
    assert first and commit.startswith(first[0][:7])
    then = tomllib.loads(old)["v3_rules"]
    assert [{k: v for k, v in r.items() if k != "commit"} for r in now] == then


def test_a_v3_threshold_is_declared_once(tmp_path):
    """claims.toml's strong threshold decides and words the rule: at 4 points the same
    3-point pairs are only partly supported, and the sentence says 4 (a copy of the file)."""
    text = ledger_mod.CLAIMS.read_text(encoding="utf-8")
    old = 'otherwise"""\nthresholds = { strong = 0.02 }'
    assert text.count(old) == 1
    path = tmp_path / "claims.toml"
    path.write_text(text.replace(old, old.replace("0.02", "0.04")), encoding="utf-8")
    sl = section(ALL_BETTER)
    rows = worded({"ledger": ledger_mod.ledger(evidence(), path, seed_level=sl)},
                  claims=path)["ledger"]
    r = next(r for r in rows if r["id"] == "attention-beats-bilstm")
    assert r["verdict"] == "partly supported" and "better by >= 4 points" in r["rule"]
    assert ledger(sl)["attention-beats-bilstm"]["verdict"] == "supported"  # at 2 points
