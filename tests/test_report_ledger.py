"""The ledger of v3 results end to end: the synthetic fixture (tests/fixtures/make_results.py)
with the v3 measures recorded in its runs, analysed by the package (analysis.analyse, then
report.ledger_text as the pipeline does), and its report's ledger cards; the plain fixture (v2:
runs without the v3 measures) keeps the v2 ledger."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest

from attnstudy.analysis.analyse import analyse
from attnstudy.data.probes import load_probes
from attnstudy.files import read_json
from attnstudy.report import results
from attnstudy.report.ledger_text import worded
from tests import synthetic
from tests.test_report_prose import _html

V3_IDS = ("attention-beats-bilstm", "additive-faithful", "attention-beyond-size",
          "recurrence-matters", "beats-tfidf", "attention-weights-matter")


def _measures(res: dict) -> dict:
    """Conicity for every run and lexicon shares for the attention models, as the v3
    evaluation records them (schema Run.conicity / Run.lexicon)."""
    res = copy.deepcopy(res)
    for r in res["runs"]:
        k = 0.01 * r["seed"]
        r["conicity"] = {"states": {"mean": 0.9 + k}, "embeddings": {"mean": 0.3 + k}}
        if r["model"] in ("additive", "mhsa"):
            lift = 1.3 + 0.05 * r["seed"]
            r["lexicon"] = {"lift": lift, "attention_mass": 0.1 * lift, "token_share": 0.1,
                            "excess": 0.1 * lift - 0.1, "n_reviews": 200}
    return res


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    out = synthetic.results(tmp_path_factory.mktemp("results"))
    v2 = results.load(out)
    res = _measures(read_json(out / "results.json"))
    ana = worded(analyse(res, pd.read_parquet(out / "test_predictions.parquet"), load_probes(),
                         res["config"]))
    v3 = copy.deepcopy(v2)
    v3["results"] = res
    v3["analysis"] = {**v2["analysis"], **json.loads(json.dumps(ana))}
    return v2, v3


def _cards(html: str) -> dict[str, str]:
    """Ledger card HTML by claim text."""
    table = html.split('id="tab-ledger"')[1].split("</table>")[0]
    cards = table.split('<td class="claim-card">')[1:]
    return {c.split('class="card-claim">')[1].split("</span>")[0]: c for c in cards}


def test_v3_results_are_decided_by_the_v3_rules(bundles):
    _, v3 = bundles
    ana = v3["analysis"]
    rows = {r["id"]: r for r in ana["ledger"]}
    assert {i for i, r in rows.items() if r["rule_set"] == "v3_rules"} == set(V3_IDS)
    stored = {frozenset((p["a"], p["b"])): p for p in ana["seed_level"]["pairs"]}
    for cid in ("attention-beats-bilstm", "attention-beyond-size", "recurrence-matters",
                "beats-tfidf"):
        for p in rows[cid]["facts"]["pairs"]:
            s = stored[frozenset((p["a"], p["b"]))]
            same = (s["a"], s["b"]) == (p["a"], p["b"])
            assert p["diff"] == (s["diff"] if same else -s["diff"])
            assert p["verdict"] == (s["verdict"] if same or s["verdict"] not in (
                "better", "worse") else {"better": "worse", "worse": "better"}[s["verdict"]])
    assert rows["additive-faithful"]["verdict"] == ana["seed_level"]["lexicon_rule"]["verdict"]
    assert rows["beats-tfidf"]["facts"]["pairs"][0]["a"] == ana["seed_level"][
        "best_validation_model"]
    # the fixture has no non-contextual arm: the control pair embed_additive - embed_mean
    assert rows["attention-weights-matter"]["result"].startswith("not measured: needs")
    assert "embed_additive - embed_mean" in rows["attention-weights-matter"]["result"]


def test_ledger_cards_show_the_rule_that_decided_them(bundles):
    v2, v3 = bundles
    cards = _cards(_html(v3))
    rows = {r["claim"]: r for r in v3["analysis"]["ledger"]}
    assert len(cards) == len(rows) == 9
    for claim, card in cards.items():
        r = rows[claim]
        if r["rule_set"] == "v3_rules":
            assert "Rule (v3, [[v3_rules]])" in card and "<code>4352253</code>" in card, claim
            assert "branch science, 2026-12-03" in card
        else:
            assert "Rule (v2, [[claims]])" in card and "4352253" not in card, claim
            assert r["rule_fixed"] in card
        if r["kind"] == "seed_difference" and "pairs" in r["facts"]:
            verdicts = card.split("Verdicts.")[1].split("</p>")[0]
            assert [f"v-{p['verdict']}" in verdicts for p in r["facts"]["pairs"]] == [True] * len(
                r["facts"]["pairs"]), claim
    faithful = rows["Additive attention focuses on sentiment words"]  # lift 1.3-1.35: partly
    assert faithful["verdict"] == "partly supported"
    assert '<span class="badge partial">partly supported</span>' in cards[faithful["claim"]]
    html = _html(v3)
    caption = html.split('id="tab-ledger"')[1].split("</caption>")[0]
    assert "6 of the 9 claims are decided by the v3 rules" in " ".join(caption.split())
    # v2 results: the v2 cards, no v3 wording
    plain = _html(v2)
    assert "[[v3_rules]]" not in plain.split('id="tab-ledger"')[1].split("</table>")[0]
    assert not any("rule_set" in r for r in v2["analysis"]["ledger"])
