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
