"""Draw the registered figures into build/figures: fig-<name>.svg|png|csv, two worker processes
at a time, memoised on what they are drawn from.

    with drawing(bundle, results_dir, fig_dir, cache_dir) as finish:
        ...other work (the report context, importing weasyprint)...
        records = finish()   # [{"name", "svg_bytes", "aspect"}] in registry order

Processes, not threads: matplotlib's pyplot figure list and rcParams are per process, and
drawing holds the GIL (measured on 2 cores, full results: a thread pool renders the report no
faster than drawing in line, 5.4 s; two processes 4.4 s, their drawing partly hidden behind
importing weasyprint). Each figure is drawn once, SVG, PNG and CSV together: drawing the SVGs
first and the PNGs again behind the PDF measured no faster. The figure set is redrawn only when
the results files, the drawing code (figures.MODULES, captions excluded) or matplotlib changed,
or an output was touched. SVGs are byte-for-byte deterministic, whichever process draws them.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.util
import io
import multiprocessing
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from attnstudy.files import Stamp, atomic_write
from attnstudy.keys import cache_key, file_digest
from attnstudy.report import figures
from attnstudy.report.style import STYLE
from attnstudy.schema import RESULT_FILES, SCHEMA_VERSION

WORKERS = 2
FORMATS = ("svg", "png", "csv")


def save(name: str, fig, df: pd.DataFrame, out_dir: Path, dpi: int = 150,
         formats=FORMATS) -> dict:
    """Write fig-<name>.{svg,png,csv} (those in `formats`) and close the figure.

    Returns {"name", "svg_bytes" (if written), "aspect": height / width}."""
    rec = {"name": name}
    with plt.rc_context(STYLE):
        for ext, kw in (("svg", {"metadata": {"Date": None}}),
                        ("png", {"dpi": dpi, "metadata": {"Software": None}})):
            if ext not in formats:
                continue
            buf = io.BytesIO()
            fig.savefig(buf, format=ext, **kw)
            fig.set_layout_engine("none")  # keep the positions; don't lay out twice
            with atomic_write(Path(out_dir) / f"fig-{name}.{ext}", "wb") as f:
                f.write(buf.getvalue())
            if ext == "svg":
                rec["svg_bytes"] = buf.getvalue()
    if "csv" in formats:
        with atomic_write(Path(out_dir) / f"fig-{name}.csv") as f:
            df.to_csv(f, index=False, lineterminator="\n")
    w, h = fig.get_size_inches()
    rec["aspect"] = h / w
    plt.close(fig)
    return rec


def draw(name: str, parts: tuple, out_dir: Path) -> dict:
    """Draw figure `name` from its results parts and save it (one worker task)."""
    return save(name, *figures.FIGURES[name].draw(*parts), out_dir)


def saved(fig_dir: Path, name: str) -> dict:
    """The record of a figure drawn earlier, read back from its SVG."""
    data = (Path(fig_dir) / f"fig-{name}.svg").read_bytes()
    w, h = (float(v) for v in re.search(rb'width="([\d.]+)pt" height="([\d.]+)pt"',
                                         data).groups())
    return {"name": name, "svg_bytes": data, "aspect": h / w}


def drawing_code(source: str) -> str:
    """sha256 of a figure module's syntax tree (`source`) without docstrings and without the
    caption and alt texts of @figure(...): a caption edit re-renders the HTML, not the figures."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(getattr(body[0].value, "value", None), str)):
            node.body = body[1:] or [ast.Pass()]
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "figure":
            node.keywords = [k for k in node.keywords if k.arg not in ("caption", "alt")]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def stamp(cache_dir: Path, results_dir: Path) -> Stamp:
    """The figures' memo, keyed by the one recipe (keys.cache_key): the results files, the
    drawing code (captions excluded) and matplotlib's version."""
    code = [drawing_code(Path(importlib.util.find_spec(m).origin).read_text(encoding="utf-8"))
            for m in figures.MODULES]
    key = cache_key("figures", None, ("attnstudy.report.draw", "attnstudy.report.style"),
                    packages=("matplotlib",),
                    extra=[SCHEMA_VERSION, code,
                           [file_digest(Path(results_dir) / f) for f in RESULT_FILES]])
    return Stamp(cache_dir, "figures", key)


def start_method() -> str:
    """fork starts the workers with matplotlib imported (a forkserver measured 0.25 s slower),
    but forking a process whose JAX threads run can deadlock: once JAX is loaded, forkserver."""
    return "forkserver" if "jax" in sys.modules else "fork"


@contextlib.contextmanager
def drawing(bundle: dict, results_dir: Path, fig_dir: Path, cache_dir: Path):
    """Start drawing every figure the results allow; yield finish(), which waits for the
    workers (re-raising a worker's error), records the memo and returns the records."""
    names = figures.available(bundle)
    outputs = [Path(fig_dir) / f"fig-{n}.{e}" for n in names for e in FORMATS]
    memo = stamp(cache_dir, results_dir)
    if memo.current(outputs):
        yield lambda: [saved(fig_dir, n) for n in names]
        return
    pool = ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context(start_method()))
    try:
        futures = [pool.submit(draw, n, figures.parts(n, bundle), fig_dir) for n in names]

        def finish() -> list[dict]:
            records = [f.result() for f in futures]
            memo.record(outputs)
            return records

        yield finish
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
