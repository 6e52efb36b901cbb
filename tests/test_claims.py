"""The claims ledger (paper/claims.toml + analysis.claims): every claim reaches each of its
verdicts on synthetic results run through the real `analyse`; thresholds are declared once."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from attnstudy.analysis import claims as ledger_mod
from attnstudy.analysis.claim_rules import KINDS
from attnstudy.errors import UserError
from attnstudy.report import ledger_text
from attnstudy.report.ledger_text import worded
from tests.test_analysis import PROBES, SEEDS, N, faith_run, run, synthetic

MODELS = ("bilstm", "additive", "mhsa", "bilstm_matched", "transformer")
ORDER = np.random.default_rng(1).permutation(N) / N  # u < acc: right on exactly acc * N reviews
P_LABELS = np.array([p.label for p in PROBES])
STRUCTURE = {"negation", "double_negation", "contrast"}


def right(acc) -> np.ndarray:
    """<bool>[N]: nested correctness, so a more accurate model is right wherever a less one is."""
    return ORDER < acc


def study(acc=None, probes=None, faith=None, base=None, claims=ledger_mod.CLAIMS,
          ablated=None, models=MODELS) -> dict:
    """analysis.json of results where model m is right exactly where acc[m] says.

    acc: model -> float (nested correctness, default 0.85) or <bool>[N]; probes: model ->
    <bool>[n_probes] correctness on the probes (all seeds); base: baseline accuracy (float: its
    per-review P(positive) is given, so claim 8 is paired) or None (unpaired, accuracy 0.85);
    ablated: model -> ablation -> (accuracy change, CI low, CI high) recorded for every seed.
    """
    acc = {m: 0.85 for m in models} | (acc or {})
    ok = {m: a if isinstance(a, np.ndarray) else right(a) for m, a in acc.items()}
    res, pred, b, cfg = synthetic({m: float(c.mean()) for m, c in ok.items()}, models=models,
                                  faith=faith)
    labels = pred["label"].to_numpy() == 1
    for m in models:
        for s in SEEDS:
            conf = (pred[f"{m}/seed{s}"] - 0.5).abs()
            pred[f"{m}/seed{s}"] = np.where(ok[m] == labels, 0.5 + conf, 0.5 - conf)
    for r in res["runs"]:
        r["test"]["accuracy"] = float(ok[r["model"]].mean()) + 0.001 * r["seed"]
        if probes and r["model"] in probes:
            r["probes"] = np.where(probes[r["model"]] == (P_LABELS == 1), 0.8, 0.2).tolist()
        if ablated and r["model"] in ablated:
            r["ablations"] = {a: {"accuracy": r["test"]["accuracy"] + d, "acc_diff": d,
                                  "ci_low": lo, "ci_high": hi, "p": 0.01, "ci_level": 0.95,
                                  "mean_abs_prob_change": abs(d), "flipped": abs(d)}
                              for a, (d, lo, hi) in ablated[r["model"]].items()}
    if base is not None:
        b["probs"] = np.where(right(base) == labels, 0.9, 0.1)
    return run(res, pred, PROBES, b, cfg, claims=claims)


def probe_right(acc: float) -> np.ndarray:
    """<bool>[n_probes]: nested correctness on the first acc share of a fixed probe order."""
    return np.random.default_rng(2).permutation(len(PROBES)) / len(PROBES) < acc


def structure_right(share: float) -> np.ndarray:
    """<bool>[n_probes]: every probe right except the first member of the structure pairs
    after the first `share` of them, so pair consistency on structure probes ~= share."""
    ok = np.ones(len(PROBES), bool)
    pairs = list(dict.fromkeys(p.pair_id for p in PROBES if p.category in STRUCTURE))
    wrong = set(pairs[round(share * len(pairs)):])
    for i, p in enumerate(PROBES):
        if p.pair_id in wrong and i == min(j for j, q in enumerate(PROBES)
                                            if q.pair_id == p.pair_id):
            ok[i] = False
    return ok


def by_length(short: float, long: float) -> np.ndarray:
    """<bool>[N]: accuracy falling linearly from `short` to `long` with the review's length."""
    length = synthetic({m: 0.85 for m in MODELS}, models=MODELS)[1]["length"].to_numpy()
    return ORDER < short + (long - short) * (length - 10) / 390


WITH_MEAN = (*MODELS, "bilstm_mean")


def ablated(uniform, permuted) -> dict:
    """Both attention models with the same (change, CI low, CI high) per ablation."""
    return {m: {"uniform": uniform, "permuted": permuted} for m in ("additive", "mhsa")}


