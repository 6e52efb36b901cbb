"""The verdict vocabulary (attnstudy.report.verdicts), the one headline basis (attnstudy.report
.basis) and the sentences they drive.

The rule is tested on its own (each verdict, the rerun-spread rule, an equivalence test, bad
input). Then each headline sentence that words a comparison (the abstract's comparisons and its
conclusion, the leaders sentence, the discussion's attention, size-control, recurrence and
uniform-weight sentences) and the headline table's row are driven to each verdict on BOTH bases
of a synthetic results set (tests/fixtures/make_results.py):

  seed   analysis.json has seed_level pairs: the pair's record is put there, computed by the
         analysis itself (attnstudy.analysis.seed_level.compare on correctness arrays that give
         the verdict: tests/test_seed_level.py _pair_for); the report must word it as recorded
  welch  no seed_level section: the per-seed accuracies in the summary are set so that the
         Welch interval gives the verdict
"""

from __future__ import annotations

import copy
import functools
import math
import re

import numpy as np
import pytest
from scipy import stats as sps

from attnstudy.analysis import seed_level as sl
from attnstudy.errors import UserError
from attnstudy.report import basis, render, results, verdicts, wording
from attnstudy.report.facts import context
from attnstudy.report.fmt import pts
from attnstudy.report.style import prose_label
from attnstudy.stats import equivalence
from tests import synthetic
from tests.test_report_prose import _html, _section, _text
from tests.test_report_seed_level import seed_tests

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
    # 181 of 25 000 reviews both, but 0.88784 - 0.8806 != 0.00724 in floats: still noise
    (181 / 25000, 0.004, 0.010, 0.88784 - 0.8806, "inconclusive", True),
    (182 / 25000, 0.004, 0.010, 0.88784 - 0.8806, "better", False),  # one review more
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

BASES = ("seed", "welch")
VERDICTS = ("better", "worse", "equivalent", "inconclusive", "noise")
PHRASE = {**verdicts.PHRASES, "noise": verdicts.PHRASES["inconclusive"]}
# the pairs the headline sentences compare, in groups that can take one verdict at once (in
# each group every A is above every B, so per-seed means can give all pairs the same verdict)
GROUPS = {"attention": (("additive", "bilstm"), ("mhsa", "bilstm"), ("mhsa", "bilstm_matched")),
          "recurrence": (("mhsa", "transformer"), ("bilstm_mean", "additive")),
          "transformer": (("transformer", "bilstm"),)}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return results.load(synthetic.results(tmp_path_factory.mktemp("results")))


def _abstract(html: str) -> str:
    return _text(html.split('id="abstract"')[1].split("</section>")[0])


def _para(html: str, lead: str) -> str:
    """The discussion paragraph that starts with <strong>lead</strong>."""
    return _text(html.split(f"<strong>{lead}</strong>")[1].split("</p>")[0])


@functools.cache
def _record(verdict: str, spread: float) -> dict:
    """A seed-level pair record (A = "a", B = "b") with `verdict`, computed by the analysis."""
    ca, cb = seed_tests._pair_for(verdict, spread)
    acc = equivalence.review_resampled_accuracy({"a": ca, "b": cb}, 2000, 0)
    return sl.compare("a", "b", {"a": ca, "b": cb}, acc, seed_tests.E, spread, 0)


def _seed_pair(b: dict, a: str, other: str, verdict: str) -> dict:
    """Put the record of `a - other` with `verdict` into b's seed_level section (replacing any
    record of the pair, in either orientation)."""
    s = b["analysis"]["seed_level"]
    row = {**_record(verdict, s["rerun_spread"]["max"]), "a": a, "b": other, "why": ["test"]}
    s["pairs"][:] = [p for p in s["pairs"] if {p["a"], p["b"]} != {a, other}] + [row]
    return row


