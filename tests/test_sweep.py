"""The v3 sweep: its declaration (paper/sweep_v3.toml, paper/experiment_v3.toml) and the pure
selection rule (attnstudy.pipeline.sweep)."""

from __future__ import annotations

import numpy as np
import pytest

from attnstudy.config import MODEL_NAMES, ROOT, load_config
from attnstudy.errors import UserError
from attnstudy.pipeline import budget, sweep

V3 = ROOT / "paper" / "experiment_v3.toml"


def rec(model, value, acc, loss=0.3):
    return {"model": model, "value": value, "val_accuracy": acc, "val_loss": loss}


LR = sweep.Stage("learning_rate", (1e-3, 3e-3, 1e-2, 3e-2), ("bilstm", "embed_mean"), "per_model")


def test_per_model_choice_and_edges():
    res = [rec("bilstm", 1e-3, 0.862), rec("bilstm", 3e-3, 0.880), rec("bilstm", 1e-2, 0.871),
           rec("bilstm", 3e-2, 0.85),
           rec("embed_mean", 1e-3, 0.769), rec("embed_mean", 3e-3, 0.842),
           rec("embed_mean", 1e-2, 0.871, 0.31), rec("embed_mean", 3e-2, 0.871, 0.30)]
    out = sweep.select(LR, res)
    assert out["bilstm"]["value"] == 3e-3 and not out["bilstm"]["at_edge"]
    # a tie in accuracy goes to the lower loss: 3e-2, the top edge, flagged
    assert out["embed_mean"]["value"] == 3e-2 and out["embed_mean"]["edge"] == "high"
    assert out["embed_mean"]["scores"][1e-3] == 0.769
    same = [dict(r, val_loss=0.3) for r in res]  # full tie: the smaller value
    assert sweep.select(LR, same)["embed_mean"]["value"] == 1e-2
    low = [rec("bilstm", v, 0.9 - v) for v in LR.values] + [
        rec("embed_mean", v, 0.8) for v in LR.values]
    assert sweep.select(LR, low)["bilstm"]["edge"] == "low"


def test_an_edge_choice_extends_the_grid_one_point_on_its_side():
    assert sweep.extension(LR, "low") == 3e-4 and sweep.extension(LR, "high") == 9e-2
    assert sweep.extension(LR, None) is None
    drop = sweep.Stage("embed_dropout", (0.2, 0.4, 0.6), ("bilstm",), "per_model")
    assert sweep.extension(drop, "low") == 0.0 and sweep.extension(drop, "high") == 0.8
    top = sweep.Stage("embed_dropout", (0.5, 0.7, 0.9), ("bilstm",), "per_model")
    assert sweep.extension(top, "high") is None  # a dropout of 1.1 is no setting
    length = sweep.Stage("max_len", (256, 400, 512), ("bilstm",), "shared")
    assert sweep.extension(length, "high") is None  # a shared stage is flagged only


def test_shared_choice_is_the_best_mean_over_the_stage_models():
    stage = sweep.Stage("max_len", (256, 400, 512), ("bilstm", "additive"), "shared")
    res = [rec("bilstm", 256, 0.87), rec("bilstm", 400, 0.88), rec("bilstm", 512, 0.885),
           rec("additive", 256, 0.875), rec("additive", 400, 0.885), rec("additive", 512, 0.874)]
    out = sweep.select(stage, res, applies_to=MODEL_NAMES)
    assert set(out) == set(MODEL_NAMES)
    assert out["mhsa"]["value"] == 400 and out["mhsa"]["scores"][512] == pytest.approx(0.8795)


def test_incomplete_or_doubled_sweeps_are_user_errors():
    res = [rec("bilstm", v, 0.8) for v in LR.values[:3]]
    with pytest.raises(UserError, match="no validation result for bilstm at 0.03"):
        sweep.select(LR, res + [rec("embed_mean", v, 0.8) for v in LR.values])
    with pytest.raises(UserError, match="two results"):
        sweep.select(LR, res + res)


def test_the_declared_sweep():
    sw = sweep.load_sweep()
    assert [s.setting for s in sw.stages] == ["max_len", "learning_rate", "embed_dropout"]
    st = {s.setting: s for s in sw.stages}
    assert st["max_len"].scope == "shared" and len(st["max_len"].models) == 2
    assert st["learning_rate"].scope == "per_model" and set(st["learning_rate"].models) == set(
        MODEL_NAMES)
    assert sweep.log_spaced(st["learning_rate"].values)
    assert st["learning_rate"].values[0] <= 1e-3 and st["learning_rate"].values[-1] >= 3e-2
    assert sw.min_seeds >= 5 and sw.goal_seeds >= sw.min_seeds
    assert sweep.bucket_edges(512, (64, 128, 192, 256, 320, 400)) == (
        64, 128, 192, 256, 320, 400, 512)
    assert sweep.bucket_edges(256, (64, 128, 192, 256, 320, 400)) == (64, 128, 192, 256)


