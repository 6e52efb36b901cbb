"""End to end on the smoke profile, as `just build smoke` runs it, in an isolated build folder
(the session's `smoke_build`, conftest)."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from tests.cli import cli, run_main


@pytest.fixture(scope="module")
def built(smoke_build):
    return smoke_build


@pytest.fixture(scope="module")
def out(built):
    """The smoke profile's outputs live in build/smoke/ (the paper's in build/)."""
    return built / "smoke"


def test_smoke_build_produces_the_report(out, built):
    for f in ("report.html", "report.pdf", "results/results.json", "results/analysis.json",
              "results/test_predictions.parquet", "results/attention.json"):
        assert (out / f).stat().st_size > 0, f
    assert list((out / "figures").glob("fig-*.svg"))
    assert not (built / "results").exists()  # the published results are not touched


def test_results_are_consistent_and_valid(out):
    from attnstudy.config import load_config
    from attnstudy.schema import validate_results

    cfg = load_config("smoke")
    results = json.loads((out / "results/results.json").read_text())
    validate_results(out / "results")
    preds = pd.read_parquet(out / "results/test_predictions.parquet")
    assert len(results["runs"]) == len(cfg.train.models) * len(cfg.train.seeds)
    assert len(preds) == cfg.data.test_subset
    for run in results["runs"]:  # accuracies recomputed from the predictions match
        col = preds[f"{run['model']}/seed{run['seed']}"]
        acc = ((col >= 0.5).astype(int) == preds["label"]).mean()
        assert abs(acc - run["test"]["accuracy"]) < 1e-9


def test_second_build_retrains_nothing(built, imdb_dir):
    before = {p: p.stat().st_mtime_ns for p in (built / "cache" / "runs").rglob("*")}
    p = cli(built, "build", "--profile", "smoke", "--no-pdf", imdb_dir=imdb_dir)
    assert "step/s" not in p.stderr and "it/s" not in p.stderr  # no progress bar: no training
    after = {p: p.stat().st_mtime_ns for p in (built / "cache" / "runs").rglob("*")}
    assert before == after


def test_rebuild_from_scratch_is_bit_identical(built, imdb_dir, tmp_path):
    """Same config and seeds -> bit-identical test predictions in a fresh build folder."""
    fresh = tmp_path / "fresh"
    shutil.copytree(built / "cache" / "data", fresh / "cache" / "data")  # encoding only
    cli(fresh, "train", "--profile", "smoke", "--models", "mhsa", "--seeds", "0",
        imdb_dir=imdb_dir)
    a = next((built / "cache" / "runs").glob("mhsa-seed0-*/eval-*/test_probs.npy"))
    b = next((fresh / "cache" / "runs").glob("mhsa-seed0-*/eval-*/test_probs.npy"))
    assert a.relative_to(built) == b.relative_to(fresh)
    assert a.read_bytes() == b.read_bytes()


def test_predict_and_evaluate(built, imdb_dir, tmp_path, monkeypatch, capsys):
    """From the run cache, in this process (tests.cli.run_main; tests/test_publish.py runs
    `predict` in CLI processes)."""
    from attnstudy.config import load_config

    def run(*args) -> str:
        code, out, err = run_main(monkeypatch, capsys, built, *args, imdb_dir=imdb_dir)
        assert code == 0, err[-3000:]
        return out

    out = run("predict", "--profile", "smoke", "--model", "additive", "a great film",
              "not good at all")
    lines = [ln for ln in out.splitlines() if "\t" in ln][1:]
    assert len(lines) == 2 and all(0 <= float(ln.split("\t")[0]) <= 1 for ln in lines)
    tsv = tmp_path / "probe.tsv"
    tsv.write_text("text\tlabel\nwhat a great film\t1\na dull and boring film\t0\n")
    out = run("evaluate", "--profile", "smoke", "--input", str(tsv))
    cfg = load_config("smoke")
    assert out.count("accuracy") == len(cfg.train.models) * len(cfg.train.seeds)
    assert "ROC-AUC" in run("predict", "--profile", "smoke", "--model", "mhsa", "--input",
                            str(tsv))
    # several models: one column each in text, one record per model and review in JSON, the
    # same numbers as one model at a time
    one = float(lines[0].split("\t")[0])
    wide = run("predict", "--profile", "smoke", "--model", "all", "a great film").splitlines()
    assert wide[0].split("\t") == [*cfg.train.models, "text"] and len(wide) == 2
    row = dict(zip(cfg.train.models, wide[1].split("\t"), strict=False))
    assert float(row["additive"]) == round(one, 4)
    recs = [json.loads(x) for x in run("predict", "--profile", "smoke", "--model",
                                       "mhsa,additive", "--json", "--input", str(tsv)).splitlines()]
    assert [(r["model"], r["label"]) for r in recs] == [("mhsa", 1), ("mhsa", 0),
                                                        ("additive", 1), ("additive", 0)]
    assert run("predict", "--profile", "smoke", "--model", "additive", "--input", str(tsv)) \
        .count("accuracy") == 1
    assert run("predict", "--profile", "smoke", "--model", "mhsa, additive", "--input",
               str(tsv)).count("accuracy") == 2


@pytest.mark.parametrize("args, message", [
    (["predict", "--profile", "smoke", "--model", "gpt"], "unknown model 'gpt'"),
    (["predict", "--profile", "smoke", "--model", "mhsa,gpt", "fine"], "unknown model 'gpt'"),
    (["predict", "--profile", "smoke", "--model", "all,mhsa", "fine"], "--model all stands alone"),
    (["predict", "--profile", "smoke", "--model", "mhsa", "  "], "text 1 is empty"),
    (["predict", "--profile", "smoke", "--model", "mhsa", "--seed", "9", "fine"],
     "no trained mhsa (seed 9)"),
    (["build", "--profile", "huge"], "unknown profile 'huge'"),
])
def test_cli_errors_are_one_line(built, imdb_dir, args, message, monkeypatch, capsys):
    code, _, err = run_main(monkeypatch, capsys, built, *args, imdb_dir=imdb_dir)
    assert code == 2
    err = err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_evaluate_rejects_a_file_without_text_column(built, imdb_dir, tmp_path):
    """As a user meets it: a process that exits with status 2 and says why on stderr."""
    bad = tmp_path / "bad.csv"
    bad.write_text("review,label\nnice,1\n")
    p = cli(built, "evaluate", "--profile", "smoke", "--input", str(bad), imdb_dir=imdb_dir,
            check=False)
    assert p.returncode == 2 and "has no column 'text'" in p.stderr


def test_published_results_stay_frozen_when_only_code_changed(out, imdb_dir, tmp_path, capsys,
                                                             monkeypatch):
    """The full profile's committed results are rendered as they are when the experiment config
    is unchanged, even though the training code (hence the build key) changed; a config change
    or --retrain unfreezes them. Checked on the smoke results, relabelled as the full profile."""
    import dataclasses

    from attnstudy.config import load_config
    from attnstudy.pipeline import results as runner
    from attnstudy.pipeline import runs

    monkeypatch.setenv("IMDB_DIR", str(imdb_dir))
    published = tmp_path / "results"
    shutil.copytree(out / "results", published)
    doc = json.loads((published / "results.json").read_text())
    doc["build_key"] = "made-by-older-code"
    (published / "results.json").write_text(json.dumps(doc))
    full = dataclasses.replace(load_config("smoke"), profile="full")
    runner.refresh_analysis(full, published)  # as committed: analysis.json matches results.json
    before = {p: p.read_bytes() for p in published.rglob("*") if p.is_file()}  # and weights/
    monkeypatch.setattr(runs, "run_all", lambda *a, **k: pytest.fail("retrained"))
    assert runner.write_results(full, out=published) == published
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stay frozen" in err[0] and "just retrain" in err[0]
    assert {p: p.read_bytes() for p in published.rglob("*") if p.is_file()} == before
    assert runner.frozen(full, published) is not None
    changed = dataclasses.replace(full, train=dataclasses.replace(full.train, steps=31))
    assert runner.frozen(changed, published) is None  # a config change retrains
    assert runner.frozen(load_config("smoke"), published) is None  # previews never freeze
    with pytest.raises(pytest.fail.Exception, match="retrained"):
        runner.write_results(full, out=published, retrain=True)