def _drive(b: dict, on: str, pairs, verdict: str, rest: float = 0.80) -> None:
    """Give every (A, B) of `pairs` `verdict` on basis `on` (module docstring); on the Welch
    basis every model outside the pairs sits at `rest`, far below, and the seed_level section
    is removed."""
    if on == "seed":
        for a, other in pairs:
            _seed_pair(b, a, other, verdict)
        return
    del b["analysis"]["seed_level"]
    spread, margin = wording.rerun_spread()["max"], verdicts.margin()
    base, sd = 0.88, 0.0005
    gap = {"better": spread + 0.01, "worse": -(spread + 0.01), "equivalent": margin / 5,
           "inconclusive": 0.003, "noise": (spread + margin) / 2}[verdict]
    summ = b["analysis"]["summary"]
    for m in summ:
        summ[m]["accuracy"].update(mean=rest, std=0.001, n=3)
    for a, other in pairs:
        summ[other]["accuracy"].update(mean=base, std=sd)
        summ[a]["accuracy"].update(mean=base + gap,
                                   std=0.01 if verdict == "inconclusive" else sd)


def _check(b: dict, on: str, pairs, verdict: str) -> dict:
    """The context after _drive: every pair has the verdict on the expected basis."""
    ctx = context(b)
    assert ctx["basis"]["name"] == on
    want = "inconclusive" if verdict == "noise" else verdict
    for a, other in pairs:
        c = ctx["cmp"](a, other)
        assert (c["basis"], c["verdict"], c["noise"]) == (on, want, verdict == "noise"), c
    return ctx


def _only_its_words(text: str, words: dict[str, str], verdict: str) -> None:
    """`text` holds the words of `verdict` ({verdict: words}) and none of another's; rerun
    noise is an inconclusive verdict with its own words besides."""
    for v, w in words.items():
        assert (w in text) == (v == verdict or (v, verdict) == ("inconclusive", "noise")), v


def _said(text: str, a: str, other: str, verdict: str, c: dict) -> None:
    """`text` words the comparison "A is <phrase> B (…)" with the basis's numbers and the
    tail its verdict needs, and nothing a different verdict would say."""
    head = f"{a} is {PHRASE[verdict]} {other} ("
    assert head in text, (head, text)
    said = text.split(head)[1].split(")")[0]
    assert f"{pts(c['diff'], 2)} points between per-seed means" in said
    assert f"CI {pts(c['lo'], 2)} to {pts(c['hi'], 2)}" in said
    assert ("-point rerun spread" in said) == (verdict == "noise")
    assert ("equivalence margin" in said) == (verdict == "equivalent")
    assert "significant" not in said and " tie" not in said


def _headline_row(html: str, on: str, a: str, other: str) -> tuple[str, bool]:
    """(the headline table's row of the pair, whether it lists B - A)."""
    table = "tab-seed-level" if on == "seed" else "tab-pairwise"
    rows = html.split(f'id="{table}"')[1].split("</table>")[0].split("<tr")
    names = (prose_label(a), prose_label(other))
    row = next(r for r in rows if all(f">{n}<" in r for n in names))
    return row, row.index(f">{names[1]}<") < row.index(f">{names[0]}<")