def test_v3_experiment_declares_every_model():
    v3 = load_config("full", V3)
    assert set(v3.train.models) == set(MODEL_NAMES)
    assert len(v3.train.seeds) >= sweep.load_sweep().min_seeds
    # paper/experiment.toml is v2, or v3 with the sweep baked in: tests/test_bake.py
    for profile in ("smoke", "quick"):
        load_config(profile, V3)


@pytest.mark.parametrize("edit, message", [
    (("\"val_accuracy\"", "\"val_loss\""), "sweep.metric"),
    (("values = [1e-3, 3e-3, 1e-2, 3e-2]", "values = [3e-3, 1e-3, 1e-2]"), "increasing"),
    (("minimum = 5", "minimum = 3"), "5 <= minimum"),
    (("scope = \"shared\"", "scope = \"global\""), "scope must be"),
])
def test_a_bad_sweep_file_is_one_line(tmp_path, edit, message):
    text = sweep.SWEEP.read_text()
    assert edit[0] in text
    p = tmp_path / "sweep.toml"
    p.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(UserError, match=message):
        sweep.load_sweep(p)


def test_v3_claim_rules_are_declared_with_the_margin():
    import tomllib

    from attnstudy.analysis.claims import load_claims

    raw = tomllib.loads((ROOT / "paper" / "claims.toml").read_text())
    eq = raw["equivalence"]
    assert eq["margin"] == 0.005 and 0 < eq["alpha"] < 0.5 and eq["power"] == 0.8
    ids = {c["id"] for c in load_claims()}  # v2's ledger still loads, unchanged
    rules = raw["v3_rules"]
    assert {r["id"] for r in rules} <= ids and len({r["id"] for r in rules}) == len(rules)
    for r in rules:
        assert r["kind"] in ("seed_difference", "lexicon_share") and "this commit" in r["fixed"]
        for a, b in r.get("pairs", []):
            assert {a, b} <= set(MODEL_NAMES) | {"best_validation_model", "baseline"}
    lex = next(r for r in rules if r["id"] == "additive-faithful")
    assert lex["kind"] == "lexicon_share" and lex["thresholds"]["lift_strong"] > 1



def test_the_runner_trains_one_point_beyond_an_edge_and_chooses_again(monkeypatch):
    """The learning-rate stage with training replaced by a score table: embed_mean's accuracy
    rises with the rate, so its choice sits at the grid's top; the runner trains 9e-2 for it
    alone and chooses over the extended grid (the top there too: still flagged)."""
    from types import SimpleNamespace

    from attnstudy.data import encode
    from attnstudy.pipeline import cache

    trained = []

    def fake_points(cfg, settings, value, which, seed, n_workers, extended):
        assert set(settings) == {"learning_rate"}
        trained.append((value, tuple(which), extended))
        return [{"model": w, "value": value, "run_key": f"{w}-{value}", "best_step": 1,
                 "steps": 1, "val_loss": 0.3, "extended": extended, "train_seconds": 60.0,
                 "val_accuracy": 0.8 + value if w == "embed_mean" else 0.9 - abs(value - 3e-3)}
                for w in which]

    monkeypatch.setattr(sweep, "_points", fake_points)
    monkeypatch.setattr(encode, "load_dataset", lambda data: SimpleNamespace(
        without_test=lambda: SimpleNamespace(
            fingerprint="f", train=SimpleNamespace(full_lengths=np.array([100, 300, 600])),
            val=SimpleNamespace(full_lengths=np.array([700])))))
    monkeypatch.setattr(cache, "run_dir", lambda cfg, m, seed, fp: cache.CACHE / f"{m}-x")
    sw = sweep.load_sweep()
    lr_only = sweep.Sweep(sw.seed, sw.metric, sw.stages[1:2], sw.min_seeds, sw.goal_seeds,
                          sw.budget_hours)
    record = sweep.run_sweep(load_config("smoke", V3), lr_only)
    assert [t for t in trained if t[2]] == [(9e-2, ("embed_mean",), True)]
    choices = record["stages"][0]["choices"]
    assert choices["embed_mean"]["value"] == 9e-2 and choices["embed_mean"]["edge"] == "high"
    assert set(choices["embed_mean"]["scores"]) == {"0.001", "0.003", "0.01", "0.03", "0.09"}
    assert choices["bilstm"]["value"] == 3e-3 and not choices["bilstm"]["at_edge"]
    assert record["chosen"]["embed_mean"]["learning_rate"] == 9e-2
    assert record["longer_than"] == {}  # no length stage in this sweep


