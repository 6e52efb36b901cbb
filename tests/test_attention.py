"""Attention ablations and statistics: the definitions (entropy, permutation, uniform weights),
the ablated models against the bilstm_mean control, and the evaluation records they produce."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats as sps

from attnstudy.config import load_config
from attnstudy.data.encode import Split
from attnstudy.evaluation import ablations, attention_stats
from attnstudy.models import attention_ops
from attnstudy.models import classifiers as models
from attnstudy.models.inference import attention_weights, compiled_predict, predict_probs
from attnstudy.schema import attention_records as schema
from attnstudy.training.loop import curve_attention
from tests.test_models import MIXED, SMALL, VOCAB, random_params

LENGTHS = np.array([12, 1, 7, 3, 10, 5])
MASK = np.arange(12)[None, :] < LENGTHS[:, None]


def random_rows(shape, mask, seed=0):
    """Positive weights on `mask`, zero elsewhere, each row summing to 1 (rows with no valid
    entry stay zero)."""
    w = np.where(mask, np.random.default_rng(seed).random(shape) + 0.01, 0.0)
    return (w / np.maximum(w.sum(-1, keepdims=True), 1e-30)).astype(np.float32)


# ---------------------------------------------------------------- definitions


def test_entropy_is_one_for_uniform_and_zero_for_one_hot():
    uniform = np.asarray(attention_ops.uniform(jnp.asarray(MASK)))
    np.testing.assert_allclose(uniform.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(attention_ops.normalised_entropy(uniform, MASK), 1.0, rtol=1e-6)
    one_hot = np.zeros(MASK.shape, np.float32)
    one_hot[np.arange(6), LENGTHS - 1] = 1.0  # the last real token
    ent = np.asarray(attention_ops.normalised_entropy(one_hot, MASK))
    assert ent[LENGTHS == 1] == 1.0  # one token: uniform and one-hot at once, defined as 1
    np.testing.assert_allclose(ent[LENGTHS > 1], 0.0, atol=1e-7)
    between = np.asarray(attention_ops.normalised_entropy(random_rows(MASK.shape, MASK), MASK))
    assert ((between > 0.5) & (between < 1))[LENGTHS > 1].all()


def test_permutation_keeps_each_rows_weights_and_touches_no_padding():
    w = random_rows(MASK.shape, MASK)
    w[~MASK] = 0.0
    p = np.asarray(attention_ops.permute(jnp.asarray(w), jnp.asarray(MASK), jax.random.key(0)))
    for i in range(len(w)):
        np.testing.assert_array_equal(np.sort(p[i]), np.sort(w[i]))  # the same multiset
    assert (p[~MASK] == 0).all()
    assert (p[LENGTHS > 2] != w[LENGTHS > 2]).any()  # it does shuffle
    # mhsa layout [b, heads, q, k]: padded query rows stay zero, real rows are shuffled
    valid = MASK[:, None, :, None] & MASK[:, None, None, :]
    w4 = random_rows((6, 2, 12, 12), np.broadcast_to(valid, (6, 2, 12, 12)), seed=1)
    p4 = np.asarray(attention_ops.permute(jnp.asarray(w4), jnp.asarray(valid), jax.random.key(1)))
    np.testing.assert_array_equal(np.sort(p4, -1), np.sort(w4, -1))
    assert (p4[~np.broadcast_to(valid, p4.shape)] == 0).all()
    # a mask that is not right-padded: invalid entries keep their (nonzero) values in place
    holes = np.array([[True, False, True, True, False, True]])
    w1 = np.arange(1, 7, dtype=np.float32)[None]
    p1 = np.asarray(attention_ops.permute(jnp.asarray(w1), jnp.asarray(holes), jax.random.key(2)))
    assert (p1[~holes] == w1[~holes]).all() and sorted(p1[holes]) == sorted(w1[holes])


def test_position_spearman_is_scipys():
    rng = np.random.default_rng(3)
    dist = np.where(MASK, rng.random(MASK.shape), 0.0)[:, None, :]
    dist[2, 0, :3] = 0.25  # ties
    dist[4, 0, :10] = 0.1  # constant: undefined
    rho = attention_stats.position_spearman(dist, LENGTHS)[:, 0]
    for i, n in enumerate(LENGTHS):
        want = (np.nan if n < 2 or i == 4 else
                sps.spearmanr(dist[i, 0, :n], np.arange(n)).statistic)
        np.testing.assert_allclose(rho[i], want, atol=1e-12)
    assert np.isnan(rho[[1, 4]]).all()


def test_summaries_and_the_uniform_reference():
    s = attention_stats.summarise([0.0, 1.0, np.nan, 2.0, 3.0, 4.0])
    assert s["n"] == 5 and s["mean"] == 2.0 and s["q50"] == 2.0 and s["q05"] == 0.2
    ref = attention_stats.uniform_reference(np.array([1, 2, 10]))
    assert ref["entropy"]["q05"] == ref["entropy"]["q95"] == 1.0
    assert ref["max_weight"]["mean"] == pytest.approx((1 + 0.5 + 0.1) / 3)
    assert ref["top5_mass"]["mean"] == pytest.approx((1 + 1 + 0.5) / 3)


# ---------------------------------------------------------------- ablated models


@functools.cache
def trained(name: str):
    model = models.build_model(name, SMALL, VOCAB, 12)
    return model, random_params(model, 12, seed=7)


def forward(name, mode, ids, mask, key=0):
    model, params = trained(name)
    return np.asarray(model.clone(attention_mode=mode).apply(
        {"params": params}, jnp.asarray(ids), jnp.asarray(mask),
        rngs={"ablation": jax.random.key(key)}))


@pytest.mark.parametrize("name,control", [("additive", "bilstm_mean"),
                                          ("embed_additive", "embed_mean")])
def test_uniform_additive_is_its_mean_pool_control_on_the_same_states(name, control):
    ids, mask = MIXED
    _, params = trained(name)
    mean = models.build_model(control, SMALL, VOCAB, 12)
    shared = {k: v for k, v in params.items() if k != "attention"}  # encoder + classifier
    want = np.asarray(mean.apply({"params": shared}, jnp.asarray(ids), jnp.asarray(mask)))
    np.testing.assert_allclose(forward(name, "uniform", ids, mask), want, atol=2e-6)
    assert not np.allclose(forward(name, "learned", ids, mask), want, atol=1e-3)


@pytest.mark.parametrize("name", ["additive", "mhsa", "embed_additive"])
def test_ablations_use_the_ablated_weights(name):
    ids, mask = MIXED
    model, params = trained(name)
    learned = forward(name, "learned", ids, mask)
    np.testing.assert_array_equal(learned, np.asarray(model.apply({"params": params}, ids, mask)))
    for mode in ("uniform", "permuted"):
        out, state = model.clone(attention_mode=mode).apply(
            {"params": params}, ids, mask, rngs={"ablation": jax.random.key(0)},
            mutable=["intermediates"])
        w = np.asarray(jax.tree_util.tree_leaves(state["intermediates"])[0])
        _, w0 = attention_weights(model, params, ids, mask)
        if mode == "uniform":  # 1/n on real (query x) key entries, 0 elsewhere
            valid = mask if w.ndim == 2 else mask[:, None, :, None] & mask[:, None, None, :]
            n = mask.sum(1).reshape(-1, *[1] * (w.ndim - 1))
            np.testing.assert_allclose(w, np.broadcast_to(valid, w.shape) / n, rtol=1e-6)
        else:
            np.testing.assert_allclose(np.sort(w, -1), np.sort(np.asarray(w0), -1), atol=1e-7)
        assert not np.allclose(out, learned, atol=1e-4)
    again = forward(name, "permuted", ids, mask, key=0)
    np.testing.assert_array_equal(again, forward(name, "permuted", ids, mask, key=0))  # seeded
    assert not np.array_equal(again, forward(name, "permuted", ids, mask, key=1))


def test_mhsa_without_its_attention_sublayer_is_the_norm_of_the_states():
    ids, mask = MIXED
    model, params = trained("mhsa")
    out = forward("mhsa", "none", ids, mask)
    # by hand: encoder -> LayerNorm (the block's own) -> masked mean -> classifier
    h = models.Encoder(VOCAB, SMALL).apply({"params": params["encoder"]}, ids, mask, False)
    p = params["attention"]["norm"]
    mu, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
    normed = (h - mu) / jnp.sqrt(var + models.LN_EPS) * p["scale"] + p["bias"]
    logits = models.masked_mean(normed, mask) @ params["classifier"]["out"]["kernel"][:, 0]
    np.testing.assert_allclose(out, logits + params["classifier"]["out"]["bias"][0], atol=1e-5)
    with pytest.raises(ValueError, match="no mode 'none'"):
        forward("additive", "none", ids, mask)


# ---------------------------------------------------------------- evaluation records


@functools.cache
def setting():
    cfg = load_config("smoke")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, max_len=12,
                                                            bucket_edges=(8, 12)),
                              model=SMALL, train=dataclasses.replace(cfg.train,
                                                                     eval_batch_size=16))
    rng = np.random.default_rng(5)
    n = 40
    lengths = rng.integers(1, 13, n)
    ids = np.where(np.arange(12) < lengths[:, None], rng.integers(2, VOCAB, (n, 12)), 0)
    split = Split(ids.astype(np.int32), lengths.astype(np.int32), lengths.astype(np.int32),
                  rng.integers(0, 2, n).astype(np.int32), np.arange(n).astype(str),
                  np.zeros(n, bool))
    return cfg, split


def stored(name):
    cfg, split = setting()
    predict = compiled_predict(name, cfg.model, VOCAB, cfg.data.max_len)[1]
    return predict_probs(predict, trained(name)[1], split, cfg.data.bucket_edges,
                         cfg.train.eval_batch_size)


def measure(cfg, name, seed, vocab_size, params, split, probs):
    """{ablation: record} for a model of `ABLATIONS` (None for the others), as evaluation
    records them: `probs` are the unablated model's P(positive) on `split`, as stored."""
    if name not in attention_ops.ABLATIONS:
        return None
    return ablations.records(cfg, probs, ablations.per_review(cfg, name, seed, vocab_size, params,
                                                              split)[0], split.labels)


