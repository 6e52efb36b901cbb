"""`predict` and `evaluate`: trained models on any text, streamed in chunks.

Parameters come from the run cache (build/cache/runs, found through the data's fingerprint)
when the run is there, else from the weights published beside the profile's results
(<results>/weights, attnstudy.training.publish), which need neither the dataset nor a network.
Each model encodes text with the vocabulary and config it was trained with.

Inputs are review texts on the command line or a CSV/TSV/Parquet/JSON-lines file with a text
column (and an optional label column: then accuracy with a bootstrap 95% CI, F1, ROC-AUC and
paired differences between models are printed too). Files are read a chunk at a time, so a
file larger than memory is fine.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from attnstudy.config import Config
from attnstudy.data.encode import Split, encode_texts
from attnstudy.errors import UserError
from attnstudy.metrics import THRESHOLD, decide, metrics

Chunk = tuple[list[str], list[int] | None]
Row = tuple[str, dict]  # (where, e.g. "file.csv:3", the row's fields)


# ----------------------------------------------------------------------------- inputs

def _csv_rows(path: Path) -> tuple[list[str], Iterator[Row]]:
    f = path.open(encoding="utf-8", newline="")
    csv.field_size_limit(sys.maxsize)
    reader = csv.DictReader(f, delimiter="\t" if path.suffix.lower() in (".tsv", ".tab") else ",")
    header = reader.fieldnames or []

    def rows():
        with f:
            for line, row in enumerate(reader, start=2):
                yield f"{path}:{line}", row
    return header, rows()


def _parquet_rows(path: Path, wanted: list[str]) -> tuple[list[str], Iterator[Row]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception:
        raise UserError(f"{path} is not a readable Parquet file") from None
    header = pf.schema_arrow.names

    def rows():
        n = 0
        for batch in pf.iter_batches(batch_size=1024, columns=[c for c in wanted if c in header]):
            for row in batch.to_pylist():
                n += 1
                yield f"{path}: row {n}", row
    return header, rows()


def _jsonl_rows(path: Path) -> tuple[list[str], Iterator[Row]]:
    f = path.open(encoding="utf-8")

    def parsed():
        with f:
            for line, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except ValueError:
                    raise UserError(f"{path}:{line}: not a JSON object") from None
                if not isinstance(row, dict):
                    raise UserError(f"{path}:{line}: not a JSON object")
                yield f"{path}:{line}", row
    it = parsed()
    first = next(it, None)
    if first is None:
        return [], iter(())

    def rows():
        yield first
        yield from it
    return list(first[1]), rows()


def _open_rows(path: Path, wanted: list[str]) -> tuple[list[str], Iterator[Row]]:
    """(column names, rows) of a CSV/TSV, Parquet (.parquet, .pq) or JSON-lines (.jsonl,
    .ndjson) file, read lazily."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return _parquet_rows(path, wanted)
        if suffix in (".jsonl", ".ndjson"):
            return _jsonl_rows(path)
        return _csv_rows(path)
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text") from None


def _label(value, where: str) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        label = int(value)  # "1", 1 or 1.0
        if label not in (0, 1) or label != float(value):
            raise ValueError
    except (TypeError, ValueError):
        raise UserError(f"{where}: label {value!r} is not 0 or 1") from None
    return label


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
    header, rows = _open_rows(path, [column, label_column])
    if column not in header:
        raise UserError(f"{path} has no column {column!r} (columns: "
                        f"{', '.join(map(str, header)) or 'none'}); use --column")
    has_labels = label_column in header
    buf_t, buf_l = [], []
    try:
        for where, row in rows:
            text = row.get(column)
            if text is None or (isinstance(text, str) and not text.strip()):
                raise UserError(f"{where}: empty text")
            if not isinstance(text, str):
                raise UserError(f"{where}: text {text!r} is not a string")
            buf_t.append(text)
            if has_labels:
                buf_l.append(_label(row.get(label_column), where))
            if len(buf_t) == chunk:
                yield buf_t, buf_l if has_labels else None
                buf_t, buf_l = [], []
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text") from None
    if buf_t:
        yield buf_t, buf_l if has_labels else None


# ----------------------------------------------------------------------------- trained models

class Predictor:
    """One trained model behind `probs(texts) -> <float32>[n]`, with the vocabulary and config
    it was trained with; `source` says where its parameters came from."""

    def __init__(self, cfg: Config, name: str, seed: int, vocab: list[str], params,
                 source: str):
        from attnstudy.models.inference import compiled_predict, enable_compile_cache

        enable_compile_cache()
        self.cfg, self.name, self.seed, self.vocab, self.params = cfg, name, seed, vocab, params
        self.source = source
        self.model, self.predict = compiled_predict(name, cfg.model, len(vocab), cfg.data.max_len)

    def encode(self, texts: list[str]) -> Split:
        return encode_texts(texts, self.vocab, self.cfg.data)

    def probs(self, texts: list[str]) -> np.ndarray:
        from attnstudy.models.inference import predict_probs

        return predict_probs(self.predict, self.params, self.encode(texts),
                             self.cfg.data.bucket_edges, self.cfg.train.eval_batch_size)


