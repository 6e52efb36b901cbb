"""The v3 sweep end to end (`attnstudy sweep`), on a tiny smoke-sized sweep: two embedding
models, three values per stage. It trains through the build's run machinery, never reads the
test split, and the run at each chosen setting is the retrain's seed-0 run (same run key)."""

from __future__ import annotations

import sys
import tomllib

import pytest
import tomli_w

from attnstudy.config import ROOT, load_config
from attnstudy.data import encode
from attnstudy.errors import UserError
from attnstudy.files import read_json
from tests.cli import run_main

MODELS = ["embed_additive", "embed_mean"]
SWEEP = """
[sweep]
seed = 0
metric = "val_accuracy"
stages = ["max_len", "learning_rate", "embed_dropout"]

[sweep.max_len]
values = [32, 48, 64]
models = ["embed_mean"]
scope = "shared"
ties = "smaller"

[sweep.learning_rate]
values = [1e-3, 3e-3, 1e-2]
models = "all"
scope = "per_model"
ties = "smaller"

[sweep.embed_dropout]
values = [0.2, 0.4, 0.6]
models = "all"
scope = "per_model"
ties = "smaller"

[seeds]
minimum = 5
goal = 5
budget_hours = 1
"""


@pytest.fixture
def tiny(tmp_path):
    """paper/experiment_v3.toml whose smoke profile trains the two embedding models, seed 0,
    for 20 steps; and the sweep above."""
    raw = tomllib.loads((ROOT / "paper" / "experiment_v3.toml").read_text(encoding="utf-8"))
    raw["profiles"]["smoke"]["train"] |= {"models": MODELS, "seeds": [0], "steps": 20,
                                          "eval_every": 10}
    cfg, sw = tmp_path / "experiment.toml", tmp_path / "sweep.toml"
    cfg.write_text(tomli_w.dumps(raw))
    sw.write_text(SWEEP)
    return cfg, sw


@pytest.mark.slow
def test_sweep_end_to_end_never_reads_test_and_leaves_the_final_runs(
        tiny, tmp_path, imdb_dir, monkeypatch, capsys):
    from attnstudy.pipeline import cache, runs
    from attnstudy.training import loop

    real = encode.Dataset.final_test

    def guarded(self):
        caller = sys._getframe(1).f_code.co_name
        if caller != "_save_cached":  # storing the encoded splits in the data cache is no read
            raise AssertionError(f"the sweep read the test split (in {caller})")
        return real(self)

    monkeypatch.setattr(encode.Dataset, "final_test", guarded)
    build = tmp_path / "build"
    monkeypatch.setattr(cache, "LOGS", build / "logs")
    cfg_path, sweep_path = tiny
    code, out, err = run_main(monkeypatch, capsys, build, "sweep", "--profile", "smoke",
                              "--config", cfg_path, "--sweep", sweep_path, "--workers", "1",
                              imdb_dir=imdb_dir)
    assert code == 0, err
    results = build / "smoke" / "sweep"  # not the results folder: a build with --settings copies it
    rec = read_json(results / "sweep.json")
    assert [s["setting"] for s in rec["stages"]] == ["max_len", "learning_rate", "embed_dropout"]
    for st in rec["stages"]:
        grid = [r for r in st["runs"] if not r["extended"]]
        assert len(grid) == len(st["values"]) * len(st["models"])
        for r in st["runs"]:
            assert r["extended"] == (r["value"] not in st["values"])
            assert 0 <= r["val_accuracy"] <= 1 and r["val_loss"] > 0
            assert r["best_step"] in (10, 20) and not any("test" in k for k in r)
    shared = rec["stages"][0]["choices"]
    assert {shared[m]["value"] for m in MODELS} == {rec["chosen"][MODELS[0]]["max_len"]}
    assert set(rec["chosen"][MODELS[1]]) == {"max_len", "learning_rate", "embed_dropout"}
    assert "max_len" in out and str(results / "sweep_settings.toml") in out
    lengths = [str(v) for v in rec["stages"][0]["values"]]
    assert list(rec["longer_than"]) == lengths  # what each grid length cuts (train + val)
    shares = [rec["longer_than"][n] for n in lengths]
    assert all(0 <= a <= 1 for a in shares) and shares == sorted(shares, reverse=True)
    assert rec["seeds"]["seeds"] == [0]  # fewer than the minimum listed: the config's own
    assert "seeds: 1 (the config's own" in out

    # the retrain's config: the experiment with the sweep's settings laid over it
    final = load_config("smoke", cfg_path, settings=results / "sweep_settings.toml")
    assert final.data.max_len == rec["chosen"][MODELS[0]]["max_len"]
    ds = encode.load_dataset(final.data)
    last = rec["stages"][-1]
    for m in MODELS:
        eff = final.for_model(m)
        assert eff.train.learning_rate == rec["chosen"][m]["learning_rate"]
        assert eff.model.embed_dropout == rec["chosen"][m]["embed_dropout"]
        key = cache.run_dir(final, m, 0, ds.fingerprint).name
        chosen_run = next(r for r in last["runs"]
                          if r["model"] == m and r["value"] == rec["chosen"][m]["embed_dropout"])
        assert key == chosen_run["run_key"] == rec["final_runs"][m]["run_key"]
        assert rec["final_runs"][m]["trained_by_sweep"]

    # the retrain's build copies the sweep that chose its config into its results folder
    from attnstudy.pipeline import sweep

    out = tmp_path / "published"
    out.mkdir()
    assert sweep.attach(final, results / "sweep_settings.toml", out) == out / "sweep.json"
    assert read_json(out / "sweep.json") == rec
    other = load_config("smoke", cfg_path)  # the experiment without the sweep's choices
    with pytest.raises(UserError, match="not the config being built"):
        sweep.attach(other, results / "sweep_settings.toml", out)
    assert sweep.attach(final, tmp_path / "hand_written.toml", out) is None

    # so the retrain's seed-0 runs come from the run cache: nothing trains again
    def refuse(*args, **kwargs):
        raise AssertionError("a seed-0 run trained again")

    monkeypatch.setattr(loop, "train_run", refuse)
    again = runs.run_all(final, seeds=[0], n_workers=1, evaluate=False)
    assert [r["run_key"] for r in again] == [rec["final_runs"][m]["run_key"] for m in MODELS]


def test_settings_file_is_for_one_profile(tiny, tmp_path):
    from attnstudy.errors import UserError

    cfg_path, _ = tiny
    p = tmp_path / "settings.toml"
    p.write_text("[profiles.smoke.train.learning_rate_by_model]\nembed_mean = 0.01\n")
    cfg = load_config("smoke", cfg_path, settings=p)
    assert cfg.for_model("embed_mean").train.learning_rate == 0.01
    assert cfg.for_model("embed_additive").train.learning_rate == cfg.train.learning_rate
    with pytest.raises(UserError, match=r"no \[profiles.full\] settings \(it holds smoke\)"):
        load_config("full", cfg_path, settings=p)
    p.write_text("[profiles.smoke.optim]\nlr = 1\n")
    with pytest.raises(UserError, match=r"unknown config section \[optim\]"):
        load_config("smoke", cfg_path, settings=p)
