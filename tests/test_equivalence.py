"""Seed-level statistics (attnstudy.stats.equivalence): the hierarchical bootstrap of a
difference of per-seed means, the two TOSTs and the minimum detectable difference, each against
an independent computation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from attnstudy.stats import equivalence as eq


def runs(accs, n, seed=0):
    """<bool>[seeds, n]: seed i right on a random share accs[i] of n reviews."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.random(n) < a for a in accs])


def test_the_stats_package_docstring_is_the_agreed_line():
    from pathlib import Path

    text = (Path(eq.__file__).parent / "__init__.py").read_text()
    assert text == ('"""Statistics shared by evaluation, analysis and report: intervals, tests, '
                    'equivalence."""\n')


def test_difference_is_of_per_seed_means_and_seeded():
    a = runs([0.9, 0.8, 0.85], 400)
    b = runs([0.7, 0.75], 400, seed=1)
    out = eq.hierarchical_diff(a, b, n_boot=300, seed=3)
    assert out["diff"] == pytest.approx(a.mean(1).mean() - b.mean(1).mean(), abs=1e-12)
    assert out["ci_low"] < out["diff"] < out["ci_high"]
    assert (out["n_seeds_a"], out["n_seeds_b"], out["n_reviews"]) == (3, 2, 400)
    again = eq.hierarchical_diff(a, b, n_boot=300, seed=3)
    np.testing.assert_array_equal(again["samples"], out["samples"])
    other = eq.hierarchical_diff(a, b, n_boot=300, seed=4)
    assert not np.array_equal(other["samples"], out["samples"])


def test_one_seed_each_is_the_paired_review_bootstrap():
    """With one seed per model, only reviews vary: the SE is that of a paired mean difference."""
    a, b = runs([0.85], 4000, seed=5), runs([0.8], 4000, seed=6)
    out = eq.hierarchical_diff(a, b, n_boot=2000, seed=0)
    d = a[0].astype(float) - b[0].astype(float)
    assert out["se"] == pytest.approx(d.std() / np.sqrt(len(d)), rel=0.1)
    same = eq.hierarchical_diff(a, a, n_boot=200)
    assert same["ci_low"] == same["ci_high"] == same["diff"] == 0.0  # paired: nothing varies


def test_seed_variance_is_carried():
    """Seeds far apart, many reviews: the SE is the bootstrap SE of a mean over seeds, far
    above what resampling reviews alone gives."""
    accs = [0.80, 0.86, 0.83, 0.89, 0.81]
    a = np.stack([np.arange(20000) < a * 20000 for a in accs])  # exactly accs
    b = np.stack([np.arange(20000) < 0.84 * 20000] * 5)  # no seed variance
    out = eq.hierarchical_diff(a, b, n_boot=4000, seed=1)
    x = np.asarray(accs)
    seed_se = x.std(ddof=0) / np.sqrt(len(x))  # the bootstrap SE of a mean of 5 values
    assert out["se"] == pytest.approx(seed_se, rel=0.15)
    reviews_only = eq.hierarchical_diff(a[:1], b[:1], n_boot=1000, seed=1)["se"]
    assert out["se"] > 3 * reviews_only


def test_unpaired_reviews_add_both_samples_variance():
    a, b = runs([0.85], 3000, seed=7), runs([0.85], 3000, seed=8)
    paired = eq.hierarchical_diff(a, b, n_boot=1500, seed=2)["se"]
    unpaired = eq.hierarchical_diff(a, b, n_boot=1500, seed=2, paired_reviews=False)["se"]
    p = 0.85 * 0.15
    assert unpaired == pytest.approx(np.sqrt(2 * p / 3000), rel=0.1)
    assert paired < unpaired or paired == pytest.approx(unpaired, rel=0.1)


@pytest.mark.parametrize("kwargs, shapes, message", [
    ({}, ((2, 10), (2, 11)), "same test reviews"),
    ({"paired_seeds": True}, ((2, 10), (3, 10)), "same seeds"),
    ({}, ((10,), (2, 10)), "seeds, reviews"),
])
def test_bad_shapes_are_named(kwargs, shapes, message):
    with pytest.raises(ValueError, match=message):
        eq.hierarchical_diff(np.ones(shapes[0]), np.ones(shapes[1]), n_boot=10, **kwargs)


def test_bootstrap_tost_is_interval_inclusion():
    rng = np.random.default_rng(0)
    close = rng.normal(0.001, 0.001, 5000)
    out = eq.bootstrap_tost(close, margin=0.005, alpha=0.05)
    assert out["equivalent"] and out["p"] < 0.05 and out["ci_level"] == pytest.approx(0.9)
    assert out["p_upper"] == pytest.approx((close >= 0.005).mean())
    wide = rng.normal(0.003, 0.002, 5000)  # the 90% interval reaches past +0.005
    out = eq.bootstrap_tost(wide, margin=0.005)
    assert not out["equivalent"] and out["p"] == pytest.approx((wide >= 0.005).mean())
    assert out["ci_high"] > 0.005 and out["p"] > 0.05
    with pytest.raises(ValueError, match="margin must be positive"):
        eq.bootstrap_tost(close, margin=0)


def test_seed_tost_is_two_welch_one_sided_tests():
    a = np.array([0.881, 0.884, 0.879, 0.886, 0.882])
    b = np.array([0.880, 0.883, 0.885, 0.878, 0.881, 0.884])
    out = eq.seed_tost(a, b, margin=0.005, alpha=0.05)
    lower = sps.ttest_ind(a + 0.005, b, equal_var=False, alternative="greater").pvalue
    upper = sps.ttest_ind(a - 0.005, b, equal_var=False, alternative="less").pvalue
    assert out["p_lower"] == pytest.approx(lower, rel=1e-6)
    assert out["p_upper"] == pytest.approx(upper, rel=1e-6)
    assert out["p"] == pytest.approx(max(lower, upper), rel=1e-6)
    assert out["equivalent"] == (max(lower, upper) < 0.05) and out["equivalent"]
    far = eq.seed_tost(a + 0.004, b, margin=0.005)
    assert not far["equivalent"]
    paired = eq.seed_tost(a, b[:5], margin=0.005, paired=True)
    d = a - b[:5]
    assert paired["p_lower"] == pytest.approx(
        sps.ttest_1samp(d, -0.005, alternative="greater").pvalue, rel=1e-6)
    with pytest.raises(ValueError, match="two seeds"):
        eq.seed_tost(a[:1], b, margin=0.005)


def test_mde_gives_the_requested_power():
    """At the MDE, the power of the two-sided two-sample t-test (noncentral t) is 0.8."""
    for n, sd in ((5, 0.004), (10, 0.003)):
        mde = eq.mde_seed(n, sd)
        df, nc = 2 * n - 2, mde / sd * np.sqrt(n / 2)
        crit = sps.t.ppf(0.975, df)
        power = sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc)
        assert power == pytest.approx(0.8, abs=1e-3)
    assert eq.mde_seed(10, 0.003) < eq.mde_seed(5, 0.003)  # more seeds, smaller MDE
    assert eq.mde_from_se(0.001) == pytest.approx(0.0028016, rel=1e-4)
    assert eq.pooled_sd([1.0, 3.0], [2.0, 2.0, 2.0]) == pytest.approx(np.sqrt(2 / 3))