@functools.cache
def scenario(name: str) -> dict:
    """Synthetic studies named by what they set up (cached: several claims read each)."""
    return {
        "equal": lambda: study(),
        "attention_far_ahead": lambda: study({"bilstm": 0.80, "bilstm_matched": 0.80,
                                              "transformer": 0.80, "additive": 0.88,
                                              "mhsa": 0.89}),
        "attention_slightly_ahead": lambda: study({"additive": 0.865, "mhsa": 0.8575}),
        "probes_both_ahead": lambda: study(probes={"bilstm": probe_right(0.6),
                                                   "additive": probe_right(0.8),
                                                   "mhsa": probe_right(0.8)}),
        "probes_equal": lambda: study(probes={m: probe_right(0.6) for m in MODELS}),
        "probes_one_ahead": lambda: study(probes={"bilstm": probe_right(0.6),
                                                  "additive": probe_right(0.8),
                                                  "mhsa": probe_right(0.6)}),
        "bilstm_drops_with_length": lambda: study({"bilstm": by_length(0.95, 0.75)}),
        "bilstm_and_mhsa_drop": lambda: study({"bilstm": by_length(0.95, 0.75),
                                               "mhsa": by_length(0.95, 0.75)}),
        "mhsa_consistent": lambda: study(probes={m: structure_right(1.0 if m == "mhsa" else 0.0)
                                                 for m in MODELS}),
        "mhsa_consistent_worse_on_real": lambda: study(
            {"mhsa": 0.80}, probes={m: structure_right(1.0 if m == "mhsa" else 0.0)
                                    for m in MODELS}),
        "mhsa_fairly_consistent": lambda: study(
            probes={m: structure_right(0.7 if m == "mhsa" else 0.0) for m in MODELS}),
        "faithful": lambda: study(faith={"additive": faith_run(0.10, 0.02, 0.5, 0.03)}),
        "erasure_no_better": lambda: study(faith={"additive": faith_run(0.02, 0.03, 0.5, -0.02)}),
        "spearman_middling": lambda: study(faith={"additive": faith_run(0.10, 0.02, 0.2, 0.03)}),
        "paired_baseline_behind": lambda: study({m: 0.95 for m in MODELS}, base=0.85),
        "paired_baseline_ahead": lambda: study({m: 0.84 for m in MODELS}, base=0.85),
        "seeds_above_baseline": lambda: study({m: 0.89 for m in MODELS}),
        "seeds_below_baseline": lambda: study({m: 0.84 for m in MODELS}),
        "weights_matter": lambda: study(
            {"additive": 0.88, "bilstm_mean": 0.85}, models=WITH_MEAN,
            ablated=ablated((-0.02, -0.03, -0.01), (-0.04, -0.05, -0.03))),
        "ablations_do_nothing": lambda: study(
            models=WITH_MEAN, ablated=ablated((0.001, -0.004, 0.006), (-0.002, -0.007, 0.003))),
        "ablations_matter_control_equal": lambda: study(
            models=WITH_MEAN, ablated=ablated((-0.02, -0.03, -0.01), (-0.04, -0.05, -0.03))),
        "permuting_is_harmless": lambda: study(
            {"additive": 0.88, "bilstm_mean": 0.85}, models=WITH_MEAN,
            ablated=ablated((-0.02, -0.03, -0.01), (-0.001, -0.006, 0.004))),
    }[name]()


CASES = [  # (claim id, scenario, verdict)
    ("attention-beats-bilstm", "attention_far_ahead", "supported"),
    ("attention-beats-bilstm", "equal", "not supported"),
    ("attention-beats-bilstm", "attention_slightly_ahead", "inconclusive"),  # +1.5 points
    ("bilstm-misses-cues", "probes_both_ahead", "supported"),
    ("bilstm-misses-cues", "probes_equal", "not supported"),
    ("bilstm-misses-cues", "probes_one_ahead", "inconclusive"),
    ("bilstm-length", "bilstm_drops_with_length", "supported"),
    ("bilstm-length", "equal", "not supported"),
    ("bilstm-length", "bilstm_and_mhsa_drop", "inconclusive"),  # strong vs additive, none vs mhsa
    ("additive-faithful", "faithful", "supported"),
    ("additive-faithful", "erasure_no_better", "not supported"),
    ("additive-faithful", "spearman_middling", "inconclusive"),
    ("mhsa-structure", "mhsa_consistent", "supported"),
    ("mhsa-structure", "probes_equal", "not supported"),
    ("mhsa-structure", "mhsa_fairly_consistent", "inconclusive"),  # 70%: between the cuts
    ("mhsa-structure", "mhsa_consistent_worse_on_real", "inconclusive"),
    ("attention-beyond-size", "attention_far_ahead", "supported"),
    ("attention-beyond-size", "equal", "not supported"),
    ("attention-beyond-size", "attention_slightly_ahead", "inconclusive"),  # +0.77 points
    ("recurrence-matters", "attention_far_ahead", "supported"),
    ("recurrence-matters", "equal", "not supported"),
    ("recurrence-matters", "attention_slightly_ahead", "inconclusive"),
    ("beats-tfidf", "paired_baseline_behind", "supported"),
    ("beats-tfidf", "paired_baseline_ahead", "not supported"),
    ("beats-tfidf", "seeds_above_baseline", "supported"),
    ("beats-tfidf", "seeds_below_baseline", "not supported"),
    ("attention-weights-matter", "weights_matter", "supported"),
    ("attention-weights-matter", "ablations_do_nothing", "not supported"),
    ("attention-weights-matter", "ablations_matter_control_equal", "inconclusive"),
    ("attention-weights-matter", "permuting_is_harmless", "inconclusive"),
]


