"""The discussion's paragraph on the TF-IDF baseline (paper/prose/discussion.html.j2, facts from
attnstudy.report.wording.baseline_gap): the differences it lists follow the records, and none
is listed unless the best model is less accurate than the baseline. Synthetic results
(tests/fixtures/make_results.py), edited as in tests/test_report_prose.py."""

from __future__ import annotations

import copy

import pytest

from attnstudy.report import figures, fmt, render, results, wording
from attnstudy.report.facts import context
from tests import synthetic
from tests.test_report_prose import _html, _text
from tests.test_report_seed_level import _sweep_record


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return results.load(synthetic.results(tmp_path_factory.mktemp("results")))


def b_desc(b: dict) -> str:
    return b["analysis"]["baseline"]["description"]


def _said(b: dict, ctx: dict | None = None) -> str:
    """The paragraph's text (a tag's edge reads as a space: "MHSA 's" is "MHSA's")."""
    if ctx is None:
        html = _html(b)
    else:  # an edited context
        stub = [{"name": n, "svg_bytes": b"<svg/>", "aspect": 0.5} for n in figures.available(b)]
        html = render.render_html(ctx, stub)
    text = _text(html).split("Against TF-IDF.")[1].split("Cost.")[0]
    return text.replace(" 's ", "'s ")


def _edited(bundle, *, gap: float | None = 0.02, lengths: dict | None = None,
            at_last: int = 0) -> dict:
    """The bundle with the baseline `gap` points above the best model (its pairs with the
    baseline dropped, as they no longer match; None: as made), the sweep's shared review-length
    scores `lengths` ({length: val accuracy}; None: no sweep), and `at_last` of the best
    model's runs selected at their last validation point (the others at their first)."""
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
    mine = [r for r in b["results"]["runs"] if r["model"] == best]
    for r in b["results"]["runs"]:
        last = r["model"] == best and mine.index(r) < at_last
        r["best_step"] = r["curve"][-1 if last else 0]["step"]
    if lengths:
        b["sweep"] = _sweep_record()
        for c in b["sweep"]["stages"][0]["choices"].values():
            c["scores"] = {str(k): v for k, v in lengths.items()}
        b["results"]["config"]["data"]["max_len"] = max(lengths)
    return b


def test_below_the_baseline_each_recorded_difference_is_listed(bundle):
    b = _edited(bundle, lengths={256: 0.87, 400: 0.876, 512: 0.884}, at_last=1)
    said, g = _said(b), context(b)["gap"]
    assert g["below"] and g["clauses"] == ["length", "vocabulary", "budget"]
    assert f"({fmt.pct(g['best_accuracy'])}), is below the" in said
    assert f"({fmt.pct(g['baseline_accuracy'])}; no headline comparison" in said
    assert "read at most 512 tokens (head and tail), which cuts 12.8% of the test reviews" in said
    assert "the mean accuracy of BiLSTM and Additive attention (seed 0) rose at every" in said
    assert "87.00% at 256, 87.60% at 400, 88.40% at 512" in said
    assert "the longest tried, may still cost accuracy" in said
    assert "10 000-word vocabulary leaves 5.8% of the test tokens unknown" in said  # thin spaces
    desc = b["analysis"]["baseline"]["description"]
    assert f"fits 401 864 features of its own: {desc})" in said
    label = _text(fmt.chip(g["best"]))
    assert f"; and 1 of {label}'s {g['n_runs']} runs selected its last validation" in said
    assert said.rstrip().endswith("when the step budget ran out.")


def test_what_the_records_do_not_show_is_not_said(bundle):
    # a length curve that falls back, and none of the best model's runs at its last checkpoint
    said = _said(_edited(bundle, lengths={256: 0.87, 400: 0.88, 512: 0.875}))
    assert "did not rise at every longer review length" in said
    assert "may still cost accuracy" not in said and "checkpoint" not in said
    assert said.rstrip().endswith(f"{b_desc(bundle)}).")
    # no sweep (v2): no validation lengths; two runs at their last point
    said = _said(_edited(bundle, at_last=2))
    assert "on validation" not in said and "selected their last" in said
    # no length or vocabulary records: no clauses, so no list
    b = _edited(bundle)
    data = {k: v for k, v in b["results"]["data"].items()
            if k not in ("truncated_share", "unk_rate_test")}
    gap = wording.baseline_gap({**b["results"], "data": data}, b["analysis"], None,
                               context(b)["best"], None)
    assert gap["below"] and gap["clauses"] == []
    said = _said(b, {**context(b), "gap": gap})
    assert "differ in what they read" not in said and said.rstrip().endswith("is recorded).")
    # no head+tail, no feature count
    b = _edited(bundle)
    b["results"]["config"]["data"]["truncation"] = "head"
    b["analysis"]["baseline"]["features"] = None
    said = _said(b)
    assert "tokens, which cuts" in said and "head and tail" not in said
    assert "unknown to them." in said and "features of its own" not in said


def test_only_a_worse_verdict_lists_the_differences(bundle):
    # as made, the best model is more accurate than the baseline by its headline record
    b = _edited(bundle, gap=None, at_last=1)
    said = _said(b)
    assert not context(b)["gap"]["below"]
    assert "is more accurate than the TF-IDF + logistic regression baseline (" in said
    assert "points between per-seed means" in said and "read at most" not in said
    # below in the means, but the comparison does not decide it: nothing is explained
    best = context(b)["best"]
    b["analysis"]["baseline"]["test"]["accuracy"] = (
        b["analysis"]["summary"][best]["accuracy"]["mean"] + 0.02)
    for p in b["analysis"]["seed_level"]["pairs"]:
        if "baseline" in (p["a"], p["b"]):
            p["verdict"] = "inconclusive"
    said = _said(b)
    assert "not shown to differ in accuracy from the TF-IDF" in said
    assert "read at most" not in said and "unknown" not in said