def test_longer_than_is_the_share_of_training_and_validation_reviews_past_each_length():
    from types import SimpleNamespace

    ds = SimpleNamespace(train=SimpleNamespace(full_lengths=np.array([100, 300, 600])),
                         val=SimpleNamespace(full_lengths=np.array([700])))
    assert sweep.longer_than(ds, (256, 600, 700)) == {"256": 0.75, "600": 0.25, "700": 0.0}



def _timed_stages(lr: list[tuple]) -> list[dict]:
    """A length stage (bilstm at 256 and at 400, run keys "L" and "A"; 400 chosen), then
    learning rates at 400, `lr` as (model, value, seconds, run key): key "A" is the length
    stage's run again (the run cache reused it)."""
    def run(m, v, s, k):
        return {"model": m, "value": v, "train_seconds": s, "run_key": k}
    return [{"setting": "max_len", "choices": {"bilstm": {"value": 400}, "mhsa": {"value": 400}},
             "runs": [run("bilstm", 256, 900.0, "L"), run("bilstm", 400, lr[0][2], "A")]},
            {"setting": "learning_rate", "runs": [run(*x) for x in lr]}]


def test_the_seed_count_is_the_goal_only_when_sweep_and_goal_fit_the_budget():
    sw = sweep.Sweep(0, "val_accuracy", (), 5, 10, 12.0)
    seeds, final = tuple(range(10)), {"bilstm": "A", "mhsa": "C"}
    mhsa = [("mhsa", 1e-3, 1800.0, "C"), ("mhsa", 1e-2, 1800.0, "D"), ("mhsa", 3e-2, 1800.0, "E")]
    quick = _timed_stages([("bilstm", 1e-3, 3600.0, "A"), ("bilstm", 1e-2, 3600.0, "B"), *mhsa])
    # each distinct run once: 0.25 h + 2 x 1 h + 3 x 0.5 h = 3.75 h, on two workers 1.875 h
    # (2.375 h if run "A" counted twice); the goal's 9 more seeds of (1 + 0.5) h / 2: 6.75 h
    out = budget.seed_count(sw, seeds, quick, final)
    assert out["sweep_hours"] == 1.875 and out["goal_retrain_hours"] == 6.75
    assert out["goal_fits"] and out["seeds"] == list(seeds)
    assert out["run_seconds"] == {"bilstm": 3600.0, "mhsa": 1800.0}
    # one stretched run (a pause) among three does not move the median, so not the count either
    paused = _timed_stages([("bilstm", 1e-3, 3600.0, "A"), ("bilstm", 1e-2, 36000.0, "B"),
                            ("bilstm", 3e-2, 3600.0, "F"), *mhsa])
    out = budget.seed_count(sw, seeds, paused, final)
    assert out["run_seconds"]["bilstm"] == 3600.0 and out["seeds"] == list(seeds)
    # a model that is slow in every run does: 9 seeds of (2 h + 0.5 h) / 2 = 11.25 h
    slow = _timed_stages([("bilstm", 1e-3, 7200.0, "A"), ("bilstm", 1e-2, 7200.0, "B"), *mhsa])
    out = budget.seed_count(sw, seeds, slow, final)
    assert out["goal_retrain_hours"] == 11.25
    assert not out["goal_fits"] and out["seeds"] == [0, 1, 2, 3, 4]
    assert budget.seed_count(sw, (0, 1), slow, final)["seeds"] == [0, 1]


def test_stages_before_the_length_stage_are_timed_at_the_configs_length():
    sw = sweep.Sweep(0, "val_accuracy", (), 5, 10, 12.0)
    stages = [{"setting": "learning_rate",
               "runs": [{"model": "bilstm", "value": 1e-3, "train_seconds": 100.0,
                         "run_key": "X"}]},
              {"setting": "max_len", "choices": {"bilstm": {"value": 512}},
               "runs": [{"model": "bilstm", "value": 400, "train_seconds": 100.0, "run_key": "X"},
                        {"model": "bilstm", "value": 512, "train_seconds": 200.0,
                         "run_key": "Y"}]}]
    out = budget.seed_count(sw, tuple(range(10)), stages, {"bilstm": "Y"}, base_len=400)
    assert out["run_seconds"] == {"bilstm": 200.0} and out["sweep_hours"] == 300 / 7200
