"""The attention figures: where the weights go (heat maps relative to uniform), how peaked they
are over the whole test set, how that developed during training. Registered like every figure
(attnstudy.report.figkit); the ablations are a table (templates/report.html.j2).

Heat maps colour w * n, the weight relative to uniform (1/n over n tokens), on one diverging
scale fitted to the weights shown (heat_scale), the same as the HTML token highlights (drawn as
text by attnstudy.report.figures_tokens).
Token labels are MIN_LABEL_PT in the PDF: these figures are sized to print unscaled.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from attnstudy.report.figkit import (
    RATIO_CMAP,
    close_runs,
    fig_width,
    figure,
    is_narrow,
    legend,
    log2_ratio,
    ratio_colorbar,
    subplots,
)
from attnstudy.report.figures_training import selection
from attnstudy.report.heat import (  # noqa: F401  (pick_heat: part of this module's interface)
    heat_scale,
    pick_heat,
    pick_short,
    query_independence,
    typical_len,
)
from attnstudy.report.style import (
    BASELINE,
    INK,
    MIN_LABEL_PT,
    PDF_MAX_HEIGHT_IN,
    PDF_TALL_HEIGHT_IN,
    PDF_WIDTH_IN,
    color,
    label,
    order,
)

WIDTH = round(PDF_WIDTH_IN - 0.05, 2)  # printed at its own size: labels keep their points
LABEL_CHARS = 11  # longer tokens are shortened on the axes (the CSV has them whole)
STATS = (("entropy", "normalised entropy", "linear"), ("max_weight", "max weight", "log"),
         ("top5_mass", "top-5 mass", "linear"))
# The statistics sentence the heat-map captions share (templates/_macros.html.j2, from
# facts.attention_facts), so every caption states what the test-set statistics say.
SAY_STATS = """ {% import "_macros.html.j2" as x with context %}{{
x.attention_stats(short=true) }}"""


def short(tok: str) -> str:
    return tok if len(tok) <= LABEL_CHARS else tok[:LABEL_CHARS - 1] + "…"


def text_in(chars: int) -> float:
    """Inches a label of `chars` characters takes at MIN_LABEL_PT (DejaVu Sans, ~0.62 em)."""
    return chars * 0.62 * MIN_LABEL_PT / 72 + 0.08


@figure("attention-mhsa", needs=("attention", "results"),
        when=lambda b: bool(pick_short(b["attention"])),
        facts=lambda attention, results: {"q": query_independence(attention)},
        title="MHSA self-attention per head on one short review",
        alt="""On review {{ mhsa_sample.id }}, the MHSA heads' weights lie between
