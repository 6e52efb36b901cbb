"""IMDb encoding: split -> vocabulary -> encode, cached on disk.

The official 25k test set is only encoded here; it is read for final evaluation, never for
choices (vocabulary, early stopping). Validation is carved from the training set, stratified by
label and grouped by film when the data has a `movie` column (the local copy does), so reviews
of one film never sit on both sides of the split; without it, review by review (the `split`
field of `Dataset` says which).
"""

from __future__ import annotations

import collections
import sys
import zipfile
import zlib
from dataclasses import InitVar, dataclass, field
from pathlib import Path

import numpy as np

from attnstudy.config import BUILD, DataConfig
from attnstudy.data import imdb
from attnstudy.data.text import has_negation, tokenize

PAD, UNK = 0, 1
CACHE = BUILD / "cache" / "data"
# The modules whose code decides the encoding (part of the cache key).
CODE = ("attnstudy.data.encode", "attnstudy.data.imdb", "attnstudy.data.text")


@dataclass(frozen=True)
class Split:
    """One encoded split. `ids` <int32>[n, max_len], right-padded with PAD."""

    ids: np.ndarray
    lengths: np.ndarray  # <int32>[n] tokens kept (1..max_len)
    full_lengths: np.ndarray  # <int32>[n] tokens before truncation
    labels: np.ndarray  # <int32>[n] 0 = negative, 1 = positive
    row_ids: np.ndarray  # <str>[n] the dataset's review ids (or row numbers)
    negation: np.ndarray  # <bool>[n] the review contains a negation cue (full text, see text.py)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def mask(self) -> np.ndarray:
        """<bool>[n, max_len]: True on real tokens."""
        return np.arange(self.ids.shape[1])[None, :] < self.lengths[:, None]


# The functions that may read the test split (`Dataset.final_test`), by module: the final
# evaluation of a trained run; the results writer (test predictions table, TF-IDF baseline,
# attention samples: pipeline.results); and this module's
# cache and data summary (rows, label balance, truncation: described, never chosen on).
# tests/test_protocol.py fails on any other caller; training, validation and the sweep never
# read it (also checked there, by running training on a Dataset whose test split is sealed).
FINAL_EVALUATION = {
    "attnstudy.evaluation.evaluate": ("evaluate_run",),
    "attnstudy.pipeline.results": ("baseline", "write_results", "attention_file"),
    "attnstudy.data.encode": ("_save_cached", "summary"),
}


class SealedTestSplit(AttributeError):
    """Raised where code that is not the final evaluation reaches for the test split."""


@dataclass(frozen=True)
class Dataset:
    """The encoded splits. The test split is passed in as `test` but is not an attribute: it is
    read through `final_test()` only, by the functions of FINAL_EVALUATION (see above)."""

    train: Split
    val: Split
    test: InitVar[Split | None]
    vocab: list[str]  # index -> word
    fingerprint: str  # identifies the raw data (from the checksums of the Parquet files)
    checksums: dict  # split -> sha256 of its Parquet file (or the hub fingerprint)
    grouping: str  # how validation was carved: "film" (movie column) or "review"
    _test: Split | None = field(init=False, repr=False, compare=False)

    def __post_init__(self, test: Split | None) -> None:
        object.__setattr__(self, "_test", test)

    def __getattr__(self, name: str):  # only reached for attributes that do not exist
        if name == "test":
            raise SealedTestSplit("Dataset.test is sealed: the test split is read by the final "
                                  "evaluation only, through Dataset.final_test()")
        raise AttributeError(name)

    def final_test(self) -> Split:
        """The test split, for the final evaluation only (FINAL_EVALUATION's functions)."""
        if self._test is None:
            raise SealedTestSplit("this Dataset carries no test split (training, validation "
                                  "and the sweep run without it)")
        return self._test

    def without_test(self) -> Dataset:
        """The same dataset without its test split, for code that must not read it (the sweep
        selects on validation only; tests/test_protocol.py trains on one)."""
        return Dataset(self.train, self.val, None, self.vocab, self.fingerprint,
                       self.checksums, self.grouping)

    @property
    def word_to_id(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.vocab)}


# ----------------------------------------------------------------------------- splitting

def stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of a seeded subset of size ~n with the label balance of `labels` (sorted)."""
    if n <= 0 or n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    picks = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = round(n * len(idx) / len(labels))
        picks.append(rng.choice(idx, size=k, replace=False))
    return np.sort(np.concatenate(picks))


def split_validation(labels: np.ndarray, groups: list | None, fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified train/validation indices, whole groups (films) on one side.

    Films are visited in a seeded order and taken while they fit the per-class quota, so the
    split is stratified to the review and never shares a film; without groups, every review
    is its own group. Not scikit-learn's: StratifiedGroupKFold assigns groups by another greedy
    rule (and GroupShuffleSplit does not stratify), so the split, hence every run, would change.
    """
    rng = np.random.default_rng(seed)
    n = len(labels)
    groups = list(range(n)) if groups is None else groups
    by_group: dict = collections.defaultdict(list)
    for i, g in enumerate(groups):
        by_group[g].append(i)
    keys = sorted(by_group, key=str)
    quota = {c: round(fraction * int((labels == c).sum())) for c in np.unique(labels)}
    taken = {c: 0 for c in quota}
    val: list[int] = []
    for gi in rng.permutation(len(keys)):
        members = by_group[keys[gi]]
        counts = collections.Counter(int(labels[i]) for i in members)
        if all(taken[c] + k <= quota[c] for c, k in counts.items()):
            val.extend(members)
            for c, k in counts.items():
                taken[c] += k
    val_idx = np.sort(np.array(val, dtype=np.int64))
    train_idx = np.setdiff1d(np.arange(n), val_idx)
    return train_idx, val_idx


# ----------------------------------------------------------------------------- vocabulary, encoding

def build_vocab(token_lists: list[list[str]], size: int) -> list[str]:
    """PAD, UNK, then the `size - 2` most frequent words (ties broken alphabetically)."""
    counts = collections.Counter(t for toks in token_lists for t in toks)
    words = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: size - 2]
    return ["<pad>", "<unk>"] + [w for w, _ in words]


