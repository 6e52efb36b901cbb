"""The benchmark's console tables: step times side by side for the two settings (one core
first), then per-stage times and the kernels alone. Reads the rows `bench.measure` returns."""

from __future__ import annotations

PREC = {"float32": "f32", "bfloat16": "bf16"}
STAGE_TOLERANCE = 0.10  # a step slower than its stages' sum by more than this is flagged


def step_over_stages(row: dict) -> float:
    """JAX step time / the sum of its stages (forward + backward + update, each timed alone).

    About 1.0 when the step runs as fast as its parts; well above it when the step pays for
    something its parts do not (the mhsa anomaly of issue #25: fresh pages for XLA's per-call
    buffers, see `attnstudy.heap`).
    """
    st = row["stages"]["jax"]
    return row["jax_ms"] / (st["forward_ms"] + st["backward_ms"] + st["update_ms"])


def slow_steps(rows: list[dict], tolerance: float = STAGE_TOLERANCE) -> list[str]:
    """The regression check: "model precision: ratio" for every row whose step is more than
    `tolerance` slower than the sum of its stages."""
    return [f"{r['model']} {r['precision']}: step {r['step_over_stages']:.2f}x its stages"
            for r in rows if r.get("step_over_stages", 1.0) > 1.0 + tolerance]


def _rows(setting: dict) -> dict:
    return {(r["model"], r["precision"]): r for r in setting["models"]}


def print_tables(settings: list[dict], seq: int) -> None:
    """Print every table for `settings` (as returned by `bench.measure`, one core first)."""
    rows = [_rows(s) for s in settings]
    models = list(dict.fromkeys(m for m, _ in rows[0]))
    precs = list(dict.fromkeys(p for _, p in rows[0]))
    head = "".join(f"{s['setting'] + ' (' + str(s['torch_threads']) + ' thr)':>27}"
                   for s in settings)
    print(f"\nms / training step (median), batch 64, T={seq}; ratio = PyTorch ms / JAX ms")
    print(f"{'':<22}{head}")
    print(f"{'model':<16}{'prec':<6}" + f"{'JAX':>9}{'PyTorch':>9}{'ratio':>9}" * len(settings))
    for m in models:
        for p in precs:
            print(f"{m:<16}{PREC[p]:<6}" + "".join(
                f"{r[m, p]['jax_ms']:>9.1f}{r[m, p]['torch_ms']:>9.1f}"
                f"{r[m, p]['speed_ratio']:>9.2f}" for r in rows))
        if len(precs) == 2:  # what bfloat16 buys: float32 ms / bfloat16 ms, per framework
            print(f"{'':<16}{'gain':<6}" + "".join(
                f"{r[m, precs[0]]['jax_ms'] / r[m, precs[1]]['jax_ms']:>8.2f}x"
                f"{r[m, precs[0]]['torch_ms'] / r[m, precs[1]]['torch_ms']:>8.2f}x{'':>9}"
                for r in rows))
    print("gain = float32 ms / bfloat16 ms; " + "; ".join(
        f"{s['setting']}: SGEMM peak {s['sgemm_peak_gflops']:.0f} GFLOP/s, cores {s['cores']}, "
        f"XLA_FLAGS={s['xla_flags'] or '(default)'}" for s in settings))
    for s, r in zip(settings, rows, strict=True):
        print(f"\n{s['setting']}: where the step's time goes (ms){'JAX':>20}{'PyTorch':>27}")
        print(f"{'model':<16}{'prec':<6}" + "{:>9}{:>9}{:>9}  ".format(
            "forward", "backward", "update") * 2)
        for m in models:
            for p in precs:
                st = r[m, p]["stages"]
                print(f"{m:<16}{PREC[p]:<6}" + "".join(
                    f"{x['forward_ms']:>9.1f}{x['backward_ms']:>9.1f}{x['update_ms']:>9.1f}  "
                    for x in (st["jax"], st["torch"])))
    for s in settings:  # the regression check of issue #25 (bench.slow_steps)
        slow = slow_steps(s["models"])
        print(f"\n{s['setting']}: JAX step vs the sum of its stages: "
              + ("; ".join(f"{r['model']} {PREC[r['precision']]} {r['step_over_stages']:.2f}x"
                           for r in s["models"] if "step_over_stages" in r)))
        print(f"  {'SLOW (over ' + format(STAGE_TOLERANCE, '.0%') + '): ' + '; '.join(slow)}"
              if slow else f"  every step within {STAGE_TOLERANCE:.0%} of its stages")
    libs = ("jax", "jax_bf16", "torch", "torch_bf16", "numpy")
    for s in settings:
        print(f"\n{s['setting']}: kernels alone (ms, median)".ljust(46)
              + "".join(f"{lib.replace('_bf16', ' bf16'):>11}" for lib in libs))
        for k in s["kernels"]:
            print(f"{k['kernel']:<45}" + "".join(f"{k[lib + '_ms']:>11.2f}" for lib in libs))
