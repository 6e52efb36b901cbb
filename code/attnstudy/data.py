"""IMDb input pipeline: load -> split -> tokenize -> vocabulary -> encode -> bucketed batches.

The official 25k test set is only encoded here; it is read for final evaluation, never for
choices (vocabulary, early stopping). Validation is carved from the training set, stratified by
label and grouped by film when the data has a `movie` column (the local copy does), so reviews
of one film never sit on both sides of the split.
"""

from __future__ import annotations

import collections
import hashlib
import html
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attnstudy.config import BUILD, DataConfig
from attnstudy.errors import UserError

PAD, UNK = 0, 1
CACHE = BUILD / "cache"
TOKENIZER_VERSION = "v1"  # bump when normalise/tokenize change: invalidates cached encodings
HUB_NAME = "stanfordnlp/imdb"

_TAG = re.compile(r"<[^>]*>")
_NT = re.compile(r"n't\b")
_TOKEN = re.compile(r"n't|[^\W\d_]+(?:'[^\W\d_]+)?|\d+|[!?]")


def normalise(text: str) -> str:
    """Lowercase, NFKC-normalise, unescape entities and replace HTML tags (`<br />`) by spaces."""
    text = unicodedata.normalize("NFKC", html.unescape(text))
    return _TAG.sub(" ", text).replace("\u2019", "'").lower()


def tokenize(text: str) -> list[str]:
    """Word tokens with negation kept as its own token: "didn't" -> ["did", "n't"]."""
    return _TOKEN.findall(_NT.sub(" n't", normalise(text)))


@dataclass(frozen=True)
class Split:
    """One encoded split. `ids` <int32>[n, max_len], right-padded with PAD."""

    ids: np.ndarray
    lengths: np.ndarray  # <int32>[n] tokens kept (1..max_len)
    full_lengths: np.ndarray  # <int32>[n] tokens before truncation
    labels: np.ndarray  # <int32>[n] 0 = negative, 1 = positive
    row_ids: np.ndarray  # <str>[n] the dataset's review ids (or row numbers)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def mask(self) -> np.ndarray:
        """<bool>[n, max_len]: True on real tokens."""
        return np.arange(self.ids.shape[1])[None, :] < self.lengths[:, None]


@dataclass(frozen=True)
class Dataset:
    train: Split
    val: Split
    test: Split
    vocab: list[str]  # index -> word
    fingerprint: str  # identifies the raw data (from the checksums of the Parquet files)
    checksums: dict  # split -> sha256 of its Parquet file (or the hub fingerprint)

    @property
    def word_to_id(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.vocab)}


# ----------------------------------------------------------------------------- loading

def data_dir_from_env() -> Path | None:
    value = os.environ.get("IMDB_DIR")
    return Path(value) if value else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def local_files(data_dir: Path) -> dict[str, Path]:
    """train/test Parquet paths under `data_dir`, checked to exist."""
    if not data_dir.is_dir():
        raise UserError(f"IMDB_DIR {data_dir} is not a directory; expected a folder with "
                        "train.parquet and test.parquet")
    files = {s: data_dir / f"{s}.parquet" for s in ("train", "test")}
    for split, f in files.items():
        if not f.is_file():
            raise UserError(f"missing {f}: expected the IMDb {split} split as Parquet "
                            "(columns text, label)")
    return files


def load_raw(data_dir: Path | None = None) -> tuple[dict[str, dict[str, list]], dict[str, str]]:
    """Load train/test columns as python lists, plus per-split checksums.

    From `data_dir` (train.parquet, test.parquet) when given or set in IMDB_DIR, else the hub
    dataset `stanfordnlp/imdb`. Any problem is one `UserError` line naming the path.
    """
    import datasets

    datasets.disable_progress_bars()
    data_dir = data_dir or data_dir_from_env()
    if data_dir is None:
        try:
            ds = datasets.load_dataset(HUB_NAME)
        except Exception as e:  # no network, hub down, ...
            raise UserError(f"could not load {HUB_NAME} from the Hugging Face hub "
                            f"({type(e).__name__}); on an offline machine set IMDB_DIR to a folder "
                            "with train.parquet and test.parquet") from None
        checksums = {s: ds[s]._fingerprint for s in ("train", "test")}
        source = HUB_NAME
    else:
        files = local_files(data_dir)
        for split, f in files.items():
            _check_parquet(f, split)
        try:
            ds = datasets.load_dataset("parquet", data_files={k: str(v) for k, v in files.items()},
                                       cache_dir=str(CACHE / "hf"))
        except Exception as e:
            msg = str(e).splitlines()[0][:120] if str(e) else ""
            raise UserError(f"cannot read Parquet files in {data_dir}: expected train.parquet and "
                            f"test.parquet with columns text, label ({type(e).__name__}: {msg})"
                            ) from None
        checksums = {s: _sha256(f) for s, f in files.items()}
        source = str(data_dir)
    out = {}
    for split in ("train", "test"):
        out[split] = _check_split(ds[split], f"{source} [{split}]")
    return out, checksums


