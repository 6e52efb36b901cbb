"""Wording decided by the records, and layout on small screens.

The prose sentences checked here (checkpoint criterion, budget, faithfulness, recurrence,
reproducibility scope, throughput labels) each take a results set from the synthetic fixture
(tests/fixtures/make_results.py), edit the records they rest on, and check that the words follow.
The browser test renders the report at 1280 and 400 px in headless Chromium.
"""

from __future__ import annotations

import copy
import html as htmllib
import json
import re
import subprocess
from pathlib import Path

import pytest

from attnstudy.errors import UserError
from attnstudy.report import facts, figures, fmt, render, results, wording
from attnstudy.report.facts import context
from attnstudy.report.style import prose_label
from tests import synthetic

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return results.load(synthetic.results(tmp_path_factory.mktemp("results")))


def _html(b: dict) -> str:
    """The report HTML for a bundle, with placeholder figures (no drawing)."""
    stub = [{"name": n, "svg_bytes": b"<svg/>", "aspect": 0.5} for n in figures.available(b)]
    return render.render_html(context(b), stub)


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _section(html: str, id: str) -> str:
    """The text from the element with `id` to the next h2/h3."""
    return _text(re.split(r"<h[23] ", html.split(f'id="{id}"', 1)[1], maxsplit=1)[0])


def _limitations(html: str) -> str:
    return _text(html.split('id="limitations"')[1].split("</ul>")[0])


# ----------------------------------------------------------------------------- protocol

def test_checkpoint_sentence_follows_the_runs_select(bundle):
    b = copy.deepcopy(bundle)
    for r in b["results"]["runs"]:
        r["select"] = "val_accuracy"
    html = _html(b)
    acc = "the highest validation accuracy (ties go to the lower validation loss)"
    for id in ("method-training", "results-training"):
        text = _section(html, id)
        assert acc in text and "lowest validation loss" not in text, id
    old = copy.deepcopy(bundle)  # runs trained before `select` was recorded: val_loss
    for r in old["results"]["runs"]:
        r.pop("select", None)
    assert "the checkpoint with the lowest validation loss is the one evaluated" in _section(
        _html(old), "method-training")
    bad = copy.deepcopy(bundle)
    bad["results"]["runs"][0]["select"] = "val_f1"
    with pytest.raises(UserError, match="val_f1"):
        _html(bad)


def _budget(b: dict, epochs: float, last: int) -> dict:
    """Every run at `epochs`; the first `last` runs select their last validation point, the
    others an earlier one."""
    b = copy.deepcopy(b)
    for i, r in enumerate(b["results"]["runs"]):
        r["epochs"] = epochs
        r["best_step"] = r["curve"][-1 if i < last else 0]["step"]
    return b


def test_budget_is_stated_in_epochs_and_listed_only_when_it_binds(bundle):
    n = len(bundle["results"]["runs"])
    roomy = _html(_budget(bundle, 3.0, last=0))
    assert "3.0 epochs over the" in _section(roomy, "method-training")
    assert "Small budget" not in _limitations(roomy)
    assert "One set of hyperparameters" in _limitations(roomy)
    assert "before the last validation point" in _section(roomy, "results-training")

    tight = _limitations(_html(_budget(bundle, 3.0, last=2)))
    assert "Small budget" in tight and f"In 2 of {n} runs" in tight
    assert "still improving" in tight and "no model sees every training review" not in tight

    short = _limitations(_html(_budget(bundle, 0.5, last=0)))
    assert "Small budget" in short and "0.5 epochs" in short
    assert "no model sees every training review once" in short and "still improving" not in short

    old = copy.deepcopy(bundle)  # no `epochs` recorded: steps x batch / training rows
    for r in old["results"]["runs"]:
        r.pop("epochs", None)
    res = old["results"]
    want = res["config"]["train"]["steps"] * res["config"]["train"]["batch_size"] \
        / res["data"]["rows"]["train"]
    assert f"{fmt.plural(want, 'epoch', 'epochs', d=1)} over the" in _section(
        _html(old), "method-training")


# ----------------------------------------------------------------------------- faithfulness

