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
