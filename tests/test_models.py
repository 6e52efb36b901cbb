"""The classifiers: shapes, masking, attention weights, parameter counts, PyTorch parity, jit.

Most tests run at small dims (one compile per model and batch shape, cached across tests);
parameter counts and one parity check use the default dims.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnstudy.config import MODEL_NAMES, ModelConfig, load_config
from attnstudy.models import classifiers as models
from attnstudy.models.inference import attention_weights

SMALL = ModelConfig(embed_dim=16, hidden=16, attention_dim=16, heads=2, transformer_layers=1,
                    transformer_ff=32, dropout=0.5, embed_dropout=0.2, precision="float32")
VOCAB, MAX_LEN = 50, 12
SMOKE = load_config("smoke")
PAPER = load_config("full")
SETUPS = {  # key -> (ModelConfig, vocab_size, max_len); equal setups share compiled code
    "small": (SMALL, VOCAB, MAX_LEN),
    "smoke": (SMOKE.model, VOCAB, MAX_LEN),
    # the paper's model in float32 (bf16 is its own setup below), on shorter reviews
    "default": (dataclasses.replace(PAPER.model, precision="float32"), PAPER.data.vocab_size, 192),
    "smoke_profile": (SMOKE.model, SMOKE.data.vocab_size, SMOKE.data.max_len),
}
BF16 = {k: f"{k}_bf16" for k in ("small", "default")}  # the same setups with bfloat16 matmuls
SETUPS |= {BF16[k]: (dataclasses.replace(SETUPS[k][0], precision="bfloat16"), *SETUPS[k][1:])
           for k in BF16}
ATTENTION_MODELS = ("additive", "mhsa", "transformer", "embed_additive")
EMBED_ONLY = ("embed_additive", "embed_mean")  # no LSTM: embedding -> pooling -> classifier


def batch(lengths, width, seed=0, vocab=VOCAB):
    """Right-padded ids <int32>[b, width] (PAD=0, real ids >= 2) and mask <bool>[b, width]."""
    lengths = np.asarray(lengths)
    rng = np.random.default_rng(seed)
    mask = np.arange(width)[None, :] < lengths[:, None]
    ids = np.where(mask, rng.integers(2, vocab, (len(lengths), width)), 0).astype(np.int32)
    return ids, mask


# Every row has a different padding length (0, 11, 5, 9, 2, 7), one row is a single token.
MIXED = batch([12, 1, 7, 3, 10, 5], 12, seed=1)
RANDOM = batch(np.random.default_rng(2).integers(1, 13, 6), 12, seed=3)
SHORT = batch([8, 1, 3, 5, 2, 7], 8, seed=4)


def random_params(model, max_len, seed=0):
    """Params with init_params' tree and shapes (traced, not run) and random values everywhere,
    biases and norms included, so parity and masking checks cover every parameter."""
    shapes = jax.eval_shape(lambda: models.init_params(model, 0, max_len))
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda s: jnp.asarray(rng.normal(0, 0.3, s.shape), s.dtype), shapes)


@functools.cache
def _bundle(cfg, vocab, max_len, name):
    model = models.build_model(name, cfg, vocab, max_len)
    fwd = jax.jit(lambda p, ids, mask: attention_weights(model, p, ids, mask))
    return model, random_params(model, max_len), fwd


def bundle(setup: str, name: str):
    """(module, params, jitted eval forward (params, ids, mask) -> (logits, weights or None))."""
    return _bundle(*SETUPS[setup], name)


def run(setup, name, ids, mask):
    _, params, fwd = bundle(setup, name)
    logits, weights = fwd(params, jnp.asarray(ids), jnp.asarray(mask))
    return np.asarray(logits), None if weights is None else np.asarray(weights)


# ---------------------------------------------------------------- build and forward


@pytest.mark.parametrize("setup", ["smoke", "default"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_builds_and_gives_finite_logits(setup, name):
    ids, mask = MIXED
    logits, weights = run(setup, name, ids, mask)
    assert logits.shape == (6,) and logits.dtype == np.float32
    assert np.isfinite(logits).all()
    assert len(set(logits.tolist())) == 6  # rows are not collapsed to one value
    assert (weights is None) == (name not in ATTENTION_MODELS)


def test_unknown_model_is_a_user_error():
    from attnstudy.errors import UserError

    with pytest.raises(UserError, match="unknown model"):
        models.build_model("lstm", SMALL, VOCAB, MAX_LEN)


# ---------------------------------------------------------------- masking


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_ids_at_padding_do_not_matter(name):
    ids, mask = MIXED
    noisy = np.where(mask, ids, np.random.default_rng(5).integers(1, VOCAB, ids.shape))
    assert (noisy != ids).sum() > 10
    logits, weights = run("small", name, ids, mask)
    logits2, weights2 = run("small", name, noisy.astype(np.int32), mask)
    np.testing.assert_allclose(logits2, logits, rtol=0, atol=1e-6)
    if weights is not None:
        np.testing.assert_allclose(weights2, weights, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_extra_padding_columns_do_not_matter(name):
    ids, mask = SHORT
    extra = 4  # -> width 12, with junk ids in the new (padded) columns
    junk = np.random.default_rng(6).integers(1, VOCAB, (ids.shape[0], extra)).astype(np.int32)
    wide_ids = np.concatenate([ids, junk], axis=1)
    wide_mask = np.concatenate([mask, np.zeros((mask.shape[0], extra), bool)], axis=1)
    logits, weights = run("small", name, ids, mask)
    wide_logits, wide_weights = run("small", name, wide_ids, wide_mask)
    np.testing.assert_allclose(wide_logits, logits, rtol=0, atol=1e-5)
    if weights is not None:  # same weights among the first 8 positions, zero in the new ones
        token_axes = 1 if weights.ndim == 2 else 2  # additive [b, t]; self-attention [.., t, t]
        pad = [(0, 0)] * (weights.ndim - token_axes) + [(0, extra)] * token_axes
        np.testing.assert_allclose(wide_weights, np.pad(weights, pad), rtol=0, atol=1e-6)


# ---------------------------------------------------------------- attention weights


@pytest.mark.parametrize("name", ["additive", "embed_additive"])
@pytest.mark.parametrize("ids,mask", [MIXED, RANDOM], ids=["mixed", "random"])
def test_additive_weights_are_a_distribution_over_real_tokens(name, ids, mask):
    _, w = run("small", name, ids, mask)
    assert w.shape == ids.shape
    assert (w >= 0).all()
    assert (w[~mask] == 0).all()
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-5)
    assert (w[mask.sum(1) == 1][:, 0] == 1.0).all()


@pytest.mark.parametrize("name", ["mhsa", "transformer"])
@pytest.mark.parametrize("ids,mask", [MIXED, RANDOM], ids=["mixed", "random"])
def test_self_attention_rows_are_distributions_over_real_keys(name, ids, mask):
    _, w = run("small", name, ids, mask)
    b, t = ids.shape
    if name == "transformer":
        assert w.shape == (SMALL.transformer_layers, b, SMALL.heads, t, t)
    else:
        assert w.shape == (b, SMALL.heads, t, t)
    w = w.reshape(-1, b, SMALL.heads, t, t)  # [layers, b, heads, query, key]
    assert (w >= 0).all()
    assert (w.transpose(0, 1, 3, 2, 4)[:, ~mask] == 0).all()  # padded queries: rows zero
    assert (w.transpose(0, 1, 4, 2, 3)[:, ~mask] == 0).all()  # padded keys: columns zero
    sums = w.sum(-1).transpose(0, 1, 3, 2)  # [layers, b, query, heads]
    np.testing.assert_allclose(sums[:, mask], 1.0, atol=1e-5)
    assert (w.transpose(0, 1, 3, 2, 4)[:, mask].sum(-1) > 0.999).all()


# ---------------------------------------------------------------- parameter counts


def shape_count(setup, name):
    cfg, vocab, max_len = SETUPS[setup]
    model = models.build_model(name, cfg, vocab, max_len)
    return models.param_count(jax.eval_shape(lambda: models.init_params(model, 0, max_len)))


def hand_count(setup, name):
    c, v, max_len = SETUPS[setup]
    e, h, d = c.embed_dim, c.hidden, 2 * c.hidden
    encoder = v * e + 2 * (e * 4 * h + h * 4 * h + 4 * h)  # one bias per gate (b_ih + b_hh)
    self_attention = lambda dim: 4 * (dim * dim + dim) + 2 * dim  # qkv + out; LayerNorm  # noqa: E731
    if name in ("bilstm", "bilstm_mean"):  # max- or mean-pool, then the classifier
        return encoder + d + 1
    if name == "bilstm_matched":
        m = models.matched_width(v, c, max_len)
        return encoder + d * m + m + m + 1
    if name == "additive":
        return encoder + (d * c.attention_dim + c.attention_dim) + c.attention_dim + d + 1
    if name == "embed_additive":  # the same attention and classifier on e-dim embeddings
        return v * e + (e * c.attention_dim + c.attention_dim) + c.attention_dim + e + 1
    if name == "embed_mean":
        return v * e + e + 1
    if name == "mhsa":
        return encoder + self_attention(d) + d + 1
    block = self_attention(e) + e * c.transformer_ff + c.transformer_ff + c.transformer_ff * e + e
    return v * e + max_len * e + c.transformer_layers * (block + 2 * e) + e + 1


def test_bilstm_param_count_at_default_dims():
    # 10000*128 embedding + 2 * (128*512 + 128*512 + 512) LSTM + 256 + 1 classifier
    assert shape_count("default", "bilstm") == 1_280_000 + 263_168 + 257 == 1_543_425


@pytest.mark.parametrize("setup", ["small", "default"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_param_counts_match_hand_formulas(setup, name):
    assert shape_count(setup, name) == hand_count(setup, name)


@pytest.mark.parametrize("setup", ["smoke_profile", "default"])
def test_matched_control_is_within_one_percent_of_mhsa(setup):
    mhsa, matched, plain = (shape_count(setup, n) for n in ("mhsa", "bilstm_matched", "bilstm"))
    assert abs(matched - mhsa) <= 0.01 * mhsa
    assert abs(matched - mhsa) < mhsa - plain  # the extra layer actually closes the gap
    # and it is the best integer width: one unit more or less is no closer
    cfg, vocab, max_len = SETUPS[setup]
    per_unit = 2 * cfg.hidden + 2
    assert abs(matched - mhsa) <= per_unit / 2


# ---------------------------------------------------------------- PyTorch twins


@pytest.fixture(scope="module")
def tm():
    # torch is in the dev extra: without it the parity checks must fail, never skip unnoticed
    try:
        from attnstudy.models import twins as torch_models
    except ImportError as e:
        pytest.fail(f"the PyTorch parity tests need torch (pip install -e '.[dev]'): {e}")
    return torch_models


@functools.cache
def twin(setup, name):
    from attnstudy.models import twins as torch_models

    cfg, vocab, max_len = SETUPS[setup]
    _, params, _ = bundle(setup, name)
    return torch_models.load_flax_params(
        torch_models.build_torch_model(name, cfg, vocab, max_len), params)


def run_twin(setup, name, ids, mask):
    import torch

    model = twin(setup, name)
    assert not model.training
    with torch.no_grad():
        logits, weights = model(torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(mask),
                                return_attention=True)
    return logits.numpy(), None if weights is None else weights.numpy()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_torch_twin_matches_flax(tm, name):
    for ids, mask in (MIXED, RANDOM, SHORT):
        logits, weights = run("small", name, ids, mask)
        t_logits, t_weights = run_twin("small", name, ids, mask)
        np.testing.assert_allclose(t_logits, logits, rtol=0, atol=1e-4)
        assert (t_weights is None) == (weights is None)
        if weights is not None:
            assert t_weights.shape == weights.shape
            np.testing.assert_allclose(t_weights, weights, rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_torch_twin_matches_flax_at_default_dims(tm, name):
    ids, mask = MIXED
    logits, weights = run("default", name, ids, mask)
    t_logits, t_weights = run_twin("default", name, ids, mask)
    np.testing.assert_allclose(t_logits, logits, rtol=0, atol=1e-4)
    if weights is not None:
        np.testing.assert_allclose(t_weights, weights, rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_torch_twin_has_the_same_parameters(tm, name):
    cfg, vocab, max_len = SETUPS["default"]
    model = tm.build_torch_model(name, cfg, vocab, max_len)
    n = sum(p.numel() for p in model.parameters())
    no_lstm = name == "transformer" or name in EMBED_ONLY
    lstm_bias_hh = 0 if no_lstm else 2 * 4 * cfg.hidden  # torch's second bias
    assert n == shape_count("default", name) + lstm_bias_hh


def test_load_flax_params_rejects_a_foreign_tree(tm):
    mhsa = tm.build_torch_model("mhsa", SMALL, VOCAB, MAX_LEN)
    with pytest.raises(ValueError, match="no submodule"):  # additive's attention has w and v
        tm.load_flax_params(mhsa, bundle("small", "additive")[1])
    partial = {k: v for k, v in bundle("small", "mhsa")[1].items() if k != "classifier"}
    with pytest.raises(ValueError, match="not set.*classifier"):
        tm.load_flax_params(mhsa, partial)
    matched = tm.build_torch_model("bilstm_matched", SMALL, VOCAB, MAX_LEN, extra=7)
    with pytest.raises(ValueError, match="shape"):
        tm.load_flax_params(matched, bundle("small", "bilstm_matched")[1])


def test_torch_twin_trains_with_dropout(tm):
    import torch

    model = tm.build_torch_model("mhsa", SMALL, VOCAB, MAX_LEN).train()
    ids, mask = torch.from_numpy(MIXED[0].astype(np.int64)), torch.from_numpy(MIXED[1])
    torch.manual_seed(0)
    a, b = model(ids, mask), model(ids, mask)
    assert not torch.allclose(a, b)  # dropout is active in train mode
    torch.nn.functional.binary_cross_entropy_with_logits(a, torch.ones_like(a)).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    model.eval()
    assert torch.equal(model(ids, mask), model(ids, mask))


# ---------------------------------------------------------------- bfloat16 matmuls

# Measured on these params and batches (max |difference| / max(1, max |reference|), worst over
# the five models at small and default dims): JAX bf16 vs PyTorch bf16 7e-3 on logits and
# 1.4e-2 on attention weights; JAX bf16 vs JAX f32 7e-3 and 7e-3 (PyTorch bf16 vs f32: 1.1e-2).
# That is bfloat16's rounding (8-bit significand, relative spacing 2^-7 = 7.8e-3) after a few
# layers; PyTorch also rounds each matmul's result and bias to bfloat16 (see `twins`).
BF16_TOL = 3e-2


def scaled_error(got, ref) -> float:
    return float(np.abs(got - ref).max() / max(1.0, np.abs(ref).max()))


@pytest.mark.parametrize("setup", ["small", "default"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_bf16_matches_torch_bf16_and_stays_near_f32(tm, setup, name):
    for a, b in zip(jax.tree.leaves(bundle(setup, name)[1]),
                    jax.tree.leaves(bundle(BF16[setup], name)[1]), strict=True):
        np.testing.assert_array_equal(a, b)  # the same weights in both modes
    for ids, mask in (MIXED, RANDOM, SHORT) if setup == "small" else (MIXED,):
        f32, bf16 = run(setup, name, ids, mask), run(BF16[setup], name, ids, mask)
        t_bf16 = run_twin(BF16[setup], name, ids, mask)
        assert bf16[0].dtype == t_bf16[0].dtype == np.float32
        for got, ref in ((bf16, f32), (t_bf16, bf16)):
            assert scaled_error(got[0], ref[0]) < BF16_TOL
            if ref[1] is not None:
                assert got[1].dtype == np.float32 and scaled_error(got[1], ref[1]) < BF16_TOL
        # bfloat16 is really on, in both frameworks
        assert np.abs(bf16[0] - f32[0]).max() > 1e-5
        assert np.abs(t_bf16[0] - f32[0]).max() > 1e-5


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_bf16_gradients_stay_near_f32(name):
    """Runs every model's bfloat16 backward (XLA's CPU runtime rejects some bfloat16 dot layouts,
    see `models.precision`) and checks it against float32. Measured max |difference| /
    max(1, max |gradient|) over all leaves: 4e-4 (additive) to 1e-2 (transformer). At default
    dims with these random weights max-pool can pick another token under bfloat16, so gradients
    are compared at small dims only."""
    ids, mask = MIXED
    grads = []
    for setup in ("small", BF16["small"]):
        model, params, _ = bundle(setup, name)
        loss = lambda p, model=model: jnp.sum(model.apply({"params": p}, ids, mask))  # noqa: E731
        grads.append([np.asarray(g) for g in jax.tree.leaves(jax.jit(jax.grad(loss))(params))])
    g32, g16 = grads
    scale = max(1.0, max(np.abs(g).max() for g in g32))
    err = max(np.abs(b - a).max() for a, b in zip(g32, g16, strict=True)) / scale
    assert 1e-6 < err < 5e-2
    assert all(g.dtype == np.float32 and np.isfinite(g).all() for g in g16)


@pytest.mark.parametrize("spec,sa,sb", [
    ("nk,kg->ng", (5, 6), (6, 7)),
    ("bt,btd->bd", (3, 5), (3, 5, 4)),
    ("dbk,dkg->dbg", (2, 3, 5), (2, 5, 4)),
    ("tdbk,tdbg->dkg", (4, 2, 3, 5), (4, 2, 3, 6)),
    ("bqhd,bkhd->bhqk", (2, 5, 3, 4), (2, 6, 3, 4)),
    ("bhqk,bkhd->bqhd", (2, 3, 5, 6), (2, 6, 3, 4)),
    ("bqhd,bhqk->bkhd", (2, 5, 3, 4), (2, 3, 5, 6)),  # XLA rejects it with unmerged batch dims
])
def test_bf16_einsum_is_an_einsum_of_rounded_operands(spec, sa, sb):
    """precision.einsum in bfloat16 mode = float32 einsum of the operands rounded to bfloat16,
    and so are its gradients (for a cotangent that bfloat16 represents exactly)."""
    from attnstudy.models import precision

    rng = np.random.default_rng(0)
    a, b = (jnp.asarray(rng.standard_normal(s), jnp.float32) for s in (sa, sb))
    rounded = [x.astype(jnp.bfloat16).astype(jnp.float32) for x in (a, b)]
    out = jax.jit(precision.einsum, static_argnums=(0, 3))(spec, a, b, "bfloat16")
    assert out.dtype == jnp.float32
    ref = jnp.einsum(spec, *rounded)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)
    w = jnp.asarray(rng.integers(-4, 5, ref.shape), jnp.float32) / 4  # exact in bfloat16
    grads = jax.grad(lambda a, b: jnp.sum(precision.einsum(spec, a, b, "bfloat16") * w),
                     argnums=(0, 1))(a, b)
    want = jax.grad(lambda a, b: jnp.sum(jnp.einsum(spec, a, b) * w), argnums=(0, 1))(*rounded)
    for g, r in zip(grads, want, strict=True):
        assert g.dtype == jnp.float32
        np.testing.assert_allclose(g, r, rtol=1e-6, atol=1e-6)


def dot_dtypes(jaxpr, found: collections.Counter) -> collections.Counter:
    """Count (operand dtypes, result dtype) of every dot_general in a jaxpr and its sub-jaxprs
    (scan bodies, custom VJPs, jitted calls)."""
    from jax.extend.core import ClosedJaxpr, Jaxpr

    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            found[tuple(str(v.aval.dtype) for v in eqn.invars), str(eqn.outvars[0].aval.dtype)] += 1
        for value in eqn.params.values():
            for sub in value if isinstance(value, list | tuple) else [value]:
                if isinstance(sub, ClosedJaxpr | Jaxpr):
                    dot_dtypes(sub.jaxpr if isinstance(sub, ClosedJaxpr) else sub, found)
    return found


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_matmul_runs_at_the_configured_precision(name):
    """Forward and backward of a training step: in bfloat16 mode every matmul takes bfloat16
    operands and returns float32; in float32 mode every one is float32; gradients (for the
    float32 master weights) are float32 either way."""
    ids, mask = MIXED
    found = {}
    for setup in ("small", BF16["small"]):
        model, params, _ = bundle(setup, name)

        def loss(p, model=model):
            logits = model.apply({"params": p}, ids, mask, train=True,
                                 rngs={"dropout": jax.random.key(0)})
            return jnp.sum(logits)

        grads = jax.eval_shape(jax.grad(loss), params)
        assert {g.dtype for g in jax.tree.leaves(grads)} == {jnp.dtype(jnp.float32)}
        found[setup] = dot_dtypes(jax.make_jaxpr(jax.grad(loss))(params).jaxpr,
                                  collections.Counter())
    n = sum(found["small"].values())
    # LSTM forward, backward step and dW, classifier forward and two backward; embed_mean has
    # only the classifier's three
    assert n >= (3 if name == "embed_mean" else 6)
    assert found["small"] == {(("float32", "float32"), "float32"): n}
    assert found[BF16["small"]] == {(("bfloat16", "bfloat16"), "float32"): n}


# ---------------------------------------------------------------- jit


def test_jit_compiles_once_per_bucket_width():
    """A jitted forward traces (and compiles) once per batch shape, whatever the lengths and
    token ids inside the batch; a new bucket width costs exactly one more trace."""
    model, params, _ = bundle("small", "bilstm")
    traces = []

    @jax.jit
    def forward(params, ids, mask):
        traces.append(ids.shape)  # runs only while tracing
        return model.apply({"params": params}, ids, mask)

    same_width = [MIXED, RANDOM, batch([2, 12, 6, 6, 1, 9], 12, seed=9)]
    outs = [forward(params, ids, mask) for ids, mask in same_width]
    assert traces == [(6, 12)] and forward._cache_size() == 1
    assert all(np.isfinite(o).all() for o in outs)
    assert not np.allclose(outs[0], outs[1])  # really different batches
    for seed in (10, 11):  # a new bucket width: exactly one more trace, then none
        ids, mask = batch([8, 3, 1, 5, 2, 7], 8, seed=seed)
        forward(params, jnp.asarray(ids), jnp.asarray(mask))
    assert traces == [(6, 12), (6, 8)] and forward._cache_size() == 2


def test_transformer_attention_is_stacked_in_layer_order(monkeypatch):
    """[layers, b, heads, t, t] with layer i = block i: also for one layer, and past 10 layers
    (where "block10" < "block2" as strings). Checks the collection logic on a stub apply."""
    for layers in (1, 11):
        cfg = dataclasses.replace(SMALL, embed_dim=4, heads=1, transformer_layers=layers)
        model = models.build_model("transformer", cfg, VOCAB, 3)
        inter = {f"block{i}_attention": {"attention": (jnp.full((2, 1, 3, 3), float(i)),)}
                 for i in range(layers)}
        monkeypatch.setattr(models.Transformer, "apply",
                            lambda self, *a, inter=inter, **k: (jnp.zeros(2), {"intermediates":
                                                                               inter}))
        _, stacked = attention_weights(model, None, None, None)
        assert stacked.shape == (layers, 2, 1, 3, 3)
        np.testing.assert_array_equal(stacked[:, 0, 0, 0, 0], np.arange(layers))


# ---------------------------------------------------------------- torch stays optional


def test_models_import_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import attnstudy.models.classifiers, attnstudy.models.lstm, attnstudy.config\n"
            "assert sys.modules['torch'] is None\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
