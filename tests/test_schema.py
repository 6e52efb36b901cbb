"""The results schema: the committed README is the one generated from the models, a complete v2
results set passes, and each kind of damage is refused with one line naming file and problem.

The valid set is the synthetic fixture (tests/fixtures/make_results.py) brought to schema
version 2 with real writers where they are cheap: provenance(), the TF-IDF baseline and the
analysis itself (analyse), so the models are checked against what the code writes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attnstudy import cli
from attnstudy.errors import UserError
from attnstudy.files import read_json, write_json
from attnstudy.schema import SCHEMA_VERSION, schema_markdown, validate_results
from tests import synthetic
from tests.synthetic import make_results

ROOT = Path(__file__).resolve().parents[1]


def _upgrade(out: Path) -> None:
    """Bring the fixture's files to schema version 2 (fills only what is missing)."""
    from attnstudy.analysis.analyse import analyse
    from attnstudy.analysis.baseline import tfidf_logreg
    from attnstudy.data.probes import load_probes
    from attnstudy.provenance import now, provenance
    from attnstudy.report.ledger_text import worded

    res, preds = read_json(out / "results.json"), pd.read_parquet(out / "test_predictions.parquet")
    probes = load_probes()
    rng = np.random.default_rng(0)
    res["schema_version"] = SCHEMA_VERSION
    res.setdefault("build_key", "f" * 16)
    shares = res["data"]["positive_share"]
    shares.setdefault("val", shares.pop("validation", 0.5))
    res["data"].setdefault("grouping", "film")
    res["provenance"] = provenance(now())
    for i, r in enumerate(res["runs"]):
        r["provenance"] = None if i % 2 else provenance(now())  # odd: migrated from v1
        if len(r["probes"]) != len(probes):
            r["probes"] = [round(float(p), 6) for p in rng.uniform(0, 1, len(probes))]
        if r["faithfulness"] is not None and "n_reviews" not in r["faithfulness"]:
            f = r["faithfulness"]
            r["faithfulness"] = {
                **{k: f[k] for k in ("k", "top_drop", "random_drop", "top_flip", "random_flip",
                                     "grad_spearman")},
                "drop_diff_ci_low": [0.01] * len(f["k"]), "drop_diff_ci_high": [0.05] * len(f["k"]),
                "n_reviews": 50, "n_spearman": 48}
    if "baseline" not in res or "baseline" not in preds.columns:
        words = {0: "awful boring dull plot", 1: "wonderful moving great acting"}
        y = preds["label"].to_numpy()
        train_y = np.arange(40) % 2
        base = tfidf_logreg([f"{words[v]} film {i % 3}" for i, v in enumerate(train_y)], train_y,
                            [f"{words[v]} film" for v in y], y)
        preds["baseline"] = np.asarray(base.pop("probs"), np.float64)
        res["baseline"] = base
    write_json(out / "results.json", res)
    preds.to_parquet(out / "test_predictions.parquet", index=False)
    att = read_json(out / "attention.json")
    att["schema_version"] = SCHEMA_VERSION
    write_json(out / "attention.json", att)
    analysed = worded(analyse(res, preds, probes, make_results.config()))  # as the pipeline
    write_json(out / "analysis.json", {"schema_version": SCHEMA_VERSION,
                                       "config_hash": res["config_hash"],
                                       "analysis_key": "a" * 16, **analysed})


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> Path:
    out = synthetic.results(tmp_path_factory.mktemp("v2") / "results")
    _upgrade(out)
    return out


@pytest.fixture
def copy(valid, tmp_path) -> Path:
    return Path(shutil.copytree(valid, tmp_path / "results"))


def edit(folder: Path, name: str, change) -> None:
    doc = json.loads((folder / name).read_text())
    change(doc)
    (folder / name).write_text(json.dumps(doc))


def refused(folder: Path) -> str:
    with pytest.raises(UserError) as e:
        validate_results(folder)
    msg = str(e.value)
    assert "\n" not in msg and "just build" in msg
    return msg


def test_readme_is_generated_from_the_models():
    committed = (ROOT / "build" / "results" / "README.md").read_text(encoding="utf-8")
    assert committed == schema_markdown(), \
        "regenerate: python -m attnstudy schema > build/results/README.md"
    assert f"schema version {SCHEMA_VERSION}" in committed


def test_cli_prints_the_readme_and_checks_a_folder(valid, capsys):
    assert cli.main(["schema"]) == 0
    assert capsys.readouterr().out == schema_markdown()
    assert cli.main(["schema", "--check", str(valid)]) == 0
    assert "valid results" in capsys.readouterr().out


