"""The v3 measures in a run's evaluation record (evaluation.evaluate.evaluate_run): conicity for
every model, the lexicon share and most-attended words for the models with attention weights, on
the smoke profile's
data (freshly initialised parameters: the wiring is tested, not a trained model)."""

from __future__ import annotations

import numpy as np
import pytest

from attnstudy.config import ROOT, load_config
from attnstudy.evaluation import lexicon as lx
from attnstudy.schema.attention_records import Conicity, LexiconShare, TopWords
from attnstudy.schema.models import Run


@pytest.fixture(scope="module")
def smoke(imdb_dir, tmp_path_factory):
    from attnstudy.data import encode, imdb

    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("cache")
    mp.setattr(encode, "CACHE", tmp / "data")
    mp.setattr(imdb, "HF_CACHE", tmp / "hf")
    mp.setenv("IMDB_DIR", str(imdb_dir))
    cfg = load_config("smoke", ROOT / "paper" / "experiment_v3.toml")
    yield cfg, encode.load_dataset(cfg.data)
    mp.undo()


@pytest.mark.parametrize("name, attends", [("embed_additive", True), ("bilstm", False)])
def test_evaluate_run_records_conicity_and_lexicon_share(smoke, name, attends):
    from attnstudy.evaluation.evaluate import evaluate_run
    from attnstudy.models.classifiers import build_model, init_params

    cfg, ds = smoke
    model = build_model(name, cfg.model, len(ds.vocab), cfg.data.max_len)
    params = init_params(model, 0, cfg.data.max_len)
    record, _, _, per_review = evaluate_run(cfg, name, 0, ds, params, ["a fine film"])
    n = len(ds.final_test())
    con = Conicity.model_validate(record["conicity"])
    assert con.states.n == con.embeddings.n == n
    assert 0 < con.embeddings.mean <= 1 and 0 < con.states.mean <= 1
    if name.startswith("embed_"):  # no encoder: it pools the embeddings themselves
        assert con.states == con.embeddings
    else:
        assert con.states != con.embeddings
    if attends:
        lex = LexiconShare.model_validate(record["lexicon"])
        assert lex.n_reviews == n and 0 < lex.token_share < 1 and 0 < lex.attention_mass < 1
        assert lex.lift == pytest.approx(lex.attention_mass / lex.token_share)
        # the per-review values the analysis resamples: the record's means, review by review
        assert per_review.shape == (2, n) and per_review.dtype == np.float64
        assert per_review[0].mean() == pytest.approx(lex.attention_mass, rel=1e-12)
        assert per_review[1].mean() == pytest.approx(lex.token_share, rel=1e-12)
        assert (per_review[1] >= 0).all() and (per_review[1] <= 1).all()
        top = TopWords.model_validate(record["top_words"])
        assert (top.k, top.min_count) == (lx.TOP_K, lx.MIN_COUNT)
        assert 0 < len(top.words) <= lx.TOP_K
        rel = [w.relative_attention for w in top.words]
        assert rel == sorted(rel, reverse=True) and all(r > 0 for r in rel)
        assert all(w.count >= lx.MIN_COUNT and w.word in ds.vocab[2:] for w in top.words)
        is_lex = lx.lexicon_mask(ds.vocab)
        assert [w.lexicon for w in top.words] == [bool(is_lex[ds.vocab.index(w.word)])
                                                  for w in top.words]
    else:
        assert record["lexicon"] is None and record["top_words"] is None and per_review is None
    assert {"conicity", "lexicon", "top_words"} <= set(Run.model_fields)
