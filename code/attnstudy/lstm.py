"""A fast, length-aware bidirectional LSTM for JAX on CPU.

Semantics match ``torch.nn.LSTM(bidirectional=True, batch_first=True)`` run on packed
sequences: the forward direction reads tokens ``0..len-1`` from a zero state, the backward
direction reads each row's *real* tokens from ``len-1`` down to ``0`` from a zero state, and
outputs at padded positions are zero. Nothing a row outputs at its real positions depends on
its padding.

Speed (see ``lstm_bench.py`` and /work/shared/notes/jax-cpu-lstm.md):

* the input projection ``x W_i + b`` is one large matmul over all ``T*B`` rows, outside the
  scan; only ``h W_h`` stays inside the recurrence;
* the four gates cost one ``tanh``: ``sigmoid(z) = 0.5 + 0.5 * tanh(z / 2)``, with the ``1/2``
  folded into the weights once per call (XLA's CPU sigmoid is much slower than its tanh);
* the recurrence has a ``jax.custom_vjp``: the forward saves gate activations, the backward is
  a reverse scan that only carries state gradients (one ``(B,4H)x(4H,H)`` matmul per step), and
  ``dW_h`` (here) and ``dW_i``, ``dx``, ``db`` (autodiff of the projection) are matmuls over
  all ``T*B`` rows at once instead of ``T`` small ones.

Length awareness costs nothing extra: padding sits at the end of each row, so a reverse-time
scan whose cell state is multiplied by the mask (zero at padding) arrives at a row's last real
token with exactly the zero state torch starts from. The same masking in the forward direction
makes padded outputs zero.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["init_lstm_params", "bilstm", "bilstm_reference"]


def init_lstm_params(key: jax.Array, input_dim: int, hidden: int) -> dict:
    """Parameters of a one-layer bidirectional LSTM.

    Returns ``{'fwd': p, 'bwd': p}`` with ``p = {'w_i': <float32>[E, 4H], 'w_h': <float32>[H, 4H],
    'b': <float32>[4H]}``; gate order along ``4H`` is i, f, g, o (PyTorch's order). Weights are
    uniform(-1/sqrt(H), 1/sqrt(H)) as in PyTorch; ``b`` (= torch's ``b_ih + b_hh``) is zero
    except the forget-gate block, which is 1.0 so that early training keeps memory.
    """
    bound = 1.0 / jnp.sqrt(hidden)
    out = {}
    for name, k in zip(("fwd", "bwd"), jax.random.split(key, 2), strict=True):
        ki, kh = jax.random.split(k)
        out[name] = {
            "w_i": jax.random.uniform(ki, (input_dim, 4 * hidden), jnp.float32, -bound, bound),
            "w_h": jax.random.uniform(kh, (hidden, 4 * hidden), jnp.float32, -bound, bound),
            "b": jnp.zeros((4 * hidden,), jnp.float32).at[hidden : 2 * hidden].set(1.0),
        }
    return out


def _gate_scale(hidden: int) -> jax.Array:
    """<float32>[4H]: 0.5 on the sigmoid gates (i, f, o), 1.0 on g, so ``tanh(scale*z)`` gives
    every gate from one tanh."""
    half, one = jnp.full((hidden,), 0.5, jnp.float32), jnp.ones((hidden,), jnp.float32)
    return jnp.concatenate([half, half, one, half])


def _gates(a: jax.Array):
    """Split ``a = tanh(scale*z)`` <float32>[B, 4H] into gate values (i, f, g, o), each [B, H]."""
    ai, af, g, ao = jnp.split(a, 4, axis=-1)
    return 0.5 + 0.5 * ai, 0.5 + 0.5 * af, g, 0.5 + 0.5 * ao


def _forward_scan(xz, w_h, m, reverse):
    """Run the recurrence. xz <float32>[T, B, 4H] (pre-scaled projected inputs),
    w_h <float32>[H, 4H] (pre-scaled), m <float32>[T, B, 1] (1 = real token).
    Returns hs, and the residuals (A = tanh outputs [T, B, 4H], C and tanh(C) [T, B, H])."""
    _, b, h4 = xz.shape
    zeros = jnp.zeros((b, h4 // 4), xz.dtype)

    def step(carry, inp):
        h, c = carry
        xz_t, m_t = inp
        a = jnp.tanh(xz_t + h @ w_h)
        i, f, g, o = _gates(a)
        # Zeroing c at padding zeroes h too (tanh(0) = 0) and restarts the reverse scan
        # from a zero state at each row's last real token.
        c = (f * c + i * g) * m_t
        tc = jnp.tanh(c)
        h = o * tc
        return (h, c), (h, a, c, tc)

    _, (hs, a, cs, tcs) = lax.scan(step, (zeros, zeros), (xz, m), reverse=reverse)
    return hs, (a, cs, tcs)


def _shift_prev(y: jax.Array, reverse: bool) -> jax.Array:
    """Value of the state *before* each step: y[t-1] (forward) or y[t+1] (reverse), zero at
    the start. <float32>[T, B, H] -> same."""
    pad = jnp.zeros_like(y[:1])
    return jnp.concatenate([y[1:], pad]) if reverse else jnp.concatenate([pad, y[:-1]])


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def _recurrence(xz, w_h, m, reverse):
    """hs <float32>[T, B, H] of one LSTM direction; see ``_forward_scan`` for shapes."""
    return _forward_scan(xz, w_h, m, reverse)[0]


def _recurrence_fwd(xz, w_h, m, reverse):
    hs, res = _forward_scan(xz, w_h, m, reverse)
    return hs, (hs, w_h, m) + res


def _recurrence_bwd(reverse, res, dhs):
    hs, w_h, m, a, cs, tcs = res
    c_prev = _shift_prev(cs, reverse)
    scale = _gate_scale(w_h.shape[0])

    def step(carry, inp):
        dh_next, dc_next = carry
        dy, a_t, c_prev_t, tc_t, m_t = inp
        i, f, g, o = _gates(a_t)
        dh = dy + dh_next
        # c_t = m * c_candidate, and h_t = o * tanh(c_t): the mask stops the state gradient at
        # padding exactly as it stopped the state in the forward pass.
        dc = (dc_next + dh * o * (1.0 - tc_t * tc_t)) * m_t
        dgate = jnp.concatenate([dc * g, dc * c_prev_t, dc * i, dh * tc_t], axis=-1)
        dz = dgate * (1.0 - a_t * a_t) * scale  # through tanh(scale * z); z is pre-scaled
        return (dz @ w_h.T, dc * f), dz

    zeros = jnp.zeros_like(hs[0])
    _, dz = lax.scan(step, (zeros, zeros), (dhs, a, c_prev, tcs, m), reverse=not reverse)
    # One [H, T*B] x [T*B, 4H] matmul instead of T small ones inside the scan.
    dw_h = jnp.einsum("tbh,tbg->hg", _shift_prev(hs, reverse), dz)
    return dz, dw_h, jnp.zeros_like(m)


_recurrence.defvjp(_recurrence_fwd, _recurrence_bwd)


def bilstm(params: dict, x: jax.Array, mask: jax.Array) -> jax.Array:
    """Bidirectional LSTM over right-padded sequences.

    Args:
      params: from ``init_lstm_params``.
      x: <float32>[B, T, E] inputs.
      mask: <bool>[B, T], True at real tokens; real tokens come first in every row.

    Returns:
      <float32>[B, T, 2H]: concat(forward h, backward h), zero at padded positions.
    Differentiable w.r.t. ``params`` and ``x``; jit-able.
    """
    hidden = params["fwd"]["w_h"].shape[0]
    scale = _gate_scale(hidden)
    x_tm = jnp.swapaxes(x, 0, 1)  # [T, B, E]: the scan walks the leading axis
    m = jnp.swapaxes(mask, 0, 1)[..., None].astype(x.dtype)  # [T, B, 1]
    outs = []
    for name, reverse in (("fwd", False), ("bwd", True)):
        p = params[name]
        # Hoisted input projection: one [T*B, E] x [E, 4H] matmul; scale folded into weights.
        xz = x_tm @ (p["w_i"] * scale) + p["b"] * scale
        outs.append(_recurrence(xz, p["w_h"] * scale, m, reverse))
    return jnp.swapaxes(jnp.concatenate(outs, axis=-1), 0, 1)


def _reference_scan(p: dict, x_tm: jax.Array) -> jax.Array:
    """Textbook LSTM over <float32>[T, B, E] from a zero state -> <float32>[T, B, H]."""
    hidden = p["w_h"].shape[0]

    def cell(carry, x_t):
        h, c = carry
        z = x_t @ p["w_i"] + h @ p["w_h"] + p["b"]
        zi, zf, zg, zo = jnp.split(z, 4, axis=-1)
        c = jax.nn.sigmoid(zf) * c + jax.nn.sigmoid(zi) * jnp.tanh(zg)
        h = jax.nn.sigmoid(zo) * jnp.tanh(c)
        return (h, c), h

    zeros = jnp.zeros((x_tm.shape[1], hidden), x_tm.dtype)
    return lax.scan(cell, (zeros, zeros), x_tm)[1]


def bilstm_reference(params: dict, x: jax.Array, mask: jax.Array) -> jax.Array:
    """Plain reference for ``bilstm`` (same signature and semantics), autodiff only.

    The backward direction explicitly reverses each row's real tokens (Flax sst2 style):
    position t reads token ``len-1-t`` for ``t < len`` and stays put otherwise, the reversed
    rows go through an ordinary forward scan, and the same permutation maps outputs back.
    """
    maskf = mask[..., None].astype(x.dtype)
    lengths = mask.sum(axis=1, keepdims=True)  # [B, 1]
    t = jnp.arange(x.shape[1])[None, :]
    idx = jnp.where(t < lengths, lengths - 1 - t, t)  # [B, T], its own inverse
    x_rev = jnp.take_along_axis(x, idx[..., None], axis=1)

    def run(p, xs):  # [B, T, E] -> [B, T, H]
        return jnp.swapaxes(_reference_scan(p, jnp.swapaxes(xs, 0, 1)), 0, 1)

    fwd = run(params["fwd"], x)
    bwd = jnp.take_along_axis(run(params["bwd"], x_rev), idx[..., None], axis=1)
    return jnp.concatenate([fwd, bwd], axis=-1) * maskf
