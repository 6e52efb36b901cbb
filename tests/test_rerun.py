"""`attnstudy rerun-spread`: a rerun's results folder against the published one ->
paper/rerun_spread.toml, which the report reads back (report.wording.rerun_spread)."""

from __future__ import annotations

import copy
import json
import tomllib

import numpy as np
import pandas as pd
import pytest

from attnstudy.analysis import rerun
from attnstudy.errors import UserError
from attnstudy.report import wording
from tests.cli import ROOT

PUBLISHED = ROOT / "build" / "results"


def _folders(tmp_path, seed=0, change=None):
    """A published folder (a copy of build/results' two files) and a rerun of `seed` on an
    "Other CPU", where `change(model, probs)` returns the rerun's probabilities."""
    res = json.loads((PUBLISHED / "results.json").read_text())
    preds = pd.read_parquet(PUBLISHED / "test_predictions.parquet")
    pub = tmp_path / "pub"
    pub.mkdir()
    (pub / "results.json").write_text(json.dumps(res))
    preds.to_parquet(pub / "test_predictions.parquet")
    new = copy.deepcopy(res)
    new["config"]["train"]["seeds"] = [seed]
    new["config_hash"] = "f" * 16
    new["runs"] = [r for r in new["runs"] if r["seed"] == seed]
    out = preds[["id", "label"]].copy()
    for r in new["runs"]:
        col = f"{r['model']}/seed{seed}"
        p = change(r["model"], preds[col].to_numpy(np.float64)) if change else preds[col]
        out[col] = np.asarray(p, np.float32)
        r["test"]["accuracy"] = float(((out[col] >= 0.5) == (out["label"] == 1)).mean())
        r["provenance"] = {**(r["provenance"] or {}), "cpu": "Other CPU"}
    folder = tmp_path / "rerun"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(new))
    out.to_parquet(folder / "test_predictions.parquet")
    return pub, folder, res


def test_rerun_spread_measures_accuracy_and_probability_changes(tmp_path, monkeypatch):
    def change(model, p):  # bilstm: 100 negatives pushed over the threshold; others untouched
        if model != "bilstm":
            return p
        q = p.copy()
        idx = np.flatnonzero(p < 0.5)[:100]
        q[idx] = 0.9
        return q

    pub, folder, res = _folders(tmp_path, change=change)
    rec = rerun.measure(pub, folder)
    acc = rec["accuracy"]
    assert set(acc) == {r["model"] for r in res["runs"] if r["seed"] == 0}
    assert acc["bilstm"]["decisions_changed"] == 100
    assert acc["bilstm"]["max_prob_change"] > 0.4
    assert all(v["decisions_changed"] == 0 for m, v in acc.items() if m != "bilstm")
    assert rec["rerun_cpu"] == "Other CPU" and rec["published_cpu"] != "Other CPU"
    assert rec["results_config"] == res["config_hash"] and rec["seed"] == 0

    f = tmp_path / "spread.toml"
    f.write_text(rerun.to_toml(rec), encoding="utf-8")
    assert tomllib.loads(f.read_text())["accuracy"]["bilstm"]["decisions_changed"] == 100
    monkeypatch.setattr(wording, "RERUN_SPREAD", f)
    spread = wording.rerun_spread()
    assert spread["worst"] == "bilstm" and spread["decisions_changed"] == (0, 100)
    pub_acc = next(r for r in res["runs"] if r["model"] == "bilstm" and r["seed"] == 0)
    assert spread["max"] == pytest.approx(abs(acc["bilstm"]["rerun"] -
                                              pub_acc["test"]["accuracy"]))


def test_rerun_spread_refuses_another_config_or_two_seeds(tmp_path):
    pub, folder, _ = _folders(tmp_path)
    res = json.loads((folder / "results.json").read_text())
    res["config"]["train"]["steps"] += 1
    (folder / "results.json").write_text(json.dumps(res))
    with pytest.raises(UserError, match="another config"):
        rerun.measure(pub, folder)
    with pytest.raises(UserError, match="needs results.json"):
        rerun.measure(pub, tmp_path / "absent")


def test_the_committed_spread_names_the_results_it_was_measured_on():
    """paper/rerun_spread.toml compares a published results set's runs with their rerun on
    another CPU. Measured on the published results, its config and accuracies are theirs; measured
    on an earlier set (v3 was trained on the CPU type of v2's runs: re-measured when a machine of
    the other type is at hand), the committed report says so beside the noise rule."""
    spread = wording.rerun_spread()
    res = json.loads((PUBLISHED / "results.json").read_text())
    assert spread is not None
    if spread["results_config"] != res["config_hash"]:
        report = (PUBLISHED.parent / "report.html").read_text(encoding="utf-8")
        assert ("measured on an earlier results set (config "
                f"<code>{spread['results_config']}</code>), not on") in report
        return
    published = {r["model"]: r["test"]["accuracy"] for r in res["runs"]
                 if r["seed"] == spread["seed"]}
    assert set(spread["accuracy"]) == set(published)
    for m, v in spread["accuracy"].items():
        assert v["published"] == published[m], m


def test_to_toml_round_trips_every_value_type():
    """tomli-w writes booleans as TOML booleans (repr() wrote `True`, which is invalid TOML)."""
    rec = {"source": 'a "quoted" text', "seed": 0, "flag": True, "ratio": 0.5,
           "commits": ["abc", "déf"], "accuracy": {"mhsa": {"published": 0.88, "same": False}}}
    text = rerun.to_toml(rec)
    assert text.startswith("# How far a rerun") and tomllib.loads(text) == rec
