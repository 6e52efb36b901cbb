"""Correctness of the fast bidirectional LSTM (``attnstudy.models.lstm``).

``bilstm`` is checked against the plain autodiff ``bilstm_reference`` (outputs and gradients),
against torch's packed ``nn.LSTM``, and for padding invariance. Params are perturbed away from
the init (non-zero biases, larger weights) so that every gate and bias actually matters.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnstudy.models.lstm import bilstm as _bilstm
from attnstudy.models.lstm import bilstm_reference, init_lstm_params

bilstm = jax.jit(_bilstm, static_argnames="precision")  # one compile per shape: fast

E, H = 6, 5


def _params(seed=0):
    p = init_lstm_params(jax.random.PRNGKey(seed), E, H)
    leaves, tree = jax.tree.flatten(p)
    keys = jax.random.split(jax.random.PRNGKey(seed + 100), len(leaves))
    noisy = [a + 0.3 * jax.random.normal(k, a.shape) for a, k in zip(leaves, keys, strict=True)]
    return jax.tree.unflatten(tree, noisy)


def _batch(lengths, t, seed=1):
    lengths = np.asarray(lengths)
    x = jax.random.normal(jax.random.PRNGKey(seed), (len(lengths), t, E))
    mask = jnp.arange(t)[None, :] < lengths[:, None]
    return x, mask


# Every row a different length, including a length-1 row and a full row.
CASES = [([9, 1, 4, 7, 2, 8, 5, 3], 9), ([3, 3, 1], 5), ([1], 1)]


@pytest.mark.parametrize("lengths,t", CASES)
def test_forward_matches_reference(lengths, t):
    p = _params()
    x, mask = _batch(lengths, t)
    out = bilstm(p, x, mask)
    ref = jax.jit(bilstm_reference)(p, x, mask)
    assert out.shape == (len(lengths), t, 2 * H)
    np.testing.assert_allclose(out, ref, atol=1e-5, rtol=0)
    # Padded positions are exactly zero, real positions are not.
    np.testing.assert_array_equal(np.asarray(out)[~np.asarray(mask)], 0.0)
    assert np.all(np.abs(np.asarray(out)[np.asarray(mask)]).sum(-1) > 0)


def test_jit_matches_eager_and_is_deterministic():
    p = _params()
    x, mask = _batch(*CASES[0])
    eager = _bilstm(p, x, mask)
    jitted = bilstm
    np.testing.assert_allclose(jitted(p, x, mask), eager, atol=1e-6)
    np.testing.assert_array_equal(jitted(p, x, mask), jitted(p, x, mask))


@pytest.mark.parametrize("lengths,t", CASES[:2])
def test_gradients_match_reference(lengths, t):
    p = _params()
    x, mask = _batch(lengths, t)
    w = jax.random.normal(jax.random.PRNGKey(7), (len(lengths), t, 2 * H))

    def loss(fn):
        # Only real positions enter the loss; tanh makes it non-linear in the outputs.
        return lambda p, x: jnp.sum(jnp.tanh(fn(p, x, mask)) * w * mask[..., None])

    g = jax.jit(jax.grad(loss(_bilstm), argnums=(0, 1)))(p, x)
    g_ref = jax.jit(jax.grad(loss(bilstm_reference), argnums=(0, 1)))(p, x)
    for path, a, b in zip(
        jax.tree_util.tree_leaves_with_path(g), jax.tree.leaves(g), jax.tree.leaves(g_ref),
        strict=True,
    ):
        assert np.abs(np.asarray(b)).max() > 1e-3, path  # the check is not vacuous
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=str(path[0]))
    # x gets no gradient at padded positions.
    np.testing.assert_array_equal(np.asarray(g[1])[~np.asarray(mask)], 0.0)


# bfloat16 matmuls (float32 accumulation). Measured on CASES[:2]: the custom VJP's gradients
# agree with autodiff of the reference in bfloat16 mode to 7e-7 (both round the same operands;
# the rest is float32 summation order), while bfloat16 and float32 gradients differ by up to
# 1.5e-2 (3e-3..1.5e-2 per leaf). So 1e-4 here would catch a backward that skipped bfloat16
# (or applied it where the reference does not), and the bfloat16-vs-float32 check below shows
# the mode is really on.
@pytest.mark.parametrize("lengths,t", CASES[:2])
def test_bf16_gradients_match_bf16_reference(lengths, t):
    p = _params()
    x, mask = _batch(lengths, t)
    w = jax.random.normal(jax.random.PRNGKey(7), (len(lengths), t, 2 * H))

    def grads(fn, precision):
        def loss(p, x):
            return jnp.sum(jnp.tanh(fn(p, x, mask, precision)) * w * mask[..., None])

        return jax.jit(jax.grad(loss, argnums=(0, 1)))(p, x)

    g, g_ref = grads(_bilstm, "bfloat16"), grads(bilstm_reference, "bfloat16")
    g32 = grads(_bilstm, "float32")
    flat = [jax.tree.leaves(t) for t in (g, g_ref, g32)]
    for path, a, b, c in zip(jax.tree_util.tree_leaves_with_path(g), *flat, strict=True):
        assert a.dtype == jnp.float32, path  # gradients of float32 weights stay float32
        assert np.abs(np.asarray(b)).max() > 1e-3, path
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=str(path[0]))
        np.testing.assert_allclose(a, c, rtol=0, atol=5e-2, err_msg=str(path[0]))
    assert max(np.abs(np.asarray(a) - np.asarray(c)).max() for a, c in zip(flat[0], flat[2],
                                                                          strict=True)) > 1e-3
    np.testing.assert_array_equal(np.asarray(g[1])[~np.asarray(mask)], 0.0)


def test_bf16_forward_matches_bf16_reference():
    p = _params()
    x, mask = _batch(*CASES[0])
    out = bilstm(p, x, mask, precision="bfloat16")
    ref = jax.jit(bilstm_reference, static_argnames="precision")(p, x, mask,
                                                                 precision="bfloat16")
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, ref, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(np.asarray(out)[~np.asarray(mask)], 0.0)
    diff = np.abs(np.asarray(out) - np.asarray(bilstm(p, x, mask)))
    assert 1e-4 < diff.max() < 2e-2  # bfloat16 rounding: present, and small


def test_padding_invariance():
    p = _params()
    lengths, t = CASES[0]
    x, mask = _batch(lengths, t)
    out = bilstm(p, x, mask)
    real = np.asarray(mask)

    # Garbage in padded positions changes nothing.
    junk = 100.0 * jax.random.normal(jax.random.PRNGKey(3), x.shape)
    x_junk = jnp.where(mask[..., None], x, junk)
    np.testing.assert_allclose(bilstm(p, x_junk, mask), out, atol=1e-6)

    # Extra padding columns (filled with junk) change nothing at real positions.
    extra = 4
    tail = jax.random.normal(jax.random.PRNGKey(4), (len(lengths), extra, E))
    x_long = jnp.concatenate([x, tail], 1)
    mask_long = jnp.concatenate([mask, jnp.zeros((len(lengths), extra), bool)], 1)
    out_long = bilstm(p, x_long, mask_long)
    np.testing.assert_allclose(np.asarray(out_long)[:, :t][real], np.asarray(out)[real], atol=1e-6)

    # A row alone gives the same outputs as inside the batch (no cross-row leakage).
    one = bilstm(p, x[2:3, : lengths[2]], mask[2:3, : lengths[2]])
    np.testing.assert_allclose(one[0], out[2, : lengths[2]], atol=1e-6)

    # Sanity: changing a *real* token does change the outputs of both directions.
    x_real = x.at[0, 3].add(1.0)
    diff = np.abs(np.asarray(bilstm(p, x_real, mask) - out))
    assert diff[0, 5, :H].max() > 1e-4 and diff[0, 1, H:].max() > 1e-4


def test_matches_torch_packed_lstm():
    import torch  # dev extra: a missing torch fails this parity check, never skips it
    p = _params()
    lengths, t = CASES[0]
    x, mask = _batch(lengths, t)

    lstm = torch.nn.LSTM(E, H, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for suffix, name in (("", "fwd"), ("_reverse", "bwd")):
            d = p[name]
            getattr(lstm, "weight_ih_l0" + suffix).copy_(torch.tensor(np.asarray(d["w_i"]).T))
            getattr(lstm, "weight_hh_l0" + suffix).copy_(torch.tensor(np.asarray(d["w_h"]).T))
            getattr(lstm, "bias_ih_l0" + suffix).copy_(torch.tensor(np.asarray(d["b"])))
            getattr(lstm, "bias_hh_l0" + suffix).zero_()
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            torch.tensor(np.asarray(x)), torch.tensor(lengths), batch_first=True,
            enforce_sorted=False,
        )
        out_t, _ = lstm(packed)
        out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_t, batch_first=True, total_length=t)

    np.testing.assert_allclose(bilstm(p, x, mask), out_t.numpy(), atol=1e-4, rtol=0)


def test_init_layout():
    p = init_lstm_params(jax.random.PRNGKey(0), E, H)
    for d in ("fwd", "bwd"):
        assert p[d]["w_i"].shape == (E, 4 * H) and p[d]["w_h"].shape == (H, 4 * H)
        assert np.abs(np.asarray(p[d]["w_h"])).max() <= 1 / np.sqrt(H)
        np.testing.assert_array_equal(p[d]["b"], np.r_[np.zeros(H), np.ones(H), np.zeros(2 * H)])
    assert not np.allclose(p["fwd"]["w_i"], p["bwd"]["w_i"])
