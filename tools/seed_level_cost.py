"""The cost of analysis.json's seed-level section (wall and process CPU seconds, the latter
summed over BLAS threads) at the v3 size, on synthetic data: 8 models x
10 seeds x 25,000 test reviews, the TF-IDF baseline, 10,000 bootstrap replicates (paper/
claims.toml [equivalence]), every headline pair. Also times the one-pair-at-a-time bootstrap
(stats.equivalence.hierarchical_diff) it replaces, and checks a rerun is bit-identical.

    nice -n 10 .venv/bin/python tools/seed_level_cost.py [--seeds 10] [--reviews 25000]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from attnstudy.analysis import seed_level
from attnstudy.analysis.claims import CLAIMS
from attnstudy.config import MODEL_NAMES
from attnstudy.stats import equivalence as eq


def cpu() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--reviews", type=int, default=25000)
    ap.add_argument("--single-pairs", type=int, default=2, help="pairs timed one at a time")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = args.reviews
    labels = (np.arange(n) % 2).astype(np.int64)
    q = rng.uniform(0.6, 0.97, n)  # review difficulty, shared by every model
    per_seed = {m: rng.random((args.seeds, n)) < q + rng.normal(0.002 * i, 0.004,
                                                               (args.seeds, 1))
                for i, m in enumerate(MODEL_NAMES)}
    runs = {m: [{"model": m, "seed": s, "best_step": 1,
                 "curve": [{"step": 1, "val_accuracy": 0.85 + 0.001 * i}]}
                for s in range(args.seeds)] for i, m in enumerate(MODEL_NAMES)}
    base = np.where(rng.random(n) < 0.9, labels, 1 - labels).astype(float)

    t0, c0 = time.perf_counter(), time.process_time()
    out = seed_level.section(runs, per_seed, base, labels, CLAIMS, seed=0)
    section_s, section_cpu = time.perf_counter() - t0, time.process_time() - c0
    again = seed_level.section(runs, per_seed, base, labels, CLAIMS, seed=0)
    same = json.dumps(out["pairs"]) == json.dumps(again["pairs"])

    pairs = out["pairs"][:args.single_pairs]
    t0, c0 = time.perf_counter(), time.process_time()
    for p in pairs:
        eq.hierarchical_diff(per_seed[p["a"]], per_seed[p["b"]], n_boot=out["n_boot"], seed=0)
    single_s = (time.perf_counter() - t0) / max(len(pairs), 1)
    single_cpu = (time.process_time() - c0) / max(len(pairs), 1)
    print(json.dumps({
        "cpu": cpu(), "models": len(MODEL_NAMES), "seeds": args.seeds, "reviews": n,
        "n_boot": out["n_boot"], "pairs": len(out["pairs"]),
        "section_seconds": round(section_s, 2), "section_cpu_seconds": round(section_cpu, 2),
        "hierarchical_diff_seconds_per_pair": round(single_s, 2),
        "hierarchical_diff_cpu_seconds_per_pair": round(single_cpu, 2),
        "one_pair_at_a_time_estimate_seconds": round(single_s * len(out["pairs"]), 1),
        "rerun_bit_identical": same}, indent=1))


if __name__ == "__main__":
    main()