def _faith(b: dict, model: str, lows: list[list[float]], rhos: list[float]) -> dict:
    """`model`'s runs with drop-difference CI lows per seed (per k) and Spearman rhos; the
    analysis' per-k seed counts dropped so the facts count them from the runs."""
    b = copy.deepcopy(b)
    runs = [r for r in b["results"]["runs"] if r["model"] == model and r.get("faithfulness")]
    assert len(runs) == len(lows) == len(rhos)
    for r, lo, rho in zip(runs, lows, rhos, strict=True):
        r["faithfulness"].update(drop_diff_ci_low=lo, drop_diff_ci_high=[x + 0.02 for x in lo],
                                 grad_spearman=rho)
    b["analysis"]["faithfulness"][model].pop("seeds_top_above_random", None)
    b["analysis"]["faithfulness"][model]["grad_spearman"] = sum(rhos) / len(rhos)
    return b


def _faith_sentence(html: str, model_label: str) -> str:
    disc = _text(html.split("Attention as explanation.")[1].split("</p>")[0])
    return disc.split(f"For {model_label}")[1].split(". ")[0]


def test_faithfulness_sentences_follow_the_intervals(bundle):
    m = "additive"
    seeds = sum(1 for r in bundle["results"]["runs"] if r["model"] == m and r["faithfulness"])
    ks = bundle["analysis"]["faithfulness"][m]["k"]
    label = prose_label(m)  # the name in running text

    strong = _faith(bundle, m, [[0.01] * len(ks)] * seeds, [0.5 + 0.01 * i for i in range(seeds)])
    text = _faith_sentence(_html(strong), label)
    assert "more than removing random ones at every k" in text
    assert "attention agrees with gradient importance (ρ = 0.51" in text
    assert "inconclusive" not in text

    # above random at the largest k only, in every seed; rho straddles 0
    lows = [[-0.01] * (len(ks) - 1) + [0.01] for _ in range(seeds)]
    mixed = _faith(bundle, m, lows, [0.3, -0.3] + [0.0] * (seeds - 2))
    text = _faith_sentence(_html(mixed), label)
    assert f"more than removing random ones at k = {ks[-1]}" in text
    assert "which is inconclusive" in text and "at every k" not in text
    assert "not measurably correlated with gradient importance" in text
    assert "agrees" not in text

    none = _faith(bundle, m, [[-0.01] * len(ks)] * seeds, [0.05, 0.052] + [0.051] * (seeds - 2))
    text = _faith_sentence(_html(none), label)
    assert "no more than removing random ones" in text
    assert "only negligibly" in text  # CI above 0 but below the ledger's weak threshold
    # the results section words the same facts the same way
    results_text = _text(_html(none).split('id="results-attention"')[1]
                         .split('id="fig-additive"')[0])
    assert "no more than removing random ones" in results_text


def test_correlation_interval_stays_within_minus_one_and_one(bundle):
    m = "additive"
    seeds = sum(1 for r in bundle["results"]["runs"] if r["model"] == m and r["faithfulness"])
    ks = bundle["analysis"]["faithfulness"][m]["k"]
    b = _faith(bundle, m, [[0.0] * len(ks)] * seeds, [0.95, 0.2] + [0.9] * (seeds - 2))
    f = wording.faithfulness(b["results"], b["analysis"], b["analysis"]["ledger"])[m]
    assert -1 <= f["rho_lo"] <= f["rho_hi"] <= 1


# ----------------------------------------------------------------------------- recurrence

def _set_pair(b: dict, a: str, other: str, diff: float, sig: bool) -> None:
    for p in b["analysis"]["pairwise"]:
        if {p["a"], p["b"]} == {a, other}:
            s = 1 if p["a"] == a else -1
            lo, hi = sorted((s * (diff - 0.01), s * (diff + 0.01)))
            p.update(acc_diff=s * diff, ci_low=lo, ci_high=hi, significant=sig,
                     mcnemar_p=1e-4 if sig else 0.5, mcnemar_p_holm=1e-3 if sig else 0.9)


def _set_means(b: dict, means: dict, sd: float = 0.0005) -> None:
    """Per-seed mean accuracies (3 seeds, SD `sd`; the headline basis) of the models named."""
    for m, acc in means.items():
        b["analysis"]["summary"][m]["accuracy"].update(mean=acc, std=sd, n=3)