def row(out: dict, cid: str) -> dict:
    return next(r for r in out["ledger"] if r["id"] == cid)


@pytest.mark.parametrize("cid,name,verdict", CASES)
def test_claim_reaches_verdict(cid, name, verdict):
    r = row(scenario(name), cid)
    assert r["verdict"] == verdict, (r["rule"], r["result"], r["facts"])
    assert "not measured" not in r["result"]


def test_every_claim_reaches_every_verdict_of_its_kind():
    declared = {(c["id"], v) for c in ledger_mod.load_claims()
                for v in KINDS[c["kind"]].verdicts}
    assert {(cid, v) for cid, _, v in CASES} == declared


def test_rows_carry_what_the_report_reads():
    out = scenario("attention_far_ahead")
    json.dumps(out["ledger"], allow_nan=False)
    declared = ledger_mod.load_claims()
    assert [r["id"] for r in out["ledger"]] == [c["id"] for c in declared] and len(declared) == 9
    for r, c in zip(out["ledger"], declared, strict=True):
        assert {"id", "claim", "source", "test", "rule", "result", "verdict", "facts"} <= set(r)
        assert (r["claim"], r["source"], r["test"], r["thresholds"]) == (
            c["claim"], c["source"], c["test"], c["thresholds"])
        assert r["result"].endswith(".") and "  " not in r["result"] + r["rule"]
    # the result sentence is the facts, worded
    pair = row(out, "attention-beyond-size")["facts"]["pairs"][0]
    assert (pair["a"], pair["b"]) == ("mhsa", "bilstm_matched")
    assert pair["diff"] == pytest.approx(0.09) and pair["significant"]
    assert f"mhsa - bilstm_matched = {100 * pair['diff']:+.2f} points" in row(
        out, "attention-beyond-size")["result"]


def test_ablation_claim_words_its_thresholds_and_facts(tmp_path):
    r = row(scenario("weights_matter"), "attention-weights-matter")
    assert ">= 0.5 points (mean over seeds)" in r["rule"] and "95% CI over reviews" in r["rule"]
    assert "McNemar p < 0.05" in r["rule"] and "additive beats bilstm_mean" in r["rule"]
    assert "additive uniform -2.00 points (CI below 0 in 3/3 seeds)" in r["result"]
    assert "mhsa permuted -4.00 points" in r["result"]
    assert "additive - bilstm_mean = +3.00 points on the seed ensemble" in r["result"]
    control = r["facts"]["control"]
    assert control["significant"] and control["acc_a"] == pytest.approx(0.881)  # per-seed mean
    # the drop threshold is read from claims.toml: at 3 points, a 2-point drop is not enough
    path = _edited(tmp_path, "thresholds = { drop = 0.005", "thresholds = { drop = 0.03")
    r = row(study({"additive": 0.88, "bilstm_mean": 0.85}, models=WITH_MEAN, claims=path,
                  ablated=ablated((-0.02, -0.03, -0.01), (-0.04, -0.05, -0.03))),
            "attention-weights-matter")
    assert r["verdict"] == "inconclusive" and ">= 3 points (mean over seeds)" in r["rule"]
    # without bilstm_mean or ablation records (the published full results): not measured
    r = row(scenario("equal"), "attention-weights-matter")
    assert r["verdict"] == "inconclusive" and r["result"].startswith(
        "not measured: needs uniform/permuted ablations of additive, mhsa and runs of bilstm_mean")


