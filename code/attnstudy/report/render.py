"""Render the paper from the results files: one self-contained HTML file, a PDF and the figures.

    render(Path("build/results"), Path("build"))  ->  build/report.html, build/report.pdf,
                                                     build/figures/fig-*.{svg,png,csv}

The steps, in order: load and validate the results (results.py), start drawing the figures in
two worker processes (draw.py), compute the report context meanwhile (facts.py), render the
Jinja templates twice so cross-references resolve (registry.py), then the PDF. Figures and PDF
are memoised on their inputs, so a re-render after a prose edit takes seconds. The prose lives
in paper/prose/*.html.j2, the layout in templates/, figure captions next to their functions.
"""

from __future__ import annotations

import base64
import functools
import os
import re
from hashlib import sha256
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from attnstudy.config import ROOT
from attnstudy.files import Stamp, atomic_write
from attnstudy.keys import cache_key
from attnstudy.report import citation, draw, facts, figures, fmt, pages, results
from attnstudy.report.registry import Registry, references

TEMPLATES, PROSE = ROOT / "templates", ROOT / "paper" / "prose"
FIGURE_DIR = "figures"  # next to report.html: the figures' files, linked under each caption
REFERENCES = ROOT / "paper" / "references.toml"


@functools.cache  # one per process: templates compile once (a changed file reloads: mtime)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([str(TEMPLATES), str(PROSE)]),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             lstrip_blocks=True)
    env.filters.update(fmt.FILTERS)
    env.globals.update(fmt.GLOBALS)
    env.tests.update(fmt.TESTS)
    return env


@functools.cache
def from_string(source: str) -> jinja2.Template:
    """A figure's caption or alt-text template, compiled once per process."""
    return environment().from_string(source)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def inline_svg(svg: bytes, name: str, alt: str, aspect: float) -> Markup:
    """A figure's SVG for inlining in the HTML (so its hover texts, draw.titled, work): without
    XML prolog and metadata, every id and reference to one prefixed with svg-<name>- (ids stay
    unique across figures), its style sheet scoped to it, labelled with the alt text."""
    text = svg.decode("utf-8")
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text[text.index("<svg"):], flags=re.S)
    pre = f"svg-{name}-"
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{pre}{m[1]}"', text)
    text = re.sub(r'(href="#|url\(#)', lambda m: m[1] + pre, text)
    text = text.replace("*{", f"#svg-{name} *{{")  # matplotlib's `*{stroke-linejoin ...}`
    return Markup(text.replace("<svg ", f'<svg id="svg-{name}" class="fig-svg" role="img" '
                               f'aria-label="{escape(alt)}" data-figure="{escape(name)}" '
                               f'style="aspect-ratio: 1 / {aspect:.4f}" ', 1))


def img_tag(uri: str, alt: str, aspect: float) -> Markup:
    return Markup(f'<img src="{uri}" alt="{escape(alt)}" '
                  f'style="aspect-ratio: 1 / {aspect:.4f}">')


INLINED = re.compile(r'<svg id="svg-[\w-]+" class="fig-svg" role="img" aria-label="([^"]*)" '
                     r'data-figure="[\w-]+" style="([^"]*)".*?</svg>', re.S)


FIG_FILES = re.compile(r'<span class="fig-files">.*?</span>', re.S)
NARROW = re.compile(r'<div class="fig-narrow">.*?</svg>\s*</div>', re.S)


def for_print(html: str) -> str:
    """The HTML the PDF is made from: each inlined SVG (inline_svg) as an <img> of itself, as
    every figure was before (a PDF has no hover; WeasyPrint draws figures as images), no
    figure downloads (data: URIs of megabytes; the HTML carries them) and no phone renderings."""
    html = NARROW.sub("", FIG_FILES.sub("", html))
    return INLINED.sub(lambda m: f'<img src="{data_uri(m[0].encode(), "image/svg+xml")}" '
                                 f'alt="{m[1]}" style="{m[2]}">', html)


MIME = {"svg": "image/svg+xml", "png": "image/png", "csv": "text/csv"}


def downloads(fig: dict, fig_dir: Path | None) -> dict[str, str]:
    """A figure's SVG, PNG and CSV as data: URIs (the HTML keeps them when moved or mailed
    alone); a format missing from `fig_dir` (or no `fig_dir`) links to figures/ beside it."""
    out = {}
    for e in draw.FORMATS:
        path = fig_dir / f"fig-{fig['name']}.{e}" if fig_dir else None
        out[e] = (data_uri(fig["svg_bytes"], MIME[e]) if e == "svg" and fig_dir
                  else data_uri(path.read_bytes(), MIME[e]) if path and path.is_file()
                  else f"{FIGURE_DIR}/fig-{fig['name']}.{e}")
    return out