×{{ heat_range.mhsa[0] | n(2) }} and ×{{ heat_range.mhsa[1] | n(2) }} of uniform.""",
        caption="""
{% set s = mhsa_sample %}Self-attention of each MHSA head (seed {{ att.seed }}) for the shortest
sampled review that has maps (review {{ s.id }}, truth {{ "positive" if s.label else "negative" }}):
row = query token, column = key token, colour = weight relative to uniform (w · n, red above,
blue below, white = 1/n, saturating at ×{{ 2 ** octaves }} and ×1/{{ 2 ** octaves }} as in the
other heat maps); here the weights lie between ×{{ heat_range.mhsa[0] | n(2) }} and
×{{ heat_range.mhsa[1] | n(2) }} of uniform. {% if f.q %}Over the {{ f.q.n }} sampled reviews
with maps, the weights vary {% if f.q.ratio >= 1
%}{{ f.q.ratio | n(0 if f.q.ratio >= 10 else 1) }} times more{% elif f.q.ratio > 0
%}{{ (1 / f.q.ratio) | n(1) }} times less{% else %}less{% endif %} across keys (along a query's
row) than across queries (down a key's column) (median over {{ f.q.heads }} heads and the
reviews; smallest ratio {{ f.q.ratio_min | n(2) }}){%
if f.q.ratio >= 10 %}: the rows are nearly alike, so each head pools nearly the same weighted mean
for every query{% else %}: the queries attend differently{% endif %}. The diagonal gets
×{{ f.q.diag | n(2) }} of uniform (median over heads and reviews){% if f.q.diag < 1.5 %}:
typically a token does not single out its own position{% endif %}.{% endif %}""" + SAY_STATS)
def fig_attention_mhsa(attention: dict, results: dict):
    """Per-head MHSA query x key weights x n for the shortest sample review."""
    (s,) = pick_short(attention, 1)
    maps, tokens = np.asarray(s["mhsa"], dtype=float), s["tokens"]
    heads, t = maps.shape[0], len(tokens)
    octaves = heat_scale(attention, typical_len(results))
    lab, width = text_in(max(len(short(x)) for x in tokens)), fig_width(WIDTH)
    ncols = 2 if heads > 1 and not is_narrow() else 1  # a phone: one head a row
    nrows = -(-heads // ncols)
    # square maps as large as the PDF page allows (width, and a full page of height)
    side = (width - lab - 0.15) / ncols - 0.05
    if not is_narrow():
        side = min(side, (PDF_TALL_HEIGHT_IN - lab - 0.9) / nrows - 0.3)
    row = side + 0.3 + (lab if is_narrow() else 0)  # a phone: key tokens under every head
    fig, axes = subplots(nrows * row + lab + 0.9, ncols=ncols, nrows=nrows,
                         width=width, squeeze=False, sharex=True, sharey=True)
    step = max(1, int(np.ceil(MIN_LABEL_PT / (72 * side / t))))  # one label per cell if it fits
    ticks = list(range(0, t, step))
    for h, ax in enumerate(axes.flat):
        if h >= heads:
            ax.axis("off")
            continue
        im = ax.imshow(log2_ratio(maps[h], t, octaves), cmap=RATIO_CMAP, vmin=-octaves,
                       vmax=octaves, interpolation="nearest")
        ax.set_xticks(ticks, [short(tokens[i]) for i in ticks], rotation=90,
                      fontsize=MIN_LABEL_PT)
        ax.set_yticks(ticks, [short(tokens[i]) for i in ticks], fontsize=MIN_LABEL_PT)
        ax.tick_params(length=0, labelbottom=is_narrow() or h >= heads - ncols,
                       labelleft=h % ncols == 0)
        ax.grid(False)
        ax.set_title(f"head {h + 1}")
    ratio_colorbar(fig, im, axes, octaves, orientation="horizontal",
                   shrink=0.9 if is_narrow() else 0.5, aspect=40)
    df = pd.DataFrame([{"id": s["id"], "head": h + 1, "query": q, "query_token": tokens[q],
                        "key": k, "key_token": tokens[k], "weight": maps[h, q, k],
                        "weight_x_n": maps[h, q, k] * t}
                       for h in range(heads) for q in range(t) for k in range(t)])
    return fig, df


@figure("attention-received", needs=("attention", "results"),
        when=lambda b: bool(pick_short(b["attention"])),
        title="Attention each token gets, relative to uniform",
        alt="""{% set r = heat_range %}{% if r.additive %}On these reviews the additive weights lie
between ×{{ r.additive[0] | n(2) }} and ×{{ r.additive[1] | n(2) }} of uniform{% endif %}{% if
r.received %}{{ "; " if r.additive else "On these reviews " }}the attention MHSA's tokens receive
lies between ×{{ r.received[0] | n(2) }} and ×{{ r.received[1] | n(2) }}{% endif %}.""",
        caption="""