def test_recurrence_wording_compares_the_ledger_pair(bundle):
    row = wording.recurrence(bundle["analysis"]["ledger"])
    assert (row["with"], row["without"]) == ("mhsa", "transformer")

    def para(b):
        html = _html(b)
        return _text(html.split("<strong>Recurrence.</strong>")[1].split("</p>")[0])

    # the transformer beats the BiLSTM, but the pair that isolates recurrence does not differ
    # (on the Welch basis, from per-seed means: tests/test_report_verdicts.py drives both bases)
    close = copy.deepcopy(bundle)
    del close["analysis"]["seed_level"]
    _set_means(close, {"transformer": 0.90, "bilstm": 0.87, "mhsa": 0.903}, sd=0.01)
    text = para(close)
    assert "The data do not separate the two" in text and "does not hurt" not in text
    worse = copy.deepcopy(close)  # recurrence now matters
    _set_means(worse, {"transformer": 0.90, "bilstm": 0.87, "mhsa": 0.93})
    text = para(worse)
    assert "Without the recurrence, accuracy is lower" in text
    assert "MHSA is more accurate than Transformer" in text
    for t in (para(close), text):
        assert "known to need more data" not in t  # uncited claims stay out


# ----------------------------------------------------------------------------- reproducibility

def test_rerun_spread_is_rendered_from_its_file(bundle, tmp_path, monkeypatch):
    spread = wording.rerun_spread()  # the committed file, measured on the published results
    assert spread is not None and spread["max"] == abs(spread["diffs"][spread["worst"]]) > 0

    f = tmp_path / "spread.toml"
    f.write_text('source = "a test"\nresults_config = "0000000000000000"\nseed = 0\n'
                 'same_machine = "bit-identical"\nsetup = "a test rig"\nmax_prob_change = 0.5\n'
                 '[accuracy.mhsa]\npublished = 0.80\nrerun = 0.825\n'
                 '[accuracy.bilstm]\npublished = 0.70\nrerun = 0.699\n', encoding="utf-8")
    monkeypatch.setattr(wording, "RERUN_SPREAD", f)
    b = copy.deepcopy(bundle)
    _set_pair(b, "mhsa", "bilstm", 0.02, True)  # within 2.5 points: noise
    html = _html(b)
    scope = _section(html, "reproducibility-scope")
    assert "by up to 2.50 points" in scope and "(a test rig)" in scope
    assert "80.00% in the original run, 82.50% rerun" in scope and "BiLSTM −0.10" in scope
    assert "not on the one reported here" in scope  # measured on another results set
    row = next(p for p in b["analysis"]["pairwise"] if {p["a"], p["b"]} == {"mhsa", "bilstm"})
    names = {"mhsa": "MHSA", "bilstm": "BiLSTM"}
    assert f"{names[row['a']]} vs {names[row['b']]} {fmt.pts(row['acc_diff'], 2)}" in scope
    assert "Reproducible on one machine" in _limitations(html)

    monkeypatch.setattr(wording, "RERUN_SPREAD", tmp_path / "absent.toml")
    html = _html(bundle)
    assert 'id="reproducibility-scope"' not in html
    assert "Reproducible on one machine" not in _limitations(html)

    f.write_text("[accuracy.mhsa]\npublished = 0.8\n", encoding="utf-8")
    monkeypatch.setattr(wording, "RERUN_SPREAD", f)
    with pytest.raises(UserError, match="published and rerun"):
        wording.rerun_spread()


def test_throughput_labels_say_what_they_count(bundle):
    html = _html(bundle)
    timing = _text(html.split('id="tab-timing"')[1].split("</table>")[0])
    assert "Train tokens/s (real)" in timing and "padding" in timing
    bench = bundle["bench"]
    table = _text(html.split('id="tab-bench"')[1].split("</table>")[0])
    assert f"JAX positions/s ({bench['batch']} × {bench['seq_len']} per step)" in table
    appendix = _text(html.split('id="benchmark"')[1].split("</p>")[0])
    assert "full width, no padding" in appendix and "real tokens" in appendix


# ----------------------------------------------------------------------------- layout