def _check_parquet(path: Path, split: str) -> None:
    """Fail early, naming the file, when it is not Parquet, is empty or lacks text/label."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
    except Exception:
        raise UserError(f"{path} is not a Parquet file; expected the IMDb {split} split as "
                        "Parquet with columns text, label") from None
    names = set(meta.schema.names)
    for col in ("text", "label"):
        if col not in names:
            raise UserError(f"{path}: missing column {col!r}; expected columns text, label")
    if meta.num_rows == 0:
        raise UserError(f"{path}: the {split} split is empty; expected labelled reviews")


def fingerprint_of(checksums: dict[str, str]) -> str:
    return hashlib.sha256(repr(sorted(checksums.items())).encode()).hexdigest()[:16]


def _check_split(table, where: str) -> dict[str, list]:
    cols = set(table.column_names)
    missing = [c for c in ("text", "label") if c not in cols]
    if missing:
        raise UserError(f"{where}: missing column {missing[0]!r}; expected columns text, label")
    if len(table) == 0:
        raise UserError(f"{where}: the split is empty; expected labelled reviews")
    text, label = list(table["text"]), table["label"]
    bad = [x for x in label if x not in (0, 1)]
    if bad:
        raise UserError(f"{where}: label {bad[0]!r} outside {{0, 1}}")
    for i, t in enumerate(text):
        if isinstance(t, bytes):  # a binary column: text must be valid UTF-8
            try:
                t = text[i] = t.decode("utf-8")
            except UnicodeDecodeError:
                raise UserError(f"{where}: review {i} holds bytes that are not valid UTF-8"
                                ) from None
        if not isinstance(t, str) or not t.strip():
            raise UserError(f"{where}: review {i} is empty or whitespace-only")
        if "\ufffd" in t:
            raise UserError(f"{where}: review {i} holds bytes that are not valid UTF-8")
    n = len(table)
    out = {"text": text, "label": [int(x) for x in label],
           "id": list(table["id"]) if "id" in cols else [str(i) for i in range(n)]}
    out["movie"] = list(table["movie"]) if "movie" in cols else None
    return out


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
    is its own group.
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
    ids, lengths, full = encode([tokenize(t) for t in texts], {w: i for i, w in enumerate(vocab)},
                                cfg.max_len, cfg.truncation)
    n = len(texts)
    return Split(ids, lengths, full, -np.ones(n, np.int32), np.array([str(i) for i in range(n)]))


def load_dataset(cfg: DataConfig, data_dir: Path | None = None, use_cache: bool = True) -> Dataset:
    """The encoded train/validation/test splits and vocabulary for `cfg` (cached on disk).

    With a local data folder the cache is checked by file checksum before anything is parsed,
    so a warm start takes well under a second.
    """
    data_dir = data_dir or data_dir_from_env()
    raw = None
    if data_dir is not None:
        checksums = {s: _sha256(f) for s, f in local_files(data_dir).items()}
    else:
        raw, checksums = load_raw(None)
    fingerprint = fingerprint_of(checksums)
    key = hashlib.sha256(repr((fingerprint, TOKENIZER_VERSION, sorted(vars(cfg).items())))
                         .encode()).hexdigest()[:16]
    cache = CACHE / "data" / f"{key}.npz"
    if use_cache and cache.exists():
        try:
            return _load_cached(cache, fingerprint, checksums)
        except Exception:  # a torn or old cache file is rebuilt, never trusted
            pass
    if raw is None:
        raw, checksums = load_raw(data_dir)
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
                     np.array([raw_split["id"][i] for i in idx]))

    ds = Dataset(
        train=make(train_tokens, tr_idx, train_raw),
        val=make([tokenize(train_raw["text"][i]) for i in va_idx], va_idx, train_raw),
        test=make([tokenize(test_raw["text"][i]) for i in te_idx], te_idx, test_raw),
        vocab=vocab, fingerprint=fingerprint, checksums=checksums)
    _save_cached(cache, ds)
    return ds


def _save_cached(path: Path, ds: Dataset) -> None:
    from attnstudy.io import atomic_write

    arrays = {"vocab": np.array(ds.vocab), "fingerprint": np.array(ds.fingerprint)}
    for name in ("train", "val", "test"):
        s = getattr(ds, name)
        for f in ("ids", "lengths", "full_lengths", "labels", "row_ids"):
            arrays[f"{name}.{f}"] = getattr(s, f)
    with atomic_write(path, "wb") as f:
        np.savez(f, **arrays)


def _load_cached(path: Path, fingerprint: str, checksums: dict) -> Dataset:
    z = np.load(path)
    splits = {name: Split(*(z[f"{name}.{f}"] for f in ("ids", "lengths", "full_lengths",
                                                         "labels", "row_ids")))
              for name in ("train", "val", "test")}
    return Dataset(vocab=[str(w) for w in z["vocab"]], fingerprint=fingerprint,
                   checksums=checksums, **splits)


def load_texts(row_ids: np.ndarray, split: str = "test", data_dir: Path | None = None) -> list[str]:
    """Raw texts of the given review ids (for prediction samples and attention dumps)."""
    raw, _ = load_raw(data_dir)
    where = {rid: i for i, rid in enumerate(raw[split]["id"])}
    return [raw[split]["text"][where[r]] for r in row_ids]


# ----------------------------------------------------------------------------- batching

def bucket_of(lengths: np.ndarray, edges: tuple[int, ...]) -> np.ndarray:
    """Index of the smallest edge >= length, per row."""
    return np.searchsorted(np.asarray(edges), lengths, side="left")


def epoch_batches(lengths: np.ndarray, edges: tuple[int, ...], batch_size: int, seed: int,
                  epoch: int) -> list[tuple[int, np.ndarray]]:
    """Training batches for one epoch as (width, row indices), deterministic in (seed, epoch).

    Rows are shuffled, grouped by length bucket, cut into full batches (each bucket's remainder
    is left out of this epoch; the shuffle leaves out different rows each epoch) and the batches
    shuffled again, so a batch is padded only up to its bucket's edge.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    buckets = bucket_of(lengths[order], edges)
    batches = []
    for b, width in enumerate(edges):
        rows = order[buckets == b]
        for start in range(0, len(rows) - batch_size + 1, batch_size):
            batches.append((width, rows[start:start + batch_size]))
    if not batches:  # tiny data: one batch of everything, padded to the widest edge
        take = order[:batch_size]
        batches = [(edges[-1], np.resize(take, batch_size))]
    return [batches[i] for i in rng.permutation(len(batches))]