Attention per token, relative to uniform (w · n; red above, blue below, white = 1/n, saturating
at ×{{ 2 ** octaves }} and ×1/{{ 2 ** octaves }} as in the other heat maps), for the
{{ "shortest sampled review" if received_n == 1 else received_n ~ " shortest sampled reviews" }}
with self-attention maps (seed {{ att.seed }}): the additive model's weight, the attention each
token receives in MHSA (mean over queries) averaged over heads and per head. Red cells are the
tokens a model concentrates on.{% set r = heat_range %}{% if r.additive %} In these reviews the
additive weights lie between ×{{ r.additive[0] | n(2) }} and ×{{ r.additive[1] | n(2) }} of
uniform{% endif %}{% if r.received %}{{ "," if r.additive else " In these reviews" }} the
attention MHSA's tokens receive between ×{{ r.received[0] | n(2) }} and
×{{ r.received[1] | n(2) }}{% endif %}.""" + SAY_STATS)
def fig_attention_received(attention: dict, results: dict):
    """Per token: additive weight, MHSA received (mean and per head), as log2(w * n) rows."""
    samples, octaves = pick_short(attention, 2), heat_scale(attention, typical_len(results))
    lab = text_in(max(len(short(x)) for s in samples for x in s["tokens"]))
    blocks = []
    for s in samples:
        maps = np.asarray(s["mhsa"], dtype=float)  # [head, query, key]
        rows = ([("Additive", s["additive"])] if s.get("additive") else []) + [
            ("MHSA, all heads", s["mhsa_received"] or maps.mean(axis=(0, 1)))] + [
            (f"MHSA head {h + 1}", maps[h].mean(axis=0)) for h in range(maps.shape[0])]
        blocks.append((s, rows))
    heights = [len(rows) * 0.19 + lab + 0.32 for _, rows in blocks]
    height = (sum(heights) + 0.7 if is_narrow()  # a phone: the colour key below, no page limit
              else min(sum(heights) + 0.1, PDF_MAX_HEIGHT_IN - 0.05))
    fig, axes = subplots(height, nrows=len(blocks), width=WIDTH, squeeze=False,
                         gridspec_kw={"height_ratios": heights})
    out = []
    for ax, (s, rows) in zip(axes[:, 0], blocks, strict=True):
        t = len(s["tokens"])
        grid = np.array([log2_ratio(w, t, octaves) for _, w in rows])
        im = ax.imshow(grid, cmap=RATIO_CMAP, vmin=-octaves, vmax=octaves,
                       aspect="auto", interpolation="nearest")
        # every token labelled, but on a phone only as many as fit side by side
        step = (max(1, int(np.ceil(t * MIN_LABEL_PT / 72 / (fig_width() - 1.2))))
                if is_narrow() else 1)
        ax.set_xticks(range(0, t, step), [short(x) for x in s["tokens"][::step]], rotation=90,
                      fontsize=MIN_LABEL_PT)
        ax.set_yticks(range(len(rows)), [name for name, _ in rows], fontsize=MIN_LABEL_PT)
        ax.tick_params(length=0)
        ax.grid(False)
        ax.set_title(f"review {s['id']} (truth {'positive' if s['label'] else 'negative'})")
        out += [{"id": s["id"], "row": name, "position": i, "token": tok, "weight": float(w[i]),
                 "weight_x_n": float(w[i]) * t}
                for name, w in rows for i, tok in enumerate(s["tokens"])]
    if is_narrow():
        ratio_colorbar(fig, im, axes[:, 0], octaves, orientation="horizontal", aspect=30)
    else:
        ratio_colorbar(fig, im, axes[:, 0], octaves, shrink=0.8, aspect=30)
    return fig, pd.DataFrame(out)


def _stat_rows(stats: dict) -> list[tuple[str, str, str, dict, dict]]:
    """(model, row name, head, statistics block, uniform block) top to bottom."""
    rows = []
    for m in order(stats):
        st = stats[m]
        heads = st.get("heads") or []
        rows.append((m, label(m) + (", all heads" if heads else ""), "", st["statistics"],
                     st["uniform"]))
        rows += [(m, f"head {h + 1}", str(h + 1), blk, st["uniform"])
                 for h, blk in enumerate(heads)]
    return rows


@figure("attention-stats", needs=("analysis",),
        when=lambda b: bool(b["analysis"]["attention"]["statistics"]),
        title="How peaked the attention is over all test reviews (largest weight: log scale)",
        alt="""Median normalised attention entropy over the test reviews (1 = uniform):
{% for m, s in attn.stats.items() %}{{ label(m) }} {{ s.entropy | n(3) }}{{ ", " if not loop.last
else "." }}{% endfor %}""",
        caption="""