def render_html(ctx: dict, drawn: list[dict], fig_dir: Path | None = None) -> str:
    """The report from the context (facts.context) and the drawn figures ({"name", "svg_bytes",
    "aspect"}; their files in `fig_dir`, embedded as downloads): every figure's caption and alt
    text come from its registry entry."""
    env, refs = environment(), references(REFERENCES)
    template = env.get_template("report.html.j2")
    css = Markup((TEMPLATES / "report.css").read_text(encoding="utf-8"))
    captions = {n: from_string(s.caption.strip()) for n, s in figures.FIGURES.items()}
    # each drawn figure's own numbers (`f` in its caption and alt text), from the same parts
    bundle = {"results": ctx["res"], "analysis": ctx["ana"], "attention": ctx["att"]}
    own = {f["name"]: figures.figure_facts(f["name"], bundle) for f in drawn}
    figs = {f["name"]: {"name": f["name"], "aspect": f["aspect"],
                        "alt": " ".join(Markup(from_string(figures.FIGURES[f["name"]].alt)
                                               .render(**ctx, f=own[f["name"]])).striptags()
                                        .split()),
                        "uri": data_uri(f["svg_bytes"], "image/svg+xml"),
                        "files": downloads(f, fig_dir)}
            for f in drawn}
    for f in drawn:  # a figure with hover texts is inlined; the others stay images
        g = figs[f["name"]]
        g["img"] = img_tag(g["uri"], g["alt"], g["aspect"])
        g["svg"] = (inline_svg(f["svg_bytes"], g["name"], g["alt"], g["aspect"])
                    if b"<title>" in f["svg_bytes"] else None)
        # the phone rendering, inlined (the CSS shows it up to 640 px; the PDF drops it)
        g["narrow"] = (inline_svg(f["narrow_svg_bytes"], f"{g['name']}-narrow", g["alt"],
                                  f["narrow_aspect"]) if f.get("narrow_svg_bytes") else None)

    def figure_of(name: str) -> dict | None:
        """The figure for the template's figure macro; None when the results don't allow it."""
        if name not in figures.FIGURES:
            raise KeyError(f"report template places unknown figure {name!r}")
        return figs.get(name)

    prev = None
    for _ in range(2):
        reg = Registry(refs, prev)
        names = {**ctx, "css": css, "reg": reg, "h": reg.heading, "num": reg.number,
                 "ref": reg.ref, "cite": reg.cite, "refs": refs, "figs": figs,
                 "figure_of": figure_of}
        # captions render in document order with this pass's names (their citations count)
        names["caption_of"] = lambda n, names=names: Markup(captions[n].render(
            **names, f=own.get(n, {})))
        html = template.render(**names)
        prev = reg
    return stamp_content(html)


def stamp_content(html: str) -> str:
    """The HTML with its content id (citation.CONTENT) filled in: the first 10 hex digits of
    the SHA-256 of the HTML as rendered with the placeholder, so it changes with any content."""
    return html.replace(citation.CONTENT, citation.content_id(html))


PDF_KEY = "AttnstudyKey"  # the PDF's Info entry holding the key of the HTML it was made from


def pdf_made_from(path: Path, key: str) -> bool:
    """Whether the PDF at `path` was made from the HTML of `key` (write_pdf stores it in the
    PDF's Info dictionary): a fresh clone's committed PDF needs no redraw, though the stamps of
    the git-ignored cache are gone."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        return (PdfReader(path).metadata or {}).get(f"/{PDF_KEY}") == key
    except (OSError, PdfReadError):
        return False


def write_pdf(html: str, path: Path, key: str = "") -> None:
    import weasyprint  # late: slow to import and only needed here

    # data: URIs only: the PDF never asks any host for anything
    fetcher = weasyprint.URLFetcher(allowed_protocols=("data",), fail_on_errors=True)
    # fontTools stamps each embedded font subset with the current time unless SOURCE_DATE_EPOCH
    # is set: fixed, the same HTML gives the same PDF bytes (a fresh clone changes no file).
    before = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = "0"
    try:
        # figures that would leave a page over a third blank move past the text after them
        _, doc = pages.fill(for_print(html),
                            lambda h: weasyprint.HTML(string=h, url_fetcher=fetcher)
                            .render())
        doc.metadata.custom = {PDF_KEY: key} if key else {}
        data = doc.write_pdf(custom_metadata=bool(key))
    finally:
        if before is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = before
    with atomic_write(path, "wb") as f:
        f.write(data)


def render(results_dir: Path, out_dir: Path, pdf: bool = True) -> dict[str, Path]:
    """Validate `results_dir`, write out_dir/report.html, report.pdf (if `pdf`) and figures/*.

    Returns {"html": path, "pdf": path (if written), "figures": folder}."""
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    bundle = results.load(results_dir)
    paths = {"html": out_dir / "report.html", "figures": out_dir / FIGURE_DIR}
    cache = out_dir / "cache" / "render"  # git-ignored stamps
    with draw.drawing(bundle, results_dir, paths["figures"], cache) as finish:
        ctx = facts.context(bundle)  # while the workers draw
        if pdf:
            import weasyprint  # noqa: F401  (warm: its import is slow)
        drawn = finish()
    html = render_html(ctx, drawn, paths["figures"])
    with atomic_write(paths["html"]) as f:
        f.write(html)
    if pdf:
        paths["pdf"] = out_dir / "report.pdf"
        key = cache_key("pdf", None, ("attnstudy.report.render", "attnstudy.report.pages"),
                        packages=("weasyprint",), extra=sha256(html.encode()).hexdigest())
        memo = Stamp(cache, "pdf", key)
        if not memo.current([paths["pdf"]]):
            if not pdf_made_from(paths["pdf"], key):
                write_pdf(html, paths["pdf"], key)
            memo.record([paths["pdf"]])
    return paths