def truncate(ids: list[int], max_len: int, strategy: str) -> list[int]:
    """Keep the first `max_len` ids ("head") or the first and last halves ("head_tail")."""
    if len(ids) <= max_len:
        return ids
    if strategy == "head":
        return ids[:max_len]
    head = max_len - max_len // 2
    return ids[:head] + ids[len(ids) - max_len // 2:]


def encode(token_lists: list[list[str]], word_to_id: dict[str, int], max_len: int,
           strategy: str = "head") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> ids <int32>[n, max_len], kept lengths <int32>[n], full lengths <int32>[n].

    An empty review keeps one UNK so every row has at least one real token (softmax over
    real tokens is then always defined).
    """
    n = len(token_lists)
    ids = np.zeros((n, max_len), np.int32)
    lengths = np.zeros(n, np.int32)
    full = np.zeros(n, np.int32)
    for i, toks in enumerate(token_lists):
        row = [word_to_id.get(t, UNK) for t in toks] or [UNK]
        full[i] = len(toks)
        row = truncate(row, max_len, strategy)
        ids[i, : len(row)] = row
        lengths[i] = len(row)
    return ids, lengths, full


def encode_texts(texts: list[str], vocab: list[str], cfg: DataConfig) -> Split:
    """Encode raw texts for prediction (labels unknown: -1)."""
    tokens = [tokenize(t) for t in texts]
    ids, lengths, full = encode(tokens, {w: i for i, w in enumerate(vocab)}, cfg.max_len,
                                cfg.truncation)
    n = len(texts)
    return Split(ids, lengths, full, -np.ones(n, np.int32), np.array([str(i) for i in range(n)]),
                 np.array([has_negation(t) for t in tokens], bool))


def dataset_key(cfg: DataConfig, fingerprint: str) -> str:
    """Cache key of an encoding: the data config, the raw data and the code that encodes."""
    from attnstudy.keys import cache_key

    return cache_key("data", vars(cfg), CODE, packages=("numpy", "datasets", "pyarrow"),
                     extra=fingerprint)


def load_dataset(cfg: DataConfig, data_dir: Path | None = None, use_cache: bool = True) -> Dataset:
    """The encoded train/validation/test splits and vocabulary for `cfg` (cached on disk).

    With a local data folder the cache is checked by file checksum before anything is parsed,
    so a warm start takes well under a second.
    """
    data_dir = data_dir or imdb.data_dir_from_env()
    raw = None
    if data_dir is not None:
        checksums = imdb.local_checksums(data_dir)
    else:
        raw, checksums = imdb.load_raw(None)
    fingerprint = imdb.fingerprint_of(checksums)
    cache = CACHE / f"{dataset_key(cfg, fingerprint)}.npz"
    if use_cache and cache.exists():
        try:
            return _load_cached(cache, fingerprint, checksums)
        except CORRUPT as e:  # a torn or foreign cache file is rebuilt, never trusted
            print(f"attnstudy: warning: the encoded-data cache {cache} is unreadable "
                  f"({type(e).__name__}); encoding again", file=sys.stderr)
    if raw is None:
        raw, checksums = imdb.load_raw(data_dir)
    train_raw, test_raw = raw["train"], raw["test"]
    labels = np.array(train_raw["label"], np.int32)
    keep = stratified_subset(labels, cfg.train_subset, cfg.split_seed)
    groups = [train_raw["movie"][i] for i in keep] if train_raw["movie"] else None
    tr_idx, va_idx = split_validation(labels[keep], groups, cfg.val_fraction, cfg.split_seed)
    tr_idx, va_idx = keep[tr_idx], keep[va_idx]
    test_labels = np.array(test_raw["label"], np.int32)
    te_idx = stratified_subset(test_labels, cfg.test_subset, cfg.split_seed + 1)

    train_tokens = [tokenize(train_raw["text"][i]) for i in tr_idx]
    vocab = build_vocab(train_tokens, cfg.vocab_size)  # training part only: no val/test leak
    w2i = {w: i for i, w in enumerate(vocab)}

    def make(tokens, idx, raw_split):
        ids, lengths, full = encode(tokens, w2i, cfg.max_len, cfg.truncation)
        return Split(ids, lengths, full, np.array([raw_split["label"][i] for i in idx], np.int32),
                     np.array([raw_split["id"][i] for i in idx]),
                     np.array([has_negation(t) for t in tokens], bool))

    ds = Dataset(
        train=make(train_tokens, tr_idx, train_raw),
        val=make([tokenize(train_raw["text"][i]) for i in va_idx], va_idx, train_raw),
        test=make([tokenize(test_raw["text"][i]) for i in te_idx], te_idx, test_raw),
        vocab=vocab, fingerprint=fingerprint, checksums=checksums,
        grouping="film" if groups is not None else "review")
    _save_cached(cache, ds)
    return ds


FIELDS = ("ids", "lengths", "full_lengths", "labels", "row_ids", "negation")


def _save_cached(path: Path, ds: Dataset) -> None:
    from attnstudy.files import atomic_write

    arrays = {"vocab": np.array(ds.vocab), "grouping": np.array(ds.grouping)}
    for name, s in (("train", ds.train), ("val", ds.val), ("test", ds.final_test())):
        for f in FIELDS:
            arrays[f"{name}.{f}"] = getattr(s, f)
    with atomic_write(path, "wb") as f:
        np.savez(f, **arrays)


# What a torn, truncated or foreign .npz raises when read: not a zip (BadZipFile), a damaged
# member (zlib.error, EOFError, ValueError), a missing member (KeyError), an unreadable file.
CORRUPT = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error)


def _load_cached(path: Path, fingerprint: str, checksums: dict) -> Dataset:
    with np.load(path, allow_pickle=False) as z:
        splits = {name: Split(*(z[f"{name}.{f}"] for f in FIELDS))
                  for name in ("train", "val", "test")}
        return Dataset(vocab=[str(w) for w in z["vocab"]], fingerprint=fingerprint,
                       checksums=checksums, grouping=str(z["grouping"]), **splits)


def summary(ds: Dataset, max_len: int) -> dict:
    """Rows per split, vocabulary size, token-length percentiles and share truncated."""
    test = ds.final_test()  # described (rows, balance, truncation, UNK rate), never chosen on
    splits = {"train": ds.train, "val": ds.val, "test": test}
    full = np.concatenate([ds.train.full_lengths, ds.val.full_lengths])
    pct = {f"p{q}": int(np.percentile(full, q)) for q in (10, 25, 50, 75, 90, 95, 99)}
    return {
        "rows": {"train": len(ds.train), "validation": len(ds.val), "test": len(test)},
        "positive_share": {s: float(x.labels.mean()) for s, x in splits.items()},
        "vocab_size": len(ds.vocab),
        "token_length_percentiles": pct,
        "mean_tokens": float(full.mean()),
        "truncated_share": {s: float((x.full_lengths > max_len).mean())
                            for s, x in splits.items()},
        "unk_rate_test": float(((test.ids == UNK) & test.mask).sum() / test.mask.sum()),
    }
