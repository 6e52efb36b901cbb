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
from attnstudy.errors import UserError
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


def _with(results: Path, folder: Path, lr=None, dropout=None, stages=None) -> Path:
    """A copy of `results` whose config has these per-model tables, with a sweep record of these
    stages (none: no sweep.json)."""
    shutil.copytree(results, folder)
    res = json.loads((folder / "results.json").read_text())
    res["config"]["train"]["learning_rate_by_model"] = lr or {}
    res["config"]["model"]["embed_dropout_by_model"] = dropout or {}
    (folder / "results.json").write_text(json.dumps(res))
    if stages is not None:
        (folder / "sweep.json").write_text(json.dumps({"stages": [
            {"setting": k, "scope": scope} for k, scope in stages], "chosen": {}}))
    return folder


def _opening(block: str) -> str:
    return block.split("\n")[0]


def test_readme_models_block_comes_from_the_results(synthetic_results, tmp_path):
    """The README's opening: one row per model of the results, in the report's order, and a
    sentence that says what was held fixed and what each model set on its own, and which of these
    the sweep chose on validation (a stage's scope decides shared or per model); never a setting
    called shared that a model set on its own, nor chosen on validation that no stage chose."""
    res = json.loads((synthetic_results / "results.json").read_text())
    block = readme.models_block(synthetic_results)
    rows = [x.split("`")[1] for x in block.splitlines() if x.startswith("| `")]
    assert rows == style.order(res["models"])
    assert set(readme.ROLES) == set(MODEL_NAMES)  # every model the code has, described
    assert ("(same embedding, vocabulary, optimizer, review length, learning rate, embedding "
            "dropout, step budget and seeds) and differ only") in block
    assert "validation" not in block  # no sweep: nothing chosen on validation
    every = dict.fromkeys(res["models"], 1e-2)
    # v3: the length shared, the rate and the dropout per model, all three swept
    v3 = _with(synthetic_results, tmp_path / "v3", every, dict.fromkeys(res["models"], 0.4), [
        ("max_len", "shared"), ("learning_rate", "per_model"), ("embed_dropout", "per_model")])
    assert ("(same embedding, vocabulary, optimizer, review length, step budget and seeds; review "
            "length, and each model's own learning rate and embedding dropout, chosen on the "
            "validation split by one declared procedure) and otherwise differ only"
            ) in _opening(readme.models_block(v3))
    # a dropout table no stage chose is the config's, not the sweep's; a rate swept once for
    # all models is shared though the sweep writes it into every model's table
    one = {next(iter(res["models"])): 0.2}
    mixed = _with(synthetic_results, tmp_path / "mixed", every, one, [("learning_rate", "shared")])
    assert ("(same embedding, vocabulary, optimizer, review length, learning rate, step budget "
            "and seeds; learning rate chosen on the validation split by one declared procedure; "
            "set in the experiment config: some models' own embedding dropout) and otherwise"
            ) in _opening(readme.models_block(mixed))
    # per-model tables without a sweep: nothing said to be chosen on validation
    tables = _with(synthetic_results, tmp_path / "tables", every)
    assert ("seeds; set in the experiment config: each model's own learning rate) and otherwise"
            in _opening(readme.models_block(tables)))
    assert "validation" not in readme.models_block(tables)


def test_update_readme_needs_both_marker_pairs(synthetic_results, tmp_path):
    """A README without either pair of markers is left as it is (False)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for start, end in ((readme.START, readme.END), (readme.MODELS_START, readme.MODELS_END)):
        copy = tmp_path / "README.md"
        copy.write_text(text.replace(start, "").replace(end, ""), encoding="utf-8")
        before = copy.read_text(encoding="utf-8")
        assert not readme.update_readme(copy, synthetic_results)
        assert copy.read_text(encoding="utf-8") == before


def test_a_stale_sweep_record_is_refused(synthetic_results, tmp_path):
    """sweep.json that chose another config than results.json's (a build without --settings
    since) never tells the reader these settings were chosen on validation."""
    folder = _with(synthetic_results, tmp_path / "stale", stages=[("max_len", "shared")])
    res = json.loads((folder / "results.json").read_text())
    record = json.loads((folder / "sweep.json").read_text())
    (folder / "sweep.json").write_text(json.dumps({**record, "final_config": res["config"]}))
    assert "validation split" in readme.models_block(folder)  # its own config: read
    other = {**res["config"], "data": {**res["config"]["data"], "max_len": 1}}
    (folder / "sweep.json").write_text(json.dumps({**record, "final_config": other}))
    with pytest.raises(UserError, match="sweep.json chose another config than results.json's"):
        readme.models_block(folder)


def test_the_committed_readme_is_current(tmp_path):
    """README.md's generated blocks are those of the committed results (as `just build` writes
    them), so a fresh clone's build changes no file."""
    copy = tmp_path / "README.md"
    shutil.copyfile(ROOT / "README.md", copy)
    assert readme.update_readme(copy, ROOT / "build" / "results")
    assert copy.read_text(encoding="utf-8") == (ROOT / "README.md").read_text(encoding="utf-8")
