"""`python -m attnstudy bench`: the JAX training step against its PyTorch twin, model by model,
at float32 and at bfloat16 matmul precision (`model.precision`), in two machine settings.

Settings, each measured in a fresh process (XLA reads its thread flags once, at start):
  one core     pinned to one core, single-threaded XLA (`keys.SINGLE_THREAD_XLA`), one torch and
               BLAS thread: how the build trains (one such process per core), reported first;
  two threads  every usable core, XLA's and torch's default threading.
Same shapes (batch 64, T = the config's max length, the config's dimensions); per model the four
contenders (JAX and PyTorch at each precision) are timed interleaved after warm-up. Reports
median ms/step, tokens/s, the JAX/PyTorch speed ratio (PyTorch time / JAX time: > 1 means JAX
is faster), achieved GFLOP/s (the step's matmul FLOPs, counted by `step_flops`) against a numpy
SGEMM peak measured in the same process, evaluation reviews/s, the jit compile time, a
per-stage split and the dominant matmuls alone. Writes `build/results/bench.json` (top-level
`models`/`kernels`: one core at the config's `model.precision`, what the build runs; every
setting and precision under `settings`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import platform
import statistics
import time

import numpy as np

from attnstudy.bench.tables import step_over_stages
from attnstudy.config import BUILD, PRECISIONS, Config
from attnstudy.keys import SINGLE_THREAD_XLA

BATCH = 64


def sgemm_peak_gflops(n: int = 1024, repeats: int = 5) -> float:
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def step_flops(cfg: Config, name: str, batch: int, seq: int) -> float:
    """Matmul FLOPs of one training step (forward x 3 for forward + backward), counted by hand:
    XLA's cost analysis counts a `lax.scan` body once, not once per time step."""
    m, n = cfg.model, batch * seq
    e, h, d = m.embed_dim, m.hidden, 2 * m.hidden

    def attention(width: int) -> float:  # QKV + output projections, scores and weighted sum
        return 4 * n * width * width * 2 + 2 * batch * seq * seq * width * 2

    lstm = 2 * n * (e + h) * 4 * h * 2
    fwd = {"bilstm": lstm + batch * d * 2,
           "bilstm_matched": lstm + batch * d * 2 * _extra(cfg),
           "additive": lstm + n * d * m.attention_dim * 2 + n * m.attention_dim * 2,
           "mhsa": lstm + attention(d),
           "transformer": m.transformer_layers * (attention(e) + 2 * n * e * m.transformer_ff * 2),
           "bilstm_mean": lstm + batch * d * 2,  # the mean-pool is a reduction, not a matmul
           # the non-contextual arm: no recurrence, the pool reads the embeddings (width e)
           "embed_additive": n * e * m.attention_dim * 2 + n * m.attention_dim * 2 + batch * e * 2,
           "embed_mean": batch * e * 2,
           }[name]
    return 3.0 * fwd


def _extra(cfg: Config) -> int:
    from attnstudy.models.classifiers import matched_width

    return matched_width(cfg.data.vocab_size, cfg.model, cfg.data.max_len)


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _at(cfg: Config, precision: str) -> Config:
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, precision=precision))