@pytest.mark.parametrize("name", ["additive", "mhsa", "embed_additive"])
def test_ablation_records_leave_the_stored_predictions_alone(name):
    cfg, split = setting()
    before = stored(name)
    kept = before.copy()
    rec = measure(cfg, name, 0, VOCAB, trained(name)[1], split, before)
    np.testing.assert_array_equal(before, kept)  # not written to
    np.testing.assert_array_equal(stored(name), kept)  # and recomputed: bit for bit
    assert set(rec) == set(attention_ops.ABLATIONS[name])
    for mode, r in rec.items():
        schema.Ablation.model_validate(r)
        p = ablations.per_review(cfg, name, 0, VOCAB, trained(name)[1], split)[0][mode]
        assert r["accuracy"] == ((p >= 0.5) == split.labels).mean()
        right = (before >= 0.5) == split.labels
        assert r["acc_diff"] == pytest.approx(r["accuracy"] - right.mean())
        assert r["ci_low"] <= r["acc_diff"] <= r["ci_high"] and r["ci_level"] == 0.95
        assert r["mean_abs_prob_change"] == pytest.approx(np.abs(p - before).mean(), rel=1e-6)
    assert rec["permuted"]["mean_abs_prob_change"] > 0
    assert measure(cfg, "bilstm", 0, VOCAB, None, split, before) is None


