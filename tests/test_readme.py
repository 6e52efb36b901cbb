"""The README's generated blocks (report.readme): the models and how their settings were set,
the results table, the headline comparisons and the ledger, all from the results files; and the
committed README is the one the committed results give."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from attnstudy.config import MODEL_NAMES, ROOT
from attnstudy.report import readme, style
from tests import synthetic


@pytest.fixture(scope="module")
def synthetic_results(tmp_path_factory) -> Path:
    """The synthetic results set (tests/fixtures/make_results.py), not rendered."""
    return synthetic.results(tmp_path_factory.mktemp("results"))


def test_readme_block_comes_from_the_results(synthetic_results, tmp_path):
    res = json.loads((synthetic_results / "results.json").read_text())
    block = readme.results_block(synthetic_results)
    for m in res["models"]:
        acc = pd.Series([r["test"]["accuracy"] for r in res["runs"] if r["model"] == m])
        assert f"| `{m}` | {res['models'][m]['params']:,} | {100 * acc.mean():.2f} ± " in block
    assert "learning rate" not in block  # no sweep: no chosen settings
    # the headline seed-level comparisons, each with its interval and verdict; no other pair
    sl = json.loads((synthetic_results / "analysis.json").read_text())["seed_level"]
    lines = [x for x in block.splitlines() if x.startswith("- `") and "]," in x]
    heads = [p for p in sl["pairs"] if set(p["why"]) - {"model pair"}]
    assert heads and len(lines) == len(heads)
    for p, line in zip(heads, lines, strict=True):
        assert line.startswith(f"- `{p['a']}` − ")
        assert f": {100 * p['diff']:+.2f} [{100 * p['ci_low']:+.2f}, " in line
        assert line.split("*")[1] == p["verdict"]
        # an equivalence shows the TOST interval it rests on; rerun noise is named
        assert ("TOST 90% interval" in line) == (p["verdict"] == "equivalent")
        assert ("rerun spread" in line) == (bool(p["noise"]) and p["verdict"] != "equivalent")
    # with the validation sweep: each model's chosen settings in the table, in stage order
    swept = tmp_path / "results"
    shutil.copytree(synthetic_results, swept)
    chosen = {m: {"max_len": 512, "learning_rate": 10.0 ** -(2 + i % 2), "embed_dropout": 0.6}
              for i, m in enumerate(res["models"])}
    stages = [{"setting": k, "scope": scope} for k, scope in (
        ("max_len", "shared"), ("learning_rate", "per_model"), ("embed_dropout", "per_model"))]
    (swept / "sweep.json").write_text(json.dumps({"stages": stages, "chosen": chosen}))
    block = readme.results_block(swept)
    assert "| review length | learning rate | embedding dropout |" in block
    for m, c in chosen.items():
        row = next(x for x in block.splitlines() if x.startswith(f"| `{m}` |"))
        assert row.endswith(f" 512 | {c['learning_rate']} | 0.6 |")
    assert ("review length shared by all models; learning rate and embedding dropout per "
            "model") in block


def test_readme_models_block_comes_from_the_results(synthetic_results, tmp_path):
    """The README's opening: one row per model of the results, in the report's order, and a
    sentence that says what was held fixed and what was chosen, and how, from the config and the
    sweep record; never a setting called shared that a model set on its own."""
    res = json.loads((synthetic_results / "results.json").read_text())
    block = readme.models_block(synthetic_results)
    rows = [x.split("`")[1] for x in block.splitlines() if x.startswith("| `")]
    assert rows == style.order(res["models"])
    assert set(readme.ROLES) == set(MODEL_NAMES)  # every model the code has, described
    assert "learning rate, embedding dropout, step budget and seeds)" in block
    assert "validation" not in block  # no sweep: nothing chosen on validation
    swept = tmp_path / "results"
    shutil.copytree(synthetic_results, swept)
    res["config"]["train"]["learning_rate_by_model"] = {m: 1e-2 for m in res["models"]}
    res["config"]["model"]["embed_dropout_by_model"] = {m: 0.4 for m in res["models"]}
    (swept / "results.json").write_text(json.dumps(res))
    (swept / "sweep.json").write_text(json.dumps({"stages": [
        {"setting": "max_len", "scope": "shared"}, {"setting": "learning_rate",
                                                    "scope": "per_model"}], "chosen": {}}))
    block = readme.models_block(swept)
    assert ("(same embedding, vocabulary, optimizer, review length, step budget and seeds; review "
            "length and each model's own learning rate and embedding dropout chosen on the "
            "validation split by one declared procedure)") in block
    assert "learning rate," not in block


def test_the_committed_readme_is_current(tmp_path):
    """README.md's generated blocks are those of the committed results (as `just build` writes
    them), so a fresh clone's build changes no file."""
    copy = tmp_path / "README.md"
    shutil.copyfile(ROOT / "README.md", copy)
    assert readme.update_readme(copy, ROOT / "build" / "results")
    assert copy.read_text(encoding="utf-8") == (ROOT / "README.md").read_text(encoding="utf-8")
