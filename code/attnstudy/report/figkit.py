"""The figure registry and the drawing helpers the figure modules share.

    @figure("metrics", needs=("analysis",), alt="...", caption="Jinja snippet ...")
    def fig_metrics(analysis) -> (matplotlib Figure, DataFrame of exactly the data drawn)

`needs` names the results parts the function gets (results, analysis, attention: the loaded
files, see attnstudy.report.results), `when` says whether the results allow the figure at all.
The caption is a Jinja snippet rendered with the report context (templates/report.html.j2 places
a figure with `{{ x.figure("metrics") }}`); attnstudy.report.draw saves them. The figures live
in attnstudy.report.figures (which imports every figure module, so its FIGURES is complete).
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
    alt: str
    when: Callable[[dict], bool] | None  # (bundle) -> can these results draw it?


FIGURES: dict[str, Spec] = {}  # name -> Spec, in registration order


def figure(name: str, *, caption: str, alt: str, needs: tuple[str, ...] = ("results",),
           when: Callable[[dict], bool] | None = None):
    """Register the decorated function as the figure `name` (drawn under the report's style)."""
    def register(fn):
        if name in FIGURES:
            raise ValueError(f"figure {name!r} registered twice")

        @functools.wraps(fn)
        def styled(*args, **kwargs):  # a figure keeps the fonts it was made with
            with plt.rc_context(STYLE):
                return fn(*args, **kwargs)

        FIGURES[name] = Spec(name, styled, tuple(needs), caption, alt, when)
        return styled
    return register


def available(bundle: dict) -> list[str]:
    """The names of the figures these results allow."""
    return [n for n, s in FIGURES.items() if s.when is None or s.when(bundle)]


def parts(name: str, bundle: dict) -> tuple:
    """The results parts figure `name` is drawn from (what a worker process needs)."""
    return tuple(bundle[p] for p in FIGURES[name].needs)


# ---------------------------------------------------------------- shared drawing helpers

def subplots(h: float, ncols: int = 1, nrows: int = 1, width: float = WIDTH, **kw):
    return plt.subplots(nrows, ncols, figsize=(width, h), layout="constrained", **kw)


def model_legend(fig, models, **kw):
    handles = [plt.Line2D([], [], color=color(m), marker=marker(m), lw=2, ms=5)
               for m in models]
    fig.legend(handles, [label(m) for m in models], loc="outside upper center",
               ncols=min(len(models), 5), handlelength=2.2, **kw)


RATIO_CMAP = LinearSegmentedColormap.from_list("ratio_to_uniform", DIVERGING)


def log2_ratio(weights, n) -> np.ndarray:
    """log2(w * n), the weight relative to uniform (1/n), clipped to +-RATIO_OCTAVES: 0 is
    uniform, +1 twice uniform, -1 half (the heat maps' diverging colour scale)."""
    r = np.asarray(weights, dtype=float) * n
    with np.errstate(divide="ignore"):
        return np.clip(np.log2(np.maximum(r, 0)), -RATIO_OCTAVES, RATIO_OCTAVES)


def ratio_colorbar(fig, mappable, ax, **kw):
    """A colour bar for `log2_ratio` labelled ×1/8 ... ×1 ... ×8 of uniform."""
    ticks = list(range(-RATIO_OCTAVES, RATIO_OCTAVES + 1))
    bar = fig.colorbar(mappable, ax=ax, ticks=ticks, **kw)
    names = [f"×1/{2 ** -t}" if t < 0 else f"×{2 ** t}" for t in ticks]
    if kw.get("orientation") == "horizontal":
        bar.ax.set_xticklabels(names)
    else:
        bar.ax.set_yticklabels(names)
    bar.set_label("weight relative to uniform (w · n)")
    return bar
