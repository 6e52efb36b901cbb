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
    assert set(cfg.train.models) == set(MODEL_NAMES)


def test_profiles_hash_differently():
    assert load_config("smoke").section_hash() != load_config("full").section_hash()
    assert load_config("smoke").section_hash() == load_config("smoke").section_hash()


@pytest.mark.parametrize("text, message", [
    ("[data]\nvocab = 3\n", "unknown config key data.vocab"),
    ("[train]\nsteps = -5\n", "train.steps=-5 must be positive"),
    ("[train]\nsteps = 'many'\n", "train.steps: expected int"),
    ("[data]\nmax_len = 0\nbucket_edges = [0]\n", "data.max_len=0 must be positive"),
    ("[model]\nheads = 3\n", "model.heads=3 must divide"),
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