@pytest.mark.parametrize("on", BASES)
@pytest.mark.parametrize("verdict", VERDICTS)
def test_attention_sentences_follow_the_verdict(bundle, on, verdict):
    """Abstract and discussion on additive vs BiLSTM, MHSA vs BiLSTM and MHSA vs the matched
    control; the headline table's rows."""
    b = copy.deepcopy(bundle)
    pairs = GROUPS["attention"]
    _drive(b, on, pairs, verdict)
    cmp = _check(b, on, pairs, verdict)["cmp"]
    html = _html(b)
    abstract, att = _abstract(html), _para(html, "Attention versus no attention.")
    _said(abstract, "Additive attention", "BiLSTM", verdict, cmp("additive", "bilstm"))
    _said(abstract, "MHSA", "BiLSTM", verdict, cmp("mhsa", "bilstm"))
    _said(abstract, "MHSA", "BiLSTM-matched", verdict, cmp("mhsa", "bilstm_matched"))
    assert ("interval over seeds and test reviews" in abstract) == (on == "seed")
    _said(att, "the additive model", "it", verdict, cmp("additive", "bilstm"))
    _said(att, "MHSA", "it", verdict, cmp("mhsa", "bilstm"))
    _said(att, "MHSA", "the matched BiLSTM", verdict, cmp("mhsa", "bilstm_matched"))
    # the abstract's and the discussion's conclusions
    none = "Neither attention layer on the BiLSTM is shown to make it more accurate"
    assert (none in abstract) == (verdict != "better")
    assert ("nor less accurate" in abstract) == (verdict in ("inconclusive", "noise"))
    assert ("both are equivalent to the plain BiLSTM within the ±0.5-point margin" in abstract
            ) == (verdict == "equivalent")
    assert ("An attention layer therefore helps" in att) == (verdict == "better")
    assert ("did not make the BiLSTM measurably better" in att) == (
        verdict not in ("better", "equivalent"))
    # both attention models equivalent to it: within the margin, not undecided
    flat = " ".join(att.split())
    assert ("by less than the declared ±0.5-point margin: equivalent within it, not better" in flat
            ) == (verdict == "equivalent")
    assert ("whether it makes it worse is undecided too" in att) == (
        verdict in ("inconclusive", "noise"))
    size = {"better": "the extra parameters alone do not explain its advantage",
            "worse": "the parameters buy more as a dense layer",
            "equivalent": "buy the same accuracy within the declared margin",
            "inconclusive": "cannot attribute a difference to attention",
            "noise": "no larger than a rerun on another machine"}
    _only_its_words(att, size, verdict)
    # the headline table: the same verdict, shaded only for a finding
    for a, other in pairs:
        row, turned = _headline_row(html, on, a, other)
        want = "inconclusive" if verdict == "noise" else verdict
        want = {"better": "worse", "worse": "better"}.get(want, want) if turned else want
        assert f"v-row-{want}" in row and ("is-finding" in row) == (want in ("better", "worse"))
        assert ("rerun noise" in row) == (verdict == "noise")
    if on == "seed":  # the Welch table is secondary: no verdicts, no shading
        welch = html.split('id="tab-pairwise"')[1].split("</table>")[0].split("<tbody>")[1]
        assert "v-row-" not in welch and "is-finding" not in welch
        assert 'class="verdict' not in welch


@pytest.mark.parametrize("on", BASES)
@pytest.mark.parametrize("verdict", VERDICTS)
def test_recurrence_and_uniform_weight_sentences_follow_the_verdict(bundle, on, verdict):
    b = copy.deepcopy(bundle)
    pairs = GROUPS["recurrence"]
    _drive(b, on, pairs, verdict)
    cmp = _check(b, on, pairs, verdict)["cmp"]
    html = _html(b)
    rec = _para(html, "Recurrence.")
    _said(rec, "MHSA", "Transformer", verdict, cmp("mhsa", "transformer"))
    expect = {"better": "Without the recurrence, accuracy is lower",
              "worse": "Self-attention without recurrence is the more accurate",
              "equivalent": "changes accuracy by less than the declared margin",
              "inconclusive": "The data do not separate the two",
              "noise": "no larger than a rerun on another machine"}
    _only_its_words(rec, expect, verdict)
    weights = _para(html, "Do the learned weights matter?")
    _said(weights, "BiLSTM-mean", "Additive attention", verdict, cmp("bilstm_mean", "additive"))


@pytest.mark.parametrize("on", BASES)
@pytest.mark.parametrize("verdict", VERDICTS)
def test_transformer_sentence_follows_the_verdict(bundle, on, verdict):
    b = copy.deepcopy(bundle)
    pairs = GROUPS["transformer"]
    _drive(b, on, pairs, verdict)
    cmp = _check(b, on, pairs, verdict)["cmp"]
    _said(_para(_html(b), "Recurrence."), "Transformer",
          "the plain BiLSTM, which has recurrence but no attention", verdict,
          cmp("transformer", "bilstm"))


