"""The v3 results sections (paper/prose/seed_level.html.j2, attnstudy.report.seed_facts): each
sentence driven to each verdict from the records it rests on, the absent measures said to be
absent, the sweep table and the conicity figure. Results from the synthetic fixture
(tests/fixtures/make_results.py), edited as in tests/test_report_prose.py."""

from __future__ import annotations

import copy
import functools
import importlib.util
import re
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from attnstudy.analysis import seed_level as sl
from attnstudy.analysis.sections import runs_by_model
from attnstudy.pipeline import sweep as sweep_mod
from attnstudy.report import figures, results, style
from attnstudy.report.facts import context
from attnstudy.report.fmt import pts
from attnstudy.stats import equivalence as eq
from tests import synthetic
from tests.synthetic import make_results
from tests.test_report_prose import _html, _section, _text

_tests = importlib.util.spec_from_file_location(
    "test_seed_level", Path(__file__).parent / "test_seed_level.py")
seed_tests = importlib.util.module_from_spec(_tests)
_tests.loader.exec_module(seed_tests)

PHRASE = {"better": "more accurate than", "worse": "less accurate than",
          "equivalent": "equivalent in accuracy to",
          "inconclusive": "not shown to differ in accuracy from",
          "noise": "not shown to differ in accuracy from"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return results.load(synthetic.results(tmp_path_factory.mktemp("results")))


def _row(html: str, table: str, *names: str) -> str:
    rows = html.split(f'id="{table}"')[1].split("</table>")[0].split("<tr")
    return next(r for r in rows if all(n in r for n in names))


def _cells(row: str) -> list[str]:
    """The text of a table row's data cells."""
    return [_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]


@functools.cache  # a bootstrap of 2000 x 20000 reviews: once per pair and verdict
def _computed(a: str, other: str, verdict: str, spread: float) -> dict:
    ca, cb = seed_tests._pair_for(verdict)
    acc = eq.review_resampled_accuracy({a: ca, other: cb}, 2000, 0)
    return sl.compare(a, other, {a: ca, other: cb}, acc, seed_tests.E, spread, 0)


def _pair(b: dict, a: str, other: str, verdict: str) -> dict:
    """Put an (a, other) row with `verdict` into the seed-level section, computed by the
    analysis from correctness arrays that give it (test_seed_level._pair_for)."""
    spread = b["analysis"]["seed_level"]["rerun_spread"]["max"]
    row = {**copy.deepcopy(_computed(a, other, verdict, spread)), "why": ["test"]}
    pairs = b["analysis"]["seed_level"]["pairs"]
    pairs[:] = [p for p in pairs if {p["a"], p["b"]} != {a, other}] + [row]
    return row


def _with_measures(b: dict, embed: bool = True) -> dict:
    """Conicity for every run, lexicon shares for the attention models, and (embed) the
    non-contextual arm's two models in the summary, as v3 results would have them."""
    b = copy.deepcopy(b)
    for r in b["results"]["runs"]:
        k = 0.01 * r["seed"]
        r["conicity"] = {"states": {"mean": (0.95 if r["model"] != "transformer" else 0.4) + k},
                         "embeddings": {"mean": 0.3 + k}}
        if r["model"] in ("additive", "mhsa"):
            lift = 1.3 + 0.05 * r["seed"]
            r["lexicon"] = {"lift": lift, "attention_mass": 0.1 * lift, "token_share": 0.1,
                            "excess": 0.1 * lift - 0.1, "n_reviews": 200}
            r["top_words"] = {"k": 3, "min_count": 50, "words": [
                {"word": w, "relative_attention": x - 0.2 * r["seed"], "count": 80, "lexicon": lx}
                for w, x, lx in (("superb", 3.3, True), (f"<w{r['seed']}>", 2.2, False),
                                 ("film", 1.6, False))]}
    runs = runs_by_model(b["results"], b["results"]["config"])
    s = b["analysis"]["seed_level"]
    s["conicity"], s["lexicon"] = sl.conicity(runs), sl.lexicon(runs)
    s["top_words"] = sl.top_words(runs)
    s["lexicon_rule"] = sl.lexicon_rule(seed_tests.RULE, s["lexicon"])
    s["absent"] = {"measures": [], "models": []}
    if embed:
        summ = b["analysis"]["summary"]
        for m in ("embed_additive", "embed_mean"):
            summ[m] = copy.deepcopy(summ["bilstm_mean"])
        for ab in (("embed_additive", "embed_mean"), ("additive", "embed_additive"),
                   ("bilstm_mean", "embed_mean")):
            _pair(b, *ab, "inconclusive")
    return b


# ----------------------------------------------------------------------------- absent

def test_v2_results_say_what_is_absent(bundle):
    html = _html(bundle)
    flat = _section(html, "results-uniformity")
    assert flat.count("is absent for these results") == 2  # conicity, lexicon
    assert "Conicity" in flat and "sentiment-lexicon" in flat
    assert "The non-contextual arm is incomplete in these results" in _text(html)
    assert 'id="fig-conicity"' not in html and 'id="tab-lexicon"' not in html
    assert "holds no sweep.json" in _section(html, "results-sweep")
    assert 'id="tab-seed-level"' in html  # the comparisons themselves need no new measure


def test_an_analysis_without_the_section_renders(bundle):
    b = copy.deepcopy(bundle)
    del b["analysis"]["seed_level"]
    html = _html(b)
    assert "predates the seed-level comparisons" in _section(html, "results-seed-level")
    assert 'id="tab-seed-level"' not in html
    assert "absent from this results set's analysis" in _text(html)


# ----------------------------------------------------------------------------- verdicts

@pytest.mark.parametrize("verdict", ["better", "worse", "equivalent", "inconclusive", "noise"])
def test_table_and_arm_sentences_follow_the_verdict(bundle, verdict):
    b = _with_measures(bundle)
    _pair(b, "mhsa", "bilstm", verdict)
    _pair(b, "embed_additive", "embed_mean", verdict)
    html = _html(b)
    want = "inconclusive" if verdict == "noise" else verdict
    row = _row(html, "tab-seed-level", "MHSA", "BiLSTM<")
    assert f"v-row-{want}" in row and ("is-finding" in row) == (want in ("better", "worse"))
    assert ("rerun noise" in row) == (verdict == "noise")
    flat = _section(html, "results-uniformity")
    said = flat.split(f"Embeddings + additive attention is {PHRASE[verdict]} Embedding "
                      "mean-pool (")[1].split(")")[0]
    assert "between per-seed means" in said and "over seeds and reviews" in said
    assert ("rerun spread" in said) == (verdict == "noise")
    assert ("equivalence margin" in said) == (verdict == "equivalent")


def test_verdict_counts_and_the_headline_basis(bundle):
    """The section's verdicts are the report's (report.basis): the headline comparator gives
    each recorded pair its recorded verdict, and the text says so instead of setting a second
    verdict beside it."""
    b = copy.deepcopy(bundle)
    ctx = context(b)
    rows = b["analysis"]["seed_level"]["pairs"]
    assert ctx["basis"]["name"] == "seed"
    for p in rows:
        c = ctx["cmp"](p["a"], p["b"])
        assert (c["verdict"], c["noise"], c["diff"]) == (p["verdict"], p["noise"], p["diff"])
    html = _section(_html(b), "results-seed-level")
    assert f"Of {len(rows)} pairs," in html and "These are the report's verdicts" in html
    assert "the two verdicts differ" not in html



def test_the_seeds_limitation_follows_the_verdicts_basis(bundle):
    """On the seed basis the limitation says the verdicts carry training variance and gives the
    median MDE; on v2's review basis it says the tests resample reviews only."""
    from tests.test_report_prose import _limitations

    b = copy.deepcopy(bundle)
    for i, p in enumerate(b["analysis"]["seed_level"]["pairs"]):
        p["mde"] = (0.004, 0.011, 0.02)[i % 3]
    said = _limitations(_html(b))
    assert "Seeds as replicates." in said
    assert "the verdicts resample seeds, then test reviews" in said
    assert "smaller than about 1.10 points (the median over comparisons) can go undetected" in said
    assert "Welch" not in said
    del b["analysis"]["seed_level"]
    said = _limitations(_html(b))
    assert "Few seeds." in said and "(Welch, over seeds) leave out the variance of the test" in said


@pytest.mark.parametrize("mdes,words", [
    ((0.003,), "Each is within the ±0.5-point margin"),
    ((0.02,), "Each exceeds the ±0.5-point margin"),
    ((0.003, 0.02), "pairs of models it is within the ±0.5-point margin; for ")])
def test_mde_sentence_compares_with_the_margin(bundle, mdes, words):
    b = copy.deepcopy(bundle)
    for i, p in enumerate(b["analysis"]["seed_level"]["pairs"]):
        p["mde"] = mdes[i % len(mdes)]
    text = _section(_html(b), "results-seed-level")
    assert words in text and "80% power" in text
    lo, hi = min(mdes), max(mdes)
    assert f"{100 * lo:.2f}" in text and f"{100 * hi:.2f}" in text


# ----------------------------------------------------------------------------- measures

def test_conicity_sentence_and_figure(bundle):
    b = _with_measures(bundle, embed=False)
    html = _html(b)
    flat = _section(html, "results-uniformity")
    assert "is absent" not in flat.split("Attention on sentiment words")[0]
    assert 'id="fig-conicity"' in html
    assert "are more alike than their token embeddings" in flat  # every model, 2 seeds
    con = b["analysis"]["seed_level"]["conicity"]
    con["mhsa"]["states_minus_embeddings"].update(ci_low=-0.1, ci_high=0.2)
    con["bilstm"]["states_minus_embeddings"].update(ci_low=-0.3, ci_high=-0.1)
    con["transformer"]["states_minus_embeddings"].update(n=1)
    flat = _section(_html(b), "results-uniformity")
    assert "those of BiLSTM are less alike than the embeddings" in flat
    assert "for MHSA the interval of the difference includes 0" in flat
    assert "Transformer has one seed, so no interval" in flat
    fig, df = figures.FIGURES["conicity"].draw(b["analysis"])
    plt.close(fig)
    assert set(df["vectors"]) == {"states", "embeddings"}
    assert len(df) == 2 * len(b["results"]["runs"])  # one row per run and vector set
    assert {"mean", "ci_low", "ci_high", "n_seeds"} <= set(df.columns)
    assert "conicity" not in figures.available(bundle)


@pytest.mark.parametrize("lifts,verdict", [
    ((1.6, 1.62), "supported"), ((1.2, 1.21), "partly supported"),
    ((0.9, 1.0), "not supported"), ((1.7,), "inconclusive")])
def test_lexicon_rule_sentence_follows_its_verdict(bundle, lifts, verdict):
    b = _with_measures(bundle, embed=False)
    runs = [r for r in b["results"]["runs"] if r["model"] == "additive"]
    for i, r in enumerate(runs):
        if i < len(lifts):
            r["lexicon"].update(lift=lifts[i], excess=0.1 * lifts[i] - 0.1 + 0.0001 * i)
        else:
            r["lexicon"] = None
    s = b["analysis"]["seed_level"]
    s["lexicon"] = sl.lexicon(runs_by_model(b["results"], b["results"]["config"]))
    s["lexicon_rule"] = sl.lexicon_rule(seed_tests.RULE, s["lexicon"])
    assert s["lexicon_rule"]["verdict"] == verdict
    flat = _section(_html(b), "results-uniformity")
    assert f"“Additive attention focuses on sentiment words” is {verdict}" in flat
    assert ("cannot be applied" in flat) == (verdict == "inconclusive")
    assert ("resamples seeds only" in flat) == (verdict != "inconclusive")


def test_non_contextual_arm_table(bundle):
    b = _with_measures(bundle)
    html = _html(b)
    assert 'id="tab-arms"' in html
    for m in ("Embeddings + additive attention", "Embedding mean-pool", "BiLSTM-mean"):
        assert m in _row(html, "tab-arms", m)
    assert "The non-contextual arm asks whether" in _text(html)
    # the ablation columns: additive's per-seed mean change with its interval; none to ablate
    # for the mean-pools
    abl = b["analysis"]["attention"]["ablations"]["additive"]
    cells = _cells(_row(html, "tab-arms", "Additive attention<"))
    for i, mode in ((3, "uniform"), (4, "permuted")):
        d = abl[mode]["acc_diff"]
        assert cells[i] == f"{pts(d['mean'], 2)} [{pts(d['ci_low'], 2)}, {pts(d['ci_high'], 2)}]"
    assert _cells(_row(html, "tab-arms", "Embedding mean-pool"))[3:5] == ["–", "–"]
    # the words, pooled over seeds: the lexicon word bold, the seed-specific ones after it
    words = _row(html, "tab-arm-words", "Additive attention<")
    assert "<b>superb</b> 3.20" in words and "film 1.50" in words
    assert "&lt;w0&gt; 2.20" in words  # escaped, and in one seed's list only: after film
    assert words.index("film") < words.index("&lt;w0&gt;")
    assert "33%" in words and "2 of 3" in words and "&lt;w1&gt;" not in words  # cut at k
    assert "at least 50 times" in _text(html.split('id="tab-arm-words"')[1])


@pytest.mark.parametrize("embed,where", [
    ((1.8, 1.9), "more of its mass"), ((0.9, 0.95), "less of its mass"),
    ((1.2, 1.5), "do not show whether"), ((1.4, 1.45), "do not show whether"),
    ((1.8,), "no interval compares")])
def test_arm_caption_says_what_the_lift_comparison_shows(bundle, embed, where):
    b = _with_measures(bundle)
    s = b["analysis"]["seed_level"]
    s["lexicon"]["embed_additive"] = sl.lexicon({"embed_additive": [
        {"lexicon": {"lift": x, "attention_mass": 0.1 * x, "token_share": 0.1,
                     "excess": 0.1 * x - 0.1}} for x in embed]})["embed_additive"]
    s["lexicon_arms"] = sl.lexicon_arms(s["lexicon"])
    cap = _text(_html(b).split('id="tab-arms"')[1].split("</caption>")[0])
    assert where in cap
    for other in {"more of its mass", "less of its mass", "do not show whether",
                  "no interval compares"} - {where}:
        assert other not in cap
    lc = s["lexicon_arms"]
    assert f"lift {lc['lift_a']:.2f}" in cap and f"'s {lc['lift_b']:.2f}" in cap
    assert ("Welch 95% interval" in cap) == (len(embed) > 1)
    # seed separation is said beside an interval only (one seed is trivially "every seed")
    assert ("every seed of" in cap) == (lc["separated"] is not None and len(embed) > 1)
    assert ("(though every seed" in cap) == ("every seed of" in cap and where.startswith("do not"))


ACCOUNTS = {"consistent": "as the conicity account of flat attention predicts",
            "against": "which goes against the conicity account",
            "open": "neither supports nor refutes the conicity account",
            "untestable": "pair cannot test the conicity account",
            "no_interval": "no interval compares the two arms"}
EMBED, STATES = "Embeddings + additive attention", "Additive attention"


APART = ((0.2, 0.21, 0.22), (0.9, 0.88, 0.91))  # conicity: embeddings well below states


LOW, HIGH = (0.80, 0.82, 0.85), (0.97, 0.98, 0.975)  # entropies: clearly apart


@pytest.mark.parametrize("account,ents,cones,why", [
    ("consistent", (LOW, HIGH), APART, EMBED),
    ("against", ((0.99, 0.995, 0.992), (0.90, 0.91, 0.92)), APART, EMBED),
    # embeddings more alike than the states: the account predicts the reverse
    ("consistent", (HIGH, LOW), APART[::-1], STATES),
    ("against", (LOW, HIGH), APART[::-1], STATES),
    ("open", ((0.90, 0.99, 0.95), (0.93, 0.96, 0.94)), APART, None),
    ("untestable", (LOW, HIGH), ((0.2, 0.9, 0.5), (0.3, 0.8, 0.6)), None),
    ("no_interval", ((0.80,), (0.97, 0.98)), ((0.2,), (0.9, 0.88)), "a single seed on one side"),
    # the entropy has an interval, the conicity none: the reason is the conicity's
    ("no_interval", (LOW, HIGH), ((0.2,), (0.9, 0.88, 0.91)), "a single seed on one side"),
    ("no_interval", (LOW, HIGH), ((0.2, 0.2, 0.2), (0.9, 0.9, 0.9)), "no spread over seeds")])
def test_the_arms_sentence_says_what_the_entropy_and_conicity_intervals_show(
        bundle, account, ents, cones, why):
    b = _with_measures(bundle)
    runs = seed_tests._arm_runs(*ents, *cones)
    fa = sl.flat_arms(runs, sl.conicity(runs))
    b["analysis"]["seed_level"]["flat_arms"] = fa
    text = _text(_section(_html(b), "results-uniformity"))
    para = " ".join(text[text.index("Across the arms"):].split())[:700]
    assert ACCOUNTS[account] in para, para
    for other in set(ACCOUNTS) - {account}:
        assert ACCOUNTS[other] not in para
    assert f"entropy of {fa['entropy']['mean_a']:.3f}" in para
    assert f"entropy {fa['entropy']['mean_b']:.3f}" in para
    assert ("Welch 95% interval" in para) == (account != "no_interval")
    if account in ("consistent", "against"):  # which arm's vectors are the less alike
        assert f"less alike vectors (those of {why})" in para
    elif why:
        assert f"With {why}, no interval compares" in para
    if account != "no_interval":
        diff = f"{fa['entropy']['diff']:.3f}".replace("-", "−")  # the report's minus sign
        assert f"{EMBED} minus {STATES}: {diff} in entropy" in para
    # v2 results have no such record: no sentence
    b["analysis"]["seed_level"]["flat_arms"] = None
    assert "Across the arms" not in _text(_html(b))


# ----------------------------------------------------------------------------- sweep

def _sweep_record() -> dict:
    """sweep.json as pipeline.sweep.run_sweep writes it, its choices made by sweep.select."""
    stages, chosen = [], {}
    grid = {"max_len": ([256, 400, 512], ("bilstm", "additive"), "shared"),
            "learning_rate": ([1e-3, 3e-3, 1e-2, 3e-2], make_results.MODELS, "per_model")}
    for name, (values, models, scope) in grid.items():
        # peaked inside the grid, except MHSA's rate, which keeps rising to the top end
        runs = [{"model": m, "value": v, "val_accuracy": 0.85 - 0.01 * (j - 1) ** 2
                 + (0.05 if (name, m) == ("learning_rate", "mhsa") and v == 3e-2 else 0),
                 "val_loss": 0.4, "run_key": f"{m}-{v}", "best_step": 10, "steps": 10}
                for j, v in enumerate(values) for m in models]
        stage = sweep_mod.Stage(name, tuple(values), tuple(models), scope)
        choice = sweep_mod.select(stage, runs, applies_to=make_results.MODELS
                                  if scope == "shared" else None)
        chosen[name] = {m: c["value"] for m, c in choice.items()}
        stages.append({"setting": name, "scope": scope, "values": values, "models": models,
                       "runs": runs, "choices": {m: {**c, "scores": {
                           str(k): x for k, x in c["scores"].items()}} for m, c in
                           choice.items()}})
    return {"profile": "full", "seed": 0, "metric": "val_accuracy", "stages": stages,
            "at_edge": [{"setting": st["setting"], "model": m, "value": c["value"],
                         "edge": c["edge"]} for st in stages
                        for m, c in st["choices"].items() if c["at_edge"]
                        and m in st["models"]]}


def test_sweep_tables_show_every_grid_point_and_the_choices(bundle):
    b = copy.deepcopy(bundle)
    b["sweep"] = _sweep_record()
    html = _html(b)
    text = _section(html, "results-sweep")
    assert "holds no sweep.json" not in text
    for t in ("tab-sweep-max_len", "tab-sweep-learning_rate"):
        assert f'id="{t}"' in html
    row = _row(html, "tab-sweep-learning_rate", "MHSA")
    assert row.count("%") == 4 and "<b>" in row and "(edge)" in row  # 3e-2 is the top end
    assert "<b>" not in _row(html, "tab-sweep-max_len", "BiLSTM<")  # shared: bold mean only
    mean = _row(html, "tab-sweep-max_len", ">Mean of these (decides)<")
    assert "<b>" in mean and ">400<" in mean and "edge" not in mean
    assert b["sweep"]["at_edge"] == [{"setting": "learning_rate", "model": "mhsa",
                                      "value": 3e-2, "edge": "high"}]
    assert "1 choice sits at the edge of its grid" in text
    assert "learning rate of MHSA at 0.03 (high end)" in text
    assert "(edge)" not in _row(html, "tab-sweep-learning_rate", "BiLSTM<")


def test_a_grid_extension_shows_as_its_own_column_and_a_shared_edge_once(bundle):
    """The runner's one-point extension past an end (embedding dropout 0.8 for one model) is a
    column of its own, marked +, and a choice there says so; a shared stage's edge flag, recorded
    once per scored model, is said once."""
    b = copy.deepcopy(bundle)
    rec = _sweep_record()
    models = make_results.MODELS
    runs = [{"model": m, "value": v, "val_accuracy": 0.86 + (0.01 if v == 0.4 else 0),
             "val_loss": 0.4, "run_key": f"{m}-d{v}", "best_step": 10, "steps": 10}
            for v in (0.2, 0.4, 0.6) for m in models]
    runs = [r for r in runs if r["model"] != "mhsa"]
    runs += [{"model": "mhsa", "value": v, "val_accuracy": 0.85 + 0.01 * i, "val_loss": 0.4,
              "run_key": f"mhsa-d{v}", "best_step": 10, "steps": 10}
             for i, v in enumerate((0.2, 0.4, 0.6, 0.8))]
    stage = sweep_mod.Stage("embed_dropout", (0.2, 0.4, 0.6), tuple(models), "per_model")
    choice = sweep_mod.select(stage, [r for r in runs if r["value"] != 0.8])
    assert choice["mhsa"]["edge"] == "high"  # so the runner trains 0.8 and chooses again
    assert sweep_mod.extension(stage, "high") == 0.8
    wider = sweep_mod.Stage("embed_dropout", (0.2, 0.4, 0.6, 0.8), ("mhsa",), "per_model")
    choice["mhsa"] = sweep_mod.select(wider, [r for r in runs if r["model"] == "mhsa"])["mhsa"]
    assert choice["mhsa"]["value"] == 0.8 and choice["mhsa"]["edge"] == "high"
    rec["stages"].append({"setting": "embed_dropout", "scope": "per_model",
                          "values": [0.2, 0.4, 0.6], "models": models, "runs": runs,
                          "choices": {m: {**c, "scores": {str(k): x for k, x in
                                                          c["scores"].items()}}
                                      for m, c in choice.items()}})
    rec["at_edge"] = [{"setting": "max_len", "model": m, "value": 512, "edge": "high"}
                      for m in ("bilstm", "additive")]
    rec["at_edge"].append({"setting": "embed_dropout", "model": "mhsa", "value": 0.8,
                           "edge": "high"})
    b["sweep"] = rec
    html = _html(b)
    text = _section(html, "results-sweep")
    assert "2 choices sit at the edge of their grid" in text
    assert "review length (every model) at 512 (high end)" in text
    assert ("embedding dropout of MHSA at 0.8 (high end, itself the one-point extension past "
            "the declared grid)") in text
    head = html[html.index('id="tab-sweep-embed_dropout"'):]
    head = head[:head.index("</thead>")]
    assert ">0.8+<" in head and ">0.6<" in head and "Values marked + lie past" in head
    row = _row(html, "tab-sweep-embed_dropout", "MHSA")
    assert row.count("%") == 4 and "<b>88.00%</b>" in row
    assert _row(html, "tab-sweep-embed_dropout", "BiLSTM<").count("%") == 3
    assert "+" not in html[html.index('id="tab-sweep-learning_rate"'):].split("</thead>")[0]


def test_the_method_gives_each_models_swept_settings_and_says_validation_chose_them(bundle):
    b = copy.deepcopy(bundle)
    models = list(b["results"]["models"])
    def method(html):
        return _text(html.split('id="method"', 1)[1].split('id="results"', 1)[0])

    shared = method(_html(b))
    lr, drop = (b["results"]["config"]["train"]["learning_rate"],
                b["results"]["config"]["model"]["embed_dropout"])
    assert f"learning rate {lr} after" in shared and f"(embedding dropout {drop})" in shared
    assert "used only to choose the checkpoint" in shared
    b["swept"], b["sweep"] = True, _sweep_record()
    b["results"]["config"]["train"]["learning_rate_by_model"] = {m: 1e-2 for m in models} | {
        "mhsa": 3e-3}
    b["results"]["config"]["model"]["embed_dropout_by_model"] = {"mhsa": 0.2}
    text = method(_html(b))
    rest = [style.prose_label(m) for m in models if m != "mhsa"]
    lr = text.split("learning rate per model, chosen on validation: 0.003 for MHSA; 0.01 for ")[1]
    lr = lr.split("; each after 5 warm-up steps")[0]
    assert sorted(re.split(", | and ", lr)) == sorted(rest)
    drop = text.split("(embedding dropout per model, chosen on validation: 0.2 for MHSA; 0.4 "
                      "for ")[1].split(")")[0]
    assert sorted(re.split(", | and ", drop)) == sorted(rest)
    assert re.search(r"used only to choose the settings \( ?Section [\d.]+ ?\) and the checkpoint",
                     text)


def test_a_review_length_at_its_edge_says_what_the_length_cuts(bundle):
    b = copy.deepcopy(bundle)
    b["sweep"] = _sweep_record()
    b["sweep"]["at_edge"].insert(0, {"setting": "max_len", "model": "bilstm", "value": 512,
                                     "edge": "high"})
    b["sweep"]["longer_than"] = {"256": 0.298, "400": 0.137, "512": 0.078}
    text = _section(_html(b), "results-sweep")
    assert "2 choices sit at the edge of their grid" in text
    assert "at 512 tokens, 7.8% of the training and validation reviews are longer" in text
    assert "(29.8% at 256, 13.7% at 400)" in text
    del b["sweep"]["longer_than"]  # a record written before the field: no such sentence
    assert "are longer and truncated" not in _section(_html(b), "results-sweep")