How peaked the learned attention is over all test reviews: per model (and per MHSA head, on the
attention each token receives), the distribution over reviews of the normalised entropy
(H / log n, 1 = uniform), the largest weight and the mass on the 5 highest-weighted tokens: box
25–75%, whiskers 5–95%, tick the median, each averaged over {{ attn.stat_seeds | plural("seed") }}.
Grey: the same statistic for uniform weights on the same reviews (entropy exactly 1).{%
for m, s in attn.stats.items() %} {{ label(m) }}: median entropy {{ s.entropy | n(3) }},
{{ (1 - s.entropy) | n(3) }} below uniform; median largest weight {{ s.max_weight | n(3) }}, ×{{
(s.max_weight / s.max_weight_uniform) | n(1) }} the uniform {{ s.max_weight_uniform | n(3) }}.{%
endfor %}""")
def fig_attention_stats(analysis: dict):
    """Entropy, max weight, top-5 mass: q05/q25/median/q75/q95 per model and head vs uniform."""
    rows = _stat_rows(analysis["attention"]["statistics"])
    recs = []
    for m, name, head, blk, uni in rows:
        for k, _, _ in STATS:
            b, u = blk.get(k) or {}, uni.get(k) or {}

            def val(d, q):
                return (d.get(q) or {}).get("mean")
            recs.append({"model": m, "row": name, "head": head, "statistic": k,
                         **{q: val(b, q) for q in ("q05", "q25", "median", "q75", "q95", "mean")},
                         "uniform_q25": val(u, "q25"), "uniform_median": val(u, "median"),
                         "uniform_q75": val(u, "q75"),
                         "seeds": (b.get("median") or {}).get("n")})
    df = pd.DataFrame(recs)
    fig, axes = subplots(0.34 * len(rows) + 1.2, ncols=len(STATS), sharey=True)
    y = np.arange(len(rows))[::-1]
    for ax, (k, title, scale) in zip(axes, STATS, strict=True):
        d = df[df["statistic"] == k]
        for yi, (_, r), (m, _, head, _, _) in zip(y, d.iterrows(), rows, strict=True):
            c = color(m)
            if r["uniform_median"] is not None and k != "entropy":
                ax.plot([r["uniform_q25"], r["uniform_q75"]], [yi - 0.27] * 2, color=BASELINE,
                        lw=2.5, alpha=0.45, solid_capstyle="butt")
                ax.plot([r["uniform_median"]], [yi - 0.27], "|", color=BASELINE, ms=7)
            if r["median"] is None:
                continue
            ax.plot([r["q05"], r["q95"]], [yi, yi], color=c, lw=1)
            ax.add_patch(plt.Rectangle((r["q25"], yi - 0.16), r["q75"] - r["q25"], 0.32,
                                       facecolor=c, alpha=0.35 if head else 0.8,
                                       edgecolor=c, lw=0.8))
            ax.plot([r["median"]] * 2, [yi - 0.2, yi + 0.2], color=INK, lw=1.4)
        if k == "entropy":
            ax.axvline(1, color=BASELINE, ls="--", lw=1.1)
        ax.set_xscale(scale)
        if scale == "log":  # plain decimals at 1-2-5 steps: matplotlib's 4×10⁻³ labels collide
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(title)
        ax.set_xlabel("log scale" if scale == "log" else "linear scale", fontsize=7.5)
        ax.grid(axis="y", visible=False)
    axes[0].set_yticks(y, [name for _, name, *_ in rows])
    axes[0].set_ylim(-0.7, len(rows) - 0.4)
    legend(fig, [Patch(color="#9a9a9a", alpha=0.8), plt.Line2D([], [], color=BASELINE, lw=2.5,
                                                                alpha=0.45)],
           ["learned attention (box 25–75%, whiskers 5–95%)",
            "uniform weights, same reviews (entropy: dashed line at 1)"],
           loc="outside upper center", ncols=2)
    return fig, df


def _curves(results: dict) -> pd.DataFrame:
    rows = []
    for r in results["runs"]:
        for c in r["curve"]:
            a = c.get("attention")
            if not a:
                continue
            rows.append({"model": r["model"], "seed": r["seed"], "head": "", "step": c["step"],
                         "entropy_median": a["entropy_median"],
                         "best_step": c["step"] == r["best_step"]})
            rows += [{"model": r["model"], "seed": r["seed"], "head": str(h + 1),
                      "step": c["step"], "entropy_median": v,
                      "best_step": c["step"] == r["best_step"]}
                     for h, v in enumerate(a.get("heads_entropy_median") or [])]
    return pd.DataFrame(rows)


@figure("attention-learning", needs=("results",),
        when=lambda b: any(c.get("attention") for r in b["results"]["runs"] for c in r["curve"]),
        title="Attention entropy during training",
        facts=lambda results: {"select": selection(results)},
        alt="""{% for m, l in attn.learning.items() %}{{ label(m) }}'s median validation
