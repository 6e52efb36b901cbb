import dataclasses
import tomllib

import pytest
import tomli_w

from attnstudy.config import (
    DEFAULT_CONFIG,
    MODEL_NAMES,
    PER_MODEL,
    SECTIONS,
    load_config,
    validate,
)
from attnstudy.errors import UserError


def write(tmp_path, text):
    p = tmp_path / "exp.toml"
    p.write_text(text)
    return p


def edited(tmp_path, change: str, drop: str | None = None):
    """paper/experiment.toml with the TOML snippet `change` merged over its base values (and
    the key `drop`, "section.key", removed): every other setting stays valid. A profile's own
    value of a changed key is removed, so the change holds in every profile (v3's full profile
    sets seeds, review length and per-model tables of its own)."""
    base = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    for section, values in tomllib.loads(change).items():
        base.setdefault(section, {}).update(values)
        for profile in base.get("profiles", {}).values():
            for key in values:
                profile.get(section, {}).pop(key, None)
    if drop:
        section, key = drop.split(".")
        del base[section][key]
    return write(tmp_path, tomli_w.dumps(base))


@pytest.mark.parametrize("profile", ["smoke", "quick", "full"])
def test_profiles_load(profile):
    cfg = load_config(profile)
    assert cfg.profile == profile
    assert set(cfg.train.models) <= set(MODEL_NAMES)
    assert cfg.data.bucket_edges[-1] == cfg.data.max_len


def test_full_profile_is_the_paper():
    cfg = load_config("full")
    assert cfg.data.vocab_size == 10000 and len(cfg.train.seeds) >= 3
    # its models and seeds are the committed results' (tests/test_bake.py)
    assert "bilstm_mean" in load_config("smoke").train.models
    assert "bilstm_mean" in load_config("quick").train.models


def test_profiles_hash_differently():
    assert load_config("smoke").section_hash() != load_config("full").section_hash()
    assert load_config("smoke").section_hash() == load_config("smoke").section_hash()


@pytest.mark.parametrize("text, message", [
    ("[data]\nvocab = 3\n", "unknown config key data.vocab (known: bucket_edges, max_len"),
    ("[train]\nsteps = -5\n", "invalid config: train.steps=-5: input should be greater than 0"),
    ("[train]\nsteps = 'many'\n", "config key train.steps: expected int, got 'many'"),
    ("[train]\nsteps = true\n", "config key train.steps: expected int, got True"),
    ("[train]\nlearning_rate = '1e-3'\n", "train.learning_rate: expected float, got '1e-3'"),
    ("[train]\nlearning_rate = 0\n", "train.learning_rate=0: input should be greater than 0"),
    ("[train]\nseeds = [0, 0]\n", "train.seeds=[0, 0] must be distinct"),
    ("[data]\nmax_len = 0\nbucket_edges = [0]\n", "data.max_len=0: input should be greater than 0"),
    ("[data]\nbucket_edges = [128, 64, 400]\n", "data.bucket_edges=[128, 64, 400] must be "
     "increasing"),
    ("[data]\nval_fraction = 1\n", "data.val_fraction=1: input should be less than 1"),
    ("[model]\nheads = 3\n", "model.heads=3 must divide"),
    ("[model]\nprecision = 'float16'\n",
     "model.precision='float16': input should be 'float32' or 'bfloat16'"),
    ("[model]\nprecision = 16\n", "model.precision=16: input should be 'float32' or"),
    ("[model]\ndropout = 1.0\n", "model.dropout=1.0: input should be less than 1"),
    ("[data]\nvocab_size = 2\n", "must exceed the 2 special tokens"),
    ("[train]\nmodels = ['bilstm', 'lstm9']\n",
     "train.models[1]='lstm9': input should be 'bilstm'"),
    ("[analysis]\nfaithfulness_k = [1, 0]\n", "analysis.faithfulness_k[1]=0: input should be"),
    ("[optim]\nlr = 1\n", "unknown config section [optim]"),
    ("[train.learning_rate_by_model]\nlstm9 = 0.01\n",
     "invalid config: learning_rate_by_model names an unknown model 'lstm9'"),
    ("[train.learning_rate_by_model]\nbilstm = 0\n",
     "train.learning_rate_by_model[0][1]=0: input should be greater than 0"),
    ("[model.embed_dropout_by_model]\nbilstm = 1.0\n", "input should be less than 1"),
    ("[train]\nlearning_rate_by_model = 0.01\n",
     "learning_rate_by_model must be a table of model = value"),
])
def test_bad_config_is_one_clear_error(tmp_path, text, message):
    with pytest.raises(UserError) as e:
        load_config("full", edited(tmp_path, text))
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_invalid_toml_and_a_missing_setting_are_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="is not valid TOML"):
        load_config("full", write(tmp_path, "[data\n"))
    with pytest.raises(UserError, match=r"config key train.steps is missing from .*exp.toml"):
        load_config("full", edited(tmp_path, "", drop="train.steps"))


def test_the_toml_is_the_one_source_of_settings():
    """No section has defaults in the code: each value comes from paper/experiment.toml."""
    # the one exception: the optional per-model tables, empty (no model overrides its section's
    # shared value) unless a config or the sweep's settings file sets them
    optional = {f for fields in PER_MODEL.values() for f in fields}
    for cls in SECTIONS.values():
        missing = [f.name for f in dataclasses.fields(cls)
                   if (f.default is not dataclasses.MISSING
                       or f.default_factory is not dataclasses.MISSING)
                   and not (f.name in optional and f.default == ())]
        assert not missing, (cls.__name__, missing)
    base = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    assert {s: set(base[s]) for s in SECTIONS} == {
        s: {f.name for f in dataclasses.fields(cls)} - optional for s, cls in SECTIONS.items()}


def test_replace_is_validated_too():
    from pydantic import ValidationError

    cfg = load_config("smoke")
    with pytest.raises(ValidationError):
        dataclasses.replace(cfg.train, steps=0)
    assert validate(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=7))
                    ).train.steps == 7


def test_unknown_profile():
    with pytest.raises(UserError, match="unknown profile 'huge'"):
        load_config("huge")


def test_same_experiment_tolerates_only_new_settings_at_their_old_value():
    import copy

    from attnstudy.config import ADDED_SETTINGS, same_experiment

    full, quick = load_config("full"), load_config("quick")
    rec = full.to_dict()
    assert same_experiment(rec, full) and not same_experiment(rec, quick)
    assert ADDED_SETTINGS["train"]["select"] == "val_loss"  # how runs were chosen before
    older = copy.deepcopy(rec)
    del older["train"]["select"]  # recorded before the setting existed: it selected on val_loss
    assert not same_experiment(older, full)  # full selects on val_accuracy
    on_loss = dataclasses.replace(full, train=dataclasses.replace(full.train, select="val_loss"))
    assert same_experiment(older, on_loss)
    missing = copy.deepcopy(rec)
    del missing["data"]["train_subset"]  # not a later addition: the record is incomplete
    assert not same_experiment(missing, full)
    changed = copy.deepcopy(rec)
    changed["train"]["steps"] += 1
    assert not same_experiment(changed, full)
    removed = copy.deepcopy(rec)
    removed["train"]["gone"] = 1
    assert not same_experiment(removed, full)
    assert not same_experiment({}, full)
