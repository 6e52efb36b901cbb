"""attnstudy.stats: known answers on small synthetic predictions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnstudy.metrics import metrics
from attnstudy.stats import bootstrap, intervals
from attnstudy.stats import tests as stats_tests


def paired(b: int, c: int, both_right: int = 50, both_wrong: int = 5):
    """correct_a, correct_b with b reviews only a gets right and c only b gets right."""
    a = [1] * both_right + [0] * both_wrong + [1] * b + [0] * c
    bb = [1] * both_right + [0] * both_wrong + [0] * b + [1] * c
    return np.array(a, bool), np.array(bb, bool)


def test_mcnemar_exact_small_counts():
    r = stats_tests.mcnemar(*paired(10, 2))
    assert (r["b"], r["c"]) == (10, 2)
    assert r["statistic"] == 2
    assert r["p"] == pytest.approx(2 * (1 + 12 + 66) / 2**12)  # two-sided binomial, n=12


def test_mcnemar_chi_square_with_continuity_correction():
    r = stats_tests.mcnemar(*paired(30, 10))
    assert r["statistic"] == pytest.approx((abs(30 - 10) - 1) ** 2 / 40)  # 9.025
    assert r["p"] == pytest.approx(math.erfc(math.sqrt(9.025 / 2)))  # chi2(1) survival
    assert stats_tests.mcnemar(*paired(10, 30))["p"] == pytest.approx(r["p"])  # symmetric


def test_mcnemar_no_discordant_pairs():
    a, _ = paired(0, 0)
    assert stats_tests.mcnemar(a, a) == {"b": 0, "c": 0, "statistic": 0.0, "p": 1.0}


def test_bootstrap_big_effect_excludes_zero():
    rng = np.random.default_rng(1)
    n = 2000
    b = rng.random(n) < 0.7
    a = b | (rng.random(n) < 0.67)  # a right wherever b is, and on ~2/3 of b's errors: +0.2
    r = bootstrap.paired_bootstrap(a, b, 2000, seed=0)
    assert r["acc_diff"] == pytest.approx(a.mean() - b.mean())
    assert 0 < r["ci_low"] < r["acc_diff"] < r["ci_high"]
    assert r["ci_low"] <= 0.2 <= r["ci_high"]  # the population difference
    assert r["p"] < 0.001
    rev = bootstrap.paired_bootstrap(b, a, 2000, seed=0)
    assert rev["ci_high"] < 0


def test_bootstrap_identical_models_include_zero():
    a = np.random.default_rng(2).random(500) < 0.8
    r = bootstrap.paired_bootstrap(a, a.copy(), 500, seed=0)
    assert r == {"acc_diff": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p": 1.0}


def test_bootstrap_no_real_difference_includes_zero():
    rng = np.random.default_rng(3)
    a, b = rng.random(1000) < 0.8, rng.random(1000) < 0.8  # independent, same accuracy
    r = bootstrap.paired_bootstrap(a, b, 2000, seed=1)
    assert r["acc_diff"] == pytest.approx(a.mean() - b.mean())  # +0.026 by chance
    assert r["ci_low"] < 0 < r["ci_high"] and r["p"] > 0.05


def test_bootstrap_ci_coverage():
    """The 95% interval covers the true difference (0.05) in most replicates."""
    rng = np.random.default_rng(4)
    covered = 0
    for rep in range(100):
        b = rng.random(400) < 0.75
        flip = rng.random(400)
        a = np.where(b, flip > 0.05, flip < 0.35)  # P(a) = 0.75 * 0.95 + 0.25 * 0.35 = 0.8
        r = bootstrap.paired_bootstrap(a, b, 400, seed=rep)
        covered += r["ci_low"] <= 0.05 <= r["ci_high"]
    assert covered >= 85


def test_bootstrap_means_continuous_values():
    x = np.random.default_rng(5).normal(1.0, 2.0, 300)  # > 64 distinct levels: index path
    m = bootstrap.bootstrap_means(x, 2000, np.random.default_rng(0))
    assert m.shape == (2000,)
    assert m.mean() == pytest.approx(x.mean(), abs=0.02)
    assert m.std() == pytest.approx(x.std() / math.sqrt(300), rel=0.15)


def test_mean_ci_known_values():
    r = intervals.mean_ci([1.0, 2.0, 3.0])
    half = 4.302652729749462 / math.sqrt(3)  # t(0.975, 2) * s / sqrt(n), s = 1
    assert r["mean"] == 2 and r["std"] == pytest.approx(1.0) and r["n"] == 3
    assert r["ci_low"] == pytest.approx(2 - half) and r["ci_high"] == pytest.approx(2 + half)
    one = {"mean": 0.7, "std": 0.0, "ci_low": 0.7, "ci_high": 0.7, "n": 1}
    assert intervals.mean_ci([0.7]) == one
    wide = intervals.mean_ci([1.0, 2.0, 3.0], level=0.99)
    assert wide["ci_high"] > r["ci_high"]
    with pytest.raises(ValueError):
        intervals.mean_ci([])


def test_holm():
    assert stats_tests.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats_tests.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert stats_tests.holm([]) == []


def test_spearman():
    assert stats_tests.spearman([1, 2, 3, 4], [10, 20, 30, 100]) == pytest.approx(1.0)
    assert stats_tests.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(stats_tests.spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(stats_tests.spearman([1], [2]))


def test_metrics_known_values():
    m = metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    assert m["accuracy"] == 0.5 and m["precision"] == 0.5 and m["recall"] == 0.5
    assert m["f1"] == 0.5 and m["roc_auc"] == 0.75
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.4, 0.9])))
    assert metrics([1, 0], [0.5, 0.49])["accuracy"] == 1.0  # 0.5 counts as positive
    assert math.isnan(metrics([1, 1], [0.9, 0.8])["roc_auc"])
    with pytest.raises(ValueError):
        metrics([0, 1], [0.5])


def test_mcnemar_agrees_with_the_textbook_formulas_on_both_sides_of_the_exact_cutoff():
    """statsmodels' McNemar: exact binomial below 25 discordant pairs, corrected chi-square at
    and above; compared with the formulas written out (scipy)."""
    from scipy import stats as sps

    for b, c in ((13, 11), (15, 10), (3, 0)):
        r = stats_tests.mcnemar(*paired(b, c))
        exact = b + c < 25
        want = (min(1.0, sps.binomtest(b, b + c, 0.5).pvalue) if exact
                else sps.chi2.sf((abs(b - c) - 1) ** 2 / (b + c), 1))
        assert r["p"] == pytest.approx(want, rel=1e-12), (b, c)


def test_summarize_interval_and_two_sided_p():
    boots = np.arange(1, 2001) / 1000 - 0.5  # 1999 values: -0.499 .. 1.5, 500 of them <= 0
    r = bootstrap.summarize(boots, 0.95)
    assert r["ci_low"] == pytest.approx(np.quantile(boots, 0.025))
    assert r["ci_high"] == pytest.approx(np.quantile(boots, 0.975))
    assert r["p"] == pytest.approx(2 * 500 / 2000)
    assert bootstrap.summarize(np.zeros(10))["p"] == 1.0  # capped


def test_bootstrap_means_continuous_values_match_plain_resampling():
    """The continuous path (scipy.stats.bootstrap) draws the same indices as plain resampling
    with the generator, so its means are bit-identical to it."""
    x = np.random.default_rng(6).normal(size=250)
    got = bootstrap.bootstrap_means(x, 300, np.random.default_rng(9))
    idx = np.random.default_rng(9).integers(0, 250, size=(300, 250))
    np.testing.assert_array_equal(got, x[idx].mean(axis=1))


def test_wilson_known_values():
    lo, hi = intervals.wilson([0.5, 0.0, 1.0], 20)
    # (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), z = 1.959964
    z = 1.959963984540054
    mid = (0.5 + z * z / 40) / (1 + z * z / 20)
    half = z * math.sqrt(0.25 / 20 + z * z / 1600) / (1 + z * z / 20)
    assert lo[0] == pytest.approx(mid - half) and hi[0] == pytest.approx(mid + half)
    assert lo[1] == pytest.approx(0.0, abs=1e-12) and 0 < hi[1] < 0.2
    assert hi[2] == pytest.approx(1.0) and 0.8 < lo[2] < 1


@pytest.mark.parametrize("b,c", [(10, 2), (30, 10), (40, 0), (7, 7), (0, 0)])
def test_exact_mcnemar_is_the_binomial_test_at_any_count(b, c):
    """attnstudy.stats.paired stays exact where stats.tests switches to chi-square (b + c >= 25)."""
    from scipy import stats as sps

    from attnstudy.stats import paired as paired_tests

    r = paired_tests.exact_mcnemar(*paired(b, c))
    assert (r["b"], r["c"]) == (b, c)
    want = 1.0 if b + c == 0 else sps.binomtest(min(b, c), b + c, 0.5).pvalue
    assert r["p"] == pytest.approx(want, rel=1e-12)
    with pytest.raises(ValueError, match="paired arrays"):
        paired_tests.exact_mcnemar([True], [True, False])


def test_compare_all_holm_adjusts_and_words_each_pair():
    from statsmodels.stats.multitest import multipletests

    from attnstudy.stats.paired import compare_all

    a, b = paired(40, 0)  # a right on 40 items b gets wrong: a better
    c = b.copy()
    c[-3:] = ~c[-3:]  # c differs from b on 3 items: not enough for a verdict
    rows = {(r["a"], r["b"]): r for r in compare_all({"a": a, "b": b, "c": c})}
    assert list(rows) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert rows["a", "b"]["verdict"] == "better" and rows["b", "c"]["verdict"] == "inconclusive"
    holm = multipletests([r["p"] for r in rows.values()], method="holm")[1]
    assert [r["p_holm"] for r in rows.values()] == pytest.approx(list(holm))
    rows = {(r["a"], r["b"]): r for r in compare_all({"b": b, "a": a})}
    assert rows["b", "a"]["verdict"] == "worse"
    assert rows["b", "a"]["a_right_only"] == 0 and rows["b", "a"]["b_right_only"] == 40
