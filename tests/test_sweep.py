"""The v3 sweep: its declaration (paper/sweep_v3.toml, paper/experiment_v3.toml) and the pure
selection rule (attnstudy.pipeline.sweep)."""

from __future__ import annotations

import pytest

from attnstudy.config import MODEL_NAMES, ROOT, load_config, same_experiment
from attnstudy.errors import UserError
from attnstudy.pipeline import sweep

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


def test_v3_experiment_declares_every_model_and_leaves_v2_frozen():
    full = load_config("full")
    v3 = load_config("full", V3)
    assert set(v3.train.models) == set(MODEL_NAMES)
    assert len(v3.train.seeds) >= sweep.load_sweep().min_seeds
    # paper/experiment.toml still describes the published v2 experiment
    assert not same_experiment(v3.to_dict(), full)
    assert same_experiment(full.to_dict(), full)
    assert set(full.train.models) == set(MODEL_NAMES) - {"embed_additive", "embed_mean"}
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