# Runs inside the report, which sits in an iframe of the width under test (headless Chromium
# will not make a window narrower than 500 px): reports the page's overflow, the elements that
# stick out of the page without a scrolling box around them, and the table cells that wrap.
PROBE = """<script>
window.addEventListener("load", () => {
  const W = document.documentElement.clientWidth, out = [], wrapped = [];
  const inScroller = el => { for (let p = el.parentElement; p; p = p.parentElement)
    if (getComputedStyle(p).overflowX !== "visible") return true; return false; };
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > W + 1 && !inScroller(el))
      out.push(el.tagName + (el.id ? "#" + el.id : "") + " " + Math.round(r.right));
  }
  const lines = td => {  // line boxes of the cell's text: a rect below the last line opens one
    const rects = [], walk = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
    for (let t = walk.nextNode(); t; t = walk.nextNode()) {
      const range = document.createRange(); range.selectNodeContents(t);
      rects.push(...Array.from(range.getClientRects()).filter(q => q.width > 0));
    }
    rects.sort((p, q) => p.top - q.top);
    let n = 0, bottom = -Infinity;
    for (const q of rects) if (q.top >= bottom - 1) { n += 1; bottom = q.bottom; }
    return n;
  };
  for (const td of document.querySelectorAll("td.r"))
    if (lines(td) > (td.querySelector(".ci") ? 2 : 1)) wrapped.push(td.textContent.trim());
  const caps = Array.from(document.querySelectorAll(".table-wrap caption")).filter(c =>
    c.getBoundingClientRect().right > c.closest(".table-wrap").getBoundingClientRect().right + 1)
    .map(c => c.closest(".table-wrap").id);
  // every figure in view reads: an image is drawn at 600 px or more (its labels were drawn 8 pt
  // at 691 px), an inline SVG's smallest text is 9 CSS px or more (its font size times the
  // scale the SVG is drawn at); `figs` lists each figure in view with that size
  const textPx = svg => Math.min(...Array.from(svg.querySelectorAll("text")).map(t => {
    const m = t.getScreenCTM();
    return parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b); }));
  const figs = Array.from(document.querySelectorAll("figure svg.fig-svg, figure > img"))
    .filter(f => f.getBoundingClientRect().width > 0).map(f => ({
      id: f.closest("figure").id, svg: f.id || "", width: f.getBoundingClientRect().width,
      px: f.tagName === "IMG" ? null : textPx(f)}));
  const small = figs.filter(f => f.px === null ? f.width < 600 : f.px < 9).map(f => f.id);
  // every table's first column and every verdict stay in view without scrolling
  const hidden = Array.from(document.querySelectorAll(
    ".table-wrap tbody th:first-child, .table-wrap .verdict")).filter(c =>
    c.getBoundingClientRect().left < -1 || (c.matches(".verdict") &&
    c.getBoundingClientRect().right > W + 1)).map(c => c.textContent.trim()).slice(0, 10);
  parent.postMessage(JSON.stringify({width: W, scroll: document.documentElement.scrollWidth,
                                     out: out.slice(0, 20), wrapped: wrapped.slice(0, 20),
                                     captions: caps, small: small, hidden: hidden,
                                     figs: figs}), "*");
});
</script>"""
HOST = """<!doctype html><html><body style="margin:0">
<iframe src="{src}" style="width:{w}px;height:900px;border:0"></iframe>
<pre id="probe-result"></pre>
<script>window.addEventListener("message", e =>
  document.getElementById("probe-result").textContent = e.data);</script>
</body></html>"""


