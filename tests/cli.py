"""Run the command line as a user does, in a subprocess (the end-to-end and publish tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli(build: Path, *args, imdb_dir: Path | None = None, check: bool = True):
    """`python -m attnstudy ...` with outputs in `build`; without `imdb_dir`, no data and no
    network (IMDB_DIR unset, the Hugging Face hub offline)."""
    env = {k: v for k, v in os.environ.items() if k != "IMDB_DIR"}
    env.update(ATTNSTUDY_BUILD=str(build), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    if imdb_dir is not None:
        env["IMDB_DIR"] = str(imdb_dir)
    p = subprocess.run([sys.executable, "-m", "attnstudy", *map(str, args)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=1200)
    if check and p.returncode != 0:
        raise AssertionError(f"attnstudy {' '.join(map(str, args))} failed ({p.returncode}):\n"
                             f"{p.stderr[-3000:]}")
    return p
