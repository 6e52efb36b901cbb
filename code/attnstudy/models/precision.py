"""Matmuls at the config's precision (`model.precision`): float32, or bfloat16 inputs with
float32 accumulation and a float32 result.

bfloat16 runs the dots ~1.8x faster on CPUs with AVX512_BF16. Only the matmul *inputs* are
rounded: results come back in float32, and so do the gradients of both operands (their backward
matmuls also take bfloat16 inputs and accumulate in float32). Plain autodiff would not do that:
it runs the backward dots on a float32 x bfloat16 pair and rounds every operand gradient to
bfloat16 on its way back through the cast. In float32 mode everything here is the plain
`jnp.einsum` / `lax.dot_general`, so results are bit-identical to code that never heard of
precision.

Measured with jaxlib 0.10.2 (optimized HLO of each training step): XLA's CPU backend runs the
LSTM's three matmuls, the dense forward and input-gradient dots and attention's forward dots
natively in bfloat16, but converts the operands of the dense *weight*-gradient dots (which
contract over all batch x time rows) and of two attention backward dots to float32 first: the
same numbers (bfloat16 products are exact in float32), without the speed-up there.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from attnstudy.config import PRECISIONS

F32, BF16 = jnp.float32, jnp.bfloat16

__all__ = ["einsum", "dense_dot", "matmul_dtype"]


def matmul_dtype(precision: str) -> jnp.dtype:
    """The dtype matmul inputs are cast to for `precision` ("float32" or "bfloat16")."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
    return jnp.dtype(precision)


def einsum(spec: str, a: jax.Array, b: jax.Array, precision: str = "float32") -> jax.Array:
    """Two-operand `jnp.einsum` at `precision`; float32 result either way.

    Every index of an operand must appear in the other operand or the output (a contraction,
    batch or free index), which holds for matmuls; that is what the bfloat16 VJP relies on.
    """
    if matmul_dtype(precision) == F32:
        return jnp.einsum(spec, a, b)
    return _einsum_bf16(spec, a, b)


def _dot_bf16(spec: str, a: jax.Array, b: jax.Array) -> jax.Array:
    """`jnp.einsum(spec, a, b)` of bfloat16 operands into float32, with the batch indices (in both
    operands and the output) moved to the front and merged into one, unless there is at most one
    and it leads everywhere already: XLA's multi-threaded CPU runtime (jaxlib 0.10.2) rejects
    some bf16 x bf16 -> f32 dots with other batch layouts, e.g. attention's "bqhd,bhqk->bkhd" or
    "dkg,tdbg->tdbk" ("Unsupported element type for DotThunk::Execute").
    """
    ins, out = spec.split("->")
    sa, sb = ins.split(",")
    batch = [c for c in sa if c in sb and c in out]
    if not batch or (len(batch) == 1 and sa[0] == sb[0] == out[0] == batch[0]):
        return jnp.einsum(spec, a, b, preferred_element_type=F32)
    sizes = dict(zip(sa, a.shape, strict=True)) | dict(zip(sb, b.shape, strict=True))

    def merged(x, s):  # batch indices first, then flattened into one
        rest = [c for c in s if c not in batch]
        x = jnp.transpose(x, [s.index(c) for c in batch + rest])
        return x.reshape(-1, *x.shape[len(batch):]), "".join(rest)

    (a2, ra), (b2, rb) = merged(a, sa), merged(b, sb)
    free = "".join(c for c in out if c not in batch)
    z = next(c for c in "zyxwvutsrqponmlkjihgfedcba" if c not in spec)  # the merged index
    y = jnp.einsum(f"{z}{ra},{z}{rb}->{z}{free}", a2, b2, preferred_element_type=F32)
    y = y.reshape(*(sizes[c] for c in batch), *y.shape[1:])
    return jnp.transpose(y, [(batch + list(free)).index(c) for c in out])


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _einsum_bf16(spec, a, b):
    return _dot_bf16(spec, a.astype(BF16), b.astype(BF16))


def _einsum_bf16_fwd(spec, a, b):
    a16, b16 = a.astype(BF16), b.astype(BF16)
    # The residuals are the bfloat16 copies (half the memory); the zero-size arrays carry the
    # operands' dtypes for the gradients.
    out = _dot_bf16(spec, a16, b16)
    return out, (a16, b16, jnp.zeros((0,), a.dtype), jnp.zeros((0,), b.dtype))


def _einsum_bf16_bwd(spec, res, g):
    a16, b16, a_kind, b_kind = res
    ins, out = spec.split("->")
    sa, sb = ins.split(",")
    g16 = g.astype(BF16)
    da = _dot_bf16(f"{out},{sb}->{sa}", g16, b16)
    db = _dot_bf16(f"{sa},{out}->{sb}", a16, g16)
    return da.astype(a_kind.dtype), db.astype(b_kind.dtype)


_einsum_bf16.defvjp(_einsum_bf16_fwd, _einsum_bf16_bwd)


def dense_dot(precision: str):
    """`dot_general` for `flax.linen.Dense(dot_general=...)`: None (Flax's own `lax.dot_general`)
    in float32 mode, else a bfloat16 matmul of inputs <f32>[..., k] and kernel [k, n] with a
    float32 result, to which Dense adds its float32 bias.

    (Flax's `Dense(dtype=bfloat16)` would instead round the bias and the output to bfloat16.)
    """
    return None if matmul_dtype(precision) == F32 else _dense_dot_bf16


def _dense_dot_bf16(x, kernel, dimension_numbers, precision=None, preferred_element_type=None):
    if dimension_numbers != (((x.ndim - 1,), (0,)), ((), ())) or precision is not None:
        raise NotImplementedError("dense_dot does Dense's contraction only")
    y = _einsum_bf16("nk,kg->ng", x.reshape(-1, x.shape[-1]), kernel)
    return y.reshape(*x.shape[:-1], kernel.shape[-1])

