"""analysis.analyse on synthetic results: structure, JSON safety, verdicts that follow the data."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from attnstudy.analysis import analyse as analysis
from attnstudy.analysis import sections
from attnstudy.config import load_config
from attnstudy.data.probes import load_probes
from attnstudy.data.text import has_negation, tokenize
from attnstudy.report.ledger_text import worded

N = 3000
SEEDS = (0, 1, 2)
PROBES = load_probes()
MODEL_NAMES = load_config("full").train.models  # the paper's models


def synthetic(acc: dict[str, float], probe_acc: dict[str, float] | None = None,
              faith: dict | None = None, models=None, base_probs: bool = False,
              correlated: bool = False):
    """results, predictions, baseline, cfg where model m is right on a fraction acc[m] of reviews.

    Each model's correctness is drawn once (shared by its seeds, so the seed-averaged predictor
    has the same accuracy); seeds only jitter the confidence. `correlated` gives every model the
    same errors (nested: a model with higher accuracy is right wherever a lower one is). The
    models are those `acc` names, in the paper's order, unless `models` says otherwise.
    """
    if models is None:
        models = [m for m in MODEL_NAMES if m in acc] + [m for m in acc if m not in MODEL_NAMES]
    rng = np.random.default_rng(0)
    cfg = load_config("smoke")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, models=tuple(models),
                                                             seeds=SEEDS))
    labels = rng.integers(0, 2, N)
    length = rng.integers(10, 400, N)
    pred = pd.DataFrame({"id": [f"r{i}" for i in range(N)], "label": labels, "length": length,
                         "negation": rng.random(N) < 0.7})
    u = rng.random(N)
    runs = []
    for m in models:
        right = (u if correlated else rng.random(N)) < acc[m]
        pa = (probe_acc or {}).get(m, 0.75)
        probe_right = rng.random(len(PROBES)) < pa
        plabels = np.array([p.label for p in PROBES])
        for s in SEEDS:
            conf = 0.2 + 0.25 * rng.random(N)
            p = np.where(right == (labels == 1), 0.5 + conf, 0.5 - conf)
            pred[f"{m}/seed{s}"] = p
            pp = np.where(probe_right == (plabels == 1), 0.8, 0.2)
            runs.append({"model": m, "seed": s, "test": {
                "accuracy": float(right.mean() + 0.001 * s), "f1": 0.8, "precision": 0.8,
                "recall": 0.8, "roc_auc": 0.9, "log_loss": 0.4},
                "best_step": 10, "curve": [{"step": 10, "val_accuracy": float(acc[m])}],
                "train_seconds": 1.0, "tokens_per_second": 100.0,
                "probes": pp.tolist(), "faithfulness": (faith or {}).get(m)})
    results = {"runs": runs, "config": cfg.to_dict(), "config_hash": cfg.section_hash()}
    labels_b = labels if base_probs else None
    base = {"name": "tfidf_logreg", "test": {"accuracy": 0.85, "f1": 0.85, "precision": 0.85,
                                             "recall": 0.85, "roc_auc": 0.9, "log_loss": 0.4}}
    if labels_b is not None:
        bright = rng.random(N) < 0.85
        base["probs"] = np.where(bright == (labels == 1), 0.9, 0.1)
        base["test"]["accuracy"] = float(bright.mean())
    return results, pred, base, cfg


def run(res, pred, probes, base, cfg, **kw) -> dict:
    """analysis.analyse with the baseline where the runner puts it (results.json + a column)."""
    pred = pred.copy()
    if "probs" in base:
        pred["baseline"] = base["probs"]
    res = {**res, "baseline": {k: v for k, v in base.items() if k != "probs"}}
    return worded(analysis.analyse(res, pred, probes, cfg, **kw), **kw)  # as the pipeline


def verdicts(out) -> dict[str, str]:
    return {r["claim"]: r["verdict"] for r in out["ledger"]}


def claim(out, start: str) -> dict:
    return next(r for r in out["ledger"] if r["claim"].startswith(start))


def faith_run(top: float, rand: float, rho: float, ci_low: float) -> dict:
    ks = [1, 3]
    return {"k": ks, "top_drop": [top] * 2, "random_drop": [rand] * 2, "top_flip": [0.1] * 2,
            "random_flip": [0.05] * 2, "drop_diff_ci_low": [ci_low] * 2,
            "drop_diff_ci_high": [ci_low + 0.02] * 2, "grad_spearman": rho, "n_reviews": 40}


def test_attention_clearly_better_is_supported():
    acc = {"bilstm": 0.80, "additive": 0.88, "mhsa": 0.89, "bilstm_matched": 0.80,
           "transformer": 0.80, "bilstm_mean": 0.80}
    res, pred, base, cfg = synthetic(acc, probe_acc={"bilstm": 0.5, "additive": 0.9, "mhsa": 0.9})
    out = run(res, pred, PROBES, base, cfg)
    json.dumps(out, allow_nan=False)  # valid JSON
    assert set(out) == {"summary", "pairwise", "baseline", "length", "negation", "faithfulness",
                        "attention", "seed_level", "ledger"}
    assert len(out["pairwise"]) == len(acc) * (len(acc) - 1) // 2
    v = verdicts(out)
    assert claim(out, "Attention models are dramatically")["verdict"] == "supported"
    assert claim(out, "The no-attention model misses")["verdict"] == "supported"
    assert claim(out, "Attention helps beyond")["verdict"] == "supported"
    assert claim(out, "Recurrence matters")["verdict"] == "supported"
    assert claim(out, "Small neural models")["verdict"] == "supported"  # 0.89 vs 0.85 over 3 seeds
    assert len(v) == 9 and set(v.values()) <= {"supported", "not supported", "inconclusive"}
    for row in out["ledger"]:
        assert row["source"] in ("seed", "ours") and row["rule"] and row["result"]
    p = next(p for p in out["pairwise"] if {p["a"], p["b"]} == {"bilstm", "mhsa"})
    assert p["significant"]
    assert abs(abs(p["acc_diff"]) - 0.09) < 0.03


def test_equal_models_are_not_supported():
    acc = dict.fromkeys(MODEL_NAMES, 0.85)
    res, pred, base, cfg = synthetic(acc, correlated=True)
    out = run(res, pred, PROBES, base, cfg)
    assert claim(out, "Attention models are dramatically")["verdict"] == "not supported"
    assert claim(out, "The no-attention model misses")["verdict"] == "not supported"
    assert claim(out, "The no-attention model is sensitive")["verdict"] == "not supported"
    assert claim(out, "Attention helps beyond")["verdict"] == "not supported"
    assert claim(out, "Recurrence matters")["verdict"] == "not supported"
    assert not any(p["significant"] for p in out["pairwise"])
    assert all(p["acc_diff"] == 0 for p in out["pairwise"])
    # identical models: equal accuracy in every length bucket
    for b in out["length"]["buckets"]:
        assert len(set(b["accuracy"].values())) == 1


def test_small_significant_gain_is_inconclusive_for_dramatic_claim():
    acc = {"bilstm": 0.85, "additive": 0.865, "mhsa": 0.865, "bilstm_matched": 0.85,
           "transformer": 0.85, "bilstm_mean": 0.85}
    res, pred, base, cfg = synthetic(acc, correlated=True)  # nested errors: McNemar is decisive
    out = run(res, pred, PROBES, base, cfg)
    row = claim(out, "Attention models are dramatically")
    assert row["verdict"] == "inconclusive", row
    p = next(p for p in out["pairwise"] if {p["a"], p["b"]} == {"bilstm", "additive"})
    diff = p["acc_diff"] if p["a"] == "additive" else -p["acc_diff"]
    assert 0.01 <= diff < 0.02 and p["significant"]
    assert f"additive - bilstm = {100 * diff:+.2f} points" in row["result"]


def test_missing_models_give_inconclusive_with_reason():
    acc = {"bilstm": 0.8, "additive": 0.9}
    res, pred, base, cfg = synthetic(acc, models=("bilstm", "additive"))
    out = run(res, pred, PROBES, base, cfg)
    for start in ("Attention helps beyond", "Recurrence matters", "Multi-head attention",
                  "Additive attention focuses"):
        row = claim(out, start)
        assert row["verdict"] == "inconclusive" and "not measured" in row["result"]
    assert claim(out, "Attention models are dramatically")["verdict"] == "supported"
    assert len(out["pairwise"]) == 1


def test_baseline_paired_when_probs_given():
    acc = dict.fromkeys(MODEL_NAMES, 0.84)
    res, pred, base, cfg = synthetic(acc, base_probs=True)
    out = run(res, pred, PROBES, base, cfg)
    row = claim(out, "Small neural models")
    assert row["verdict"] == "not supported" and "McNemar" in row["result"]
    assert "probs" not in out["baseline"]
    res, pred, base, cfg = synthetic(dict.fromkeys(MODEL_NAMES, 0.95), base_probs=True)
    out = run(res, pred, PROBES, base, cfg)
    assert claim(out, "Small neural models")["verdict"] == "supported"


@pytest.mark.parametrize("top,rand,rho,ci_low,expected", [
    (0.10, 0.02, 0.5, 0.03, "supported"),
    (0.02, 0.03, 0.5, -0.02, "not supported"),
    (0.10, 0.02, 0.05, 0.03, "not supported"),
    (0.10, 0.02, 0.2, 0.03, "inconclusive"),
])
def test_faithfulness_claim_follows_numbers(top, rand, rho, ci_low, expected):
    acc = dict.fromkeys(MODEL_NAMES, 0.85)
    f = faith_run(top, rand, rho, ci_low)
    res, pred, base, cfg = synthetic(acc, faith={"additive": f, "mhsa": f})
    out = run(res, pred, PROBES, base, cfg)
    assert claim(out, "Additive attention focuses")["verdict"] == expected
    agg = out["faithfulness"]["additive"]
    assert agg["k"] == [1, 3] and agg["top_drop"] == pytest.approx([top, top])
    assert agg["grad_spearman"] == pytest.approx(rho)
    assert "bilstm" not in out["faithfulness"]


def test_sections_have_documented_shapes():
    acc = {"bilstm": 0.80, "additive": 0.88, "mhsa": 0.89, "bilstm_matched": 0.8,
           "transformer": 0.8, "bilstm_mean": 0.8}
    res, pred, base, cfg = synthetic(acc)
    out = run(res, pred, PROBES, base, cfg)
    s = out["summary"]["mhsa"]["accuracy"]
    assert s["n"] == 3 and s["ci_low"] <= s["mean"] <= s["ci_high"]
    length = out["length"]
    assert len(length["buckets"]) == cfg.analysis.length_buckets
    assert sum(b["n"] for b in length["buckets"]) == N
    assert length["edges"][0] == pred["length"].min()
    lo_hi = [(b["lo"], b["hi"]) for b in length["buckets"]]
    assert all(a[1] == b[0] for a, b in zip(lo_hi, lo_hi[1:], strict=False))
    last = length["buckets"][-1]
    assert last["truncated_share"] == pytest.approx(
        (pred["length"][pred["length"] >= last["lo"]] > cfg.data.max_len).mean())
    real = out["negation"]["real"]["bilstm"]
    assert real["n_with"] + real["n_without"] == N
    probes = out["negation"]["probes"]["mhsa"]
    assert set(probes["by_category"]) == {"negation", "contrast", "intensifier", "double_negation"}
    assert all(c["n_pairs"] >= 25 for c in probes["by_category"].values())
    assert 0 <= probes["pair_consistency"] <= probes["accuracy"] <= 1


def test_probe_count_mismatch_is_a_user_error():
    from attnstudy.errors import UserError

    acc = dict.fromkeys(MODEL_NAMES, 0.85)
    res, pred, base, cfg = synthetic(acc)
    with pytest.raises(UserError, match="probe predictions"):
        run(res, pred, PROBES[:10], base, cfg)


def test_has_negation():
    assert has_negation(tokenize("I didn't like it"))
    assert has_negation(["a", "film", "without", "heart"])
    assert has_negation(np.array(["never", "again"]))
    assert not has_negation(tokenize("a knotty, notable film"))
    assert not has_negation([])


def test_pairwise_significance_needs_holm_corrected_p():
    """b=12, c=3 of 100: raw McNemar p = 0.035 and a CI above 0, but with three pairs Holm
    multiplies the smallest p by 3, so no pair is significant; alone, the pair is."""
    base = np.array([True] * 80 + [False] * 20)
    a = base.copy()
    b = base.copy()
    b[:12] = False  # a right, b wrong
    b[80:83] = True  # a wrong, b right
    alone = sections.pairwise({"a": a, "b": b}, 2000, 0)[0]
    assert alone["mcnemar_p"] == pytest.approx(0.0352, abs=1e-3) and alone["ci_low"] > 0
    assert alone["significant"]
    three = sections.pairwise({"a": a, "b": b, "c": b.copy()}, 2000, 0)
    ab = next(p for p in three if (p["a"], p["b"]) == ("a", "b"))
    assert ab["mcnemar_p_holm"] == pytest.approx(3 * ab["mcnemar_p"])
    assert not any(p["significant"] for p in three)


def _negation_case(lengths, negation, right) -> tuple[pd.DataFrame, dict]:
    pred = pd.DataFrame({"length": lengths, "negation": negation})
    return pred, {"m": np.asarray(right, dtype=bool)}


def test_negation_by_length_is_the_hand_computed_stratified_difference():
    # bucket [0, 10): with cue 2 reviews, without 2; bucket [10, 20): with 6, without 2.
    lengths = [3, 5, 4, 6] + [12, 13, 14, 15, 16, 17, 11, 18]
    negation = [1, 1, 0, 0] + [1, 1, 1, 1, 1, 1, 0, 0]
    seed0 = [1, 0, 1, 1] + [1, 1, 1, 0, 0, 0, 1, 0]
    seed1 = [1, 1, 1, 1] + [1, 1, 1, 0, 0, 0, 1, 0]  # review 2 right in one seed of two
    pred, per_seed = _negation_case(lengths, np.array(negation, bool), [seed0, seed1])
    out = sections.negation_by_length(pred, per_seed, [0, 10, 20], n_boot=500, seed=0)
    # by hand: bucket 0: with (1 + 0.5) / 2 = 0.75, without 1.0, weight 2 * 2 / 4 = 1;
    #          bucket 1: with 3 / 6 = 0.5, without 1 / 2 = 0.5, weight 6 * 2 / 8 = 1.5
    want = (1 * (0.75 - 1.0) + 1.5 * (0.5 - 0.5)) / (1 + 1.5)
    raw = (1.5 + 3) / 8 - (2 + 1) / 4
    m = out["models"]["m"]
    assert m["diff"] == pytest.approx(want) and m["raw_diff"] == pytest.approx(raw)
    assert [b["weight"] for b in out["buckets"]] == pytest.approx([1 / 2.5, 1.5 / 2.5])
    assert [(b["n_with"], b["n_without"]) for b in out["buckets"]] == [(2, 2), (6, 2)]
    assert out["buckets"][0]["accuracy"]["m"] == {"with": 0.75, "without": 1.0}
    assert out["length_median"] == {"with": float(np.median([3, 5, 12, 13, 14, 15, 16, 17])),
                                    "without": float(np.median([4, 6, 11, 18]))}
    assert m["ci_low"] <= m["diff"] <= m["ci_high"]


def test_negation_by_length_removes_a_length_confound():
    """Accuracy depends on length only, and cues are common in long reviews: the raw gap is
    large, the length-controlled difference is 0 with a CI around it."""
    rng = np.random.default_rng(1)
    n = 4000
    long = rng.random(n) < 0.5
    lengths = np.where(long, rng.integers(300, 600, n), rng.integers(20, 100, n))
    negation = rng.random(n) < np.where(long, 0.9, 0.3)
    right = np.zeros(n, bool)
    for grp in (long & negation, long & ~negation, ~long & negation, ~long & ~negation):
        idx = np.flatnonzero(grp)  # exactly 60% right in long reviews, 90% in short ones
        share = 0.6 if long[idx[0]] else 0.9
        right[idx[: round(share * len(idx))]] = True
    pred, per_seed = _negation_case(lengths, negation, right[None])
    out = sections.negation_by_length(pred, per_seed, [0, 200, 1000], n_boot=1000, seed=0)
    m = out["models"]["m"]
    assert abs(m["diff"]) < 0.002 and m["ci_low"] < 0 < m["ci_high"]
    assert m["raw_diff"] < -0.1  # confounded: cue reviews are mostly the long, hard ones
    assert out["length_median"]["with"] > out["length_median"]["without"]


def test_negation_by_length_is_in_the_analysis():
    acc = dict.fromkeys(MODEL_NAMES, 0.85)
    res, pred, base, cfg = synthetic(acc)
    out = run(res, pred, PROBES, base, cfg)
    by = out["negation"]["by_length"]
    assert set(by["models"]) == set(MODEL_NAMES)
    assert [(b["lo"], b["hi"]) for b in by["buckets"]] == [
        (b["lo"], b["hi"]) for b in out["length"]["buckets"]]
    assert sum(b["weight"] for b in by["buckets"]) == pytest.approx(1)
    real = out["negation"]["real"]["mhsa"]
    assert by["models"]["mhsa"]["raw_diff"] == pytest.approx(real["with"] - real["without"])


def test_probe_comparisons_are_exact_mcnemar_verdicts_from_both_sides():
    """negation_probes compares every pair of models on the probes (seed-averaged predictors),
    Holm over all pairs, and words each from both sides: better, worse or inconclusive."""
    from scipy import stats as sps

    n = len(PROBES)
    strong = np.ones(n, bool)
    weak = strong.copy()
    weak[:40] = False  # 40 probes only `strong` gets right
    close = weak.copy()
    close[40:43] = False  # 3 probes only `weak` gets right: too few
    ens = {"strong": strong, "weak": weak, "close": close}
    pcorrect = {m: np.stack([c] * 3) for m, c in ens.items()}  # [seeds, n_probes]
    out = sections.negation_probes(PROBES, pcorrect, ens)
    v = out["strong"]["versus"]["weak"]
    assert (v["verdict"], v["only_this"], v["only_other"]) == ("better", 40, 0)
    assert v["p"] == pytest.approx(sps.binomtest(0, 40, 0.5).pvalue)
    assert v["p_holm"] == pytest.approx(2 * v["p"])  # Holm: the 2nd smallest of 3 p-values
    assert out["weak"]["versus"]["strong"]["verdict"] == "worse"
    assert out["weak"]["versus"]["strong"]["diff"] == pytest.approx(-40 / n)
    assert out["weak"]["versus"]["close"]["verdict"] == "inconclusive"
    assert out["close"]["versus"]["weak"]["verdict"] == "inconclusive"
    assert {v["verdict"] for o in out.values() for v in o["versus"].values()} <= {
        "better", "worse", "inconclusive"}  # no test says equivalent
    assert out["strong"]["ens_accuracy"] == 1.0
    assert "versus" not in sections.negation_probes(PROBES, pcorrect)["strong"]


def test_probe_comparisons_are_in_the_analysis():
    acc = dict.fromkeys(MODEL_NAMES, 0.85)
    probe_acc = {m: 0.75 for m in MODEL_NAMES} | {"mhsa": 0.99, "bilstm": 0.5}
    res, pred, base, cfg = synthetic(acc, probe_acc=probe_acc)
    probes = run(res, pred, PROBES, base, cfg)["negation"]["probes"]
    assert probes["mhsa"]["versus"]["bilstm"]["verdict"] == "better"
    assert probes["bilstm"]["versus"]["mhsa"]["verdict"] == "worse"
    assert set(probes["mhsa"]["versus"]) == set(MODEL_NAMES) - {"mhsa"}