def eval_batches(lengths: np.ndarray, edges: tuple[int, ...],
                 batch_size: int) -> list[tuple[int, np.ndarray, int]]:
    """Evaluation batches over every row once: (width, indices padded to batch_size, n_real).

    Rows are sorted by length so each batch is narrow; the last batch of a bucket repeats
    its first row to fill the fixed shape, and only the first `n_real` outputs are kept.
    """
    order = np.argsort(lengths, kind="stable")
    buckets = bucket_of(lengths[order], edges)
    out = []
    for b, width in enumerate(edges):
        rows = order[buckets == b]
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            padded = np.concatenate([chunk, np.full(batch_size - len(chunk), chunk[0])])
            out.append((width, padded, len(chunk)))
    return out


def summary(ds: Dataset, max_len: int) -> dict:
    """Rows per split, vocabulary size, token-length percentiles and share truncated."""
    full = np.concatenate([ds.train.full_lengths, ds.val.full_lengths])
    pct = {f"p{q}": int(np.percentile(full, q)) for q in (10, 25, 50, 75, 90, 95, 99)}
    return {
        "rows": {"train": len(ds.train), "validation": len(ds.val), "test": len(ds.test)},
        "positive_share": {s: float(getattr(ds, s).labels.mean())
                           for s in ("train", "val", "test")},
        "vocab_size": len(ds.vocab),
        "token_length_percentiles": pct,
        "mean_tokens": float(full.mean()),
        "truncated_share": {s: float((getattr(ds, s).full_lengths > max_len).mean())
                            for s in ("train", "val", "test")},
        "unk_rate_test": float(((ds.test.ids == UNK) & ds.test.mask).sum() / ds.test.mask.sum()),
    }
