"""The synthetic results set (tests/fixtures/make_results.py), made once per test process.

Making it takes ~10 s (its attention records run JAX) and every report test module starts from
it, so `results(folder)` makes it once into a private folder and copies it to each caller's:
each gets its own files, bit-identical to a fresh `make_results.make(folder)`.
"""

from __future__ import annotations

import atexit
import importlib.util
import shutil
import tempfile
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "make_results", Path(__file__).parent / "fixtures" / "make_results.py")
make_results = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_results)

_made: Path | None = None


def results(folder: Path | str) -> Path:
    """`make_results.make(folder)`, from this process's one made copy."""
    global _made
    if _made is None:
        made = Path(tempfile.mkdtemp(prefix="attnstudy-synthetic-"))
        atexit.register(shutil.rmtree, made, True)
        make_results.make(made / "results")
        _made = made / "results"
    shutil.copytree(_made, folder, dirs_exist_ok=True)
    return Path(folder)