def test_pairwise_claims_state_both_bases():
    r = row(scenario("attention_far_ahead"), "attention-beyond-size")
    assert r["basis"] == {"accuracy": "per-seed mean", "test": "seed-averaged predictor"}
    assert "on the seed ensemble" in r["rule"] and "on the seed ensemble" in r["result"]
    assert "per-seed mean accuracy 89.1% vs 80.1%" in r["result"]


def test_numbers_show_the_side_of_the_cut():
    d = ledger_text.decisive
    assert d(0.0099, (0, 0.01), 100, 2, sign=True) == "+0.99"
    assert d(0.009999, (0, 0.01), 100, 2, sign=True) == "+0.9999"  # never "+1.00" below 1 point
    assert d(-0.00001, (0,), 100, 2, sign=True) == "-0.001"
    assert d(0.7999, (0.8,), 100, 1) == "79.99"
    assert d(0.8, (0.8,), 100, 1) == "80.0"
    assert ledger_text.pval_text(0.0499, 0.05) == "p = 0.0499"  # not "0.05"
    assert ledger_text.pval_text(0.2, 0.05) == "p = 0.2"
    assert ledger_text.pval_text(1.0, 0.05) == "p = 1.0"  # a number, as the tables print 1.000
    # +0.77 points (23 reviews of 3000) against 1-point and 0.5-point cuts, in the sentence
    r = row(scenario("attention_slightly_ahead"), "attention-beyond-size")
    assert r["facts"]["pairs"][0]["diff"] == pytest.approx(23 / N)
    assert "mhsa - bilstm_matched = +0.77 points" in r["result"]


def _edited(tmp_path, old: str, new: str):
    text = ledger_mod.CLAIMS.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path = tmp_path / "claims.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_a_threshold_is_declared_once(tmp_path):
    before = row(scenario("attention_far_ahead"), "attention-beyond-size")
    assert before["verdict"] == "supported" and ">= 1 point;" in before["rule"]
    path = _edited(tmp_path, 'pairs = [["mhsa", "bilstm_matched"]]\nrequires = ["mhsa", '
                   '"bilstm_matched"]\nthresholds = { strong = 0.01',
                   'pairs = [["mhsa", "bilstm_matched"]]\nrequires = ["mhsa", '
                   '"bilstm_matched"]\nthresholds = { strong = 0.10')
    after = row(study({"bilstm": 0.80, "bilstm_matched": 0.80, "transformer": 0.80,
                       "additive": 0.88, "mhsa": 0.89}, claims=path), "attention-beyond-size")
    assert after["verdict"] == "inconclusive"  # +9 points: significant, short of 10
    assert ">= 10 points;" in after["rule"] and ">= 1 point" not in after["rule"]
    assert after["thresholds"]["strong"] == 0.10


@pytest.mark.parametrize("old,new,needle", [
    ('metric = "probe accuracy"\n', "", "claim 'bilstm-misses-cues': missing key 'metric'"),
    ('kind = "length_drop"', 'kind = "lenght_drop"',
     "claim 'bilstm-length': unknown kind 'lenght_drop'"),
    ("spearman_strong = 0.3, ", "",
     "claim 'additive-faithful': missing key 'thresholds.spearman_strong'"),
    ('model = "mhsa"\n', 'model = "mhsa"\nmodle = "x"\n', "claim 'mhsa-structure': unknown key"),
    ('control = ["additive", "bilstm_mean"]', 'control = ["additive"]',
     "claim 'attention-weights-matter': 'control' must be one [a, b] model pair"),
    ('ablations = ["uniform", "permuted"]\n', '',
     "claim 'attention-weights-matter': missing key 'ablations'"),
    ('basis = "per-seed mean"\n', 'basis = "seed-averaged predictor"\n',
     "claim 'additive-faithful': basis"),
    ('source = "ours"\ntest = """test accuracy, mhsa vs', 'source = "us"\ntest = """test '
     'accuracy, mhsa vs', "claim 'attention-beyond-size': source must be"),
])
def test_malformed_claims_are_a_one_line_user_error(tmp_path, old, new, needle):
    path = _edited(tmp_path, old, new)
    with pytest.raises(UserError) as e:
        ledger_mod.load_claims(path)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_missing_models_are_not_measured():
    res, pred, base, cfg = synthetic({"bilstm": 0.8, "additive": 0.9},
                                     models=("bilstm", "additive"))
    out = run(res, pred, PROBES, base, cfg)
    r = row(out, "attention-beyond-size")
    assert r["verdict"] == "inconclusive" and r["facts"] == {"missing": ["runs of mhsa",
                                                                         "runs of bilstm_matched"]}
    assert r["result"].startswith("not measured: needs runs of mhsa and runs of bilstm_matched")