@pytest.mark.parametrize("name", ["additive", "mhsa", "embed_additive"])
def test_statistics_record(name):
    cfg, split = setting()
    st = ablations.per_review(cfg, name, 0, VOCAB, trained(name)[1], split)[1]
    rec = attention_stats.measure(name, st, split.lengths)
    schema.AttentionStats.model_validate(rec)
    assert rec["n_reviews"] == len(split)
    assert 0 < rec["entropy"]["q50"] <= 1 and rec["max_weight"]["q95"] <= 1
    assert rec["uniform"]["entropy"]["mean"] == 1.0
    assert rec["top5_mass"]["q05"] >= rec["max_weight"]["q05"]
    if name == "mhsa":
        assert rec["source"] == "received" and len(rec["heads"]) == SMALL.heads
        assert rec["row_entropy"]["n"] == len(split)
    else:
        assert rec["source"] == "weights" and rec["heads"] is None and rec["row_entropy"] is None
    st = attention_stats.per_review(st, split.lengths)
    # a review of one token is uniform: entropy 1, its weight 1
    one = split.lengths == 1
    assert one.any() and (st["entropy"][one] == 1).all()
    np.testing.assert_allclose(st["max_weight"][one], 1.0, rtol=1e-6)


def test_curve_point_attention():
    ent = np.array([[0.9, 0.8, 1.0], [0.7, 0.6, 0.8], [0.5, 0.4, 0.6]])
    rec = curve_attention({"entropy": ent, "row_entropy": ent - 0.1})
    assert rec["entropy_median"] == 0.7 and rec["heads_entropy_median"] == [0.6, 0.8]
    assert rec["row_entropy_median"] == pytest.approx(0.6)
    schema.CurveAttention.model_validate(rec)
    single = curve_attention({"entropy": ent[:, :1]})
    assert single["heads_entropy_median"] is None and single["row_entropy_median"] is None


