"""`predict` and `evaluate`: trained models on any text, streamed in chunks.

Inputs are review texts on the command line or a TSV/CSV file with a text column (and an
optional label column: then accuracy, F1 and ROC-AUC are printed too). Files are read a chunk
at a time, so a file larger than memory is fine.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from attnstudy.config import Config
from attnstudy.data.encode import Dataset, encode_texts, load_dataset
from attnstudy.errors import UserError
from attnstudy.metrics import THRESHOLD, metrics
from attnstudy.models.inference import compiled_predict, enable_compile_cache, predict_probs

Chunk = tuple[list[str], list[int] | None]


def iter_inputs(texts: list[str], path: Path | None, column: str, label_column: str,
                chunk: int) -> Iterator[Chunk]:
    """Yield (texts, labels or None) chunks; labels only when the file has `label_column`."""
    for i, t in enumerate(texts):
        if not t.strip():
            raise UserError(f"text {i + 1} is empty; give a review to classify")
    if texts:
        yield list(texts), None
    if path is None:
        return
    try:
        f = path.open(encoding="utf-8", newline="")
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    with f:
        csv.field_size_limit(sys.maxsize)
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
        reader = csv.DictReader(f, delimiter=delimiter)
        try:
            header = reader.fieldnames or []
        except UnicodeDecodeError:
            raise UserError(f"{path} is not UTF-8 text") from None
        if column not in header:
            raise UserError(f"{path} has no column {column!r} (columns: "
                            f"{', '.join(header) or 'none'}); use --column")
        has_labels = label_column in header
        buf_t, buf_l = [], []
        try:
            for line, row in enumerate(reader, start=2):
                text = row.get(column) or ""
                if not text.strip():
                    raise UserError(f"{path}:{line}: empty text")
                buf_t.append(text)
                if has_labels:
                    try:
                        label = int(row[label_column])
                        assert label in (0, 1)
                    except (TypeError, ValueError, AssertionError):
                        raise UserError(f"{path}:{line}: label {row[label_column]!r} is not 0 "
                                        "or 1") from None
                    buf_l.append(label)
                if len(buf_t) == chunk:
                    yield buf_t, buf_l if has_labels else None
                    buf_t, buf_l = [], []
        except UnicodeDecodeError:
            raise UserError(f"{path} is not UTF-8 text") from None
        if buf_t:
            yield buf_t, buf_l if has_labels else None


class Predictor:
    """A trained run's best parameters behind `probs(texts) -> <float32>[n]`."""

    def __init__(self, cfg: Config, name: str, seed: int, ds: Dataset):
        from attnstudy.training import runner

        enable_compile_cache()
        self.params = runner.load_best_params(cfg, name, seed, ds.fingerprint)
        if self.params is None:
            raise UserError(f"no trained {name} (seed {seed}) for the {cfg.profile} profile; "
                            f"train it with `python -m attnstudy train --profile {cfg.profile} "
                            f"--models {name} --seeds {seed}` or `just build {cfg.profile}`")
        self.cfg, self.ds, self.name, self.seed = cfg, ds, name, seed
        self.predict = compiled_predict(name, cfg.model, len(ds.vocab), cfg.data.max_len)[1]

    def probs(self, texts: list[str]) -> np.ndarray:
        split = encode_texts(texts, self.ds.vocab, self.cfg.data)
        return predict_probs(self.predict, self.params, split, self.cfg.data.bucket_edges,
                             self.cfg.train.eval_batch_size)


def _print_metrics(label: str, labels: list[int], probs: list[float]) -> None:
    m = metrics(np.array(labels), np.array(probs))
    print(f"{label}: n={len(labels)}  accuracy {m['accuracy']:.4f}  F1 {m['f1']:.4f}  "
          f"ROC-AUC {m['roc_auc']:.4f}")


def predict_command(cfg: Config, name: str, seed: int | None, chunks: Iterator[Chunk]) -> None:
    seed = cfg.train.seeds[0] if seed is None else seed
    predictor = Predictor(cfg, name, seed, load_dataset(cfg.data))
    labels_all, probs_all = [], []
    print("p_positive\tlabel\ttext")
    for texts, labels in chunks:
        probs = predictor.probs(texts)
        for t, p in zip(texts, probs, strict=True):
            excerpt = " ".join(t.split())[:80]
            print(f"{p:.4f}\t{'positive' if p >= THRESHOLD else 'negative'}\t{excerpt}")
        if labels is not None:
            labels_all += labels
            probs_all += probs.tolist()
    if labels_all:
        _print_metrics(f"{name}/seed{seed}", labels_all, probs_all)


def evaluate_command(cfg: Config, chunks: Iterator[Chunk]) -> None:
    """Every trained model of the profile on one labelled (or unlabelled) file."""
    ds = load_dataset(cfg.data)
    predictors = []
    for name in cfg.train.models:
        for seed in cfg.train.seeds:
            try:
                predictors.append(Predictor(cfg, name, seed, ds))
            except UserError:
                continue
    if not predictors:
        raise UserError(f"no trained models for the {cfg.profile} profile; run "
                        f"`just build {cfg.profile}`")
    probs = {(p.name, p.seed): [] for p in predictors}
    labels_all: list[int] = []
    n = 0
    for texts, labels in chunks:
        n += len(texts)
        for p in predictors:
            probs[(p.name, p.seed)] += p.probs(texts).tolist()
        if labels is not None:
            labels_all += labels
    if not labels_all:
        print("model\tmean P(positive)\tshare positive")
        for (name, seed), ps in probs.items():
            a = np.array(ps)
            print(f"{name}/seed{seed}\t{a.mean():.4f}\t{(a >= THRESHOLD).mean():.4f}  (n={n})")
        return
    for (name, seed), ps in probs.items():
        _print_metrics(f"{name}/seed{seed}", labels_all, ps)