def test_readme_lists_every_field_the_writers_write(valid):
    text = schema_markdown()
    res = read_json(valid / "results.json")
    for path in ("runs[].provenance.threads.affinity", "runs[].faithfulness.n_spearman",
                 "baseline.features", "data.grouping", "models.<model>.params"):
        assert f"`{path}`" in text
    for key in res["runs"][0]:
        assert f"`runs[].{key}`" in text
    for key in read_json(valid / "analysis.json"):
        assert f"| `{key}` |" in text
    for col in ("id", "label", "length", "negation", "baseline"):
        assert f"| `{col}` |" in text


def test_a_complete_v2_set_passes(valid):
    loaded = validate_results(valid)
    assert set(loaded) == {"results", "analysis", "attention"}
    assert any(r["provenance"] is None for r in loaded["results"]["runs"])  # migrated runs pass
    assert loaded["analysis"]["ledger"] and loaded["results"]["baseline"]["features"] > 0


def test_loose_parts_accept_extra_fields(copy):
    def extra(doc):
        doc["ledger"][0]["evidence"] = {"anything": [1, 2]}
        doc["pairwise"][0]["note"] = "new"
        doc["new_section"] = {}
    edit(copy, "analysis.json", extra)
    validate_results(copy)


def _drop_run(doc):
    doc["runs"] = [r for r in doc["runs"] if (r["model"], r["seed"]) != ("mhsa", 1)]


@pytest.mark.parametrize("name,change,needle", [
    ("results.json", lambda d: d["runs"][0].pop("eval_seconds"),
     "missing field 'runs[0].eval_seconds'"),
    ("results.json", lambda d: d.pop("baseline"), "missing field 'baseline'"),
    ("results.json", lambda d: d["data"].pop("grouping"), "missing field 'data.grouping'"),
    ("results.json", lambda d: d["runs"][1].update(seed="1"), "field 'runs[1].seed'"),
    ("results.json", lambda d: d["runs"][1].update(seed=True), "field 'runs[1].seed'"),
    ("results.json", lambda d: d["runs"][2]["test"].update(f1="0.8"), "field 'runs[2].test.f1'"),
    ("results.json", lambda d: d["data"].update(grouping="movie"), "field 'data.grouping'"),
    ("results.json", lambda d: d["runs"][0].update(notes="x"), "undocumented field "
     "'runs[0].notes'"),
    ("results.json", lambda d: d.update(schema_version=1), "schema version 1, expected 2"),
    ("attention.json", lambda d: d.update(schema_version=3), "schema version 3, expected 2"),
    ("attention.json", lambda d: d["samples"][0].update(tokens="a b"),
     "field 'samples[0].tokens'"),
    ("analysis.json", lambda d: d.pop("analysis_key"), "missing field 'analysis_key'"),
    ("analysis.json", lambda d: d["ledger"][1].pop("verdict"), "missing field 'ledger[1].verdict'"),
    ("analysis.json", lambda d: d.update(config_hash="0" * 16), "differs from results.json"),
    ("results.json", _drop_run, "no run for ('mhsa', 1)"),
    ("results.json", lambda d: d["runs"].append(dict(d["runs"][0])), "two runs for"),
])
def test_damaged_json_is_refused(copy, name, change, needle):
    edit(copy, name, change)
    msg = refused(copy)
    assert msg.startswith(str(copy / name)) and needle in msg, msg


@pytest.mark.parametrize("change,needle", [
    (lambda p: p.iloc[:-1], "199 rows, results.json says 200 test reviews"),
    (lambda p: p.drop(columns=["baseline"]), "missing column 'baseline'"),
    (lambda p: p.drop(columns=["mhsa/seed1"]), "missing column 'mhsa/seed1'"),
    (lambda p: p.assign(negation=p["negation"].astype(int)), "column 'negation' is int64"),
])
def test_damaged_predictions_are_refused(copy, change, needle):
    path = copy / "test_predictions.parquet"
    change(pd.read_parquet(path)).to_parquet(path, index=False)
    msg = refused(copy)
    assert msg.startswith(str(path)) and needle in msg, msg


def test_missing_or_broken_files_are_one_line(copy):
    (copy / "attention.json").write_text("{")
    assert "not valid JSON" in refused(copy)
    (copy / "attention.json").unlink()
    assert "missing" in refused(copy)


def test_provenance_records_the_commit_the_code_was_loaded_from(monkeypatch):
    """A commit made while a long run trains is not the code it ran: the commit is read when
    the process loads attnstudy.provenance, not when the run ends."""
    from attnstudy import provenance

    monkeypatch.setattr(provenance, "_git", lambda *args: "a later commit")
    rec = provenance.provenance(provenance.now())
    assert rec["git_commit"] == provenance.CODE_AT_START["git_commit"] != "a later commit"