@pytest.mark.parametrize("on", BASES)
@pytest.mark.parametrize("verdict", VERDICTS)
def test_leaders_sentence_follows_the_verdict(bundle, on, verdict):
    """BiLSTM-matched and MHSA at the top (by per-seed means), every other model beaten by the
    top one; the top model is called the most accurate only when it is better than the second
    too (for "worse", MHSA has the higher mean and is better), never a tie."""
    b = copy.deepcopy(bundle)
    _drive(b, "welch", [("bilstm_matched", "mhsa")], verdict)  # the ranking: per-seed means
    top, second = ("mhsa", "bilstm_matched") if verdict == "worse" else ("bilstm_matched", "mhsa")
    if on == "seed":
        b["analysis"]["seed_level"] = copy.deepcopy(bundle["analysis"]["seed_level"])
        _seed_pair(b, "bilstm_matched", "mhsa", verdict)
        for m in b["analysis"]["summary"]:
            if m not in (top, second):
                _seed_pair(b, top, m, "better")
    _check(b, on, [("bilstm_matched", "mhsa")], verdict)
    html = _html(b)
    table = "Table 4"  # the headline table: seed-level on the seed basis, else the Welch one
    words = _section(html, "results-test")
    assert " tie" not in words and "not compared" not in words
    assert f"( {table} )" in words
    T, S = prose_label(top), prose_label(second)
    if verdict in ("better", "worse"):
        assert f"{T} is the most accurate of the 6 classifiers" in words
        assert "more accurate than each of the other 5" in words
        return
    assert f"{T} has the highest mean accuracy of the 6 classifiers, " in words
    assert f"but it is not shown to be more accurate than {S} :" in words
    tail = {"equivalent": f"{S} is equivalent to it within",
            "inconclusive": f"the comparison with {S} is inconclusive",
            "noise": f"inconclusive; for {S} the interval excludes 0, but the difference is "
                     f"within the rerun spread ( {table} )"}[verdict]
    assert tail in words
    assert "is the most accurate of" not in words
    assert "It is more accurate than BiLSTM , BiLSTM-mean" in words


@pytest.mark.parametrize("verdict", ["inconclusive", "equivalent"])
def test_leaders_sentence_says_one_verdict_for_every_other_model_once(bundle, verdict):
    """When every other model has the same verdict against the top one, the sentence says so
    once instead of naming all of them twice; a mixture still names each group."""
    b = copy.deepcopy(bundle)
    _drive(b, "welch", [("bilstm_matched", "mhsa")], "inconclusive")
    b["analysis"]["seed_level"] = copy.deepcopy(bundle["analysis"]["seed_level"])
    others = [m for m in b["analysis"]["summary"] if m != "bilstm_matched"]
    for m in others:
        _seed_pair(b, "bilstm_matched", m, verdict)
    words = _section(_html(b), "results-test")
    said = {"inconclusive": "every comparison with it is inconclusive",
            "equivalent": "each is equivalent to it within"}
    assert f"not shown to be more accurate than any of the other {len(others)}:" in words
    assert said[verdict] in words
    assert not any(said[v] in words for v in set(said) - {verdict})
    _seed_pair(b, "bilstm_matched", others[-1], "better")  # one beaten: the groups are named
    words = _section(_html(b), "results-test")
    assert "any of the other" not in words and "It is more accurate than" in words


def test_leaders_sentence_names_pairs_the_basis_does_not_compare(bundle):
    """A pair without a seed-level record is not called inconclusive: it is not compared."""
    b = copy.deepcopy(bundle)
    _drive(b, "welch", [("bilstm_matched", "mhsa")], "better")
    b["analysis"]["seed_level"] = copy.deepcopy(bundle["analysis"]["seed_level"])
    _seed_pair(b, "bilstm_matched", "mhsa", "better")
    for m in ("bilstm", "additive", "bilstm_mean"):
        _seed_pair(b, "bilstm_matched", m, "better")
    s = b["analysis"]["seed_level"]
    s["pairs"][:] = [p for p in s["pairs"] if {p["a"], p["b"]} != {"bilstm_matched",
                                                                   "transformer"}]
    ctx = context(b)
    assert ctx["lead"]["uncompared"] == ["transformer"] and ctx["lead"]["inconclusive"] == []
    words = _section(_html(b), "results-test")
    assert "but it is not shown to be more accurate than Transformer :" in words
    assert "Transformer was not compared with it at the seed level" in words
    assert "inconclusive" not in words.split("Transformer has the lowest")[0]


