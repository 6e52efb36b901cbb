"""The cheaper evaluation (issue #14, item 5) records what the old one recorded, bit for bit.

tests/fixtures/eval_reference.py is the evaluation as it was (commit 9886ed1: a validation pass
to warm the compiled shapes, one test-set pass per ablation and one for the statistics, fresh
jitted functions per run); both run here on the same trained smoke runs, so the comparison
holds on any machine. Only the timing fields may differ.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from attnstudy.config import load_config
from attnstudy.data.encode import Split, load_dataset
from attnstudy.data.probes import load_probes
from attnstudy.evaluation import ablations, attention_stats, evaluate
from attnstudy.models.attention_ops import ABLATIONS
from attnstudy.training import loop

_spec = importlib.util.spec_from_file_location(
    "eval_reference", Path(__file__).parent / "fixtures" / "eval_reference.py")
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)

TIMING = ("eval_seconds", "eval_reviews_per_second")
NAMES = ("additive", "mhsa")


@pytest.fixture(scope="module")
def smoke(imdb_dir, tmp_path_factory):
    """(cfg, dataset, {name: trained best parameters}, probe texts) of the smoke profile."""
    cfg = load_config("smoke")
    ds = load_dataset(cfg.data, imdb_dir)
    runs = tmp_path_factory.mktemp("runs")
    params = {name: loop.train_run(cfg, name, 0, ds, runs / name).best_params for name in NAMES}
    return cfg, ds, params, [p.text for p in load_probes()]


ADDED = ("conicity", "lexicon", "top_words")  # evaluation.conicity and evaluation.lexicon
# (tests of their own: test_eval_measures, test_measures)


def rows(split: Split, idx: np.ndarray) -> Split:
    return Split(*(np.asarray(getattr(split, f.name))[idx] for f in dataclasses.fields(split)))


def untimed(record: dict) -> str:
    """The record as it is written (JSON, key order kept), without its timing fields."""
    assert all(record[k] > 0 for k in TIMING)
    return json.dumps({k: v for k, v in record.items() if k not in TIMING}, allow_nan=False)


def same_as_reference(cfg, ds, params, probe_texts, name, seed):
    old = reference.evaluate_run(cfg, name, seed, ds, params, probe_texts)
    new = evaluate.evaluate_run(cfg, name, seed, ds, params, probe_texts)
    # the measures added since the reference (issue #27) are the record's only new fields
    assert set(new[0]) - set(old[0]) <= set(ADDED)
    kept = {k: v for k, v in new[0].items() if k not in ADDED}
    assert list(kept) == list(old[0])
    assert untimed(kept) == untimed(old[0])
    assert new[1].dtype == old[1].dtype == np.float32
    np.testing.assert_array_equal(new[1], old[1])  # the test probabilities, bit for bit
    assert json.dumps(new[2]) == json.dumps(old[2])  # the attention dump
    return new


@pytest.mark.slow  # its module fixture trains two smoke runs
@pytest.mark.parametrize("name", NAMES)
def test_record_probabilities_and_dump_are_the_old_ones(smoke, name):
    cfg, ds, params, probe_texts = smoke
    record, *_ = same_as_reference(cfg, ds, params[name], probe_texts, name, seed=0)
    assert record["ablations"]["permuted"]["mean_abs_prob_change"] > 0  # something was measured


@pytest.mark.parametrize("name", NAMES)
def test_one_pass_is_the_per_ablation_passes_with_bfloat16_and_several_widths(smoke, name):
    """The full profile's setting in small (bfloat16 matmuls, several bucket widths, partial
    batches, two seeds' permutation keys): the one pass gives each ablation's probabilities and
    the statistics exactly as a pass per ablation and a statistics pass did."""
    cfg, ds, params, _ = smoke
    cfg = dataclasses.replace(
        cfg, data=dataclasses.replace(cfg.data, bucket_edges=(32, 64)),
        model=dataclasses.replace(cfg.model, precision="bfloat16"),
        train=dataclasses.replace(cfg.train, eval_batch_size=24))
    split = rows(ds.final_test(), np.arange(100))
    vocab, p = len(ds.vocab), params[name]
    permuted = []
    for seed in (0, 1):
        ablated, st = ablations.per_review(cfg, name, seed, vocab, p, split)
        assert list(ablated) == list(ABLATIONS[name])
        for mode, probs in ablated.items():
            old = reference.ablated_probs(name, mode, cfg, vocab, p, split, seed)
            np.testing.assert_array_equal(probs, old, err_msg=f"{mode}, seed {seed}")
        permuted.append(ablated["permuted"])
    assert not np.array_equal(*permuted)  # the seed picks the permutation
    old = reference.stats_per_review(cfg, name, vocab, p, split)
    new = attention_stats.per_review(st, split.lengths)
    assert sorted(new) == sorted(old)
    for k in old:
        np.testing.assert_array_equal(new[k], old[k], err_msg=k)


def random_valid(rng, b: int, t: int, right_padded: bool) -> np.ndarray:
    """<bool>[b, t]: right-padded with lengths 0..t (both ends included), or random holes."""
    if right_padded:
        lengths = np.concatenate([[0, 1, t], rng.integers(0, t + 1, b - 3)])
        return np.arange(t)[None, :] < lengths[:, None]
    return rng.random((b, t)) < rng.random((b, 1))


@pytest.mark.parametrize("right_padded", [True, False])
def test_permute_is_the_three_argsort_permutation(right_padded):
    """The one-sort `attention_ops.permute` gives the old one's output exactly, for the same key:
    additive [b, t] and mhsa [b, heads, q, k] layouts (query x key mask), many lengths, rows
    packed into one integer key (t < attention_ops.PACKED_MAX) and not (t >= it). The lengths
    are the edge cases and the two sides of PACKED_MAX: each one compiles both functions twice,
    which is this test's cost."""
    import jax
    import jax.numpy as jnp

    from attnstudy.models import attention_ops

    rng = np.random.default_rng(0)
    new, old = jax.jit(attention_ops.permute), jax.jit(reference.permute)
    for t in (1, 2, 7, attention_ops.PACKED_MAX - 1, attention_ops.PACKED_MAX):
        mask = random_valid(rng, 64, t, right_padded)
        w = np.where(mask, rng.random((64, t), np.float32), 0.0).astype(np.float32)
        # mhsa: real query x real key; at the long lengths two rows, one head (the layout, not
        # the volume, is what is checked: [4, 2, 512, 512] sorts cost most of this test)
        mask4, heads = (mask[:4], 2) if t < 64 else (mask[1:3], 1)
        valid = mask4[:, None, :, None] & mask4[:, None, None, :]
        w4 = np.where(valid, rng.random((len(mask4), heads, t, t), np.float32),
                      0.0).astype(np.float32)
        w4[0, 0, 0, :] = 0.25  # tied weights
        for seed in range(2):
            key = jax.random.key(seed)
            for weights, v in ((w, mask), (w4, valid), (w4 + 1.0, valid)):  # invalid nonzero
                got = np.asarray(new(jnp.asarray(weights), jnp.asarray(v), key))
                np.testing.assert_array_equal(
                    got, np.asarray(old(jnp.asarray(weights), jnp.asarray(v), key)),
                    err_msg=f"t={t}, seed {seed}, shape {weights.shape}")
                assert got.dtype == np.float32
        if t > 2:
            assert not np.array_equal(got, w4 + 1.0)  # it does shuffle
    # the packed key holds u exactly: jax draws U[0, 1) on a grid of 2^-23
    u = np.asarray(jax.random.uniform(jax.random.key(0), (1 << 20,)), np.float64) * 2**23
    assert (u == np.floor(u)).all() and u.max() < 2**23


def test_permute_sorts_once():
    """The permuted ablation's cost: one sort per row, the old code had three."""
    import jax
    import jax.numpy as jnp

    from attnstudy.models import attention_ops

    w, v = jnp.ones((2, 4, 8, 8)), jnp.ones((2, 1, 8, 8), bool)

    def sorts(fn) -> int:  # in the compiled program (nested jits inlined)
        return jax.jit(fn).lower(w, v, jax.random.key(0)).compile().as_text().count(" sort(")

    assert sorts(reference.permute) == 3
    assert sorts(attention_ops.permute) == 1
