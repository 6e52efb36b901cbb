"""How peaked is the attention? Statistics of the learned weights over a whole split, per run
(additive and mhsa), computed in the same jitted pass as the ablations (`ablations.per_review`).

Per review (n = its real tokens), of its token distribution:

  entropy            normalised entropy H(w) / log n: 1 = uniform, 0 = one token; 1 when n = 1
  max_weight         the largest weight, which is also the mass on the top-1 token
  top5_mass          the mass on the 5 highest-weighted tokens (1 when n <= 5)
  position_spearman  Spearman correlation of weight with token position; undefined (left out)
                     when n < 2 or the weights are constant
  row_entropy        mhsa only: mean over real queries of each query row's normalised entropy
  row_max_weight     mhsa only: mean over real queries of each query row's largest weight

The token distribution is additive's weights; for mhsa the attention *received* per token
(column sums over real queries / n), averaged over heads at the top level (what the heatmaps and
the faithfulness checks use) and per head under `heads`. Each statistic is summarised over the
reviews by its mean and 5/25/50/75/95% quantiles; `uniform` holds the same summaries for
uniform weights on the same reviews (entropy 1, max weight 1/n, top-5 mass min(5, n)/n).
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from attnstudy.models import attention_ops

QUANTILES = (5, 25, 50, 75, 95)
STATS = ("entropy", "max_weight", "top5_mass", "position_spearman")
ROW_STATS = ("row_entropy", "row_max_weight")


def summarise(values) -> dict:
    """{"mean", "q05", "q25", "q50", "q75", "q95", "n"} over the finite values (None when none)."""
    x = np.asarray(values, np.float64).ravel()
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return {"mean": None, **{f"q{q:02d}": None for q in QUANTILES}, "n": 0}
    qs = np.percentile(x, QUANTILES)
    return {"mean": float(x.mean()), **{f"q{q:02d}": float(v) for q, v in zip(QUANTILES, qs,
                                                                               strict=True)},
            "n": int(len(x))}


def position_spearman(dist: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Spearman correlation of weight with position over each row's real tokens.

    dist <float>[n, c, t] (zero on padding), lengths <int>[n] -> <float64>[n, c]; NaN when
    length < 2 or the weights are constant. Ties get average ranks (as scipy.stats.spearmanr).
    """
    n, c, t = dist.shape
    real = (np.arange(t)[None, :] < lengths[:, None])[:, None, :]  # [n, 1, t]
    # padding ranks above every real token, so real tokens keep their ranks 1..len among themselves
    ranks = sps.rankdata(np.where(real, dist, np.inf), axis=-1)
    centre = (lengths[:, None, None] + 1) / 2  # the mean rank of 1..len, ties or not
    rx = np.where(real, ranks - centre, 0.0)
    ry = np.where(real, np.arange(1, t + 1) - centre, 0.0)
    sxx, syy = (rx ** 2).sum(-1), (ry ** 2).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (rx * ry).sum(-1) / np.sqrt(sxx * syy)
    return np.where((sxx > 0) & (syy > 0), rho, np.nan)


def uniform_reference(lengths: np.ndarray) -> dict:
    """The statistics' summaries for uniform weights on reviews of these lengths."""
    n = np.asarray(lengths, np.float64)
    return {"entropy": summarise(np.ones_like(n)), "max_weight": summarise(1 / n),
            "top5_mass": summarise(np.minimum(attention_ops.TOP_K, n) / n)}


def per_review(st: dict, lengths: np.ndarray) -> dict:
    """`ablations.per_review`'s statistics of a split <[n, c]> (its "dist" <[n, c, t]> replaced
    by "position_spearman" <[n, c]>), as {statistic: array}."""
    st = dict(st)
    dist, lengths = st.pop("dist"), np.asarray(lengths)
    chunk = 2048  # bounds the float64 rank arrays on the full test set
    st["position_spearman"] = np.concatenate([
        position_spearman(dist[i:i + chunk], lengths[i:i + chunk])
        for i in range(0, len(lengths), chunk)])
    return st


def summary(st: dict, lengths: np.ndarray) -> dict:
    """A run's record from `per_review`'s arrays (see the module docstring)."""
    def block(col: int) -> dict:
        out = {k: summarise(st[k][:, col]) for k in STATS}
        return out | {k: summarise(st[k][:, col]) if k in st else None for k in ROW_STATS}

    c = st["entropy"].shape[1]
    return {"n_reviews": int(len(lengths)), "source": "received" if c > 1 else "weights",
            **block(0), "uniform": uniform_reference(lengths),
            "heads": [block(h) for h in range(1, c)] if c > 1 else None}


def measure(name: str, st: dict | None, lengths: np.ndarray) -> dict | None:
    """The attention statistics of a run of `attention_ops.ABLATIONS`' models (else None) from
    `ablations.per_review`'s statistics on the reviews of these lengths."""
    if name not in attention_ops.ABLATIONS:
        return None
    return summary(per_review(st, lengths), np.asarray(lengths))