def _probe(html: str, width: int, tmp_path: Path, name: str) -> dict:
    page = tmp_path / f"{name}.html"
    page.write_text(html.replace("</body>", PROBE + "</body>", 1), encoding="utf-8")
    host = tmp_path / f"{name}-host.html"
    host.write_text(HOST.format(src=page.name, w=width), encoding="utf-8")
    run = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", "--disable-background-networking", "--disable-extensions",
         "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp_path / name}",
         "--window-size=1400,1000", "--virtual-time-budget=10000", "--dump-dom",
         host.as_uri()], capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="probe-result">(.+?)</pre>', run.stdout, re.S)
    assert m, run.stderr[-2000:]
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.fixture
def rendered(rendered_report):
    """The fixture's report with its real figures (rendered once per session, conftest)."""
    return rendered_report["html"]


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
@pytest.mark.parametrize("width", [1280, 400])
def test_page_never_scrolls_sideways(rendered, tmp_path, width):
    probe = _probe(rendered, width, tmp_path, "report")
    assert probe["width"] == width
    assert probe["scroll"] <= width, probe["out"]
    assert probe["out"] == [] and probe["wrapped"] == [] and probe["captions"] == [], probe
    assert probe["small"] == [] and probe["hidden"] == [], probe
    # the check sees every figure: on a phone each shows its phone rendering, text >= 9 px
    placed = re.findall(r'<figure id="(fig-[\w-]+)" class="fig(?![^"]*html-fig)', rendered)
    assert sorted(f["id"] for f in probe["figs"]) == sorted(placed), probe["figs"]
    if width == 400:
        assert all(f["svg"].endswith("-narrow") and f["px"] >= 9 for f in probe["figs"])
        print("smallest figure text at 400 px:", min(f["px"] for f in probe["figs"]), "px")
        shrunk = rendered.replace(  # and it sees text too small to read where there is some
            "</head>", "<style>.fig-narrow svg { width: 60% !important }</style></head>", 1)
        assert _probe(shrunk, width, tmp_path, "shrunk")["small"]
    # the probe sees overflow where there is some: a fixed-width block breaks the page
    wide = rendered.replace("<article>", f'<article><div style="width:{width + 300}px">x</div>', 1)
    broken = _probe(wide, width, tmp_path, "broken")
    assert broken["scroll"] > width and broken["out"]


# ----------------------------------------------------------------------------- numbers and bases

def test_spreads_never_print_as_zero():
    assert fmt.sd(0.0004) == "0.0004" and fmt.sd(0.0021) == "0.002" and fmt.sd(0.0) == "0.000"
    assert fmt.sd(0.049, 1) == "0.05" and fmt.sd(0.2, 1) == "0.2"


def test_ledger_text_reads_as_prose():
    text = ("additive - bilstm_matched = -0.32 points (Holm p < 1e-4); the attention weights of "
            "additive and mhsa; bilstm_mean (additive attention with uniform weights) by >= 2")
    assert fmt.readable(text) == (
        f"{prose_label('additive')} − BiLSTM-matched = −0.32 points (Holm p < 1e-4); the "
        f"attention weights of {prose_label('additive')} and MHSA; BiLSTM-mean (additive "
        "attention with uniform weights) by ≥ 2")


def test_pairs_ranked_differently_by_the_two_bases_are_named(bundle):
    """Table 3 ranks per-seed means, Table 4 seed ensembles: where they disagree, the text says."""
    b = copy.deepcopy(bundle)
    summ = b["analysis"]["summary"]
    p = b["analysis"]["pairwise"][0]
    gap = summ[p["a"]]["accuracy"]["mean"] - summ[p["b"]]["accuracy"]["mean"]
    for q in b["analysis"]["pairwise"]:  # every pair agrees with its per-seed means ...
        q["acc_diff"] = abs(q["acc_diff"] or 0.001) * (1 if summ[q["a"]]["accuracy"]["mean"]
                                                       >= summ[q["b"]]["accuracy"]["mean"] else -1)
    assert "other way round" not in _text(_html(b).split('id="tab-pairwise"')[1]
                                          .split('id="tab-ensemble"')[0])
    p["acc_diff"] = -0.004 if gap >= 0 else 0.004  # ... but the first
    p["significant"] = False
    words = _text(_html(b).split('id="tab-pairwise"')[1].split('id="tab-ensemble"')[0])
    assert "In 1 pair the seed ensembles order the two models the other way round" in words
    assert f"{prose_label(p['a'])} minus {prose_label(p['b'])}" in words


def test_ledger_says_when_each_rule_was_fixed(rendered):
    """Not 'follows mechanically': each rule names the commit that fixed it (paper/claims.toml)."""
    ledger = rendered.split('id="tab-ledger"')[1].split("</table>")[0]
    assert "mechanically" not in ledger and "paper/claims.toml" in ledger
    fixed = facts.rules_fixed()
    assert fixed
    for row in ledger.split("<tr>")[2:]:
        assert row.count("Rule fixed: ") == 1, row[:200]


