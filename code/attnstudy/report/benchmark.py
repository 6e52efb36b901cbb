"""Appendix B's numbers, from bench.json (optional; written by `python -m attnstudy bench`).

    bench_table(bench)    -> the main table: the top-level rows (one setting, one precision)
    settings_grid(bench)  -> the JAX/PyTorch speed ratio per model x setting x precision, from
                             `settings` (None for a bench.json written before it had settings)

Both accept every bench.json written so far: older ones lack stages, kernels, precision or
settings, and the appendix leaves out what they lack.
"""

from __future__ import annotations

from attnstudy.config import PRECISIONS
from attnstudy.keys import SINGLE_THREAD_XLA
from attnstudy.report.style import order

BENCH_COLS = {"jax_ms": "JAX ms / step", "torch_ms": "PyTorch ms / step",
              "speed_ratio": "PyTorch ÷ JAX time",
              "jax_tokens_per_s": "JAX positions/s",
              "jax_gflops": "JAX GFLOP/s", "peak_share": "share of float32 SGEMM peak",
              "jax_eval_reviews_per_s": "eval reviews/s", "jit_compile_s": "JIT compile (s)"}


def _num(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def bench_table(bench: dict | None) -> dict | None:
    """bench.json's per-model rows (a list with "model", or a dict by model) as a table."""
    if not bench:
        return None
    rows = bench.get("models")
    rows = [{"model": m, **v} for m, v in rows.items()] if isinstance(rows, dict) else rows
    rows = [dict(r) for r in rows or [] if isinstance(r, dict) and "model" in r]
    if not rows:
        return None
    peak = bench.get("sgemm_peak_gflops")
    for r in rows:
        if _num(peak) and peak > 0 and "jax_gflops" in r:
            r["peak_share"] = r["jax_gflops"] / peak
    keys = {k for r in rows for k in r}
    shape = (f" ({bench['batch']} × {bench['seq_len']} per step)"
             if {"batch", "seq_len"} <= set(bench) else "")
    cols = [(k, v + shape if k == "jax_tokens_per_s" else v)
            for k, v in BENCH_COLS.items() if k in keys] or [
        (k, k.replace("_", " ")) for k in dict.fromkeys(k for r in rows for k in r) if k != "model"]
    rank = {m: i for i, m in enumerate(order(r["model"] for r in rows))}
    skip = ("models", "schema_version", "config_hash", "quick")
    info = [(k, v) for k, v in bench.items() if k not in skip and not isinstance(v, dict | list)]
    rows = sorted(rows, key=lambda r: rank[r["model"]])
    stages = [(r["model"], r["stages"]["jax"], r["stages"]["torch"]) for r in rows
              if isinstance(r.get("stages"), dict) and {"jax", "torch"} <= set(r["stages"])]
    kernels = kernel_rows(bench.get("kernels"))
    ratios = [r["speed_ratio"] for r in rows if _num(r.get("speed_ratio"))]
    summary = {"ratio_min": min(ratios), "ratio_max": max(ratios)} if ratios else {}
    if stages:
        summary["forward_faster"] = sum(j["forward_ms"] < t["forward_ms"] for _, j, t in stages)
        back = [t["backward_ms"] / j["backward_ms"] for _, j, t in stages if j["backward_ms"] > 0]
        summary.update(n_stages=len(stages), back_min=min(back, default=None),
                       back_max=max(back, default=None))
    return {"cols": cols, "rows": rows, "info": info, "stages": stages, "kernels": kernels,
            "summary": summary}


KERNEL_LIBS = ("jax", "torch", "numpy")


def kernel_rows(kernels) -> list[dict]:
    """bench.json's kernels, one row per kernel and input precision: {"kernel", "shape",
    "precision", "rowspan" (the kernel's row count on its first row, else 0), "ms"/"gflops":
    {lib: value or None}}. The bfloat16 row (keys `jax_bf16_ms`, ...) is there only when the
    kernel was timed in bfloat16; numpy's BLAS has float32 only."""
    out = []
    for k in kernels or []:
        if not (isinstance(k, dict) and "kernel" in k):
            continue
        rows = [{"kernel": k["kernel"], "shape": k.get("shape", ""), "precision": precision,
                 "rowspan": 0, **{u: {lib: k.get(f"{lib}{tail}_{u}") for lib in KERNEL_LIBS}
                                  for u in ("ms", "gflops")}}
                for precision, tail in (("float32", ""), ("bfloat16", "_bf16"))
                if any(f"{lib}{tail}_ms" in k for lib in KERNEL_LIBS)]
        if rows:
            rows[0]["rowspan"] = len(rows)
        out += rows
    return out


def _threading(xla_flags: str) -> str:
    """How a setting ran XLA, in words."""
    if not xla_flags:
        return "XLA’s default threading"
    return "single-threaded XLA" if xla_flags == SINGLE_THREAD_XLA else f"XLA_FLAGS={xla_flags}"


def _span(cells: list[dict], key: str) -> dict | None:
    """min/max of `key` over the cells that have it, with the cells they come from."""
    have = [c for c in cells if _num(c.get(key))]
    if not have:
        return None
    lo, hi = min(have, key=lambda c: c[key]), max(have, key=lambda c: c[key])
    return {"min": lo[key], "max": hi[key], "min_at": lo, "max_at": hi}


def settings_grid(bench: dict | None) -> dict | None:
    """The speed ratio (PyTorch ms / JAX ms: above 1, JAX is faster) and JAX ms per step for
    every model, setting and precision in bench.json's `settings`.

    `columns`: one per (setting, precision), the main table's setting first, then file order;
    precisions in config order. `rows`: per model (report order) one cell per column ({"ratio",
    "jax_ms", "torch_ms"} or None when not measured). `settings`: how each ran. `overall` and
    each column's `span`: the smallest and largest ratio and where. `gain`: per setting, what
    bfloat16 buys (float32 ms / bfloat16 ms) per framework, when both were measured.
    `main`: the setting and precision of the top-level rows (the main table).
    """
    raw = [s for s in (bench or {}).get("settings") or []
           if isinstance(s, dict) and isinstance(s.get("models"), list)]
    if not raw:
        return None
    main = {"setting": bench.get("setting"), "precision": bench.get("precision")}
    raw.sort(key=lambda s: s.get("setting") != main["setting"])  # stable: else file order
    rank = {p: i for i, p in enumerate(PRECISIONS)}
    cells, settings, columns = {}, [], []
    for s in raw:
        name = str(s.get("setting", f"setting {len(settings) + 1}"))
        rows = [r for r in s["models"] if isinstance(r, dict) and "model" in r]
        for r in rows:
            jm, tm = r.get("jax_ms"), r.get("torch_ms")
            cells[r["model"], name, r.get("precision", "float32")] = {
                "model": r["model"], "setting": name, "precision": r.get("precision", "float32"),
                "jax_ms": jm, "torch_ms": tm,
                "ratio": r.get("speed_ratio", tm / jm if _num(jm) and _num(tm) and jm else None)}
        precs = sorted({r.get("precision", "float32") for r in rows},
                       key=lambda p: (rank.get(p, len(rank)), p))
        cores = s.get("cores")
        settings.append({"setting": name, "precisions": precs,
                         "cores": len(cores) if isinstance(cores, list) else cores,
                         "torch_threads": s.get("torch_threads"),
                         "threading": _threading(s.get("xla_flags") or ""),
                         "sgemm_peak_gflops": s.get("sgemm_peak_gflops")})
        columns += [{"setting": name, "precision": p} for p in precs]
    models = order(m for m, _, _ in cells)
    for c in columns:
        c["span"] = _span([cells[k] for m in models
                           if (k := (m, c["setting"], c["precision"])) in cells], "ratio")
        col = [cells.get((m, c["setting"], c["precision"])) or {} for m in models]
        c["jax_faster"] = sum(_num(x.get("ratio")) and x["ratio"] > 1 for x in col)
        c["n"] = sum(_num(x.get("ratio")) for x in col)
    gain = []
    for s in settings:
        if {"float32", "bfloat16"} <= set(s["precisions"]):
            pairs = [(cells[m, s["setting"], "float32"], cells[m, s["setting"], "bfloat16"])
                     for m in models if (m, s["setting"], "float32") in cells
                     and (m, s["setting"], "bfloat16") in cells]
            by = {fw: [a[k] / b[k] for a, b in pairs if _num(a[k]) and _num(b[k]) and b[k] > 0]
                  for fw, k in (("jax", "jax_ms"), ("torch", "torch_ms"))}
            if by["jax"] and by["torch"]:
                gain.append({"setting": s["setting"], **{f"{fw}_{f.__name__}": f(v)
                             for fw, v in by.items() for f in (min, max)}})
    return {"main": main, "settings": settings, "columns": columns,
            "rows": [{"model": m, "cells": [cells.get((m, c["setting"], c["precision"]))
                                            for c in columns]} for m in models],
            "overall": _span(list(cells.values()), "ratio"), "gain": gain,
            "jax_faster": sum(c["jax_faster"] for c in columns),
            "n_cells": sum(c["n"] for c in columns)}
