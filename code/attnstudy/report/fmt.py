"""How numbers read in the report (typographic minus, thin-space thousands) and the Jinja
filters and globals built on them."""

from __future__ import annotations

import datetime as dt
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
    """A difference of proportions in percentage points. A non-zero value that would round to
    0 gets up to two more decimals, so a CI bound shows on which side of 0 it lies ("−0.004",
    not "−0.0"). One that rounds to 0 even then is a zero up to float error and prints as
    "+0.0" at `d`, as an exact 0 does, not "+0.000" beside one-decimal neighbours."""
    v, d0 = 100 * x, d
    while v and d < 3 and round(abs(v), d) == 0:
        d += 1
    if round(abs(v), d) == 0:
        v, d = 0.0, d0
    return (f"{v:+.{d}f}" if sign else f"{v:.{d}f}").replace("-", "−")


def apart(x, y, d: int = 2) -> int:
    """The decimals (`d`, up to d + 2) at which |x| and |y|, in points, print differently: a
    difference within the rerun spread never prints as the spread itself ("+0.719 points, within
    the 0.724-point spread", not "+0.72 ... within the 0.72")."""
    while d < 4 and round(abs(100 * x), d) == round(abs(100 * y), d):
        d += 1
    return d


def sd(x, d: int = 3) -> str:
    """A spread with `d` decimals, or one more when it would round to 0 ("± 0.0005", not
    "± 0.000": seeds that agree closely are not seeds that agree exactly)."""
    if x and round(x, d) == 0:
        d += 1
    return n(x, d)


def pval(p) -> str:
    return "< 0.001" if p < 0.001 else n(p, 3)


def integer(x) -> str:
    return f"{int(round(x)):,}".replace(",", "\u2009")


def secs(s) -> str:
    """"4.2 s", "42 s", "3.5 min", "2.1 h": two or three significant digits."""
    if s < 9.95:
        return f"{s:.1f} s"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def secs_range(lo, hi) -> str:
    """"2.4–6.5 min" (one unit when both ends share it), "50 s–2.1 min", or one value."""
    a, b = secs(lo), secs(hi)
    if a == b:
        return a
    (na, ua), ub = a.split(" "), b.split(" ")[1]
    return f"{na}–{b}" if ua == ub else f"{a}–{b}"


def when(iso: str) -> str:
    """An ISO 8601 time as "2024-05-01 10:00 UTC" (naive times are taken as UTC)."""
    t = dt.datetime.fromisoformat(iso)
    t = t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)
    return t.strftime("%Y-%m-%d %H:%M UTC")


def pct(x, d: int = 1) -> str:
    return n(100 * x, d) + "%"


def plural(count, word: str, many: str | None = None, d: int | None = None) -> str:
    """"3 seeds", "1 seed", "0.7 passes": the count (an integer with thin-space thousands, or
    `d` decimals) and the word, singular only when the count reads exactly 1. The plural is
    `many`, else word + "es" after s, x, z, ch, sh, else word + "s"."""
    text = n(count, d) if d is not None else (
        integer(count) if float(count).is_integer() else str(count))
    if text == "1":
        return f"{text} {word}"
    return f"{text} {many or word + ('es' if word.endswith(('s', 'x', 'z', 'ch', 'sh')) else 's')}"


def chip(model: str) -> Markup:
    """A model's name in its figure colour."""
    return Markup(f'<span class="model" style="--c:{style.color(model)}">'
                  f'{escape(style.prose_label(model))}</span>')


_IDS = "|".join(sorted(style.LABELS, key=len, reverse=True))


def readable(text: str) -> str:
    """The claims ledger's plain text (analysis.json keeps config ids, ASCII) as the report's
    prose writes it: model names for ids ("additive attention" stays), "−" for minus signs."""
    text = re.sub(rf"\b({_IDS})\b(?! attention)", lambda m: style.prose_label(m[1]), text)
    text = re.sub(r"(?<![\w.])-(?=[\d.])", "−", text)  # a number's sign, not "1e-4" or "->"
    text = text.replace(">=", "≥").replace("<=", "≤")
    return re.sub(r" - ", " − ", text)


def by_model(table: dict | None, shared, models) -> list[tuple[object, list[str]]]:
    """A setting's values over `models`, grouped: [(value, [models with it])] by value, from a
    per-model table (e.g. train.learning_rate_by_model) and the shared value for the rest. One
    group when every model has the same value."""
    groups: dict = {}
    for m in models:
        groups.setdefault((table or {}).get(m, shared), []).append(m)
    return sorted(groups.items(), key=lambda g: g[0])


# A metric's possible values: a t-interval over a few seeds can reach past them (recall 1.04).
METRIC_RANGE = {"log_loss": (0.0, math.inf)}  # the others are proportions or areas: [0, 1]


def in_range(x, metric: str):
    """`x` cut to `metric`'s possible values (METRIC_RANGE; [0, 1] unless listed)."""
    lo, hi = METRIC_RANGE.get(metric, (0.0, 1.0))
    return None if x is None else min(hi, max(lo, x))


FILTERS = {"n": n, "readable": readable, "sd": sd, "pts": pts, "pval": pval, "int": integer,
           "secs": secs, "pct": pct, "plural": plural, "when": when, "secs_range": secs_range,
           "in_range": in_range, "apart": apart}
GLOBALS = {"chip": chip, "label": style.prose_label, "color": style.color, "by_model": by_model,
           "setting_label": style.setting_label}
TESTS = {"search": lambda value, pattern: re.search(pattern, str(value)) is not None}
