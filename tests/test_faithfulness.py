"""faithfulness: token erasure keeps rows right-padded; measure() on tiny random-init models."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from attnstudy.config import load_config
from attnstudy.data.encode import Split
from attnstudy.evaluation import faithfulness
from attnstudy.models.classifiers import build_model, init_params

CFG = load_config("smoke").model
VOCAB, WIDTH = 60, 16
LENGTHS = np.array([1, 2, 5, 16, 9, 3, 12, 7, 16, 4])


def split(lengths=LENGTHS, width=WIDTH, seed=0) -> Split:
    rng = np.random.default_rng(seed)
    mask = np.arange(width)[None, :] < lengths[:, None]
    ids = np.where(mask, rng.integers(2, VOCAB, (len(lengths), width)), 0).astype(np.int32)
    n = len(lengths)
    return Split(ids, lengths.astype(np.int32), lengths.astype(np.int32),
                 np.zeros(n, np.int32), np.array([str(i) for i in range(n)]), np.zeros(n, bool))


def test_remove_zero_tokens_changes_nothing():
    s = split()
    scores = np.random.default_rng(1).random(s.ids.shape)
    sel = faithfulness.select_tokens(scores, s.lengths, 0)
    assert not sel.any()
    ids, lengths = faithfulness.remove_tokens(s.ids, s.lengths, sel)
    np.testing.assert_array_equal(ids, s.ids)
    np.testing.assert_array_equal(lengths, s.lengths)


@pytest.mark.parametrize("k", [1, 3, 20])
def test_top_k_removal_respects_padding(k):
    s = split()
    scores = np.random.default_rng(k).random(s.ids.shape) + 5 * (s.ids == 0)  # pads score high
    sel = faithfulness.select_tokens(scores, s.lengths, k)
    assert not (sel & ~s.mask).any(), "a padding position was selected"
    np.testing.assert_array_equal(sel.sum(1), np.minimum(k, s.lengths - 1))
    ids, lengths = faithfulness.remove_tokens(s.ids, s.lengths, sel)
    np.testing.assert_array_equal(lengths, s.lengths - np.minimum(k, s.lengths - 1))
    assert (lengths >= 1).all()
    new_mask = np.arange(WIDTH)[None, :] < lengths[:, None]
    assert (ids[new_mask] >= 2).all() and (ids[~new_mask] == 0).all()  # right-padded
    for i in range(len(ids)):  # the kept tokens, in their original order
        np.testing.assert_array_equal(ids[i, :lengths[i]], s.ids[i, :s.lengths[i]][
            ~sel[i, :s.lengths[i]]])
        # the removed ones are the highest-scoring real tokens
        real = scores[i, :s.lengths[i]]
        if sel[i].any():
            assert real[sel[i, :s.lengths[i]]].min() >= real[~sel[i, :s.lengths[i]]].max()


@pytest.mark.parametrize("name", ["additive", "mhsa", "transformer"])
def test_measure_shapes_keys_and_zero_removal(name):
    model = build_model(name, CFG, VOCAB, WIDTH)
    params = init_params(model, 0, WIDTH)
    s = split()
    # token attention: a distribution over each row's real tokens (mhsa/transformer: received)
    p0, att = faithfulness._Runner(model, params, 4, WIDTH).forward(s.ids, s.lengths)
    assert att.shape == s.ids.shape and p0.shape == (len(s),)
    assert (att[~s.mask] == 0).all()
    np.testing.assert_allclose(att.sum(1), 1.0, rtol=1e-5)
    rows = np.array([0, 2, 3, 4, 6, 7, 8, 9])
    out = faithfulness.measure(model, params, s, rows, [0, 1, 3], seed=0, batch_size=4,
                               bootstrap_samples=200)
    assert set(out) == {"k", "top_drop", "random_drop", "top_flip", "random_flip",
                        "drop_diff_ci_low", "drop_diff_ci_high", "grad_spearman", "n_reviews",
                        "n_spearman"}
    assert out["k"] == [0, 1, 3] and out["n_reviews"] == len(rows)
    for key in ("top_drop", "random_drop", "top_flip", "random_flip"):
        assert len(out[key]) == 3 and all(0 <= v <= 1 for v in out[key])
    # removing 0 tokens changes nothing
    assert out["top_drop"][0] == 0 and out["random_drop"][0] == 0 and out["top_flip"][0] == 0
    assert out["top_drop"][2] > 0
    # gradient agreement: the mean Spearman over the 7 reviews with >= 2 tokens (row 0 has one)
    imp = faithfulness._Runner(model, params, 4, WIDTH).importance(s.ids[rows], s.lengths[rows])
    rhos = [spearmanr(att[i, :n], imp[j, :n]).statistic
            for j, (i, n) in enumerate(zip(rows, s.lengths[rows], strict=True)) if n >= 2]
    assert out["n_spearman"] == len(rhos) == 7
    assert out["grad_spearman"] == pytest.approx(np.mean(rhos), abs=1e-6)
    again = faithfulness.measure(model, params, s, rows, [0, 1, 3], seed=0, batch_size=4,
                                 bootstrap_samples=200)
    assert again == out  # seeded


def test_measure_rejects_models_without_attention():
    model = build_model("bilstm", CFG, VOCAB, WIDTH)
    params = init_params(model, 0, WIDTH)
    with pytest.raises(ValueError, match="attention"):
        faithfulness.measure(model, params, split(), np.arange(3), [1], seed=0)
