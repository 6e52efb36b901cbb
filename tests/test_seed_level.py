"""The seed-level analysis (attnstudy.analysis.seed_level, attnstudy.stats.equivalence's shared
review resamples): the interval covers the truth on synthetic data, the resampling is exact and
seeded, and the pairs, verdicts, conicity and lexicon records follow the runs."""

from __future__ import annotations

import numpy as np
import pytest

from attnstudy.analysis import seed_level as sl
from attnstudy.stats import equivalence as eq
from attnstudy.stats import verdicts

E = {"margin": 0.005, "alpha": 0.05, "power": 0.8, "bootstrap_samples": 2000}


def runs_right(accs, n, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.random(n) < a for a in accs])


# ----------------------------------------------------------------------------- resampling

def test_shared_resamples_are_exact_seeded_and_independent_of_other_models():
    a, b, c = runs_right([0.8, 0.85], 300), runs_right([0.7], 300, 1), runs_right([0.9] * 3, 300, 2)
    one = eq.review_resampled_accuracy({"a": a, "b": b}, 500, seed=7)
    two = eq.review_resampled_accuracy({"c": c, "a": a, "b": b}, 500, seed=7)
    np.testing.assert_array_equal(one["a"], two["a"])  # bit-identical, whoever else is passed
    np.testing.assert_array_equal(one["b"], two["b"])
    assert one["a"].shape == (2, 500) and one["b"].shape == (1, 500)
    # float32 products are exact: the same counts in float64 give the same bits
    rng = np.random.default_rng([7, 0])
    want = []
    for start in range(0, 500, eq.SHARED_CHUNK):
        counts = eq._review_counts(rng, 300, min(eq.SHARED_CHUNK, 500 - start))
        want.append(a.astype(np.float64) @ counts.T / 300)
    np.testing.assert_array_equal(one["a"], np.concatenate(want, axis=1))
    assert not np.array_equal(eq.review_resampled_accuracy({"a": a}, 500, seed=8)["a"], one["a"])


def test_shared_bootstrap_matches_the_single_pair_bootstrap():
    """Per pair, the shared resampling is the same hierarchical bootstrap as hierarchical_diff
    (paired reviews, independent seeds): their standard errors agree."""
    a = runs_right([0.80, 0.86, 0.83, 0.89, 0.81], 3000, seed=3)
    b = runs_right([0.84, 0.85, 0.83], 3000, seed=4)
    single = eq.hierarchical_diff(a, b, n_boot=4000, seed=1)
    acc = eq.review_resampled_accuracy({"a": a, "b": b}, 4000, seed=1)
    shared = eq.seed_bootstrap_diff(acc["a"], acc["b"], [1, 1, 5])
    assert shared["se"] == pytest.approx(single["se"], rel=0.1)
    assert shared["ci_low"] < single["diff"] < shared["ci_high"]
    again = eq.seed_bootstrap_diff(acc["a"], acc["b"], [1, 1, 5])
    np.testing.assert_array_equal(again["samples"], shared["samples"])


def test_seed_level_interval_covers_the_truth():
    """Synthetic studies with a known difference: review difficulty q_i shared by both models,
    each seed's skill u ~ N(mu_model, tau); P(right) = q_i + u. The true difference of expected
    per-seed accuracies is mu_a - mu_b; the 95% hierarchical interval must cover it in about
    95% of studies (>= 88% required) without being vacuous: its median width stays below twice
    the width a normal interval with the estimator's true SD (its spread over the studies)
    would have. Resampling the reviews again inside each resampled seed counts the within-run
    review noise twice, so the interval runs wide (measured: 1.5x, coverage 0.99)."""
    rng = np.random.default_rng(2026)
    mu_a, mu_b, tau, n, seeds, sims = 0.010, 0.0, 0.006, 800, 5, 200
    covered, widths, diffs = 0, [], []
    for k in range(sims):
        q = rng.uniform(0.6, 0.95, n)
        ca = rng.random((seeds, n)) < q + rng.normal(mu_a, tau, (seeds, 1))
        cb = rng.random((seeds, n)) < q + rng.normal(mu_b, tau, (seeds, 1))
        acc = eq.review_resampled_accuracy({"a": ca, "b": cb}, 400, seed=k)
        boot = eq.seed_bootstrap_diff(acc["a"], acc["b"], [k, 1])
        covered += boot["ci_low"] <= mu_a - mu_b <= boot["ci_high"]
        widths.append(boot["ci_high"] - boot["ci_low"])
        diffs.append(ca.mean() - cb.mean())
    ideal = 2 * 1.959964 * np.std(diffs, ddof=1)
    assert covered / sims >= 0.88, covered / sims
    assert 0 < np.median(widths) < 2 * ideal, (np.median(widths), ideal)


