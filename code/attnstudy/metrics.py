"""The decision rule and the test metrics, defined once for training, evaluation, analysis and
`predict`: a review is predicted positive when P(positive) >= 0.5."""

from __future__ import annotations

import numpy as np

THRESHOLD = 0.5
METRICS = ("accuracy", "f1", "precision", "recall", "roc_auc", "log_loss")
METRIC_LABELS = {"accuracy": "Accuracy", "f1": "F1", "precision": "Precision", "recall": "Recall",
                 "roc_auc": "ROC-AUC", "log_loss": "Log loss"}
LOWER_IS_BETTER = frozenset({"log_loss"})
CLIP = 1e-7  # probabilities are clipped to [CLIP, 1 - CLIP] for the log loss


def decide(probs) -> np.ndarray:
    """P(positive) -> 0/1 labels (positive when >= 0.5)."""
    return (np.asarray(probs, dtype=np.float64) >= THRESHOLD).astype(np.int64)


def log_loss(labels, probs) -> float:
    """Mean binary cross-entropy of P(positive) (scikit-learn's), clipped to [1e-7, 1 - 1e-7]."""
    from sklearn.metrics import log_loss as sk_log_loss

    p = np.clip(np.asarray(probs, dtype=np.float64), CLIP, 1 - CLIP)
    return float(sk_log_loss(np.asarray(labels).astype(np.int64), p, labels=[0, 1]))


def metrics(labels, probs) -> dict:
    """accuracy, f1, precision, recall (positive class), roc_auc and log_loss of P(positive).

    roc_auc is NaN when only one class is present.
    """
    from sklearn import metrics as skm

    y = np.asarray(labels).astype(np.int64)
    p = np.asarray(probs, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1 or len(y) == 0:
        raise ValueError(f"labels {y.shape} and probs {p.shape} must be equal, non-empty 1-d")
    pred = decide(p)
    both = len(np.unique(y)) == 2
    return {
        "accuracy": float(skm.accuracy_score(y, pred)),
        "f1": float(skm.f1_score(y, pred, zero_division=0)),
        "precision": float(skm.precision_score(y, pred, zero_division=0)),
        "recall": float(skm.recall_score(y, pred, zero_division=0)),
        "roc_auc": float(skm.roc_auc_score(y, p)) if both else float("nan"),
        "log_loss": log_loss(y, p),
    }
