import pytest

from attnstudy.config import MODEL_NAMES, load_config
from attnstudy.errors import UserError


def write(tmp_path, text):
    p = tmp_path / "exp.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("profile", ["smoke", "quick", "full"])
def test_profiles_load(profile):
    cfg = load_config(profile)
    assert cfg.profile == profile
    assert set(cfg.train.models) <= set(MODEL_NAMES)
    assert cfg.data.bucket_edges[-1] == cfg.data.max_len


def test_full_profile_is_the_paper():
    cfg = load_config("full")
    assert cfg.data.vocab_size == 10000 and len(cfg.train.seeds) >= 3
    # v2's six models; the v3 arm (embed_*) is declared in paper/experiment_v3.toml
    assert set(cfg.train.models) == set(MODEL_NAMES) - {"embed_additive", "embed_mean"}
    assert "bilstm_mean" in load_config("smoke").train.models
    assert "bilstm_mean" in load_config("quick").train.models


def test_profiles_hash_differently():
    assert load_config("smoke").section_hash() != load_config("full").section_hash()
    assert load_config("smoke").section_hash() == load_config("smoke").section_hash()


@pytest.mark.parametrize("text, message", [
    ("[data]\nvocab = 3\n", "unknown config key data.vocab"),
    ("[train]\nsteps = -5\n", "train.steps=-5 must be positive"),
    ("[train]\nsteps = 'many'\n", "train.steps: expected int"),
    ("[data]\nmax_len = 0\nbucket_edges = [0]\n", "data.max_len=0 must be positive"),
    ("[model]\nheads = 3\n", "model.heads=3 must divide"),
    ("[model]\nprecision = 'float16'\n", "model.precision='float16' must be one of"),
    ("[model]\nprecision = 16\n", "model.precision: expected str"),
    ("[data]\nvocab_size = 2\n", "must exceed the 2 special tokens"),
    ("[train]\nmodels = ['bilstm', 'lstm9']\n", "unknown model 'lstm9'"),
    ("[optim]\nlr = 1\n", "unknown config section [optim]"),
    ("[data\n", "is not valid TOML"),
])
def test_bad_config_is_one_clear_error(tmp_path, text, message):
    with pytest.raises(UserError, match=None) as e:
        load_config("full", write(tmp_path, text))
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_profile():
    with pytest.raises(UserError, match="unknown profile 'huge'"):
        load_config("huge")


def test_same_experiment_tolerates_only_new_settings_at_their_default():
    import copy

    from attnstudy.config import same_experiment

    full, quick = load_config("full"), load_config("quick")
    rec = full.to_dict()
    assert same_experiment(rec, full) and not same_experiment(rec, quick)
    older = copy.deepcopy(rec)
    del older["data"]["train_subset"]  # recorded before the setting existed: default 0 (all)
    assert same_experiment(older, full)
    del older["model"]["embed_dropout"]  # the default, 0.2, is not full's 0.4
    assert not same_experiment(older, full)
    q = quick.to_dict()
    del q["data"]["train_subset"]  # quick's value (4000) is not the default (0)
    assert not same_experiment(q, quick)
    changed = copy.deepcopy(rec)
    changed["train"]["steps"] += 1
    assert not same_experiment(changed, full)
    removed = copy.deepcopy(rec)
    removed["train"]["gone"] = 1
    assert not same_experiment(removed, full)
    assert not same_experiment({}, full)