# ----------------------------------------------------------------------------- the section

def _runs(models, seeds=3):
    return {m: [{"model": m, "seed": s, "best_step": 10,
                 "curve": [{"step": 10, "val_accuracy": 0.8 + 0.01 * i + 0.001 * s}]}
                for s in range(seeds)] for i, m in enumerate(models)}


def test_pair_list_covers_the_headline_pairs_once():
    models = ["bilstm", "additive", "mhsa", "bilstm_matched", "transformer", "bilstm_mean",
              "embed_additive", "embed_mean"]
    rules = [{"id": "attention-beats-bilstm", "kind": "seed_difference",
              "pairs": [["additive", "bilstm"], ["mhsa", "bilstm_matched"]]},
             {"id": "beats-tfidf", "kind": "seed_difference",
              "pairs": [["best_validation_model", "baseline"]]}]
    pairs = sl.pair_list(models, rules, "embed_mean", baseline=True)
    keys = [(p["a"], p["b"]) for p in pairs]
    assert keys[:7] == [(m, "bilstm") for m in models[1:]]
    for ab in (("additive", "bilstm_mean"), ("embed_additive", "embed_mean"),
               ("additive", "embed_additive"), ("bilstm_mean", "embed_mean"),
               ("mhsa", "bilstm_matched"), ("embed_mean", "baseline")):
        assert ab in keys
    assert len({frozenset(k) for k in keys}) == len(keys)  # each pair once
    every = {frozenset((a, b)) for i, a in enumerate(models) for b in models[i + 1:]}
    assert every <= {frozenset(k) for k in keys}  # the report's headline basis needs them all
    rest = next(p for p in pairs if {p["a"], p["b"]} == {"mhsa", "transformer"})
    assert (rest["a"], rest["b"], rest["why"]) == ("mhsa", "transformer", ["model pair"])
    add = next(p for p in pairs if (p["a"], p["b"]) == ("additive", "bilstm"))
    assert add["why"] == ["vs bilstm", "claim attention-beats-bilstm"]
    # models the results lack leave their pairs out (the v2 results: no embed models)
    v2 = sl.pair_list(models[:6], rules, "mhsa", baseline=False)
    assert all("embed" not in p["a"] + p["b"] and "baseline" not in (p["a"], p["b"])
               for p in v2)


def _compare(ca, cb, spread=None):
    acc = eq.review_resampled_accuracy({"a": ca, "b": cb}, E["bootstrap_samples"], 0)
    return sl.compare("a", "b", {"a": ca, "b": cb}, acc, E, spread, 0)


def _pair_for(verdict: str, spread: float = 0.0072) -> tuple[np.ndarray, np.ndarray]:
    """Correctness <bool>[5, 20000] of A and B whose comparison gets `verdict` ("noise":
    inconclusive within the rerun spread)."""
    n, rng = 20000, np.random.default_rng(11)
    base = rng.random(n) < 0.85
    extra = np.flatnonzero(~base)
    if verdict in ("better", "worse", "noise"):
        k = int((0.03 if verdict != "noise" else 0.006) * n)
        more = base.copy()
        more[extra[:k]] = True
        hi, lo = np.stack([more] * 5), np.stack([base] * 5)
        return (hi, lo) if verdict != "worse" else (lo, hi)
    if verdict == "equivalent":
        return np.stack([base] * 5), np.stack([base] * 5)
    return runs_right([0.80, 0.90, 0.84, 0.82, 0.88], n, 1), runs_right([0.85] * 5, n, 2)


