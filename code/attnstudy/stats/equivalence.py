"""Seed-level comparisons of two models: a difference of per-seed means with an interval that
carries seed *and* test-sample variance, equivalence tests (TOST) against a declared margin, and
the minimum detectable difference (MDE) at a given power.

The unit of replication is the training run. A model's accuracy is the mean over its seeds of
each seed's test accuracy; the difference of two models is the difference of those means.

Hierarchical bootstrap (`hierarchical_diff`): each replicate resamples the seeds of each model
(with replacement: training variance), then the test reviews (with replacement: test-sample
variance), and recomputes the difference of per-seed means on the resampled reviews. When both
models were scored on the same reviews (`paired_reviews`, the study's case), one review
resample serves both, so review difficulty cancels as in a paired test; the seeds of the two
models are resampled independently (different models share no trained weights) unless
`paired_seeds`.

Two equivalence tests, both two one-sided tests of H0: |difference| >= margin:

* `bootstrap_tost`: on the hierarchical bootstrap replicates, p = max(P*(d <= -margin),
  P*(d >= margin)); equivalence at alpha iff the (1 - 2 alpha) percentile interval lies inside
  (-margin, margin) (the duality of percentile intervals and one-sided tests). It carries both
  variance sources, so it is the one that answers "equivalent on new reviews too".
* `seed_tost`: statsmodels' `ttost_ind` (Welch) or `ttost_paired` on the per-seed accuracies.
  Each seed's accuracy is measured on the same fixed test set, so this test sees training
  variance only and generalises to new training runs on this test set, not to new reviews; with
  5-10 seeds its t distribution has few degrees of freedom. Kept as the textbook seed-level
  check beside the bootstrap one.

`mde_seed` is the smallest true difference a two-sided Welch-type t-test on per-seed accuracies
detects with the given power (statsmodels' `TTestIndPower`, Cohen's d times the pooled seed SD);
`mde_from_se` the normal-approximation MDE, (z_{1-alpha/2} + z_power) * SE, for an estimate
with a known standard error such as the hierarchical bootstrap's.

Many pairs at once (`review_resampled_accuracy`, `seed_bootstrap_diff`): the analysis compares
a dozen model pairs scored on the same test reviews. One set of review resamples serves every
model (as `paired_reviews` does for one pair): each run's accuracy on each resample is one
matrix product of the stacked runs, in float32, which is exact here (0/1 times counts summed to
at most n < 2**24), so the result does not depend on the BLAS or its threads; each pair then
resamples its seeds from its own seeded stream. Per pair this is the same bootstrap as
`hierarchical_diff` with paired reviews, at the cost of one review resampling for all pairs.

Accuracy differences are fractions (0.005 = 0.5 points). Functions return numbers only; the
verdict rule (better, worse, equivalent, inconclusive) is attnstudy.stats.verdicts'.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps
from statsmodels.stats.power import TTestIndPower
from statsmodels.stats.weightstats import ttost_ind, ttost_paired

CHUNK = 64  # bootstrap replicates per matrix product: [seeds, n] @ [n, CHUNK] counts


def _correct(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"{name} must be <bool>[seeds, reviews] with at least one of each, "
                         f"got shape {a.shape}")
    return a


def _review_counts(rng: np.random.Generator, n: int, reps: int,
                   dtype=np.float64) -> np.ndarray:
    """<dtype>[reps, n]: how often each of n reviews is drawn in each of `reps` resamples.
    Row-major, so that `x @ counts.T` hands BLAS a transposed operand instead of a copy."""
    idx = rng.integers(0, n, (reps, n))
    idx += (np.arange(reps) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=reps * n).reshape(reps, n).astype(dtype)


def hierarchical_diff(correct_a, correct_b, n_boot: int = 2000, seed: int = 0,
                      level: float = 0.95, paired_reviews: bool = True,
                      paired_seeds: bool = False) -> dict:
    """Difference of per-seed mean accuracies, A - B, with a hierarchical bootstrap interval.

    correct_a <bool>[seeds_a, n_a], correct_b <bool>[seeds_b, n_b]: per seed (row) and test
    review (column), whether the run classified the review correctly. `paired_reviews` needs
    n_a == n_b with the same review in each column; `paired_seeds` needs seeds_a == seeds_b
    with the same seed in each row (it resamples rows jointly).

    Returns {"diff", "ci_low", "ci_high", "level", "se", "p_two_sided", "n_boot",
    "n_seeds_a", "n_seeds_b", "n_reviews", "samples"}: diff is the observed difference, the
    interval the percentile interval of the replicates, se their standard deviation,
    p_two_sided = min(1, 2 min(P*(d <= 0), P*(d >= 0))), samples <float64>[n_boot].
    """
    a, b = _correct(correct_a, "correct_a"), _correct(correct_b, "correct_b")
    if paired_reviews and a.shape[1] != b.shape[1]:
        raise ValueError(f"paired reviews need the same test reviews: {a.shape[1]} vs "
                         f"{b.shape[1]} columns")
    if paired_seeds and a.shape[0] != b.shape[0]:
        raise ValueError(f"paired seeds need the same seeds: {a.shape[0]} vs {b.shape[0]} rows")
    if n_boot < 1 or not 0 < level < 1:
        raise ValueError("n_boot must be positive and level in (0, 1)")
    rng = np.random.default_rng(seed)
    sa, sb = a.shape[0], b.shape[0]
    samples = np.empty(n_boot)
    for start in range(0, n_boot, CHUNK):
        reps = min(CHUNK, n_boot - start)
        # seeds first, then reviews (the order of two independent draws changes nothing)
        seeds_a = rng.integers(0, sa, (reps, sa))
        seeds_b = seeds_a if paired_seeds else rng.integers(0, sb, (reps, sb))
        counts_a = _review_counts(rng, a.shape[1], reps)
        counts_b = counts_a if paired_reviews else _review_counts(rng, b.shape[1], reps)
        acc_a = (a @ counts_a.T) / a.shape[1]  # [seeds_a, reps]: each seed on resampled reviews
        acc_b = (b @ counts_b.T) / b.shape[1]
        col = np.arange(reps)
        samples[start:start + reps] = (acc_a[seeds_a.T, col].mean(0)
                                       - acc_b[seeds_b.T, col].mean(0))
    tail = (1 - level) / 2
    low, high = np.quantile(samples, [tail, 1 - tail])
    p = min(1.0, 2 * min(float((samples <= 0).mean()), float((samples >= 0).mean())))
    return {"diff": float(a.mean(1).mean() - b.mean(1).mean()), "ci_low": float(low),
            "ci_high": float(high), "level": level, "se": float(samples.std(ddof=1))
            if n_boot > 1 else 0.0, "p_two_sided": p, "n_boot": n_boot, "n_seeds_a": sa,
            "n_seeds_b": sb, "n_reviews": int(a.shape[1]), "samples": samples}


def hierarchical_mean(values, n_boot: int = 2000, seed=0, level: float = 0.95) -> dict:
    """The mean over seeds of per-seed means over reviews, with the hierarchical bootstrap
    interval (seeds, then reviews) of `hierarchical_diff` against zero.

    values <float>[seeds, n]: a per-review quantity of each run (e.g. the lexicon excess).
    Returns {"mean", "ci_low", "ci_high", "level", "se", "p_two_sided", "n_boot", "n_seeds",
    "n_reviews"}.
    """
    a = _correct(values, "values")
    h = hierarchical_diff(a, np.zeros((1, a.shape[1])), n_boot, seed, level)
    return {"mean": h["diff"], **{k: h[k] for k in ("ci_low", "ci_high", "level", "se",
                                                    "p_two_sided", "n_boot", "n_reviews")},
            "n_seeds": h["n_seeds_a"]}


SHARED_CHUNK = 256  # review resamples per matrix product in review_resampled_accuracy


def review_resampled_accuracy(correct: dict, n_boot: int, seed: int) -> dict:
    """Each run's accuracy on each of `n_boot` resamples of the test reviews, the resamples
    shared by every model (paired reviews).

    correct: {name: <bool>[seeds, n]}, the same n reviews in the same column order for every
    name. Returns {name: <float64>[seeds, n_boot]}; replicate j of every run is scored on the
    same resample j, drawn from np.random.default_rng([seed, 0]) alone (so a name's values do
    not depend on which other names are passed).
    """
    names = list(correct)
    mats = [_correct(correct[k], f"correct[{k!r}]") for k in names]
    n = mats[0].shape[1]
    if any(m.shape[1] != n for m in mats):
        raise ValueError("every model must be scored on the same test reviews")
    if n >= 2 ** 24:
        raise ValueError("float32 counts are exact only below 2**24 reviews")
    if n_boot < 1:
        raise ValueError("n_boot must be positive")
    stack = np.concatenate(mats).astype(np.float32)  # [runs, n]
    rng = np.random.default_rng([seed, 0])
    out = np.empty((len(stack), n_boot))
    for start in range(0, n_boot, SHARED_CHUNK):
        reps = min(SHARED_CHUNK, n_boot - start)
        counts = _review_counts(rng, n, reps, np.float32)  # [reps, n]
        out[:, start:start + reps] = (stack @ counts.T).astype(np.float64) / n  # exact sums
    rows = np.cumsum([0] + [len(m) for m in mats])
    return {k: out[rows[i]:rows[i + 1]] for i, k in enumerate(names)}


def seed_bootstrap_diff(acc_a, acc_b, seed, level: float = 0.95) -> dict:
    """The hierarchical bootstrap of A - B from `review_resampled_accuracy`: replicate j draws
    the seeds of A and of B independently, with replacement, and takes the difference of their
    mean accuracies on review resample j.

    acc_a <float64>[seeds_a, n_boot], acc_b <float64>[seeds_b, n_boot]; `seed` seeds the seed
    draws (any value np.random.default_rng takes, e.g. [seed, 1, pair id]). The observed
    difference is not known here (it is on the full reviews): `diff` is left to the caller.
    Returns {"ci_low", "ci_high", "level", "se", "p_two_sided", "n_boot", "samples"} as
    `hierarchical_diff` does.
    """
    a, b = np.asarray(acc_a, np.float64), np.asarray(acc_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or not len(a) or not len(b):
        raise ValueError(f"need <float>[seeds, n_boot] each with the same n_boot: {a.shape}, "
                         f"{b.shape}")
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    n_boot = a.shape[1]
    rng = np.random.default_rng(seed)
    col = np.arange(n_boot)
    pick_a = rng.integers(0, len(a), (len(a), n_boot))  # [seeds_a, n_boot]
    pick_b = rng.integers(0, len(b), (len(b), n_boot))
    samples = a[pick_a, col].mean(0) - b[pick_b, col].mean(0)
    tail = (1 - level) / 2
    low, high = np.quantile(samples, [tail, 1 - tail])
    p = min(1.0, 2 * min(float((samples <= 0).mean()), float((samples >= 0).mean())))
    return {"ci_low": float(low), "ci_high": float(high), "level": level,
            "se": float(samples.std(ddof=1)) if n_boot > 1 else 0.0, "p_two_sided": p,
            "n_boot": n_boot, "samples": samples}


def _margin(margin: float, alpha: float) -> None:
    if not margin > 0:
        raise ValueError(f"the equivalence margin must be positive, got {margin}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")


def bootstrap_tost(samples, margin: float, alpha: float = 0.05) -> dict:
    """TOST of |A - B| < margin on bootstrap replicates of the difference (`hierarchical_diff`).

    Returns {"p", "p_lower", "p_upper", "equivalent", "ci_low", "ci_high", "ci_level",
    "margin", "alpha"}: p_lower = P*(d <= -margin) (H0: d <= -margin), p_upper = P*(d >=
    margin), p = their max; the (1 - 2 alpha) percentile interval; equivalent = both bounds
    strictly inside (-margin, margin).
    """
    _margin(margin, alpha)
    s = np.asarray(samples, dtype=np.float64).ravel()
    if len(s) < 2:
        raise ValueError("bootstrap_tost needs at least two replicates")
    p_lower, p_upper = float((s <= -margin).mean()), float((s >= margin).mean())
    low, high = np.quantile(s, [alpha, 1 - alpha])
    return {"p": max(p_lower, p_upper), "p_lower": p_lower, "p_upper": p_upper,
            "equivalent": bool(-margin < low and high < margin), "ci_low": float(low),
            "ci_high": float(high), "ci_level": 1 - 2 * alpha, "margin": margin, "alpha": alpha}


def seed_tost(acc_a, acc_b, margin: float, alpha: float = 0.05, paired: bool = False) -> dict:
    """TOST of |mean(acc_a) - mean(acc_b)| < margin on per-seed accuracies (training variance
    only; see the module docstring). Welch's `ttost_ind` for independent runs, `ttost_paired`
    when acc_a[i] and acc_b[i] share seed i. Returns {"diff", "p", "p_lower", "p_upper",
    "df", "equivalent", "margin", "alpha", "method"}; p is NaN (not equivalent) when both
    models' seeds agree exactly (no variance to test with)."""
    _margin(margin, alpha)
    x1, x2 = (np.asarray(v, dtype=np.float64).ravel() for v in (acc_a, acc_b))
    if len(x1) < 2 or len(x2) < 2:
        raise ValueError("seed_tost needs at least two seeds per model")
    if paired and len(x1) != len(x2):
        raise ValueError(f"paired seeds need as many seeds: {len(x1)} vs {len(x2)}")
    if paired:
        p, lower, upper = ttost_paired(x1, x2, -margin, margin)
        method = "paired t TOST (statsmodels ttost_paired)"
    else:
        p, lower, upper = ttost_ind(x1, x2, -margin, margin, usevar="unequal")
        method = "Welch t TOST (statsmodels ttost_ind, usevar='unequal')"
    p = float(p)
    return {"diff": float(x1.mean() - x2.mean()), "p": p, "p_lower": float(lower[1]),
            "p_upper": float(upper[1]), "df": float(lower[2]),
            "equivalent": bool(np.isfinite(p) and p < alpha), "margin": margin,
            "alpha": alpha, "method": method}


