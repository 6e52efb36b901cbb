"""Run the command line as a user does: in a subprocess (`cli`), or in this process (`run_main`)
for errors that stop before JAX computes anything and for results no test compares bit for bit
with a CLI process's (this process is not pinned to a core as the CLI is)."""

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


def run_main(monkeypatch, capsys, build: Path, *args, imdb_dir: Path | None = None):
    """`attnstudy.cli.main(args)` in this process, with outputs in `build` and the environment
    `cli` gives its subprocess, at no process start: for one-line errors, and for outputs whose
    bits need not match a CLI process's. The CLI does not pin this process to a core here (it
    would pin pytest); XLA runs on one thread as in the CLI (tests/conftest.py). Returns (exit
    code, stdout, stderr)."""
    from attnstudy import cli as command_line
    from attnstudy import config, cores
    from attnstudy.data import encode, imdb
    from attnstudy.pipeline import cache, results, runs

    for module, name, value in ((config, "BUILD", build), (command_line, "BUILD", build),
                                (cache, "CACHE", build / "cache"),
                                (results, "CACHE", build / "cache"),
                                (encode, "CACHE", build / "cache" / "data"),
                                (imdb, "HF_CACHE", build / "cache" / "hf")):
        monkeypatch.setattr(module, name, value)
    for module in (cores, runs):
        monkeypatch.setattr(module, "one_core_per_process", lambda core=None: None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.delenv("IMDB_DIR", raising=False)
    if imdb_dir is not None:
        monkeypatch.setenv("IMDB_DIR", str(imdb_dir))
    capsys.readouterr()
    try:
        code = command_line.main(list(map(str, args)))
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err