def _jax_side(cfg: Config, name: str, ids: np.ndarray, labels: np.ndarray) -> dict:
    import jax
    import jax.numpy as jnp
    import optax

    from attnstudy.models.classifiers import init_params
    from attnstudy.models.inference import compiled_predict
    from attnstudy.training.loop import compiled_steps

    model, tx, step = compiled_steps(name, cfg.model, cfg.train, cfg.data.vocab_size,
                                     cfg.data.max_len)
    predict = compiled_predict(name, cfg.model, cfg.data.vocab_size, cfg.data.max_len)[1]
    params = init_params(model, 0, cfg.data.max_len)
    state = {"params": params, "opt": tx.init(params)}
    mask = ids != 0
    key = jax.random.key(0)
    t = time.perf_counter()
    compiled = step.lower(params, state["opt"], ids, mask, labels, key).compile()
    compile_s = time.perf_counter() - t

    def run():
        state["params"], state["opt"], loss = compiled(state["params"], state["opt"], ids, mask,
                                                       labels, key)
        jnp.asarray(loss).block_until_ready()

    eval_ids = np.repeat(ids, max(1, cfg.train.eval_batch_size // BATCH), axis=0)

    def evaluate():
        predict(state["params"], eval_ids, eval_ids != 0).block_until_ready()

    def loss_fn(p):
        logits = model.apply({"params": p}, ids, mask, train=True, rngs={"dropout": key})
        return optax.sigmoid_binary_cross_entropy(logits, labels).mean()

    forward, grad = jax.jit(loss_fn), jax.jit(jax.value_and_grad(loss_fn))

    @jax.jit
    def update(params, opt_state, grads):  # clipping + AdamW, as in the training step
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    grads = grad(state["params"])[1]
    stages = {"forward": lambda: forward(state["params"]).block_until_ready(),
              "forward_backward": lambda: jax.block_until_ready(grad(state["params"])),
              "update": lambda: jax.block_until_ready(update(state["params"], state["opt"],
                                                              grads))}
    return {"run": run, "eval": evaluate, "n_eval": len(eval_ids), "stages": stages,
            "compile_s": compile_s}


def _torch_side(cfg: Config, name: str, ids: np.ndarray, labels: np.ndarray) -> dict:
    import torch

    from attnstudy.models import classifiers as models
    from attnstudy.models import twins as torch_models

    extra = models.matched_width(cfg.data.vocab_size, cfg.model, cfg.data.max_len)
    net = torch_models.build_torch_model(name, cfg.model, cfg.data.vocab_size, cfg.data.max_len,
                                         extra=extra if name == "bilstm_matched" else None)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.train.learning_rate,
                            weight_decay=cfg.train.weight_decay)
    x, y = torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(labels)
    mask = x != 0
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def run():
        net.train()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x, mask), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.train.clip_norm)
        opt.step()

    eval_x = x.repeat(max(1, cfg.train.eval_batch_size // BATCH), 1)

    def evaluate():
        net.eval()
        with torch.no_grad():
            net(eval_x, eval_x != 0)

    def forward():
        net.train()
        return loss_fn(net(x, mask), y)

    def forward_backward():
        opt.zero_grad(set_to_none=True)
        forward().backward()

    def update():  # clipping + AdamW on the gradients left by the last backward pass
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.train.clip_norm)
        opt.step()

    stages = {"forward": forward, "forward_backward": forward_backward, "update": update}
    return {"run": run, "eval": evaluate, "n_eval": len(eval_x), "stages": stages}


def kernel_profile(cfg: Config, seq: int, repeats: int) -> list[dict]:
    """The matmuls that dominate the steps, timed alone in XLA and PyTorch (float32 and bfloat16
    inputs) and numpy (BLAS, float32).

    Shows what bounds the JAX step: whether XLA's CPU dot is slower than BLAS on the shapes the
    models use (small per-time-step matmuls, batched attention matmuls) or only on large ones,
    and what bfloat16 inputs buy on each.
    """
    m = cfg.model
    e, h, d, heads = m.embed_dim, m.hidden, 2 * m.hidden, m.heads
    n = BATCH * seq
    shapes = {  # name: (einsum, a shape, b shape)
        "LSTM time step, both directions": ("dbk,dkg->dbg", (2, BATCH, e + h), (2, e + h, 4 * h)),
        # in the layout the backward pass has it ([T, 2, B, *], lstm._layer_bwd): XLA's time for
        # this contraction depends on it (Intel Xeon, bf16: 76 ms here, 135 ms as [2, T*B, *])
        "LSTM weight gradient, all T·B rows": ("tdbk,tdbg->dkg", (seq, 2, BATCH, e + h),
                                               (seq, 2, BATCH, 4 * h)),
        "dense projection (mhsa QKV/out)": ("nk,kg->ng", (n, d), (d, d)),
        "attention scores, per head": ("bqd,bkd->bqk", (BATCH * heads, seq, d // heads),
                                       (BATCH * heads, seq, d // heads)),
    }
    rng = np.random.default_rng(0)
    rows = []
    for name, (spec, sa, sb) in shapes.items():
        a, b = (rng.standard_normal(x, dtype=np.float32) for x in (sa, sb))
        calls = _kernel_calls(spec, a, b)
        for fn in calls.values():
            fn()
        k = max(5, repeats)
        times = {lib: statistics.median(_timed(fn) for _ in range(k)) for lib, fn in calls.items()}
        flops = _flops(spec, sa, sb)
        rows.append({"kernel": name, "shape": f"{sa} x {sb}",
                     **{f"{lib}_ms": 1e3 * t for lib, t in times.items()},
                     **{f"{lib}_gflops": flops / t / 1e9 for lib, t in times.items()}})
    return rows


def _kernel_calls(spec: str, a: np.ndarray, b: np.ndarray) -> dict:
    import jax
    import jax.numpy as jnp
    import torch

    ja, jb, ta, tb = jnp.asarray(a), jnp.asarray(b), torch.from_numpy(a), torch.from_numpy(b)
    ja16, jb16, ta16, tb16 = ja.astype(jnp.bfloat16), jb.astype(jnp.bfloat16), ta.bfloat16(), \
        tb.bfloat16()
    fj = jax.jit(lambda x, y: jnp.einsum(spec, x, y, preferred_element_type=jnp.float32))
    return {"jax": lambda: fj(ja, jb).block_until_ready(),
            "jax_bf16": lambda: fj(ja16, jb16).block_until_ready(),
            "torch": lambda: torch.einsum(spec, ta, tb),
            "torch_bf16": lambda: torch.einsum(spec, ta16, tb16),
            "numpy": lambda: np.einsum(spec, a, b, optimize=True)}


def _flops(spec: str, sa: tuple, sb: tuple) -> float:
    """2 x the product of all distinct index sizes of a two-operand einsum."""
    ins = spec.split("->")[0].split(",")
    sizes = dict(zip(ins[0], sa, strict=True)) | dict(zip(ins[1], sb, strict=True))
    return 2.0 * float(np.prod(list(sizes.values())))


def stage_profile(stages: dict, repeats: int) -> dict:
    """Where a step's time goes: median ms of the forward pass, the backward pass (forward +
    backward minus forward) and the optimizer update (timed alone)."""
    ms = {}
    for name, fn in stages.items():
        fn()  # warm-up (and the jit compile of the stage functions)
        ms[name] = 1e3 * statistics.median(_timed(fn) for _ in range(max(5, repeats // 2)))
    return {"forward_ms": ms["forward"],
            "backward_ms": max(ms["forward_backward"] - ms["forward"], 0.0),
            "update_ms": ms["update"]}


def interleaved(calls: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each contender, taken in turns (so drift hits all alike). After a
    switch, one untimed call first: the other framework's step leaves the heap holding other
    buffers, and the first step after it pays for fresh pages (measured: a JAX transformer step
    right after a PyTorch one took 1,145 ms, the next 785 ms; PyTorch was not affected)."""
    times = {k: [] for k in calls}
    for _ in range(repeats):
        for k, fn in calls.items():
            fn()
            times[k].append(_timed(fn))
    return times


def bench_model(cfg: Config, name: str, repeats: int) -> list[dict]:
    """One row per precision: JAX and PyTorch at float32 and bfloat16, timed interleaved (so
    drift hits all four alike)."""
    t = cfg.data.max_len
    rng = np.random.default_rng(0)
    ids = rng.integers(2, cfg.data.vocab_size, (BATCH, t)).astype(np.int32)
    labels = rng.integers(0, 2, BATCH).astype(np.float32)
    sides = {(p, fw): side(_at(cfg, p), name, ids, labels) for p in PRECISIONS
             for fw, side in (("jax", _jax_side), ("torch", _torch_side))}
    for s in sides.values():  # warm-up
        for fn in (s["run"], s["run"], s["eval"]):
            fn()
    steps = interleaved({k: s["run"] for k, s in sides.items()}, repeats)
    evals = interleaved({k: s["eval"] for k, s in sides.items()}, max(2, repeats // 3))
    flops = step_flops(cfg, name, *ids.shape)
    rows = []
    for p in PRECISIONS:
        jm, tm = (statistics.median(steps[p, fw]) for fw in ("jax", "torch"))
        rows.append({
            "model": name, "precision": p, "jax_ms": 1e3 * jm, "torch_ms": 1e3 * tm,
            "speed_ratio": tm / jm, "jax_tokens_per_s": BATCH * t / jm,
            "torch_tokens_per_s": BATCH * t / tm, "step_gflop": flops / 1e9,
            "jax_gflops": flops / jm / 1e9, "torch_gflops": flops / tm / 1e9,
            "jax_eval_reviews_per_s": sides[p, "jax"]["n_eval"] / statistics.median(
                evals[p, "jax"]),
            "torch_eval_reviews_per_s": sides[p, "torch"]["n_eval"] / statistics.median(
                evals[p, "torch"]),
            "jit_compile_s": sides[p, "jax"]["compile_s"], "repeats": repeats,
            "stages": {fw: stage_profile(sides[p, fw]["stages"], repeats)
                       for fw in ("jax", "torch")}})
        rows[-1]["step_over_stages"] = step_over_stages(rows[-1])
    return rows


# Environment of each setting's process (read at its start) and its cores: None = all usable.
SETTINGS = {
    "one core": ({"XLA_FLAGS": SINGLE_THREAD_XLA, "OMP_NUM_THREADS": "1",
                  "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}, 1),
    "two threads": ({"XLA_FLAGS": None, "OMP_NUM_THREADS": None, "OPENBLAS_NUM_THREADS": None,
                     "MKL_NUM_THREADS": None}, None),
}


@contextlib.contextmanager
def _environment(values: dict):
    """Set (or, for None, unset) environment variables for processes started inside."""
    def put(items):
        for k, v in items:
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    old = [(k, os.environ.get(k)) for k in values]
    try:
        put(values.items())
        yield
    finally:
        put(old)


def measure(cfg: Config, models: list[str], repeats: int, setting: str) -> dict:
    """Every model at both precisions, plus SGEMM peak and kernels, in this process pinned to
    the setting's cores (run in a fresh process started under `SETTINGS[setting]`' environment).
    """
    import torch

    from attnstudy.cores import usable_cores
    from attnstudy.heap import reuse_freed_memory

    heap_reuse = reuse_freed_memory()  # as every training process does (one_core_per_process)
    cores = usable_cores()[: SETTINGS[setting][1]]
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    torch.set_num_threads(len(cores))
    peak = sgemm_peak_gflops()
    rows = [row for name in models for row in bench_model(cfg, name, repeats)]
    return {"setting": setting, "cores": cores, "torch_threads": torch.get_num_threads(),
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "heap_reuse": heap_reuse,
            "sgemm_peak_gflops": peak,
            "models": rows, "kernels": kernel_profile(cfg, cfg.data.max_len, repeats)}


def main(cfg: Config, quick: bool = False, models: list[str] | None = None) -> dict:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from attnstudy.bench.tables import print_tables
    from attnstudy.files import write_json
    from attnstudy.provenance import cpu_name

    try:
        import torch  # noqa: F401
    except ImportError:
        from attnstudy.errors import UserError

        raise UserError("the benchmark needs PyTorch: run `just bench` (installs the dev extra) "
                        "or pip install -e '.[dev]'") from None
    if quick:  # short sequences and few repeats: a sanity run, not a measurement
        d = dataclasses.replace(cfg.data, max_len=64, bucket_edges=(64,))
        cfg = dataclasses.replace(cfg, data=d)
    repeats = 3 if quick else 15
    models = list(models or cfg.train.models)
    settings = []
    for setting, (env, _) in SETTINGS.items():  # one fresh process each, one after the other
        with _environment(env), ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
            settings.append(ex.submit(measure, cfg, models, repeats, setting).result())
    print_tables(settings, cfg.data.max_len)
    first, precision = settings[0], cfg.model.precision  # one core: what the build runs
    out = {"schema_version": 1, "quick": quick, "batch": BATCH, "seq_len": cfg.data.max_len,
           "model_config": dataclasses.asdict(cfg.model), "setting": first["setting"],
           "precision": precision, "sgemm_peak_gflops": first["sgemm_peak_gflops"],
           "torch_threads": first["torch_threads"], "cores": os.cpu_count(),
           "machine": platform.processor() or platform.machine(), "cpu": cpu_name(),
           "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
           "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
           "models": [r for r in first["models"] if r["precision"] == precision],
           "kernels": first["kernels"], "settings": settings}
    # the quick run is a sanity check, not a measurement: it stays out of the published results
    write_json(BUILD / ("cache/bench-quick.json" if quick else "results/bench.json"), out)
    return out
