"""The v3 experiment end to end on its smoke profile (paper/experiment_v3.toml: 8 models x 2
seeds, the non-contextual arm included): the seed-level section, conicity, lexicon shares, the
most-attended words and the v3 report sections render from a real build, without any edit.

Once v3 is published, paper/experiment.toml is experiment_v3.toml with the sweep baked into its
full profile (pipeline.bake), so its smoke profile is v3's and the session smoke build
(conftest) is checked as it is. Before that, the build starts from the session smoke build's run
cache and trains v3's smoke profile at v2's smoke learning rate, the one setting in which the
two smoke profiles differ: the six models both have are then the same runs (same keys), and only
the non-contextual arm trains here. What this test checks never depends on the learning rate."""

from __future__ import annotations

import json
import shutil
import tomllib

import pytest
import tomli_w

from attnstudy.config import ROOT, load_config
from tests.cli import cli


@pytest.mark.slow
def test_v3_smoke_build_renders_the_new_sections(smoke_build, tmp_path, imdb_dir):
    if {"embed_additive", "embed_mean"} <= set(load_config("smoke").train.models):
        out = smoke_build / "smoke"  # v3 published: the session's smoke build is v3's
    else:
        out = _v3_smoke_build(smoke_build, tmp_path, imdb_dir)
    sl = json.loads((out / "results" / "analysis.json").read_text())["seed_level"]
    assert {"embed_additive", "embed_mean"} <= set(sl["models"])
    assert all(v["n_seeds"] == 2 for v in sl["models"].values())
    pairs = {(p["a"], p["b"]) for p in sl["pairs"]}
    assert {("embed_additive", "embed_mean"), ("additive", "bilstm_mean"),
            ("additive", "embed_additive"), ("embed_mean", "bilstm")} <= pairs
    assert all(p["verdict"] in ("better", "worse", "equivalent", "inconclusive")
               for p in sl["pairs"])
    assert len(sl["conicity"]) == 8 and {"additive", "mhsa", "embed_additive"} <= set(
        sl["lexicon"])
    assert sl["lexicon_rule"]["model"] == "additive"
    # the declared interval of the lexicon rule: seeds, then reviews, from per-review columns
    assert sl["lexicon_rule"]["interval"].startswith("hierarchical")
    assert all(sl["lexicon"][m]["excess_hierarchical"]["n_seeds"] == 2 for m in sl["lexicon"])
    import pandas as pd

    cols = set(pd.read_parquet(out / "results" / "test_predictions.parquet").columns)
    assert "lexicon_share" in cols and {f"{m}/seed{s}/lexicon_mass" for m in sl["lexicon"]
                                        for s in (0, 1)} <= cols
    assert not any(c.startswith(("bilstm/", "embed_mean/")) and c.endswith("lexicon_mass")
                   for c in cols)
    assert set(sl["top_words"]) == {"additive", "mhsa", "embed_additive"}
    assert all(0 < len(t["words"]) <= t["k"] for t in sl["top_words"].values())
    assert sl["lexicon_arms"]["a"] == "embed_additive" and sl["lexicon_arms"]["n_seeds_a"] == 2
    assert sl["absent"] == {"measures": [], "models": []}
    # the ledger of v3 results: the claims with a [[v3_rules]] entry are decided by it
    ledger = {r["id"]: r for r in json.loads(
        (out / "results" / "analysis.json").read_text())["ledger"]}
    v3 = {i for i, r in ledger.items() if r["rule_set"] == "v3_rules"}
    assert v3 == {"attention-beats-bilstm", "additive-faithful", "attention-beyond-size",
                  "recurrence-matters", "beats-tfidf", "attention-weights-matter"}
    assert ledger["additive-faithful"]["verdict"] == sl["lexicon_rule"]["verdict"]
    assert all(p["verdict"] in ("better", "worse", "equivalent", "inconclusive")
               for i in v3 for p in ledger[i]["facts"].get("pairs", []))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Rule (v3, [[v3_rules]])" in html
    for id in ("tab-seed-level", "fig-conicity", "tab-lexicon", "tab-arms", "tab-arm-words"):
        assert f'id="{id}"' in html, id
    assert "is absent for these results" not in html
    for ext in ("svg", "png", "csv"):
        assert (out / "figures" / f"fig-conicity.{ext}").stat().st_size > 0


def _v3_smoke_build(smoke_build, tmp_path, imdb_dir):
    """v3's smoke profile at v2's smoke learning rate, from the session smoke build's runs."""
    raw = tomllib.loads((ROOT / "paper" / "experiment_v3.toml").read_text(encoding="utf-8"))
    v2 = load_config("smoke")
    raw["profiles"]["smoke"]["train"]["learning_rate"] = v2.train.learning_rate
    config = tmp_path / "experiment_v3.toml"
    config.write_text(tomli_w.dumps(raw), encoding="utf-8")
    build = tmp_path / "build"
    shutil.copytree(smoke_build / "cache", build / "cache")
    cli(build, "build", "--profile", "smoke", "--config", config, "--no-pdf",
        imdb_dir=imdb_dir)
    runs = sorted(p.name.split("-seed")[0] for p in (build / "cache" / "runs").iterdir())
    assert runs.count("bilstm") == 2  # the shared models' runs were reused, not trained again
    return build / "smoke"
