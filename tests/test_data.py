from dataclasses import replace

import numpy as np
import pytest

from attnstudy.config import load_config
from attnstudy.data import batches, encode, imdb, text
from attnstudy.errors import UserError
from tests.conftest import write_imdb

PAPER = load_config("full").data  # the settings a test does not set


def test_tokenize_keeps_negation_and_drops_html():
    toks = text.tokenize("I didn't like it.<br /><br />It's NOT good &amp; can't be!")
    assert toks == ["i", "did", "n't", "like", "it", "it's", "not", "good", "ca", "n't", "be", "!"]
    assert "br" not in text.tokenize("one<br />two <i>three</i>")


def test_tokenize_is_unicode_safe():
    assert text.tokenize("Café ÉTÉ naïve") == ["café", "été", "naïve"]
    assert text.tokenize("don\u2019t") == ["do", "n't"]


def test_vocab_special_ids_and_size():
    vocab = encode.build_vocab([["b", "a", "b", "c"], ["b", "a"]], size=4)
    assert vocab == ["<pad>", "<unk>", "b", "a"]
    assert encode.PAD == 0 and encode.UNK == 1


def test_encode_pads_truncates_and_masks():
    w2i = {"<pad>": 0, "<unk>": 1, "a": 2, "b": 3}
    ids, lengths, full = encode.encode([["a", "b", "zzz"], ["a"] * 5, []], w2i, max_len=4)
    assert ids.tolist() == [[2, 3, 1, 0], [2, 2, 2, 2], [1, 0, 0, 0]]
    assert lengths.tolist() == [3, 4, 1] and full.tolist() == [3, 5, 0]


def test_head_tail_truncation():
    assert encode.truncate(list(range(10)), 4, "head") == [0, 1, 2, 3]
    assert encode.truncate(list(range(10)), 4, "head_tail") == [0, 1, 8, 9]
    assert encode.truncate(list(range(10)), 5, "head_tail") == [0, 1, 2, 8, 9]


def test_validation_split_is_stratified_grouped_and_seeded():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2000)
    groups = [f"m{i % 300}" for i in range(2000)]
    tr, va = encode.split_validation(labels, groups, 0.1, seed=3)
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 2000
    assert abs(len(va) - 200) <= 10
    assert abs(labels[va].mean() - labels.mean()) < 0.03
    assert not {groups[i] for i in va} & {groups[i] for i in tr}
    tr2, va2 = encode.split_validation(labels, groups, 0.1, seed=3)
    assert np.array_equal(va, va2)
    assert not np.array_equal(va, encode.split_validation(labels, groups, 0.1, seed=4)[1])


def test_epoch_batches_are_deterministic_and_bucketed():
    lengths = np.random.default_rng(0).integers(1, 100, 500)
    a = batches.epoch_batches(lengths, (32, 64, 100), 16, seed=1, epoch=0)
    b = batches.epoch_batches(lengths, (32, 64, 100), 16, seed=1, epoch=0)
    c = batches.epoch_batches(lengths, (32, 64, 100), 16, seed=1, epoch=1)
    assert [(w, r.tolist()) for w, r in a] == [(w, r.tolist()) for w, r in b]
    assert [r.tolist() for _, r in a] != [r.tolist() for _, r in c]
    for width, rows in a:
        assert len(rows) == 16 and lengths[rows].max() <= width
    padded = sum(w * len(r) for w, r in a)
    assert padded < 1.5 * lengths[np.concatenate([r for _, r in a])].sum()


def test_eval_batches_cover_every_row_once():
    lengths = np.random.default_rng(1).integers(1, 100, 301)
    seen = np.concatenate([idx[:n] for _, idx, n in batches.eval_batches(lengths, (50, 100), 64)])
    assert sorted(seen.tolist()) == list(range(301))


def test_missing_data_dir_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="is not a directory"):
        encode.load_dataset(PAPER, tmp_path / "nope")
    with pytest.raises(UserError, match=r"missing .*train\.parquet"):
        encode.load_dataset(PAPER, tmp_path)


