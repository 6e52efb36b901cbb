"""The figure registry and the drawing helpers the figure modules share.

    @figure("metrics", needs=("analysis",), title="...", alt="Jinja ...", caption="Jinja ...",
            facts=optional (*parts) -> dict, given to caption and alt as `f`)
    def fig_metrics(analysis) -> (matplotlib Figure, DataFrame of exactly the data drawn)

`needs` names the results parts the function gets (results, analysis, attention: the loaded
files, see attnstudy.report.results), `when` says whether the results allow the figure at all.
Caption and alt text are Jinja snippets rendered with the report context (templates/report.html.j2
places a figure with `{{ x.figure("metrics") }}`): the alt text states the finding with the same
numbers as the caption. `title` heads the stand-alone PNG; attnstudy.report.draw saves the files.
The figures live in attnstudy.report.figures (which imports every figure module, so its FIGURES
is complete). `tip(artist, text)` gives a plotted value its hover text (SVG <title>).

Every figure is also drawn for phones: under `narrow()` (attnstudy.report.draw) fig_width,
`subplots` and `legend` lay it out NARROW_WIDTH inches wide, and `min_text` lifts small text.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.font_manager import FontProperties
from matplotlib.text import Text
from matplotlib.textpath import TextPath

from attnstudy.report.heat import KEY_TITLE, key_names
from attnstudy.report.style import (
    DIVERGING,
    RATIO_OCTAVES,
    STYLE,
    WIDTH,
    color,
    label,
    marker,
)

plt.switch_backend("agg")  # files only, never a window


@dataclasses.dataclass(frozen=True)
class Spec:
    name: str
    draw: Callable  # (*parts named by `needs`) -> (Figure, DataFrame)
    needs: tuple[str, ...]
    caption: str  # Jinja, rendered with the report context
    alt: str  # Jinja, like the caption: the finding in one or two sentences
    when: Callable[[dict], bool] | None  # (bundle) -> can these results draw it?
    title: str = ""  # the PNG's heading
    facts: Callable | None = None  # (*parts named by `needs`) -> dict, `f` in caption and alt


FIGURES: dict[str, Spec] = {}  # name -> Spec, in registration order


def figure(name: str, *, caption: str, alt: str, title: str,
           needs: tuple[str, ...] = ("results",), when: Callable[[dict], bool] | None = None,
           facts: Callable | None = None):
    """Register the decorated function as the figure `name` (drawn under the report's style)."""
    def register(fn):
        if name in FIGURES:
            raise ValueError(f"figure {name!r} registered twice")

        @functools.wraps(fn)
        def styled(*args, **kwargs):  # a figure keeps the fonts it was made with
            with plt.rc_context(STYLE):
                return fn(*args, **kwargs)

        FIGURES[name] = Spec(name, styled, tuple(needs), caption, alt, when, title, facts)
        return styled
    return register


def available(bundle: dict) -> list[str]:
    """The names of the figures these results allow."""
    return [n for n, s in FIGURES.items() if s.when is None or s.when(bundle)]


def parts(name: str, bundle: dict) -> tuple:
    """The results parts figure `name` is drawn from (what a worker process needs)."""
    return tuple(bundle[p] for p in FIGURES[name].needs)


def figure_facts(name: str, bundle: dict) -> dict:
    """The numbers figure `name`'s caption and alt text state beyond the report context."""
    spec = FIGURES[name]
    return spec.facts(*parts(name, bundle)) if spec.facts else {}


# ---------------------------------------------------------------- shared drawing helpers

def tip(artist, text: str):
    """Give `artist` a hover text: attnstudy.report.draw writes it as the <title> of the group
    the SVG draws the artist in (gid "tip<n>", unique within its figure), and the report inlines
    that SVG, so a browser shows the exact value under the pointer. Returns the artist."""
    tips = artist.figure.__dict__.setdefault("hover_tips", {})
    gid = f"tip{len(tips)}"
    artist.set_gid(gid)
    tips[gid] = text
    return artist


# ---------------------------------------------------------------- the phone rendering
# Each figure is drawn a second time for screens up to 640 px (attnstudy.report.draw, the
# report's CSS picks it): NARROW_WIDTH inches, about a 400 px phone's text column at 96 px per
# inch, so it shows near its own size; panels side by side stack (at most NARROW_PER_ROW a row),
# legends take the columns that fit and no text is under NARROW_MIN_PT (~9.9 CSS px there).
NARROW_WIDTH, NARROW_PER_ROW, NARROW_MIN_PT = 3.9, 3, 7.5
_NARROW = contextvars.ContextVar("narrow", default=False)


@contextlib.contextmanager
def narrow():
    """Draw the figures inside for a phone (fig_width, subplots, legend follow it)."""
    token = _NARROW.set(True)
    try:
        yield
    finally:
        _NARROW.reset(token)


def is_narrow() -> bool:
    return _NARROW.get()


def fig_width(width: float = WIDTH) -> float:
    """A figure's width in inches: `width`, or NARROW_WIDTH when drawing for a phone."""
    return NARROW_WIDTH if is_narrow() else width


def min_text(fig, pt: float = NARROW_MIN_PT):
    """Raise every text of `fig` smaller than `pt` points to `pt` (the phone rendering): the
    texts drawn so far, and the tick labels an axis makes when it is drawn."""
    for ax in fig.axes:
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            if axis.get_ticklabels() and axis.get_ticklabels()[0].get_fontsize() < pt:
                ax.tick_params(axis=name, which="both", labelsize=pt)
    for t in fig.findobj(Text):
        if t.get_text() and t.get_fontsize() < pt:
            t.set_fontsize(pt)
    return fig


def subplots(h: float, ncols: int = 1, nrows: int = 1, width: float = WIDTH, **kw):
    """plt.subplots(nrows, ncols) `h` inches high, constrained layout. For a phone (narrow) a
    row of ncols > 1 panels wraps into bands of at most NARROW_PER_ROW (one a row up to 3),
    each band `h` less its legend high; the axes come back in the shape asked for."""
    if not is_narrow() or ncols == 1:
        return plt.subplots(nrows, ncols, figsize=(fig_width(width), h), layout="constrained",
                            **kw)
    per = 1 if ncols <= NARROW_PER_ROW else NARROW_PER_ROW
    bands = -(-ncols // per)
    fig = plt.figure(figsize=(NARROW_WIDTH, h + (bands - 1) * max(h - 0.5, 1.0)),
                     layout="constrained")
    grid = fig.add_gridspec(bands * nrows, per)
    axes = np.empty((nrows, ncols), dtype=object)
    first = None
    for j in range(ncols):
        for i in range(nrows):
            band, col = divmod(j, per)
            axes[i, j] = fig.add_subplot(grid[band * nrows + i, col],
                                         sharex=first if kw.get("sharex") else None,
                                         sharey=first if kw.get("sharey") else None)
            first = first or axes[i, j]
    if not kw.get("squeeze", True):
        return fig, axes
    return fig, axes.item() if axes.size == 1 else axes.squeeze()


def legend(target, handles, labels, ncols: int = 1, **kw):
    """target.legend (a Figure or an Axes) with `ncols` columns, or for a phone as many of
    them as fit the figure's width (label widths measured on the font's outlines)."""
    if is_narrow() and ncols > 1:
        size = FontProperties(size=plt.rcParams["legend.fontsize"]).get_size_in_points()
        extra = (kw.get("handlelength", 2.0) + 0.8 + 2.0) * size / 72  # handle, pad, spacing
        item = max(TextPath((0, 0), str(t), size=size).get_extents().width / 72 + extra
                   for t in labels)
        ncols = max(1, min(ncols, int((NARROW_WIDTH - 0.2) // item)))
    return target.legend(handles, labels, ncols=ncols, **kw)


def model_legend(fig, models, **kw):
    handles = [plt.Line2D([], [], color=color(m), marker=marker(m), lw=2, ms=5)
               for m in models]
    legend(fig, handles, [label(m) for m in models], loc="outside upper center",
           ncols=min(len(models), 6), handlelength=2.2, **kw)


def mean_band(ax, x, mean, lo, hi, model, ls="-", **kw):
    """A model's mean line over seeds and its min-max seed band; returns the line."""
    line, = ax.plot(x, mean, ls, color=color(model), lw=1.6, marker=marker(model), ms=3.5,
                    markevery=max(1, len(x) // 4), **kw)
    ax.fill_between(x, lo, hi, color=color(model), alpha=0.15, lw=0)
    return line


def by_seed(df, keys, cols):
    """Per `keys` group: mean, min and max over seeds of each column in `cols`, and the seed
    count; columns <col>_mean, <col>_min, <col>_max, seeds."""
    agg = {f"{c}_{f}": (c, f) for c in cols for f in ("mean", "min", "max")}
    return df.groupby(keys).agg(**agg, seeds=("seed", "nunique")).reset_index()


def in_order(df, models):
    """Rows sorted by the canonical model order, then as they were."""
    return (df.assign(_o=df["model"].map(models.index)).sort_values("_o", kind="stable")
            .drop(columns="_o").reset_index(drop=True))


RATIO_CMAP = LinearSegmentedColormap.from_list("ratio_to_uniform", DIVERGING)


def log2_ratio(weights, n, octaves: int = RATIO_OCTAVES) -> np.ndarray:
    """log2(w * n), the weight relative to uniform (1/n), clipped to +-octaves: 0 is
    uniform, +1 twice uniform, -1 half (the heat maps' diverging colour scale)."""
    r = np.asarray(weights, dtype=float) * n
    with np.errstate(divide="ignore"):
        return np.clip(np.log2(np.maximum(r, 0)), -octaves, octaves)


def ratio_colorbar(fig, mappable, ax, octaves: int = RATIO_OCTAVES, **kw):
    """A colour bar for `log2_ratio` labelled ×1/2**octaves ... ×1 ... ×2**octaves of uniform."""
    ticks = list(range(-octaves, octaves + 1))
    bar = fig.colorbar(mappable, ax=ax, ticks=ticks, **kw)
    names = key_names(octaves)
    if kw.get("orientation") == "horizontal":
        bar.ax.set_xticklabels(names)
    else:
        bar.ax.set_yticklabels(names)
    bar.set_label(KEY_TITLE)
    return bar


def close_runs(ends: list[tuple], gap: float) -> list[list[tuple]]:
    """Sorted (value, ...) tuples split into runs whose neighbours lie within `gap` of each
    other (labels for line ends that would overprint share one label)."""
    groups: list[list[tuple]] = []
    for e in ends:
        if groups and e[0] - groups[-1][-1][0] <= gap:
            groups[-1].append(e)
        else:
            groups.append([e])
    return groups
