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
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LinearSegmentedColormap

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


def subplots(h: float, ncols: int = 1, nrows: int = 1, width: float = WIDTH, **kw):
    return plt.subplots(nrows, ncols, figsize=(width, h), layout="constrained", **kw)


def model_legend(fig, models, **kw):
    handles = [plt.Line2D([], [], color=color(m), marker=marker(m), lw=2, ms=5)
               for m in models]
    fig.legend(handles, [label(m) for m in models], loc="outside upper center",
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
    names = [f"×1/{2 ** -t}" if t < 0 else f"×{2 ** t}" for t in ticks]
    if kw.get("orientation") == "horizontal":
        bar.ax.set_xticklabels(names)
    else:
        bar.ax.set_yticklabels(names)
    bar.set_label("weight relative to uniform (w · n)")
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
