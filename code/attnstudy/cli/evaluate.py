"""`python -m attnstudy evaluate --input FILE`: every trained model of a profile on one file of
reviews; with a label column, accuracy with a bootstrap 95% CI, F1, ROC-AUC and paired
differences between models (evaluation.compare)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np

from attnstudy.cli.inputs import Chunk
from attnstudy.config import Config
from attnstudy.errors import UserError
from attnstudy.metrics import decide
from attnstudy.pipeline.trained import Models


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
