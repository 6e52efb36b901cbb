"""The discussion's paragraph on the TF-IDF baseline (paper/prose/discussion.html.j2, facts from
attnstudy.report.wording.baseline_gap): which measured differences it lists follows the records,
and nothing is listed when the best model is not below the baseline. Synthetic results
(tests/fixtures/make_results.py), edited as in tests/test_report_prose.py."""

from __future__ import annotations

import copy

import pytest

from attnstudy.report import fmt, results
from attnstudy.report.facts import context
from tests import synthetic
from tests.test_report_prose import _html, _text
from tests.test_report_seed_level import _sweep_record


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return results.load(synthetic.results(tmp_path_factory.mktemp("results")))


def _said(b: dict) -> str:
    return _text(_html(b)).split("Against TF-IDF.")[1].split("Cost.")[0]


def _edited(bundle, *, gap: float | None, lengths: dict | None, at_last: int) -> dict:
    """The bundle with the baseline `gap` points above the best model (its seed-level pairs
    with the baseline dropped, as they no longer match; None: as made), the sweep's shared
    review-length scores `lengths` ({length: val accuracy}; None: no sweep) and `at_last` runs
    selected at their last validation point."""
    b = copy.deepcopy(bundle)
    best = context(b)["best"]
    if gap is not None:
        b["analysis"]["baseline"]["test"]["accuracy"] = (
            b["analysis"]["summary"][best]["accuracy"]["mean"] + gap)
        sl = b["analysis"]["seed_level"]
        sl["pairs"] = [p for p in sl["pairs"] if "baseline" not in (p["a"], p["b"])]
    b["analysis"]["baseline"]["features"] = 401864
    b["results"]["data"].update(truncated_share={"train": 0.1, "val": 0.1, "test": 0.128},
                                unk_rate_test=0.0584, vocab_size=10000)
    for i, r in enumerate(b["results"]["runs"]):
        r["best_step"] = r["curve"][-1 if i < at_last else 0]["step"]
    if lengths:
        b["sweep"] = _sweep_record()
        st = b["sweep"]["stages"][0]
        for c in st["choices"].values():
            c["scores"] = {str(k): v for k, v in lengths.items()}
        b["results"]["config"]["data"]["max_len"] = max(lengths)
    return b


def test_below_the_baseline_each_measured_difference_is_listed(bundle):
    b = _edited(bundle, gap=0.02, lengths={256: 0.87, 400: 0.876, 512: 0.884}, at_last=1)
    said = _said(b)
    g = context(b)["gap"]
    assert g["below"] and g["length_rising"] and g["length_at_top"]
    assert f"({fmt.pct(g['best_accuracy'])}), stays below the" in said
    assert f"({fmt.pct(g['baseline_accuracy'])}; no seed-level comparison" in said
    assert "read at most 512 tokens" in said and "cuts 12.8% of the test reviews" in said
    assert "rose with every longer review length" in said
    assert "87.00% at 256, 87.60% at 400, 88.40% at 512" in said
    assert "the longest tried, may still cost accuracy" in said
    assert "10 000-word vocabulary leaves 5.8% of the test tokens unknown" in said  # thin spaces
    assert "weighs 401 864 word unigrams and bigrams" in said
    n = len(b["results"]["runs"])
    assert f"1 of the {n} runs selected its last validation checkpoint" in said


def test_what_the_records_do_not_show_is_not_said(bundle):
    # a length curve that falls back, and no run at its last checkpoint
    said = _said(_edited(bundle, gap=0.02, lengths={256: 0.87, 400: 0.88, 512: 0.875},
                         at_last=0))
    assert "did not rise with every longer review length" in said
    assert "may still cost accuracy" not in said and "last validation checkpoint" not in said
    # no sweep (v2): no validation lengths at all
    said = _said(_edited(bundle, gap=0.02, lengths=None, at_last=2))
    assert "on validation" not in said and "2 of the" in said and "their last" in said


def test_above_the_baseline_nothing_is_listed(bundle):
    # as made, the best model is more accurate than the baseline by its seed-level record
    b = _edited(bundle, gap=None, lengths={256: 0.87, 400: 0.88, 512: 0.89}, at_last=1)
    said = _said(b)
    assert not context(b)["gap"]["below"]
    assert "is more accurate than the TF-IDF + logistic regression baseline (" in said
    assert "points between per-seed means" in said
    assert "read at most" not in said and "unknown" not in said and "checkpoint" not in said