attention entropy goes from {{ l.first | n(3) }} at step {{ l.first_step }} to {{ l.last | n(3) }}
at step {{ l.last_step }}{{ "; " if not loop.last else "." }}{% endfor %}""",
        caption="""
Median normalised entropy of the attention on the validation reviews (1 = uniform, dashed)
against training step, per model: thin lines are seeds, the thick line their mean, dotted lines
the MHSA heads (mean over seeds); a star marks each seed's selected checkpoint
({{ f.select }}), the one evaluated on the test set.{% for m, l in attn.learning.items() %}
{{ label(m) }} goes from {{ l.first | n(3) }} at step {{ l.first_step }} to {{ l.last | n(3) }}
at step {{ l.last_step }} ({{ l.at_best | n(3) }} at the selected checkpoints).{% endfor %}""")
def fig_attention_learning(results: dict):
    """Validation entropy median vs step per model: seeds, their mean, MHSA heads, best_step."""
    df = _curves(results)
    models = order(df["model"])
    fig, axes = subplots(2.9, ncols=len(models), sharey=True, squeeze=False)
    for ax, m in zip(axes[0], models, strict=True):
        d = df[df["model"] == m]
        top = d[d["head"] == ""]
        for _, sd in top.groupby("seed"):
            ax.plot(sd["step"], sd["entropy_median"], color=color(m), lw=0.8, alpha=0.6)
            best = sd[sd["best_step"]]
            ax.plot(best["step"], best["entropy_median"], "*", color=INK, ms=8, zorder=3)
        mean = top.groupby("step")["entropy_median"].mean()
        ax.plot(mean.index, mean.values, color=color(m), lw=2.2)
        ends = []
        for h, hd in d[d["head"] != ""].groupby("head"):
            hm = hd.groupby("step")["entropy_median"].mean()
            ax.plot(hm.index, hm.values, ":", color=color(m), lw=1.2)
            ends.append((hm.values[-1], h, hm.index[-1]))
        span = np.ptp(df["entropy_median"]) or 1.0
        for group in close_runs(sorted(ends), 0.04 * span):  # heads ending together share a label
            names = sorted((h for _, h, _ in group), key=int)
            ax.annotate(("head " if len(names) == 1 else "heads ") + ", ".join(names),
                        (group[0][2], np.mean([v for v, _, _ in group])), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize=7, color=INK)
        ax.axhline(1, color=BASELINE, ls="--", lw=1)
        ax.set_title(label(m))
        ax.set_xlabel("training step")
    axes[0, 0].set_ylabel("median normalised entropy")
    legend(fig, [plt.Line2D([], [], color=INK, lw=2.2), plt.Line2D([], [], color=INK, lw=0.8),
                 plt.Line2D([], [], color=INK, ls=":"),
                 plt.Line2D([], [], color=INK, marker="*", ls="", ms=8),
                 plt.Line2D([], [], color=BASELINE, ls="--")],
           ["mean over seeds", "one seed", "MHSA head", "selected checkpoint", "uniform"],
           loc="outside upper center", ncols=5)
    return fig, df
