"""Training-step benchmark: ``bilstm`` vs ``bilstm_reference`` vs ``torch.nn.LSTM``.

Run ``python -m attnstudy.bench.lstm_bench [batch seq embed hidden repeats]``. Each step is
forward + backward + an SGD update of the LSTM parameters and of the input (standing in for a
trainable embedding, so ``dx`` is computed by every contender). All rows are full length (the
common case for IMDb truncated at ``seq``), so torch runs unpacked. XLA flags, if any, must be
set in ``XLA_FLAGS`` before this module is imported.

Environment note (measured on our 2-core VMs): page faults on fresh large buffers are very
expensive there (~1 ms per MB), and every contender allocates hundreds of MB per step.
``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` (transparent huge pages for malloc'd memory; THP is
in ``madvise`` mode) cut the system time of a step by ~5x for JAX and torch alike; set it in the
environment of the process, before it starts. The machines are shared, so look at ``min`` too.
"""

from __future__ import annotations

import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from attnstudy.models.lstm import bilstm, bilstm_reference, init_lstm_params

LR = 1e-3


def _jax_step(fn):
    def loss(params, x, mask, w):
        return jnp.sum(fn(params, x, mask) * w)

    @jax.jit
    def step(params, x, mask, w):
        l, (gp, gx) = jax.value_and_grad(loss, argnums=(0, 1))(params, x, mask, w)
        params = jax.tree.map(lambda a, g: a - LR * g, params, gp)
        return params, x - LR * gx, l

    return step


def benchmark_lstm(batch=64, seq=256, embed=128, hidden=128, repeats=10) -> dict:
    """Median ms per training step for each implementation, after two warm-up steps each.

    Runs are interleaved (one step of each contender per round) so machine noise hits all
    alike. Returns ``{'bilstm': ms, 'bilstm_reference': ms, 'torch': ms}`` of medians (no 'torch'
    key if torch is not installed) plus the same keys suffixed ``_min``, and prints a table.
    """
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((batch, seq, embed), dtype=np.float32)
    w0 = rng.standard_normal((batch, seq, 2 * hidden), dtype=np.float32)
    params0 = init_lstm_params(jax.random.PRNGKey(0), embed, hidden)
    mask = jnp.ones((batch, seq), bool)
    w = jnp.asarray(w0)

    runners = {}
    for name, fn in (("bilstm", bilstm), ("bilstm_reference", bilstm_reference)):
        step = _jax_step(fn)
        state = {"p": params0, "x": jnp.asarray(x0)}

        def run(step=step, state=state):
            state["p"], state["x"], l = step(state["p"], state["x"], mask, w)
            l.block_until_ready()

        runners[name] = run

    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        lstm = torch.nn.LSTM(embed, hidden, batch_first=True, bidirectional=True)
        xt = torch.tensor(x0, requires_grad=True)
        wt = torch.tensor(w0)
        opt = torch.optim.SGD(list(lstm.parameters()) + [xt], lr=LR)

        def run_torch():
            opt.zero_grad(set_to_none=True)
            out, _ = lstm(xt)
            (out * wt).sum().backward()
            opt.step()

        runners["torch"] = run_torch

    times = {k: [] for k in runners}
    for run in runners.values():  # warm-up: compile / allocate
        run()
        run()
    for _ in range(repeats):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run()
            times[name].append(1e3 * (time.perf_counter() - t0))
    result = {k: statistics.median(v) for k, v in times.items()}
    result.update({k + "_min": min(v) for k, v in times.items()})

    print(f"B={batch} T={seq} E={embed} H={hidden}, {repeats} runs (ms / training step)")
    print(f"  {'':18s} {'median':>8s} {'min':>8s}")
    base = result.get("torch")
    for name in times:
        ms = result[name]
        rel = f"  torch/this = {base / ms:.2f}x" if base else ""
        print(f"  {name:18s} {ms:8.1f} {result[name + '_min']:8.1f}{rel}")
    return result


if __name__ == "__main__":
    benchmark_lstm(*(int(a) for a in sys.argv[1:]))