def test_a_turned_round_record_swaps_better_and_worse(bundle):
    """The seed basis reads B - A from a record of A - B: the difference and interval negated,
    better and worse swapped, everything else as recorded."""
    b = copy.deepcopy(bundle)
    row = _seed_pair(b, "mhsa", "bilstm", "better")
    cmp = basis.comparator(b["analysis"], verdicts.margin())
    fwd, back = cmp("mhsa", "bilstm"), cmp("bilstm", "mhsa")
    assert fwd["verdict"] == "better" and back["verdict"] == "worse"
    assert (fwd["diff"], fwd["lo"], fwd["hi"]) == (row["diff"], row["ci_low"], row["ci_high"])
    assert (back["diff"], back["lo"], back["hi"]) == (-row["diff"], -row["ci_high"],
                                                      -row["ci_low"])
    assert back["tost"]["ci_low"] == -row["tost"]["ci_high"] and back["noise"] == row["noise"]
    assert cmp("mhsa", "nonexistent") is None


@pytest.mark.parametrize("on", BASES)
def test_method_states_the_basis_once(bundle, on):
    b = copy.deepcopy(bundle)
    if on == "welch":
        del b["analysis"]["seed_level"]
    html = _html(b)
    ev = _section(html, "method-evaluation")
    assert _text(html).count("One basis carries every headline number") == 1
    assert ("hierarchical bootstrap" in ev) == (on == "seed")
    assert ("Welch 95% interval over seeds, which carries" in ev) == (on == "welch")
    # the secondary tables are labelled as such; the Welch one is the headline without seed level
    pair_cap = _text(html.split('id="tab-pairwise"')[1].split("</caption>")[0])
    assert pair_cap.startswith("> Table") and ("Secondary basis" in pair_cap) == (on == "seed")
    assert "Secondary basis" in _text(html.split('id="tab-ensemble"')[1].split("</caption>")[0])


@pytest.mark.parametrize("on", BASES)
def test_seed_ensembles_never_share_a_sentence_with_per_seed_means(bundle, on):
    """The secondary basis stays in its own paragraph and table: where the ensembles order a
    pair the other way round, the sentence gives the ensembles' difference only."""
    b = copy.deepcopy(bundle)
    if on == "welch":
        del b["analysis"]["seed_level"]
    summ = b["analysis"]["summary"]
    p = b["analysis"]["pairwise"][0]
    gap = summ[p["a"]]["accuracy"]["mean"] - summ[p["b"]]["accuracy"]["mean"]
    p["acc_diff"] = -0.004 if gap >= 0 else 0.004  # the ensembles turn the pair round
    html = _html(b)
    para = _text(html.split('id="tab-ensemble"')[0].rsplit("<p>", 1)[1])
    assert "other way round" in para and f"{pts(p['acc_diff'], 2)} points between the" in para
    for sentence in para.split(". "):
        if "ensemble" in sentence:
            assert "between per-seed means" not in sentence, sentence


def test_content_id_changes_with_the_content():
    """Issue #26: a re-render with new content never shares its identifier with the old one."""
    from attnstudy.report import citation

    a = render.stamp_content(f"<p>version 2.1.0, content {citation.CONTENT}</p><p>old</p>")
    b = render.stamp_content(f"<p>version 2.1.0, content {citation.CONTENT}</p><p>new</p>")
    again = render.stamp_content(f"<p>version 2.1.0, content {citation.CONTENT}</p><p>old</p>")
    assert citation.CONTENT not in a and a == again and a != b
    assert re.fullmatch(r"<p>version 2.1.0, content [0-9a-f]{10}</p><p>old</p>", a)
