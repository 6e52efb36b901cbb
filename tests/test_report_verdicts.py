"""The verdict vocabulary (attnstudy.report.verdicts) and the sentences it drives.

The rule is tested on its own (each verdict, the rerun-spread rule, an equivalence test, bad
input), then each sentence that words a comparison is driven to each verdict by editing the
per-seed accuracies of a synthetic results set (tests/fixtures/make_results.py): the abstract,
the results' pairwise paragraph and table, the leaders sentence and the discussion.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from attnstudy.errors import UserError
from attnstudy.report import render, results, verdicts, wording
from attnstudy.report.facts import context
from tests.test_report_prose import _html, _text

_spec = importlib.util.spec_from_file_location(
    "make_results", Path(__file__).parent / "fixtures" / "make_results.py")
make_results = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_results)

M = 0.005  # margin used by the unit tests


# ----------------------------------------------------------------------------- the rule

@pytest.mark.parametrize("diff, lo, hi, spread, word, noise", [
    (0.02, 0.01, 0.03, 0.007, "better", False),
    (-0.02, -0.03, -0.01, 0.007, "worse", False),
    (0.001, -0.003, 0.004, 0.007, "equivalent", False),       # whole interval inside +-margin
    (0.002, -0.01, 0.014, 0.007, "inconclusive", False),      # includes 0, wider than the margin
    (0.006, 0.002, 0.010, 0.007, "inconclusive", True),       # excludes 0, within rerun spread
    (-0.006, -0.010, -0.002, 0.007, "inconclusive", True),
    (0.006, 0.002, 0.010, None, "better", False),             # no spread measured
    (0.0072, 0.006, 0.0084, 0.0072, "inconclusive", True),    # |diff| == spread: still noise
])
def test_decide_each_verdict(diff, lo, hi, spread, word, noise):
    v = verdicts.decide(diff, lo, hi, M, spread)
    assert (v.word, v.noise) == (word, noise)
    assert v.finding == (word in ("better", "worse"))
    assert verdicts.relation(v) == verdicts.PHRASES[word]


def test_an_equivalence_test_can_decide_equivalent():
    wide = (0.001, -0.02, 0.02)  # the interval alone is inconclusive
    assert verdicts.decide(*wide, M).word == "inconclusive"
    for eq in (True, {"equivalent": True}, {"p": 0.01}, {"p": 0.04, "alpha": 0.05}):
        assert verdicts.decide(*wide, M, 0.007, equivalence=eq).word == "equivalent"
    for eq in (False, None, {"equivalent": False}, {"p": 0.2}, {"p": 0.04, "alpha": 0.01}):
        assert verdicts.decide(*wide, M, 0.007, equivalence=eq).word == "inconclusive"


def test_decide_rejects_bad_input():
    with pytest.raises(ValueError, match="interval"):
        verdicts.decide(0.01, 0.02, 0.0, M)
    with pytest.raises(ValueError, match="interval"):
        verdicts.decide(math.nan, 0.0, 0.02, M)
    with pytest.raises(ValueError, match="margin"):
        verdicts.decide(0.01, 0.0, 0.02, 0.0)


def test_per_seed_interval_is_welchs():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.88, 0.003, 3), rng.normal(0.885, 0.001, 3)
    d = verdicts.per_seed(*({"mean": x.mean(), "std": x.std(ddof=1), "n": len(x)} for x in (a, b)))
    ci = sps.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert d["diff"] == pytest.approx(a.mean() - b.mean())
    assert (d["lo"], d["hi"]) == pytest.approx((ci.low, ci.high))
    one = verdicts.per_seed({"mean": 0.9, "std": 0.0, "n": 1}, {"mean": 0.8, "std": 0.0, "n": 1})
    assert one["lo"] == one["hi"] == pytest.approx(0.1)


def test_margin_is_declared_in_the_claims_file(tmp_path):
    assert verdicts.margin() == 0.005  # paper/claims.toml, declared before the v3 retrain
    f = tmp_path / "claims.toml"
    f.write_text("[[claims]]\nid = 'x'\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"\[equivalence\] margin"):
        verdicts.margin(f)
    f.write_text("[equivalence]\nmargin = 5\n", encoding="utf-8")
    with pytest.raises(UserError, match="fraction"):
        verdicts.margin(f)


# ----------------------------------------------------------------------------- the sentences

@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return results.load(make_results.make(tmp_path_factory.mktemp("results")))




def _abstract(html: str) -> str:
    return _text(html.split('id="abstract"')[1].split("</section>")[0])


def _section(html: str, id: str) -> str:
    return _text(re.split(r"<h[23] ", html.split(f'id="{id}"', 1)[1], maxsplit=1)[0])


def _set(b: dict, a: str, other: str, verdict: str) -> dict:
    """Per-seed accuracies of `a` and `other` (3 seeds each) that give `a - other` `verdict`
    ("noise": inconclusive with an interval that excludes 0). Every other model is put well
    below both, so neither comparison with a third model interferes."""
    spread = wording.rerun_spread()["max"]
    margin = verdicts.margin()
    base, sd = 0.88, 0.0005
    gap = {"better": spread + 0.01, "worse": -(spread + 0.01), "equivalent": margin / 5,
           "inconclusive": 0.003, "noise": (spread + margin) / 2}[verdict]
    summ = b["analysis"]["summary"]
    for m in summ:
        summ[m]["accuracy"].update(mean=0.80, std=0.001, n=3)
    summ[other]["accuracy"].update(mean=base, std=sd)
    summ[a]["accuracy"].update(mean=base + gap, std=0.01 if verdict == "inconclusive" else sd)
    c = context(b)["cmp"](a, other)
    want = "inconclusive" if verdict == "noise" else verdict
    assert (c["verdict"], c["noise"]) == (want, verdict == "noise"), c
    return c


PHRASE = {"better": "more accurate than", "worse": "less accurate than",
          "equivalent": "equivalent in accuracy to",
          "inconclusive": "not distinguishable in accuracy from",
          "noise": "not distinguishable in accuracy from"}


@pytest.mark.parametrize("verdict", ["better", "worse", "equivalent", "inconclusive", "noise"])
def test_abstract_words_the_size_control_by_its_verdict(bundle, verdict):
    b = copy.deepcopy(bundle)
    _set(b, "mhsa", "bilstm_matched", verdict)
    html = _html(b)
    words = _abstract(html)
    assert f"MHSA is {PHRASE[verdict]} BiLSTM-matched (" in words
    assert "significantly" not in words and " tie" not in words
    said = words.split("MHSA is " + PHRASE[verdict] + " BiLSTM-matched (")[1].split(")")[0]
    assert ("-point rerun spread" in said) == (verdict == "noise")
    assert ("equivalence margin" in said) == (verdict == "equivalent")
    # the pairwise table's row carries the same verdict, shaded only for a finding
    row = next(r for r in html.split('id="tab-pairwise"')[1].split("</table>")[0].split("<tr")
               if "MHSA" in r and "BiLSTM-matched" in r)
    want = "inconclusive" if verdict == "noise" else verdict
    assert f'v-row-{want}' in row and ("is-finding" in row) == (want in ("better", "worse"))
    assert ("rerun noise" in row) == (verdict == "noise")


@pytest.mark.parametrize("verdict", ["better", "worse", "equivalent", "inconclusive", "noise"])
def test_discussion_words_the_recurrence_pair_by_its_verdict(bundle, verdict):
    b = copy.deepcopy(bundle)
    _set(b, "mhsa", "transformer", verdict)
    para = _text(_html(b).split("<strong>Recurrence.</strong>")[1].split("</p>")[0])
    assert f"MHSA is {PHRASE[verdict]} Transformer" in para
    expect = {"better": "Dropping the recurrence costs accuracy",
              "worse": "Self-attention without recurrence is the more accurate",
              "equivalent": "changes accuracy by less than the declared margin",
              "inconclusive": "The data do not separate the two",
              "noise": "no larger than a rerun on another machine"}[verdict]
    assert expect in para
    if verdict in ("inconclusive", "noise"):
        assert "costs accuracy" not in para


@pytest.mark.parametrize("verdict", ["better", "worse", "equivalent", "inconclusive", "noise"])
def test_discussion_words_the_size_control_by_its_verdict(bundle, verdict):
    b = copy.deepcopy(bundle)
    _set(b, "mhsa", "bilstm_matched", verdict)
    para = _text(_html(b).split("<strong>Attention versus no attention.</strong>")[1]
                 .split("</p>")[0])
    expect = {"better": "the extra parameters alone do not explain its advantage",
              "worse": "the parameters buy more as a dense layer",
              "equivalent": "buy the same accuracy within the declared margin",
              "inconclusive": "cannot attribute a difference to attention",
              "noise": "no larger than a rerun on another machine"}[verdict]
    assert expect in para
    if verdict != "worse":
        assert "buy more as a dense layer" not in para


@pytest.mark.parametrize("verdict", ["better", "equivalent", "inconclusive", "noise"])
def test_leaders_sentence_never_calls_a_tie(bundle, verdict):
    b = copy.deepcopy(bundle)
    _set(b, "bilstm_matched", "mhsa", verdict)  # the two at the top, the rest far below
    words = _section(_html(b), "results-test")
    assert " tie" not in words
    if verdict == "better":
        assert "BiLSTM-matched is the most accurate model" in words
    else:
        assert "BiLSTM-matched has the highest mean accuracy, " in words
        assert "but it is not shown to be more accurate than MHSA" in words
        tail = {"equivalent": "MHSA is equivalent to it within",
                "inconclusive": "the comparison with MHSA is inconclusive",
                "noise": "(for MHSA the interval excludes 0, but the difference is within the "
                         "rerun spread)"}[verdict]
        assert tail in words


def test_content_id_changes_with_the_content():
    """Issue #26: a re-render with new content never shares its identifier with the old one."""
    from attnstudy.report import citation

    a = render.stamp_content(f"<p>version 2.1.0, content {citation.CONTENT}</p><p>old</p>")
    b = render.stamp_content(f"<p>version 2.1.0, content {citation.CONTENT}</p><p>new</p>")
    again = render.stamp_content(f"<p>version 2.1.0, content {citation.CONTENT}</p><p>old</p>")
    assert citation.CONTENT not in a and a == again and a != b
    assert re.fullmatch(r"<p>version 2.1.0, content [0-9a-f]{10}</p><p>old</p>", a)
