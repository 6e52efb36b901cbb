"""Training: resume after an interruption, determinism, divergence, one compile per shape."""

import dataclasses

import numpy as np
import pytest

from attnstudy.config import load_config
from attnstudy.data import batches, encode
from attnstudy.training import checkpoints
from attnstudy.training import loop as train


@pytest.fixture(scope="module")
def smoke(imdb_dir):
    cfg = load_config("smoke")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=12, eval_every=4))
    return cfg, encode.load_dataset(cfg.data, imdb_dir)


def timeless(curve):
    """A curve without its wall-clock field (the one thing allowed to differ between runs)."""
    return [{k: v for k, v in p.items() if k != "train_seconds"} for p in curve]


def leaves(tree):
    import jax

    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def test_same_seed_same_parameters_and_curve(smoke, tmp_path):
    cfg, ds = smoke
    a = train.train_run(cfg, "additive", 0, ds, tmp_path / "a")
    b = train.train_run(cfg, "additive", 0, ds, tmp_path / "b")
    assert timeless(a.curve) == timeless(b.curve)
    assert all(np.array_equal(x, y) for x, y in zip(leaves(a.params), leaves(b.params),
                                                    strict=True))
    c = train.train_run(cfg, "additive", 1, ds, tmp_path / "c")
    assert timeless(a.curve) != timeless(c.curve)


def test_resume_after_interruption_matches_uninterrupted(smoke, tmp_path):
    cfg, ds = smoke
    full = train.train_run(cfg, "bilstm", 0, ds, tmp_path / "full")
    # "killed" at step 6: the last checkpoint is step 4; the restart continues from there
    train.train_run(cfg, "bilstm", 0, ds, tmp_path / "cut", stop_after=6)
    assert train.load_state(tmp_path / "cut" / checkpoints.CHECKPOINT, full.params,
                            full.opt_state, "bilstm").step == 4
    resumed = train.train_run(cfg, "bilstm", 0, ds, tmp_path / "cut")
    assert timeless(resumed.curve) == timeless(full.curve) and resumed.best_step == full.best_step
    assert all(np.array_equal(x, y) for x, y in zip(leaves(full.best_params),
                                                    leaves(resumed.best_params), strict=True))


def test_torn_checkpoint_is_not_trusted(smoke, tmp_path, capsys):
    cfg, ds = smoke
    (tmp_path / "torn").mkdir()
    (tmp_path / "torn" / checkpoints.CHECKPOINT).write_bytes(b"\x80\x05half a checkpoint")
    state = train.train_run(cfg, "bilstm", 0, ds, tmp_path / "torn")
    assert state.step == cfg.train.steps
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read the checkpoint" in err[0] and "from step 0" in err[0]


def test_nan_loss_names_model_seed_and_step(smoke, tmp_path):
    cfg, ds = smoke
    bad = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, learning_rate=1e30,
                                                             warmup_steps=0))
    with pytest.raises(train.NonFiniteLoss, match=r"mhsa seed 0: loss is (nan|inf) at step \d+"):
        train.train_run(bad, "mhsa", 0, ds, tmp_path / "nan")


def test_one_compile_per_bucket_width(smoke, tmp_path):
    cfg, ds = smoke
    _, _, step = train.compiled_steps("bilstm", cfg.model, cfg.train, len(ds.vocab),
                                               cfg.data.max_len)
    train.train_run(cfg, "bilstm", 3, ds, tmp_path / "x")
    widths = {w for w, _ in batches.epoch_batches(ds.train.lengths, cfg.data.bucket_edges,
                                                cfg.train.batch_size, 3, 0)}
    compiled = step._cache_size()
    assert 1 <= compiled <= 2 * len(widths)  # first call may see uncommitted init arrays
    train.train_run(cfg, "bilstm", 4, ds, tmp_path / "y")  # another seed: no new compile
    assert step._cache_size() == compiled


def test_bfloat16_matmuls_train_float32_state_close_to_float32(smoke, tmp_path):
    cfg, ds = smoke
    bf = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, precision="bfloat16"))
    a = train.train_run(bf, "bilstm", 0, ds, tmp_path / "bf16")
    f = train.train_run(cfg, "bilstm", 0, ds, tmp_path / "f32")
    floats = [x for x in leaves(a.params) + leaves(a.opt_state) if x.dtype.kind == "f"]
    assert floats and all(x.dtype == np.float32 for x in floats)  # master weights, AdamW moments
    assert a.curve != f.curve  # bfloat16 is on ...
    for p, q in zip(a.curve, f.curve, strict=True):  # ... and stays close (measured: 1e-5)
        assert abs(p["val_loss"] - q["val_loss"]) < 1e-3


def test_selection_criterion_picks_the_point_it_names():
    pts = [{"step": 1, "val_loss": 0.30, "val_accuracy": 0.85},
           {"step": 2, "val_loss": 0.35, "val_accuracy": 0.87},
           {"step": 3, "val_loss": 0.33, "val_accuracy": 0.87}]
    assert min(pts, key=lambda p: train.selection_key("val_loss", p))["step"] == 1
    # highest accuracy; of the tied ones, the lower loss
    assert min(pts, key=lambda p: train.selection_key("val_accuracy", p))["step"] == 3


def test_training_keeps_the_selected_points_parameters(smoke, tmp_path):
    cfg, ds = smoke
    for select in ("val_loss", "val_accuracy"):
        c = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, select=select))
        state = train.train_run(c, "bilstm", 0, ds, tmp_path / select)
        want = min(state.curve, key=lambda p: train.selection_key(select, p))["step"]
        assert state.best_step == want