def pooled_sd(acc_a, acc_b) -> float:
    """Pooled sample SD (ddof=1 each) of two sets of per-seed accuracies."""
    x1, x2 = (np.asarray(v, dtype=np.float64).ravel() for v in (acc_a, acc_b))
    if len(x1) < 2 or len(x2) < 2:
        raise ValueError("pooled_sd needs at least two seeds per model")
    ss = (len(x1) - 1) * x1.var(ddof=1) + (len(x2) - 1) * x2.var(ddof=1)
    return float(np.sqrt(ss / (len(x1) + len(x2) - 2)))


def mde_seed(n_a: int, sd: float, n_b: int | None = None, alpha: float = 0.05,
             power: float = 0.8) -> float:
    """Smallest true difference of per-seed means a two-sided two-sample t-test at `alpha`
    detects with probability `power`, given n_a and n_b seeds and seed SD `sd` (fractions)."""
    n_b = n_a if n_b is None else n_b
    if n_a < 2 or n_b < 2 or not sd >= 0:
        raise ValueError("mde_seed needs at least two seeds per model and sd >= 0")
    d = TTestIndPower().solve_power(effect_size=None, nobs1=n_a, alpha=alpha, power=power,
                                    ratio=n_b / n_a, alternative="two-sided")
    return float(d) * sd


def mde_from_se(se: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """(z_{1-alpha/2} + z_power) * se: the normal-approximation MDE of an estimate with standard
    error `se` (2.80 se at alpha 0.05 and power 0.8)."""
    if not se >= 0:
        raise ValueError(f"se must be >= 0, got {se}")
    return float((sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power)) * se)