class Models:
    """Where a profile's trained models are: the run cache first, else the published weights."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self._dataset = self._published = self._fingerprint = None

    def dataset(self):
        from attnstudy.data.encode import load_dataset

        if self._dataset is None:
            self._dataset = load_dataset(self.cfg.data)
        return self._dataset

    def published(self):
        from attnstudy.training import publish, runner

        if self._published is None:
            folder = runner.results_dir(self.cfg) / publish.WEIGHTS
            self._published = publish.load_published(folder) or False
        return self._published or None

    def fingerprint(self, name: str, seed: int) -> str | None:
        """The data fingerprint keying the run cache; None when the run cannot be there. Read
        from a local data folder's checksums; from the hub only when such a run is cached."""
        from attnstudy.data import imdb
        from attnstudy.training import runner
        from attnstudy.training.checkpoints import BEST

        if self._fingerprint is None:
            local = imdb.data_dir_from_env()
            if local is not None:
                self._fingerprint = runner.local_fingerprint(local)
            elif any((runner.CACHE / "runs").glob(f"{name}-seed{seed}-*/{BEST}")):
                self._fingerprint = self.dataset().fingerprint
        return self._fingerprint

    def get(self, name: str, seed: int) -> Predictor | None:
        from attnstudy.training import runner

        fingerprint = self.fingerprint(name, seed)
        if fingerprint is not None:
            params = runner.load_best_params(self.cfg, name, seed, fingerprint)
            if params is not None:
                return Predictor(self.cfg, name, seed, self.dataset().vocab, params, "run cache")
        pub = self.published()
        if pub is not None and name in pub.models and seed == pub.seed:
            return Predictor(pub.cfg, name, seed, pub.vocab, pub.params(name), str(pub.folder))
        return None

    def require(self, name: str, seed: int) -> Predictor:
        found = self.get(name, seed)
        if found is not None:
            return found
        cfg, pub = self.cfg, self.published()
        where = "" if seed in cfg.train.seeds else f" (its seeds: {_join(cfg.train.seeds)})"
        held = f"; {pub.folder} holds seed {pub.seed} of {_join(pub.models)}" if pub else ""
        raise UserError(f"no trained {name} (seed {seed}) for the {cfg.profile} profile{where}"
                        f"{held}; train it with `python -m attnstudy train --profile "
                        f"{cfg.profile} --models {name} --seeds {seed}`")


def _join(values) -> str:
    return ", ".join(map(str, values))


# ----------------------------------------------------------------------------- commands

def json_line(rec: dict) -> str:
    """One JSON Lines record, UTF-8 text kept readable, but with the characters that
    `str.splitlines` (and many JSONL readers) take for line breaks escaped: reviews contain them."""
    line = json.dumps(rec, ensure_ascii=False)
    return line.translate({c: f"\\u{c:04x}" for c in (0x85, 0x2028, 0x2029)})


def predict_command(cfg: Config, name: str, seed: int | None, chunks: Iterator[Chunk],
                    explain: bool = False, as_json: bool = False) -> None:
    """P(positive) per review (with `explain`: per-token attention and gradient importance);
    `as_json`: one JSON object per review and line."""
    from attnstudy.evaluation import explain as ex

    predictor = Models(cfg).require(name, cfg.train.seeds[0] if seed is None else seed)
    labels_all, probs_all = [], []
    if not as_json and not explain:
        print("p_positive\tlabel\ttext")
    for texts, labels in chunks:
        probs = predictor.probs(texts)
        details = ex.explain(predictor, texts) if explain else [{}] * len(texts)
        for i, (t, p, d) in enumerate(zip(texts, probs, details, strict=True)):
            decision = "positive" if p >= THRESHOLD else "negative"
            if as_json:
                rec = {"text": t, "prob": float(p), "decision": decision, **d}
                if labels is not None:
                    rec["label"] = labels[i]
                print(json_line(rec))
            elif explain:
                ex.show(t, float(p), decision, d, predictor.name)
            else:
                print(f"{p:.4f}\t{decision}\t{' '.join(t.split())[:80]}")
        if labels is not None:
            labels_all += labels
            probs_all += probs.tolist()
    if labels_all and not as_json:
        m = metrics(np.array(labels_all), np.array(probs_all))
        print(f"{name}/seed{predictor.seed}: n={len(labels_all)}  accuracy {m['accuracy']:.4f}  "
              f"F1 {m['f1']:.4f}  ROC-AUC {m['roc_auc']:.4f}")


def evaluate_command(cfg: Config, chunks: Iterator[Chunk], as_json: bool = False) -> None:
    """Every trained model of the profile (run cache or published weights) on one file."""
    from attnstudy.evaluation.compare import compare, print_comparison

    models = Models(cfg)
    predictors = [p for name in cfg.train.models for seed in cfg.train.seeds
                  if (p := models.get(name, seed)) is not None]
    if not predictors:
        raise UserError(f"no trained models for the {cfg.profile} profile and no published "
                        f"weights; run `just build {cfg.profile}`")
    probs: dict[tuple[str, int], list[float]] = {(p.name, p.seed): [] for p in predictors}
    labels_all: list[int] = []
    for texts, labels in chunks:
        for p in predictors:
            probs[(p.name, p.seed)] += p.probs(texts).tolist()
        if labels is not None:
            labels_all += labels
    n = len(next(iter(probs.values())))
    if n == 0:
        raise UserError("the input holds no reviews")
    sources = {(p.name, p.seed): p.source for p in predictors}
    if not labels_all:
        rows = [{"model": m, "seed": s, "source": sources[(m, s)], "n": n,
                 "mean_prob": float(np.mean(ps)), "share_positive": float(decide(ps).mean())}
                for (m, s), ps in probs.items()]
        if as_json:
            print(json.dumps({"n": n, "runs": rows}, indent=1))
            return
        print("model\tmean P(positive)\tshare positive")
        for r in rows:
            print(f"{r['model']}/seed{r['seed']}\t{r['mean_prob']:.4f}\t"
                  f"{r['share_positive']:.4f}  (n={n})")
        return
    result = compare(probs, np.array(labels_all), sources, cfg.analysis.bootstrap_samples,
                     cfg.analysis.seed)
    if as_json:
        print(json.dumps(result, indent=1))
    else:
        print_comparison(result)
