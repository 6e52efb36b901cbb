"""Recompute analysis.json from the committed results with some code tree, or diff two such files.

    PYTHONPATH=/work/main/code python tools/analysis_diff.py compute before.json
    PYTHONPATH=code            python tools/analysis_diff.py compute after.json
    python tools/analysis_diff.py diff before.json after.json   # every value that moved

`compute` runs the report path's analysis (`analyse` on build/results, as recorded) without
writing into build/; the results folder is read from the current directory's build/results.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def compute(out: str, results_dir: str = "build/results") -> None:
    import pandas as pd

    from attnstudy.analysis.analyse import analyse
    from attnstudy.data.probes import load_probes

    folder = Path(results_dir)
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    preds = pd.read_parquet(folder / "test_predictions.parquet")
    analysed = analyse(results, preds, load_probes(), results["config"])
    Path(out).write_text(json.dumps(analysed, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def leaves(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from leaves(v, f"{path}[{i}]")
    else:
        yield path, obj


def diff(a: str, b: str) -> int:
    old = dict(leaves(json.loads(Path(a).read_text())))
    new = dict(leaves(json.loads(Path(b).read_text())))
    moved = 0
    for k in sorted(set(old) | set(new)):
        if k not in old or k not in new:
            print(f"{k}: {'only after' if k in new else 'only before'}")
            moved += 1
        elif json.dumps(old[k]) != json.dumps(new[k]):
            delta = ""
            if isinstance(old[k], int | float) and isinstance(new[k], int | float):
                delta = f"  (delta {new[k] - old[k]:+.3g})"
            print(f"{k}: {old[k]!r} -> {new[k]!r}{delta}")
            moved += 1
    print(f"{moved} of {len(new)} values moved")
    return moved


if __name__ == "__main__":
    if sys.argv[1] == "compute":
        compute(*sys.argv[2:])
    else:
        diff(*sys.argv[2:4])