def test_report_fixture_ledger_is_the_packages(tmp_path):
    """tests/fixtures/make_results.py writes analysis.json with the package's own analysis, and
    its ledger shows every verdict (the report test renders each badge)."""
    import pandas as pd

    from attnstudy.analysis.analyse import analyse
    from attnstudy.files import read_json
    from tests import synthetic
    from tests.synthetic import make_results as fixture

    out = synthetic.results(tmp_path / "results")
    again = worded(analyse(read_json(out / "results.json"),
                           pd.read_parquet(out / "test_predictions.parquet"), PROBES,
                           fixture.config()))
    assert read_json(out / "analysis.json")["ledger"] == json.loads(json.dumps(again["ledger"]))
    assert set(fixture.verdicts(out)) == set(fixture.VERDICTS)


# ----------------------------------------------------------------------------- accuracy basis

def test_accuracies_are_per_seed_means_and_ensemble_numbers_say_so():
    """Issue #16: the ledger's accuracies are the tables' per-seed means; a number from the
    seed-averaged predictors is marked "on the seed ensemble"; arrows are one character."""
    out = scenario("paired_baseline_behind")  # per-seed accuracies are 0.1 points above
    r = row(out, "beats-tfidf")
    seed, ens = r["facts"]["seed_accuracy"], r["facts"]["accuracy"]
    assert seed == pytest.approx(ens + 0.001)
    assert r["result"].startswith(f"{r['facts']['best']} per-seed mean accuracy {100 * seed:.1f}%")
    assert f"{100 * ens:.1f}%" not in r["result"]
    assert "on the seed ensemble" in r["result"]
    r = row(out, "bilstm-length")
    first, last = out["length"]["buckets"][0], out["length"]["buckets"][-1]
    for m, a in r["facts"]["seed_accuracy"].items():  # the length figure's numbers
        assert (a["short"], a["long"]) == pytest.approx((first["accuracy"][m],
                                                         last["accuracy"][m]))
        assert f"{m} {100 * a['short']:.1f}% → " in r["result"]
    assert r["result"].startswith("per-seed mean accuracy") and "->" not in r["result"]
    r = row(scenario("probes_one_ahead"), "bilstm-misses-cues")
    assert r["result"].startswith("per-seed mean accuracy on the")
    assert "on the seed ensemble additive - bilstm =" in r["result"]


def test_each_result_states_the_verdict_on_the_other_basis():
    out = scenario("attention_far_ahead")
    for r in out["ledger"]:
        o = r["facts"].get("other_basis")
        # no other basis: faithfulness is per-seed only, the unpaired baseline test too
        if (r["kind"] == "faithfulness" or "missing" in r["facts"]
                or (r["kind"] == "baseline" and not r["facts"]["paired"])):
            assert o is None
            continue
        assert o["verdict"] in ("supported", "not supported", "inconclusive"), r["id"]
        assert r["result"].endswith(f"Same verdict {o['basis']}." if o["verdict"] == r["verdict"]
                                    else f"it would read {o['verdict']}."), r["result"]


def test_other_basis_verdict_is_computed_not_typed():
    """A pair whose seed ensembles differ by 0.25 points but whose per-seed means differ by 5:
    not supported as decided, supported on per-seed means, and the sentence says so."""
    from attnstudy.analysis import claim_rules as cr

    ev = cr.Evidence(runs={"a": [{"test": {"accuracy": 0.90}}],
                           "b": [{"test": {"accuracy": 0.85}}]},
                     labels=None, ens={}, pairwise=[{"a": "a", "b": "b", "acc_diff": 0.0025,
                                                     "ci_low": 0.001, "ci_high": 0.004,
                                                     "mcnemar_p_holm": 0.001}],
                     probes=[], pcorrect={}, negation={}, length_ens=None, faith={},
                     baseline={}, n_boot=10, seed=0, ablations={})
    t = {"strong": 0.01, "weak": 0.005, "alpha": 0.05}
    verdict, facts = cr.pairwise({"requires": [], "pairs": [["a", "b"]]}, t, ev)
    assert verdict == "not supported"
    assert facts["other_basis"] == {"basis": "on per-seed means", "verdict": "supported"}
    words = ledger_text._words(ledger_text.TEMPLATE)
    said = ledger_text._say(words.other_basis, facts["other_basis"], verdict, where="test")
    assert said == "On per-seed means it would read supported."
    ev.runs["a"][0]["test"]["accuracy"] = 0.8525  # the same difference on both bases
    assert cr.pairwise({"requires": [], "pairs": [["a", "b"]]}, t, ev)[1]["other_basis"][
        "verdict"] == "not supported"