def _probe_verdict(probes: dict, a: str, b: str, verdict: str, p: float):
    """Record `verdict` for a against b on the probes (and its mirror for b against a)."""
    mirror = {"better": "worse", "worse": "better"}.get(verdict, verdict)
    for x, y, v in ((a, b, verdict), (b, a, mirror)):
        probes[x]["versus"][y] = {"diff": 0.01, "only_this": 5, "only_other": 1, "p": p,
                                  "p_holm": p, "verdict": v}


def test_probe_sentences_follow_the_mcnemar_verdicts(bundle):
    """Issue #26: the probes are compared pair by pair by exact McNemar tests (Holm-adjusted,
    analysis negation.probes[m].versus), never by overlapping Wilson intervals; the results and
    the discussion word each pair by its verdict: better, worse or inconclusive, never a tie."""
    b = copy.deepcopy(bundle)
    probes = b["analysis"]["negation"]["probes"]
    ms = sorted(probes, key=lambda m: m == "bilstm")  # the plain BiLSTM last: MHSA is named
    for i, m in enumerate(ms):
        probes[m]["accuracy"] = 0.90 - 0.02 * i
        probes[m]["versus"] = {}
    for i, m in enumerate(ms):
        for o in ms[i + 1:]:
            _probe_verdict(probes, m, o, "inconclusive", 0.5)
    top, k = prose_label(ms[0]), len(ms) * (len(ms) - 1) // 2
    def both(h: str) -> tuple[str, str]:
        return tuple(htmllib.unescape(_section(h, s)) for s in ("results-negation", "discussion"))

    for words in both(_html(b)):  # every pair inconclusive
        assert f"every comparison is inconclusive: the probes cannot order the {len(ms)} " \
            "models, which is not evidence that they are equally good" in words
        assert f"Holm-adjusted over the {k} pairs of models" in words
        assert "better on the probes" not in words and " tie" not in words
        assert "within its 95% Wilson interval" not in words  # the old, untested basis
    _probe_verdict(probes, ms[0], ms[-1], "better", 0.0123)  # one finding: top better
    assert facts.probe_verdicts(b["analysis"])["better"] == [ms[-1]]
    for words in both(_html(b)):
        assert f"1 of the {k} comparisons is a finding: {top} is better on the probes than " \
            f"{prose_label(ms[-1])} (Holm p = 0.012); the other {k - 1} are inconclusive, " \
            f"among them {top} against {prose_label(ms[1])}" in words
    _probe_verdict(probes, ms[0], ms[-1], "inconclusive", 0.5)
    _probe_verdict(probes, ms[0], ms[1], "worse", 0.0004)  # the runner-up beats the top mean
    assert facts.probe_verdicts(b["analysis"])["worse"] == [ms[1]]
    for words in both(_html(b)):
        assert f"{prose_label(ms[1])} is better on the probes than {top} (Holm p < 0.001)" \
            in words
    assert f"{top} has the highest mean probe accuracy" in _section(_html(b), "discussion")
    for m in ms:  # results recorded before the paired tests: said, no order claimed
        del probes[m]["versus"]
    for words in both(_html(b)):
        assert "record no paired test of the probe accuracies, so the probes order no models" \
            in words


def test_a_length_chosen_on_test_is_said_until_a_sweep_chose_the_settings(bundle):
    """v2's review length was compared on test accuracy: the limitations of the full profile's
    results say so, unless the results folder holds the validation sweep (sweep.json) that
    chose the settings; a preview profile's fixed settings are said to be a preview's."""
    assert not bundle.get("swept") and bundle["results"]["profile"] == "smoke"
    preview = _limitations(_html(bundle))
    assert "Preview settings" in preview and "A setting chosen on test" not in preview
    bundle = copy.deepcopy(bundle)
    bundle["results"]["profile"] = "full"
    said = _limitations(_html(bundle))
    assert "A setting chosen on test" in said and "test accuracy at two lengths" in said
    assert "One set of hyperparameters" in said and "Preview settings" not in said
    swept = _limitations(_html({**bundle, "swept": True}))
    assert "A setting chosen on test" not in swept and "One set of hyperparameters" not in swept
    # v3 still says plainly what v2 did, and that validation chose this version's settings
    assert "Version 2 chose a setting on test" in swept and "test accuracy at two lengths" in swept
    assert "chosen on the validation split only" in swept and "tuned on validation" in swept