@pytest.mark.parametrize("verdict", ["better", "worse", "equivalent", "inconclusive", "noise"])
def test_each_verdict_is_reached_from_the_numbers(verdict):
    row = _compare(*_pair_for(verdict), spread=0.0072)
    want = "inconclusive" if verdict == "noise" else verdict
    assert (row["verdict"], row["noise"]) == (want, verdict == "noise"), row
    again = verdicts.decide(row["diff"], row["ci_low"], row["ci_high"], E["margin"], 0.0072,
                            equivalence=row["tost"]["equivalent"])
    assert again.word == row["verdict"]
    assert row["mde"] == pytest.approx(eq.mde_from_se(row["se"]), rel=1e-12)
    assert row["n_seeds_a"] == row["n_seeds_b"] == 5 and row["seed_tost"] is not None


def test_section_is_bit_identical_and_reads_the_claims(tmp_path):
    models = ["bilstm", "additive", "bilstm_mean"]
    runs = _runs(models)
    per_seed = {m: runs_right([0.8 + 0.01 * i] * 3, 500, i) for i, m in enumerate(models)}
    labels = np.arange(500) % 2
    base = np.where(np.arange(500) % 3 == 0, 1 - labels, labels).astype(float)
    from attnstudy.analysis.claims import CLAIMS

    one = sl.section(runs, per_seed, base, labels, CLAIMS, seed=0)
    two = sl.section(runs, per_seed, base, labels, CLAIMS, seed=0)
    assert [p["ci_low"] for p in one["pairs"]] == [p["ci_low"] for p in two["pairs"]]
    assert one["margin"] == 0.005 and one["n_boot"] == 10000 and one["power"] == 0.8
    assert one["best_validation_model"] == "bilstm_mean"  # highest mean validation accuracy
    assert ("bilstm_mean", "baseline") in [(p["a"], p["b"]) for p in one["pairs"]]
    assert one["absent"] == {"measures": ["conicity", "lexicon", "top_words"],
                             "models": ["embed_additive", "embed_mean"]}
    bad = tmp_path / "claims.toml"
    bad.write_text("[[claims]]\nid = 'x'\n", encoding="utf-8")
    from attnstudy.errors import UserError

    with pytest.raises(UserError, match="equivalence"):
        sl.section(runs, per_seed, base, labels, bad, seed=0)


def _with(runs, key, values):
    for r, v in zip(runs, values, strict=True):
        r[key] = v
    return runs


def test_conicity_and_lexicon_over_seeds():
    runs = {"additive": _with([{"seed": s} for s in range(3)], "conicity", [
        {"states": {"mean": 0.9 + 0.01 * s}, "embeddings": {"mean": 0.3}} for s in range(3)]),
        "bilstm": [{"seed": 0, "conicity": None}]}
    con = sl.conicity(runs)
    assert list(con) == ["additive"] and con["additive"]["n_seeds"] == 3
    assert con["additive"]["states"]["mean"] == pytest.approx(0.91)
    assert con["additive"]["states_minus_embeddings"]["ci_low"] > 0
    lex = sl.lexicon({"additive": _with([{} for _ in range(3)], "lexicon", [
        {"lift": x, "attention_mass": 0.1 * x, "token_share": 0.1, "excess": 0.1 * x - 0.1}
        for x in (1.6, 1.7, 1.8)])})
    assert lex["additive"]["lift"]["mean"] == pytest.approx(1.7)
    assert "excess_hierarchical" not in lex["additive"]  # no per-review values given


