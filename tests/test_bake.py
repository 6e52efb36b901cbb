"""Publishing v3: the experiment with the sweep's settings baked in resolves to the config the
retrain builds (`--config paper/experiment_v3.toml --settings sweep_settings.toml`), so its
results are frozen for a fresh clone's `just build`."""

from __future__ import annotations

import pytest

from attnstudy.config import ROOT, load_config, same_experiment
from attnstudy.errors import UserError
from attnstudy.pipeline import bake, sweep

V3 = ROOT / "paper" / "experiment_v3.toml"


@pytest.fixture
def settings(tmp_path):
    """A sweep_settings.toml as the sweep writes it, for made-up choices."""
    cfg = load_config("full", V3)
    models = cfg.train.models
    chosen = {"max_len": dict.fromkeys(models, 512),
              "learning_rate": {m: (1e-2 if i % 2 else 3e-3) for i, m in enumerate(models)},
              "embed_dropout": {m: (0.2 if i % 3 else 0.6) for i, m in enumerate(models)}}
    final = sweep.apply(cfg, chosen).to_dict()
    final["train"]["seeds"] = [0, 1, 2, 3, 4]
    path = tmp_path / "sweep_settings.toml"
    path.write_text(sweep.settings_toml({"profile": "full", "final_config": final}))
    return path


def test_the_baked_experiment_is_the_swept_config_for_every_profile(settings, tmp_path):
    out = tmp_path / "experiment.toml"
    out.write_text(bake.baked(V3, settings))
    bake.check(V3, settings, out)  # raises if any profile differs
    full = load_config("full", out)
    assert full.data.max_len == 512 and list(full.train.seeds) == [0, 1, 2, 3, 4]
    swept = load_config("full", V3, settings=settings)
    assert same_experiment(swept.to_dict(), full)  # what freezes the published results
    assert not same_experiment(load_config("full", V3).to_dict(), full)
    text = out.read_text()
    assert text.startswith("# The study's one experiment config (version 3).")
    assert "experiment_v3.toml and sweep_settings.toml" in text
    assert "beside this file" not in text  # the settings file's own header stays there


def test_a_wrong_bake_is_refused(settings, tmp_path):
    out = tmp_path / "experiment.toml"
    out.write_text(bake.baked(V3, settings).replace(" = 0.01\n", " = 0.02\n", 1))
    with pytest.raises(UserError, match="differs"):
        bake.check(V3, settings, out)


def test_the_command_prints_the_file_or_one_line(settings, tmp_path, capsys):
    assert bake.main([str(V3), str(settings)]) == 0
    assert "[profiles.full.data]" in capsys.readouterr().out
    assert bake.main([str(V3), str(tmp_path / "missing.toml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("attnstudy: ") and err.count("\n") == 1


# ----------------------------------------------------------------------------- the committed files

RESULTS = ROOT / "build" / "results"


def test_the_committed_results_are_the_published_experiments():
    """build/results is the experiment paper/experiment.toml's full profile declares, so a fresh
    clone's `just build` renders it frozen (`same_experiment`), under the recorded hash, with
    the declared models and seeds."""
    import json

    res = json.loads((RESULTS / "results.json").read_text(encoding="utf-8"))
    full = load_config("full")
    assert same_experiment(res["config"], full) and res["config_hash"] == full.section_hash()
    assert set(res["models"]) == set(full.train.models)
    assert sorted({r["seed"] for r in res["runs"]}) == sorted(full.train.seeds)


def test_a_swept_publication_is_v3_with_its_own_sweep_baked_in(tmp_path):
    """With a sweep record in the committed results (v3 on), paper/experiment.toml is
    experiment_v3.toml with that record's choices baked in, byte for byte; without one (v2), the
    published experiment is not v3's."""
    import json

    record = RESULTS / sweep.SWEEP_JSON
    published = (ROOT / "paper" / "experiment.toml").read_text(encoding="utf-8")
    if record.is_file():
        settings = tmp_path / sweep.SETTINGS_TOML
        settings.write_text(sweep.settings_toml(json.loads(record.read_text(encoding="utf-8"))))
        assert published == bake.baked(V3, settings)
    else:
        assert not same_experiment(load_config("full", V3).to_dict(), load_config("full"))
        assert "version 3" not in published.splitlines()[0]
