"""Draw the registered figures into build/figures: fig-<name>.svg|png|csv, two worker processes
at a time, memoised on what they are drawn from. The SVG is the bare figure (the report inlines
it under its caption); the PNG, at twice the CSS pixel density, carries the figure's title and a
footer naming the study and the report version (paper/citation.toml), so it stands alone.
fig-<name>.narrow.svg is the same figure drawn for phones (figkit.narrow: 3.9 inches wide,
panels stacked, no text under 7.5 pt), which the HTML shows on screens up to 640 px.

    with drawing(bundle, results_dir, fig_dir, cache_dir) as finish:
        ...other work (the report context, importing weasyprint)...
        records = finish()   # [{"name", "svg_bytes", "aspect", "narrow_svg_bytes",
                             #   "narrow_aspect"}] in registry order

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
import html
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
from attnstudy.report import citation, figkit, figures
from attnstudy.report.style import BASELINE, STYLE
from attnstudy.schema import RESULT_FILES, SCHEMA_VERSION

WORKERS = 2
FORMATS = ("svg", "png", "csv")  # the downloads
NARROW = "narrow.svg"  # the phone rendering (not a download)
PNG_DPI = 192  # 2x: two pixels per CSS pixel (96 per inch) at the figure's own size
PNG_HEAD_IN, PNG_FOOT_IN = 0.42, 0.26  # the PNG's title band and footer band


def footer() -> str:
    """The PNG footer: the study and its report version, from paper/citation.toml (which
    records no licence)."""
    meta = citation.load()
    return f"attnstudy: {meta.title} · report {meta.version}"


def with_title(png: bytes, title: str, foot: str, dpi: int) -> bytes:
    """The figure's PNG pixels unchanged, with a title band above and a footer line below."""
    img = plt.imread(io.BytesIO(png))
    h, w = img.shape[:2]
    head, foot_px = round(PNG_HEAD_IN * dpi), round(PNG_FOOT_IN * dpi)
    with plt.rc_context(STYLE):
        out = plt.figure(figsize=(w / dpi, (h + head + foot_px) / dpi), dpi=dpi)
        out.figimage(img, xo=0, yo=foot_px, origin="upper")
        left = 0.1 * dpi / w
        out.text(left, 1 - 0.12 * dpi / (h + head + foot_px), title, fontsize=11,
                 fontweight="bold", va="top")
        out.text(left, 0.08 * dpi / (h + head + foot_px), foot, fontsize=6.5, color=BASELINE,
                 va="bottom")
        buf = io.BytesIO()
        out.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
        plt.close(out)
    return buf.getvalue()


def titled(svg: bytes, tips: dict[str, str]) -> bytes:
    """The SVG with each hover text of figkit.tip as the first child (<title>) of the group
    matplotlib writes for the artist with that gid: a browser shows it on hover."""
    for gid, text in tips.items():
        tag = f'<g id="{gid}">'.encode()
        if svg.count(tag) != 1:
            raise ValueError(f"hover text {gid!r}: {svg.count(tag)} groups with that id")
        svg = svg.replace(tag, tag + b"<title>" + html.escape(text).encode() + b"</title>")
    return svg


def save(name: str, fig, df: pd.DataFrame, out_dir: Path, dpi: int = PNG_DPI,
         formats=FORMATS, title: str = "", foot: str = "") -> dict:
    """Write fig-<name>.{svg,png,csv} (those in `formats`) and close the figure; the PNG gets
    `title` and `foot` bands when given.

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
            data = buf.getvalue()
            if ext == "png" and (title or foot):
                data = with_title(data, title, foot, dpi)
            if ext == "svg":
                data = titled(data, getattr(fig, "hover_tips", {}))
            with atomic_write(Path(out_dir) / f"fig-{name}.{ext}", "wb") as f:
                f.write(data)
            if ext == "svg":
                rec["svg_bytes"] = data
    if "csv" in formats:
        with atomic_write(Path(out_dir) / f"fig-{name}.csv") as f:
            df.to_csv(f, index=False, lineterminator="\n")
    w, h = fig.get_size_inches()
    rec["aspect"] = h / w
    plt.close(fig)
    return rec


def draw(name: str, parts: tuple, out_dir: Path, foot: str = "") -> dict:
    """Draw figure `name` from its results parts and save it, then its phone rendering (one
    worker task)."""
    spec = figures.FIGURES[name]
    rec = save(name, *spec.draw(*parts), out_dir, title=spec.title, foot=foot)
    with figkit.narrow():
        fig, df = spec.draw(*parts)
    phone = save(f"{name}.narrow", figkit.min_text(fig), df, out_dir, formats=("svg",))
    return {**rec, "narrow_svg_bytes": phone["svg_bytes"], "narrow_aspect": phone["aspect"]}


def _aspect(svg: bytes) -> float:
    w, h = (float(v) for v in re.search(rb'width="([\d.]+)pt" height="([\d.]+)pt"',
                                         svg).groups())
    return h / w


def saved(fig_dir: Path, name: str) -> dict:
    """The record of a figure drawn earlier, read back from its SVGs."""
    data = (Path(fig_dir) / f"fig-{name}.svg").read_bytes()
    phone = (Path(fig_dir) / f"fig-{name}.{NARROW}").read_bytes()
    return {"name": name, "svg_bytes": data, "aspect": _aspect(data),
            "narrow_svg_bytes": phone, "narrow_aspect": _aspect(phone)}


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


def stamp(cache_dir: Path, results_dir: Path, foot: str = "") -> Stamp:
    """The figures' memo, keyed by the one recipe (keys.cache_key): the results files, the
    drawing code (captions excluded), the PNG footer and matplotlib's version."""
    code = [drawing_code(Path(importlib.util.find_spec(m).origin).read_text(encoding="utf-8"))
            for m in figures.MODULES]
    key = cache_key("figures", None, ("attnstudy.report.draw", "attnstudy.report.style"),
                    packages=("matplotlib",),
                    extra=[SCHEMA_VERSION, code, foot,
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
    outputs = [Path(fig_dir) / f"fig-{n}.{e}" for n in names for e in (*FORMATS, NARROW)]
    foot = footer()
    memo = stamp(cache_dir, results_dir, foot)
    if memo.current(outputs):
        yield lambda: [saved(fig_dir, n) for n in names]
        return
    pool = ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context(start_method()))
    try:
        futures = [pool.submit(draw, n, figures.parts(n, bundle), fig_dir, foot) for n in names]

        def finish() -> list[dict]:
            records = [f.result() for f in futures]
            memo.record(outputs)
            return records

        yield finish
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
