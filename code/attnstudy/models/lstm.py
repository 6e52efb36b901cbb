"""A fast, length-aware bidirectional LSTM for JAX on CPU.

Semantics match ``torch.nn.LSTM(bidirectional=True, batch_first=True)`` run on packed
sequences: the forward direction reads tokens ``0..len-1`` from a zero state, the backward
direction reads each row's *real* tokens from ``len-1`` down to ``0`` from a zero state, and
outputs at padded positions are zero, so real outputs never depend on padding.

What made it faster on our 2-core CPUs (measured in ``lstm_bench.py``; see the final report):

* one ``tanh`` for all four gates: ``sigmoid(z) = 0.5 + 0.5 * tanh(z / 2)``, the ``1/2`` folded
  into the weights once per call (XLA's CPU sigmoid is slow);
* both directions run in ONE scan as a batch of two (the backward direction reads a time-reversed
  copy of ``x``): every per-step matmul is a batched ``[2, B, E+H] x [2, E+H, 4H]`` dot that
  XLA splits across the two cores, which a scan per direction never does;
* the input projection stays inside the step, fused with ``h W_h`` as ``[x_t, h] @ [W_i; W_h]``:
  hoisting it out materialises a ``[T, B, 4H]`` buffer, and fresh large buffers are expensive here;
* a ``jax.custom_vjp``: the forward saves the gate activations; the backward is a reverse scan
  whose single per-step matmul yields both ``dh`` and ``dx``, and ``dW`` is one large matmul
  over all ``T*B`` rows instead of ``T`` small ones;
* ``precision="bfloat16"`` (``model.precision``): all three matmuls (the step's gates, the
  backward step's ``dh``/``dx`` and the large ``dW``) take bfloat16 inputs and accumulate in
  float32; the gates, the cell state and every gradient stay float32.

Length awareness is free: padding sits at the end of each row, so in the time-reversed copy it
comes *first*, and multiplying the cell state by the mask (zero at padding) makes the scan reach
each row's last real token with exactly the zero state torch starts from. The same mask makes
the forward direction's padded outputs zero (``c = 0`` gives ``h = o * tanh(0) = 0``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from attnstudy.models import precision as prec

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


def _forward_scan(x2, w, b, m2, dtype):
    """The recurrence for both directions at once.

    x2 <dtype>[T, 2, B, E]: inputs in scan order (direction 1 time-reversed);
    w <dtype>[2, E+H, 4H] and b <float32>[2, 1, 4H]: gate-scaled [W_i; W_h] and bias;
    m2 <float32>[T, 2, B, 1]: 1.0 at real tokens; dtype: the matmul input dtype.
    Returns hs <float32>[T, 2, B, H] and residuals (a = tanh(z) [T, 2, B, 4H], c_prev [T, 2, B, H]).
    """
    _, d, bsz, _ = x2.shape
    zeros = jnp.zeros((d, bsz, w.shape[-1] // 4), jnp.float32)

    def step(carry, inp):
        h, c = carry
        x_t, m_t = inp
        xh = jnp.concatenate([x_t, h.astype(dtype)], axis=-1)
        z = jnp.einsum("dbk,dkg->dbg", xh, w, preferred_element_type=jnp.float32)
        a = jnp.tanh(z + b)
        i, f, g, o = _gates(a)
        # Zero state at padding: h = o * tanh(0) = 0 there, and the reversed direction starts
        # each row's real tokens from zero.
        c_new = (f * c + i * g) * m_t
        h = o * jnp.tanh(c_new)
        return (h, c_new), (h, a, c)

    _, (hs, a, c_prev) = lax.scan(step, (zeros, zeros), (x2, m2))
    return hs, (a, c_prev)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _layer(x2, w, b, m2, dtype):
    """hs <float32>[T, 2, B, H]; shapes as in ``_forward_scan``, x2 and w in float32 (cast to
    ``dtype`` inside, so that their gradients stay float32)."""
    return _forward_scan(x2.astype(dtype), w.astype(dtype), b, m2, dtype)[0]


def _layer_fwd(x2, w, b, m2, dtype):
    x2, w = x2.astype(dtype), w.astype(dtype)
    hs, res = _forward_scan(x2, w, b, m2, dtype)
    return hs, (x2, w, m2, hs) + res


def _layer_bwd(dtype, res, dhs):
    x2, w, m2, hs, a, c_prev = res  # x2 and w in dtype
    e = x2.shape[-1]
    scale = _gate_scale(w.shape[-1] // 4)

    def step(carry, inp):
        dh_next, dc_next = carry
        dy, a_t, c_prev_t, m_t = inp
        i, f, g, o = _gates(a_t)
        tc = jnp.tanh((f * c_prev_t + i * g) * m_t)  # recomputed: cheaper than storing it
        dh = dy + dh_next
        # c = m * c_candidate: the mask stops the state gradient at padding.
        dc = (dc_next + dh * o * (1.0 - tc * tc)) * m_t
        dgate = jnp.concatenate([dc * g, dc * c_prev_t, dc * i, dh * tc], axis=-1)
        dz = dgate * (1.0 - a_t * a_t) * scale  # through a = tanh(scale * z)
        # one matmul gives dx_t and dh_{t-1}
        dxh = jnp.einsum("dbg,dkg->dbk", dz.astype(dtype), w, preferred_element_type=jnp.float32)
        return (dxh[..., e:], dc * f), (dz, dxh[..., :e])

    zeros = jnp.zeros_like(hs[0])
    _, (dz, dx) = lax.scan(step, (zeros, zeros), (dhs, a, c_prev, m2), reverse=True)
    h_prev = jnp.concatenate([jnp.zeros_like(hs[:1]), hs[:-1]])
    # dW for [W_i; W_h] of both directions as one large matmul over all T*B rows.
    xh = jnp.concatenate([x2, h_prev.astype(dtype)], axis=-1)
    dw = jnp.einsum("tdbk,tdbg->dkg", xh, dz.astype(dtype), preferred_element_type=jnp.float32)
    return dx, dw, dz.sum((0, 2))[:, None], jnp.zeros_like(m2)


_layer.defvjp(_layer_fwd, _layer_bwd)


def bilstm(params: dict, x: jax.Array, mask: jax.Array, precision: str = "float32"
           ) -> jax.Array:
    """Bidirectional LSTM over right-padded sequences.

    Args:
      params: from ``init_lstm_params``.
      x: <float32>[B, T, E] inputs.
      mask: <bool>[B, T], True at real tokens; real tokens come first in every row.
      precision: matmul inputs "float32" or "bfloat16" (float32 accumulation).

    Returns:
      <float32>[B, T, 2H]: concat(forward h, backward h), zero at padded positions.
    Differentiable w.r.t. ``params`` and ``x``; jit-able; deterministic.
    """
    scale = _gate_scale(params["fwd"]["w_h"].shape[0])
    x_tm = jnp.swapaxes(x, 0, 1)  # [T, B, E]: the scan walks the leading axis
    m = jnp.swapaxes(mask, 0, 1)[..., None].astype(x.dtype)  # [T, B, 1]
    x2 = jnp.stack([x_tm, x_tm[::-1]], axis=1)  # [T, 2, B, E]
    m2 = jnp.stack([m, m[::-1]], axis=1)
    dirs = [params["fwd"], params["bwd"]]
    w = jnp.stack([jnp.concatenate([p["w_i"], p["w_h"]]) for p in dirs]) * scale
    b = jnp.stack([p["b"] for p in dirs])[:, None] * scale
    hs = _layer(x2, w, b, m2, prec.matmul_dtype(precision))  # [T, 2, B, H], dir 1 reversed
    return jnp.swapaxes(jnp.concatenate([hs[:, 0], hs[::-1, 1]], axis=-1), 0, 1)


def _reference_scan(p: dict, x_tm: jax.Array, precision: str) -> jax.Array:
    """Textbook LSTM over <float32>[T, B, E] from a zero state -> <float32>[T, B, H]."""
    hidden = p["w_h"].shape[0]

    def cell(carry, x_t):
        h, c = carry
        if precision == "float32":
            z = x_t @ p["w_i"] + h @ p["w_h"] + p["b"]
        else:  # the classifiers' matmul helper, with its own bfloat16 VJP
            z = (prec.einsum("bk,kg->bg", x_t, p["w_i"], precision)
                 + prec.einsum("bk,kg->bg", h, p["w_h"], precision) + p["b"])
        zi, zf, zg, zo = jnp.split(z, 4, axis=-1)
        c = jax.nn.sigmoid(zf) * c + jax.nn.sigmoid(zi) * jnp.tanh(zg)
        h = jax.nn.sigmoid(zo) * jnp.tanh(c)
        return (h, c), h

    zeros = jnp.zeros((x_tm.shape[1], hidden), x_tm.dtype)
    return lax.scan(cell, (zeros, zeros), x_tm)[1]


def bilstm_reference(params: dict, x: jax.Array, mask: jax.Array, precision: str = "float32"
                     ) -> jax.Array:
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
        return jnp.swapaxes(_reference_scan(p, jnp.swapaxes(xs, 0, 1), precision), 0, 1)

    fwd = run(params["fwd"], x)
    bwd = jnp.take_along_axis(run(params["bwd"], x_rev), idx[..., None], axis=1)
    return jnp.concatenate([fwd, bwd], axis=-1) * maskf
