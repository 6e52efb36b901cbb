"""How numbers read in the report (typographic minus, thin-space thousands) and the Jinja
filters and globals built on them."""

from __future__ import annotations

import math
import re

from markupsafe import Markup, escape

from attnstudy.report import style


def n(x, d: int = 3) -> str:
    """A number with `d` decimals; "–" for missing or non-finite."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{d}f}".replace("-", "−")


def pts(x, d: int = 1, sign: bool = True) -> str:
    """A difference of proportions in percentage points."""
    return (f"{100 * x:+.{d}f}" if sign else f"{100 * x:.{d}f}").replace("-", "−")


def pval(p) -> str:
    return "< 0.001" if p < 0.001 else n(p, 3)


def integer(x) -> str:
    return f"{int(round(x)):,}".replace(",", "\u2009")


def secs(s) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def pct(x, d: int = 1) -> str:
    return n(100 * x, d) + "%"


def chip(model: str) -> Markup:
    """A model's name in its figure colour."""
    return Markup(f'<span class="model" style="--c:{style.color(model)}">'
                  f'{escape(style.label(model))}</span>')


FILTERS = {"n": n, "pts": pts, "pval": pval, "int": integer, "secs": secs, "pct": pct}
GLOBALS = {"chip": chip, "label": style.label, "color": style.color}
TESTS = {"search": lambda value, pattern: re.search(pattern, str(value)) is not None}