def test_tiny_data_loads(tiny_imdb):
    cfg = replace(PAPER, vocab_size=50, max_len=8, bucket_edges=(4, 8), val_fraction=0.2)
    ds = encode.load_dataset(cfg, tiny_imdb, use_cache=False)
    assert len(ds.train) + len(ds.val) == 60 and len(ds.final_test()) == 60
    assert ds.vocab[:2] == ["<pad>", "<unk>"]


@pytest.mark.parametrize("damage", [lambda b: b[: len(b) // 2], lambda b: b"not a zip file",
                                    lambda b: b[:30] + bytes(len(b) - 30)])
def test_a_damaged_encoding_cache_is_said_and_rebuilt(tiny_imdb, tmp_path, monkeypatch, capsys,
                                                       damage):
    """A torn, foreign or zeroed cache file: one warning line, then the same encoding again."""
    monkeypatch.setattr(encode, "CACHE", tmp_path / "cache")
    cfg = replace(PAPER, vocab_size=50, max_len=8, bucket_edges=(4, 8), val_fraction=0.2)
    first = encode.load_dataset(cfg, tiny_imdb)
    (path,) = (tmp_path / "cache").glob("*.npz")
    path.write_bytes(damage(path.read_bytes()))
    again = encode.load_dataset(cfg, tiny_imdb)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is unreadable" in err[0] and "encoding again" in err[0], err
    assert again.vocab == first.vocab and (again.train.ids == first.train.ids).all()
    assert encode.load_dataset(cfg, tiny_imdb).vocab == first.vocab  # rebuilt: read silently
    assert not capsys.readouterr().err


@pytest.mark.parametrize("rows, message", [
    ({"text": ["good", "bad"], "label": [1, 2]}, "label 2 outside {0, 1}"),
    ({"text": ["good", "  "], "label": [1, 0]}, "empty or whitespace-only"),
    ({"review": ["good", "bad"], "label": [1, 0]}, "missing column 'text'"),
    ({"text": [], "label": []}, "split is empty"),
])
def test_malformed_data_is_one_clear_error(tmp_path, rows, message):
    folder = write_imdb(tmp_path / "bad", rows)
    with pytest.raises(UserError) as e:
        imdb.load_raw(folder)
    assert message in str(e.value) and str(folder) in str(e.value) and "\n" not in str(e.value)


def test_not_parquet(tmp_path):
    folder = tmp_path / "np"
    folder.mkdir()
    for s in ("train", "test"):
        (folder / f"{s}.parquet").write_text("text,label\nhello,1\n")
    with pytest.raises(UserError, match="is not a Parquet file"):
        imdb.load_raw(folder)


def test_real_data_slice(imdb_dir):
    """Integration: the smoke profile on the real IMDb files."""
    cfg = load_config("smoke").data
    ds = encode.load_dataset(cfg, imdb_dir, use_cache=False)
    assert len(ds.train) + len(ds.val) == cfg.train_subset
    assert abs(len(ds.val) - cfg.val_fraction * cfg.train_subset) <= 5
    assert len(ds.final_test()) == cfg.test_subset
    assert 0.45 < ds.train.labels.mean() < 0.55 and 0.45 < ds.val.labels.mean() < 0.55
    assert len(ds.vocab) == cfg.vocab_size and "n't" in ds.vocab and "not" in ds.vocab
    assert (ds.train.lengths >= 1).all() and (ds.train.lengths <= cfg.max_len).all()
    assert (ds.train.ids[~ds.train.mask] == encode.PAD).all()
    assert (ds.train.ids[ds.train.mask] != encode.PAD).all()


def test_results_check_fingerprint_matches_the_encoded_dataset(imdb_dir):
    """The runner decides "results are current" from file checksums alone; that fingerprint
    must be the one the encoded dataset (and so every run key) carries."""
    from attnstudy.pipeline import cache

    ds = encode.load_dataset(load_config("smoke").data, data_dir=imdb_dir)
    assert cache.local_fingerprint(imdb_dir) == ds.fingerprint


def _word(prefix: str, i: int) -> str:
    """A letters-only word unique to row i (the tokenizer splits digits off)."""
    return prefix + "".join(chr(ord("a") + int(d)) for d in str(i))


@pytest.mark.parametrize("films", [True, False], ids=["by-film", "by-review"])
def test_vocabulary_and_validation_come_from_the_training_part(tmp_path, monkeypatch, films):
    """Every review carries a word of its own: the vocabulary must hold exactly the training
    rows' words, none seen only in validation rows or only in the test split."""
    monkeypatch.setattr(encode, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(imdb, "HF_CACHE", tmp_path / "hf")
    n, m = 40, 12
    train = {"id": [f"tr{i}" for i in range(n)], "label": [i % 2 for i in range(n)],
             "text": [f"{'good' if i % 2 else 'bad'} film {_word('tr', i)}" for i in range(n)]}
    if films:
        train["movie"] = [f"film{i // 4}" for i in range(n)]  # 2 positive + 2 negative each
    test = {"id": [f"te{i}" for i in range(m)], "label": [i % 2 for i in range(m)],
            "text": [f"good film {_word('te', i)}" for i in range(m)]}
    folder = write_imdb(tmp_path / "imdb", train, test)
    cfg = replace(PAPER, vocab_size=1000, max_len=8, bucket_edges=(8,), val_fraction=0.25)
    ds = encode.load_dataset(cfg, folder, use_cache=False)

    tr, va, te = (set(s.row_ids.tolist()) for s in (ds.train, ds.val, ds.final_test()))
    assert len(va) == len(ds.val) > 0 and len(tr) == len(ds.train) and tr.isdisjoint(va)
    assert tr | va == set(train["id"]) and te == set(test["id"])
    assert not te & (tr | va)
    assert ds.grouping == ("film" if films else "review")
    if films:
        movie = dict(zip(train["id"], train["movie"], strict=True))
        assert not {movie[r] for r in tr} & {movie[r] for r in va}

    text_of = dict(zip(train["id"] + test["id"], train["text"] + test["text"], strict=True))
    words = {name: {w for r in rows for w in text.tokenize(text_of[r])}
             for name, rows in (("train", tr), ("val", va), ("test", te))}
    val_only, test_only = words["val"] - words["train"], words["test"] - words["train"]
    assert len(val_only) == len(va) and len(test_only) == m  # the check below has teeth
    assert set(ds.vocab[2:]) == words["train"]
    assert not (val_only | test_only) & set(ds.vocab)
    assert (ds.val.ids[ds.val.mask] == encode.UNK).sum() == len(va)  # one unseen word each


def test_negation_is_read_on_the_full_review(tmp_path, monkeypatch):
    """A cue cut away by truncation still marks the review as negated (text.py, encode.py)."""
    monkeypatch.setattr(encode, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(imdb, "HF_CACHE", tmp_path / "hf")
    filler = " ".join(["fine"] * 10)
    texts = {"middle": f"{filler} but not {filler}", "head": f"never {filler}",
             "nt": f"{filler} it didn't work {filler}", "none": f"{filler} {filler}"}
    rows = {"id": list(texts), "text": list(texts.values()), "label": [0, 0, 0, 1]}
    folder = write_imdb(tmp_path / "imdb", {"id": ["a", "b"], "text": ["not fine", "never fine"],
                                             "label": [0, 1]}, rows)
    cfg = replace(PAPER, vocab_size=50, max_len=8, truncation="head_tail", bucket_edges=(8,),
                     val_fraction=0.5)
    ds = encode.load_dataset(cfg, folder, use_cache=False)
    test = ds.final_test()
    neg = dict(zip(test.row_ids.tolist(), test.negation.tolist(), strict=True))
    assert neg == {"middle": True, "head": True, "nt": True, "none": False}
    for name in ("middle", "nt"):  # the cue really lies in the middle that is cut away
        kept = encode.truncate(text.tokenize(texts[name]), cfg.max_len, cfg.truncation)
        assert not text.has_negation(kept)