# ---------------------------------------------------------------- analysis.json's section


def test_analysis_section_summarises_the_runs_records():
    from attnstudy.analysis.attention_effects import attention as section

    cfg, split = setting()
    runs = {}
    for name in ("additive", "mhsa"):
        probs = stored(name)
        runs[name] = []
        for seed in (0, 1):  # two "seeds": the same parameters, permuted with different keys
            runs[name].append({
                "seed": seed,
                "ablations": measure(cfg, name, seed, VOCAB, trained(name)[1], split,
                                               probs),
                "attention_stats": attention_stats.measure(name, ablations.per_review(
                    cfg, name, seed, VOCAB, trained(name)[1], split)[1], split.lengths),
                "curve": [{"step": s, "attention": curve_attention(
                    {"entropy": np.full((5, 3 if name == "mhsa" else 1), 0.9 - s / 100 - seed / 10),
                     **({"row_entropy": np.full((5, 3), 0.5)} if name == "mhsa" else {})})}
                    for s in (10, 20)] + [{"step": 30}]})
    runs["bilstm"] = [{"seed": 0, "ablations": None, "attention_stats": None, "curve": []}]
    out = section(runs)
    schema.AttentionSection.model_validate(out)
    assert set(out["ablations"]) == set(out["statistics"]) == set(out["learning"]) == {
        "additive", "mhsa"}  # the runs' models with attention
    perm = out["ablations"]["mhsa"]["permuted"]
    diffs = [r["ablations"]["permuted"]["acc_diff"] for r in runs["mhsa"]]
    assert perm["acc_diff"]["mean"] == pytest.approx(np.mean(diffs)) and perm["n_seeds"] == 2
    assert perm["seeds_below"] == sum(r["ablations"]["permuted"]["ci_high"] < 0
                                      for r in runs["mhsa"])
    assert set(out["ablations"]["mhsa"]) == {"uniform", "permuted", "none"}
    st = out["statistics"]["mhsa"]
    assert st["source"] == "received" and len(st["heads"]) == SMALL.heads
    q50 = runs["mhsa"][0]["attention_stats"]["entropy"]["q50"]
    assert st["statistics"]["entropy"]["median"]["mean"] == pytest.approx(q50)
    assert st["uniform"]["entropy"]["median"]["mean"] == 1.0
    assert out["statistics"]["additive"]["statistics"]["row_entropy"] is None
    learn = out["learning"]["mhsa"]
    assert [p["step"] for p in learn] == [10, 20]  # step 30 recorded no attention
    assert learn[0]["entropy_median"]["mean"] == pytest.approx(0.9 - 0.1 - 0.05)
    assert len(learn[0]["heads_entropy_median"]) == 2
