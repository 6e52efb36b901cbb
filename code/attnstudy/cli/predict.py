"""`python -m attnstudy predict`: P(positive) of a trained model per review (with `--explain`:
per-token attention and gradient importance), from the run cache or the published weights."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np

from attnstudy.cli.inputs import Chunk
from attnstudy.config import Config
from attnstudy.metrics import THRESHOLD, metrics
from attnstudy.pipeline.trained import Models


def json_line(rec: dict) -> str:
    """One JSON Lines record, UTF-8 text kept readable, but with the characters that
    `str.splitlines` (and many JSONL readers) take for line breaks escaped: reviews contain them."""
    line = json.dumps(rec, ensure_ascii=False)
    return line.translate({c: f"\\u{c:04x}" for c in (0x85, 0x2028, 0x2029)})


def predict_command(cfg: Config, names: list[str], seed: int | None, chunks: Iterator[Chunk],
                    explain: bool = False, as_json: bool = False) -> None:
    """P(positive) per review of each model in `names` (with `explain`: per-token attention and
    gradient importance); `as_json`: one JSON object per review and model, with its "model".
    Several models in text mode: one row per review, one column per model; in JSON or with
    `explain`, each chunk of reviews (--batch-size) model by model."""
    models = Models(cfg)
    predictors = [models.require(n, cfg.train.seeds[0] if seed is None else seed) for n in names]
    wide = len(predictors) > 1
    labels_all, probs_all = [], [[] for _ in predictors]
    if not as_json and not explain:
        print("\t".join(names) + "\ttext" if wide else "p_positive\tlabel\ttext")
    for texts, labels in chunks:
        probs = [pr.probs(texts) for pr in predictors]
        for k, pr in enumerate(predictors):
            if as_json or explain:
                _each(pr, texts, labels, probs[k], explain, as_json)
            if labels is not None:
                probs_all[k] += probs[k].tolist()
        if wide and not as_json and not explain:
            for i, t in enumerate(texts):
                print("\t".join(f"{p[i]:.4f}" for p in probs) + f"\t{_short(t)}")
        elif not as_json and not explain:
            for t, p in zip(texts, probs[0], strict=True):
                print(f"{p:.4f}\t{_decision(p)}\t{_short(t)}")
        if labels is not None:
            labels_all += labels
    if labels_all and not as_json:
        for pr, pa in zip(predictors, probs_all, strict=True):
            m = metrics(np.array(labels_all), np.array(pa))
            print(f"{pr.name}/seed{pr.seed}: n={len(labels_all)}  accuracy {m['accuracy']:.4f}  "
                  f"F1 {m['f1']:.4f}  ROC-AUC {m['roc_auc']:.4f}")


def _decision(p: float) -> str:
    return "positive" if p >= THRESHOLD else "negative"


def _short(text: str) -> str:
    return " ".join(text.split())[:80]


def _each(predictor, texts: list[str], labels, probs, explain: bool, as_json: bool) -> None:
    """One model's JSON records or coloured explanations for a chunk of reviews."""
    from attnstudy.evaluation import explain as ex

    details = ex.explain(predictor, texts) if explain else [{}] * len(texts)
    for i, (t, p, d) in enumerate(zip(texts, probs, details, strict=True)):
        if as_json:
            rec = {"text": t, "model": predictor.name, "prob": float(p),
                   "decision": _decision(p), **d}
            if labels is not None:
                rec["label"] = labels[i]
            print(json_line(rec))
        else:
            ex.show(t, float(p), _decision(p), d, predictor.name)