def test_lexicon_excess_reads_the_prediction_columns_and_resamples_seeds_then_reviews():
    import pandas as pd

    rng = np.random.default_rng(0)
    n, runs = 400, {"additive": [{"model": "additive", "seed": s} for s in range(4)],
                    "bilstm": [{"model": "bilstm", "seed": 0}]}
    share = rng.uniform(0, 0.2, n)
    pred = pd.DataFrame({"lexicon_share": share})
    for s in range(4):  # seed s puts 0.01 * s more mass on lexicon words than their share
        pred[f"additive/seed{s}/lexicon_mass"] = share + 0.01 * s + rng.normal(0, 0.05, n)
    ex = sl.lexicon_excess(pred, runs)
    assert list(ex) == ["additive"] and ex["additive"].shape == (4, n)
    assert sl.lexicon_excess(pred.drop(columns="lexicon_share"), runs) == {}
    recs = [{"lift": 1.2, "attention_mass": 0.1, "token_share": 0.1, "excess": float(e)}
            for e in ex["additive"].mean(1)]
    lex = sl.lexicon({"additive": _with([{} for _ in range(4)], "lexicon", recs)}, ex, 2000, 0)
    h = lex["additive"]["excess_hierarchical"]
    assert h["mean"] == pytest.approx(ex["additive"].mean())
    assert h["n_seeds"] == 4 and h["n_reviews"] == n and h["n_boot"] == 2000
    assert h["ci_low"] < h["mean"] < h["ci_high"]
    # the same call gives the same numbers (seeded)
    again = sl.lexicon({"additive": _with([{} for _ in range(4)], "lexicon", recs)}, ex, 2000, 0)
    assert again["additive"]["excess_hierarchical"] == h
    # the rule reads this interval, and says so
    out = sl.lexicon_rule(RULE, lex)
    assert out["interval"].startswith("hierarchical") and out["excess"]["ci_low"] == h["ci_low"]
    assert sl.lexicon_rule(RULE, {"additive": {k: v for k, v in lex["additive"].items()
                                               if k != "excess_hierarchical"}})[
        "interval"].startswith("Student-t")


def test_hierarchical_mean_covers_seed_and_review_variance():
    rng = np.random.default_rng(1)
    flat = rng.normal(0, 1, (1, 500))  # one seed: the interval is the reviews' alone
    h = eq.hierarchical_mean(flat, 4000, 0)
    se = flat.std(ddof=1) / np.sqrt(500)
    assert h["se"] == pytest.approx(se, rel=0.1)
    spread = flat + np.array([[0.0], [0.5], [1.0]])  # three seeds far apart: seeds dominate
    assert eq.hierarchical_mean(spread, 4000, 0)["se"] > 3 * se
    with pytest.raises(ValueError):
        eq.hierarchical_mean(np.zeros(5), 10, 0)


def _top(*words, k=3):
    """A runs[].top_words record from (word, relative attention, lexicon) triples."""
    return {"k": k, "min_count": 50, "words": [
        {"word": w, "relative_attention": r, "count": 60, "lexicon": x} for w, r, x in words]}


def test_top_words_pooled_over_seeds():
    runs = {"additive": _with([{"seed": s} for s in range(3)], "top_words", [
        _top(("great", 3.0, True), ("bad", 2.0, True), ("film", 1.5, False)),
        _top(("bad", 2.4, True), ("great", 2.0, True), ("plot", 1.8, False)),
        _top(("great", 2.5, True), ("dull", 2.6, True), ("film", 1.1, False))]),
        "bilstm": [{"seed": 0, "top_words": None}]}
    top = sl.top_words(runs)
    assert list(top) == ["additive"]
    t = top["additive"]
    assert (t["n_seeds"], t["k"], t["min_count"], t["in_every_seed"]) == (3, 3, 50, 1)
    # great in 3 seeds; bad (2.2) before film (1.3) in 2; then the single-seed words, cut at k
    assert [(w["word"], w["n_seeds"]) for w in t["words"]] == [
        ("great", 3), ("bad", 2), ("film", 2)]
    assert t["words"][0]["relative_attention"] == pytest.approx(2.5)
    assert t["words"][1]["relative_attention"] == pytest.approx(2.2)
    assert [w["lexicon"] for w in t["words"]] == [True, True, False]
    assert t["lexicon_share"]["mean"] == pytest.approx(2 / 3) and t["lexicon_share"]["n"] == 3


@pytest.mark.parametrize("a,b,where", [
    ((1.8, 1.9, 2.0), (1.1, 1.2, 1.15), "a_above"), ((1.0, 1.5, 1.2), (1.1, 1.3, 1.4), None),
    ((1.8,), (1.1, 1.2), "a_above"), ((1.0, 1.1), (1.5, 1.6), "b_above")])
