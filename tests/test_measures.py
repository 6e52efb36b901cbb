"""The v3 measures: conicity of token vectors (evaluation.conicity) and attention mass on VADER
lexicon words (evaluation.lexicon), on hand-made inputs with known answers and on small models."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from attnstudy.data.text import tokenize
from attnstudy.evaluation import conicity as con
from attnstudy.evaluation import lexicon as lx
from tests.test_models import MIXED, SMALL, VOCAB, random_params

# ---------------------------------------------------------------- conicity


def brute_conicity(v, n):
    real = v[:n]
    mean = real.mean(0)
    return np.mean([x @ mean / (np.linalg.norm(x) * np.linalg.norm(mean)) for x in real])


def test_conicity_of_known_sets():
    d = 8
    eye = np.eye(d, dtype=np.float32)
    same = np.tile(np.arange(1, d + 1, dtype=np.float32), (d, 1)) * np.arange(1, d + 1)[:, None]
    vectors = np.stack([eye, same, eye])  # orthonormal; one direction at 8 lengths; one token
    mask = np.arange(d)[None, :] < np.array([d, d, 1])[:, None]
    got = np.asarray(con.conicity(jnp.asarray(vectors), jnp.asarray(mask)))
    np.testing.assert_allclose(got, [1 / np.sqrt(d), 1.0, 1.0], rtol=1e-6)


def test_conicity_matches_brute_force_and_ignores_padding():
    rng = np.random.default_rng(0)
    lengths = np.array([12, 1, 7, 3, 10, 5])
    v = rng.normal(0.3, 1.0, (6, 12, 5)).astype(np.float32)
    mask = np.arange(12)[None, :] < lengths[:, None]
    got = np.asarray(con.conicity(jnp.asarray(v), jnp.asarray(mask)))
    want = [brute_conicity(v[i], n) for i, n in enumerate(lengths)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    junk = np.where(mask[..., None], v, rng.normal(0, 50, v.shape)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(con.conicity(jnp.asarray(junk), jnp.asarray(mask))),
                               got, rtol=1e-6)
    zeros = np.zeros((1, 3, 4), np.float32)  # zero vectors: cosine 0, never NaN
    assert np.asarray(con.conicity(jnp.asarray(zeros), jnp.ones((1, 3), bool)))[0] == 0.0


@pytest.mark.parametrize("name", ["bilstm", "additive", "embed_mean", "embed_additive",
                                  "transformer"])
def test_model_conicity_reads_the_right_vectors(name):
    from attnstudy.models import classifiers as models

    ids, mask = MIXED
    model = models.build_model(name, SMALL, VOCAB, 12)
    params = random_params(model, 12, seed=2)
    fn = con.compiled_conicity(name, SMALL, VOCAB, 12)
    logits, out = fn(params, ids, mask)
    # the same forward (jitted here, eager there: XLA may fuse to a 1-ulp difference)
    np.testing.assert_allclose(logits, model.apply({"params": params}, ids, mask), atol=1e-6)
    embedded = params["embed" if name == "transformer" else "encoder"]
    table = (embedded if name == "transformer" else embedded["embed"])["embedding"]
    want = con.conicity(jnp.asarray(table)[ids], jnp.asarray(mask))
    np.testing.assert_allclose(out["embeddings"], want, rtol=1e-6)
    if name.startswith("embed_"):  # no encoder: the states are the embeddings
        np.testing.assert_allclose(out["states"], out["embeddings"], rtol=1e-6)
    else:
        if name != "transformer":
            h = models.Encoder(VOCAB, SMALL).apply({"params": params["encoder"]}, ids, mask,
                                                   False)
            np.testing.assert_allclose(out["states"], con.conicity(h, jnp.asarray(mask)),
                                       rtol=1e-5)
        assert not np.allclose(out["states"], out["embeddings"], atol=1e-3)
    one = mask.sum(1) == 1
    np.testing.assert_allclose(np.asarray(out["states"])[one], 1.0, rtol=1e-6)


# ---------------------------------------------------------------- lexicon


def test_vader_lexicon_ships_with_the_package_and_maps_through_the_tokenizer():
    entries = lx.read_lexicon()
    assert len(entries) > 7000 and entries["great"] > 0 > entries["worst"]
    words = lx.lexicon_words(entries)
    assert {"great", "worst", "boring", "love"} <= words
    assert ":)" in entries and ":)" not in words  # emoticons: not tokens of this tokenizer
    assert tokenize(":d") == ["d"] and "d" not in words  # the emoticon must not count "d"
    assert all(tokenize(w) == [w] for w in words)
    assert len(words) > 6000


def test_lexicon_mask_and_shares_by_hand():
    vocab = ["<pad>", "<unk>", "the", "great", "film", "boring", "a"]
    is_lex = lx.lexicon_mask(vocab)
    assert is_lex.tolist() == [False, False, False, True, False, True, False]
    ids = np.array([[2, 3, 4, 0], [5, 5, 2, 6], [2, 4, 0, 0]])
    mask = ids != 0
    dist = np.array([[0.1, 0.7, 0.2, 0.0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0.0, 0.0]])
    mass, share = lx.per_review(dist, ids, mask, is_lex)
    np.testing.assert_allclose(mass, [0.7, 0.5, 0.0])
    np.testing.assert_allclose(share, [1 / 3, 0.5, 0.0])
    s = lx.summary(mass, share)
    assert s["attention_mass"] == pytest.approx(0.4)
    assert s["token_share"] == pytest.approx((1 / 3 + 0.5) / 3)
    assert s["lift"] == pytest.approx(0.4 / ((1 / 3 + 0.5) / 3))
    assert s["excess"] == pytest.approx(np.mean([0.7 - 1 / 3, 0.0, 0.0]))
    assert lx.summary([0.0], [0.0])["lift"] is None
    uniform = mask / mask.sum(1, keepdims=True)  # uniform weights: mass == share, lift 1
    u = lx.summary(*lx.per_review(uniform, ids, mask, lx.lexicon_mask(vocab)))
    assert u["lift"] == pytest.approx(1.0) and u["excess"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="disagree"):
        lx.per_review(dist, ids[:, :2], mask[:, :2], is_lex)


def test_a_malformed_lexicon_line_is_named(tmp_path):
    p = tmp_path / "lex.txt"
    p.write_text("good\t1.9\t0.9\t[2]\nbad line\n")
    with pytest.raises(ValueError, match="lex.txt:2"):
        lx.read_lexicon(p)


def test_top_words_rank_by_relative_attention_among_frequent_words():
    vocab = ["<pad>", "<unk>", "the", "great", "film", "boring", "rare"]
    ids = np.array([[2, 3, 4, 1], [2, 5, 4, 6], [2, 3, 0, 0], [4, 5, 2, 0]])
    mask = ids != 0
    dist = np.array([[0.1, 0.6, 0.1, 0.2], [0.1, 0.4, 0.1, 0.4], [0.2, 0.8, 0.0, 0.0],
                     [0.2, 0.5, 0.3, 0.0]])
    top = lx.top_words(dist, ids, mask, vocab, k=3, min_count=2)
    # great: (0.6*4 + 0.8*2) / 2 = 2.0; boring: (0.4*4 + 0.5*3) / 2 = 1.55; film: (0.4 + 0.4
    # + 0.6) / 3; the: (0.4 + 0.4 + 0.4 + 0.9) / 4; "rare" (once) and UNK are left out
    assert [w["word"] for w in top] == ["great", "boring", "the"]
    assert top[0]["relative_attention"] == pytest.approx(2.0) and top[0]["count"] == 2
    assert top[0]["lexicon"] and top[1]["lexicon"] and not top[2]["lexicon"]
    assert top[2]["relative_attention"] == pytest.approx(2.1 / 4)
