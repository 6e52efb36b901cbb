"""The additive model's attention on typical-length test reviews, as running text: each token on
the colour of its weight relative to uniform (w * n), under the colour key, so the SVG and PNG a
reader downloads carry their key (the HTML shows the same reviews as token highlights with the
same key, templates/report.html.j2). Registered like every figure (attnstudy.report.figkit).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from attnstudy.report.figkit import fig_width, figure, log2_ratio
from attnstudy.report.figures_attention import SAY_STATS, WIDTH
from attnstudy.report.heat import KEY_TITLE, heat_scale, key_names, pick_heat, typical_len
from attnstudy.report.style import BASELINE, INK, ratio_css


def token_lines(tokens: list[str], size: float, width_in: float) -> list[list[tuple]]:
    """Tokens wrapped into lines of at most width_in inches: [[(x inches, token), ...], ...],
    widths measured on the font's outlines (the drawn text, not a character count)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    prop, gap = FontProperties(), 0.06  # the style's font (drawn under its rc_context)
    lines, x = [[]], 0.0
    for tok in tokens:
        w = TextPath((0, 0), tok, size=size, prop=prop).get_extents().width / 72 + 0.04
        if lines[-1] and x + w > width_in:
            lines.append([])
            x = 0.0
        lines[-1].append((x, tok))
        x += w + gap
    return lines


@figure("additive", needs=("attention", "results"),
        when=lambda b: bool(pick_heat(b["attention"])),
        title="Additive attention on typical-length test reviews",
        alt="""Additive attention on {{ heat_samples | length }} sampled test reviews of about the
median length{% if heat_span[0] is not none %}: the weights lie between ×{{ heat_span[0] | n(2) }}
and ×{{ heat_span[1] | n(2) }} of uniform{% endif %}.""",
        caption="""
{% set wrong = heat_samples | rejectattr("right") | list | length %}The additive model's attention
weights (seed {{ att.seed }}) on the {{ heat_samples | length }} sampled test reviews nearest the
median review length ({{ data.token_length_percentiles.p50 }} tokens over the training and
validation reviews): {% if wrong %}the
{{ heat_samples | length - wrong }} it classifies correctly nearest that length and the nearest
{{ "one" if wrong == 1 else wrong }} it misclassifies{% else %}the nearest to that length{% endif %}
({% for s in heat_samples %}{{ s.tokens | length }}{{ ", " if not loop.last }}{% endfor %}
tokens), each token's
background coloured by its weight relative to uniform (w · n, n = tokens in the review; key
above the reviews, and in the figure's files). {% for s in heat_samples %}{{ "In" if loop.first
else "in" }} review {{ s.id }} the three highest weights fall on {% for tok, r in s.top
%}“{{ tok }}” (×{{ r | n(1) }}){{
", " if loop.revindex > 2 else (" and " if loop.revindex == 2) }}{% endfor %}{{
"; " if not loop.last else "." }}{% endfor %}
{% if heat_span[0] is not none %}Over these reviews the weights lie between
×{{ heat_span[0] | n(2) }} and ×{{ heat_span[1] | n(2) }} of uniform.{% endif %}""" + SAY_STATS)
def fig_additive(attention: dict, results: dict):
    """The typical-length sampled reviews as running text, each token on its w * n colour (the
    HTML token highlights' scale, style.ratio_css), under the colour key (heat.key_names): the
    files stand alone, without the HTML's key beside them."""
    size, line_h, pad, width = 9.0, 0.22, 0.1, fig_width(WIDTH)
    median = typical_len(results)
    blocks = [(s, token_lines(s["tokens"], size, width - 2 * pad))
              for s in pick_heat(attention, median=median)]
    octaves = heat_scale(attention, median)
    swatch = dict(zip(key_names(octaves), range(-octaves, octaves + 1), strict=True))
    key = token_lines([f"{KEY_TITLE}:", *swatch], 8.0, width - 2 * pad)
    height = (len(key) * line_h + 0.12 + 0.1
              + sum((len(lines) + 1) * line_h + 0.12 for _, lines in blocks))
    fig = plt.figure(figsize=(width, height))
    y, rows = height - 0.1, []
    for line in key:
        y -= line_h
        for x, name in line:
            bg, fg = ratio_css(float(swatch[name]), octaves) if name in swatch else (None, BASELINE)
            fig.text((pad + x) / width, y / height, name, fontsize=8.0, color=fg,
                     bbox={"boxstyle": "square,pad=0.15", "fc": bg, "ec": "none"} if bg else None)
    y -= 0.12
    for s, lines in blocks:
        n, w = len(s["tokens"]), s.get("additive") or []
        p = (s.get("probs") or {}).get("additive")
        y -= line_h
        fig.text(pad / width, y / height, f"review {s['id']} · truth "
                 f"{'positive' if s['label'] else 'negative'} · P(positive) = "
                 + (f"{p:.2f}" if p is not None else "–")
                 + ("" if w else " · no additive weights recorded"), fontsize=7.5, color=BASELINE)
        i = 0
        for line in lines:
            y -= line_h
            for x, tok in line:
                bg, fg = (ratio_css(float(log2_ratio(w[i], n, octaves)), octaves)
                          if i < len(w) else ("#ffffff", INK))
                fig.text((pad + x) / width, y / height, tok, fontsize=size, color=fg,
                         bbox={"boxstyle": "square,pad=0.15", "fc": bg, "ec": "none"})
                rows.append({"id": s["id"], "position": i, "token": tok,
                             "weight": w[i] if i < len(w) else None,
                             "weight_x_n": w[i] * n if i < len(w) else None})
                i += 1
        y -= 0.12
    return fig, pd.DataFrame(rows)