def test_lexicon_arms_compares_the_lift_of_embedding_and_bilstm_attention(a, b, where):
    def lex(lifts):
        return _with([{} for _ in lifts], "lexicon", [
            {"lift": x, "attention_mass": 0.1 * x, "token_share": 0.1, "excess": 0.1 * x - 0.1}
            for x in lifts])

    out = sl.lexicon_arms(sl.lexicon({"embed_additive": lex(a), "additive": lex(b)}))
    assert (out["a"], out["b"]) == ("embed_additive", "additive")
    assert out["diff"] == pytest.approx(np.mean(a) - np.mean(b))
    assert out["separated"] == where
    if len(a) < 2:
        assert out["ci_low"] is None and out["ci_high"] is None
    else:
        assert out["ci_low"] < out["diff"] < out["ci_high"]
        assert (out["ci_low"] > 0) == (where == "a_above")  # these seeds: separated <=> CI > 0
    assert sl.lexicon_arms(sl.lexicon({"additive": lex(b)})) is None


def _arm_runs(ent_a, ent_b, cone_a, cone_b):
    """embed_additive (a) and additive (b) runs with an entropy median and a conicity each."""
    def runs(ents, cones):  # fewer conicities than entropies: the last runs record none
        return [{"seed": i, "attention_stats": {"entropy": {"q50": e}},
                 "conicity": {"states": {"mean": cones[i]}, "embeddings": {"mean": 0.2}}
                 if i < len(cones) else None} for i, e in enumerate(ents)]
    return {"embed_additive": runs(ent_a, cone_a), "additive": runs(ent_b, cone_b)}


def test_flat_arms_compares_entropy_and_conicity_across_the_arms():
    runs = _arm_runs((0.80, 0.82, 0.85), (0.97, 0.98, 0.975), (0.2, 0.21, 0.22),
                     (0.9, 0.88, 0.91))
    out = sl.flat_arms(runs, sl.conicity(runs))
    assert (out["a"], out["b"]) == ("embed_additive", "additive")
    e, c = out["entropy"], out["conicity"]
    assert e["diff"] == pytest.approx(np.mean((0.80, 0.82, 0.85)) - 0.975)
    assert e["ci_high"] < 0 and e["separated"] == "b_above"
    assert c["diff"] == pytest.approx(0.21 - np.mean((0.9, 0.88, 0.91))) and c["ci_high"] < 0
    assert (e["n_seeds_a"], e["n_seeds_b"]) == (3, 3)
    # without either record for either model: no comparison
    for m, key in (("additive", "attention_stats"), ("embed_additive", "conicity")):
        bare = {k: [dict(r) for r in v] for k, v in runs.items()}
        for r in bare[m]:
            r[key] = None
        assert sl.flat_arms(bare, sl.conicity(bare)) is None
    one = _arm_runs((0.8,), (0.97, 0.98), (0.2,), (0.9, 0.88))
    assert sl.flat_arms(one, sl.conicity(one))["entropy"]["ci_low"] is None


RULE = {"id": "additive-faithful", "claim": "Additive attention focuses on sentiment words",
        "kind": "lexicon_share", "model": "additive", "reference": ["embed_additive"],
        "thresholds": {"lift_strong": 1.5, "lift_weak": 1.1}}


@pytest.mark.parametrize("lifts,verdict", [
    ((1.6, 1.7, 1.8), "supported"), ((1.2, 1.3, 1.25), "partly supported"),
    ((0.9, 1.0, 1.05), "not supported"), ((1.7,), "inconclusive"),
    ((1.9, 1.9, 1.9, 1.9, 0.99), "partly supported")])  # mean >= strong, a seed below 1
def test_lexicon_rule_verdicts(lifts, verdict):
    recs = [{"lift": x, "attention_mass": 0.1 * x, "token_share": 0.1,
             "excess": 0.1 * x - 0.1 + 0.001 * i} for i, x in enumerate(lifts)]
    lex = sl.lexicon({"additive": _with([{} for _ in lifts], "lexicon", recs)})
    out = sl.lexicon_rule(RULE, lex)
    assert out["verdict"] == verdict, out
    assert out["measured"] == (len(lifts) >= 2)
